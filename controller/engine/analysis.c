/*
 * analysis.c - the analysis queries of a canary step; see analysis.h.
 *
 * The step's analysis clock starts when its traffic is set (the step's
 * Job has ended, or analysis_started_at when later) and stops while the
 * rollout is paused (paused_ms).  duration / interval slots are measured
 * per query; slot k is due once the clock reaches k * interval.  A pass
 * measures only the latest due slot of each query (slots missed while
 * the controller was down are not made up), stores it, and judges from
 * the stored rows: a restart measures nothing twice and forgets nothing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "engine/analysis.h"
#include "engine/prom.h"
#include "pipeline/gates.h"
#include "pipeline/pipeline.h"
#include "store/store_analysis.h"

struct anl {
	struct eng_pass			*ps;
	struct eng_run			*er;
	struct snap_stage		*st;
	const struct pipeline_canary	*c;
	const struct pipeline_step	*step;
	int				 nslots;
	int64_t				 version;	/* candidate, 0: none */
	char				 uri[2100];
	int				 have_candidate;
};

/* When the step's clock started (unix ms). */
static int64_t
clock_start(const struct anl *a)
{
	const struct snap_stage *st = a->st;
	int64_t t = st->ro.analysis_ms;

	if (st->att.kind == ATTEMPT_CANARY_STEP && st->att.step == st->ro.step &&
	    st->att.finished_ms > t)
		t = st->att.finished_ms;
	return t;
}

static const struct measure_tally *
tally_of(const struct measure_tally *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].query, name) == 0)
			return &t[i];
	return NULL;
}

/* Read the candidate model's version and URI once per call. */
static int
candidate(struct anl *a, struct err *err)
{
	int rc;

	if (a->have_candidate || a->st->ro.model_id == 0)
		return 0;
	if ((rc = store_measure_candidate(pass_db(a->ps), a->st->ro.model_id,
	    &a->version, a->uri, sizeof(a->uri), err)) < 0)
		return rc;
	a->have_candidate = 1;
	return 0;
}

/* Measure query qr for slot and store the measurement. */
static int
measure(struct anl *a, const struct pipeline_query *qr, int slot,
    struct err *err)
{
	struct pipeline_gate g;
	struct promql_vars v;
	struct measure_new m;
	struct buf text;
	struct err qerr;
	double value = NAN;
	int rc;

	if ((rc = candidate(a, err)) < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.rollout_id = a->st->ro.id;
	m.run_id = a->er->r->id;
	m.step = a->st->ro.step;
	m.query = qr->name;
	m.slot = slot;
	m.op = pipeline_op_name(qr->op);
	m.threshold = qr->value;
	v.target = a->c->target;
	v.weight = a->step->weight;
	v.version = a->have_candidate ? a->version : 0;
	v.uri = a->have_candidate ? a->uri : NULL;
	buf_init(&text, LIM_PROMQL_SUBST);
	if ((rc = pipeline_promql_substitute(qr->query, &v, &text, &qerr)) ==
	    0 && (rc = buf_putc(&text, '\0')) < 0)
		(void)err_set(&qerr, rc, "the query is too long once "
		    "substituted");
	if (rc == 0)
		rc = prom_query(&a->c->prometheus, text.data, &value, &qerr);
	buf_release(&text);
	if (rc == 0 && isnan(value)) {
		m.result = MEASURE_INCONCLUSIVE;
		m.message = "no data: the query's value is NaN";
	} else if (rc == 0) {
		memset(&g, 0, sizeof(g));
		g.metric = qr->name;
		g.op = qr->op;
		g.value = qr->value;
		m.result = pipeline_gate_holds(&g, value, 0) ? MEASURE_PASS :
		    MEASURE_FAIL;
		m.has_value = 1;
		m.value = value;
	} else {
		m.result = MEASURE_INCONCLUSIVE;
		m.message = qerr.msg;
	}
	log_info("canary measurement", "run=%lld stage=%s step=%d query=%s "
	    "slot=%d result=%s value=%g message=\"%s\"",
	    (long long)a->er->r->id, a->st->name, m.step, qr->name, slot,
	    measure_result_name(m.result), value,
	    m.message != NULL ? m.message : "");
	return store_measure_add(pass_db(a->ps), &m, err);
}

/* "0.2 is not <= 0.01" or "inconclusive: why" for t's last slot. */
static void
describe_last(const struct measure_tally *t, const struct pipeline_query *qr,
    char *out, size_t len)
{
	char val[40], thr[40];

	if (t->last == MEASURE_INCONCLUSIVE) {
		(void)snprintf(out, len, "inconclusive: %s", t->last_message);
		return;
	}
	gate_format_number(t->last_value, val, sizeof(val));
	gate_format_number(qr->value, thr, sizeof(thr));
	(void)snprintf(out, len, "%s %s %s %s", val, t->last == MEASURE_PASS ?
	    "is" : "is not", pipeline_op_name(qr->op), thr);
}

/* Judge the stored tallies: a verdict and its message. */
static int
judge(struct anl *a, const struct measure_tally *t, size_t nt, char *msg,
    size_t msglen)
{
	const struct pipeline_step *s = a->step;
	int all_done = 1, ign = s->inconclusive == PIPELINE_INCONCLUSIVE_IGNORE;
	int measured = 0;
	char last[700];

	for (size_t i = 0; i < s->nqueries; i++) {
		const struct pipeline_query *qr = &s->queries[i];
		const struct measure_tally *q = tally_of(t, nt, qr->name);
		int failed;

		if (q == NULL) {
			all_done = 0;
			continue;
		}
		failed = q->fail + (ign ? 0 : q->inconclusive);
		describe_last(q, qr, last, sizeof(last));
		if (failed > s->failure_limit) {
			(void)snprintf(msg, msglen, "query %s: %d failed "
			    "measurement%s (failure_limit %d%s); last: %s",
			    qr->name, failed, failed == 1 ? "" : "s",
			    s->failure_limit, ign ? "" :
			    ", inconclusive counted as failed", last);
			return ANALYSIS_FAILED;
		}
		if (q->last_slot < a->nslots)
			all_done = 0;
		else if (q->pass == 0) {
			/* inconclusive: ignore, and nothing else: no pass */
			(void)snprintf(msg, msglen, "query %s: no conclusive "
			    "measurement in %d; last: %s", qr->name,
			    q->pass + q->fail + q->inconclusive, last);
			return ANALYSIS_FAILED;
		}
		if (q->last_slot > measured)
			measured = q->last_slot;
	}
	if (all_done)
		return ANALYSIS_PASSED;
	/* the waiting reason: progress and the last word of each query */
	(void)snprintf(msg, msglen, "analysis of step %d (weight %d): "
	    "measurement %d of %d", a->st->ro.step, s->weight, measured,
	    a->nslots);
	for (size_t i = 0; i < s->nqueries; i++) {
		const struct measure_tally *q = tally_of(t, nt,
		    s->queries[i].name);
		size_t l = strlen(msg);

		if (q == NULL)
			continue;
		describe_last(q, &s->queries[i], last, sizeof(last));
		(void)snprintf(msg + l, msglen - l, "; %s %s",
		    s->queries[i].name, last);
	}
	return ANALYSIS_WAIT;
}

int
analysis_queries(struct eng_pass *ps, struct eng_run *er, size_t idx,
    char *msg, size_t msglen, struct err *err)
{
	struct measure_tally t[LIM_ANALYSIS_QUERIES];
	struct anl a;
	const struct measure_tally *q;
	int64_t start, elapsed, next;
	size_t nt = 0;
	int due, rc, measured = 0;

	memset(&a, 0, sizeof(a));
	a.ps = ps;
	a.er = er;
	a.st = er->sn[idx];
	a.c = er->p->stages[idx].canary;
	a.step = &a.c->steps[a.st->ro.step - 1];
	a.nslots = (int)(a.step->analysis_ms / a.step->interval_ms);
	if (a.nslots < 1)
		a.nslots = 1;
	msg[0] = '\0';
	start = clock_start(&a);
	elapsed = ps->snap.now_ms - start - a.st->ro.paused_ms;
	due = elapsed < 0 ? 0 : (int)(elapsed / a.step->interval_ms);
	if (due > a.nslots)
		due = a.nslots;
	if ((rc = store_measure_tally(pass_db(ps), a.st->ro.id, a.st->ro.step,
	    t, LIM_ANALYSIS_QUERIES, &nt, err)) < 0)
		return rc;
	for (size_t i = 0; due > 0 && i < a.step->nqueries; i++) {
		q = tally_of(t, nt, a.step->queries[i].name);
		if (q != NULL && q->last_slot >= due)
			continue;
		if ((rc = measure(&a, &a.step->queries[i], due, err)) < 0)
			return rc;
		measured = 1;
	}
	if (measured && (rc = store_measure_tally(pass_db(ps), a.st->ro.id,
	    a.st->ro.step, t, LIM_ANALYSIS_QUERIES, &nt, err)) < 0)
		return rc;
	rc = judge(&a, t, nt, msg, msglen);
	if (rc == ANALYSIS_WAIT) {
		next = start + a.st->ro.paused_ms +
		    (int64_t)(due + 1) * a.step->interval_ms;
		pass_wake_in(ps, next - ps->snap.now_ms);
	}
	return rc;
}
