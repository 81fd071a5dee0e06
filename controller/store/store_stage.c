/* store_stage.c - stages and stage attempts; see store_stage.h. */
#include <stdlib.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_sql.h"
#include "store/store_stage.h"

static const char sql_attempt_create[] =
    "WITH s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$14", "$15") ","
    "    " SQL_STARTED_AT("now()") ", waiting_reason = NULL"
    "  WHERE id = $1 AND status = $13 RETURNING id, run_id),"
    " a AS ("
    "  INSERT INTO stage_attempts (stage_id, kind, step, attempt, weight,"
    "    executor, job_name, gpus, gpu_resource, spec)"
    "  SELECT s.id, $2, $3, $4, nullif($5::int, -1), $6, $7, $8, $9,"
    "    $10::jsonb FROM s RETURNING id, status),"
    " e AS (" SQL_EV_COLS
    "  SELECT $11, 'stage', s.id, s.run_id, 'transition', $13::text,"
    "    $14::text, NULL, jsonb_build_object('attempt', $4::int,"
    "    'job', $7::text) FROM s"
    "  UNION ALL"
    "  SELECT $11, 'attempt', a.id, $12::bigint, 'created', NULL, a.status,"
    "    NULL, jsonb_build_object('job', $7::text, 'kind', $2::text,"
    "    'attempt', $4::int) FROM a" SQL_EV_RETURNING ")"
    " SELECT (SELECT id FROM a), " SQL_NOTIFY("e");

static const char sql_attempt_submitted[] =
    "WITH a AS ("
    "  UPDATE stage_attempts SET " SQL_SET_STATUS("$5", "$6") ","
    "    submitted_at = now()"
    "  WHERE id = $1 AND status = $4 RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $3, 'attempt', a.id, $2, 'transition', $4::text, $5::text,"
    "    NULL, '{}'::jsonb FROM a)"
    " SELECT count(*) FROM a";

static const char sql_attempt_running[] =
    "WITH a AS ("
    "  UPDATE stage_attempts t SET " SQL_SET_STATUS("$5", "$6") ","
    "    submitted_at = coalesce(t.submitted_at, now()),"
    "    " SQL_STARTED_AT(SQL_TS_OR_NOW("$3"))
    "  FROM (SELECT id, status AS old FROM stage_attempts WHERE id = $1) o"
    "  WHERE t.id = o.id AND t.status IN ('pending', 'submitted')"
    "  RETURNING t.id, t.stage_id, o.old),"
    " s AS ("
    "  UPDATE stages st SET " SQL_SET_STATUS("$8", "$9") ","
    "    waiting_reason = NULL"
    "  FROM a WHERE st.id = a.stage_id AND st.status = $7"
    "  RETURNING st.id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $4, 'attempt', a.id, $2::bigint, 'transition', a.old,"
    "    $5::text, NULL, '{}'::jsonb FROM a"
    "  UNION ALL"
    "  SELECT $4, 'stage', s.id, $2::bigint, 'transition', $7::text,"
    "    $8::text, NULL, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM a), " SQL_NOTIFY("e");

/* Where it ran: a known value replaces, an unknown ("") keeps. */
#define ATTEMPT_FACTS(image, node, gpu)					\
    "image_id = coalesce(nullif(" image "::text, ''), t.image_id),"	\
    " node_name = coalesce(nullif(" node "::text, ''), t.node_name),"	\
    " gpu_product = coalesce(nullif(" gpu "::text, ''), t.gpu_product)"

static const char sql_attempt_facts[] =
    "UPDATE stage_attempts t SET " ATTEMPT_FACTS("$2", "$3", "$4")
    " WHERE t.id = $1 AND (coalesce(nullif($2::text, ''), t.image_id),"
    "   coalesce(nullif($3::text, ''), t.node_name),"
    "   coalesce(nullif($4::text, ''), t.gpu_product)) IS DISTINCT FROM"
    "   (t.image_id, t.node_name, t.gpu_product)";

/* The executor's end, never before the start: $6 ms, 0 = now. */
#define ATTEMPT_END							\
    "CASE WHEN $6::bigint > 0 THEN greatest(" SQL_TS("$6") ","		\
    " coalesce(t.started_at, " SQL_TS("$6") ")) ELSE now() END"

static const char sql_attempt_finish[] =
    "WITH a AS ("
    "  UPDATE stage_attempts t SET"
    "    " SQL_SET_STATUS_AT("$2", "$14", ATTEMPT_END) ","
    "    exit_code = nullif($3::int, -1), message = $4,"
    "    submitted_at = CASE WHEN $16::boolean"
    "      THEN coalesce(t.submitted_at, now()) ELSE t.submitted_at END,"
    "    started_at = CASE WHEN $5::bigint > 0 THEN greatest(" SQL_TS("$5")
    ", coalesce(t.started_at, " SQL_TS("$5") ")) ELSE t.started_at END,"
    "    " ATTEMPT_FACTS("$17", "$18", "$19")
    "  FROM (SELECT id, status AS old FROM stage_attempts WHERE id = $1) o"
    "  WHERE t.id = o.id"
    "    AND t.status IN ('pending', 'submitted', 'running')"
    "  RETURNING t.id, o.old),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$9", "$15") ","
    "    message = $10, waiting_reason = $11"
    "  WHERE id = $7 AND status = $8 AND $9::text IS NOT NULL"
    "    AND EXISTS (SELECT 1 FROM a) RETURNING id),"
    " mv AS ("
    "  UPDATE model_versions SET status = $20::text, rejected_reason = $10"
    "  WHERE run_id = $13 AND status = $21 AND $2::text = $22"
    "    AND $9::text = $23 AND EXISTS (SELECT 1 FROM s)"
    "  RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $12, 'attempt', a.id, $13::bigint, 'transition', a.old,"
    "    $2::text, $4, jsonb_build_object('exit_code', nullif($3::int, -1))"
    "    FROM a"
    "  UNION ALL"
    "  SELECT $12, 'stage', s.id, $13::bigint, 'transition', $8::text,"
    "    $9::text, coalesce($10, $11), '{}'::jsonb FROM s"
    "  UNION ALL"
    "  SELECT $12, 'model_version', mv.id, $13::bigint, 'transition',"
    "    $21::text, $20::text, $10, '{}'::jsonb FROM mv" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM a), " SQL_NOTIFY("e");

static const char sql_stage_transition[] =
    "WITH s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$4", "$8") ","
    "    message = coalesce($5, message), waiting_reason = $6"
    "  WHERE id = $1 AND status = $3 RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $7, 'stage', s.id, $2, 'transition', $3::text, $4::text,"
    "    coalesce($5, $6), '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM s), " SQL_NOTIFY("e");

static const char sql_stage_waiting[] =
    "UPDATE stages SET waiting_reason = $2"
    " WHERE id = $1 AND waiting_reason IS DISTINCT FROM $2";

static const char sql_cancel_pending[] =
    "WITH s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$4", "$5") ","
    "    message = 'run canceled', waiting_reason = NULL"
    "  WHERE run_id = $1 AND status = $3 RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'stage', s.id, $1, 'transition', $3::text, $4::text,"
    "    'run canceled', '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM s), " SQL_NOTIFY("e");

static const char sql_attempt_kueue[] =
    "UPDATE stage_attempts SET queue = coalesce($2, queue),"
    "  flavor = coalesce($3, flavor),"
    "  admitted_at = CASE WHEN $4::bigint > 0 THEN " SQL_TS("$4")
    "    ELSE admitted_at END,"
    "  evictions = greatest(evictions, $5::int)"
    " WHERE id = $1 AND status IN ('pending', 'submitted', 'running')"
    "   AND (queue IS DISTINCT FROM coalesce($2, queue)"
    "     OR flavor IS DISTINCT FROM coalesce($3, flavor)"
    "     OR ($4::bigint > 0 AND admitted_at IS DISTINCT FROM " SQL_TS("$4")
    "       ) OR evictions < $5::int)";

static const char sql_attempt_evicted[] =
    "WITH a AS ("
    "  UPDATE stage_attempts SET " SQL_SET_STATUS("$5", "$6") ","
    "    evictions = greatest(evictions, $4::int)"
    "  WHERE id = $1 AND status = $7 RETURNING id, stage_id),"
    " s AS ("
    "  UPDATE stages st SET " SQL_SET_STATUS("$9", "$10") ","
    "    waiting_reason = $3"
    "  FROM a WHERE st.id = a.stage_id AND st.status = $8 AND $12::boolean"
    "  RETURNING st.id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $11, 'attempt', a.id, $2::bigint, 'transition', $7::text,"
    "    $5::text, $3, jsonb_build_object('evicted', true) FROM a"
    "  UNION ALL"
    "  SELECT $11, 'stage', s.id, $2::bigint, 'transition', $8::text,"
    "    $9::text, $3, '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM a), " SQL_NOTIFY("e");

static const char sql_attempt_spec[] =
    "SELECT spec::text FROM stage_attempts WHERE id = $1";

/* A stage's new status and whether it is final: SQL_SET_STATUS's $n, $n+1. */
static void
args_stage_status(struct db_args *a, enum stage_status s)
{
	db_args_str(a, stage_status_name(s));
	db_args_bool(a, stage_status_final(s));
}

/* The status a stage must be in, then args_stage_status() of to. */
static void
args_stage_move(struct db_args *a, enum stage_status from,
    enum stage_status to)
{
	db_args_str(a, stage_status_name(from));
	args_stage_status(a, to);
}

static void
args_attempt_status(struct db_args *a, enum attempt_status s)
{
	db_args_str(a, attempt_status_name(s));
	db_args_bool(a, attempt_status_final(s));
}

/* The three facts as text, "" for unknown (ATTEMPT_FACTS's $n). */
static void
args_facts(struct db_args *a, const struct attempt_facts *f)
{
	db_args_str(a, f->image_id != NULL ? f->image_id : "");
	db_args_str(a, f->node_name != NULL ? f->node_name : "");
	db_args_str(a, f->gpu_product != NULL ? f->gpu_product : "");
}

int
store_attempt_create(struct db *db, const struct attempt_new *an,
    int64_t *attempt_id, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, an->stage_id);
	db_args_str(&a, attempt_kind_name(an->kind));
	db_args_int64(&a, an->step);
	db_args_int64(&a, an->attempt);
	db_args_int64(&a, an->weight);
	db_args_str(&a, an->executor);
	db_args_str(&a, an->job_name);
	db_args_int64(&a, an->gpus);
	db_args_str(&a, an->gpu_resource);
	db_args_str(&a, an->spec);
	db_args_str(&a, an->actor);
	db_args_int64(&a, an->run_id);
	args_stage_move(&a, STAGE_PENDING, STAGE_SUBMITTED);
	return db_exec_guarded(db, sql_attempt_create, &a, attempt_id,
	    "start attempt", err);
}

int
store_attempt_submitted(struct db *db, int64_t attempt_id, int64_t run_id,
    const char *actor, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, run_id);
	db_args_str(&a, actor);
	db_args_str(&a, attempt_status_name(ATTEMPT_PENDING));
	args_attempt_status(&a, ATTEMPT_SUBMITTED);
	return db_exec_guarded(db, sql_attempt_submitted, &a, NULL,
	    "attempt submitted", err);
}

int
store_attempt_running(struct db *db, int64_t attempt_id, int64_t run_id,
    int64_t started_ms, const char *actor, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, started_ms);
	db_args_str(&a, actor);
	args_attempt_status(&a, ATTEMPT_RUNNING);
	args_stage_move(&a, STAGE_SUBMITTED, STAGE_RUNNING);
	return db_exec_guarded(db, sql_attempt_running, &a, NULL,
	    "attempt running", err);
}

int
store_attempt_finish(struct db *db, const struct attempt_end *ae,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	BUG_ON(!attempt_status_final(ae->status));
	db_args_int64(&a, ae->attempt_id);
	db_args_str(&a, attempt_status_name(ae->status));
	db_args_int64(&a, ae->exit_code);
	db_args_str(&a, ae->message);
	db_args_int64(&a, ae->started_ms);
	db_args_int64(&a, ae->finished_ms);
	db_args_int64(&a, ae->stage_id);
	db_args_str(&a, stage_status_name(ae->stage_from));
	db_args_str(&a, ae->stage_moves ? stage_status_name(ae->stage_to) :
	    NULL);
	db_args_str(&a, ae->stage_message);
	db_args_str(&a, ae->waiting_reason);
	db_args_str(&a, ae->actor);
	db_args_int64(&a, ae->run_id);
	db_args_bool(&a, 1);
	db_args_bool(&a, ae->stage_moves && stage_status_final(ae->stage_to));
	/* an attempt that ran was submitted, whatever its row says */
	db_args_bool(&a, ae->status == ATTEMPT_SUCCEEDED || ae->started_ms > 0);
	args_facts(&a, &ae->facts);
	/* a job that succeeded but whose stage fails failed its gates */
	db_args_str(&a, model_status_name(MODEL_REJECTED));
	db_args_str(&a, model_status_name(MODEL_REGISTERED));
	db_args_str(&a, attempt_status_name(ATTEMPT_SUCCEEDED));
	db_args_str(&a, stage_status_name(STAGE_FAILED));
	return db_exec_guarded(db, sql_attempt_finish, &a, NULL,
	    "attempt finished", err);
}

int
store_attempt_facts(struct db *db, int64_t attempt_id,
    const struct attempt_facts *facts, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	args_facts(&a, facts);
	return db_exec(db, sql_attempt_facts, &a, NULL, err);
}

int
store_stage_transition(struct db *db, int64_t stage_id, int64_t run_id,
    enum stage_status from, enum stage_status to, const char *message,
    const char *waiting_reason, const char *actor, struct err *err)
{
	struct db_args a;

	BUG_ON(to == STAGE_SUBMITTED || to == STAGE_RUNNING);
	db_args_init(&a);
	db_args_int64(&a, stage_id);
	db_args_int64(&a, run_id);
	db_args_str(&a, stage_status_name(from));
	db_args_str(&a, stage_status_name(to));
	db_args_str(&a, message);
	db_args_str(&a, waiting_reason);
	db_args_str(&a, actor);
	db_args_bool(&a, stage_status_final(to));
	return db_exec_guarded(db, sql_stage_transition, &a, NULL,
	    "stage transition", err);
}

int
store_stage_waiting(struct db *db, int64_t stage_id, const char *reason,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, stage_id);
	db_args_str(&a, reason);
	return db_exec(db, sql_stage_waiting, &a, NULL, err);
}

int
store_stage_cancel_pending(struct db *db, int64_t run_id, const char *actor,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, run_id);
	db_args_str(&a, actor);
	args_stage_move(&a, STAGE_PENDING, STAGE_CANCELED);
	return db_exec(db, sql_cancel_pending, &a, NULL, err);
}

int
store_attempt_spec(struct db *db, int64_t attempt_id, char **spec,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*spec = NULL;
	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	if ((rc = db_exec(db, sql_attempt_spec, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "attempt %lld not found",
		    (long long)attempt_id);
	else
		*spec = xstrdup(db_res_text(res, 0, 0));
	db_res_free(res);
	return rc;
}

int
store_attempt_kueue(struct db *db, int64_t attempt_id, const char *queue,
    const char *flavor, int64_t admitted_ms, int evictions, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_str(&a, queue != NULL && queue[0] != '\0' ? queue : NULL);
	db_args_str(&a, flavor != NULL && flavor[0] != '\0' ? flavor : NULL);
	db_args_int64(&a, admitted_ms);
	db_args_int64(&a, evictions);
	return db_exec(db, sql_attempt_kueue, &a, NULL, err);
}

int
store_attempt_evicted(struct db *db, int64_t attempt_id, int64_t run_id,
    const char *reason, int evictions, int stage_moves, const char *actor,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, run_id);
	db_args_str(&a, reason);
	db_args_int64(&a, evictions);
	args_attempt_status(&a, ATTEMPT_SUBMITTED);
	db_args_str(&a, attempt_status_name(ATTEMPT_RUNNING));
	args_stage_move(&a, STAGE_RUNNING, STAGE_SUBMITTED);
	db_args_str(&a, actor);
	db_args_bool(&a, stage_moves);
	return db_exec_guarded(db, sql_attempt_evicted, &a, NULL,
	    "attempt evicted", err);
}
