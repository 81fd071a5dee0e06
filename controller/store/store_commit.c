/* store_commit.c - commits; see store_commit.h. */
#include "store/db.h"
#include "store/store_commit.h"

/* The no-op update makes RETURNING give the id of an existing row too. */
static const char sql_put[] =
    "INSERT INTO commits (repository_id, sha, parents, author_name,"
    "  author_email, message, committed_at)"
    " VALUES ($1, $2, ARRAY(SELECT jsonb_array_elements_text("
    "   coalesce($3::jsonb, '[]'))), $4, $5, $6, to_timestamp($7::bigint))"
    " ON CONFLICT (repository_id, sha) DO UPDATE SET sha = excluded.sha"
    " RETURNING id";

static const char sql_find[] =
    "SELECT id FROM commits WHERE repository_id = $1 AND sha = $2";

int
store_commit_put(struct db *db, int64_t repo_id, const struct commit_in *c,
    int64_t *id, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, c->sha);
	db_args_str(&a, c->parents_json);
	db_args_str(&a, c->author_name ? c->author_name : "");
	db_args_str(&a, c->author_email ? c->author_email : "");
	db_args_str(&a, c->message ? c->message : "");
	db_args_int64(&a, c->committed_at);
	return db_exec_int64(db, sql_put, &a, id, err);
}

int
store_commit_find(struct db *db, int64_t repo_id, const char *sha,
    int64_t *id, struct err *err)
{
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, repo_id);
	db_args_str(&a, sha);
	if ((rc = db_exec_int64(db, sql_find, &a, id, err)) == ERR_NOTFOUND)
		rc = err_set(err, ERR_NOTFOUND, "commit '%s' not found", sha);
	return rc;
}
