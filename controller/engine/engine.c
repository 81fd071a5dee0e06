/*
 * engine.c - one reconcile pass: runs, job stages, attempts, the
 * checkout and the admission of new work under the caps.  Canary stages
 * are canary.c, what an attempt runs spec_build.c, the pass's state
 * pass.c, and the thread that runs passes loop.c.
 *
 * The rule every function here follows (docs/engine.md): decide from the
 * snapshot, write the transition with its events in one statement (or
 * one transaction), and only then cause the side effect it leads to
 * (executor submit, cancel, release; export or removal of a checkout).
 * Every side effect is idempotent, so repeating it after a crash between
 * the write and the effect is harmless, and every write is conditional on
 * the state that was seen, so a stale decision is refused (ERR_CONFLICT)
 * instead of applied twice.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/units.h"
#include "engine/attempt_spec.h"
#include "engine/canary.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "engine/spec_build.h"
#include "exec/executor.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/status.h"
#include "store/store_engine.h"
#include "store/store_model.h"
#include "store/store_rollout.h"
#include "store/store_run.h"
#include "store/store_stage.h"

#define RELEASE_LOOKBACK_MS	(3600 * 1000)
/* Executor submits of one pass stop after this long; the next goes on. */
#define SUBMIT_SLICE_MS		500

/* --- small helpers --------------------------------------------------- */

/* The engine's connection outside a pass, counting one statement. */
struct db *
engine_db(struct engine *e)
{
	e->st.statements++;
	return e->db;
}

/* Two strings, either of which may be NULL, are equal. */
static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static const char *
stage_message(const struct eng_run *er, size_t idx)
{
	if (er->msg != NULL && er->msg[idx][0] != '\0')
		return er->msg[idx];
	return er->sn[idx]->message;
}

static int64_t
backoff_ms(const struct engine *e, int attempt)
{
	int64_t d = e->o.backoff_ms;

	for (int i = 1; i < attempt && d < e->o.backoff_max_ms; i++)
		d *= 2;
	return d < e->o.backoff_max_ms ? d : e->o.backoff_max_ms;
}

static const char *
cancel_actor(const struct snap_run *r)
{
	return r->cancel_by != NULL && r->cancel_by[0] != '\0' ?
	    r->cancel_by : ENGINE_ACTOR;
}

/* --- pipelines --------------------------------------------------------- */

static int
pipe_get(struct engine *e, int64_t version_id, const struct pipeline **out,
    struct err *err)
{
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct eng_pipe *slot = NULL;
	char *json = NULL;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < e->npipes; i++) {
		if (e->pipes[i].version_id == version_id) {
			e->pipes[i].used = e->pass;
			*out = e->pipes[i].p;
			return 0;
		}
	}
	if ((rc = store_version_definition(engine_db(e), version_id, &json,
	    err)) < 0)
		return rc;
	pipeline_errors_init(&errs);
	rc = pipeline_parse(&p, &errs, json, strlen(json), "definition", err);
	pipeline_errors_release(&errs);
	free(json);
	if (rc < 0)
		return rc;
	if (e->npipes >= LIM_ENGINE_PIPELINES) {
		for (size_t i = 0; i < e->npipes; i++) {
			if (e->pipes[i].used < e->pass &&
			    (slot == NULL || e->pipes[i].used < slot->used))
				slot = &e->pipes[i];
		}
	}
	if (slot != NULL) {
		pipeline_free(slot->p);
	} else {
		if (sys_grow((void **)&e->pipes, e->npipes, &e->pipes_cap,
		    sizeof(*e->pipes), 0) < 0)
			abort();
		slot = &e->pipes[e->npipes++];
	}
	slot->version_id = version_id;
	slot->p = p;
	slot->used = e->pass;
	*out = p;
	return 0;
}

/* The configured repository called name, or NULL. */
static const struct cfg_repo *
repo_of(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nrepositories; i++)
		if (same(cfg->repositories[i].name, name))
			return &cfg->repositories[i];
	return NULL;
}

/* --- attempts ----------------------------------------------------------- */

static void finish_attempt(struct eng_pass *ps, struct eng_run *er,
    size_t idx, const struct exec_status *xs, int timed_out);

static void
synthetic(struct exec_status *xs, enum exec_state state, const char *msg)
{
	memset(xs, 0, sizeof(*xs));
	xs->state = state;
	xs->exit_code = -1;
	(void)str_copy(xs->message, sizeof(xs->message), msg);
}

/*
 * Hand the attempt of stage idx (its row already written) to the executor
 * at the pass's next submit_all (first thing in a pass for what was
 * written before it, after the admission for what the pass starts), with
 * spec (owned from here) when the caller just built it, else as recorded.
 */
static void
queue_submit(struct eng_pass *ps, struct eng_run *er, size_t idx,
    struct attempt_spec *spec)
{
	struct eng_sub *sub;

	if (sys_grow((void **)&ps->subs, ps->nsubs, &ps->subs_cap,
	    sizeof(*ps->subs), 0) < 0)
		abort();
	sub = &ps->subs[ps->nsubs++];
	sub->run = er;
	sub->idx = idx;
	sub->spec = spec;
	er->queued[idx] = 1;
}

static void
spec_free(struct attempt_spec *spec)
{
	if (spec != NULL) {
		attempt_spec_release(spec);
		free(spec);
	}
}

/*
 * Submit one attempt (spec: its spec, or NULL when it could not be read:
 * why in rerr, rrc).  Submit is idempotent by name, so this is also how a
 * restarted engine adopts what its predecessor may or may not have
 * started.  1: the executor has it and its row still says pending (the
 * caller records it submitted); 0 otherwise.
 */
static int
submit_one(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct attempt_spec *spec, int rrc, const struct err *rerr)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	const struct cfg_repo *repo;
	struct exec_attempt a;
	struct exec_status xs;
	struct err err;
	int rc = rrc;

	if (spec == NULL) {
		err = *rerr;
		if (rc == ERR_TRANSIENT)
			goto transient;
		goto invalid;
	}
	if (spec->workdir != NULL &&
	    (rc = eng_checkout_ensure(e, er->r, spec->workdir, &err)) < 0) {
		if (rc == ERR_TRANSIENT)
			goto transient;
		err_prefix(&err, "cannot check out commit %s", er->r->commit);
		goto invalid;
	}
	memset(&a, 0, sizeof(a));
	a.name = att->job_name;
	a.run_id = er->r->id;
	a.pipeline = er->r->pipeline;
	a.stage = st->name;
	a.attempt = att->attempt;
	a.step = att->step;
	a.kind = attempt_kind_name(att->kind);
	attempt_spec_to_exec(spec, &a);
	if ((repo = repo_of(e->cfg, er->r->repo)) != NULL) {
		a.repo_url = repo->url;
		a.checkout_secret = repo->kubernetes_secret;
	}
	a.commit = er->r->commit;
	e->st.submits++;
	rc = e->ex.ops->submit(e->ex.impl, &a, &err);
	if (rc == ERR_INVALID)
		goto invalid;
	if (rc < 0)
		goto transient;
	log_info("attempt submitted", "run=%lld stage=%s job=%s",
	    (long long)er->r->id, st->name, att->job_name);
	pass_wake_active(ps);
	return att->status == ATTEMPT_PENDING;
invalid:
	log_warn("attempt cannot run", "run=%lld stage=%s job=%s error=\"%s\"",
	    (long long)er->r->id, st->name, att->job_name, err.msg);
	synthetic(&xs, EXEC_FAILED, err.msg);
	finish_attempt(ps, er, idx, &xs, 0);
	return 0;
transient:
	log_warn("attempt submit failed, will retry", "run=%lld stage=%s "
	    "job=%s error=\"%s\"", (long long)er->r->id, st->name,
	    att->job_name, err.msg);
	pass_wake_in(ps, e->o.poll_ms);
	return 0;
}

/*
 * Read the recorded specs of the queued attempts that have none (one
 * statement).  rc and err: how the read failed, for each of them.
 */
static void
load_specs(struct eng_pass *ps, int *rc, struct err *err)
{
	int64_t *ids = xcalloc(ps->nsubs + 1, sizeof(*ids));
	char **json = xcalloc(ps->nsubs + 1, sizeof(*json));
	size_t *at = xcalloc(ps->nsubs + 1, sizeof(*at));
	size_t n = 0;

	*rc = 0;
	for (size_t i = 0; i < ps->nsubs; i++) {
		if (ps->subs[i].spec == NULL) {
			at[n] = i;
			ids[n++] = ps->subs[i].run->sn[ps->subs[i].idx]->att.id;
		}
	}
	if (n > 0 && (*rc = store_attempts_spec(pass_db(ps), ids, n, json,
	    err)) == 0) {
		for (size_t k = 0; k < n; k++) {
			struct attempt_spec *spec = xcalloc(1, sizeof(*spec));
			struct err jerr;

			attempt_spec_init(spec);
			if (json[k] == NULL || attempt_spec_from_json(spec,
			    json[k], &jerr) < 0) {
				/* left without: submit_one fails it */
				spec_free(spec);
				continue;
			}
			ps->subs[at[k]].spec = spec;
		}
	}
	if (*rc == 0)
		(void)err_set(err, ERR_INVALID, "the recorded spec of the "
		    "attempt cannot be read");
	for (size_t k = 0; k < n; k++)
		free(json[k]);
	free(json);
	free(ids);
	free(at);
}

/*
 * Submit what the pass queued, oldest request first, then record the
 * accepted ones submitted in one statement, and empty the queue.  The
 * submits of one call stop after SUBMIT_SLICE_MS: what is left stays
 * pending (written), and the next pass submits it first.
 */
static void
submit_all(struct eng_pass *ps)
{
	int64_t t0 = sys_now_ms(), *ids, *runs;
	size_t n = 0, done = 0, *which;
	struct err rerr, err;
	int rrc;

	if (ps->nsubs == 0)
		return;
	ids = xcalloc(ps->nsubs + 1, sizeof(*ids));
	runs = xcalloc(ps->nsubs + 1, sizeof(*runs));
	which = xcalloc(ps->nsubs + 1, sizeof(*which));
	load_specs(ps, &rrc, &rerr);
	for (; done < ps->nsubs; done++) {
		struct eng_sub *sub = &ps->subs[done];
		struct snap_attempt *att = &sub->run->sn[sub->idx]->att;

		if (done > 0 && sys_now_ms() - t0 >= SUBMIT_SLICE_MS) {
			log_debug("submits continue at the next pass",
			    "left=%zu", ps->nsubs - done);
			pass_wake_in(ps, 0);
			break;
		}
		if (rrc == ERR_TRANSIENT && sub->spec == NULL) {
			pass_wake_in(ps, ps->e->o.poll_ms);
			continue;
		}
		if (submit_one(ps, sub->run, sub->idx, sub->spec, rrc,
		    &rerr) == 1) {
			ids[n] = att->id;
			which[n] = done;
			runs[n++] = sub->run->r->id;
		}
	}
	if (n > 0 && store_attempts_submitted(pass_db(ps), ids, runs, n,
	    ENGINE_ACTOR, &err) == 0) {
		for (size_t k = 0; k < n; k++) {
			struct eng_sub *sub = &ps->subs[which[k]];

			sub->run->sn[sub->idx]->att.status = ATTEMPT_SUBMITTED;
		}
		pass_changed(ps);
	} else if (n > 0) {
		log_warn("cannot record attempts submitted", "count=%zu "
		    "error=\"%s\"", n, err.msg);
	}
	for (size_t i = 0; i < ps->nsubs; i++)
		spec_free(ps->subs[i].spec);
	ps->nsubs = 0;
	free(ids);
	free(runs);
	free(which);
}

/* The attempt status of an executor's terminal state. */
static enum attempt_status
final_status(enum exec_state s)
{
	switch (s) {
	case EXEC_SUCCEEDED:
		return ATTEMPT_SUCCEEDED;
	case EXEC_CANCELED:
		return ATTEMPT_CANCELED;
	default:
		return ATTEMPT_FAILED;
	}
}

/*
 * An attempt ended (xs is terminal): store what it reported, then write
 * the attempt's end and its stage's transition in one statement, then
 * release it in the executor.  Job stages: gates and model registration
 * on success, retries with backoff on failure.  Canary steps and
 * rollbacks only end the attempt; canary_advance() decides what follows.
 */
static void
finish_attempt(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct exec_status *xs, int timed_out)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	const struct pipeline_stage *pst = &er->p->stages[idx];
	struct stage_output out;
	struct attempt_end ae;
	struct err err;
	char amsg[600], smsg[1400], wait[1400], dur[32];
	enum attempt_status status = final_status(xs->state);
	const char *sname;
	int job = att->kind == ATTEMPT_JOB, rc;

	stage_output_init(&out);
	/* the whole log is kept before the attempt is released */
	if ((rc = eng_log_read_output(ps, att, xs->finished_at, &out, &err)) < 0) {
		log_warn("cannot keep attempt log, will retry", "job=%s "
		    "error=\"%s\"", att->job_name, err.msg);
		pass_wake_in(ps, e->o.poll_ms);
		goto out;
	}
	if (rc == 0)
		goto out;	/* more of the log to read first */
	if (timed_out) {
		units_format_duration(pst->timeout_ms, dur, sizeof(dur));
		status = ATTEMPT_FAILED;
		(void)snprintf(amsg, sizeof(amsg), "timeout after %s (stopped "
		    "by the controller)", dur);
	} else if (xs->message[0] != '\0') {
		(void)str_copy(amsg, sizeof(amsg), xs->message);
	} else if (xs->state == EXEC_FAILED) {
		(void)snprintf(amsg, sizeof(amsg), "exit status %d",
		    xs->exit_code);
	} else {
		amsg[0] = '\0';
	}
	sname = attempt_status_name(status);
	memset(&ae, 0, sizeof(ae));
	ae.attempt_id = att->id;
	ae.run_id = er->r->id;
	ae.status = status;
	ae.exit_code = xs->exit_code;
	ae.message = amsg[0] != '\0' ? amsg : NULL;
	ae.started_ms = xs->started_at;
	ae.finished_ms = xs->finished_at;
	ae.stage_id = st->id;
	ae.stage_from = st->status;
	ae.actor = ENGINE_ACTOR;
	ae.facts.image_id = xs->image_id;
	ae.facts.node_name = xs->node_name;
	ae.facts.gpu_product = xs->gpu_product;
	smsg[0] = wait[0] = '\0';
	if (!job) {
		/* canary: the stage runs on (canary_advance decides) */
		if (st->status == STAGE_SUBMITTED)
			ae.stage_to = STAGE_RUNNING;
	} else if (xs->state == EXEC_SUCCEEDED && !timed_out) {
		int64_t model = 0;

		if (stage_output_artifact(&out, "model") != NULL &&
		    (rc = store_model_register(pass_db(ps), att->id, er->r->id,
		    st->id, er->r->pipeline, ENGINE_ACTOR, &model, &err)) < 0) {
			log_warn("cannot register model", "job=%s error=\"%s\"",
			    att->job_name, err.msg);
			goto out;
		}
		if (model != 0)
			log_info("model version registered", "run=%lld stage=%s "
			    "model_version=%lld", (long long)er->r->id, st->name,
			    (long long)model);
		rc = pass_gates(ps, er, idx, pst->gates, pst->ngates, &out, NULL,
		    smsg, sizeof(smsg), &err);
		if (rc < 0) {
			log_warn("cannot evaluate gates", "job=%s error=\"%s\"",
			    att->job_name, err.msg);
			goto out;
		}
		ae.stage_to = rc == 1 ? STAGE_SUCCEEDED : STAGE_FAILED;
	} else if (er->r->cancel) {
		ae.stage_to = STAGE_CANCELED;
		(void)snprintf(smsg, sizeof(smsg), "run canceled by %s",
		    cancel_actor(er->r));
	} else if (att->attempt <= pst->retries) {
		char bo[32];
		int64_t d = backoff_ms(e, att->attempt);

		units_format_duration(d, bo, sizeof(bo));
		ae.stage_to = STAGE_PENDING;
		(void)snprintf(wait, sizeof(wait), "attempt %d failed (%s); "
		    "attempt %d of %d in %s", att->attempt,
		    amsg[0] ? amsg : sname, att->attempt + 1, pst->retries + 1,
		    bo);
		pass_wake_in(ps, d);
	} else {
		ae.stage_to = STAGE_FAILED;
		if (pst->retries > 0)
			(void)snprintf(smsg, sizeof(smsg), "failed after %d "
			    "attempts: %s", att->attempt, amsg[0] ? amsg : sname);
		else
			(void)snprintf(smsg, sizeof(smsg), "%s",
			    amsg[0] ? amsg : sname);
	}
	/* canary attempts of a stage that is already running leave it be */
	ae.stage_moves = job || st->status == STAGE_SUBMITTED;
	ae.stage_message = smsg[0] != '\0' ? smsg : NULL;
	ae.waiting_reason = wait[0] != '\0' ? wait : NULL;
	if ((rc = store_attempt_finish(pass_db(ps), &ae, &err)) < 0) {
		log_warn("cannot record attempt end", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		goto out;
	}
	pass_changed(ps);
	log_info("attempt finished", "run=%lld stage=%s job=%s status=%s "
	    "stage_status=%s message=\"%s\"", (long long)er->r->id, st->name,
	    att->job_name, sname, stage_status_name(ae.stage_moves ?
	    ae.stage_to : st->status), smsg[0] ? smsg : amsg);
	att->status = status;
	att->finished_ms = ps->snap.now_ms;
	if (att->started_ms == 0)
		att->started_ms = xs->started_at;
	if (er->amsg != NULL) {
		(void)str_copy(er->amsg[idx], sizeof(er->amsg[idx]), amsg);
		att->message = amsg[0] != '\0' ? er->amsg[idx] : NULL;
	}
	if (ae.stage_moves)
		st->status = ae.stage_to;
	if (smsg[0] != '\0')
		pass_note(er, idx, smsg);
	ps->active--;
	ps->gpus_used -= att->gpus;
	if (e->ex.ops->release(e->ex.impl, att->job_name, &err) < 0)
		log_debug("release failed", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
	eng_log_drop(e, att->id);
out:
	stage_output_release(&out);
}

/* Where a running attempt runs, as far as its executor knows yet. */
static void
record_facts(struct eng_pass *ps, const struct snap_attempt *att,
    const struct exec_status *xs)
{
	struct attempt_facts f = { xs->image_id, xs->node_name,
	    xs->gpu_product };
	struct err err;

	if ((xs->image_id[0] != '\0' || xs->node_name[0] != '\0') &&
	    store_attempt_facts(pass_db(ps), att->id, &f, &err) < 0)
		log_warn("cannot record where the attempt runs", "job=%s "
		    "error=\"%s\"", att->job_name, err.msg);
}

/*
 * Record what Kueue says of an attempt (queue, flavor, admission time,
 * evictions) when it differs from the snapshot; a failed write is retried
 * at the next poll.
 */
static void
note_kueue(struct eng_pass *ps, struct snap_attempt *att,
    const struct exec_status *xs)
{
	struct err err;

	if ((xs->queue[0] == '\0' || same(att->queue, xs->queue)) &&
	    (xs->flavor[0] == '\0' || same(att->flavor, xs->flavor)) &&
	    (xs->admitted_at == 0 || xs->admitted_at / 1000 ==
	    att->admitted_ms / 1000) && xs->evictions <= att->evictions)
		return;
	if (store_attempt_kueue(pass_db(ps), att->id, xs->queue, xs->flavor,
	    xs->admitted_at, xs->evictions, &err) < 0)
		log_warn("cannot record kueue admission", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
}

/*
 * Kueue evicted a running attempt (xs pending, evicted): back to
 * submitted with the reason, not a failure, so no retry is counted; the
 * same Job runs again when Kueue admits it.
 */
static void
requeue_evicted(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct exec_status *xs)
{
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	int job = att->kind == ATTEMPT_JOB;
	struct err err;

	/* a canary stage runs on: canary.c waits for its step again */
	if (store_attempt_evicted(pass_db(ps), att->id, er->r->id,
	    xs->waiting_reason, xs->evictions, job, ENGINE_ACTOR, &err) < 0) {
		log_warn("cannot record kueue eviction", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		return;
	}
	log_info("attempt evicted by kueue, waiting to be admitted again",
	    "run=%lld stage=%s job=%s evictions=%d", (long long)er->r->id,
	    st->name, att->job_name, xs->evictions);
	att->status = ATTEMPT_SUBMITTED;
	if (xs->evictions > att->evictions)
		att->evictions = xs->evictions;
	if (job && st->status == STAGE_RUNNING)
		st->status = STAGE_SUBMITTED;
	pass_changed(ps);
}

/*
 * Look at an active attempt: submit it if it never got to the executor
 * (or the executor lost it), record that it runs, read its log as it
 * grows, enforce the deadline, and finish it once it has ended.  In a
 * canceled run, jobs and canary steps are canceled instead (rollbacks
 * run to their end); so is the step of a rollout asked to abort.
 */
/*
 * The active attempt of stage st is to be stopped: its run is canceled
 * (rollbacks run to their end), or it is the step of a rollout asked to
 * abort.
 */
static int
attempt_canceling(const struct eng_run *er, const struct snap_stage *st)
{
	return (er->r->cancel && st->att.kind != ATTEMPT_ROLLBACK) ||
	    (canary_aborting(st) && st->att.kind == ATTEMPT_CANARY_STEP);
}

static void
poll_attempt(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	const struct pipeline_stage *pst = &er->p->stages[idx];
	int cancel = attempt_canceling(er, st);
	int64_t limit = pst->timeout_ms > 0 ?
	    pst->timeout_ms + e->o.timeout_margin_ms : 0;
	struct exec_status xs;
	struct err err;
	int rc;

	if (att->status == ATTEMPT_PENDING && !cancel) {
		if (!er->queued[idx])
			queue_submit(ps, er, idx, NULL);
		return;
	}
	if (cancel && (rc = e->ex.ops->cancel(e->ex.impl, att->job_name,
	    &err)) < 0)
		log_warn("cannot cancel attempt", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
	if ((rc = e->ex.ops->status(e->ex.impl, att->job_name, &xs,
	    &err)) < 0) {
		log_warn("cannot read attempt status", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		pass_wake_in(ps, e->o.poll_ms);
		return;
	}
	note_kueue(ps, att, &xs);
	switch (xs.state) {
	case EXEC_UNKNOWN:
		if (cancel) {
			synthetic(&xs, EXEC_CANCELED, "canceled before it started");
			finish_attempt(ps, er, idx, &xs, 0);
		} else if (!er->queued[idx]) {
			queue_submit(ps, er, idx, NULL);
		}
		return;
	case EXEC_PENDING:
		if (xs.evicted && att->status == ATTEMPT_RUNNING && !cancel) {
			requeue_evicted(ps, er, idx, &xs);
			pass_wake_active(ps);
			return;
		}
		if (xs.waiting_reason[0] != '\0' &&
		    !same(st->waiting_reason, xs.waiting_reason) &&
		    store_stage_waiting(pass_db(ps), st->id, xs.waiting_reason,
		    &err) < 0)
			log_warn("cannot record waiting reason", "job=%s "
			    "error=\"%s\"", att->job_name, err.msg);
		pass_wake_active(ps);
		return;
	case EXEC_RUNNING:
		if (att->status != ATTEMPT_RUNNING) {
			if (store_attempt_running(pass_db(ps), att->id, er->r->id,
			    xs.started_at, ENGINE_ACTOR, &err) == 0) {
				record_facts(ps, att, &xs);
				att->status = ATTEMPT_RUNNING;
				att->started_ms = xs.started_at;
				if (st->status == STAGE_SUBMITTED)
					st->status = STAGE_RUNNING;
				pass_changed(ps);
			} else {
				log_warn("cannot record attempt running",
				    "job=%s error=\"%s\"", att->job_name,
				    err.msg);
			}
		}
		eng_log_keep_running(ps, att);
		if (limit > 0 && xs.started_at > 0) {
			int64_t over = sys_wall_ms() - xs.started_at - limit;

			if (over >= 0 && !cancel) {
				log_warn("attempt past its deadline, canceling",
				    "job=%s timeout_ms=%lld", att->job_name,
				    (long long)pst->timeout_ms);
				(void)e->ex.ops->cancel(e->ex.impl,
				    att->job_name, &err);
			} else if (over < 0) {
				pass_wake_in(ps, -over);
			}
		}
		pass_wake_active(ps);
		return;
	default:
		finish_attempt(ps, er, idx, &xs, xs.state == EXEC_CANCELED &&
		    !cancel && limit > 0 && xs.started_at > 0 &&
		    (xs.finished_at ? xs.finished_at : sys_wall_ms()) -
		    xs.started_at >= limit);
		return;
	}
}

/* --- starting work ------------------------------------------------------ */

/* The stage cannot start at all (a reference without value, ...). */
static void
fail_start(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const char *why)
{
	struct snap_stage *st = er->sn[idx];
	char msg[1200];
	struct err err;

	(void)snprintf(msg, sizeof(msg), "cannot start: %s", why);
	if (store_stage_transition(pass_db(ps), st->id, er->r->id, st->status,
	    STAGE_FAILED, msg, NULL, ENGINE_ACTOR, &err) < 0) {
		log_warn("cannot record stage failure", "run=%lld stage=%s "
		    "error=\"%s\"", (long long)er->r->id, st->name, err.msg);
		return;
	}
	log_warn("stage cannot start", "run=%lld stage=%s error=\"%s\"",
	    (long long)er->r->id, st->name, why);
	st->status = STAGE_FAILED;
	pass_note(er, idx, msg);
	pass_changed(ps);
}

static void
fill_attempt(struct attempt_new *an, struct eng_pass *ps, struct eng_run *er,
    size_t idx, enum attempt_kind kind, int step, int attempt, int weight,
    const char *job, const char *spec)
{
	const struct pipeline_stage *pst = &er->p->stages[idx];

	memset(an, 0, sizeof(*an));
	an->stage_id = er->sn[idx]->id;
	an->run_id = er->r->id;
	an->kind = kind;
	an->step = step;
	an->attempt = attempt;
	an->weight = weight;
	an->executor = ps->e->executor_name;
	an->job_name = job;
	an->gpus = pst->resources.gpu * pst->nodes;
	an->gpu_resource = pst->resources.gpu_resource;
	an->spec = spec;
	an->actor = ENGINE_ACTOR;
}

/* A start being made: what start_prepare() built for its request. */
struct eng_start {
	struct eng_req		*rq;
	struct attempt_new	 an;
	struct attempt_spec	*spec;		/* owned */
	char			*json;		/* owned: the spec as JSON */
	char			*prod_uri;	/* owned: canary start */
	int64_t			 prev_id;	/* canary start */
};

static void
start_release(struct eng_start *sx)
{
	spec_free(sx->spec);
	free(sx->json);
	free(sx->prod_uri);
	memset(sx, 0, sizeof(*sx));
}

/*
 * Build what rq asks for: the attempt's number, step and weight, its spec
 * (substituted), name and row.  0, or < 0 when it cannot start (recorded
 * as the stage's failure, or a transient error to retry: logged).
 */
static int
start_prepare(struct eng_pass *ps, struct eng_req *rq, struct eng_start *sx)
{
	struct engine *e = ps->e;
	struct eng_run *er = rq->run;
	struct snap_stage *st = er->sn[rq->idx];
	const struct pipeline_stage *pst = &er->p->stages[rq->idx];
	struct err err;
	enum attempt_kind kind = ATTEMPT_CANARY_STEP;
	const char *prev_uri = st->ro.prev_uri;
	int attempt = 1, step = 0, weight = -1, rc;

	memset(sx, 0, sizeof(*sx));
	sx->rq = rq;
	switch (rq->kind) {
	case REQ_JOB:
		kind = ATTEMPT_JOB;
		if (st->att.id != 0 && st->att.kind == ATTEMPT_JOB)
			attempt = st->att.attempt + 1;
		break;
	case REQ_CANARY_START:
		step = 1;
		weight = pst->canary->steps[0].weight;
		if ((rc = store_model_production(pass_db(ps),
		    pst->canary->target, &sx->prev_id, &sx->prod_uri,
		    &err)) < 0)
			goto transient;
		prev_uri = sx->prod_uri;
		break;
	case REQ_CANARY_NEXT:
		step = rq->step > 0 ? rq->step : st->ro.step + 1;
		weight = rq->step > 0 ? rq->weight :
		    pst->canary->steps[step - 1].weight;
		break;
	case REQ_ROLLBACK:
		kind = ATTEMPT_ROLLBACK;
		step = st->ro.step;
		weight = 0;
		break;
	}
	sx->spec = xcalloc(1, sizeof(*sx->spec));
	attempt_spec_init(sx->spec);
	if ((rc = spec_build(ps, er, rq->idx, kind, attempt, step, weight,
	    prev_uri, sx->spec, &err)) < 0) {
		if (rc == ERR_TRANSIENT)
			goto transient;
		if (rq->kind == REQ_ROLLBACK || rq->kind == REQ_CANARY_NEXT) {
			char msg[1700];

			(void)snprintf(msg, sizeof(msg), "%s%s%s cannot start: "
			    "%s", rq->reason, rq->reason[0] ? "; " : "",
			    rq->kind == REQ_ROLLBACK ? "the rollback" :
			    "the next step", err.msg);
			enum stage_status to = er->r->cancel ?
			    STAGE_CANCELED : STAGE_FAILED;

			if (store_rollout_end(pass_db(ps), st->ro.id, er->r->id,
			    st->id, rq->from, ROLLOUT_FAILED, st->status, to,
			    msg, ENGINE_ACTOR, NULL, &err) == 0) {
				st->status = to;
				st->ro.status = ROLLOUT_FAILED;
				pass_note(er, rq->idx, msg);
				pass_changed(ps);
			}
		} else {
			fail_start(ps, er, rq->idx, err.msg);
		}
		return -1;
	}
	if (attempt_name(rq->job, sizeof(rq->job), er->r->id, st->name,
	    attempt, attempt_kind_name(kind), step < 1 ? 1 : step) < 0) {
		fail_start(ps, er, rq->idx, "no valid attempt name");
		return -1;
	}
	if ((rc = attempt_spec_to_json(sx->spec, &sx->json, &err)) < 0) {
		fail_start(ps, er, rq->idx, err.msg);
		return -1;
	}
	fill_attempt(&sx->an, ps, er, rq->idx, kind, kind ==
	    ATTEMPT_CANARY_STEP ? step : 0, attempt, weight, rq->job,
	    sx->json);
	return 0;
transient:
	log_warn("cannot start attempt, will retry", "run=%lld stage=%s "
	    "error=\"%s\"", (long long)er->r->id, st->name, err.msg);
	pass_wake_in(ps, e->o.poll_ms);
	return -1;
}

/*
 * The attempt of sx is written (att_id): make the snapshot say what it
 * would now say and queue the attempt for its submit (the spec goes with
 * it).
 */
static void
start_record(struct eng_pass *ps, struct eng_start *sx, int64_t att_id)
{
	struct eng_req *rq = sx->rq;
	struct eng_run *er = rq->run;
	struct snap_stage *st = er->sn[rq->idx];
	const struct attempt_new *an = &sx->an;

	pass_changed(ps);
	log_info("attempt created", "run=%lld stage=%s job=%s kind=%s",
	    (long long)er->r->id, st->name, rq->job,
	    attempt_kind_name(an->kind));
	if (rq->kind == REQ_JOB || rq->kind == REQ_CANARY_START)
		st->status = STAGE_SUBMITTED;
	else if (st->status == STAGE_WAITING_APPROVAL)
		st->status = STAGE_RUNNING;
	if (rq->kind == REQ_CANARY_START) {
		st->ro.status = ROLLOUT_PROGRESSING;
		st->ro.step = 1;
	} else if (rq->kind == REQ_CANARY_NEXT) {
		st->ro.status = ROLLOUT_PROGRESSING;
		st->ro.step = an->step;
	} else if (rq->kind == REQ_ROLLBACK) {
		st->ro.status = ROLLOUT_ROLLING_BACK;
	}
	memset(&st->att, 0, sizeof(st->att));
	st->att.id = att_id;
	st->att.kind = an->kind;
	st->att.step = an->step;
	st->att.attempt = an->attempt;
	st->att.weight = an->weight;
	st->att.gpus = an->gpus;
	st->att.status = ATTEMPT_PENDING;
	st->att.job_name = rq->job;
	ps->active++;
	ps->gpus_used += an->gpus;
	queue_submit(ps, er, rq->idx, sx->spec);
	sx->spec = NULL;
}

static void
start_failed(const struct eng_start *sx, const struct err *err)
{
	log_warn("cannot record attempt start", "run=%lld stage=%s job=%s "
	    "error=\"%s\"", (long long)sx->rq->run->r->id,
	    sx->rq->run->sn[sx->rq->idx]->name, sx->rq->job, err->msg);
}

/*
 * Start what rq asks for, a canary step or rollback: write the attempt
 * row with the rollout's transition (one statement), then queue its
 * submit.  Job attempts are written in batches (start_jobs).
 */
static void
start(struct eng_pass *ps, struct eng_req *rq)
{
	struct eng_start sx;
	struct snap_stage *st = rq->run->sn[rq->idx];
	const struct pipeline_stage *pst = &rq->run->p->stages[rq->idx];
	struct err err;
	int64_t att_id = 0;
	int rc = 0;

	if (start_prepare(ps, rq, &sx) < 0)
		goto out;
	switch (rq->kind) {
	case REQ_JOB:
		rc = store_attempt_create(pass_db(ps), &sx.an, &att_id, &err);
		break;
	case REQ_CANARY_START:
		rc = store_rollout_start(pass_db(ps), &sx.an,
		    pst->canary->target, (int)pst->canary->nsteps, sx.prev_id,
		    &att_id, &err);
		break;
	case REQ_CANARY_NEXT:
		rc = store_rollout_next(pass_db(ps), st->ro.id, rq->from,
		    st->ro.step, &sx.an, &att_id, &err);
		break;
	case REQ_ROLLBACK:
		rc = store_rollout_rollback(pass_db(ps), st->ro.id, rq->from,
		    rq->reason, &sx.an, &att_id, &err);
		break;
	}
	if (rc < 0)
		start_failed(&sx, &err);
	else
		start_record(ps, &sx, att_id);
out:
	start_release(&sx);
}

/*
 * Start the job attempts of the n requests rq: their rows and their
 * stages' transitions in one statement, then queue their submits.
 */
static void
start_jobs(struct eng_pass *ps, struct eng_req **rq, size_t n)
{
	struct eng_start *sx = xcalloc(n + 1, sizeof(*sx));
	struct attempt_new *an = xcalloc(n + 1, sizeof(*an));
	int64_t *ids = xcalloc(n + 1, sizeof(*ids));
	size_t *at = xcalloc(n + 1, sizeof(*at));
	size_t m = 0;
	struct err err;

	for (size_t i = 0; i < n; i++) {
		if (start_prepare(ps, rq[i], &sx[i]) < 0)
			continue;
		an[m] = sx[i].an;
		at[m++] = i;
	}
	if (m > 0 && store_attempts_create(pass_db(ps), an, m, ids,
	    &err) < 0) {
		for (size_t k = 0; k < m; k++)
			start_failed(&sx[at[k]], &err);
		pass_wake_in(ps, ps->e->o.poll_ms);
		m = 0;
	}
	for (size_t k = 0; k < m; k++) {
		if (ids[k] != 0) {
			start_record(ps, &sx[at[k]], ids[k]);
		} else {
			(void)err_set(&err, ERR_CONFLICT, "start attempt: the "
			    "state changed meanwhile");
			start_failed(&sx[at[k]], &err);
		}
	}
	for (size_t i = 0; i < n; i++)
		start_release(&sx[i]);
	free(sx);
	free(an);
	free(ids);
	free(at);
}

static int
req_cmp(const void *a, const void *b)
{
	const struct eng_req *x = a, *y = b;
	int xr = x->kind == REQ_ROLLBACK, yr = y->kind == REQ_ROLLBACK;

	if (xr != yr)
		return yr - xr;
	if (x->run->r->id != y->run->r->id)
		return x->run->r->id < y->run->r->id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
set_waiting(struct eng_pass *ps, struct snap_stage *st, const char *reason)
{
	struct err err;

	if (same(st->waiting_reason, reason))
		return;
	if (store_stage_waiting(pass_db(ps), st->id, reason, &err) < 0)
		log_warn("cannot record waiting reason", "stage=%lld "
		    "error=\"%s\"", (long long)st->id, err.msg);
}

/*
 * Start the requests of this pass in first-in-first-out order (the oldest
 * run first, then pipeline order), under max_parallel_stages and the GPU
 * cap.  Rollbacks go first and are never held back.  A stage that needs
 * GPUs and does not fit blocks every younger stage that needs GPUs, so a
 * large request is not starved by a stream of small ones; stages needing
 * no GPU pass it (docs/engine.md, "Fairness").
 */
static void
admit(struct eng_pass *ps)
{
	struct engine *e = ps->e;
	int slots = e->cfg->max_parallel_stages - ps->active;
	int cap = e->cfg->kubernetes.max_gpus;
	int gpu_free = cap - ps->gpus_used;
	const struct eng_req *blocker = NULL;
	struct eng_req **jobs = xcalloc(ps->nreqs + 1, sizeof(*jobs));
	size_t njobs = 0, nstarts = 0;

	if (ps->nreqs > 1)
		qsort(ps->reqs, ps->nreqs, sizeof(*ps->reqs), req_cmp);
	for (size_t i = 0; i < ps->nreqs; i++) {
		struct eng_req *rq = &ps->reqs[i];
		struct snap_stage *st = rq->run->sn[rq->idx];
		char why[300];

		why[0] = '\0';
		if (rq->kind == REQ_ROLLBACK) {
			start(ps, rq);
			slots--;
			gpu_free -= rq->gpus;
			continue;
		}
		if (e->cfg->max_nodes > 0 && rq->nodes > e->cfg->max_nodes) {
			(void)snprintf(why, sizeof(why), "needs %d nodes, more "
			    "than max_nodes (%d)", rq->nodes,
			    e->cfg->max_nodes);
			if (rq->kind == REQ_JOB)
				fail_start(ps, rq->run, rq->idx, why);
			continue;
		}
		if (cap > 0 && rq->gpus > cap) {
			(void)snprintf(why, sizeof(why), "needs %d GPUs, more "
			    "than kubernetes.max_gpus (%d)", rq->gpus, cap);
			if (rq->kind == REQ_JOB || rq->kind == REQ_CANARY_START)
				fail_start(ps, rq->run, rq->idx, why);
			continue;
		}
		if (slots <= 0) {
			(void)snprintf(why, sizeof(why), "waiting for a free "
			    "slot (max_parallel_stages %d)",
			    e->cfg->max_parallel_stages);
		} else if (cap > 0 && rq->gpus > 0 && blocker != NULL) {
			(void)snprintf(why, sizeof(why), "waiting for GPUs "
			    "behind stage '%s' of run %lld",
			    blocker->run->sn[blocker->idx]->name,
			    (long long)blocker->run->r->id);
		} else if (cap > 0 && rq->gpus > gpu_free) {
			(void)snprintf(why, sizeof(why), "waiting for %d GPUs "
			    "(%d of kubernetes.max_gpus %d in use)", rq->gpus,
			    cap - gpu_free, cap);
			blocker = rq;
		}
		if (why[0] != '\0') {
			ps->waiting++;
			set_waiting(ps, st, why);
			continue;
		}
		if (nstarts >= LIM_ENGINE_START_BATCH) {
			/* the next pass, at once, after a look at what ended */
			ps->waiting++;
			pass_wake_in(ps, 0);
			continue;
		}
		nstarts++;
		if (rq->kind == REQ_JOB)
			jobs[njobs++] = rq;
		else
			start(ps, rq);
		slots--;
		gpu_free -= rq->gpus;
	}
	start_jobs(ps, jobs, njobs);
	free(jobs);
}

/* --- runs and stages -------------------------------------------------- */

/* A pending stage: skip it, wait, or ask to start it. */
static void
pending_stage(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	const struct pipeline_stage *pst = &er->p->stages[idx];
	struct snap_stage *st = er->sn[idx];
	struct err err;

	for (size_t j = 0; j < pst->needs.n; j++) {
		const struct snap_stage *d = er->sn[pst->need_index[j]];
		char msg[300];

		if (d->status == STAGE_SUCCEEDED)
			continue;
		if (!stage_status_final(d->status))
			return;
		(void)snprintf(msg, sizeof(msg), "skipped: needs '%s', which "
		    "%s", d->name, d->status == STAGE_FAILED ? "failed" :
		    d->status == STAGE_SKIPPED ? "was skipped" :
		    "was canceled");
		if (store_stage_transition(pass_db(ps), st->id, er->r->id,
		    STAGE_PENDING, STAGE_SKIPPED, msg, NULL, ENGINE_ACTOR,
		    &err) < 0) {
			log_warn("cannot skip stage", "run=%lld stage=%s "
			    "error=\"%s\"", (long long)er->r->id, st->name,
			    err.msg);
			return;
		}
		st->status = STAGE_SKIPPED;
		pass_changed(ps);
		return;
	}
	if (st->att.id != 0 && st->att.kind == ATTEMPT_JOB &&
	    !pass_attempt_active(&st->att)) {
		int64_t due = st->att.finished_ms +
		    backoff_ms(ps->e, st->att.attempt);

		if (ps->snap.now_ms < due) {
			pass_wake_in(ps, due - ps->snap.now_ms);
			return;
		}
	}
	if (pst->type == PIPELINE_STAGE_CANARY && !canary_may_start(ps, er, idx))
		return;
	pass_request(ps, er, idx, pst->type == PIPELINE_STAGE_CANARY ?
	    REQ_CANARY_START : REQ_JOB, ROLLOUT_PROGRESSING, NULL);
}

static void
drive_stage(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	struct snap_stage *st = er->sn[idx];

	if (stage_status_final(st->status))
		return;
	if (st->status == STAGE_PENDING) {
		if (!er->r->cancel)
			pending_stage(ps, er, idx);
		return;
	}
	if (pass_attempt_active(&st->att))
		poll_attempt(ps, er, idx);
	if (er->p->stages[idx].canary != NULL &&
	    !stage_status_final(st->status) &&
	    !pass_attempt_active(&st->att))
		canary_advance(ps, er, idx);
}

static void
drive_run(struct eng_pass *ps, struct eng_run *er)
{
	struct err err;

	if (er->r->cancel) {
		int pending = 0;

		for (size_t i = 0; i < er->p->nstages; i++)
			pending |= er->sn[i]->status == STAGE_PENDING;
		if (pending) {
			if (store_stage_cancel_pending(pass_db(ps), er->r->id,
			    ENGINE_ACTOR, &err) < 0) {
				log_warn("cannot cancel pending stages",
				    "run=%lld error=\"%s\"",
				    (long long)er->r->id, err.msg);
				return;
			}
			for (size_t i = 0; i < er->p->nstages; i++) {
				if (er->sn[i]->status == STAGE_PENDING) {
					er->sn[i]->status = STAGE_CANCELED;
					pass_note(er, i, "run canceled");
				}
			}
			pass_changed(ps);
		}
	}
	for (size_t k = 0; k < er->p->nstages; k++)
		drive_stage(ps, er, er->p->order[k]);
}

/* After the starts: end the run, or keep its status true. */
static void
sync_run(struct eng_pass *ps, struct eng_run *er)
{
	struct snap_run *r = er->r;
	enum run_status to;
	char msg[1400];
	int all = 1, bad = 0, canceled = 0, waiting = 0, busy = 0;
	struct err err;

	msg[0] = '\0';
	for (size_t k = 0; k < er->p->nstages; k++) {
		size_t i = er->p->order[k];
		enum stage_status s = er->sn[i]->status;

		all &= stage_status_final(s);
		canceled |= s == STAGE_CANCELED;
		waiting |= s == STAGE_WAITING_APPROVAL;
		busy |= s == STAGE_SUBMITTED || s == STAGE_RUNNING;
		if (s == STAGE_FAILED && !bad) {
			const char *m = stage_message(er, i);

			bad = 1;
			(void)snprintf(msg, sizeof(msg), "stage '%s' failed%s%s",
			    er->sn[i]->name, m ? ": " : "", m ? m : "");
		} else if (s == STAGE_SKIPPED || s == STAGE_CANCELED) {
			bad = 1;
		}
	}
	if (all) {
		if (r->cancel && canceled) {
			to = RUN_CANCELED;
			(void)snprintf(msg, sizeof(msg), "canceled by %s",
			    cancel_actor(r));
		} else {
			to = bad ? RUN_FAILED : RUN_SUCCEEDED;
			if (!bad)
				msg[0] = '\0';
		}
	} else {
		to = waiting && !busy ? RUN_WAITING_APPROVAL : RUN_RUNNING;
	}
	if (to == r->status)
		return;
	if (store_run_transition(pass_db(ps), r->id, r->status, to,
	    msg[0] ? msg : NULL, ENGINE_ACTOR, &err) < 0) {
		log_warn("cannot record run transition", "run=%lld to=%s "
		    "error=\"%s\"", (long long)r->id, run_status_name(to),
		    err.msg);
		return;
	}
	log_info("run transition", "run=%lld pipeline=%s from=%s to=%s "
	    "message=\"%s\"", (long long)r->id, r->pipeline,
	    run_status_name(r->status), run_status_name(to), msg);
	r->status = to;
	pass_changed(ps);
	if (run_status_final(to))
		eng_checkout_remove(ps->e, r->id);
}

/* Match the snapshot's stages to the pipeline's; 0 or -1 with why. */
static int
map_run(struct engine *e, struct eng_run *er, char *why, size_t whylen)
{
	struct err err;
	int rc;

	if ((rc = pipe_get(e, er->r->version_id, &er->p, &err)) < 0) {
		(void)snprintf(why, whylen, "cannot read pipeline version %lld: "
		    "%s", (long long)er->r->version_id, err.msg);
		return rc == ERR_TRANSIENT ? ERR_TRANSIENT : -1;
	}
	er->sn = xcalloc(er->p->nstages + 1, sizeof(*er->sn));
	er->msg = xcalloc(er->p->nstages + 1, sizeof(*er->msg));
	er->amsg = xcalloc(er->p->nstages + 1, sizeof(*er->amsg));
	er->queued = xcalloc(er->p->nstages + 1, sizeof(*er->queued));
	for (size_t i = 0; i < er->r->nstages; i++) {
		long j = pipeline_stage_index(er->p, er->r->stages[i].name);

		if (j < 0) {
			(void)snprintf(why, whylen, "stage '%s' is not in "
			    "pipeline version %lld", er->r->stages[i].name,
			    (long long)er->r->version_id);
			return -1;
		}
		er->sn[j] = &er->r->stages[i];
	}
	for (size_t i = 0; i < er->p->nstages; i++) {
		if (er->sn[i] == NULL) {
			(void)snprintf(why, whylen, "the run has no stage '%s'",
			    er->p->stages[i].name);
			return -1;
		}
	}
	return 0;
}

static void
pass_release(struct eng_pass *ps)
{
	for (size_t i = 0; i < ps->nruns; i++) {
		free(ps->runs[i].sn);
		free(ps->runs[i].msg);
		free(ps->runs[i].amsg);
		free(ps->runs[i].queued);
	}
	free(ps->runs);
	free(ps->reqs);
	for (size_t i = 0; i < ps->nsubs; i++)
		spec_free(ps->subs[i].spec);
	free(ps->subs);
	store_snapshot_release(&ps->snap);
}

int
engine_pass(struct engine *e, struct err *err)
{
	struct eng_pass ps;
	int started = 0, rc;

	memset(&ps, 0, sizeof(ps));
	ps.e = e;
	ps.cfg = e->cfg;
	ps.db = e->db;
	ps.st = &e->st;
	ps.workroot = e->workroot;
	ps.wake_in = e->o.sweep_ms;
	if (e->admit_budget > 0) {
		if ((rc = store_run_admit(pass_db(&ps), e->admit_budget,
		    ENGINE_ACTOR, &started, err)) < 0)
			return rc;
		if (started > 0) {
			log_info("runs started", "count=%d", started);
			e->changed = 1;
		}
	}
	if ((rc = store_snapshot_load(pass_db(&ps), &ps.snap, err)) < 0)
		return rc;
	ps.runs = xcalloc(ps.snap.nruns + 1, sizeof(*ps.runs));
	ps.nruns = ps.snap.nruns;
	for (size_t i = 0; i < ps.nruns; i++) {
		struct eng_run *er = &ps.runs[i];
		char why[1200];

		er->r = &ps.snap.runs[i];
		if ((rc = map_run(e, er, why, sizeof(why))) == ERR_TRANSIENT) {
			rc = err_set(err, ERR_TRANSIENT, "%s", why);
			goto out;
		}
		if (rc < 0) {
			er->bad = 1;
			log_error("run cannot be driven", "run=%lld error=\"%s\"",
			    (long long)er->r->id, why);
			if (store_run_transition(engine_db(e), er->r->id,
			    er->r->status, RUN_FAILED, why, ENGINE_ACTOR,
			    err) == 0)
				e->changed = 1;
			continue;
		}
		for (size_t j = 0; j < er->p->nstages; j++) {
			if (pass_attempt_active(&er->sn[j]->att)) {
				ps.active++;
				ps.gpus_used += er->sn[j]->att.gpus;
			}
		}
	}
	/*
	 * First what was written but not submitted (a crash between the two,
	 * or the last pass's slice ran out): the oldest requests, and the
	 * first thing a restarted engine gets done.
	 */
	for (size_t i = 0; i < ps.nruns; i++) {
		struct eng_run *er = &ps.runs[i];

		for (size_t j = 0; !er->bad && j < er->p->nstages; j++)
			if (er->sn[j]->att.id != 0 &&
			    er->sn[j]->att.status == ATTEMPT_PENDING &&
			    !attempt_canceling(er, er->sn[j]))
				queue_submit(&ps, er, j, NULL);
	}
	submit_all(&ps);
	for (size_t i = 0; i < ps.nruns; i++)
		if (!ps.runs[i].bad)
			drive_run(&ps, &ps.runs[i]);
	admit(&ps);
	submit_all(&ps);
	for (size_t i = 0; i < ps.nruns; i++)
		if (!ps.runs[i].bad)
			sync_run(&ps, &ps.runs[i]);
	e->admit_budget = e->cfg->max_parallel_stages - ps.active - ps.waiting;
	rc = 0;
out:
	if (ps.changed)
		e->changed = 1;
	e->next_ms = ps.wake_in;
	eng_log_gc(e);
	pass_release(&ps);
	return rc;
}

/* --- start-up cleanup ----------------------------------------------------- */

/*
 * What a predecessor killed between a write and its side effect may have
 * left: attempts recorded as finished but not released, and checkouts of
 * runs that ended.  Both effects are idempotent, so doing them again is
 * safe.
 */
void
engine_cleanup(struct engine *e)
{
	char **names = NULL;
	int64_t *ids = NULL, *done = NULL;
	size_t n = 0, nids = 0, idcap = 0, ndone = 0;
	struct err err;
	DIR *d;
	struct dirent *de;

	if (store_attempts_recently_finished(engine_db(e), RELEASE_LOOKBACK_MS,
	    &names, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			(void)e->ex.ops->release(e->ex.impl, names[i], &err);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (e->cfg->executor != EXECUTOR_LOCAL ||
	    (d = opendir(e->workroot)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end, path[LIM_PATH];
		long long id = strtoll(de->d_name, &end, 10);

		if (de->d_name[0] == '.')
			continue;
		if (strcmp(end, ".tmp") == 0) {
			/* an export a crash cut short */
			if (snprintf(path, sizeof(path), "%s/%s", e->workroot,
			    de->d_name) < (int)sizeof(path))
				eng_work_dir_remove(path);
			continue;
		}
		if (*end != '\0' || id <= 0)
			continue;
		if (sys_grow((void **)&ids, nids, &idcap, sizeof(*ids), 0) < 0)
			abort();
		ids[nids++] = id;
	}
	closedir(d);
	if (store_runs_finished(engine_db(e), ids, nids, &done, &ndone,
	    &err) == 0) {
		for (size_t i = 0; i < ndone; i++)
			eng_checkout_remove(e, done[i]);
	}
	free(ids);
	free(done);
}
