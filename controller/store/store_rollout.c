/* store_rollout.c - canary rollouts; see store_rollout.h. */
#include <stdlib.h>

#include "store/db.h"
#include "store/store_rollout.h"
#include "store/store_sql.h"

/*
 * Statements that create an attempt take its fields as $1..$12 (see
 * att_args) and their own from $13.
 */
#define ATT_INSERT(from)                                                    \
	"INSERT INTO stage_attempts (stage_id, kind, step, attempt, weight,"\
	" executor, job_name, gpus, gpu_resource, spec)"                    \
	" SELECT $1::bigint, $3::text, $4::int, $5::int,"                   \
	" nullif($6::int, -1), $7::text, $8::text, $9::int, $10::text,"     \
	" $11::jsonb FROM " from " RETURNING id, status"
#define ATT_EVENT                                                           \
	"SELECT $12::text, 'attempt', a.id, $2::bigint, 'created', NULL,"   \
	" a.status, NULL, jsonb_build_object('job', $8::text, 'kind',"      \
	" $3::text, 'step', $4::int, 'attempt', $5::int) FROM a"

/*
 * The lease on the target ($13) is taken first; without it nothing else
 * happens, and the last column names the run that holds it.
 */
static const char sql_start[] =
    "WITH l AS ("
    "  INSERT INTO target_leases (target, run_id, stage_id)"
    "  SELECT $13, $2, $1 WHERE EXISTS (SELECT 1 FROM stages"
    "    WHERE id = $1 AND status = $16)"
    "  ON CONFLICT (target) DO NOTHING RETURNING target),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$17", "$18") ","
    "    " SQL_STARTED_AT("now()") ", waiting_reason = NULL"
    "  WHERE id = $1 AND status = $16 AND EXISTS (SELECT 1 FROM l)"
    "  RETURNING id, run_id),"
    " cand AS ("
    "  SELECT mv.id FROM model_versions mv JOIN stages st"
    "    ON mv.stage_id = coalesce(st.reused_from_stage_id, st.id)"
    "  WHERE st.run_id = $2 ORDER BY mv.id DESC LIMIT 1),"
    " ro AS ("
    "  INSERT INTO rollouts (run_id, stage_id, attempt, target,"
    "    model_version_id, previous_model_version_id, steps, current_step,"
    "    current_weight)"
    "  SELECT s.run_id, s.id, 1, $13, (SELECT id FROM cand),"
    "    nullif($15::bigint, 0), $14, 1, $6::int FROM s"
    "  RETURNING id, model_version_id, status),"
    " mv AS ("
    "  UPDATE model_versions m SET status = $19::text, target = $13"
    "  FROM ro WHERE m.id = ro.model_version_id"
    "    AND m.status IN ('registered', 'rejected') RETURNING m.id),"
    " a AS (" ATT_INSERT("s") "),"
    " e AS (" SQL_EV_COLS
    "  SELECT $12, 'stage', s.id, $2::bigint, 'transition', $16::text,"
    "    $17::text, NULL, jsonb_build_object('attempt', $5::int,"
    "    'job', $8::text) FROM s"
    "  UNION ALL"
    "  SELECT $12, 'rollout', ro.id, $2::bigint, 'created', NULL,"
    "    ro.status, NULL, jsonb_build_object('target', $13::text,"
    "    'model_version', ro.model_version_id, 'previous',"
    "    nullif($15::bigint, 0)) FROM ro"
    "  UNION ALL"
    "  SELECT $12, 'model_version', mv.id, $2::bigint, 'transition', NULL,"
    "    $19::text, NULL, jsonb_build_object('target', $13::text) FROM mv"
    "  UNION ALL " ATT_EVENT SQL_EV_RETURNING ")"
    " SELECT (SELECT id FROM a), " SQL_NOTIFY("e") ","
    "  (SELECT run_id FROM target_leases WHERE target = $13)";

static const char sql_analyzing[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET " SQL_SET_STATUS("$7", "$8") ","
    "    analysis_started_at = " SQL_TS("$4")
    "  WHERE id = $1 AND status = $6 AND current_step = $3"
    "  RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $5, 'rollout', ro.id, $2, 'transition', $6::text,"
    "    $7::text, NULL, jsonb_build_object('step', $3::int) FROM ro)"
    " SELECT count(*) FROM ro";

static const char sql_await[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET " SQL_SET_STATUS("$11", "$12")
    "  WHERE id = $1 AND status = $4 AND current_step = $5 RETURNING id),"
    " ap AS ("
    "  INSERT INTO approvals (rollout_id, run_id, stage_id, step, weight,"
    "    target, expires_at)"
    "  SELECT $1, $2, $3, $5, $6, $7, now() + make_interval(secs =>"
    "    $8::bigint / 1000.0) FROM ro"
    "  ON CONFLICT (rollout_id, step) DO NOTHING RETURNING id, status),"
    " s AS ("
    "  UPDATE stages t SET " SQL_SET_STATUS("$13", "$14") ","
    "    waiting_reason = $9"
    "  FROM (SELECT id, status AS old FROM stages WHERE id = $3) o"
    "  WHERE t.id = o.id AND t.status IN ('running', 'submitted')"
    "    AND EXISTS (SELECT 1 FROM ro) RETURNING t.id, o.old),"
    " e AS (" SQL_EV_COLS
    "  SELECT $10, 'rollout', ro.id, $2::bigint, 'transition', $4::text,"
    "    $11::text, NULL, jsonb_build_object('step', $5::int) FROM ro"
    "  UNION ALL"
    "  SELECT $10, 'approval', ap.id, $2::bigint, 'created', NULL,"
    "    ap.status, NULL, jsonb_build_object('step', $5::int, 'weight',"
    "    $6::int, 'target', $7::text) FROM ap"
    "  UNION ALL"
    "  SELECT $10, 'stage', s.id, $2::bigint, 'transition', s.old,"
    "    $13::text, $9::text, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM ro), (SELECT id FROM ap), "
    SQL_NOTIFY("e");

static const char sql_next[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET current_step = $4::int, current_weight = $6::int,"
    "    " SQL_SET_STATUS("$16", "$17") ", analysis_started_at = NULL,"
    "    paused_ms = 0"
    "  WHERE id = $13 AND status = $14 AND current_step = $15 RETURNING id),"
    " a AS (" ATT_INSERT("ro") "),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$19", "$20") ","
    "    waiting_reason = NULL"
    "  WHERE id = $1 AND status = $18"
    "    AND EXISTS (SELECT 1 FROM ro) RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $12, 'rollout', ro.id, $2::bigint, 'transition', $14::text,"
    "    $16::text, NULL, jsonb_build_object('step', $4::int,"
    "    'weight', $6::int) FROM ro"
    "  UNION ALL " ATT_EVENT
    "  UNION ALL"
    "  SELECT $12, 'stage', s.id, $2::bigint, 'transition', $18::text,"
    "    $19::text, NULL, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT id FROM a), " SQL_NOTIFY("e");

static const char sql_rollback[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET " SQL_SET_STATUS("$16", "$17") ", message = $15"
    "  WHERE id = $13 AND status = $14 RETURNING id),"
    " a AS (" ATT_INSERT("ro") "),"
    " s AS ("
    "  UPDATE stages t SET " SQL_SET_STATUS("$18", "$19") ","
    "    waiting_reason = NULL"
    "  FROM (SELECT id, status AS old FROM stages WHERE id = $1) o"
    "  WHERE t.id = o.id AND t.status IN ('waiting_approval', 'submitted')"
    "    AND EXISTS (SELECT 1 FROM ro) RETURNING t.id, o.old),"
    " e AS (" SQL_EV_COLS
    "  SELECT $12, 'rollout', ro.id, $2::bigint, 'transition', $14::text,"
    "    $16::text, $15::text, '{}'::jsonb FROM ro"
    "  UNION ALL " ATT_EVENT
    "  UNION ALL"
    "  SELECT $12, 'stage', s.id, $2::bigint, 'transition', s.old,"
    "    $18::text, $15::text, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT id FROM a), " SQL_NOTIFY("e");

/*
 * The end of an abandoned rollout, in one statement: the rollout, its
 * candidate model back to rejected (production stays what it was), its
 * pending approvals closed, the stage, and the lease (by trigger).  The
 * rollout's event names who caused it ($14, or who asked for the abort).
 */
static const char sql_end[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET " SQL_SET_STATUS("$5", "$10") ","
    "    message = coalesce(message, $8), paused_at = NULL, paused_by = NULL"
    "  WHERE id = $1 AND status = $4 AND EXISTS (SELECT 1 FROM stages"
    "    WHERE id = $3 AND status = $6)"
    "  RETURNING id, model_version_id, previous_model_version_id, target,"
    "    coalesce(action_by, $14) AS cause),"
    " mv AS ("
    "  UPDATE model_versions m SET status = $12::text,"
    "    rejected_reason = $8 FROM ro"
    "  WHERE m.id = ro.model_version_id AND m.status = $13"
    "  RETURNING m.id),"
    " ap AS ("
    "  UPDATE approvals p SET status = $15::text, decided_at = now(),"
    "    comment = coalesce(p.comment, $8)"
    "  FROM ro WHERE p.rollout_id = ro.id AND p.status = $16"
    "  RETURNING p.id),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$7", "$11") ","
    "    message = $8, waiting_reason = NULL"
    "  WHERE id = $3 AND status = $6 AND EXISTS (SELECT 1 FROM ro)"
    "  RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT ro.cause, 'rollout', ro.id, $2::bigint, 'transition', $4::text,"
    "    $5::text, $8::text, jsonb_build_object('caused_by', ro.cause,"
    "    'target', ro.target, 'model_version', ro.model_version_id,"
    "    'stable_model_version', ro.previous_model_version_id) FROM ro"
    "  UNION ALL"
    "  SELECT $9, 'model_version', mv.id, $2::bigint, 'transition',"
    "    $13::text, $12::text, $8::text, '{}'::jsonb FROM mv"
    "  UNION ALL"
    "  SELECT $9, 'approval', ap.id, $2::bigint, 'transition', $16::text,"
    "    $15::text, $8::text, '{}'::jsonb FROM ap"
    "  UNION ALL"
    "  SELECT $9, 'stage', s.id, $2::bigint, 'transition', $6::text,"
    "    $7::text, $8::text, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM ro), " SQL_NOTIFY("e");

/* Promotion, part 1: retire the model in production for the target. */
static const char sql_retire[] =
    "WITH ro AS ("
    "  SELECT id, model_version_id, target FROM rollouts"
    "  WHERE id = $1 AND status = $2 FOR UPDATE),"
    " old AS ("
    "  UPDATE model_versions m SET status = $5::text, retired_at = now()"
    "  FROM ro WHERE m.target = ro.target AND m.status = $6"
    "    AND m.id IS DISTINCT FROM ro.model_version_id RETURNING m.id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $4, 'model_version', old.id, $3, 'transition', $6::text,"
    "    $5::text, 'replaced by a new production model', '{}'::jsonb"
    "    FROM old)"
    " SELECT count(*) FROM ro";

/* Promotion, part 2: the candidate, the rollout and the stage. */
static const char sql_promote[] =
    "WITH ro AS ("
    "  UPDATE rollouts SET " SQL_SET_STATUS("$7", "$8") ","
    "    paused_at = NULL, paused_by = NULL"
    "  WHERE id = $1 AND status = $2 AND EXISTS (SELECT 1 FROM stages"
    "    WHERE id = $4 AND status = $5)"
    "  RETURNING id, model_version_id, action, action_by, action_at),"
    " mv AS ("
    "  UPDATE model_versions m SET status = $9::text,"
    "    promoted_at = now() FROM ro WHERE m.id = ro.model_version_id"
    "  RETURNING m.id),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$11", "$12") ","
    "    waiting_reason = NULL"
    "  WHERE id = $4 AND status = $5 AND EXISTS (SELECT 1 FROM ro)"
    "  RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT coalesce(ro.action_by, $6), 'rollout', ro.id, $3::bigint,"
    "    'transition', $2::text, $7::text, NULL,"
    "    CASE WHEN ro.action = 'promote_full' THEN jsonb_build_object("
    "      'promote_full_by', ro.action_by, 'bypassed_approvals',"
    "      (SELECT coalesce(jsonb_agg(x.v::int ORDER BY x.v::int), '[]')"
    "       FROM jsonb_array_elements_text($13::jsonb) x(v)"
    "       WHERE NOT EXISTS (SELECT 1 FROM approvals p"
    "         WHERE p.rollout_id = ro.id AND p.step = x.v::int"
    "           AND p.status = $14 AND p.decided_at < ro.action_at)))"
    "    ELSE '{}'::jsonb END FROM ro"
    "  UNION ALL"
    "  SELECT $6, 'model_version', mv.id, $3::bigint, 'transition',"
    "    $10::text, $9::text, NULL, '{}'::jsonb FROM mv"
    "  UNION ALL"
    "  SELECT $6, 'stage', s.id, $3::bigint, 'transition', $5::text,"
    "    $11::text, NULL, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM ro), (SELECT count(*) FROM s), "
    SQL_NOTIFY("e");

/* A rollout's new status and whether it is final: SQL_SET_STATUS's args. */
static void
args_rollout_status(struct db_args *a, enum rollout_status s)
{
	db_args_str(a, rollout_status_name(s));
	db_args_bool(a, rollout_status_final(s));
}

static void
args_stage_status(struct db_args *a, enum stage_status s)
{
	db_args_str(a, stage_status_name(s));
	db_args_bool(a, stage_status_final(s));
}

static void
att_args(struct db_args *a, const struct attempt_new *an)
{
	db_args_init(a);
	db_args_int64(a, an->stage_id);
	db_args_int64(a, an->run_id);
	db_args_str(a, attempt_kind_name(an->kind));
	db_args_int64(a, an->step);
	db_args_int64(a, an->attempt);
	db_args_int64(a, an->weight);
	db_args_str(a, an->executor);
	db_args_str(a, an->job_name);
	db_args_int64(a, an->gpus);
	db_args_str(a, an->gpu_resource);
	db_args_str(a, an->spec);
	db_args_str(a, an->actor);
}

int
store_rollout_start(struct db *db, const struct attempt_new *att,
    const char *target, int steps, int64_t prev_model_id,
    int64_t *attempt_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t holder = 0;
	int rc;

	*attempt_id = 0;
	att_args(&a, att);
	db_args_str(&a, target);
	db_args_int64(&a, steps);
	db_args_int64(&a, prev_model_id);
	db_args_str(&a, stage_status_name(STAGE_PENDING));
	args_stage_status(&a, STAGE_SUBMITTED);
	db_args_str(&a, model_status_name(MODEL_CANDIDATE));
	if ((rc = db_exec(db, sql_start, &a, &res, err)) < 0)
		return rc;
	if (!db_res_is_null(res, 0, 0)) {
		rc = db_res_int64(res, 0, 0, attempt_id, err);
	} else if (!db_res_is_null(res, 0, 2) &&
	    (rc = db_res_int64(res, 0, 2, &holder, err)) == 0 &&
	    holder != att->run_id) {
		rc = err_set(err, ERR_CONFLICT, "target %s is being rolled out "
		    "by run %lld", target, (long long)holder);
	} else if (rc == 0) {
		rc = err_set(err, ERR_CONFLICT, "start rollout: the state "
		    "changed meanwhile");
	}
	db_res_free(res);
	return rc;
}

int
store_rollout_analyzing(struct db *db, int64_t rollout_id, int64_t run_id,
    int step, int64_t from_ms, const char *actor, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, step);
	db_args_int64(&a, from_ms);
	db_args_str(&a, actor);
	db_args_str(&a, rollout_status_name(ROLLOUT_PROGRESSING));
	args_rollout_status(&a, ROLLOUT_ANALYZING);
	return db_exec_guarded(db, sql_analyzing, &a, NULL, "analysis", err);
}

int
store_rollout_await(struct db *db, int64_t rollout_id, int64_t run_id,
    int64_t stage_id, enum rollout_status from, int step, int weight,
    const char *target, int64_t timeout_ms, const char *waiting_reason,
    const char *actor, int64_t *approval_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t n = 0;
	int rc;

	*approval_id = 0;
	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_int64(&a, step);
	db_args_int64(&a, weight);
	db_args_str(&a, target);
	db_args_int64(&a, timeout_ms > 0 ? timeout_ms :
	    INT64_C(100) * 365 * 24 * 3600 * 1000);
	db_args_str(&a, waiting_reason);
	db_args_str(&a, actor);
	args_rollout_status(&a, ROLLOUT_WAITING_APPROVAL);
	args_stage_status(&a, STAGE_WAITING_APPROVAL);
	if ((rc = db_exec(db, sql_await, &a, &res, err)) < 0)
		return rc;
	if ((rc = db_res_int64(res, 0, 0, &n, err)) == 0 &&
	    !db_res_is_null(res, 0, 1))
		rc = db_res_int64(res, 0, 1, approval_id, err);
	db_res_free(res);
	if (rc == 0 && n == 0)
		rc = err_set(err, ERR_CONFLICT, "approval: the rollout changed "
		    "meanwhile");
	return rc;
}

int
store_rollout_next(struct db *db, int64_t rollout_id,
    enum rollout_status from, int from_step, const struct attempt_new *att,
    int64_t *attempt_id, struct err *err)
{
	struct db_args a;

	att_args(&a, att);
	db_args_int64(&a, rollout_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_int64(&a, from_step);
	args_rollout_status(&a, ROLLOUT_PROGRESSING);
	db_args_str(&a, stage_status_name(STAGE_WAITING_APPROVAL));
	args_stage_status(&a, STAGE_RUNNING);
	return db_exec_guarded(db, sql_next, &a, attempt_id, "next step", err);
}

int
store_rollout_rollback(struct db *db, int64_t rollout_id,
    enum rollout_status from, const char *reason,
    const struct attempt_new *att, int64_t *attempt_id, struct err *err)
{
	struct db_args a;

	att_args(&a, att);
	db_args_int64(&a, rollout_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_str(&a, reason);
	args_rollout_status(&a, ROLLOUT_ROLLING_BACK);
	args_stage_status(&a, STAGE_RUNNING);
	return db_exec_guarded(db, sql_rollback, &a, attempt_id, "rollback",
	    err);
}

int
store_rollout_end(struct db *db, int64_t rollout_id, int64_t run_id,
    int64_t stage_id, enum rollout_status from, enum rollout_status to,
    enum stage_status stage_from, enum stage_status stage_to,
    const char *message, const char *actor, const char *cause,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_str(&a, rollout_status_name(to));
	db_args_str(&a, stage_status_name(stage_from));
	db_args_str(&a, stage_status_name(stage_to));
	db_args_str(&a, message);
	db_args_str(&a, actor);
	db_args_bool(&a, rollout_status_final(to));
	db_args_bool(&a, stage_status_final(stage_to));
	db_args_str(&a, model_status_name(MODEL_REJECTED));
	db_args_str(&a, model_status_name(MODEL_CANDIDATE));
	db_args_str(&a, cause != NULL ? cause : actor);
	db_args_str(&a, approval_status_name(APPROVAL_EXPIRED));
	db_args_str(&a, approval_status_name(APPROVAL_PENDING));
	return db_exec_guarded(db, sql_end, &a, NULL, "end rollout", err);
}

int
store_rollout_promote(struct db *db, int64_t rollout_id, int64_t run_id,
    int64_t stage_id, enum rollout_status from, enum stage_status stage_from,
    const char *actor, const char *bypassed, struct err *err)
{
	struct db_args a;
	int rc;

	if ((rc = db_begin(db, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_int64(&a, run_id);
	db_args_str(&a, actor);
	db_args_str(&a, model_status_name(MODEL_RETIRED));
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	if ((rc = db_exec_guarded(db, sql_retire, &a, NULL, "promote",
	    err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_str(&a, rollout_status_name(from));
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, stage_status_name(stage_from));
	db_args_str(&a, actor);
	args_rollout_status(&a, ROLLOUT_SUCCEEDED);
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	db_args_str(&a, model_status_name(MODEL_CANDIDATE));
	args_stage_status(&a, STAGE_SUCCEEDED);
	db_args_str(&a, bypassed != NULL ? bypassed : "[]");
	db_args_str(&a, approval_status_name(APPROVAL_APPROVED));
	if ((rc = db_exec_guarded(db, sql_promote, &a, NULL, "promote",
	    err)) < 0)
		goto out;
	rc = db_commit(db, err);
out:
	db_rollback(db);
	return rc;
}
