/* api_rollouts.c - rollout actions; see api_rollouts.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "http/api_common.h"
#include "http/api_rollouts.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_rollouts.h"
#include "store/store_rollout.h"

/* Act on run {id}'s rollout as the caller, answer the rollout. */
static void
rollout_act(struct ctl *ctl, struct http_request *rq,
    struct http_response *rs, enum rollout_act act)
{
	char *comment = NULL, *json = NULL;
	struct db *db = NULL;
	struct err err;
	int64_t id, ro = 0;
	const struct jsonin_field fields[] = {
		{ .name = "comment", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &comment,
		  .maxlen = LIM_RUN_REASON },
		{ .name = NULL },
	};

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "run", &id, &err) < 0 ||
	    (rq->body.len > 0 && jsonin_parse(rq->body.data, rq->body.len,
	    fields, 0, &err) < 0))
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_rollout_act(db, id, 0, act, auth_actor(rq), comment, NULL,
	    &ro, &err) < 0)
		goto fail;
	log_info("rollout action", "run=%lld rollout=%lld action=%s actor=%s",
	    (long long)id, (long long)ro, rollout_act_name(act),
	    auth_actor(rq));
	if (store_query_rollout_get(db, ro, &json, &err) < 0)
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
api_rollout_promote_full(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	rollout_act(ctx, rq, rs, ROLLOUT_ACT_PROMOTE_FULL);
}

void
api_rollout_abort(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	rollout_act(ctx, rq, rs, ROLLOUT_ACT_ABORT);
}

void
api_rollout_pause(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	rollout_act(ctx, rq, rs, ROLLOUT_ACT_PAUSE);
}

void
api_rollout_resume(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	rollout_act(ctx, rq, rs, ROLLOUT_ACT_RESUME);
}
