/*
 * api_actions.c - cancel, retry, approve, reject; see api_actions.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "http/api_actions.h"
#include "http/api_common.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_approvals.h"
#include "query/store_query_runs.h"
#include "store/store_approval.h"
#include "store/store_run.h"

/* Answer status with run id as GET /api/v1/runs/{id} shows it. */
static void
reply_run(struct db *db, struct http_response *rs, int status, int64_t id)
{
	struct err err;
	char *json = NULL, loc[64];

	if (store_query_run_get(db, id, &json, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	api_reply_json(rs, status, json, strlen(json));
	free(json);
	(void)snprintf(loc, sizeof(loc), "/api/v1/runs/%lld", (long long)id);
	if (status == 201 && http_set_header(rs, "Location", loc) < 0)
		http_error(rs, 500, "internal", "too many headers");
}

void
api_runs_cancel(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct db *db = NULL;
	struct err err;
	int64_t id;

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "run", &id, &err) < 0 ||
	    api_no_body(rq, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (store_run_request_cancel(db, id, auth_actor(rq), &err) < 0) {
		http_error_from(rs, &err);
	} else {
		log_info("cancel requested", "run=%lld actor=%s",
		    (long long)id, auth_actor(rq));
		reply_run(db, rs, 202, id);
	}
	api_db_done(ctl, db);
}

void
api_runs_retry(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct db *db = NULL;
	struct err err;
	int64_t id, new_id = 0;

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "run", &id, &err) < 0 ||
	    api_no_body(rq, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (store_run_retry(db, id, auth_actor(rq), &new_id, &err) < 0) {
		http_error_from(rs, &err);
	} else {
		log_info("retry requested", "run=%lld retry=%lld actor=%s",
		    (long long)id, (long long)new_id, auth_actor(rq));
		reply_run(db, rs, 201, new_id);
	}
	api_db_done(ctl, db);
}

/* approve or reject, with an optional comment. */
static void
decide(struct ctl *ctl, struct http_request *rq, struct http_response *rs,
    int approve)
{
	char *comment = NULL, *json = NULL;
	struct db *db = NULL;
	struct err err;
	int64_t id;
	const struct jsonin_field fields[] = {
		{ .name = "comment", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &comment,
		  .maxlen = LIM_RUN_REASON },
		{ .name = NULL },
	};

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "approval", &id,
	    &err) < 0 || (rq->body.len > 0 && jsonin_parse(rq->body.data,
	    rq->body.len, fields, 0, &err) < 0))
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_approval_decide(db, id, approve, auth_actor(rq), comment,
	    &err) < 0)
		goto fail;
	log_info(approve ? "approved" : "rejected", "approval=%lld actor=%s",
	    (long long)id, auth_actor(rq));
	/* The decided approval, as the inbox shows it. */
	if (store_query_approval_get(db, id, &json, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, json, strlen(json));
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	free(json);
	free(comment);
}

void
api_approvals_approve(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	decide(ctx, rq, rs, 1);
}

void
api_approvals_reject(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	decide(ctx, rq, rs, 0);
}
