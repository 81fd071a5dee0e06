/*
 * store_run.h - runs and their stages (tables runs, stages).
 *
 * Creating a run writes the run, one pending stage per stage of its
 * pipeline version (read from the version's canonical JSON in SQL), an
 * event, and a NOTIFY sluice_runs in one statement, so the engine of any
 * process wakes at once.  Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_RUN_H
#define SLUICE_STORE_RUN_H

#include <stdint.h>

#include "base/err.h"
#include "store/status.h"

struct db;

struct run_new {
	int64_t		 version_id;	/* a valid pipeline version */
	const char	*branch;	/* or NULL */
	const char	*trigger;	/* push | webhook | api | retry |
					   schedule */
	const char	*params;	/* JSON object of overrides, or NULL */
	int64_t		 parent_run_id;	/* retry only, else 0 */
	const char	*created_by;	/* token name, "poller", ... */
	const char	*reason;	/* or NULL */
	const char	*idempotency_key; /* or NULL */
	int64_t		 schedule_slot;	/* schedule: the slot (Unix seconds,
					   one run per pipeline and slot);
					   else 0 */
};

/*
 * *active = 1 when the run exists and is not finished (queued, running,
 * waiting_approval), else 0.  For start-up reconciliation of executors.
 */
int	store_run_is_active(struct db *db, int64_t run_id, int *active,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Queue a run.  *run_id receives its id; *created is 1 when this call
 * created it, 0 when a run with the same idempotency key existed or was
 * being created by a concurrent call (then *run_id is that run).
 * ERR_INVALID when the version is not valid.  Not for use inside a
 * REPEATABLE READ transaction (the concurrent run would stay unseen).
 */
int	store_run_create(struct db *db, const struct run_new *rn,
	    int64_t *run_id, int *created, struct err *err)
	    __attribute__((warn_unused_result));


/*
 * Ask for a run to be canceled, as actor (a token name): records
 * cancel_requested_at/by with an event and NOTIFYs sluice_runs; the engine
 * then stops the run's attempts (rolling back a canary in progress) and
 * ends the run `canceled`.  A run still queued is canceled at once, with
 * its stages.  Asking again is a no-op (0).  ERR_NOTFOUND for an unknown
 * run; ERR_CONFLICT when it has already finished.
 */
int	store_run_request_cancel(struct db *db, int64_t run_id,
	    const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Retry a failed or canceled run: a new queued run (trigger retry,
 * parent_run_id = run_id) with the parent's pipeline version, commit,
 * branch and params.  Stages that succeeded in the parent are created
 * succeeded, with reused_from_stage_id pointing at the stage that ran
 * (through the parent's own reused stages), so their artifacts and
 * metrics are the parent's and they do not run again; the others start
 * pending.  Event "created" and NOTIFY sluice_runs.  *new_run_id receives
 * the new run's id.  ERR_NOTFOUND; ERR_CONFLICT when the parent is not
 * failed or canceled.
 */
int	store_run_retry(struct db *db, int64_t run_id, const char *actor,
	    int64_t *new_run_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The engine: start up to `limit` queued runs, oldest first, each only
 * while fewer than its pipeline's `concurrency` (that of the version of
 * the pipeline's oldest queued run) runs of the same pipeline are running
 * or waiting for approval (0 = no limit); younger runs of a pipeline
 * never pass older ones.  queued -> running with an event each.
 * *started receives how many started.  Reads only the queued runs it may
 * start (one index probe per pipeline with a queue), not the backlog.
 */
int	store_run_admit(struct db *db, int limit, const char *actor,
	    int *started, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The statement of store_run_admit(), for the test that checks its plan
 * ($1 limit, $2 actor, $3 'queued', $4 'running', $5 false).
 */
const char *store_run_admit_sql(void);

/*
 * The engine: move a run from -> to (running, waiting_approval or a final
 * state, which sets finished_at) with a message (or NULL), and an event.
 * ERR_CONFLICT when the run is no longer in from.
 */
int	store_run_transition(struct db *db, int64_t run_id,
	    enum run_status from, enum run_status to, const char *message,
	    const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

#endif
