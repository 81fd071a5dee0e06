/* pass.c - the state of one reconcile pass and its helpers; see pass.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sys.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "pipeline/gates.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"
#include "store/store_model.h"
#include "store/store_output.h"

struct db *
pass_db(struct eng_pass *ps)
{
	ps->st->statements++;
	return ps->db;
}

void
pass_changed(struct eng_pass *ps)
{
	ps->changed = 1;
	ps->st->transitions++;
}

void
pass_wake_in(struct eng_pass *ps, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < ps->wake_in)
		ps->wake_in = ms;
}

void
pass_wake_active(struct eng_pass *ps)
{
	struct engine *e = ps->e;

	pass_wake_in(ps, e->pushes ? e->o.active_sweep_ms : e->o.poll_ms);
}

void
pass_note(struct eng_run *er, size_t idx, const char *msg)
{
	if (er->msg != NULL && msg != NULL)
		(void)str_copy(er->msg[idx], sizeof(er->msg[idx]), msg);
}

int
pass_attempt_active(const struct snap_attempt *a)
{
	return a->id != 0 && !attempt_status_final(a->status);
}

void
pass_request(struct eng_pass *ps, struct eng_run *er, size_t idx,
    enum req_kind kind, enum rollout_status from, const char *reason)
{
	struct eng_req *rq;
	size_t order = 0;

	for (size_t k = 0; k < er->p->nstages; k++)
		if (er->p->order[k] == idx)
			order = k;
	if (sys_grow((void **)&ps->reqs, ps->nreqs, &ps->reqs_cap,
	    sizeof(*ps->reqs), 0) < 0)
		abort();
	rq = &ps->reqs[ps->nreqs++];
	memset(rq, 0, sizeof(*rq));
	rq->kind = kind;
	rq->run = er;
	rq->idx = idx;
	rq->order = order;
	/* GPUs are per node: a multi-node stage holds them all at once */
	rq->gpus = er->p->stages[idx].resources.gpu *
	    er->p->stages[idx].nodes;
	rq->nodes = er->p->stages[idx].nodes;
	rq->from = from;
	if (reason != NULL)
		(void)str_copy(rq->reason, sizeof(rq->reason), reason);
}

void
pass_request_step(struct eng_pass *ps, struct eng_run *er, size_t idx,
    enum rollout_status from, int step, int weight)
{
	struct eng_req *rq;

	pass_request(ps, er, idx, REQ_CANARY_NEXT, from, NULL);
	rq = &ps->reqs[ps->nreqs - 1];
	rq->step = step;
	rq->weight = weight;
}

/* The target of the pipeline's (first) canary stage, or NULL. */
static const char *
canary_target(const struct pipeline *p)
{
	for (size_t i = 0; i < p->nstages; i++)
		if (p->stages[i].canary != NULL)
			return p->stages[i].canary->target;
	return NULL;
}

int
pass_gates(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct pipeline_gate *g, size_t n, const struct stage_output *out,
    const struct output_values *vals, char *msg, size_t msglen,
    struct err *err)
{
	const struct snap_stage *st = er->sn[idx];

	msg[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct gate_baseline b;
		char why[400];
		double v = 0;
		int have = 0, rc;

		memset(&b, 0, sizeof(b));
		if (out != NULL) {
			have = stage_output_metric(out, g[i].metric, &v);
		} else {
			for (size_t j = 0; vals != NULL && j < vals->n; j++) {
				if (vals->v[j].metric &&
				    strcmp(vals->v[j].name, g[i].metric) == 0) {
					v = strtod(vals->v[j].value, NULL);
					have = 1;
				}
			}
		}
		if (g[i].baseline && have &&
		    (rc = store_model_baseline(pass_db(ps),
		    canary_target(er->p), er->r->pipeline_id, er->r->id,
		    st->name, g[i].metric, &b, err)) < 0)
			return rc;
		if (!gate_check(&g[i], have, v, &b, why, sizeof(why))) {
			(void)snprintf(msg, msglen, "gate failed: %s", why);
			return 0;
		}
	}
	return 1;
}
