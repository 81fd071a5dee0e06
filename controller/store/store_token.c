/* store_token.c - API tokens; see store_token.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/hash.h"
#include "store/db.h"
#include "store/store_sql.h"
#include "store/store_token.h"


static const char sql_create[] =
    "WITH t AS ("
    "  INSERT INTO api_tokens (name, role, token_hash, created_by)"
    "  VALUES ($1, $2, decode($3, 'hex'), $4)"
    "  RETURNING id, name, role)"
    " " SQL_EV_COLS
    " SELECT $4, 'token', id, NULL::bigint, 'created', NULL, NULL, NULL,"
    "   jsonb_build_object('name', name, 'role', role) FROM t";

/*
 * The use is recorded by the data-modifying CTE, which runs whether or not
 * the outer query reads it; the SELECT sees the row as it was before.
 */
static const char sql_lookup[] =
    "WITH t AS ("
    "  SELECT id, name, role, created_at, last_used_at, expires_at"
    "  FROM api_tokens"
    "  WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"
    "    AND (expires_at IS NULL OR expires_at > now())),"
    " u AS ("
    "  UPDATE api_tokens a SET last_used_at = now() FROM t"
    "  WHERE a.id = t.id AND (a.last_used_at IS NULL"
    "    OR a.last_used_at < now() - interval '1 minute'))"
    " SELECT id, name, role, rfc3339(created_at), rfc3339(last_used_at),"
    "   NULL, (extract(epoch FROM expires_at) * 1000)::bigint FROM t";

static const char sql_list[] =
    "SELECT id, name, role, rfc3339(created_at), rfc3339(last_used_at),"
    " rfc3339(revoked_at) FROM api_tokens ORDER BY id";

static const char sql_revoke[] =
    "WITH t AS ("
    "  UPDATE api_tokens SET revoked_at = now()"
    "  WHERE name = $1 AND revoked_at IS NULL"
    "  RETURNING id, name, role),"
    " s AS (DELETE FROM sessions WHERE token_id IN (SELECT id FROM t))"
    " " SQL_EV_COLS
    " SELECT $2, 'token', id, NULL::bigint, 'revoked', NULL, NULL, NULL,"
    "   jsonb_build_object('name', name, 'role', role) FROM t";

int
store_token_check_name(const char *name, struct err *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > LIM_NAME)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '@' &&
		    c != '-')))
			goto bad;
	}
	return 0;
bad:
	return err_set(err, ERR_INVALID,
	    "token name '%.*s' is invalid: use 1 to %d letters, digits, '.', "
	    "'_', '@' or '-', starting with a letter or digit",
	    LIM_NAME * 2, name, LIM_NAME);
}

/* SHA-256 of the token text, as 64 hex digits. */
static int
token_hash_hex(const char *token, char out[65], struct err *err)
{
	return hash_sha256_hex(token, strlen(token), out, err);
}

/* A new random token: TOKEN_PREFIX + unpadded base64url. */
static int
token_generate(char *out, size_t outlen, struct err *err)
{
	int rc;

	BUG_ON(outlen < TOKEN_LEN + 1);
	if ((rc = hash_random_secret(TOKEN_PREFIX, out, outlen, err)) < 0)
		return err_prefix(err, "cannot generate a token");
	BUG_ON(strlen(out) != TOKEN_LEN);
	return 0;
}

int
store_token_create(struct db *db, const char *name, enum role role,
    const char *actor, char *token, size_t tokenlen, struct err *err)
{
	char hash[65];
	struct db_args a;
	int rc;

	if (tokenlen > 0)
		token[0] = '\0';
	if ((rc = store_token_check_name(name, err)) < 0)
		return rc;
	if (role < ROLE_VIEWER || role > ROLE_ADMIN)
		return err_set(err, ERR_INVALID, "token role is not set");
	if ((rc = token_generate(token, tokenlen, err)) < 0 ||
	    (rc = token_hash_hex(token, hash, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, name);
	db_args_str(&a, role_name(role));
	db_args_str(&a, hash);
	db_args_str(&a, actor != NULL && actor[0] != '\0' ? actor : "cli");
	if ((rc = db_exec(db, sql_create, &a, NULL, err)) == ERR_CONFLICT)
		rc = err_set(err, ERR_CONFLICT, "token '%s' already exists",
		    name);
out:
	if (rc < 0)
		explicit_bzero(token, tokenlen);
	return rc;
}

/* Fill one token_info from row of res (columns as in sql_list). */
static int
read_row(const struct db_res *res, size_t row, struct token_info *t,
    struct err *err)
{
	const char *s;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = db_res_int64(res, row, 0, &t->id, err)) < 0 ||
	    (rc = role_parse(db_res_text(res, row, 2), &t->role, err)) < 0)
		return rc;
	(void)str_copy(t->name, sizeof(t->name), db_res_text(res, row, 1));
	(void)str_copy(t->created_at, sizeof(t->created_at),
	    db_res_text(res, row, 3));
	if ((s = db_res_text(res, row, 4)) != NULL)
		(void)str_copy(t->last_used_at, sizeof(t->last_used_at), s);
	if ((s = db_res_text(res, row, 5)) != NULL)
		(void)str_copy(t->revoked_at, sizeof(t->revoked_at), s);
	return 0;
}

int
store_token_lookup(struct db *db, const char *token, struct token_info *out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	char hash[65];
	int rc;

	memset(out, 0, sizeof(*out));
	/* Not one of ours: no need to ask the database. */
	if (token == NULL || strnlen(token, LIM_TOKEN + 1) != TOKEN_LEN ||
	    strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return err_set(err, ERR_UNAUTHORIZED,
		    "invalid or revoked token");
	if ((rc = token_hash_hex(token, hash, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_str(&a, hash);
	if ((rc = db_exec(db, sql_lookup, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) != 1) {
		rc = err_set(err, ERR_UNAUTHORIZED, "invalid or revoked token");
		goto out;
	}
	if ((rc = read_row(res, 0, out, err)) == 0 &&
	    db_res_text(res, 0, 6) != NULL)
		rc = db_res_int64(res, 0, 6, &out->expires_ms, err);
out:
	db_res_free(res);
	return rc;
}

int
store_token_list(struct db *db, struct token_info **out, size_t *n,
    struct err *err)
{
	struct token_info *list = NULL;
	struct db_res *res = NULL;
	size_t rows, i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = db_exec(db, sql_list, NULL, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	list = xcalloc(rows > 0 ? rows : 1, sizeof(*list));
	for (i = 0; i < rows; i++) {
		if ((rc = read_row(res, i, &list[i], err)) < 0)
			goto out;
	}
	*out = list;
	*n = rows;
	list = NULL;
out:
	free(list);
	db_res_free(res);
	return rc;
}

int
store_token_revoke(struct db *db, const char *name, const char *actor,
    struct err *err)
{
	struct db_args a;
	int64_t n;
	int rc;

	db_args_init(&a);
	db_args_str(&a, name);
	db_args_str(&a, actor != NULL && actor[0] != '\0' ? actor : "cli");
	if ((rc = db_exec_changed(db, sql_revoke, &a, &n, err)) == 0 && n == 0)
		rc = err_set(err, ERR_NOTFOUND, "token '%s' not found", name);
	return rc;
}
