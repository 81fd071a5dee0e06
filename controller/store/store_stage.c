/* store_stage.c - stages and stage attempts; see store_stage.h. */
#include <stdlib.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "store/db.h"
#include "store/store_sql.h"
#include "store/store_stage.h"

/*
 * $1: the attempts, a JSON array of objects (o: their place in the
 * caller's array); each moves its stage pending -> submitted.  One row
 * per attempt created: its place and its id.
 */
static const char sql_attempts_create[] =
    "WITH x AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(o int, stage bigint,"
    "    run bigint, kind text, step int, attempt int, weight int,"
    "    executor text, job text, gpus int, gpu_resource text, spec text)),"
    " s AS ("
    "  UPDATE stages st SET " SQL_SET_STATUS("$4", "$5") ","
    "    " SQL_STARTED_AT("now()") ", waiting_reason = NULL"
    "  FROM x WHERE st.id = x.stage AND st.status = $3"
    "  RETURNING st.id),"
    " a AS ("
    "  INSERT INTO stage_attempts (stage_id, kind, step, attempt, weight,"
    "    executor, job_name, gpus, gpu_resource, spec)"
    "  SELECT x.stage, x.kind, x.step, x.attempt, nullif(x.weight, -1),"
    "    x.executor, x.job, x.gpus, x.gpu_resource, x.spec::jsonb"
    "  FROM x JOIN s ON s.id = x.stage ORDER BY x.o"
    "  RETURNING id, stage_id, status),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'stage', x.stage, x.run, 'transition', $3::text,"
    "    $4::text, NULL, jsonb_build_object('attempt', x.attempt,"
    "    'job', x.job) FROM x JOIN a ON a.stage_id = x.stage"
    "  UNION ALL"
    "  SELECT $2, 'attempt', a.id, x.run, 'created', NULL, a.status,"
    "    NULL, jsonb_build_object('job', x.job, 'kind', x.kind,"
    "    'attempt', x.attempt) FROM x JOIN a ON a.stage_id = x.stage"
    SQL_EV_RETURNING "),"
    " n AS (SELECT " SQL_NOTIFY("e") " AS n)"
    " SELECT x.o, a.id, n.n FROM x JOIN a ON a.stage_id = x.stage, n"
    " ORDER BY x.o";

/* $1: attempt ids, $2: their runs' ids (bigint[] each, in step). */
static const char sql_attempts_submitted[] =
    "WITH x AS ("
    "  SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS x(id, run)),"
    " a AS ("
    "  UPDATE stage_attempts t SET " SQL_SET_STATUS("$5", "$6") ","
    "    submitted_at = now()"
    "  FROM x WHERE t.id = x.id AND t.status = $4 RETURNING t.id, x.run),"
    " e AS (" SQL_EV_COLS
    "  SELECT $3, 'attempt', a.id, a.run, 'transition', $4::text, $5::text,"
    "    NULL, '{}'::jsonb FROM a ORDER BY a.id)"
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

static const char sql_attempts_spec[] =
    "SELECT x.o, t.spec::text"
    " FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, o)"
    " JOIN stage_attempts t ON t.id = x.id";

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

/* The attempts an as sql_attempts_create's $1 (*out owned, free()). */
static int
attempts_json(const struct attempt_new *an, size_t n, char **out,
    struct err *err)
{
	json_t *arr = json_array();
	int bad = arr == NULL;

	*out = NULL;
	for (size_t i = 0; i < n && !bad; i++) {
		const struct attempt_new *x = &an[i];

		bad |= json_array_append_new(arr, json_pack("{sIsIsIsssisisisssssisoss}",
		    "o", (json_int_t)i, "stage", (json_int_t)x->stage_id,
		    "run", (json_int_t)x->run_id,
		    "kind", attempt_kind_name(x->kind), "step", x->step,
		    "attempt", x->attempt, "weight", x->weight,
		    "executor", x->executor, "job", x->job_name,
		    "gpus", x->gpus, "gpu_resource", x->gpu_resource != NULL ?
		    json_string(x->gpu_resource) : json_null(),
		    "spec", x->spec));
	}
	if (!bad)
		*out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (*out == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

int
store_attempts_create(struct db *db, const struct attempt_new *an, size_t n,
    int64_t *ids, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	char *json = NULL;
	int rc;

	for (size_t i = 0; i < n; i++)
		ids[i] = 0;
	if (n == 0)
		return 0;
	BUG_ON(n > LIM_ENGINE_START_BATCH);
	if ((rc = attempts_json(an, n, &json, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_str(&a, json);
	db_args_str(&a, an[0].actor);
	args_stage_move(&a, STAGE_PENDING, STAGE_SUBMITTED);
	if ((rc = db_exec(db, sql_attempts_create, &a, &res, err)) < 0)
		goto out;
	for (size_t r = 0; r < db_res_rows(res); r++) {
		int64_t o, id;

		if ((rc = db_res_int64(res, r, 0, &o, err)) < 0 ||
		    (rc = db_res_int64(res, r, 1, &id, err)) < 0)
			goto out;
		if (o < 0 || (size_t)o >= n) {
			rc = err_set(err, ERR_INVALID, "attempt %lld out of the "
			    "batch", (long long)o);
			goto out;
		}
		ids[o] = id;
	}
out:
	db_res_free(res);
	free(json);
	return rc;
}

int
store_attempt_create(struct db *db, const struct attempt_new *an,
    int64_t *attempt_id, struct err *err)
{
	int rc;

	if ((rc = store_attempts_create(db, an, 1, attempt_id, err)) < 0)
		return rc;
	if (*attempt_id == 0)
		return err_set(err, ERR_CONFLICT, "start attempt: the state "
		    "changed meanwhile");
	return 0;
}

int
store_attempts_submitted(struct db *db, const int64_t *ids,
    const int64_t *run_ids, size_t n, const char *actor, struct err *err)
{
	struct buf id_arr, run_arr;
	struct db_args a;
	int rc;

	if (n == 0)
		return 0;
	buf_init(&id_arr, 64 * 1024 * 1024);
	buf_init(&run_arr, 64 * 1024 * 1024);
	if ((rc = db_int64_array(&id_arr, ids, n, err)) < 0 ||
	    (rc = db_int64_array(&run_arr, run_ids, n, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, id_arr.data);
	db_args_str(&a, run_arr.data);
	db_args_str(&a, actor);
	db_args_str(&a, attempt_status_name(ATTEMPT_PENDING));
	args_attempt_status(&a, ATTEMPT_SUBMITTED);
	rc = db_exec(db, sql_attempts_submitted, &a, NULL, err);
out:
	buf_release(&id_arr);
	buf_release(&run_arr);
	return rc;
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
store_attempts_spec(struct db *db, const int64_t *ids, size_t n,
    char **specs, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf arr;
	int rc;

	for (size_t i = 0; i < n; i++)
		specs[i] = NULL;
	if (n == 0)
		return 0;
	buf_init(&arr, 64 * 1024 * 1024);
	if ((rc = db_int64_array(&arr, ids, n, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, arr.data);
	if ((rc = db_exec(db, sql_attempts_spec, &a, &res, err)) < 0)
		goto out;
	for (size_t r = 0; r < db_res_rows(res); r++) {
		int64_t o;

		if ((rc = db_res_int64(res, r, 0, &o, err)) < 0)
			goto out;
		if (o >= 1 && (size_t)o <= n && specs[o - 1] == NULL)
			specs[o - 1] = xstrdup(db_res_text(res, r, 1));
	}
out:
	db_res_free(res);
	buf_release(&arr);
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
