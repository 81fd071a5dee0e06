/*
 * store_model.h - model versions (table model_versions) as the engine
 * registers them and reads them for gates and rollouts, and the
 * promotions and rollbacks approvers make by hand.  A rollout's promotion
 * and rejection are part of its end (store_rollout.h).  Every move to
 * production appends a model_version event with to_state 'production',
 * from which the database writes the target's production history (table
 * production_history, by trigger).  Blocks on the database; errors as
 * db_exec().
 */
#ifndef SLUICE_STORE_MODEL_H
#define SLUICE_STORE_MODEL_H

#include <stdint.h>

#include "base/err.h"

struct db;
struct gate_baseline;

/*
 * Register the `model` artifact of an attempt as a new version of model
 * name (the artifact's name= or default_name), numbered per name, with
 * the attempt's metrics (latest value of each) and an event.  Idempotent:
 * an artifact already registered returns its version.  *model_id is 0
 * when the attempt has no model artifact.
 */
int	store_model_register(struct db *db, int64_t attempt_id, int64_t run_id,
	    int64_t stage_id, const char *default_name, const char *actor,
	    int64_t *model_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The model version now in production for target: *id (0 when none) and
 * *uri (owned by the caller, NULL when none).
 */
int	store_model_production(struct db *db, const char *target, int64_t *id,
	    char **uri, struct err *err) __attribute__((warn_unused_result));

/*
 * The baseline of a `baseline: production` gate on metric of stage
 * `stage` in run run_id: the value of that metric in the run of the model
 * now in production for target (when target is not NULL and there is
 * one), else in the last succeeded run of the pipeline; the stage of the
 * same name is preferred, else any stage of that run.  out->found is 0
 * when there is no such run or value.
 */
int	store_model_baseline(struct db *db, const char *target,
	    int64_t pipeline_id, int64_t run_id, const char *stage,
	    const char *metric, struct gate_baseline *out, struct err *err)
	    __attribute__((warn_unused_result));

/* What an approver does by hand to the production model of a target. */
enum model_manual {
	MODEL_MANUAL_PROMOTE = 0,	/* put a given version in production */
	MODEL_MANUAL_ROLLBACK,		/* back to the previous production one */
};

/*
 * Promote version `version` of model name to production on target
 * (MODEL_MANUAL_PROMOTE; a registered or retired version), or roll
 * target back to the version of name that was in production on it most
 * recently before the current one (MODEL_MANUAL_ROLLBACK; version is
 * ignored), as actor with an optional comment, in one transaction: the
 * version leaving production becomes `retired` (promote) or `rejected`
 * with "rolled back by ACTOR[: comment]" (rollback), the other one
 * `production`, each with its event (data.action "promote" or
 * "rollback", the comment as reason) and so a production history row.
 * *version_out (may be NULL) receives the version now in production.
 * ERR_NOTFOUND: unknown model, version or target (a target is known once
 * a pipeline's canary stage, a rollout or a model version names it).
 * ERR_INVALID: target NULL or empty (checked after the model, so that an
 * unknown model is ERR_NOTFOUND whatever else is wrong).
 * ERR_CONFLICT, the message says which: a rollout holds the target
 * ("target T is being rolled out by run N"), the target serves another
 * model, the version is rejected, a candidate or already in production,
 * nothing is in production or nothing is left to roll back to.  Does not
 * move traffic: when the target's canary has a traffic provider, the same
 * transaction records the traffic to move (store_traffic_follow_record)
 * and the active engine moves it (engine/traffic.h, traffic_follow).
 */
int	store_model_manual(struct db *db, enum model_manual what,
	    const char *name, int version, const char *target,
	    const char *actor, const char *comment, int *version_out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
