/* api_models.c - /api/v1/models and targets; see api_models.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/units.h"
#include "http/api_common.h"
#include "http/api_models.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_history.h"
#include "query/store_query_models.h"
#include "store/store_model.h"

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

/* A manual action on model {name} (version: {v} of a promotion, or 0). */
static void
models_manual(struct ctl *ctl, struct http_request *rq,
    struct http_response *rs, enum model_manual what, const char *vseg)
{
	char *target = NULL, *comment = NULL, *json = NULL;
	const char *name = rq->params[0];
	struct db *db = NULL;
	struct err err;
	int64_t v = 0;
	int now = 0;
	const struct jsonin_field fields[] = {
		/* required, but an unknown model is 404 whatever the body */
		{ .name = "target", .type = JSONIN_STRING, .out = &target,
		  .maxlen = LIM_MODEL_TARGET },
		{ .name = "comment", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &comment,
		  .maxlen = LIM_RUN_REASON },
		{ .name = NULL },
	};

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0)
		goto fail;
	if (vseg != NULL && (api_path_id(vseg, "version", &v, &err) < 0 ||
	    v > INT32_MAX)) {
		if (v > INT32_MAX)
			(void)err_set(&err, ERR_NOTFOUND, "model '%.253s' has "
			    "no version %.32s", name, vseg);
		goto fail;
	}
	if (jsonin_parse(rq->body.data, rq->body.len, fields, 0, &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_model_manual(db, what, name, (int)v, target, auth_actor(rq),
	    comment, &now, &err) < 0)
		goto fail;
	log_info(what == MODEL_MANUAL_PROMOTE ? "model promoted by hand" :
	    "model rolled back by hand", "model=%s version=%d target=%s "
	    "actor=%s", name, now, target, auth_actor(rq));
	if (store_query_history_latest(db, target, &json, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, json, strlen(json));
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	free(json);
	free(comment);
	free(target);
}

void
api_models_promote(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	models_manual(ctx, rq, rs, MODEL_MANUAL_PROMOTE, rq->params[1]);
}

void
api_models_rollback(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	models_manual(ctx, rq, rs, MODEL_MANUAL_ROLLBACK, NULL);
}

static int
history_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	return store_query_history_list(db, arg, in, out, err);
}

void
api_targets_history(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *at = NULL;
	struct api_page pg;
	struct db *db = NULL;
	struct err err;
	char *json = NULL;
	int has_at = 0;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "at", .type = JSONIN_Q_STRING, .out = &at,
		  .present = &has_at, .max = 64 },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	err_clear(&err);
	if (jsonin_query(rq, params, &err) < 0)
		goto fail;
	if (!has_at) {
		api_list_reply(ctl, rq, rs, params, &pg, "h1", 1,
		    history_query, rq->params[0]);
		goto out;
	}
	if (pg.cursor != NULL) {
		(void)err_set(&err, ERR_INVALID, "query parameter \"cursor\" "
		    "does not go with \"at\"");
		goto fail;
	}
	if (at == NULL || !units_rfc3339_valid(at)) {
		(void)err_set(&err, ERR_INVALID, "query parameter \"at\": "
		    "expected an RFC 3339 time such as 2026-12-07T14:00:00Z, "
		    "got '%.64s'", at != NULL ? at : "");
		goto fail;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_query_history_at(db, rq->params[0], at, &json, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, json, strlen(json));
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	free(json);
}
