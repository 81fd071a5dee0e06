/*
 * store_stage.h - the engine's writes to stages and stage_attempts.
 *
 * Every function is one statement that changes state and appends the
 * matching events (and NOTIFY sluice_events for stage transitions) in the
 * same transaction.  Each is conditional on the state the engine saw
 * (WHERE status = ...): when the row has moved on meanwhile, nothing is
 * written and the call returns ERR_CONFLICT, so a stale decision never
 * lands.  Blocks on the database; other errors as db_exec().
 */
#ifndef SLUICE_STORE_STAGE_H
#define SLUICE_STORE_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/status.h"

struct db;

/* A new attempt row (status pending), written before the executor call. */
struct attempt_new {
	int64_t		 stage_id;
	int64_t		 run_id;
	enum attempt_kind kind;
	int		 step;		/* canary step, else 0 */
	int		 attempt;
	int		 weight;	/* -1 for NULL (job) */
	const char	*executor;	/* local | kubernetes */
	const char	*job_name;
	int		 gpus;
	const char	*gpu_resource;
	const char	*spec;		/* JSON */
	const char	*actor;
};

/*
 * Insert n (at most LIM_ENGINE_START_BATCH) job attempts, each moving its
 * stage pending -> submitted, with their events, in one statement.
 * ids[i] receives the id of an[i]'s new row, or 0 when its stage was no
 * longer pending (nothing written for it).  All an[] have one actor.
 */
int	store_attempts_create(struct db *db, const struct attempt_new *an,
	    size_t n, int64_t *ids, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * store_attempts_create() of one attempt.  ERR_CONFLICT when the stage
 * is no longer pending.
 */
int	store_attempt_create(struct db *db, const struct attempt_new *an,
	    int64_t *attempt_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The executor accepted them: each of the n attempts ids (of the runs
 * run_ids, in step) still pending becomes submitted, with its event, in
 * one statement; the others are left as they are.
 */
int	store_attempts_submitted(struct db *db, const int64_t *ids,
	    const int64_t *run_ids, size_t n, const char *actor,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * It runs (since started_ms, unix ms; 0 = now): the attempt becomes
 * running and its stage, if submitted, running too.  ERR_CONFLICT when
 * the attempt was not pending or submitted.
 */
int	store_attempt_running(struct db *db, int64_t attempt_id,
	    int64_t run_id, int64_t started_ms, const char *actor,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Where an attempt ran, as its executor saw it (exec_status); NULL or ""
 * = not known.  A value once recorded is never cleared.
 */
struct attempt_facts {
	const char	*image_id;	/* the image digest the container ran */
	const char	*node_name;
	const char	*gpu_product;	/* the node's nvidia.com/gpu.product */
};

/*
 * Record what is known of where an attempt runs (what facts leaves
 * unknown stays as it was).  0 also when nothing changed.
 */
int	store_attempt_facts(struct db *db, int64_t attempt_id,
	    const struct attempt_facts *facts, struct err *err)
	    __attribute__((warn_unused_result));

/* How an attempt ended, and what its stage becomes. */
struct attempt_end {
	int64_t		 attempt_id;
	int64_t		 run_id;
	enum attempt_status status;	/* a final one */
	int		 exit_code;	/* -1 for NULL */
	const char	*message;	/* or NULL */
	int64_t		 started_ms;	/* 0 = unknown */
	int64_t		 finished_ms;	/* 0 = now */
	int64_t		 stage_id;
	enum stage_status stage_from;	/* the stage's status as seen */
	int		 stage_moves;	/* 0: the stage does not change */
	enum stage_status stage_to;	/* when it does */
	const char	*stage_message;
	const char	*waiting_reason;
	const char	*actor;
	struct attempt_facts facts;	/* recorded with the end */
};

/*
 * Record the end of an attempt (and its stage's transition).  The
 * executor's start (started_ms), when given, replaces an earlier one
 * recorded while it ran: the container's own start is later than the
 * pod's or the Job's, which is all that may have been known then.  An
 * attempt that succeeded while its stage fails has failed its gates: the
 * run's `registered` model versions become `rejected` in the same
 * statement, with the stage's message as their reason.  ERR_CONFLICT.
 */
int	store_attempt_finish(struct db *db, const struct attempt_end *ae,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Move a stage from -> to with a message and a waiting reason (either may
 * be NULL), setting finished_at for a final state.  A stage starts
 * (submitted, running) only with its attempt (store_attempt_create,
 * store_attempt_running): to is pending, waiting_approval or final.
 * ERR_CONFLICT.
 */
int	store_stage_transition(struct db *db, int64_t stage_id, int64_t run_id,
	    enum stage_status from, enum stage_status to, const char *message,
	    const char *waiting_reason, const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

/* Set a stage's waiting_reason (NULL clears it); no event. */
int	store_stage_waiting(struct db *db, int64_t stage_id,
	    const char *reason, struct err *err)
	    __attribute__((warn_unused_result));

/* Every pending stage of a canceled run becomes canceled. */
int	store_stage_cancel_pending(struct db *db, int64_t run_id,
	    const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Record what Kueue said of an active attempt: its LocalQueue and
 * flavor(s) (NULL: leave as recorded), the time of its latest admission
 * (unix ms, 0: leave), and its eviction count (never lowered).  No event
 * (the executor's facts, not a transition); nothing for a finished
 * attempt.
 */
int	store_attempt_kueue(struct db *db, int64_t attempt_id,
	    const char *queue, const char *flavor, int64_t admitted_ms,
	    int evictions, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Kueue evicted a running attempt: it goes back to submitted (with
 * stage_moves its stage, if running, too: a job stage's, not a canary
 * stage's, whose steps canary.c drives) with the waiting reason, and its
 * eviction count becomes at least evictions.  Not an end: no retry is
 * counted, and the same attempt runs again when Kueue admits it.  Events
 * for both transitions, with the reason.  ERR_CONFLICT when the attempt was not
 * running.
 */
int	store_attempt_evicted(struct db *db, int64_t attempt_id,
	    int64_t run_id, const char *reason, int evictions, int stage_moves,
	    const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The spec JSON of each of the n attempts ids, in one statement: specs[i]
 * is owned by the caller (free()), NULL for an id not found.
 */
int	store_attempts_spec(struct db *db, const int64_t *ids, size_t n,
	    char **specs, struct err *err) __attribute__((warn_unused_result));

#endif
