/* store_run.c - runs and stages; see store_run.h. */
#include "store/db.h"
#include "store/status.h"
#include "store/store_run.h"
#include "store/store_sql.h"

static const char sql_create[] =
    "WITH v AS ("
    "  SELECT id, pipeline_id, commit_id, definition FROM pipeline_versions"
    "  WHERE id = $1 AND valid),"
    " r AS ("
    "  INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch,"
    "    trigger, params, parent_run_id, created_by, reason, idempotency_key,"
    "    schedule_slot)"
    "  SELECT v.pipeline_id, v.id, v.commit_id, $2, $3,"
    "    coalesce(v.definition->'spec'->'params', '{}') ||"
    "      coalesce($4::jsonb, '{}'),"
    "    nullif($5::bigint, 0), $6, $7, $8,"
    "    to_timestamp(nullif($9::bigint, 0)) FROM v"
    "  ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, status),"
    " s AS ("
    "  INSERT INTO stages (run_id, name, type, position, needs)"
    "  SELECT r.id, st->>'name', st->>'type', (o - 1)::int,"
    "    ARRAY(SELECT jsonb_array_elements_text(st->'needs'))"
    "  FROM r, v, jsonb_array_elements(v.definition->'spec'->'stages')"
    "    WITH ORDINALITY AS x(st, o)),"
    " e AS (" SQL_EV_COLS
    "  SELECT $6, 'run', r.id, r.id, 'created', NULL, r.status, $7,"
    "    jsonb_build_object('trigger', $3::text) FROM r)"
    " SELECT r.id, true, pg_notify('sluice_runs', r.id::text) FROM r"
    " UNION ALL"
    " SELECT id, false, NULL FROM runs WHERE idempotency_key = $8"
    "   AND NOT EXISTS (SELECT 1 FROM r)";

/*
 * A concurrent caller with the same key: ON CONFLICT waited for its commit,
 * but the statement's snapshot predates it, so sql_create sees no row.  A
 * new statement takes a new snapshot (READ COMMITTED) and finds the run.
 */
static const char sql_by_key[] =
    "SELECT id FROM runs WHERE idempotency_key = $1";

static int
run_by_key(struct db *db, const char *key, int64_t *run_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_str(&a, key);
	if ((rc = db_exec(db, sql_by_key, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = ERR_NOTFOUND;
	else
		rc = db_res_int64(res, 0, 0, run_id, err);
	db_res_free(res);
	return rc;
}

int
store_run_create(struct db *db, const struct run_new *rn, int64_t *run_id,
    int *created, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*run_id = 0;
	*created = 0;
	db_args_init(&a);
	db_args_int64(&a, rn->version_id);
	db_args_str(&a, rn->branch);
	db_args_str(&a, rn->trigger);
	db_args_str(&a, rn->params);
	db_args_int64(&a, rn->parent_run_id);
	db_args_str(&a, rn->created_by);
	db_args_str(&a, rn->reason);
	db_args_str(&a, rn->idempotency_key);
	db_args_int64(&a, rn->schedule_slot);
	if ((rc = db_exec(db, sql_create, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0 && rn->idempotency_key != NULL &&
	    (rc = run_by_key(db, rn->idempotency_key, run_id, err)) !=
	    ERR_NOTFOUND) {
		/* the run of a concurrent caller, or an error */
	} else if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_INVALID,
		    "pipeline version %lld is not valid or does not exist",
		    (long long)rn->version_id);
	} else if ((rc = db_res_int64(res, 0, 0, run_id, err)) == 0) {
		rc = db_res_bool(res, 0, 1, created, err);
	}
	db_res_free(res);
	return rc;
}

static const char sql_cancel[] =
    "WITH r0 AS (SELECT id, status, cancel_requested_at IS NOT NULL AS asked"
    "  FROM runs WHERE id = $1),"
    " u AS ("
    /* a queued run ends at once ($3 -> $4); a started one is asked */
    "  UPDATE runs SET cancel_requested_at = now(), cancel_requested_by = $2,"
    "    status = CASE WHEN status = $3 THEN $4::text ELSE status END,"
    "    finished_at = CASE WHEN status = $3 THEN now()"
    "      ELSE finished_at END,"
    "    message = CASE WHEN status = $3"
    "      THEN 'canceled before it started' ELSE message END"
    "  WHERE id = $1 AND status IN ('queued', 'running', 'waiting_approval')"
    "    AND cancel_requested_at IS NULL RETURNING id, status),"
    " s AS ("
    "  UPDATE stages SET " SQL_SET_STATUS("$6", "$7") ","
    "    message = 'run canceled'"
    "  WHERE run_id = $1 AND status = $5"
    "    AND EXISTS (SELECT 1 FROM u WHERE u.status = $4)"
    "  RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'run', u.id, u.id, 'cancel_requested', r0.status,"
    "    r0.status, NULL, '{}'::jsonb FROM u, r0 WHERE u.status <> $4"
    "  UNION ALL"
    "  SELECT $2, 'run', u.id, u.id, 'transition', $3::text, $4::text,"
    "    'canceled before it started', '{}'::jsonb FROM u"
    "  WHERE u.status = $4"
    "  UNION ALL"
    "  SELECT $2, 'stage', s.id, $1, 'transition', $5::text, $6::text,"
    "    'run canceled', '{}'::jsonb FROM s" SQL_EV_RETURNING ")"
    " SELECT (SELECT status FROM r0), (SELECT count(*) FROM u),"
    "  (SELECT count(pg_notify('sluice_runs', id::text)) FROM u), "
    SQL_NOTIFY("e");

static const char sql_retry_check[] =
    "SELECT status FROM runs WHERE id = $1";

static const char sql_retry[] =
    "WITH p AS (SELECT * FROM runs WHERE id = $1"
    "  AND status IN ('failed', 'canceled')),"
    " r AS ("
    "  INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch,"
    "    trigger, params, parent_run_id, created_by, reason)"
    "  SELECT pipeline_id, pipeline_version_id, commit_id, branch, 'retry',"
    "    params, id, $2, 'retry of run ' || id FROM p RETURNING id, status),"
    " s AS ("
    "  INSERT INTO stages (run_id, name, type, position, needs, status,"
    "    reused_from_stage_id, started_at, finished_at, message)"
    "  SELECT r.id, ps.name, ps.type, ps.position, ps.needs,"
    /* a stage that succeeded ($3) is reused, the others are $4 */
    "    CASE WHEN ps.status = $3 THEN $3::text ELSE $4::text END,"
    "    CASE WHEN ps.status = $3"
    "      THEN coalesce(ps.reused_from_stage_id, ps.id) END,"
    "    CASE WHEN ps.status = $3 THEN ps.started_at END,"
    "    CASE WHEN ps.status = $3 THEN ps.finished_at END,"
    "    CASE WHEN ps.status = $3"
    "      THEN 'reused from run ' || $1::bigint END"
    "  FROM r, stages ps WHERE ps.run_id = $1),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'run', r.id, r.id, 'created', NULL, r.status,"
    "    'retry of run ' || $1::bigint, jsonb_build_object('trigger',"
    "    'retry', 'parent_run', $1::bigint) FROM r" SQL_EV_RETURNING ")"
    " SELECT r.id, pg_notify('sluice_runs', r.id::text), " SQL_NOTIFY("e")
    " FROM r";

/*
 * Admission (docs/engine.md, "The loop"), reading only what it may
 * start: h walks the pipelines that have queued runs (a skip scan of
 * runs_queued, one probe each), room is how many of its queue each may
 * start (the concurrency of its oldest queued run's version, less its
 * started runs, counted in runs_started), and pick reads that many of
 * each queue, oldest first, and keeps the oldest $1 of them all.
 */
static const char sql_admit[] =
    "WITH RECURSIVE h(pid, id) AS ("
    "  (SELECT pipeline_id, id FROM runs WHERE status = 'queued'"
    "   ORDER BY pipeline_id, id LIMIT 1)"
    "  UNION ALL"
    "  SELECT n.pipeline_id, n.id FROM h CROSS JOIN LATERAL ("
    "    SELECT r.pipeline_id, r.id FROM runs r"
    "    WHERE r.status = 'queued' AND r.pipeline_id > h.pid"
    "    ORDER BY r.pipeline_id, r.id LIMIT 1) n),"
    " room AS ("
    "  SELECT h.pid, CASE WHEN c.c = 0 THEN $1::int"
    "    ELSE least($1::int, greatest(c.c - act.n, 0)) END AS n"
    "  FROM h JOIN runs hr ON hr.id = h.id"
    "  CROSS JOIN LATERAL (SELECT coalesce("
    "    (v.definition->'spec'->>'concurrency')::int, 1) AS c"
    "    FROM pipeline_versions v WHERE v.id = hr.pipeline_version_id) c"
    "  CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM runs a"
    "    WHERE a.pipeline_id = h.pid"
    "      AND a.status IN ('running', 'waiting_approval')) act),"
    " pick AS ("
    "  SELECT q.id FROM room CROSS JOIN LATERAL ("
    "    SELECT r.id FROM runs r WHERE r.pipeline_id = room.pid"
    "      AND r.status = 'queued' ORDER BY r.id LIMIT room.n) q"
    "  ORDER BY q.id LIMIT $1),"
    " u AS ("
    "  UPDATE runs r SET " SQL_SET_STATUS("$4", "$5") ","
    "    " SQL_STARTED_AT("now()")
    "  FROM pick WHERE r.id = pick.id AND r.status = $3"
    "  RETURNING r.id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'run', id, id, 'transition', $3::text, $4::text, NULL,"
    "    '{}'::jsonb FROM u" SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM u), " SQL_NOTIFY("e");

const char *
store_run_admit_sql(void)
{
	return sql_admit;
}

static const char sql_transition[] =
    "WITH r AS ("
    "  UPDATE runs SET " SQL_SET_STATUS("$3", "$6") ","
    "    message = coalesce($4, message)"
    "  WHERE id = $1 AND status = $2 RETURNING id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $5, 'run', id, id, 'transition', $2::text, $3::text, $4,"
    "    '{}'::jsonb FROM r"
    SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM r), " SQL_NOTIFY("e");

int
store_run_request_cancel(struct db *db, int64_t run_id, const char *actor,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	enum run_status old = RUN_QUEUED;
	const char *status;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, run_id);
	db_args_str(&a, actor);
	db_args_str(&a, run_status_name(RUN_QUEUED));
	db_args_str(&a, run_status_name(RUN_CANCELED));
	db_args_str(&a, stage_status_name(STAGE_PENDING));
	db_args_str(&a, stage_status_name(STAGE_CANCELED));
	db_args_bool(&a, stage_status_final(STAGE_CANCELED));
	if ((rc = db_exec(db, sql_cancel, &a, &res, err)) < 0)
		return rc;
	status = db_res_text(res, 0, 0);
	if ((rc = db_res_int64(res, 0, 1, &n, err)) < 0)
		goto out;
	if (status == NULL)
		rc = err_set(err, ERR_NOTFOUND, "run %lld not found",
		    (long long)run_id);
	else if ((rc = run_status_parse(status, &old, err)) < 0)
		goto out;
	else if (n == 0 && run_status_final(old))
		rc = err_set(err, ERR_CONFLICT, "run %lld has already finished "
		    "(%s)", (long long)run_id, status);
out:
	db_res_free(res);
	return rc;
}

int
store_run_retry(struct db *db, int64_t run_id, const char *actor,
    int64_t *new_run_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	enum run_status old = RUN_QUEUED;
	const char *status;
	int rc;

	*new_run_id = 0;
	db_args_init(&a);
	db_args_int64(&a, run_id);
	if ((rc = db_exec(db, sql_retry_check, &a, &res, err)) < 0)
		return rc;
	status = db_res_rows(res) > 0 ? db_res_text(res, 0, 0) : NULL;
	if (status == NULL)
		rc = err_set(err, ERR_NOTFOUND, "run %lld not found",
		    (long long)run_id);
	else if ((rc = run_status_parse(status, &old, err)) == 0 &&
	    old != RUN_FAILED && old != RUN_CANCELED)
		rc = err_set(err, ERR_CONFLICT, "run %lld is %s: only a failed "
		    "or canceled run can be retried", (long long)run_id, status);
	db_res_free(res);
	res = NULL;
	if (rc < 0)
		return rc;
	db_args_str(&a, actor);
	db_args_str(&a, stage_status_name(STAGE_SUCCEEDED));
	db_args_str(&a, stage_status_name(STAGE_PENDING));
	if ((rc = db_exec_int64(db, sql_retry, &a, new_run_id, err)) ==
	    ERR_NOTFOUND)
		rc = err_set(err, ERR_CONFLICT, "run %lld can no longer be "
		    "retried", (long long)run_id);
	return rc;
}

int
store_run_admit(struct db *db, int limit, const char *actor, int *started,
    struct err *err)
{
	struct db_args a;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, limit);
	db_args_str(&a, actor);
	db_args_str(&a, run_status_name(RUN_QUEUED));
	db_args_str(&a, run_status_name(RUN_RUNNING));
	db_args_bool(&a, run_status_final(RUN_RUNNING));
	rc = db_exec_int64(db, sql_admit, &a, &n, err);
	*started = (int)n;
	return rc;
}

int
store_run_transition(struct db *db, int64_t run_id, enum run_status from,
    enum run_status to, const char *message, const char *actor,
    struct err *err)
{
	struct db_args a;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, run_id);
	db_args_str(&a, run_status_name(from));
	db_args_str(&a, run_status_name(to));
	db_args_str(&a, message);
	db_args_str(&a, actor);
	db_args_bool(&a, run_status_final(to));
	rc = db_exec_int64(db, sql_transition, &a, &n, err);
	if (rc == 0 && n == 0)
		rc = err_set(err, ERR_CONFLICT, "run %lld is no longer %s",
		    (long long)run_id, run_status_name(from));
	return rc;
}

int
store_run_is_active(struct db *db, int64_t run_id, int *active,
    struct err *err)
{
	static const char sql[] =
	    "SELECT count(*) FROM runs WHERE id = $1"
	    " AND status IN ('queued', 'running', 'waiting_approval')";
	struct db_args a;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, run_id);
	rc = db_exec_int64(db, sql, &a, &n, err);
	*active = n > 0;
	return rc;
}
