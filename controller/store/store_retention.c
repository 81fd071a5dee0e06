/*
 * store_retention.c - retention's plan and deletions; see
 * store_retention.h.
 *
 * The plan reads each pipeline's runs newest first by runs_pipeline_newest
 * and looks up every reason to keep a run by an index keyed by the run
 * (model_versions_run, approvals_run, rollouts_run); what kept runs need
 * is a recursive walk over runs_parent, stages_reused_from and the
 * rollouts' model version indexes.
 *
 * Events are append-only by trigger.  The deletion sets the transaction's
 * sluice.retention, deletes the runs first, and only then their events:
 * the trigger lets a DELETE through for a non-audit event of a run that no
 * longer exists, in a transaction that set it, and for nothing else
 * (migrations, 0006_retention_audit.sql).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_retention.h"

const char store_retention_plan_sql[] =
    "WITH RECURSIVE pol AS (SELECT * FROM ("
    "  SELECT p.id, p.name,"
    "   coalesce((v.definition->'spec'->'retention'->>'keep_runs')::bigint,"
    "     $1::bigint) AS keep_runs,"
    "   coalesce((v.definition->'spec'->'retention'->>'max_age_ms')::bigint,"
    "     $2::bigint) AS max_age_ms"
    "  FROM pipelines p LEFT JOIN LATERAL (SELECT w.definition"
    "    FROM pipeline_versions w WHERE w.pipeline_id = p.id AND w.valid"
    "    ORDER BY w.id DESC LIMIT 1) v ON true) x"
    "  WHERE x.keep_runs > 0 OR x.max_age_ms > 0),"
    " past AS ("
    "  SELECT r.id, pol.name AS pipeline, r.status, r.created_at,"
    "   CASE WHEN pol.keep_runs > 0 AND r.n > pol.keep_runs"
    "     THEN 'beyond keep_runs ' || pol.keep_runs"
    "     ELSE 'older than max_age' END AS past"
    "  FROM pol CROSS JOIN LATERAL (SELECT x.id, x.status, x.created_at,"
    "    row_number() OVER (ORDER BY x.id DESC) AS n FROM runs x"
    "    WHERE x.pipeline_id = pol.id ORDER BY x.id DESC) r"
    "  WHERE (pol.keep_runs > 0 AND r.n > pol.keep_runs)"
    "   OR (pol.max_age_ms > 0"
    "     AND r.created_at < now() - pol.max_age_ms * interval '1 ms')),"
    " prot AS ("
    "  SELECT p.id, coalesce("
    "   CASE WHEN p.status IN ('queued', 'running', 'waiting_approval')"
    "     THEN 'not finished' END,"
    "   (SELECT 'model ' || m.name || ' v' || m.version || ' is '"
    "     || m.status FROM model_versions m WHERE m.run_id = p.id"
    "     AND m.status IN ('production', 'candidate') ORDER BY m.id LIMIT 1),"
    "   (SELECT 'approval ' || a.id || ' is pending' FROM approvals a"
    "     WHERE a.run_id = p.id AND a.status = 'pending'"
    "     ORDER BY a.id LIMIT 1),"
    "   (SELECT 'approval ' || a.id || ' was ' || a.status || ' by '"
    "     || a.decided_by FROM approvals a WHERE a.run_id = p.id"
    "     AND a.decided_by IS NOT NULL ORDER BY a.id LIMIT 1),"
    "   (SELECT 'model ' || m.name || ' v' || m.version"
    "     || ' was in production' FROM model_versions m"
    "     WHERE m.run_id = p.id AND m.promoted_at IS NOT NULL"
    "     ORDER BY m.id LIMIT 1),"
    "   (SELECT 'rollout ' || ro.id || CASE WHEN ro.status = 'rolled_back'"
    "     THEN ' was rolled back' ELSE ' was acted on by '"
    "     || coalesce(ro.action_by, ro.paused_by) END FROM rollouts ro"
    "     WHERE ro.run_id = p.id AND (ro.status = 'rolled_back'"
    "     OR ro.action IS NOT NULL OR ro.paused_by IS NOT NULL)"
    "     ORDER BY ro.id LIMIT 1),"
    "   (SELECT 'model ' || m.name || ' v' || m.version"
    "     || ' is the newest version of ' || m.name FROM model_versions m"
    "     WHERE m.run_id = p.id AND m.version = (SELECT max(m2.version)"
    "     FROM model_versions m2 WHERE m2.name = m.name)"
    "     ORDER BY m.id LIMIT 1)) AS kept"
    "  FROM past p),"
    " cand AS (SELECT id FROM prot WHERE kept IS NULL),"
    " refs AS ("
    "  SELECT x.id AS from_run, x.parent_run_id AS to_run,"
    "   'its retry, run ' || x.id || ', is kept' AS why"
    "  FROM runs x WHERE x.parent_run_id IN (SELECT id FROM cand)"
    "  UNION ALL"
    "  SELECT s.run_id, rs.run_id, 'run ' || s.run_id"
    "   || ' reuses its stage ' || rs.name FROM stages rs"
    "   JOIN stages s ON s.reused_from_stage_id = rs.id"
    "  WHERE rs.run_id IN (SELECT id FROM cand) AND s.run_id <> rs.run_id"
    "  UNION ALL"
    "  SELECT ro.run_id, m.run_id, 'rollout ' || ro.id || ' of run '"
    "   || ro.run_id || ' names model ' || m.name || ' v' || m.version"
    "  FROM model_versions m JOIN rollouts ro"
    "   ON ro.model_version_id = m.id OR ro.previous_model_version_id = m.id"
    "  WHERE m.run_id IN (SELECT id FROM cand) AND ro.run_id <> m.run_id),"
    " need (id, why) AS ("
    "  SELECT f.to_run, f.why FROM refs f"
    "  WHERE f.from_run NOT IN (SELECT id FROM cand)"
    "  UNION"
    "  SELECT f.to_run, f.why FROM need n JOIN refs f ON f.from_run = n.id)"
    " SELECT q.id, q.pipeline, q.status, rfc3339(q.created_at), q.past,"
    "  q.kept FROM (SELECT p.id, p.pipeline, p.status, p.created_at,"
    "   p.past, coalesce(pr.kept, (SELECT min(n.why) FROM need n"
    "     WHERE n.id = p.id)) AS kept"
    "  FROM past p JOIN prot pr ON pr.id = p.id) q"
    " WHERE NOT $3::boolean OR q.kept IS NULL"
    " ORDER BY q.id LIMIT $4::bigint";

int
store_retention_plan(struct db *db, const struct retention_defaults *d,
    int only_deletable, int64_t limit, struct retention_run **out, size_t *n,
    struct err *err)
{
	struct retention_run *rows = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	size_t nr;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, d->keep_runs);
	db_args_int64(&a, d->max_age_ms);
	db_args_bool(&a, only_deletable);
	db_args_int64(&a, limit);
	if ((rc = db_exec(db, store_retention_plan_sql, &a, &res, err)) < 0)
		return rc;
	nr = db_res_rows(res);
	rows = xcalloc(nr > 0 ? nr : 1, sizeof(*rows));
	for (size_t i = 0; i < nr; i++) {
		struct retention_run *r = &rows[i];

		if ((rc = db_res_int64(res, i, 0, &r->id, err)) < 0)
			goto out;
		(void)str_copy(r->pipeline, sizeof(r->pipeline),
		    db_res_text(res, i, 1));
		(void)str_copy(r->status, sizeof(r->status),
		    db_res_text(res, i, 2));
		(void)str_copy(r->created_at, sizeof(r->created_at),
		    db_res_text(res, i, 3));
		(void)str_copy(r->past, sizeof(r->past), db_res_text(res, i, 4));
		if (!db_res_is_null(res, i, 5))
			(void)str_copy(r->kept, sizeof(r->kept),
			    db_res_text(res, i, 5));
	}
	*out = rows;
	*n = nr;
	rows = NULL;
out:
	free(rows);
	db_res_free(res);
	return rc;
}

/* Lock what a deletion reads, so nothing gains a reason to stay meanwhile. */
static const char sql_lock[] =
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM runs"
    "   WHERE id = ANY ($1::bigint[]) FOR UPDATE) x)"
    " + (SELECT count(*) FROM (SELECT 1 FROM model_versions"
    "   WHERE run_id = ANY ($1::bigint[]) FOR UPDATE) y)"
    " + (SELECT count(*) FROM (SELECT 1 FROM approvals"
    "   WHERE run_id = ANY ($1::bigint[]) FOR UPDATE) z)";

static const char sql_counts[] =
    "SELECT (SELECT count(*) FROM stages WHERE run_id = ANY ($1::bigint[])),"
    " (SELECT count(*) FROM stages s JOIN stage_attempts a"
    "   ON a.stage_id = s.id WHERE s.run_id = ANY ($1::bigint[])),"
    " (SELECT coalesce(sum(h.bytes), 0) FROM stages s JOIN stage_attempts a"
    "   ON a.stage_id = s.id JOIN attempt_log_heads h ON h.attempt_id = a.id"
    "   WHERE s.run_id = ANY ($1::bigint[]))";

static const char sql_jobs[] =
    "SELECT a.job_name FROM stages s JOIN stage_attempts a"
    " ON a.stage_id = s.id WHERE s.run_id = ANY ($1::bigint[])";

static const char sql_retention_on[] =
    "SELECT set_config('sluice.retention', 'on', true)";

/* Rollouts first (their approvals go with them), then model versions. */
static const char sql_del_rollouts[] =
    "DELETE FROM rollouts WHERE run_id = ANY ($1::bigint[])";
static const char sql_del_models[] =
    "DELETE FROM model_versions WHERE run_id = ANY ($1::bigint[])";
static const char sql_del_runs[] =
    "DELETE FROM runs WHERE id = ANY ($1::bigint[])";
static const char sql_del_events[] =
    "DELETE FROM events WHERE run_id = ANY ($1::bigint[])"
    " AND event_audit_kind(entity_type, action, to_state, data) IS NULL";

static const char sql_totals_add[] =
    "UPDATE retention_totals SET runs = runs + $1, stages = stages + $2,"
    " attempts = attempts + $3, model_versions = model_versions + $4,"
    " events = events + $5, log_bytes = log_bytes + $6,"
    " last_sweep_at = now()";

static const char sql_totals[] =
    "SELECT runs, stages, attempts, model_versions, events, log_bytes"
    " FROM retention_totals";

/* ids as a PostgreSQL array literal into out. */
static int
id_array(struct buf *out, const int64_t *ids, size_t n)
{
	int rc = buf_putc(out, '{');

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = buf_printf(out, "%s%lld", i > 0 ? "," : "",
		    (long long)ids[i]);
	if (rc == 0)
		rc = buf_putc(out, '}');
	return rc;
}

static int
contains(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int
store_retention_delete(struct db *db, const struct retention_defaults *d,
    const int64_t *ids, size_t n, struct retention_counts *counts,
    char ***jobs, size_t *njobs, int64_t **runs_out, size_t *nruns,
    struct err *err)
{
	struct retention_run *plan = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	struct buf arr;
	int64_t *keep = NULL, v;
	char **names = NULL;
	size_t nplan = 0, nkeep = 0, nnames = 0;
	int rc;

	memset(counts, 0, sizeof(*counts));
	*jobs = NULL;
	*njobs = 0;
	*runs_out = NULL;
	*nruns = 0;
	buf_init(&arr, LIM_HTTP_BODY);
	if (n == 0)
		return 0;
	if ((rc = id_array(&arr, ids, n)) < 0) {
		rc = err_set(err, rc, "too many runs in one deletion");
		goto out;
	}
	if ((rc = db_begin(db, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, arr.data);
	if ((rc = db_exec(db, sql_retention_on, NULL, NULL, err)) < 0 ||
	    (rc = db_exec(db, sql_lock, &a, NULL, err)) < 0)
		goto out;
	/* again, under the locks: only what is still deletable goes */
	if ((rc = store_retention_plan(db, d, 1, INT64_MAX, &plan, &nplan,
	    err)) < 0)
		goto out;
	keep = xcalloc(n, sizeof(*keep));
	for (size_t i = 0; i < nplan; i++)
		if (contains(ids, n, plan[i].id))
			keep[nkeep++] = plan[i].id;
	if (nkeep == 0)
		goto commit;
	buf_reset(&arr);
	if ((rc = id_array(&arr, keep, nkeep)) < 0) {
		rc = err_set(err, rc, "too many runs in one deletion");
		goto out;
	}
	db_args_init(&a);
	db_args_str(&a, arr.data);
	if ((rc = db_exec(db, sql_counts, &a, &res, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 0, &counts->stages, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 1, &counts->attempts, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 2, &counts->log_bytes, err)) < 0)
		goto out;
	db_res_free(res);
	res = NULL;
	if ((rc = db_exec(db, sql_jobs, &a, &res, err)) < 0)
		goto out;
	nnames = db_res_rows(res);
	names = xcalloc(nnames > 0 ? nnames : 1, sizeof(*names));
	for (size_t i = 0; i < nnames; i++)
		names[i] = xstrdup(db_res_text(res, i, 0));
	if ((rc = db_exec_changed(db, sql_del_rollouts, &a, &v, err)) < 0 ||
	    (rc = db_exec_changed(db, sql_del_models, &a,
	    &counts->model_versions, err)) < 0 ||
	    (rc = db_exec_changed(db, sql_del_runs, &a, &counts->runs,
	    err)) < 0 ||
	    (rc = db_exec_changed(db, sql_del_events, &a, &counts->events,
	    err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_int64(&a, counts->runs);
	db_args_int64(&a, counts->stages);
	db_args_int64(&a, counts->attempts);
	db_args_int64(&a, counts->model_versions);
	db_args_int64(&a, counts->events);
	db_args_int64(&a, counts->log_bytes);
	if ((rc = db_exec(db, sql_totals_add, &a, NULL, err)) < 0)
		goto out;
commit:
	if ((rc = db_commit(db, err)) < 0)
		goto out;
	*jobs = names;
	*njobs = nnames;
	names = NULL;
	nnames = 0;
	*runs_out = keep;
	*nruns = nkeep;
	keep = NULL;
out:
	if (rc < 0) {
		db_rollback(db);
		memset(counts, 0, sizeof(*counts));
	}
	for (size_t i = 0; names != NULL && i < nnames; i++)
		free(names[i]);
	free(names);
	free(keep);
	free(plan);
	db_res_free(res);
	buf_release(&arr);
	return rc;
}

int
store_retention_totals(struct db *db, struct retention_counts *out,
    struct err *err)
{
	struct db_res *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_exec(db, sql_totals, NULL, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		goto out;
	if ((rc = db_res_int64(res, 0, 0, &out->runs, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 1, &out->stages, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 2, &out->attempts, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 3, &out->model_versions, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 4, &out->events, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 5, &out->log_bytes, err)) < 0)
		goto out;
out:
	db_res_free(res);
	return rc;
}

/*
 * VACUUM what retention deletes from, so that the space of the deleted
 * rows (and their TOAST: the kept logs) is reused at once rather than
 * when autovacuum next comes by; SKIP_LOCKED, so a busy table is left to
 * autovacuum.  Never inside a transaction.
 */
static const char sql_vacuum[] =
    "VACUUM (SKIP_LOCKED) runs, stages, stage_attempts, metrics, artifacts,"
    " attempt_log_heads, attempt_log_chunks, rollouts, approvals,"
    " model_versions, events";

int
store_retention_vacuum(struct db *db, struct err *err)
{
	return db_exec(db, sql_vacuum, NULL, NULL, err);
}
