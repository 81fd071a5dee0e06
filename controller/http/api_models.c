/* api_models.c - /api/v1/models; see api_models.h. */
#include "base/buf.h"
#include "base/caps.h"
#include "http/api_common.h"
#include "http/api_models.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_models.h"

static int
models_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	(void)arg;
	return store_query_models_list(db, in, out, err);
}

void
api_models_list(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE);
	api_list_reply(ctx, rq, rs, params, &pg, "m1", 0, models_query, NULL);
}

struct versions_arg {
	const char	*name;
	int		 status;	/* index into store_model_statuses, -1 */
};

static int
versions_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	const struct versions_arg *v = arg;

	return store_query_model_versions(db, v->name, v->status >= 0 ?
	    store_model_statuses[v->status] : NULL, in, out, err);
}

void
api_models_versions(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct versions_arg v = { rq->params[0], -1 };
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &v.status,
		  .choices = store_model_statuses },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	api_list_reply(ctx, rq, rs, params, &pg, "v1", 1, versions_query, &v);
}
