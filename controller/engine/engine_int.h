/*
 * engine_int.h - the engine's state, shared by loop.c (the thread, the
 * lock, the lifecycle) and engine.c (what one pass does).  The calls go
 * one way: loop.c -> engine.c -> canary.c, spec_build.c -> pass.c.  Not
 * for other modules.
 */
#ifndef SLUICE_ENGINE_INT_H
#define SLUICE_ENGINE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/engine.h"
#include "exec/executor.h"
#include "pipeline/stage_output.h"
#include "store/store_log.h"

struct cfg;
struct db;
struct pipeline;

#define DEFAULT_LOG_MAX_BYTES	(16 * 1024 * 1024)	/* logs.max_bytes */

/* A parsed pipeline version, cached by id. */
struct eng_pipe {
	int64_t		 version_id;
	struct pipeline	*p;
	uint64_t	 used;		/* pass number of the last use */
};

/*
 * Where the engine is in the log of an attempt's node: the head as stored
 * (store_log.h), and what was read past it but not stored yet (the
 * partial last line), up to read_pos of the source.
 */
struct eng_tail {
	int64_t			 attempt_id;
	int			 node;
	int			 loaded;	/* head read from the database */
	int			 fresh;		/* new: never loaded */
	struct log_head		 head;
	struct buf		 rest;		/* source bytes [head.offset,
						   read_pos) not stored yet */
	int64_t			 read_pos;
	uint64_t		 seen;	/* pass number */
};

struct engine {
	const struct cfg	*cfg;
	struct executor		 ex;
	const char		*executor_name;	/* for stage_attempts.executor */
	struct db		*db;		/* the loop's connection */
	struct db		*ldb;		/* the listener's */
	struct engine_opts	 o;
	struct engine_stats	 st;
	pthread_mutex_t		 mu;		/* wake, stop, st */
	pthread_cond_t		 cv;
	int			 wake;
	int			 stop;
	int			 listening;	/* under mu: the listener's
						   LISTENs are in place */
	int			 traffic_heard;	/* under mu: a NOTIFY said a
						   production change's traffic
						   was recorded */
	int			 started;	/* threads running */
	pthread_t		 thread;
	pthread_t		 lthread;
	int			 locked;	/* holds DB_LOCK_ENGINE */
	int			 active;	/* locked (or no_lock) as of the
						   last pass, under mu, for
						   engine_active() */
	int			 pushes;	/* the executor calls
						   engine_wake (set_wake) */
	int			 cleaned;	/* start-up cleanup done */
	struct eng_pipe		*pipes;
	size_t			 npipes, pipes_cap;
	struct eng_tail		*tails;
	size_t			 ntails, tails_cap;
	uint64_t		 pass;		/* passes so far */
	int			 admit_budget;	/* runs the next pass may start */
	int			 changed;	/* the last pass wrote something */
	int64_t			 next_ms;	/* when the next pass is due,
						   relative to its end */
	char			 workroot[4096]; /* absolute state_dir/work */
	int64_t			 sched_due_ms;	/* schedule.c: wall clock of
						   its next pass */
	int64_t			 traffic_due_ms; /* traffic.c: monotonic ms
						   of its next look unheard
						   (0: at the next pass) */
	struct kube_api		*kube;		/* canary traffic; borrowed */
	const char		*kube_ns;
};

/*
 * One reconcile pass (docs/engine.md, "The loop"): admit queued runs,
 * load the snapshot, drive every run, start what may start, sync the
 * runs.  Returns 0 or the database error that cut it short
 * (ERR_TRANSIENT); sets e->changed and e->next_ms.
 */
int	engine_pass(struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Once, before the first pass: release attempts a predecessor recorded
 * as finished but may not have released, remove checkouts of runs that
 * ended and exports a crash cut short.  Failures are logged.
 */
void	engine_cleanup(struct engine *e);

/* The engine's connection outside a pass, counting one statement. */
struct db *engine_db(struct engine *e);

/* logs.c: the attempt logs kept in PostgreSQL (docs/engine.md). */
struct eng_pass;
struct snap_attempt;
struct snap_run;

/* Keep what a running attempt printed since the last pass. */
void	eng_log_keep_running(struct eng_pass *ps,
	    const struct snap_attempt *att);

/*
 * Keep the rest of an ended attempt's log and read back what it reported.
 * 1 when every node's log is complete (out filled), 0 when not yet (the
 * caller tries again at the next pass).  Errors: the database's.
 */
int	eng_log_read_output(struct eng_pass *ps,
	    const struct snap_attempt *att, int64_t finished_ms,
	    struct stage_output *out, struct err *err)
	    __attribute__((warn_unused_result));

/* Forget where the engine is in an attempt's logs (it was released). */
void	eng_log_drop(struct engine *e, int64_t attempt_id);

/* Forget logs not read for a while (their attempts went elsewhere). */
void	eng_log_gc(struct engine *e);

/* checkout.c: the local executor's checkouts under state_dir/work. */

/*
 * The run's checkout, exported once into dir (under a temporary name,
 * then renamed).  Errors: gitsrc_checkout_commit()'s, ERR_TRANSIENT.
 */
int	eng_checkout_ensure(struct engine *e, const struct snap_run *r,
	    const char *dir, struct err *err)
	    __attribute__((warn_unused_result));

/* A run ended: its checkout goes, and a failed export's leftovers. */
void	eng_checkout_remove(struct engine *e, int64_t run_id);

/* Remove a work folder (nothing when it is not there); failures logged. */
void	eng_work_dir_remove(const char *dir);

#endif
