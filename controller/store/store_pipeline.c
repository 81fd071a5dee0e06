/* store_pipeline.c - pipelines and versions; see store_pipeline.h. */
#include <stdio.h>
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
