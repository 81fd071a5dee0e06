/*
 * loop.c - the engine's loop and lifecycle (engine.h): the thread that
 * runs a pass when woken or due, the listener that wakes it, the
 * advisory lock, and making and freeing an engine.  What a pass does is
 * engine.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/schedule.h"
#include "engine/traffic.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/store_traffic.h"

#define DEFAULT_POLL_MS		1000
#define DEFAULT_SWEEP_MS	30000
#define DEFAULT_ACTIVE_SWEEP_MS	5000
#define DEFAULT_BACKOFF_MS	2000
#define DEFAULT_BACKOFF_MAX_MS	300000
#define DEFAULT_MARGIN_MS	30000

/*
 * A standby waits for the engine lock in PostgreSQL this long at a time
 * (then checks whether it is being stopped, and waits again): it holds
 * the lock the moment the server ends the active engine's session.
 */
#define STANDBY_WAIT_MS		500
/* A standby whose wait failed (the database is away) tries again so. */
#define STANDBY_RETRY_MS	1000

/*
 * The active engine's session asks the server for TCP keepalives (idle,
 * interval, count, in seconds): if its host vanishes without closing the
 * connection, the server ends the session, and the lock with it, within
 * about 10 + 5 * 3 = 25 s, and a standby takes over.  (A killed process's
 * socket is closed by its kernel, which the server sees at once.)
 */
#define LOCK_KEEPALIVE_IDLE_S		10
#define LOCK_KEEPALIVE_INTERVAL_S	5
#define LOCK_KEEPALIVE_COUNT		3

/* --- the lock ---------------------------------------------------------- */

/* The engine lock is ours now. */
static void
became_active(struct engine *e)
{
	struct err err;

	e->locked = 1;
	log_info("engine active", "executor=%s", e->ex.ops->name);
	if (db_server_keepalives(e->db, LOCK_KEEPALIVE_IDLE_S,
	    LOCK_KEEPALIVE_INTERVAL_S, LOCK_KEEPALIVE_COUNT, &err) < 0)
		log_warn("engine lock: cannot set the session's keepalives",
		    "error=\"%s\"", err.msg);
}

/*
 * Standby: wait for the engine lock in the server, up to STANDBY_WAIT_MS;
 * the delay before the loop's next tick (0 once the lock is ours).
 */
static int64_t
wait_for_lock(struct engine *e)
{
	struct err err;
	int got = 0;

	if (db_advisory_lock_wait(e->db, DB_LOCK_ENGINE, STANDBY_WAIT_MS, &got,
	    &err) < 0) {
		log_debug("engine standby: waiting for the lock failed",
		    "error=\"%s\"", err.msg);
		return STANDBY_RETRY_MS;
	}
	if (got)
		became_active(e);
	return 0;
}

/* --- the loop ---------------------------------------------------------- */

/*
 * Whether this pass looks at the traffic of production changes made by
 * hand (traffic_follow), which costs statements: always without a
 * listener (engine_tick() driven alone cannot hear the API); with one,
 * when a `NOTIFY sluice_runs, 'traffic'` was heard (the API records a
 * change with it), when a row looked at is due again, or at the safety
 * sweep (sweep_ms after the last look).  Nothing to do costs nothing.
 */
static int
traffic_due(struct engine *e)
{
	int look;

	pthread_mutex_lock(&e->mu);
	look = !e->listening || e->traffic_heard;
	e->traffic_heard = 0;
	pthread_mutex_unlock(&e->mu);
	return look || sys_now_ms() >= e->traffic_due_ms;
}

/* Whether this engine works (holds the lock), for other threads. */
static void
set_active(struct engine *e, int active)
{
	pthread_mutex_lock(&e->mu);
	e->active = active;
	pthread_mutex_unlock(&e->mu);
}

int
engine_active(struct engine *e)
{
	int a;

	pthread_mutex_lock(&e->mu);
	a = e->active;
	pthread_mutex_unlock(&e->mu);
	return a;
}

int
engine_tick(struct engine *e, struct err *err)
{
	int64_t t0 = e->o.on_pass != NULL ? sys_now_us() : 0;
	int rc, got = 0;

	e->pass++;
	e->changed = 0;
	e->next_ms = e->o.sweep_ms;
	if (!e->o.no_lock && !e->locked) {
		if ((rc = db_advisory_try_lock(e->db, DB_LOCK_ENGINE, &got,
		    err)) < 0)
			return rc;
		if (!got)
			return err_set(err, ERR_CONFLICT, "another controller's "
			    "engine holds the engine lock");
		became_active(e);
	}
	if (!e->active)
		set_active(e, 1);
	if (!e->cleaned) {
		engine_cleanup(e);
		e->cleaned = 1;
	}
	rc = engine_pass(e, err);
	if (rc == 0)
		rc = engine_schedule(e, err);
	if (rc == 0 && traffic_due(e) && (rc = traffic_follow(e, err)) < 0)
		e->traffic_due_ms = 0;	/* looked at again next pass */
	e->st.passes++;
	if (e->o.on_pass != NULL)
		e->o.on_pass(e->o.on_pass_arg, sys_now_us() - t0);
	if (rc == ERR_TRANSIENT && e->locked) {
		struct err ignored;

		/* the lock may have gone with the connection: take it again */
		if (db_advisory_unlock(e->db, DB_LOCK_ENGINE, &ignored) < 0)
			log_debug("engine lock released with its connection",
			    "error=\"%s\"", ignored.msg);
		e->locked = 0;
		set_active(e, 0);
		e->traffic_due_ms = 0;
	}
	return rc;
}

static void
wait_for(struct engine *e, int64_t ms)
{
	struct timespec ts;

	pthread_mutex_lock(&e->mu);
	if (!e->wake && !e->stop && ms > 0) {
		ts = sys_deadline_in(ms);
		while (!e->wake && !e->stop &&
		    pthread_cond_timedwait(&e->cv, &e->mu, &ts) == 0)
			;
	}
	e->wake = 0;
	pthread_mutex_unlock(&e->mu);
}

static int
stopping(struct engine *e)
{
	int s;

	pthread_mutex_lock(&e->mu);
	s = e->stop;
	pthread_mutex_unlock(&e->mu);
	return s;
}

/*
 * A notification was heard (traffic: it may concern the traffic of a
 * production change, or notifications may have been missed): wake the
 * loop.
 */
static void
heard(struct engine *e, int traffic)
{
	pthread_mutex_lock(&e->mu);
	e->listening = 1;
	if (traffic)
		e->traffic_heard = 1;
	e->wake = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* The listener: LISTEN sluice_runs and sluice_approvals, wake the loop. */
static void *
listen_main(void *arg)
{
	struct engine *e = arg;
	char ch[64], payload[256];
	struct err err;
	int listening = 0;

	while (!stopping(e)) {
		int rc;

		if (!listening) {
			if (db_listen(e->ldb, "sluice_runs", &err) < 0 ||
			    db_listen(e->ldb, "sluice_approvals", &err) < 0) {
				wait_for(e, 1000);
				continue;
			}
			listening = 1;
			heard(e, 1);
		}
		rc = db_wait_notify(e->ldb, 250, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
		if (rc > 0) {
			/* an empty channel: the connection was replaced */
			heard(e, ch[0] == '\0' || strcmp(payload,
			    STORE_TRAFFIC_NOTIFY) == 0);
		} else if (rc < 0) {
			struct timespec ts = { 0, 500 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int
engine_run(struct engine *e)
{
	pthread_t lt;
	int64_t backoff = 250;
	int have_listener, standby = 0;

	have_listener = pthread_create(&lt, NULL, listen_main, e) == 0;
	if (!have_listener)
		log_warn("no notification listener, polling", "sweep_ms=%lld",
		    (long long)e->o.poll_ms);
	while (!stopping(e)) {
		struct err err;
		int64_t delay;
		int rc = engine_tick(e, &err);

		if (rc == ERR_CONFLICT) {
			if (!standby)
				log_info("engine standby", "reason=\"%s\"",
				    err.msg);
			standby = 1;
			delay = wait_for_lock(e);
		} else if (rc < 0) {
			log_warn("engine pass failed, retrying", "error=\"%s\" "
			    "retry_ms=%lld", err.msg, (long long)backoff);
			delay = backoff;
			if (backoff < 5000)
				backoff *= 2;
		} else {
			standby = 0;
			backoff = 250;
			delay = e->changed ? 0 : e->next_ms;
			if (!have_listener && delay > e->o.poll_ms)
				delay = e->o.poll_ms;
		}
		wait_for(e, delay);
	}
	if (have_listener)
		pthread_join(lt, NULL);
	return 0;
}

static void *
run_main(void *arg)
{
	(void)engine_run(arg);
	return NULL;
}

int
engine_start(struct engine *e, struct err *err)
{
	int rc;

	if (e->started)
		return 0;
	if ((rc = pthread_create(&e->thread, NULL, run_main, e)) != 0)
		return err_set(err, ERR_GENERIC, "cannot start the engine "
		    "thread: %s", strerror(rc));
	e->started = 1;
	return 0;
}

void
engine_stop(struct engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (e->started) {
		pthread_join(e->thread, NULL);
		e->started = 0;
	}
}

void
engine_wake(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->wake = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* The executor's wake (set_wake): an attempt changed. */
static void
executor_woke(void *arg)
{
	engine_wake(arg);
}

void
engine_stats(struct engine *e, struct engine_stats *out)
{
	pthread_mutex_lock(&e->mu);
	*out = e->st;
	pthread_mutex_unlock(&e->mu);
}

void
engine_set_opts(struct engine *e, const struct engine_opts *o)
{
	if (o->poll_ms > 0)
		e->o.poll_ms = o->poll_ms;
	if (o->sweep_ms > 0)
		e->o.sweep_ms = o->sweep_ms;
	if (o->active_sweep_ms > 0)
		e->o.active_sweep_ms = o->active_sweep_ms;
	if (o->backoff_ms > 0)
		e->o.backoff_ms = o->backoff_ms;
	if (o->backoff_max_ms > 0)
		e->o.backoff_max_ms = o->backoff_max_ms;
	if (o->timeout_margin_ms > 0)
		e->o.timeout_margin_ms = o->timeout_margin_ms;
	e->o.no_lock = o->no_lock;
	e->o.on_pass = o->on_pass;
	e->o.on_pass_arg = o->on_pass_arg;
	if (o->log_max_bytes > 0)
		e->o.log_max_bytes = o->log_max_bytes;
}

int
engine_new(struct engine **out, const struct cfg *cfg, struct executor ex,
    struct err *err)
{
	struct engine *e;
	char cwd[LIM_PATH];
	int rc, n;

	*out = NULL;
	e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	e->ex = ex;
	e->executor_name = cfg->executor == EXECUTOR_KUBERNETES ?
	    "kubernetes" : "local";
	e->o.poll_ms = DEFAULT_POLL_MS;
	e->o.sweep_ms = DEFAULT_SWEEP_MS;
	e->o.active_sweep_ms = DEFAULT_ACTIVE_SWEEP_MS;
	e->o.backoff_ms = DEFAULT_BACKOFF_MS;
	e->o.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	e->o.timeout_margin_ms = DEFAULT_MARGIN_MS;
	e->admit_budget = cfg->max_parallel_stages;
	pthread_mutex_init(&e->mu, NULL);
	sys_cond_init_monotonic(&e->cv);
	if (cfg->state_dir[0] == '/')
		n = snprintf(e->workroot, sizeof(e->workroot), "%s/work",
		    cfg->state_dir);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(e->workroot, sizeof(e->workroot), "%s/%s/work",
		    cwd, cfg->state_dir);
	else
		n = -1;
	if (n < 0 || n >= (int)sizeof(e->workroot)) {
		rc = err_set(err, ERR_INVALID, "state_dir path too long");
		goto fail;
	}
	if ((rc = db_open(&e->db, cfg->database_url, err)) < 0 ||
	    (rc = db_open(&e->ldb, cfg->database_url, err)) < 0)
		goto fail;
	if (ex.ops->set_wake != NULL)
		e->pushes = ex.ops->set_wake(ex.impl, executor_woke, e) == 1;
	log_debug("engine executor", "executor=%s pushes=%d", ex.ops->name,
	    e->pushes);
	*out = e;
	return 0;
fail:
	engine_free(e);
	return rc;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	/* first: the executor outlives the engine and must not call it */
	if (e->ex.ops != NULL && e->ex.ops->set_wake != NULL)
		(void)e->ex.ops->set_wake(e->ex.impl, NULL, NULL);
	engine_stop(e);
	for (size_t i = 0; i < e->npipes; i++)
		pipeline_free(e->pipes[i].p);
	free(e->pipes);
	for (size_t i = 0; i < e->ntails; i++)
		buf_release(&e->tails[i].rest);
	free(e->tails);
	db_free(e->ldb);
	db_free(e->db);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
