/*
 * store_query_runs.c - runs as JSON; see store_query_runs.h.
 *
 * Every document is one statement: scalar subqueries build each part
 * from the table that holds it, each reading an index keyed by the run
 * (stages by (run_id, name), attempts by stage, metrics by attempt, and
 * runs_parent, approvals_run, model_versions_run, rollouts_run).  In a
 * list the subqueries run only for the rows the LIMIT lets through, after
 * the index scan that orders them, so a page costs the same whatever the
 * history's length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "query/store_query_rollouts.h"
#include "query/store_query_runs.h"
#include "store/db.h"
#include "store/store_sql.h"

const char *const store_run_statuses[] = { "queued", "running",
    "waiting_approval", "succeeded", "failed", "canceled", NULL };

#define COMMIT_JSON                                                         \
	"(SELECT json_build_object('sha', c.sha, 'message', c.message,"     \
	"  'author', c.author_name, 'author_email', c.author_email,"        \
	"  'time', rfc3339(c.committed_at))"                                \
	"  FROM commits c WHERE c.id = r.commit_id)"

/* The fields of a run in lists and in detail (r is the run). */
#define RUN_FIELDS                                                          \
	"'id', r.id,"                                                       \
	" 'pipeline', (SELECT p.name FROM pipelines p"                      \
	"   WHERE p.id = r.pipeline_id),"                                   \
	" 'repository', (SELECT rp.name FROM pipelines p"                   \
	"   JOIN repositories rp ON rp.id = p.repository_id"                \
	"   WHERE p.id = r.pipeline_id),"                                   \
	" 'pipeline_version', r.pipeline_version_id,"                       \
	" 'status', r.status, 'message', r.message,"                        \
	" 'commit', " COMMIT_JSON ","                                       \
	" 'branch', r.branch, 'trigger', r.trigger, 'params', r.params,"    \
	" 'parent_run', r.parent_run_id, 'created_by', r.created_by,"       \
	" 'reason', r.reason,"                                              \
	" 'cancel_requested_at', rfc3339(r.cancel_requested_at),"           \
	" 'cancel_requested_by', r.cancel_requested_by,"                    \
	" 'created_at', rfc3339(r.created_at),"                             \
	" 'started_at', rfc3339(r.started_at),"                             \
	" 'finished_at', rfc3339(r.finished_at)"

/*
 * A run in a list is the document kept with the run (runs.summary, by a
 * trigger on runs, migration 0016): RUN_FIELDS and its stages' marks
 * (runs.stage_marks, by a trigger on stages), so a page reads nothing but
 * the runs it shows.  store_query_run_summary_sql builds the same text
 * from RUN_FIELDS; the tests compare the two.
 */
#define RUN_SUMMARY_JSON	"r.summary::text"

const char store_query_run_summary_sql[] =
    "SELECT r.id, json_build_object(" RUN_FIELDS ","
    " 'stages', r.stage_marks)::text, r.summary::text FROM runs r"
    " ORDER BY r.id";

/* The stage whose attempts count for s (a retry may reuse its parent's). */
#define EFFECTIVE_STAGE	"coalesce(s.reused_from_stage_id, s.id)"

#define STAGE_JSON                                                          \
	"json_build_object('name', s.name, 'type', s.type,"                 \
	" 'status', s.status, 'needs', to_json(s.needs),"                   \
	" 'position', s.position, 'waiting_reason', s.waiting_reason,"      \
	" 'message', s.message,"                                            \
	" 'reused_from_run', (SELECT rs.run_id FROM stages rs"              \
	"   WHERE rs.id = s.reused_from_stage_id),"                         \
	" 'started_at', rfc3339(s.started_at),"                             \
	" 'finished_at', rfc3339(s.finished_at),"                           \
	" 'attempts', (SELECT coalesce(json_agg(json_build_object("         \
	"   'attempt', a.attempt, 'kind', a.kind, 'step', a.step,"          \
	"   'weight', a.weight, 'status', a.status, 'job', a.job_name,"     \
	"   'executor', a.executor, 'gpus', a.gpus, 'node', a.node_name,"   \
	"   'submitted_at', rfc3339(a.submitted_at),"                       \
	"   'started_at', rfc3339(a.started_at),"                           \
	"   'finished_at', rfc3339(a.finished_at),"                         \
	"   'exit_code', a.exit_code, 'message', a.message,"                \
	"   'image_id', a.image_id, 'gpu_product', a.gpu_product,"         \
	"   'queue', a.queue, 'flavor', a.flavor,"                          \
	"   'admitted_at', rfc3339(a.admitted_at),"                         \
	"   'evictions', a.evictions, 'nodes', " SQL_SPEC_NODES("a") ")"      \
	"   ORDER BY a.id), '[]')"                                          \
	"   FROM stage_attempts a WHERE a.stage_id = " EFFECTIVE_STAGE "),"   \
	" 'metrics', (SELECT coalesce(json_object_agg(m.name, m.value), '{}')" \
	"   FROM (SELECT DISTINCT ON (m.name) m.name, m.value"              \
	"     FROM stage_attempts a JOIN metrics m ON m.attempt_id = a.id"  \
	"     WHERE a.stage_id = " EFFECTIVE_STAGE                          \
	"     ORDER BY m.name, m.reported_at DESC, m.id DESC) m),"          \
	" 'artifacts', (SELECT coalesce(json_object_agg(x.name, x.uri), '{}')" \
	"   FROM (SELECT DISTINCT ON (ar.name) ar.name, ar.uri"             \
	"     FROM stage_attempts a JOIN artifacts ar ON ar.attempt_id = a.id" \
	"     WHERE a.stage_id = " EFFECTIVE_STAGE                          \
	"     ORDER BY ar.name, ar.id DESC) x))"

/* An approval ap of stage s, for json_build_object. */
#define APPROVAL_FIELDS                                                     \
	"'id', ap.id, 'run', ap.run_id, 'stage', s.name, 'step', ap.step,"  \
	" 'weight', ap.weight, 'target', ap.target, 'status', ap.status,"   \
	" 'requested_at', rfc3339(ap.requested_at),"                        \
	" 'expires_at', rfc3339(ap.expires_at),"                            \
	" 'decided_by', ap.decided_by, 'decided_at', rfc3339(ap.decided_at)," \
	" 'comment', ap.comment"

/* A model version mv of stage s, for json_build_object. */
#define MODEL_VERSION_FIELDS                                                \
	"'name', mv.name, 'version', mv.version, 'uri', mv.uri,"            \
	" 'status', mv.status, 'target', mv.target, 'stage', s.name,"       \
	" 'metrics', mv.metrics, 'created_at', rfc3339(mv.created_at),"     \
	" 'promoted_at', rfc3339(mv.promoted_at),"                          \
	" 'retired_at', rfc3339(mv.retired_at)"

const char store_query_run_sql[] =
    "SELECT json_build_object(" RUN_FIELDS ","
    " 'stages', (SELECT coalesce(json_agg(" STAGE_JSON
    "   ORDER BY s.position), '[]') FROM stages s WHERE s.run_id = r.id),"
    " 'approvals', (SELECT coalesce(json_agg(json_build_object("
    APPROVAL_FIELDS ") ORDER BY ap.id), '[]')"
    "   FROM approvals ap JOIN stages s ON s.id = ap.stage_id"
    "   WHERE ap.run_id = r.id),"
    " 'model_versions', (SELECT coalesce(json_agg(json_build_object("
    MODEL_VERSION_FIELDS ") ORDER BY mv.id), '[]')"
    "   FROM model_versions mv JOIN stages s ON s.id = mv.stage_id"
    "   WHERE mv.run_id = r.id),"
    " 'rollouts', (SELECT coalesce(json_agg(json_build_object("
    ROLLOUT_JSON_FIELDS ") ORDER BY ro.id), '[]')"
    "   FROM rollouts ro JOIN stages s ON s.id = ro.stage_id"
    "   WHERE ro.run_id = r.id),"
    " 'retries', (SELECT coalesce(json_agg(x.id ORDER BY x.id), '[]')"
    "   FROM runs x WHERE x.parent_run_id = r.id))::text"
    " FROM runs r WHERE r.id = $1";

/*
 * The lists.  Unfiltered, the primary key read backwards; by status,
 * runs_status_newest.  By pipeline name, runs_pipeline_newest once per
 * pipeline of that name (one, unless several repositories use it), the
 * pages merged by a top-N sort of at most (limit + 1) rows per pipeline.
 */
static const char sql_list_all[] =
    "SELECT r.id, " RUN_SUMMARY_JSON " FROM runs r"
    " WHERE r.id < $1 ORDER BY r.id DESC LIMIT $2::bigint + 1";

/*
 * A filtered page must read its index: walking the primary key and
 * skipping other runs, which the planner may prefer when it thinks the
 * filter common, costs as many rows as have been added since the filter
 * last matched, and a pipeline not run for months, or a status that was
 * common once, would walk the whole recent history.  Written "col = ANY
 * (ARRAY[$n])" rather than "col = $n", the filter is no longer a constant
 * the planner drops from "ORDER BY col, id DESC", and only the index
 * (col, id DESC) gives that order without sorting every matching run.
 */
static const char sql_list_status[] =
    "SELECT r.id, " RUN_SUMMARY_JSON " FROM runs r"
    " WHERE r.status = ANY (ARRAY[$3::text]) AND r.id < $1"
    " ORDER BY r.status, r.id DESC LIMIT $2::bigint + 1";

static const char sql_list_pipeline[] =
    "SELECT r.id, " RUN_SUMMARY_JSON " FROM pipelines p"
    " CROSS JOIN LATERAL (SELECT * FROM runs x"
    "   WHERE x.pipeline_id = ANY (ARRAY[p.id]) AND x.id < $1"
    "   ORDER BY x.pipeline_id, x.id DESC LIMIT $2::bigint + 1) r"
    " WHERE p.name = $3 ORDER BY r.id DESC LIMIT $2::bigint + 1";

static const char sql_list_pipeline_status[] =
    "SELECT r.id, " RUN_SUMMARY_JSON " FROM pipelines p"
    " CROSS JOIN LATERAL (SELECT * FROM runs x"
    "   WHERE x.pipeline_id = ANY (ARRAY[p.id]) AND x.status = $4"
    "     AND x.id < $1"
    "   ORDER BY x.pipeline_id, x.id DESC LIMIT $2::bigint + 1) r"
    " WHERE p.name = $3 ORDER BY r.id DESC LIMIT $2::bigint + 1";

static const char sql_lineage[] =
    "WITH r AS (SELECT * FROM runs WHERE id = $1),"
    " c AS (SELECT c.* FROM commits c, r WHERE c.id = r.commit_id),"
    " v AS (SELECT v.*, p.name AS pipeline FROM pipeline_versions v"
    "   JOIN pipelines p ON p.id = v.pipeline_id, r"
    "   WHERE v.id = r.pipeline_version_id),"
    " runs_shown AS ("
    "   SELECT x.*, 'parent' AS rel FROM runs x, r WHERE x.id = r.parent_run_id"
    "   UNION ALL SELECT r.*, 'self' FROM r"
    "   UNION ALL SELECT x.*, 'retry' FROM runs x, r"
    "     WHERE x.parent_run_id = r.id),"
    " st AS (SELECT s.*, " EFFECTIVE_STAGE " AS eff FROM stages s, r"
    "   WHERE s.run_id = r.id),"
    " ar AS (SELECT DISTINCT ON (st.id, a.name) st.id AS stage_id, a.id,"
    "   a.name, a.uri FROM st JOIN stage_attempts sa ON sa.stage_id = st.eff"
    "   JOIN artifacts a ON a.attempt_id = sa.id"
    "   ORDER BY st.id, a.name, a.id DESC),"
    " mv AS (SELECT m.*, ar.id AS from_artifact FROM model_versions m"
    "   JOIN ar ON ar.id = m.artifact_id),"
    " ro AS (SELECT ro.* FROM rollouts ro, r WHERE ro.run_id = r.id),"
    " prev AS (SELECT DISTINCT m.* FROM model_versions m JOIN ro"
    "   ON m.id = ro.previous_model_version_id"
    "   WHERE m.id NOT IN (SELECT id FROM mv)),"
    " nodes AS ("
    "   SELECT 1 AS o, 0::bigint AS k, json_build_object("
    "     'id', 'commit:' || c.sha, 'type', 'commit',"
    "     'label', left(c.sha, 12), 'sha', c.sha, 'message', c.message,"
    "     'author', c.author_name, 'time', rfc3339(c.committed_at)) AS n"
    "   FROM c"
    "   UNION ALL SELECT 2, v.id, json_build_object("
    "     'id', 'pipeline_version:' || v.id, 'type', 'pipeline_version',"
    "     'label', v.pipeline || ' (' || v.file_path || ')',"
    "     'version', v.id, 'pipeline', v.pipeline, 'file', v.file_path)"
    "   FROM v"
    "   UNION ALL SELECT 3, x.id, json_build_object('id', 'run:' || x.id,"
    "     'type', 'run', 'label', 'run ' || x.id, 'run', x.id,"
    "     'status', x.status, 'trigger', x.trigger, 'relation', x.rel,"
    "     'created_at', rfc3339(x.created_at))"
    "   FROM runs_shown x"
    "   UNION ALL SELECT 4, st.position, json_build_object("
    "     'id', 'stage:' || st.id, 'type', 'stage', 'label', st.name,"
    "     'name', st.name, 'stage_type', st.type, 'status', st.status,"
    "     'attempts', (SELECT coalesce(json_agg(json_build_object("
    "       'attempt', a.attempt, 'kind', a.kind, 'step', a.step,"
    "       'status', a.status, 'executor', a.executor,"
    "       'image_id', a.image_id, 'node', a.node_name,"
    "       'gpu_product', a.gpu_product,"
    "       'started_at', rfc3339(a.started_at),"
    "       'finished_at', rfc3339(a.finished_at)) ORDER BY a.id), '[]')"
    "       FROM stage_attempts a WHERE a.stage_id = st.eff))"
    "   FROM st"
    "   UNION ALL SELECT 5, ar.id, json_build_object("
    "     'id', 'artifact:' || ar.id, 'type', 'artifact',"
    "     'label', ar.name, 'name', ar.name, 'uri', ar.uri)"
    "   FROM ar"
    "   UNION ALL SELECT 6, m.id, json_build_object("
    "     'id', 'model_version:' || m.id, 'type', 'model_version',"
    "     'label', m.name || ' v' || m.version, 'name', m.name,"
    "     'version', m.version, 'uri', m.uri, 'status', m.status,"
    "     'target', m.target, 'image_id', ma.image_id,"
    "     'node', ma.node_name, 'gpu_product', ma.gpu_product)"
    "   FROM (SELECT id, name, version, uri, status, target, attempt_id"
    "     FROM mv UNION ALL SELECT id, name, version, uri, status, target,"
    "     attempt_id FROM prev) m"
    "   LEFT JOIN stage_attempts ma ON ma.id = m.attempt_id"
    "   UNION ALL SELECT 7, ro.id, json_build_object("
    "     'id', 'rollout:' || ro.id, 'type', 'rollout',"
    "     'label', ro.target || ' ' || ro.current_weight || '%',"
    "     'target', ro.target, 'status', ro.status,"
    "     'current_step', ro.current_step, 'steps', ro.steps,"
    "     'current_weight', ro.current_weight)"
    "   FROM ro),"
    " edges AS ("
    "   SELECT 1 AS o, json_build_object('from', 'commit:' || c.sha,"
    "     'to', 'pipeline_version:' || v.id, 'kind', 'defines') AS e"
    "   FROM c, v"
    "   UNION ALL SELECT 2, json_build_object("
    "     'from', 'pipeline_version:' || v.id, 'to', 'run:' || r.id,"
    "     'kind', 'runs') FROM v, r"
    "   UNION ALL SELECT 3, json_build_object('from', 'run:' || x.id,"
    "     'to', 'run:' || r.id, 'kind', 'retry')"
    "   FROM runs_shown x, r WHERE x.rel = 'parent'"
    "   UNION ALL SELECT 3, json_build_object('from', 'run:' || r.id,"
    "     'to', 'run:' || x.id, 'kind', 'retry')"
    "   FROM runs_shown x, r WHERE x.rel = 'retry'"
    "   UNION ALL SELECT 4, json_build_object('from', 'run:' || r.id,"
    "     'to', 'stage:' || st.id, 'kind', 'stage') FROM st, r"
    "   UNION ALL SELECT 5, json_build_object('from', 'stage:' || d.id,"
    "     'to', 'stage:' || st.id, 'kind', 'needs')"
    "   FROM st JOIN st d ON d.name = ANY (st.needs)"
    "   UNION ALL SELECT 6, json_build_object('from', 'stage:' || ar.stage_id,"
    "     'to', 'artifact:' || ar.id, 'kind', 'produced') FROM ar"
    "   UNION ALL SELECT 7, json_build_object("
    "     'from', 'artifact:' || mv.from_artifact,"
    "     'to', 'model_version:' || mv.id, 'kind', 'registered') FROM mv"
    "   UNION ALL SELECT 8, json_build_object('from', 'stage:' || ro.stage_id,"
    "     'to', 'rollout:' || ro.id, 'kind', 'rollout') FROM ro"
    "   UNION ALL SELECT 9, json_build_object("
    "     'from', 'model_version:' || ro.model_version_id,"
    "     'to', 'rollout:' || ro.id, 'kind', 'candidate')"
    "   FROM ro WHERE ro.model_version_id IS NOT NULL"
    "   UNION ALL SELECT 10, json_build_object("
    "     'from', 'model_version:' || ro.previous_model_version_id,"
    "     'to', 'rollout:' || ro.id, 'kind', 'previous')"
    "   FROM ro WHERE ro.previous_model_version_id IS NOT NULL)"
    " SELECT json_build_object('run', r.id,"
    "   'nodes', (SELECT json_agg(n ORDER BY o, k) FROM nodes),"
    "   'edges', (SELECT coalesce(json_agg(e ORDER BY o), '[]') FROM edges))"
    "   ::text FROM r";

static const char sql_log_source[] =
    "SELECT s.id, s.status IN ('succeeded', 'failed', 'canceled', 'skipped'),"
    "  a.id, a.attempt, a.step, a.job_name, a.executor, a.log_path,"
    "  a.status IN ('succeeded', 'failed', 'canceled'),"
    "  (SELECT greatest(coalesce(max(h.node) + 1, 1),"
    "     " SQL_SPEC_NODES("a") ")"
    "   FROM attempt_log_heads h WHERE h.attempt_id = a.id)"
    " FROM runs r"
    " LEFT JOIN stages s ON s.run_id = r.id AND s.name = $2"
    " LEFT JOIN LATERAL (SELECT * FROM stage_attempts a"
    "   WHERE a.stage_id = " EFFECTIVE_STAGE
    "     AND ($3::int = 0 OR a.attempt = $3)"
    "     AND ($4::int < 0 OR a.step = $4)"
    "   ORDER BY a.id DESC LIMIT 1) a ON true"
    " WHERE r.id = $1";

const char *
store_query_runs_sql(const struct runs_filter *f)
{
	if (f->pipeline != NULL)
		return f->status != NULL ? sql_list_pipeline_status :
		    sql_list_pipeline;
	return f->status != NULL ? sql_list_status : sql_list_all;
}

int
store_query_runs_list(struct db *db, const struct runs_filter *f,
    const struct page_in *pg, struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, pg->limit);
	if (f->pipeline != NULL)
		db_args_str(&a, f->pipeline);
	if (f->status != NULL)
		db_args_str(&a, f->status);
	return store_query_page(db, store_query_runs_sql(f), &a, "runs",
	    pg->limit, "r1", out, NULL, err);
}

int
store_query_run_get(struct db *db, int64_t id, char **json, struct err *err)
{
	struct db_args a;
	char what[64];

	db_args_init(&a);
	db_args_int64(&a, id);
	(void)snprintf(what, sizeof(what), "run %lld not found", (long long)id);
	return store_query_json(db, store_query_run_sql, &a, what, json, err);
}

int
store_query_run_lineage(struct db *db, int64_t id, char **json,
    struct err *err)
{
	struct db_args a;
	char what[64];

	db_args_init(&a);
	db_args_int64(&a, id);
	(void)snprintf(what, sizeof(what), "run %lld not found", (long long)id);
	return store_query_json(db, sql_lineage, &a, what, json, err);
}

int
store_query_log_source(struct db *db, int64_t run_id, const char *stage,
    int attempt, int step, struct log_source *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t v;
	int rc;

	memset(out, 0, sizeof(*out));
	db_args_init(&a);
	db_args_int64(&a, run_id);
	db_args_str(&a, stage);
	db_args_int64(&a, attempt);
	db_args_int64(&a, step);
	if ((rc = db_exec(db, sql_log_source, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_NOTFOUND, "run %lld not found",
		    (long long)run_id);
		goto out;
	}
	if (db_res_is_null(res, 0, 0)) {
		rc = err_set(err, ERR_NOTFOUND, "run %lld has no stage '%.64s'",
		    (long long)run_id, stage);
		goto out;
	}
	if ((rc = db_res_bool(res, 0, 1, &out->stage_done, err)) < 0)
		goto out;
	if (db_res_is_null(res, 0, 2))
		goto out;	/* no attempt (yet) */
	if ((rc = db_res_int64(res, 0, 2, &out->attempt_id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 3, &v, err)) < 0)
		goto out;
	out->attempt = (int)v;
	if ((rc = db_res_int64(res, 0, 4, &v, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 8, &out->attempt_done, err)) < 0)
		goto out;
	out->step = (int)v;
	if ((rc = db_res_int64(res, 0, 9, &v, err)) < 0)
		goto out;
	out->nodes = (int)v;
	(void)str_copy(out->job, sizeof(out->job), db_res_text(res, 0, 5));
	(void)str_copy(out->executor, sizeof(out->executor),
	    db_res_text(res, 0, 6));
	if (!db_res_is_null(res, 0, 7))
		(void)str_copy(out->log_path, sizeof(out->log_path),
		    db_res_text(res, 0, 7));
out:
	db_res_free(res);
	return rc;
}

/* --- lineage from a commit ----------------------------------------------- */

/* The commits whose SHA starts with $1, at most 11 (10 named, and more). */
static const char sql_commit_match[] =
    "SELECT DISTINCT c.sha FROM commits c"
    " WHERE c.sha COLLATE \"C\" >= $1 AND c.sha COLLATE \"C\" < $1 || 'g'"
    " ORDER BY 1 LIMIT 11";

/*
 * Everything that came from commit $1 (a whole SHA): the runs pinned to
 * it and, recursively, their retries; each part read by the index keyed
 * by its run (runs_commit, runs_parent, stages (run_id, name),
 * stage_attempts by stage, artifacts by attempt, model_versions_run,
 * rollouts_run, approvals_run).
 */
const char store_query_commit_lineage_sql[] =
    "WITH RECURSIVE c AS (SELECT c.id, c.sha, c.message, c.author_name,"
    "   c.author_email, c.committed_at, rp.name AS repository"
    "   FROM commits c JOIN repositories rp ON rp.id = c.repository_id"
    "   WHERE c.sha COLLATE \"C\" = $1),"
    " rr AS (SELECT r.id FROM c JOIN runs r ON r.commit_id = c.id"
    "   UNION SELECT x.id FROM rr JOIN runs x ON x.parent_run_id = rr.id),"
    " st AS (SELECT s.* FROM rr JOIN stages s ON s.run_id = rr.id)"
    " SELECT json_build_object("
    "  'commit', (SELECT json_build_object('sha', min(c.sha),"
    "    'message', min(c.message), 'author', min(c.author_name),"
    "    'author_email', min(c.author_email),"
    "    'time', rfc3339(min(c.committed_at)),"
    "    'repositories', json_agg(c.repository ORDER BY c.repository))"
    "    FROM c),"
    "  'pipeline_versions', (SELECT coalesce(json_agg(json_build_object("
    "    'id', v.id, 'pipeline', p.name, 'repository', c.repository,"
    "    'file', v.file_path, 'valid', v.valid, 'errors', v.errors)"
    "    ORDER BY v.id), '[]') FROM c"
    "    JOIN pipeline_versions v ON v.commit_id = c.id"
    "    LEFT JOIN pipelines p ON p.id = v.pipeline_id),"
    "  'runs', (SELECT coalesce(json_agg(r.summary"
    "    ORDER BY r.id), '[]') FROM rr JOIN runs r ON r.id = rr.id),"
    "  'attempts', (SELECT coalesce(json_agg(json_build_object("
    "    'run', st.run_id, 'stage', st.name, 'attempt', a.attempt,"
    "    'kind', a.kind, 'step', a.step, 'status', a.status,"
    "    'job', a.job_name, 'executor', a.executor,"
    "    'image_id', a.image_id, 'node', a.node_name,"
    "    'gpu_product', a.gpu_product,"
    "    'started_at', rfc3339(a.started_at),"
    "    'finished_at', rfc3339(a.finished_at)) ORDER BY a.id), '[]')"
    "    FROM st JOIN stage_attempts a ON a.stage_id = st.id),"
    "  'artifacts', (SELECT coalesce(json_agg(json_build_object("
    "    'id', ar.id, 'run', st.run_id, 'stage', st.name, 'name', ar.name,"
    "    'uri', ar.uri, 'model_name', ar.model_name) ORDER BY ar.id), '[]')"
    "    FROM st JOIN stage_attempts a ON a.stage_id = st.id"
    "    JOIN artifacts ar ON ar.attempt_id = a.id),"
    "  'model_versions', (SELECT coalesce(json_agg(json_build_object("
    "    'run', mv.run_id, " MODEL_VERSION_FIELDS ") ORDER BY mv.id), '[]')"
    "    FROM rr JOIN model_versions mv ON mv.run_id = rr.id"
    "    JOIN stages s ON s.id = mv.stage_id),"
    "  'rollouts', (SELECT coalesce(json_agg(json_build_object("
    "    'run', ro.run_id, " ROLLOUT_JSON_FIELDS ") ORDER BY ro.id), '[]')"
    "    FROM rr JOIN rollouts ro ON ro.run_id = rr.id"
    "    JOIN stages s ON s.id = ro.stage_id),"
    "  'approvals', (SELECT coalesce(json_agg(json_build_object("
    APPROVAL_FIELDS ") ORDER BY ap.id), '[]')"
    "    FROM rr JOIN approvals ap ON ap.run_id = rr.id"
    "    JOIN stages s ON s.id = ap.stage_id))::text"
    " WHERE EXISTS (SELECT 1 FROM c)";

int
store_query_commit_lineage(struct db *db, const char *prefix, char **json,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf names;
	char what[128];
	size_t n;
	int rc;

	*json = NULL;
	buf_init(&names, 1024);
	db_args_init(&a);
	db_args_str(&a, prefix);
	if ((rc = db_exec(db, sql_commit_match, &a, &res, err)) < 0)
		goto out;
	n = db_res_rows(res);
	if (n == 0) {
		rc = err_set(err, ERR_NOTFOUND, "commit '%.64s' not found",
		    prefix);
		goto out;
	}
	if (n > 1) {
		/* 10 SHAs of 64 digits fit the buffer */
		for (size_t i = 0; i < n && i < 10; i++)
			if (buf_printf(&names, "%s%s", i > 0 ? ", " : "",
			    db_res_text(res, i, 0)) < 0)
				break;
		rc = err_set(err, ERR_CONFLICT, "commit '%.64s' is ambiguous: "
		    "%s%s", prefix, names.data, n > 10 ? " and more" : "");
		goto out;
	}
	db_args_init(&a);
	db_args_str(&a, db_res_text(res, 0, 0));
	(void)snprintf(what, sizeof(what), "commit '%.64s' not found", prefix);
	rc = store_query_json(db, store_query_commit_lineage_sql, &a, what,
	    json, err);
out:
	buf_release(&names);
	db_res_free(res);
	return rc;
}
