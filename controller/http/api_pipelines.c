/* api_pipelines.c - /api/v1/pipelines; see api_pipelines.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "http/api_common.h"
#include "http/api_pipelines.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "http/run_request.h"
#include "query/store_query_pipelines.h"
#include "query/store_query_runs.h"

/* The filters of GET /pipelines, as the query string gave them. */
struct pipelines_query {
	const char	*repository;
	int		 deleted;
};

static int
pipelines_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	const struct pipelines_query *q = arg;

	return store_query_pipelines_list(db, q->repository, q->deleted, in,
	    out, err);
}

void
api_pipelines_list(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct pipelines_query q = { .repository = NULL, .deleted = 0 };
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "repository", .type = JSONIN_Q_STRING,
		  .out = &q.repository, .max = LIM_NAME },
		{ .name = "deleted", .type = JSONIN_Q_BOOL, .out = &q.deleted },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE);
	api_list_reply(ctx, rq, rs, params, &pg, "p2", 0, pipelines_query,
	    &q);
}

/*
 * The pipeline of the path and ?repository=, answering rs and returning
 * -1 when there is none or the name is ambiguous.
 */
static int
find(struct db *db, struct http_request *rq, struct http_response *rs,
    const char *repository, struct pipeline_ref *p)
{
	struct err err;
	int rc;

	if ((rc = store_query_pipeline_find(db, rq->params[0], repository, p,
	    &err)) == ERR_CONFLICT) {
		http_error(rs, 409, "ambiguous", "%s", err.msg);
		return -1;
	}
	if (rc < 0) {
		http_error_from(rs, &err);
		return -1;
	}
	return 0;
}

void
api_pipelines_get(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *repository = NULL;
	struct pipeline_ref p;
	struct db *db = NULL;
	struct err err;
	char *json = NULL;
	const struct jsonin_qparam params[] = {
		{ .name = "repository", .type = JSONIN_Q_STRING,
		  .out = &repository, .max = LIM_NAME },
		{ .name = NULL },
	};

	err_clear(&err);
	if (jsonin_query(rq, params, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (find(db, rq, rs, repository, &p) < 0)
		goto out;
	if (store_query_pipeline_get(db, p.id, &json, &err) < 0)
		http_error_from(rs, &err);
	else
		api_reply_json(rs, 200, json, strlen(json));
out:
	free(json);
	api_db_done(ctl, db);
}

/* 7 to 64 hex digits, lowercased in place. */
static int
valid_commit(char *s)
{
	size_t n = strlen(s);

	if (n < 7 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return 0;
		s[i] = (char)tolower((unsigned char)s[i]);
	}
	return 1;
}

static int
valid_ref(const char *s)
{
	if (s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
valid_key(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= LIM_DELIVERY_ID || !(isalnum((unsigned char)s[n]) ||
		    strchr("._:-", s[n]) != NULL))
			return 0;
	return n > 0;
}

void
api_pipelines_run(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *repository = NULL, *idem;
	struct jsonin_map params;
	char *ref = NULL, *commit = NULL, *reason = NULL, *json = NULL;
	char key[LIM_DELIVERY_ID + 64], loc[64];
	struct pipeline_ref p;
	struct run_request r;
	struct db *db = NULL;
	struct err err;
	int64_t run_id = 0;
	int created = 0;
	const struct jsonin_qparam qparams[] = {
		{ .name = "repository", .type = JSONIN_Q_STRING,
		  .out = &repository, .max = LIM_NAME },
		{ .name = NULL },
	};
	const struct jsonin_field fields[] = {
		{ .name = "params", .type = JSONIN_STRMAP,
		  .flags = JSONIN_NULLABLE, .out = &params,
		  .maxn = LIM_RUN_PARAMS },
		{ .name = "ref", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &ref, .maxlen = 255 },
		{ .name = "commit", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &commit, .maxlen = 64 },
		{ .name = "reason", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &reason,
		  .maxlen = LIM_RUN_REASON },
		{ .name = NULL },
	};

	err_clear(&err);
	memset(&params, 0, sizeof(params));
	if (jsonin_query(rq, qparams, &err) < 0)
		goto fail;
	/* An empty body is an empty request: defaults everywhere. */
	if (rq->body.len > 0 && jsonin_parse(rq->body.data, rq->body.len,
	    fields, 0, &err) < 0)
		goto fail;
	if (ref != NULL && commit != NULL) {
		err_set(&err, ERR_INVALID, "give \"ref\" or \"commit\", not "
		    "both");
		goto fail;
	}
	if (commit != NULL && !valid_commit(commit)) {
		err_set(&err, ERR_INVALID, "field \"commit\": expected 7 to 64 "
		    "hexadecimal digits");
		goto fail;
	}
	if (ref != NULL && !valid_ref(ref)) {
		err_set(&err, ERR_INVALID, "field \"ref\": expected a branch "
		    "name");
		goto fail;
	}
	if ((idem = http_header(rq, "Idempotency-Key")) != NULL &&
	    !valid_key(idem)) {
		err_set(&err, ERR_INVALID, "Idempotency-Key header: expected 1 "
		    "to %d characters of A-Z a-z 0-9 . _ : -", LIM_DELIVERY_ID);
		goto fail;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (find(db, rq, rs, repository, &p) < 0)
		goto out;
	memset(&r, 0, sizeof(r));
	r.trigger = "api";
	r.ref = ref;
	r.commit = commit;
	r.param_names = (const char *const *)params.keys;
	r.param_values = (const char *const *)params.values;
	r.nparams = params.n;
	r.reason = reason;
	r.actor = auth_actor(rq);
	if (idem != NULL) {
		/* Per pipeline and caller: keys of others cannot collide. */
		(void)snprintf(key, sizeof(key), "api:%lld:%s:%s",
		    (long long)p.id, r.actor, idem);
		r.idempotency_key = key;
	}
	if (run_request_start(db, &p, &r, &run_id, &created, &err) < 0)
		goto fail;
	if (store_query_run_get(db, run_id, &json, &err) < 0)
		goto fail;
	api_reply_json(rs, created ? 201 : 200, json, strlen(json));
	(void)snprintf(loc, sizeof(loc), "/api/v1/runs/%lld",
	    (long long)run_id);
	if (http_set_header(rs, "Location", loc) < 0)
		http_error(rs, 500, "internal", "too many headers");
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	free(json);
	free(ref);
	free(commit);
	free(reason);
	jsonin_map_release(&params);
}
