/*
 * store_model.h - model versions (table model_versions) as the engine
 * registers them and reads them for gates and rollouts.  Promotion and
 * rejection are part of a rollout's end (store_rollout.h).  Blocks on the
 * database; errors as db_exec().
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

#endif
