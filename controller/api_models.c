/* api_models.c - /api/v1/models; see api_models.h. */
#include "api_common.h"
#include "api_models.h"
#include "buf.h"
#include "caps.h"
#include "ctl.h"
#include "http.h"
#include "jsonin.h"
#include "store_query_models.h"

void
api_models_list(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct api_page pg;
	struct page_in in;
	struct db *db = NULL;
	struct buf out;
	struct err err;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = NULL },
	};

	err_clear(&err);
	buf_init(&out, LIM_HTTP_RESPONSE);
	api_page_init(&pg, LIM_API_PAGE);
	if (jsonin_query(rq, params, &err) < 0 ||
	    api_page_after(&pg, "m1", 0, &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	in.limit = pg.limit;
	in.after = pg.after[0] != '\0' ? pg.after : NULL;
	if (store_query_models_list(db, &in, &out, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, out.data, out.len);
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	buf_release(&out);
}

void
api_models_versions(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct api_page pg;
	struct page_in in;
	int status = -1;
	struct db *db = NULL;
	struct buf out;
	struct err err;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &status,
		  .choices = store_model_statuses },
		{ .name = NULL },
	};

	err_clear(&err);
	buf_init(&out, LIM_HTTP_RESPONSE);
	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	if (jsonin_query(rq, params, &err) < 0 ||
	    api_page_after(&pg, "v1", 1, &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	in.limit = pg.limit;
	in.after = pg.after[0] != '\0' ? pg.after : NULL;
	if (store_query_model_versions(db, rq->params[0], status >= 0 ?
	    store_model_statuses[status] : NULL, &in, &out, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, out.data, out.len);
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	buf_release(&out);
}
