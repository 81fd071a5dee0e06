/*
 * store_query_pipelines.c - pipelines as JSON and the lookups of a run
 * request; see store_query_pipelines.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "query/store_query_pipelines.h"
#include "store/db.h"
#include "store/store_sql.h"

#define COMMIT_JSON(c)                                                      \
	"json_build_object('sha', " c ".sha, 'message', " c ".message,"     \
	" 'author', " c ".author_name, 'author_email', " c ".author_email," \
	" 'time', rfc3339(" c ".committed_at))"

/* The newest run of p (runs_pipeline_newest). */
#define LAST_RUN_JSON                                                       \
	"(SELECT json_build_object('id', x.id, 'status', x.status,"         \
	"  'created_at', rfc3339(x.created_at)) FROM runs x"                \
	"  WHERE x.pipeline_id = p.id ORDER BY x.id DESC LIMIT 1)"

#define PIPELINE_HEAD_JSON                                                  \
	"'name', p.name, 'repository', r.name, 'file', p.file_path,"        \
	" 'deleted', p.deleted_at IS NOT NULL,"                             \
	" 'deleted_at', rfc3339(p.deleted_at),"                             \
	" 'created_at', rfc3339(p.created_at),"                             \
	" 'updated_at', rfc3339(p.updated_at)"

/* A version's errors as ErrorAt objects (FILE:LINE:COL parts). */
#define ERRORS_JSON(errs)                                                   \
	"(SELECT coalesce(json_agg(json_build_object("                      \
	"  'file', e->'file', 'line', e->'line',"                           \
	"  'column', coalesce(e->'column', e->'col'),"                      \
	"  'message', e->'message') ORDER BY o), '[]')"                     \
	"  FROM jsonb_array_elements(" errs ") WITH ORDINALITY AS x(e, o))"

/* The next fire time of p's schedule, if it has one. */
#define NEXT_FIRE_JSON                                                      \
	"(SELECT rfc3339(s.next_at) FROM pipeline_schedules s"              \
	"  WHERE s.pipeline_id = p.id AND p.deleted_at IS NULL)"

/*
 * Named pipelines by name then repository, then the invalid files no
 * pipeline owns (name null) by path then repository; the cursor key is
 * "0|1/REPOSITORY/NAME-OR-PATH".
 */
static const char sql_list[] =
    "WITH l AS ("
    "  SELECT 0 AS g, p.name AS k, r.name AS rn, json_build_object("
    PIPELINE_HEAD_JSON ","
    "  'latest', (SELECT json_build_object('version', v.id, 'commit', c.sha,"
    "    'valid', v.valid, 'created_at', rfc3339(v.created_at))"
    "    FROM pipeline_versions v JOIN commits c ON c.id = v.commit_id"
    "    WHERE v.id = p.latest_version_id),"
    "  'errors', coalesce((SELECT " ERRORS_JSON("v.errors")
    "    FROM pipeline_versions v WHERE v.id = p.latest_version_id), '[]'),"
    "  'next_fire_at', " NEXT_FIRE_JSON ","
    "  'last_run', " LAST_RUN_JSON ") AS doc"
    "  FROM pipelines p JOIN repositories r ON r.id = p.repository_id"
    "  WHERE r.deleted_at IS NULL AND ($1::text IS NULL OR r.name = $1)"
    "    AND ($2::boolean OR p.deleted_at IS NULL)"
    "  UNION ALL"
    "  SELECT 1, x.file_path, r.name, json_build_object('name', NULL,"
    "    'repository', r.name, 'file', x.file_path, 'deleted', false,"
    "    'deleted_at', NULL, 'created_at', rfc3339(x.changed_at),"
    "    'updated_at', rfc3339(x.changed_at),"
    "    'latest', json_build_object('version', x.version_id,"
    "      'commit', c.sha, 'valid', false, 'branch', x.branch,"
    "      'created_at', rfc3339(v.created_at)),"
    "    'errors', " ERRORS_JSON("x.errors") ","
    "    'next_fire_at', NULL, 'last_run', NULL)"
    "  FROM " SQL_UNNAMED_INVALID_FILES " x"
    "  JOIN repositories r ON r.id = x.repository_id"
    "  JOIN commits c ON c.id = x.commit_id"
    "  JOIN pipeline_versions v ON v.id = x.version_id"
    "  WHERE r.deleted_at IS NULL AND ($1::text IS NULL OR r.name = $1))"
    " SELECT g || '/' || rn || '/' || k, doc::text FROM l"
    " WHERE $3::text IS NULL OR (g, k, rn) > (split_part($3, '/', 1)::int,"
    "   substr($3, length(split_part($3, '/', 1))"
    "     + length(split_part($3, '/', 2)) + 3), split_part($3, '/', 2))"
    " ORDER BY g, k, rn LIMIT $4::bigint + 1";

static const char sql_get[] =
    "SELECT json_build_object(" PIPELINE_HEAD_JSON ","
    "  'version', lv.id, 'definition', lv.definition,"
    "  'params', coalesce(lv.definition->'spec'->'params', '{}'),"
    "  'definition_commit', (SELECT " COMMIT_JSON("c") " FROM commits c"
    "    WHERE c.id = lv.commit_id),"
    "  'latest', (SELECT json_build_object('version', v.id, 'valid', v.valid,"
    "    'file', v.file_path, 'commit', " COMMIT_JSON("c") ","
    "    'errors', " ERRORS_JSON("v.errors") ","
    "    'created_at', rfc3339(v.created_at))"
    "    FROM pipeline_versions v JOIN commits c ON c.id = v.commit_id"
    "    WHERE v.id = p.latest_version_id),"
    "  'heads', (SELECT coalesce(json_agg(json_build_object("
    "    'branch', h.branch, 'commit', h.sha, 'version', hv.id,"
    "    'valid', hv.valid) ORDER BY h.branch), '[]')"
    "    FROM branch_heads h"
    "    LEFT JOIN commits hc ON hc.repository_id = h.repository_id"
    "      AND hc.sha = h.sha"
    "    LEFT JOIN pipeline_versions hv ON hv.pipeline_id = p.id"
    "      AND hv.commit_id = hc.id"
    "    WHERE h.repository_id = p.repository_id),"
    "  'next_fire_at', " NEXT_FIRE_JSON ","
    "  'last_run', " LAST_RUN_JSON ")::text"
    " FROM pipelines p JOIN repositories r ON r.id = p.repository_id"
    " LEFT JOIN LATERAL (SELECT v.id, v.definition, v.commit_id"
    "   FROM pipeline_versions v WHERE v.pipeline_id = p.id AND v.valid"
    "   ORDER BY v.id DESC LIMIT 1) lv ON true"
    " WHERE p.id = $1";

/* Live pipelines first; at most a screenful of candidates. */
static const char sql_find[] =
    "SELECT p.id, p.repository_id, p.name, r.name, p.deleted_at IS NOT NULL"
    " FROM pipelines p JOIN repositories r ON r.id = p.repository_id"
    " WHERE p.name = $1 AND r.deleted_at IS NULL"
    "   AND ($2::text IS NULL OR r.name = $2)"
    " ORDER BY p.deleted_at IS NOT NULL, r.name LIMIT 20";

static const char sql_repo_branches[] =
    "SELECT branches[1], array_to_string(branches, ', '),"
    "  coalesce($2 = ANY (branches), false)"
    " FROM repositories WHERE id = $1";

static const char sql_branch_head[] =
    "SELECT c.id, c.sha FROM branch_heads h"
    " JOIN commits c ON c.repository_id = h.repository_id AND c.sha = h.sha"
    " WHERE h.repository_id = $1 AND h.branch = $2";

static const char sql_commit_prefix[] =
    "SELECT id, sha FROM commits"
    " WHERE repository_id = $1 AND left(sha, length($2)) = $2"
    " ORDER BY id LIMIT 2";

static const char sql_version_at[] =
    "SELECT v.id, v.valid,"
    "  coalesce(v.errors->0->>'message', ''),"
    "  coalesce(v.definition->'spec'->'triggers'->>'webhook', 'false'),"
    "  (SELECT string_agg(k, ', ' ORDER BY k)"
    "    FROM jsonb_object_keys(coalesce($3::jsonb, '{}')) k"
    "    WHERE NOT coalesce(v.definition->'spec'->'params', '{}') ? k),"
    "  coalesce((SELECT string_agg(k, ', ' ORDER BY k) FROM"
    "    jsonb_object_keys(coalesce(v.definition->'spec'->'params', '{}')) k),"
    "    'none')"
    " FROM pipeline_versions v WHERE v.pipeline_id = $1 AND v.commit_id = $2";

int
store_query_pipelines_list(struct db *db, const char *repository,
    int with_deleted, const struct page_in *pg, struct buf *out,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_str(&a, repository);
	db_args_bool(&a, with_deleted);
	db_args_str(&a, pg->after);
	db_args_int64(&a, pg->limit);
	return store_query_page(db, sql_list, &a, "pipelines", pg->limit, "p2",
	    out, NULL, err);
}

int
store_query_pipeline_find(struct db *db, const char *name,
    const char *repository, struct pipeline_ref *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf names;
	size_t rows, live = 0, n;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&names, 1024);
	db_args_init(&a);
	db_args_str(&a, name);
	db_args_str(&a, repository);
	if ((rc = db_exec(db, sql_find, &a, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	for (size_t i = 0; i < rows; i++)
		if (strcmp(db_res_text(res, i, 4), "f") == 0)
			live++;
	if (rows == 0) {
		rc = repository != NULL ? err_set(err, ERR_NOTFOUND,
		    "pipeline '%s' not found in repository '%s'", name,
		    repository) : err_set(err, ERR_NOTFOUND,
		    "pipeline '%s' not found", name);
		goto out;
	}
	/* The live ones when there are any, else the deleted ones. */
	n = live > 0 ? live : rows;
	if (n > 1) {
		for (size_t i = 0; i < n; i++)
			if (buf_printf(&names, "%s%s", i > 0 ? ", " : "",
			    db_res_text(res, i, 3)) < 0)
				break;
		rc = err_set(err, ERR_CONFLICT, "pipeline '%s' is ambiguous: it "
		    "is in repositories %s; add ?repository=NAME", name,
		    names.data != NULL ? names.data : "");
		goto out;
	}
	if ((rc = db_res_int64(res, 0, 0, &out->id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 1, &out->repo_id, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 4, &out->deleted, err)) < 0)
		goto out;
	(void)str_copy(out->name, sizeof(out->name), db_res_text(res, 0, 2));
	(void)str_copy(out->repository, sizeof(out->repository),
	    db_res_text(res, 0, 3));
out:
	buf_release(&names);
	db_res_free(res);
	return rc;
}

int
store_query_pipeline_get(struct db *db, int64_t id, char **json,
    struct err *err)
{
	struct db_args a;
	char what[64];

	db_args_init(&a);
	db_args_int64(&a, id);
	(void)snprintf(what, sizeof(what), "pipeline %lld not found",
	    (long long)id);
	return store_query_json(db, sql_get, &a, what, json, err);
}

/* The commit of the processed head of branch ref. */
static int
target_branch(struct db *db, const struct pipeline_ref *p, const char *ref,
    int64_t *commit_id, struct run_target *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc, watched = 0;

	db_args_init(&a);
	db_args_int64(&a, p->repo_id);
	db_args_str(&a, ref);
	if ((rc = db_exec(db, sql_repo_branches, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_NOTFOUND, "repository '%s' not found",
		    p->repository);
		goto out;
	}
	if (ref == NULL)
		ref = db_res_text(res, 0, 0);
	else if ((rc = db_res_bool(res, 0, 2, &watched, err)) < 0)
		goto out;
	else if (!watched) {
		rc = err_set(err, ERR_UNPROCESSABLE, "branch '%.255s' is not "
		    "watched by repository '%s' (branches: %s)", ref,
		    p->repository, db_res_text(res, 0, 1));
		goto out;
	}
	if (str_copy(out->branch, sizeof(out->branch), ref) < 0) {
		rc = err_set(err, ERR_INVALID, "branch name too long");
		goto out;
	}
	db_res_free(res);
	res = NULL;
	db_args_init(&a);
	db_args_int64(&a, p->repo_id);
	db_args_str(&a, out->branch);
	if ((rc = db_exec(db, sql_branch_head, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_UNPROCESSABLE, "branch '%s' of repository "
		    "'%s' has not been polled yet", out->branch,
		    p->repository);
		goto out;
	}
	if ((rc = db_res_int64(res, 0, 0, commit_id, err)) < 0)
		goto out;
	(void)str_copy(out->sha, sizeof(out->sha), db_res_text(res, 0, 1));
out:
	db_res_free(res);
	return rc;
}

/* The known commit whose sha starts with prefix. */
static int
target_commit(struct db *db, const struct pipeline_ref *p, const char *prefix,
    int64_t *commit_id, struct run_target *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, p->repo_id);
	db_args_str(&a, prefix);
	if ((rc = db_exec(db, sql_commit_prefix, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_UNPROCESSABLE, "commit '%s' is not known "
		    "in repository '%s' (only commits the poller has seen "
		    "can run)", prefix, p->repository);
	else if (db_res_rows(res) > 1)
		rc = err_set(err, ERR_UNPROCESSABLE, "commit '%s' is ambiguous "
		    "in repository '%s': give more digits", prefix,
		    p->repository);
	else if ((rc = db_res_int64(res, 0, 0, commit_id, err)) == 0)
		(void)str_copy(out->sha, sizeof(out->sha),
		    db_res_text(res, 0, 1));
	db_res_free(res);
	return rc;
}

int
store_query_run_target(struct db *db, const struct pipeline_ref *p,
    const char *ref, const char *commit, const char *params,
    struct run_target *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t commit_id = 0;
	int rc, valid = 0;

	memset(out, 0, sizeof(*out));
	rc = commit != NULL ? target_commit(db, p, commit, &commit_id, out,
	    err) : target_branch(db, p, ref, &commit_id, out, err);
	if (rc < 0)
		return rc;
	db_args_init(&a);
	db_args_int64(&a, p->id);
	db_args_int64(&a, commit_id);
	db_args_str(&a, params);
	if ((rc = db_exec(db, sql_version_at, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_UNPROCESSABLE, "pipeline '%s' has no "
		    "version at commit %.12s%s%s: its file was not seen there",
		    p->name, out->sha, out->branch[0] ? ", the head of " : "",
		    out->branch);
		goto out;
	}
	if ((rc = db_res_int64(res, 0, 0, &out->version_id, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 1, &valid, err)) < 0)
		goto out;
	if (!valid) {
		rc = err_set(err, ERR_UNPROCESSABLE, "pipeline '%s' is invalid "
		    "at commit %.12s: %s", p->name, out->sha,
		    db_res_text(res, 0, 2));
		goto out;
	}
	out->webhook = strcmp(db_res_text(res, 0, 3), "true") == 0;
	if (!db_res_is_null(res, 0, 4)) {
		rc = err_set(err, ERR_UNPROCESSABLE, "pipeline '%s' does not "
		    "declare params %s (declared: %s)", p->name,
		    db_res_text(res, 0, 4), db_res_text(res, 0, 5));
		goto out;
	}
out:
	db_res_free(res);
	return rc;
}
