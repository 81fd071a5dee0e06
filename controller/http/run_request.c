/* run_request.c - starting a run on request; see run_request.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "http/jsonin.h"
#include "http/run_request.h"
#include "http/webhook.h"
#include "query/store_query_pipelines.h"
#include "store/store_run.h"

/* The params as a JSON object text into out. */
static int
params_json(const struct run_request *rq, struct buf *out, struct err *err)
{
	int rc = buf_putc(out, '{');

	for (size_t i = 0; rc == 0 && i < rq->nparams; i++) {
		if ((i > 0 && (rc = buf_putc(out, ',')) < 0) ||
		    (rc = jsonin_quote(out, rq->param_names[i])) < 0 ||
		    (rc = buf_putc(out, ':')) < 0)
			break;
		rc = jsonin_quote(out, rq->param_values[i]);
	}
	if (rc == 0)
		rc = buf_putc(out, '}');
	if (rc < 0)
		return err_set(err, ERR_TOOBIG, "params too large");
	return 0;
}

int
run_request_start(struct db *db, const struct pipeline_ref *p,
    const struct run_request *rq, int64_t *run_id, int *created,
    struct err *err)
{
	struct run_target t;
	struct run_new rn;
	struct buf params;
	int rc;

	*run_id = 0;
	*created = 0;
	buf_init(&params, LIM_HTTP_BODY);
	if (p->deleted) {
		rc = err_set(err, ERR_UNPROCESSABLE, "pipeline '%s' was deleted "
		    "from repository '%s'", p->name, p->repository);
		goto out;
	}
	if (rq->nparams > LIM_RUN_PARAMS) {
		rc = err_set(err, ERR_INVALID, "more than %d params",
		    LIM_RUN_PARAMS);
		goto out;
	}
	if ((rc = params_json(rq, &params, err)) < 0)
		goto out;
	if ((rc = store_query_run_target(db, p, rq->ref, rq->commit,
	    params.data, &t, err)) < 0)
		goto out;
	if (strcmp(rq->trigger, "webhook") == 0 && !t.webhook) {
		rc = err_set(err, ERR_UNPROCESSABLE, "pipeline '%s' does not "
		    "accept webhook triggers (spec.triggers.webhook is false "
		    "at commit %.12s)", p->name, t.sha);
		goto out;
	}
	memset(&rn, 0, sizeof(rn));
	rn.version_id = t.version_id;
	rn.branch = t.branch[0] != '\0' ? t.branch : NULL;
	rn.trigger = rq->trigger;
	rn.params = params.data;
	rn.created_by = rq->actor;
	rn.reason = rq->reason != NULL && rq->reason[0] != '\0' ?
	    rq->reason : NULL;
	rn.idempotency_key = rq->idempotency_key;
	if ((rc = store_run_create(db, &rn, run_id, created, err)) < 0)
		goto out;
	log_info(*created ? "run requested" : "run request repeated",
	    "run=%lld pipeline=%s repository=%s commit=%.12s branch=%s "
	    "trigger=%s actor=%s", (long long)*run_id, p->name,
	    p->repository, t.sha, t.branch[0] ? t.branch : "-", rq->trigger,
	    rq->actor);
out:
	buf_release(&params);
	return rc;
}

int
run_request_retrain(struct ctl *ctl, struct db *db,
    const struct retrain_request *rq, struct retrain_result *out,
    struct err *err)
{
	struct pipeline_ref p;
	struct run_request r;
	char key[LIM_DELIVERY_ID + 8];
	int created = 0, rc;

	(void)ctl;
	memset(out, 0, sizeof(*out));
	if ((rc = store_query_pipeline_find(db, rq->pipeline, NULL, &p,
	    err)) < 0)
		return rc;
	(void)snprintf(key, sizeof(key), "hook:%s", rq->delivery_id);
	memset(&r, 0, sizeof(r));
	r.trigger = "webhook";
	r.param_names = rq->param_names;
	r.param_values = rq->param_values;
	r.nparams = rq->nparams;
	r.reason = rq->reason;
	r.actor = rq->actor;
	r.idempotency_key = key;
	if ((rc = run_request_start(db, &p, &r, &out->run_id, &created,
	    err)) < 0)
		return rc;
	out->pipeline_id = p.id;
	return 0;
}
