/*
 * store_rollout.h - canary rollouts (tables rollouts, model_versions,
 * approvals, stage_attempts, stages) as the engine moves them through
 * docs/engine.md.  Each function is one statement (promotion: one transaction)
 * that also appends the events; each is conditional on the state the
 * engine saw and returns ERR_CONFLICT when it changed meanwhile.  A
 * function that creates an attempt row does so before the executor is
 * called (docs/engine.md).  Blocks on the database.
 */
#ifndef SLUICE_STORE_ROLLOUT_H
#define SLUICE_STORE_ROLLOUT_H

#include <stdint.h>

#include "base/err.h"
#include "store/status.h"
#include "store/store_stage.h"

struct db;

/*
 * Begin the rollout of a canary stage: the lease on target (table
 * target_leases), its stage pending -> submitted, a rollout row (status
 * progressing, step 1) for target with the run's latest model version as
 * candidate (which becomes `candidate`) and prev_model_id (0: none) as
 * the production one it replaces, and the attempt of step 1 (att: kind
 * canary_step, step 1), all or nothing.  *attempt_id receives the
 * attempt's id.  ERR_CONFLICT "target T is being rolled out by run N"
 * when another stage holds the lease.
 */
int	store_rollout_start(struct db *db, const struct attempt_new *att,
	    const char *target, int steps, int64_t prev_model_id,
	    int64_t *attempt_id, struct err *err)
	    __attribute__((warn_unused_result));

/* Step `step`'s Job succeeded: progressing -> analyzing since from_ms. */
int	store_rollout_analyzing(struct db *db, int64_t rollout_id,
	    int64_t run_id, int step, int64_t from_ms, const char *actor,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Step `step` needs an approval: the rollout (in status from) becomes
 * waiting_approval, a pending approval expiring after timeout_ms is
 * created, and the stage (running or submitted) becomes waiting_approval
 * with waiting_reason.  *approval_id receives the approval's id.
 */
int	store_rollout_await(struct db *db, int64_t rollout_id, int64_t run_id,
	    int64_t stage_id, enum rollout_status from, int step, int weight,
	    const char *target, int64_t timeout_ms, const char *waiting_reason,
	    const char *actor, int64_t *approval_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Go on from step from_step (rollout in status from) to att->step: the
 * rollout's step and weight move, the step's attempt is created, and a
 * stage waiting for approval runs again.
 */
int	store_rollout_next(struct db *db, int64_t rollout_id,
	    enum rollout_status from, int from_step, const struct attempt_new *att,
	    int64_t *attempt_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Abandon the rollout (in status from) for reason: it becomes
 * rolling_back and the rollback attempt att (kind rollback, weight 0) is
 * created; a stage waiting for approval runs again.
 */
int	store_rollout_rollback(struct db *db, int64_t rollout_id,
	    enum rollout_status from, const char *reason, const struct attempt_new *att,
	    int64_t *attempt_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * End an abandoned rollout (in status from) as to (rolled_back, or failed
 * when the rollback itself failed), in one statement: the candidate
 * becomes `rejected` with message as its reason (production stays the
 * stable model), pending
 * approvals expire, the stage (in stage_from) ends as stage_to (failed
 * or canceled) with message, and the target's lease is released.  The
 * rollout's event has as actor who caused the end: whoever asked for an
 * abort, else cause (NULL: actor).
 */
int	store_rollout_end(struct db *db, int64_t rollout_id, int64_t run_id,
	    int64_t stage_id, enum rollout_status from, enum rollout_status to,
	    enum stage_status stage_from, enum stage_status stage_to,
	    const char *message, const char *actor, const char *cause,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The last step is through: in one transaction the model in production
 * for the target becomes `retired`, the candidate `production`, the
 * rollout `succeeded`, the stage (in stage_from) `succeeded` and the
 * target's lease released.  After a promote-full, the rollout's event
 * names who asked and the approvals it bypassed: of bypassed (a JSON
 * array of the step numbers that need one; NULL: none), those not
 * approved before the promote-full was asked.
 */
int	store_rollout_promote(struct db *db, int64_t rollout_id,
	    int64_t run_id, int64_t stage_id, enum rollout_status from,
	    enum stage_status stage_from, const char *actor,
	    const char *bypassed, struct err *err)
	    __attribute__((warn_unused_result));

/* --- the target lease and approvers' actions (store_rollout_act.c) ---- */

/* Who holds a target: run_id 0 when nobody does. */
struct lease_holder {
	int64_t		 run_id;
	int64_t		 stage_id;
	int64_t		 rollout_id;	/* its rollout, 0 if none */
	int		 ending;	/* rolling back or asked to abort */
};

/* Read the holder of target's lease into *out. */
int	store_lease_holder(struct db *db, const char *target,
	    struct lease_holder *out, struct err *err)
	    __attribute__((warn_unused_result));

/* What an approver may ask of a rollout. */
enum rollout_act {
	ROLLOUT_ACT_PROMOTE_FULL = 0,	/* to 100 %, approvals bypassed */
	ROLLOUT_ACT_ABORT,		/* roll back now */
	ROLLOUT_ACT_PAUSE,		/* hold: no verdict, no expiry */
	ROLLOUT_ACT_RESUME,
};

/* "promote-full", "abort", "pause", "resume". */
const char	*rollout_act_name(enum rollout_act act);

/*
 * Act on the rollout of run run_id (of its stage stage_id; 0: the run's
 * unfinished rollout, else its latest) as actor, with an optional
 * comment, in one statement with its events, then NOTIFY sluice_runs
 * (the engine carries out promote-full and abort):
 *  - promote-full and abort record the request (rollouts.action); the
 *    pending approval of the current step becomes approved by actor
 *    (promote-full) or expired (abort), with the reason as comment;
 *  - pause holds the rollout (paused_by, the stage's waiting_reason
 *    "rollout paused by ACTOR", as canary.c writes it); resume releases it, moving the analysis
 *    window's end and a pending approval's expiry by the time paused.
 * reason (NULL: "aborted by ACTOR[: comment]", ...) is what the events,
 * the approval and later the stage's message say.  *rollout_id receives
 * the rollout's id.  ERR_NOTFOUND: no such run, or it has no rollout;
 * ERR_CONFLICT: the action does not apply to the rollout's state (the
 * message names it).
 */
int	store_rollout_act(struct db *db, int64_t run_id, int64_t stage_id,
	    enum rollout_act act, const char *actor, const char *comment,
	    const char *reason, int64_t *rollout_id, struct err *err)
	    __attribute__((warn_unused_result));

#endif
