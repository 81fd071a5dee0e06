/* store_pipeline.c - pipelines and versions; see store_pipeline.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_pipeline.h"
#include "store/store_sql.h"

static const char sql_upsert_pipeline[] =
    "INSERT INTO pipelines (repository_id, name, file_path) VALUES ($1, $2, $3)"
    " ON CONFLICT (repository_id, name) DO UPDATE SET"
    "  file_path = excluded.file_path, deleted_at = NULL"
    " RETURNING id";

/* Another file of the same commit already defines this pipeline. */
static const char sql_name_taken[] =
    "SELECT file_path FROM pipeline_versions"
    " WHERE pipeline_id = $1 AND commit_id = $2 AND file_path <> $3";

static const char sql_put_version[] =
    "WITH ins AS ("
    "  INSERT INTO pipeline_versions (commit_id, file_path, blob_sha,"
    "    pipeline_id, valid, definition, errors)"
    "  VALUES ($1, $2, $3, nullif($4::bigint, 0), $5::jsonb IS NOT NULL,"
    "    $5::jsonb, $6::jsonb)"
    "  ON CONFLICT (commit_id, file_path) DO NOTHING RETURNING id)"
    " SELECT id FROM ins UNION ALL"
    " SELECT id FROM pipeline_versions WHERE commit_id = $1 AND file_path = $2"
    "   AND NOT EXISTS (SELECT 1 FROM ins)";

static const char sql_set_latest[] =
    "UPDATE pipelines SET latest_version_id = $2 WHERE id = $1";

/* An unreadable file still belongs to the pipeline last found in it. */
static const char sql_by_path[] =
    "SELECT id FROM pipelines WHERE repository_id = $1 AND file_path = $2"
    " AND deleted_at IS NULL";

static const char sql_delete_missing[] =
    "WITH d AS ("
    "  UPDATE pipelines SET deleted_at = now()"
    "  WHERE repository_id = $1 AND deleted_at IS NULL"
    "    AND NOT (id = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)"
    "      ::bigint)))"
    "  RETURNING id, name)"
    " " SQL_EV_COLS
    " SELECT $3, 'pipeline', id, NULL::bigint, 'deleted', NULL, NULL, NULL,"
    "   jsonb_build_object('name', name) FROM d";

int
store_pipeline_version_put(struct db *db, const struct pipeline_version_in *v,
    int64_t *pipeline_id, int64_t *version_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	const char *definition = v->definition, *errors = v->errors;
	struct buf dup;
	int64_t pid = 0;
	int rc;

	*pipeline_id = 0;
	*version_id = 0;
	buf_init(&dup, 4096);
	if (v->name != NULL) {
		db_args_init(&a);
		db_args_int64(&a, v->repo_id);
		db_args_str(&a, v->name);
		db_args_str(&a, v->file_path);
		if ((rc = db_exec_int64(db, sql_upsert_pipeline, &a, &pid,
		    err)) < 0)
			goto out;
		db_args_init(&a);
		db_args_int64(&a, pid);
		db_args_int64(&a, v->commit_id);
		db_args_str(&a, v->file_path);
		if ((rc = db_exec(db, sql_name_taken, &a, &res, err)) < 0)
			goto out;
		if (db_res_rows(res) > 0) {
			/* Names are DNS-1123 and paths come from git: the
			 * JSON below needs no escaping beyond quotes. */
			const char *other = db_res_text(res, 0, 0);

			if (strpbrk(other, "\"\\") != NULL ||
			    strpbrk(v->file_path, "\"\\") != NULL)
				other = "another file";
			if ((rc = buf_printf(&dup, "[{\"file\":\"%s\",\"line\":0,"
			    "\"column\":0,\"message\":\"pipeline '%s' is "
			    "already defined in %s\"}]", v->file_path, v->name,
			    other)) < 0)
				goto out;
			definition = NULL;
			errors = dup.data;
			pid = 0;
		}
		db_res_free(res);
		res = NULL;
	} else {
		db_args_init(&a);
		db_args_int64(&a, v->repo_id);
		db_args_str(&a, v->file_path);
		/* A file no pipeline was found in yet: pid stays 0. */
		if ((rc = db_exec_int64(db, sql_by_path, &a, &pid, err)) < 0 &&
		    rc != ERR_NOTFOUND)
			goto out;
	}
	db_args_init(&a);
	db_args_int64(&a, v->commit_id);
	db_args_str(&a, v->file_path);
	db_args_str(&a, v->blob_sha);
	db_args_int64(&a, pid);
	db_args_str(&a, definition);
	db_args_str(&a, errors ? errors : "[]");
	if ((rc = db_exec_int64(db, sql_put_version, &a, version_id,
	    err)) < 0)
		goto out;
	if (pid != 0) {
		db_args_init(&a);
		db_args_int64(&a, pid);
		db_args_int64(&a, *version_id);
		if ((rc = db_exec(db, sql_set_latest, &a, NULL, err)) < 0)
			goto out;
	}
	*pipeline_id = pid;
out:
	db_res_free(res);
	buf_release(&dup);
	return rc;
}

int
store_pipeline_delete_missing(struct db *db, int64_t repo_id,
    const char *live_ids, const char *actor, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, live_ids);
	db_args_str(&a, actor);
	return db_exec(db, sql_delete_missing, &a, NULL, err);
}

static const char sql_file_put[] =
    "INSERT INTO pipeline_files (repository_id, branch, file_path, commit_id,"
    "  version_id, valid, errors)"
    " SELECT $1, $2, v.file_path, v.commit_id, v.id, v.valid, v.errors"
    " FROM pipeline_versions v WHERE v.id = $3"
    " ON CONFLICT (repository_id, branch, file_path) DO UPDATE SET"
    "  commit_id = excluded.commit_id, version_id = excluded.version_id,"
    "  valid = excluded.valid, errors = excluded.errors,"
    "  changed_at = CASE WHEN pipeline_files.valid = excluded.valid"
    "    THEN pipeline_files.changed_at ELSE now() END";

static const char sql_files_prune[] =
    "DELETE FROM pipeline_files WHERE repository_id = $1 AND branch = $2"
    " AND NOT (file_path = ANY (ARRAY(SELECT"
    "   jsonb_array_elements_text($3::jsonb))))";

static const char sql_files_at[] =
    "SELECT f.file_path, f.branch, c.sha, f.valid,"
    "  CASE WHEN NOT f.valid THEN concat_ws(':',"
    "    coalesce(f.errors->0->>'file', f.file_path),"
    "    coalesce(f.errors->0->>'line', '0'),"
    "    coalesce(f.errors->0->>'column', f.errors->0->>'col', '0'),"
    "    ' ' || coalesce(f.errors->0->>'message', 'invalid')) END"
    " FROM pipeline_files f JOIN commits c ON c.id = f.commit_id"
    " WHERE f.repository_id = $1 AND c.sha = $2"
    " ORDER BY f.branch, f.file_path";

int
store_pipeline_file_put(struct db *db, int64_t repo_id, const char *branch,
    int64_t version_id, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, branch);
	db_args_int64(&a, version_id);
	return db_exec(db, sql_file_put, &a, NULL, err);
}

int
store_pipeline_files_prune(struct db *db, int64_t repo_id, const char *branch,
    const char *paths, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, branch);
	db_args_str(&a, paths);
	return db_exec(db, sql_files_prune, &a, NULL, err);
}

int
store_pipeline_files_at(struct db *db, int64_t repo_id, const char *sha,
    struct pipeline_file **out, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct pipeline_file *f = NULL;
	struct db_args a;
	size_t rows = 0;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, sha);
	if ((rc = db_exec(db, sql_files_at, &a, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	f = xcalloc(rows + 1, sizeof(*f));
	for (size_t i = 0; i < rows; i++) {
		f[i].file_path = xstrdup(db_res_text(res, i, 0));
		f[i].branch = xstrdup(db_res_text(res, i, 1));
		f[i].sha = xstrdup(db_res_text(res, i, 2));
		if ((rc = db_res_bool(res, i, 3, &f[i].valid, err)) < 0)
			goto out;
		if (!db_res_is_null(res, i, 4))
			f[i].first_error = xstrdup(db_res_text(res, i, 4));
	}
	*out = f;
	*n = rows;
	f = NULL;
out:
	store_pipeline_files_free(f, rows);
	db_res_free(res);
	return rc;
}

void
store_pipeline_files_free(struct pipeline_file *f, size_t n)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(f[i].file_path);
		free(f[i].branch);
		free(f[i].sha);
		free(f[i].first_error);
	}
	free(f);
}
