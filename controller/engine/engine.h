/*
 * engine.h - the run engine: one reconcile loop that drives every run
 * through the stage protocol and the run lifecycle with an executor (docs/engine.md).
 *
 * All run, stage, attempt, rollout and approval state lives in
 * PostgreSQL.  Each pass of the loop loads the active runs, decides, and
 * for every decision writes the transition (with its event) *before* the
 * side effect it leads to; every side effect is idempotent (attempts have
 * deterministic names, see attempt_name.h).  So the controller may be
 * killed at any instant: the next engine continues every run exactly
 * once.
 *
 * Wake-ups: LISTEN sluice_runs (a run was queued, canceled or retried, by
 * this process or another) and sluice_approvals (an approval was decided),
 * engine_wake() from any thread, the next deadline the engine knows of
 * (a retry's backoff, an analysis window, an approval's expiry, a
 * timeout), the executor's own wake (set_wake in exec/executor.h: an
 * attempt started or ended), and a slow sweep as a safety net: every
 * active_sweep_ms while attempts are active, sweep_ms otherwise.  With an
 * executor that cannot push, active attempts are polled every poll_ms.
 *
 * Only one engine works on a database at a time: each pass holds a
 * PostgreSQL advisory lock (DB_LOCK_ENGINE) on the engine's connection; a
 * second controller's engine waits as a standby, for the lock inside
 * PostgreSQL (engine_run), so it takes over as soon as the server has
 * ended the first one's session.
 *
 * Threads: engine_start() runs the loop on a thread of its own (plus one
 * that waits for notifications); engine_tick() runs one pass in the
 * caller's thread (tests, benchmarks) and must not be mixed with a
 * started loop.  engine_wake() is safe from any thread.
 */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include <stdint.h>

#include "base/err.h"
#include "exec/executor.h"

struct cfg;
struct engine;

/* Timing knobs; 0 in a field keeps its default.  For tests. */
struct engine_opts {
	int64_t		 poll_ms;		/* 1000: status poll while busy
						   (an executor without push),
						   retry after an error */
	int64_t		 sweep_ms;		/* 30000: safety-net pass */
	int64_t		 active_sweep_ms;	/* 5000: safety-net pass while
						   attempts are active and
						   the executor pushes */
	int64_t		 backoff_ms;		/* 2000: first retry delay,
						   doubling per attempt */
	int64_t		 backoff_max_ms;	/* 300000 */
	int64_t		 timeout_margin_ms;	/* 30000: past a stage timeout,
						   the engine cancels it */
	int		 no_lock;		/* 1: skip the advisory lock */
	int64_t		 log_max_bytes;		/* cfg's logs.max_bytes: bytes
						   of each attempt's log kept */
	/*
	 * Called on the engine's thread after every pass with how long it
	 * took (microseconds), or NULL (benchmarks).
	 */
	void		(*on_pass)(void *arg, int64_t pass_us);
	void		*on_pass_arg;
};

/* Counters since engine_new(), for benchmarks and /metrics. */
struct engine_stats {
	int64_t		 passes;
	int64_t		 statements;	/* database round trips */
	int64_t		 submits;	/* executor submit calls */
	int64_t		 transitions;	/* writes that changed state */
};

/*
 * Make an engine for cfg (borrowed; must outlive the engine) driving the
 * executor ex (borrowed too: the caller frees it after engine_free, so a
 * test can "restart the controller" on the same fake).  The engine opens
 * its own database connections from cfg->database_url.  Errors:
 * ERR_TRANSIENT when the database cannot be reached.
 */
int	engine_new(struct engine **out, const struct cfg *cfg,
	    struct executor ex, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The Kubernetes client (borrowed; must outlive the engine) and namespace
 * with which the engine moves canary traffic (providers kserve and
 * gateway, engine/traffic.c); without one such a step fails with a clear
 * message.  Call before engine_start.
 */
struct kube_api;
void	engine_set_kube(struct engine *e, struct kube_api *k, const char *ns);

/* Change the timing knobs (before engine_start). */
void	engine_set_opts(struct engine *e, const struct engine_opts *o);

/* Stop the loop if it runs, close the connections, free.  NULL is ok. */
void	engine_free(struct engine *e);

/*
 * One full reconcile pass in the calling thread: admit queued runs, load
 * the active ones, poll their attempts, advance every run, stage and
 * rollout, start what may start.  Returns 0, or the database error that
 * cut the pass short (ERR_TRANSIENT: try again); executor errors are
 * logged and retried at the next pass.  ERR_CONFLICT when another engine
 * holds the lock.
 */
int	engine_tick(struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run the loop in the calling thread until engine_stop().  Database
 * outages are waited out.  Returns 0.
 */
int	engine_run(struct engine *e);

/* engine_run() on a new thread.  Errors: ERR_GENERIC (thread). */
int	engine_start(struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));

/* Ask the loop to stop and wait for it (at most one pass).  Idempotent. */
void	engine_stop(struct engine *e);

/* Make the loop run a pass now.  Any thread. */
void	engine_wake(struct engine *e);

/*
 * Whether this engine is the one working on the database: it held the
 * engine lock (DB_LOCK_ENGINE) at its last pass and has not lost it since
 * (always, after a first pass, with no_lock).  0 for a standby and before
 * the first pass.  Any thread.
 */
int	engine_active(struct engine *e);

/* A copy of the counters (exact when the loop is stopped or between ticks). */
void	engine_stats(struct engine *e, struct engine_stats *out);

/* Advisory lock key of the engine (db.h lists the others). */
#define DB_LOCK_ENGINE		INT64_C(0x736c756963650045)	/* "sluice\0E" */

#endif
