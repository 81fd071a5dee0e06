/* store_repo.c - repositories and branch heads; see store_repo.h. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "base/sys.h"
#include "store/db.h"
#include "store/store_repo.h"
#include "store/store_sql.h"

#define REPO_COLS                                                           \
	"id, name, url, array_to_json(branches)::text, path,"               \
	" coalesce(poll_interval_ms, 0), auth_token_env, auth_ssh_key_file," \
	" auth_known_hosts_file, source, poll_status, rfc3339(last_poll_at)," \
	" rfc3339(last_success_at), last_error, rfc3339(next_poll_at),"     \
	" consecutive_failures, refresh_requested_at IS NOT NULL,"          \
	" greatest(0, (extract(epoch FROM next_poll_at - now()) * 1000)"    \
	"   ::bigint)"

static const char sql_list[] =
    "SELECT " REPO_COLS " FROM repositories WHERE deleted_at IS NULL"
    " ORDER BY name";

static const char sql_get[] =
    "SELECT " REPO_COLS " FROM repositories"
    " WHERE deleted_at IS NULL AND name = $1";

/*
 * Replicas starting together sync the same configuration: they take turns
 * (a transaction-scoped advisory lock, in a statement of its own so that
 * the next one's snapshot sees what the previous holder committed), else
 * both would insert a new repository and one would fail on its unique name.
 */
static const char sql_config_lock[] =
    "SELECT pg_advisory_xact_lock(hashtext('sluice.config_repositories'))";

/* Insert or update one config repository; returns what happened. */
static const char sql_upsert_config[] =
    "WITH old AS ("
    "  SELECT id, source, url, branches, path, poll_interval_ms,"
    "    auth_token_env, auth_ssh_key_file, auth_known_hosts_file"
    "  FROM repositories WHERE name = $1 AND deleted_at IS NULL),"
    " ins AS ("
    "  INSERT INTO repositories (name, url, branches, path, poll_interval_ms,"
    "    auth_token_env, auth_ssh_key_file, auth_known_hosts_file, source)"
    "  SELECT $1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
    "    $4, nullif($5::bigint, 0), $6, $7, $8, 'config'"
    "  WHERE NOT EXISTS (SELECT 1 FROM old) RETURNING id),"
    " upd AS ("
    "  UPDATE repositories r SET url = $2,"
    "    branches = ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
    "    path = $4, poll_interval_ms = nullif($5::bigint, 0),"
    "    auth_token_env = $6, auth_ssh_key_file = $7,"
    "    auth_known_hosts_file = $8"
    "  FROM old WHERE r.id = old.id AND old.source = 'config'"
    "    AND (old.url, old.branches, old.path,"
    "      coalesce(old.poll_interval_ms, 0), old.auth_token_env,"
    "      old.auth_ssh_key_file, old.auth_known_hosts_file)"
    "    IS DISTINCT FROM ($2,"
    "      ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4,"
    "      $5::bigint, $6, $7, $8)"
    "  RETURNING r.id),"
    " ev AS (" SQL_EV_COLS
    "  SELECT 'config', 'repository', id, NULL::bigint, 'created', NULL,"
    "    NULL, NULL, jsonb_build_object('name', $1::text) FROM ins"
    "  UNION ALL"
    "  SELECT 'config', 'repository', id, NULL::bigint, 'updated', NULL,"
    "    NULL, NULL, jsonb_build_object('name', $1::text) FROM upd)"
    " SELECT coalesce((SELECT source FROM old), 'new')";

static const char sql_delete_unlisted[] =
    "WITH d AS ("
    "  UPDATE repositories SET deleted_at = now()"
    "  WHERE source = 'config' AND deleted_at IS NULL"
    "    AND NOT (name = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))"
    "  RETURNING id, name)"
    " " SQL_EV_COLS
    " SELECT 'config', 'repository', id, NULL::bigint, 'deleted', NULL, NULL,"
    "   NULL, jsonb_build_object('name', name) FROM d";

static const char sql_add[] =
    "WITH ins AS ("
    "  INSERT INTO repositories (name, url, branches, path, poll_interval_ms,"
    "    auth_token_env, auth_ssh_key_file, auth_known_hosts_file, source)"
    "  SELECT $1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
    "    $4, nullif($5::bigint, 0), $6, $7, $8, 'api'"
    "  WHERE (SELECT count(*) FROM repositories WHERE deleted_at IS NULL)"
    "    < $10::bigint RETURNING id),"
    " ev AS (" SQL_EV_COLS
    "  SELECT $9, 'repository', id, NULL::bigint, 'created', NULL, NULL, NULL,"
    "    jsonb_build_object('name', $1::text) FROM ins)"
    " SELECT id FROM ins";

static const char sql_delete[] =
    "WITH d AS ("
    "  UPDATE repositories SET deleted_at = now()"
    "  WHERE name = $1 AND deleted_at IS NULL RETURNING id, name)"
    " " SQL_EV_COLS
    " SELECT $2, 'repository', id, NULL::bigint, 'deleted', NULL, NULL, NULL,"
    "   jsonb_build_object('name', name) FROM d";

static const char sql_polled[] =
    "UPDATE repositories SET last_poll_at = now(),"
    "  last_success_at = CASE WHEN $2::text IS NULL THEN now()"
    "    ELSE last_success_at END,"
    "  last_error = $2::text,"
    "  consecutive_failures = CASE WHEN $2::text IS NULL THEN 0"
    "    ELSE consecutive_failures + 1 END,"
    "  poll_status = CASE WHEN $2::text IS NULL THEN 'ok' ELSE 'failing' END,"
    "  next_poll_at = now() + make_interval(secs => $3::bigint / 1000.0),"
    "  refresh_requested_at = CASE WHEN refresh_requested_at"
    "    <= to_timestamp($4::bigint / 1000.0) THEN NULL"
    "    ELSE refresh_requested_at END"
    " WHERE id = $1";

static const char sql_refresh[] =
    "WITH u AS ("
    "  UPDATE repositories SET refresh_requested_at = now()"
    "  WHERE name = $1 AND deleted_at IS NULL RETURNING name)"
    " SELECT pg_notify('sluice_refresh', name) FROM u";

static const char sql_heads[] =
    "SELECT branch, sha FROM branch_heads WHERE repository_id = $1"
    " ORDER BY branch";

static const char sql_head_set[] =
    "INSERT INTO branch_heads (repository_id, branch, sha)"
    " VALUES ($1, $2, $3)"
    " ON CONFLICT (repository_id, branch)"
    " DO UPDATE SET sha = excluded.sha, updated_at = now()";

static const char sql_head_delete[] =
    "DELETE FROM branch_heads WHERE repository_id = $1 AND branch = $2";

void
repo_release(struct repo *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->url);
	for (size_t i = 0; i < r->nbranches; i++)
		free(r->branches[i]);
	free(r->branches);
	free(r->path);
	free(r->token_env);
	free(r->ssh_key_file);
	free(r->known_hosts_file);
	free(r->source);
	free(r->poll_status);
	free(r->last_poll_at);
	free(r->last_success_at);
	free(r->last_error);
	free(r->next_poll_at);
	memset(r, 0, sizeof(*r));
}

void
repo_list_free(struct repo *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		repo_release(&list[i]);
	free(list);
}

/* Read row i of a REPO_COLS result into r. */
static int
repo_from_row(const struct db_res *res, size_t i, struct repo *r,
    struct err *err)
{
	json_t *arr = NULL;
	json_error_t jerr;
	int64_t v;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = db_res_int64(res, i, 0, &r->id, err)) < 0)
		return rc;
	r->name = xstrdup(db_res_text(res, i, 1));
	r->url = xstrdup(db_res_text(res, i, 2));
	arr = json_loads(db_res_text(res, i, 3), 0, &jerr);
	if (!json_is_array(arr)) {
		json_decref(arr);
		repo_release(r);
		return err_set(err, ERR_INVALID, "repository branches unreadable");
	}
	r->nbranches = json_array_size(arr);
	r->branches = xcalloc(r->nbranches + 1, sizeof(char *));
	for (size_t k = 0; k < r->nbranches; k++) {
		const char *s = json_string_value(json_array_get(arr, k));
		r->branches[k] = xstrdup(s ? s : "");
	}
	json_decref(arr);
	r->path = xstrdup(db_res_text(res, i, 4));
	if ((rc = db_res_int64(res, i, 5, &r->interval_ms, err)) < 0)
		goto fail;
	r->token_env = sys_strdup_or_null(db_res_text(res, i, 6));
	r->ssh_key_file = sys_strdup_or_null(db_res_text(res, i, 7));
	r->known_hosts_file = sys_strdup_or_null(db_res_text(res, i, 8));
	r->source = xstrdup(db_res_text(res, i, 9));
	r->poll_status = xstrdup(db_res_text(res, i, 10));
	r->last_poll_at = sys_strdup_or_null(db_res_text(res, i, 11));
	r->last_success_at = sys_strdup_or_null(db_res_text(res, i, 12));
	r->last_error = sys_strdup_or_null(db_res_text(res, i, 13));
	r->next_poll_at = sys_strdup_or_null(db_res_text(res, i, 14));
	if ((rc = db_res_int64(res, i, 15, &v, err)) < 0)
		goto fail;
	r->consecutive_failures = (int)v;
	if ((rc = db_res_bool(res, i, 16, &r->refresh_requested, err)) < 0)
		goto fail;
	if ((rc = db_res_int64(res, i, 17, &r->due_in_ms, err)) < 0)
		goto fail;
	return 0;
fail:
	repo_release(r);
	return rc;
}

/* The branches as a JSON array text (caller frees). */
static char *
branches_json(char *const *branches, size_t n)
{
	json_t *arr = json_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(branches[i]));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (s == NULL)
		abort();
	return s;
}

static void
repo_args(struct db_args *a, const struct cfg_repo *r, const char *branches)
{
	db_args_init(a);
	db_args_str(a, r->name);
	db_args_str(a, r->url);
	db_args_str(a, branches);
	db_args_str(a, r->path ? r->path : "pipelines");
	db_args_int64(a, r->interval_ms);
	db_args_str(a, r->token_env);
	db_args_str(a, r->ssh_key_file);
	db_args_str(a, r->known_hosts_file);
}

int
store_repo_sync_config(struct db *db, const struct cfg_repo *repos, size_t n,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	json_t *names = json_array();
	char *names_text = NULL;
	int rc;

	if ((rc = db_begin(db, err)) < 0 ||
	    (rc = db_exec(db, sql_config_lock, NULL, NULL, err)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *br = branches_json(repos[i].branches,
		    repos[i].nbranches);

		repo_args(&a, &repos[i], br);
		rc = db_exec(db, sql_upsert_config, &a, &res, err);
		free(br);
		if (rc < 0)
			goto out;
		if (strcmp(db_res_text(res, 0, 0), "api") == 0) {
			rc = err_set(err, ERR_CONFLICT, "repository '%s' of the "
			    "configuration was added through the API; remove "
			    "one of them", repos[i].name);
			goto out;
		}
		db_res_free(res);
		res = NULL;
		json_array_append_new(names, json_string(repos[i].name));
	}
	if ((names_text = json_dumps(names, JSON_COMPACT)) == NULL)
		abort();
	db_args_init(&a);
	db_args_str(&a, names_text);
	if ((rc = db_exec(db, sql_delete_unlisted, &a, NULL, err)) < 0)
		goto out;
	rc = db_commit(db, err);
out:
	db_rollback(db);
	db_res_free(res);
	free(names_text);
	json_decref(names);
	return rc;
}

int
store_repo_list(struct db *db, struct repo **out, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct repo *list = NULL;
	size_t rows = 0, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = db_exec(db, sql_list, NULL, &res, err)) < 0)
		return rc;
	rows = db_res_rows(res);
	list = xcalloc(rows + 1, sizeof(*list));
	for (i = 0; i < rows; i++) {
		if ((rc = repo_from_row(res, i, &list[i], err)) < 0) {
			repo_list_free(list, i);
			db_res_free(res);
			return rc;
		}
	}
	db_res_free(res);
	*out = list;
	*n = rows;
	return 0;
}

int
store_repo_get(struct db *db, const char *name, struct repo *out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	memset(out, 0, sizeof(*out));
	db_args_init(&a);
	db_args_str(&a, name);
	if ((rc = db_exec(db, sql_get, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "repository '%s' not found",
		    name);
	else
		rc = repo_from_row(res, 0, out, err);
	db_res_free(res);
	return rc;
}

int
store_repo_add(struct db *db, const struct cfg_repo *r, const char *actor,
    int max, int64_t *id, struct err *err)
{
	struct db_args a;
	char *br = branches_json(r->branches, r->nbranches);
	int rc;

	repo_args(&a, r, br);
	db_args_str(&a, actor);
	db_args_int64(&a, max);
	rc = db_exec_int64(db, sql_add, &a, id, err);
	free(br);
	if (rc == ERR_CONFLICT)
		return err_set(err, ERR_CONFLICT,
		    "repository '%s' already exists", r->name);
	if (rc == ERR_NOTFOUND)
		return err_set(err, ERR_CONFLICT, "there are already %d "
		    "repositories, the most max_repositories allows", max);
	return rc;
}

int
store_repo_delete(struct db *db, const char *name, const char *actor,
    struct err *err)
{
	struct db_args a;
	int64_t n;
	int rc;

	db_args_init(&a);
	db_args_str(&a, name);
	db_args_str(&a, actor);
	if ((rc = db_exec_changed(db, sql_delete, &a, &n, err)) == 0 &&
	    n == 0)
		rc = err_set(err, ERR_NOTFOUND, "repository '%s' not found",
		    name);
	return rc;
}

int
store_repo_polled(struct db *db, int64_t id, int64_t started_ms,
    const char *error, int64_t next_ms, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, id);
	db_args_str(&a, error);
	db_args_int64(&a, next_ms);
	db_args_int64(&a, started_ms);
	return db_exec(db, sql_polled, &a, NULL, err);
}

int
store_repo_request_refresh(struct db *db, const char *name, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_str(&a, name);
	if ((rc = db_exec(db, sql_refresh, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "repository '%s' not found",
		    name);
	db_res_free(res);
	return rc;
}

int
store_branch_heads(struct db *db, int64_t repo_id, struct branch_head **out,
    size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct branch_head *h;
	struct db_args a;
	size_t rows;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, repo_id);
	if ((rc = db_exec(db, sql_heads, &a, &res, err)) < 0)
		return rc;
	rows = db_res_rows(res);
	h = xcalloc(rows + 1, sizeof(*h));
	for (size_t i = 0; i < rows; i++) {
		(void)str_copy(h[i].branch, sizeof(h[i].branch),
		    db_res_text(res, i, 0));
		(void)str_copy(h[i].sha, sizeof(h[i].sha),
		    db_res_text(res, i, 1));
	}
	db_res_free(res);
	*out = h;
	*n = rows;
	return 0;
}

int
store_branch_head_set(struct db *db, int64_t repo_id, const char *branch,
    const char *sha, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, branch);
	if (sha == NULL)
		return db_exec(db, sql_head_delete, &a, NULL, err);
	db_args_str(&a, sha);
	return db_exec(db, sql_head_set, &a, NULL, err);
}

/* --- what a push hook matches (moved from store_webhook.c) ---------- */

/* By the index repositories_url_key (migration 0016). */
const char store_repo_watching_sql[] =
    "SELECT id, name, url, $1 = ANY (branches) FROM repositories"
    " WHERE deleted_at IS NULL"
    "  AND repo_url_key(url) IN ($2, $3, $4, $5, $6) ORDER BY name";

static const char sql_refresh_id[] =
    "WITH r AS ("
    "  UPDATE repositories SET refresh_requested_at = now()"
    "  WHERE id = $1 AND deleted_at IS NULL RETURNING name)"
    " SELECT pg_notify('sluice_refresh', name) FROM r";

void
repo_watch_free(struct repo_watch *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(r[i].url);
	free(r);
}

int
store_repo_watching(struct db *db, const char *branch,
    const char *const *keys, size_t nkeys, struct repo_watch **out,
    size_t *n, struct err *err)
{
	struct repo_watch *list = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	size_t rows = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	BUG_ON(nkeys > STORE_REPO_WATCH_KEYS);
	db_args_init(&a);
	db_args_str(&a, branch);
	for (i = 0; i < STORE_REPO_WATCH_KEYS; i++) {
		if (i < nkeys)
			db_args_str(&a, keys[i]);
		else
			db_args_null(&a);
	}
	if ((rc = db_exec(db, store_repo_watching_sql, &a, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	list = xcalloc(rows > 0 ? rows : 1, sizeof(*list));
	for (i = 0; i < rows; i++) {
		if ((rc = db_res_int64(res, i, 0, &list[i].id, err)) < 0 ||
		    (rc = db_res_bool(res, i, 3, &list[i].watches_branch,
		    err)) < 0)
			goto out;
		(void)str_copy(list[i].name, sizeof(list[i].name),
		    db_res_text(res, i, 1));
		list[i].url = xstrdup(db_res_text(res, i, 2));
	}
	*out = list;
	*n = rows;
	list = NULL;
out:
	repo_watch_free(list, rows);
	db_res_free(res);
	return rc;
}

int
store_repo_request_refresh_id(struct db *db, int64_t id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, id);
	if ((rc = db_exec(db, sql_refresh_id, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "repository %lld not found",
		    (long long)id);
out:
	db_res_free(res);
	return rc;
}
