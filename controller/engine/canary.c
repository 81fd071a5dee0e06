/*
 * canary.c - the canary stage machine (docs/engine.md): for
 * each step, its Job with the step's weight, the analysis window with its
 * gates, the approval; then promotion; or, on a failed step, a failed
 * analysis, a rejected or expired approval, or a cancel, the rollback Job
 * and the stage's failure.
 *
 * With canary.traffic provider kserve or gateway, the controller moves
 * the traffic itself (engine/traffic.c): after each step's Job, before
 * the promotion, and first thing in a rollback (traffic_at(),
 * traffic_restore_stable()).
 *
 * Before a canary stage starts, canary_may_start() checks the lease on
 * its target (one rollout per target, on_conflict queue or supersede).
 * Approvers' actions (store_rollout_act) are carried out here: an abort
 * rolls back at once, a promote-full jumps to the last step (weight 100)
 * and promotes without the remaining approvals, a pause holds the
 * rollout where it is.
 *
 * canary_advance() is called for a canary stage that has no active
 * attempt.  The rollout row says where the stage is; every decision is
 * written (store_rollout_*, store_approval_*) before anything it leads
 * to, and a new attempt is only requested here (pass_request): engine.c
 * writes its row and submits it under the caps.
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/units.h"
#include "engine/analysis.h"
#include "engine/canary.h"
#include "engine/pass.h"
#include "engine/traffic.h"
#include "pipeline/pipeline.h"
#include "store/store_approval.h"
#include "store/store_output.h"
#include "store/store_rollout.h"
#include "store/store_stage.h"

struct canary {
	struct eng_pass			*ps;
	struct eng_run			*er;
	size_t				 idx;
	struct snap_stage		*st;
	const struct pipeline_canary	*c;
	const struct pipeline_step	*step;
};

static void
log_fail(const struct canary *k, const char *what, const struct err *err)
{
	log_warn(what, "run=%lld stage=%s error=\"%s\"",
	    (long long)k->er->r->id, k->st->name, err->msg);
}

/* Show why the stage holds (NULL: nothing), written only when it changes. */
static void
set_waiting(struct canary *k, const char *why)
{
	const char *now = k->st->waiting_reason;
	struct err err;

	if ((now == NULL && why == NULL) ||
	    (now != NULL && why != NULL && strcmp(now, why) == 0))
		return;
	if (store_stage_waiting(pass_db(k->ps), k->st->id, why, &err) < 0)
		log_fail(k, "cannot record waiting reason", &err);
}

int
canary_aborting(const struct snap_stage *st)
{
	return st->ro.id != 0 && st->ro.action != NULL &&
	    strcmp(st->ro.action, "abort") == 0;
}

static int
promoting_full(const struct snap_stage *st)
{
	return st->ro.action != NULL &&
	    strcmp(st->ro.action, "promote_full") == 0;
}

/*
 * Traffic back to the stable version.  The command provider runs the
 * pipeline's rollback_command as an attempt (weight 0); the rollout ends
 * when it does (rolling_back()).  A provider run by the controller
 * (KServe, Gateway API, engine/traffic.c) restores the stable version
 * itself first, then runs the rollback_command if there is one.
 * Returns 1 when the rollout ends later (an attempt was asked for, or
 * the restore is tried again at the next pass), 0 when it ends now as
 * *end with msg.
 */
static int
traffic_restore_stable(struct canary *k, enum rollout_status from,
    const char *reason, enum rollout_status *end, char *msg, size_t len)
{
	char why[900];
	struct err err;
	int rc;

	*end = ROLLOUT_ROLLED_BACK;
	if (traffic_by_controller(k->c)) {
		if ((rc = traffic_restore(k->ps, k->st, k->c, &err)) ==
		    ERR_TRANSIENT) {
			(void)snprintf(why, sizeof(why), "rolling back: %.800s",
			    err.msg);
			set_waiting(k, why);
			pass_wake_in(k->ps, 1000);
			return 1;
		}
		if (rc < 0) {
			*end = ROLLOUT_FAILED;
			(void)snprintf(msg, len, "%s; the rollback failed: %.400s",
			    reason, err.msg);
			return 0;
		}
		(void)snprintf(msg, len, "%s; rolled back", reason);
	} else {
		(void)snprintf(msg, len, "%s (no rollback_command)", reason);
	}
	if (k->c->rollback_command.n == 0)
		return 0;
	pass_request(k->ps, k->er, k->idx, REQ_ROLLBACK, from, reason);
	return 1;
}

static void rollback(struct canary *k, enum rollout_status from,
    const char *reason);

/*
 * Traffic at weight (final: promotion) when the controller moves it:
 * 1 when in place and serving; 0 when the stage waits for it (its
 * waiting_reason says why) or could not have it and rolls back (rollout
 * seen in from).
 */

static int
traffic_at(struct canary *k, int weight, int final, enum rollout_status from)
{
	char why[700], msg[900];
	struct err err;
	int rc;

	if (!traffic_by_controller(k->c))
		return 1;
	rc = traffic_set(k->ps, k->st, k->c, weight, final, why, sizeof(why),
	    &err);
	if (rc == 1) {
		/* only a reason of ours is cleared (not "rollout paused") */
		if (k->st->waiting_reason != NULL &&
		    strncmp(k->st->waiting_reason, TRAFFIC_WAIT_PREFIX,
		    strlen(TRAFFIC_WAIT_PREFIX)) == 0)
			set_waiting(k, NULL);
		return 1;
	}
	if (rc == 0 || rc == ERR_TRANSIENT) {
		(void)snprintf(msg, sizeof(msg), TRAFFIC_WAIT_PREFIX "%d%%: "
		    "%s", weight, why);
		set_waiting(k, msg);
		pass_wake_in(k->ps, 1000);
		return 0;
	}
	(void)snprintf(msg, sizeof(msg), "traffic for step %d (weight %d) "
	    "cannot be set: %.800s", k->st->ro.step, weight, err.msg);
	rollback(k, from, msg);
	return 0;
}

/* Who caused a rollback: who asked for the abort or the cancel. */
static const char *
rollback_cause(const struct canary *k)
{
	if (k->er->r->cancel && k->er->r->cancel_by != NULL)
		return k->er->r->cancel_by;
	return NULL;
}

/* The rollout is abandoned (rollout in status from) for reason. */
static void
rollback(struct canary *k, enum rollout_status from, const char *reason)
{
	struct snap_stage *st = k->st;
	enum stage_status to = k->er->r->cancel ? STAGE_CANCELED : STAGE_FAILED;
	enum rollout_status end;
	char msg[1200];
	struct err err;

	log_info("canary rolling back", "run=%lld stage=%s reason=\"%s\"",
	    (long long)k->er->r->id, st->name, reason);
	if (traffic_restore_stable(k, from, reason, &end, msg, sizeof(msg)))
		return;
	if (store_rollout_end(pass_db(k->ps), st->ro.id, k->er->r->id,
	    st->id, from, end, st->status, to, msg,
	    ENGINE_ACTOR, rollback_cause(k), &err) < 0) {
		log_fail(k, "cannot end rollout", &err);
		return;
	}
	st->ro.status = end;
	st->status = to;
	pass_note(k->er, k->idx, msg);
	pass_changed(k->ps);
}

/*
 * A paused rollout holds (1) where it would move forward; the stage
 * shows who paused it.
 */
static int
held(struct canary *k)
{
	char why[300];

	if (k->st->ro.paused_by == NULL)
		return 0;
	(void)snprintf(why, sizeof(why), "rollout paused by %s",
	    k->st->ro.paused_by);
	set_waiting(k, why);
	return 1;
}

/* The current step is through (rollout in status from): next or done. */
static void
next_or_promote(struct canary *k, enum rollout_status from)
{
	struct snap_stage *st = k->st;
	struct buf bypassed;
	struct err err;
	int rc = 0;

	if (held(k))
		return;
	if ((size_t)st->ro.step < k->c->nsteps) {
		pass_request(k->ps, k->er, k->idx, REQ_CANARY_NEXT, from, NULL);
		return;
	}
	if (!traffic_at(k, 100, 1, from))
		return;
	/* a promote-full records the approvals it went past (of these) */
	buf_init(&bypassed, LIM_CANARY_STEPS * 8 + 2);
	rc |= buf_putc(&bypassed, '[');
	for (size_t i = 0; promoting_full(st) && i < k->c->nsteps; i++)
		if (k->c->steps[i].approval)
			rc |= buf_printf(&bypassed, "%s%zu",
			    bypassed.len > 1 ? "," : "", i + 1);
	rc |= buf_putc(&bypassed, ']');
	if (rc < 0 || store_rollout_promote(pass_db(k->ps), st->ro.id,
	    k->er->r->id, st->id, from, st->status, ENGINE_ACTOR,
	    bypassed.data, &err) < 0) {
		if (rc < 0)
			err_set(&err, ERR_TOOBIG, "bypassed steps");
		log_fail(k, "cannot promote", &err);
		buf_release(&bypassed);
		return;
	}
	buf_release(&bypassed);
	log_info("canary promoted", "run=%lld stage=%s target=%s "
	    "model_version=%lld", (long long)k->er->r->id, st->name,
	    k->c->target, (long long)st->ro.model_id);
	st->ro.status = ROLLOUT_SUCCEEDED;
	st->status = STAGE_SUCCEEDED;
	pass_changed(k->ps);
}

/* The step's Job (and analysis) passed: ask for approval or go on. */
static void
after_analysis(struct canary *k, enum rollout_status from)
{
	struct snap_stage *st = k->st;
	char why[200];
	struct err err;
	int64_t ap = 0;

	if (!k->step->approval) {
		next_or_promote(k, from);
		return;
	}
	if (held(k))
		return;
	(void)snprintf(why, sizeof(why), "waiting for approval of step %d "
	    "(weight %d)", st->ro.step, k->step->weight);
	if (store_rollout_await(pass_db(k->ps), st->ro.id, k->er->r->id,
	    st->id, from, st->ro.step, k->step->weight, k->c->target,
	    k->c->approval_timeout_ms, why, ENGINE_ACTOR, &ap, &err) < 0) {
		log_fail(k, "cannot request approval", &err);
		return;
	}
	log_info("canary waiting for approval", "run=%lld stage=%s step=%d "
	    "approval=%lld", (long long)k->er->r->id, st->name, st->ro.step,
	    (long long)ap);
	st->ro.status = ROLLOUT_WAITING_APPROVAL;
	st->status = STAGE_WAITING_APPROVAL;
	st->ap.id = ap;
	st->ap.status = APPROVAL_PENDING;
	st->ap.expires_ms = k->ps->snap.now_ms + k->c->approval_timeout_ms;
	pass_changed(k->ps);
}

/*
 * promote-full (the step's Job, if any, succeeded; rollout in from): on
 * to the last step (weight 100) past the steps between, or, on it
 * already, promote.
 */
static void
promote_full(struct canary *k, enum rollout_status from)
{
	size_t last = k->c->nsteps;

	if (k->er->r->cancel) {
		rollback(k, from, "run canceled");
		return;
	}
	if ((size_t)k->st->ro.step < last) {
		pass_request_step(k->ps, k->er, k->idx, from, (int)last,
		    k->c->steps[last - 1].weight);
		return;
	}
	next_or_promote(k, from);
}

static void
progressing(struct canary *k)
{
	struct snap_stage *st = k->st;
	struct snap_attempt *att = &st->att;
	char why[800];
	struct err err;
	int64_t from;

	if (att->kind != ATTEMPT_CANARY_STEP || att->step != st->ro.step) {
		log_warn("canary state unexpected", "run=%lld stage=%s step=%d",
		    (long long)k->er->r->id, st->name, st->ro.step);
		return;
	}
	if (k->er->r->cancel) {
		rollback(k, ROLLOUT_PROGRESSING, "run canceled");
		return;
	}
	if (att->status != ATTEMPT_SUCCEEDED) {
		(void)snprintf(why, sizeof(why), "step %d (weight %d) failed: %s",
		    st->ro.step, k->step->weight, att->message ? att->message :
		    attempt_status_name(att->status));
		rollback(k, ROLLOUT_PROGRESSING, why);
		return;
	}
	/* a provider run by the controller moves traffic after the Job */
	if (!traffic_at(k, k->step->weight, 0, ROLLOUT_PROGRESSING))
		return;
	if (promoting_full(st)) {
		promote_full(k, ROLLOUT_PROGRESSING);
		return;
	}
	if (!k->step->analysis) {
		after_analysis(k, ROLLOUT_PROGRESSING);
		return;
	}
	if (held(k))
		return;
	/* the window starts with the step's Job, or once the traffic moved */
	from = att->started_ms > 0 ? att->started_ms : k->ps->snap.now_ms;
	if (traffic_by_controller(k->c))
		from = k->ps->snap.now_ms;
	if (store_rollout_analyzing(pass_db(k->ps), st->ro.id, k->er->r->id,
	    st->ro.step, from, ENGINE_ACTOR, &err) < 0) {
		log_fail(k, "cannot start analysis", &err);
		return;
	}
	st->ro.status = ROLLOUT_ANALYZING;
	st->ro.analysis_ms = from;
	pass_changed(k->ps);
}

/*
 * The step's analysis queries (engine/analysis.c): 1 when all of them
 * passed; else 0, and the stage waits (measuring) or rolls back.
 */
static int
queries_passed(struct canary *k)
{
	char msg[1200], why[1400];
	struct err err;
	int rc;

	rc = analysis_queries(k->ps, k->er, k->idx, msg, sizeof(msg), &err);
	if (rc < 0) {
		log_fail(k, "cannot measure analysis queries", &err);
		pass_wake_in(k->ps, 1000);
		return 0;
	}
	if (rc == ANALYSIS_WAIT) {
		set_waiting(k, msg);
		return 0;
	}
	if (rc == ANALYSIS_FAILED) {
		(void)snprintf(why, sizeof(why), "analysis of step %d (weight %d)"
		    " failed: %s", k->st->ro.step, k->step->weight, msg);
		rollback(k, ROLLOUT_ANALYZING, why);
		return 0;
	}
	return 1;
}

static void
analyzing(struct canary *k)
{
	struct snap_stage *st = k->st;
	struct output_values vals = { NULL, 0 };
	int64_t end = st->ro.analysis_ms + k->step->analysis_ms +
	    st->ro.paused_ms;
	char msg[800], why[1000];
	struct err err;
	int rc;

	if (k->er->r->cancel) {
		rollback(k, ROLLOUT_ANALYZING, "run canceled");
		return;
	}
	if (held(k))
		return;
	if (k->step->nqueries > 0 && !queries_passed(k))
		return;
	/*
	 * The window runs analysis.duration from the start of the step's
	 * Job (plus the time the rollout was paused), and never ends before
	 * that Job did: what the Job reported while it ran always counts,
	 * however long it took.
	 */
	if (st->att.kind == ATTEMPT_CANARY_STEP && st->att.finished_ms > end)
		end = st->att.finished_ms;
	if (k->ps->snap.now_ms < end) {
		pass_wake_in(k->ps, end - k->ps->snap.now_ms);
		return;
	}
	/*
	 * Metrics are stamped when their log lines are kept, which for the
	 * last lines of a Job can be a pass after it ended: once the window
	 * is over, everything the step's Job reported until now counts.
	 */
	if ((rc = store_output_window(pass_db(k->ps), st->id, st->ro.step,
	    st->ro.analysis_ms, k->ps->snap.now_ms, &vals, &err)) == 0)
		rc = pass_gates(k->ps, k->er, k->idx, k->step->gates,
		    k->step->ngates, NULL, &vals, msg, sizeof(msg), &err);
	output_values_release(&vals);
	if (rc < 0) {
		log_fail(k, "cannot evaluate analysis", &err);
		return;
	}
	if (rc == 0) {
		(void)snprintf(why, sizeof(why), "analysis of step %d (weight %d)"
		    " failed: %s", st->ro.step, k->step->weight, msg);
		rollback(k, ROLLOUT_ANALYZING, why);
		return;
	}
	log_info("canary analysis passed", "run=%lld stage=%s step=%d",
	    (long long)k->er->r->id, st->name, st->ro.step);
	after_analysis(k, ROLLOUT_ANALYZING);
}

static void
waiting(struct canary *k)
{
	struct snap_stage *st = k->st;
	struct snap_approval *ap = &st->ap;
	char why[1200], dur[32];
	struct err err;

	if (ap->id == 0) {
		log_warn("canary waits for no approval", "run=%lld stage=%s",
		    (long long)k->er->r->id, st->name);
		return;
	}
	if (ap->status == APPROVAL_PENDING) {
		if (k->er->r->cancel) {
			const char *by = k->er->r->cancel_by ?
			    k->er->r->cancel_by : ENGINE_ACTOR;

			if (store_approval_decide(pass_db(k->ps), ap->id, 0,
			    by, "run canceled", &err) < 0 &&
			    store_approval_expire(pass_db(k->ps), ap->id,
			    ENGINE_ACTOR, &err) < 0) {
				log_fail(k, "cannot close approval", &err);
				return;
			}
			pass_changed(k->ps);
			rollback(k, ROLLOUT_WAITING_APPROVAL, "run canceled");
			return;
		}
		if (held(k))
			return;
		if (k->ps->snap.now_ms < ap->expires_ms) {
			(void)snprintf(why, sizeof(why), "waiting for approval "
			    "of step %d (weight %d)", st->ro.step,
			    k->step->weight);
			set_waiting(k, why);
			pass_wake_in(k->ps,
			    ap->expires_ms - k->ps->snap.now_ms);
			return;
		}
		if (store_approval_expire(pass_db(k->ps), ap->id,
		    ENGINE_ACTOR, &err) < 0) {
			log_fail(k, "cannot expire approval", &err);
			return;
		}
		ap->status = APPROVAL_EXPIRED;
		pass_changed(k->ps);
	}
	if (ap->status == APPROVAL_APPROVED) {
		if (k->er->r->cancel)
			rollback(k, ROLLOUT_WAITING_APPROVAL, "run canceled");
		else
			next_or_promote(k, ROLLOUT_WAITING_APPROVAL);
		return;
	}
	if (ap->status == APPROVAL_REJECTED) {
		(void)snprintf(why, sizeof(why), "approval of step %d (weight %d)"
		    " rejected by %s%s%s", st->ro.step, k->step->weight,
		    ap->decided_by ? ap->decided_by : "?",
		    ap->comment ? ": " : "", ap->comment ? ap->comment : "");
		rollback(k, ROLLOUT_WAITING_APPROVAL, why);
		return;
	}
	units_format_duration(k->c->approval_timeout_ms, dur, sizeof(dur));
	(void)snprintf(why, sizeof(why), "approval of step %d (weight %d) "
	    "expired after %s", st->ro.step, k->step->weight, dur);
	rollback(k, ROLLOUT_WAITING_APPROVAL, why);
}

static void
rolling_back(struct canary *k)
{
	struct snap_stage *st = k->st;
	struct snap_attempt *att = &st->att;
	enum stage_status to = k->er->r->cancel ? STAGE_CANCELED : STAGE_FAILED;
	enum rollout_status end;
	int ok = att->status == ATTEMPT_SUCCEEDED;
	char msg[1400];
	struct err err;

	if (att->kind != ATTEMPT_ROLLBACK) {
		log_warn("rollback attempt missing", "run=%lld stage=%s",
		    (long long)k->er->r->id, st->name);
		return;
	}
	if (ok)
		(void)snprintf(msg, sizeof(msg), "%s; rolled back",
		    st->ro.message ? st->ro.message : "rolled back");
	else
		(void)snprintf(msg, sizeof(msg), "%s; the rollback failed: %s",
		    st->ro.message ? st->ro.message : "rollback",
		    att->message ? att->message :
		    attempt_status_name(att->status));
	end = ok ? ROLLOUT_ROLLED_BACK : ROLLOUT_FAILED;
	if (store_rollout_end(pass_db(k->ps), st->ro.id, k->er->r->id,
	    st->id, ROLLOUT_ROLLING_BACK, end, st->status, to, msg,
	    ENGINE_ACTOR, rollback_cause(k), &err) < 0) {
		log_fail(k, "cannot end rollout", &err);
		return;
	}
	log_info("canary rolled back", "run=%lld stage=%s ok=%d",
	    (long long)k->er->r->id, st->name, ok);
	st->ro.status = end;
	st->status = to;
	pass_note(k->er, k->idx, msg);
	pass_changed(k->ps);
}

void
canary_advance(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	struct canary k;
	struct snap_stage *st = er->sn[idx];

	k.ps = ps;
	k.er = er;
	k.idx = idx;
	k.st = st;
	k.c = er->p->stages[idx].canary;
	if (st->ro.id == 0 || st->ro.step < 1 ||
	    (size_t)st->ro.step > k.c->nsteps) {
		log_warn("canary stage without a rollout", "run=%lld stage=%s",
		    (long long)er->r->id, st->name);
		return;
	}
	k.step = &k.c->steps[st->ro.step - 1];
	if (canary_aborting(st) && !rollout_status_final(st->ro.status) &&
	    st->ro.status != ROLLOUT_ROLLING_BACK) {
		rollback(&k, st->ro.status, st->ro.action_reason ?
		    st->ro.action_reason : "aborted");
		return;
	}
	if (promoting_full(st) && (st->ro.status == ROLLOUT_ANALYZING ||
	    st->ro.status == ROLLOUT_WAITING_APPROVAL)) {
		promote_full(&k, st->ro.status);
		return;
	}
	/* progressing may move on to analyzing at once */
	if (st->ro.status == ROLLOUT_PROGRESSING)
		progressing(&k);
	switch (st->ro.status) {
	case ROLLOUT_ANALYZING:
		analyzing(&k);
		break;
	case ROLLOUT_WAITING_APPROVAL:
		waiting(&k);
		break;
	case ROLLOUT_ROLLING_BACK:
		rolling_back(&k);
		break;
	case ROLLOUT_PROGRESSING:
	case ROLLOUT_SUCCEEDED:
	case ROLLOUT_ROLLED_BACK:
	case ROLLOUT_FAILED:
		break;
	}
}

/* The run of this pass that asked to start a canary stage for target. */
static int64_t
claimed_in_pass(const struct eng_pass *ps, const char *target)
{
	for (size_t i = 0; i < ps->nreqs; i++) {
		const struct eng_req *rq = &ps->reqs[i];
		const struct pipeline_canary *c;

		if (rq->kind != REQ_CANARY_START)
			continue;
		c = rq->run->p->stages[rq->idx].canary;
		if (c != NULL && strcmp(c->target, target) == 0)
			return rq->run->r->id;
	}
	return 0;
}

int
canary_may_start(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	const struct pipeline_canary *c = er->p->stages[idx].canary;
	struct lease_holder h;
	struct canary k;
	char why[600], reason[200];
	int64_t rollout = 0;
	struct err err;

	memset(&k, 0, sizeof(k));
	k.ps = ps;
	k.er = er;
	k.idx = idx;
	k.st = er->sn[idx];
	k.c = c;
	if (store_lease_holder(pass_db(ps), c->target, &h, &err) < 0) {
		log_fail(&k, "cannot read the target's lease", &err);
		pass_wake_in(ps, 1000);
		return 0;
	}
	if (h.run_id == 0 && (h.run_id = claimed_in_pass(ps, c->target)) == 0)
		return 1;
	if (h.stage_id == k.st->id)
		return 1;	/* its own: store_rollout_start says more */
	(void)snprintf(why, sizeof(why), "target %s is being rolled out by "
	    "run %lld", c->target, (long long)h.run_id);
	if (c->on_conflict == PIPELINE_ON_CONFLICT_SUPERSEDE &&
	    h.rollout_id != 0 && h.run_id != er->r->id) {
		if (!h.ending) {
			(void)snprintf(reason, sizeof(reason), "superseded by "
			    "run %lld", (long long)er->r->id);
			if (store_rollout_act(pass_db(ps), h.run_id, h.stage_id,
			    ROLLOUT_ACT_ABORT, ENGINE_ACTOR, NULL, reason,
			    &rollout, &err) < 0 && err.code != ERR_CONFLICT) {
				log_fail(&k, "cannot supersede", &err);
				pass_wake_in(ps, 1000);
			} else if (rollout != 0) {
				log_info("canary superseding", "run=%lld "
				    "target=%s holder=%lld", (long long)er->r->id,
				    c->target, (long long)h.run_id);
				pass_changed(ps);
			}
		}
		(void)str_copy(why + strlen(why), sizeof(why) - strlen(why),
		    "; rolling it back (on_conflict: supersede)");
	}
	set_waiting(&k, why);
	return 0;
}
