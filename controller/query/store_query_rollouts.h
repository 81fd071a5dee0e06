/*
 * store_query_rollouts.h - a canary rollout as JSON, as
 * GET /api/v1/runs/{id} lists it and the rollout actions answer it:
 *	{"id", "stage", "attempt", "target", "status", "steps",
 *	 "current_step", "current_weight", "model", "previous_model",
 *	 "analysis_started_at", "message", "started_at", "finished_at",
 *	 "action", "action_by", "action_at", "action_reason", "paused_at",
 *	 "paused_by", "measurements"}
 * (model and previous_model: {"name", "version", "uri", "status"} or
 * null; action: "promote_full" | "abort" | null, an approver's request the
 * engine carries out).  Blocks on the database; fails as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_ROLLOUTS_H
#define SLUICE_STORE_QUERY_ROLLOUTS_H

#include <stdint.h>

#include "base/err.h"

struct db;

/*
 * The analysis query measurements of rollout ro (the newest 2000),
 * oldest first: {"step", "query", "slot",
 * "measured_at", "result", "value", "message", "op", "threshold"}; a
 * value that is not finite is null.
 */
#define ROLLOUT_MEASUREMENTS_JSON                                           \
	"(SELECT coalesce(json_agg(json_build_object('step', m.step,"        \
	"  'query', m.query, 'slot', m.slot,"                               \
	"  'measured_at', rfc3339(m.measured_at), 'result', m.result,"      \
	"  'value', CASE WHEN m.value::text IN ('NaN', 'Infinity',"         \
	"    '-Infinity') THEN NULL ELSE m.value END,"                      \
	"  'message', m.message, 'op', m.op, 'threshold', m.threshold)"     \
	"  ORDER BY m.step, m.query, m.slot), '[]')"                        \
	" FROM (SELECT * FROM analysis_measurements x"                      \
	"  WHERE x.rollout_id = ro.id ORDER BY x.id DESC LIMIT 2000) m)"

/* The fields of rollout ro (joined with its stage s), for json_build_object. */
#define ROLLOUT_MODEL_JSON(id)                                              \
	"(SELECT json_build_object('name', m.name, 'version', m.version,"   \
	"  'uri', m.uri, 'status', m.status) FROM model_versions m"         \
	"  WHERE m.id = " id ")"
#define ROLLOUT_JSON_FIELDS                                                 \
	"'id', ro.id, 'stage', s.name, 'attempt', ro.attempt,"              \
	" 'target', ro.target, 'status', ro.status, 'steps', ro.steps,"     \
	" 'current_step', ro.current_step,"                                 \
	" 'current_weight', ro.current_weight,"                             \
	" 'model', " ROLLOUT_MODEL_JSON("ro.model_version_id") ","          \
	" 'previous_model', "                                               \
	ROLLOUT_MODEL_JSON("ro.previous_model_version_id") ","              \
	" 'analysis_started_at', rfc3339(ro.analysis_started_at),"          \
	" 'message', ro.message, 'started_at', rfc3339(ro.started_at),"     \
	" 'finished_at', rfc3339(ro.finished_at), 'action', ro.action,"     \
	" 'action_by', ro.action_by, 'action_at', rfc3339(ro.action_at),"   \
	" 'action_reason', ro.action_reason,"                               \
	" 'paused_at', rfc3339(ro.paused_at), 'paused_by', ro.paused_by,"   \
	" 'measurements', " ROLLOUT_MEASUREMENTS_JSON

/* Rollout id as JSON into *json (owned, free()); ERR_NOTFOUND if none. */
int	store_query_rollout_get(struct db *db, int64_t id, char **json,
	    struct err *err) __attribute__((warn_unused_result));

#endif
