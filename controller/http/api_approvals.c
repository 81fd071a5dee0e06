/* api_approvals.c - the approval inbox; see api_approvals.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "http/api_approvals.h"
#include "http/api_common.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_approvals.h"

static int
approvals_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	int status = *(const int *)arg;

	return store_query_approvals_list(db, status >= 0 ?
	    store_approval_statuses[status] : NULL, in, out, err);
}

void
api_approvals_list(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct api_page pg;
	int status = -1;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &status,
		  .choices = store_approval_statuses },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	api_list_reply(ctx, rq, rs, params, &pg, "a1", 1, approvals_query,
	    &status);
}

void
api_approvals_get(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct db *db;
	struct err err;
	char *json = NULL;
	int64_t id;

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "approval", &id,
	    &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (store_query_approval_get(db, id, &json, &err) < 0)
		http_error_from(rs, &err);
	else
		api_reply_json(rs, 200, json, strlen(json));
	free(json);
	api_db_done(ctl, db);
}
