/* store_stats.c - numbers for /metrics; see store_stats.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_sql.h"
#include "store/store_stats.h"

static const char sql_runs[] =
    "SELECT p.name, r.status, count(*) FROM runs r"
    " JOIN pipelines p ON p.id = r.pipeline_id GROUP BY 1, 2";

static const char sql_totals[] =
    "SELECT (SELECT count(*) FROM runs WHERE status = 'queued'),"
    " (SELECT coalesce(sum(gpus), 0) FROM stage_attempts"
    "   WHERE status IN ('submitted', 'running')),"
    " (SELECT count(*) FROM approvals WHERE status = 'pending')";

/* Pipelines whose newest version is invalid, and unnamed invalid files. */
static const char sql_invalid[] =
    "SELECT r.name, count(i.repository_id), 0 FROM repositories r"
    " LEFT JOIN (SELECT p.repository_id FROM pipelines p"
    "   JOIN pipeline_versions v ON v.id = p.latest_version_id"
    "   WHERE p.deleted_at IS NULL AND NOT v.valid"
    "   UNION ALL SELECT x.repository_id FROM " SQL_UNNAMED_INVALID_FILES " x"
    " ) i ON i.repository_id = r.id"
    " WHERE r.deleted_at IS NULL GROUP BY r.name";

static const char sql_repos[] =
    "SELECT name, consecutive_failures,"
    " coalesce(extract(epoch FROM last_success_at), 0)"
    " FROM repositories WHERE deleted_at IS NULL";

/*
 * A job stage's duration is its last attempt's run time, as the executor
 * reported it (the container's start and end on Kubernetes), not the
 * time it waited for a node or for Kueue; a canary stage's is its own.
 */
static const char sql_durations[] =
    "SELECT p.name, s.name,"
    " extract(epoch FROM coalesce(a.finished_at - a.started_at,"
    "   s.finished_at - s.started_at)),"
    " (extract(epoch FROM s.finished_at) * 1000000)::bigint"
    " FROM stages s JOIN runs r ON r.id = s.run_id"
    " JOIN pipelines p ON p.id = r.pipeline_id"
    " LEFT JOIN LATERAL (SELECT t.started_at, t.finished_at"
    "   FROM stage_attempts t WHERE t.stage_id = s.id AND t.kind = 'job'"
    "     AND t.started_at IS NOT NULL AND t.finished_at IS NOT NULL"
    "   ORDER BY t.attempt DESC LIMIT 1) a ON true"
    " WHERE s.status IN ('succeeded', 'failed') AND s.started_at IS NOT NULL"
    "   AND s.reused_from_stage_id IS NULL"
    "   AND s.finished_at > to_timestamp($1::bigint / 1000000.0)"
    " ORDER BY s.finished_at LIMIT $2";

/*
 * Rows of a 3-column result into stats_row: with_b, (a, b, v); without,
 * (a, v, w).
 */
static int
query_rows(struct db *db, const char *sql, int with_b,
    struct stats_row **out, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct stats_row *r = NULL;
	size_t rows = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = db_exec(db, sql, NULL, &res, err)) < 0)
		return rc;
	rows = db_res_rows(res);
	r = xcalloc(rows + 1, sizeof(*r));
	for (size_t i = 0; i < rows && rc == 0; i++) {
		(void)str_copy(r[i].a, sizeof(r[i].a), db_res_text(res, i, 0));
		if (with_b) {
			(void)str_copy(r[i].b, sizeof(r[i].b),
			    db_res_text(res, i, 1));
			rc = db_res_double(res, i, 2, &r[i].v, err);
		} else if ((rc = db_res_double(res, i, 1, &r[i].v, err)) == 0) {
			rc = db_res_double(res, i, 2, &r[i].w, err);
		}
	}
	db_res_free(res);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	*n = rows;
	return 0;
}

int
store_stats_runs(struct db *db, struct stats_row **out, size_t *n,
    struct err *err)
{
	return query_rows(db, sql_runs, 1, out, n, err);
}

int
store_stats_repos(struct db *db, struct stats_row **out, size_t *n,
    struct err *err)
{
	return query_rows(db, sql_repos, 0, out, n, err);
}

int
store_stats_totals(struct db *db, struct stats_totals *out, struct err *err)
{
	struct db_res *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_exec(db, sql_totals, NULL, &res, err)) == 0 &&
	    (rc = db_res_double(res, 0, 0, &out->queue_depth, err)) == 0 &&
	    (rc = db_res_double(res, 0, 1, &out->gpus_in_use, err)) == 0)
		rc = db_res_double(res, 0, 2, &out->approvals_pending, err);
	db_res_free(res);
	return rc;
}

int
store_stats_stage_durations(struct db *db, int64_t *since_us, size_t limit,
    struct stats_row **out, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct stats_row *r;
	size_t rows;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, *since_us);
	db_args_int64(&a, (int64_t)limit);
	if ((rc = db_exec(db, sql_durations, &a, &res, err)) < 0)
		return rc;
	rows = db_res_rows(res);
	r = xcalloc(rows + 1, sizeof(*r));
	for (size_t i = 0; i < rows && rc == 0; i++) {
		int64_t at;

		(void)str_copy(r[i].a, sizeof(r[i].a), db_res_text(res, i, 0));
		(void)str_copy(r[i].b, sizeof(r[i].b), db_res_text(res, i, 1));
		if ((rc = db_res_double(res, i, 2, &r[i].v, err)) == 0 &&
		    (rc = db_res_int64(res, i, 3, &at, err)) == 0 &&
		    at > *since_us)
			*since_us = at;
	}
	db_res_free(res);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	*n = rows;
	return 0;
}

int
store_stats_invalid_pipelines(struct db *db, struct stats_row **out,
    size_t *n, struct err *err)
{
	return query_rows(db, sql_invalid, 0, out, n, err);
}
