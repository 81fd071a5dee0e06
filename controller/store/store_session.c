/* store_session.c - console sessions; see store_session.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/buf.h"
#include "base/hash.h"
#include "store/db.h"
#include "store/store_session.h"
#include "store/store_sql.h"


/*
 * The insert fails with a foreign-key violation (ERR_INVALID) when the
 * token row is gone; a revoked token is refused by the caller before.
 */
static const char sql_create[] =
    "WITH d AS (DELETE FROM sessions WHERE expires_at < now()),"
    " s AS ("
    "  INSERT INTO sessions (id_hash, token_id, csrf_hash, expires_at)"
    "  VALUES (decode($1, 'hex'), $2, decode($3, 'hex'),"
    "    now() + $4::float8 * interval '1 millisecond')"
    "  RETURNING token_id, expires_at),"
    " e AS (" SQL_EV_COLS
    "  SELECT $5, 'token', token_id, NULL::bigint, 'session.created', NULL,"
    "    NULL, NULL, jsonb_build_object('expires_at', rfc3339(expires_at))"
    "  FROM s)"
    " SELECT rfc3339(expires_at) FROM s";

static const char sql_lookup[] =
    "WITH s AS ("
    "  SELECT s.id_hash, s.token_id, encode(s.csrf_hash, 'hex') AS csrf,"
    "    s.expires_at, s.last_seen_at, t.name, t.role,"
    "    least(s.expires_at, coalesce(t.expires_at, s.expires_at)) AS ends"
    "  FROM sessions s JOIN api_tokens t ON t.id = s.token_id"
    "  WHERE s.id_hash = decode($1, 'hex') AND s.expires_at > now()"
    "    AND t.revoked_at IS NULL"
    "    AND (t.expires_at IS NULL OR t.expires_at > now())),"
    " u AS ("
    "  UPDATE sessions x SET last_seen_at = now() FROM s"
    "  WHERE x.id_hash = s.id_hash"
    "    AND s.last_seen_at < now() - interval '1 minute')"
    " SELECT token_id, name, role, csrf, rfc3339(expires_at),"
    "   (extract(epoch FROM ends) * 1000)::bigint FROM s";

static const char sql_delete[] =
    "WITH d AS ("
    "  DELETE FROM sessions WHERE id_hash = decode($1, 'hex')"
    "  RETURNING token_id)"
    " " SQL_EV_COLS
    " SELECT $2, 'token', token_id, NULL::bigint, 'session.ended', NULL, NULL,"
    "   NULL, '{}'::jsonb FROM d";

static int
sha256_hex(const char *text, char out[65], struct err *err)
{
	return hash_sha256_hex(text, strlen(text), out, err);
}

/* prefix + 43 characters of unpadded base64url from 32 random bytes. */
static int
random_secret(const char *prefix, char *out, size_t outlen, struct err *err)
{
	return hash_random_secret(prefix, out, outlen, err);
}

int
store_session_create(struct db *db, int64_t token_id, const char *actor,
    int64_t ttl_ms, struct session_new *out, struct err *err)
{
	char id_hash[65], csrf_hash[65];
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ttl_ms < 1000)
		return err_set(err, ERR_INVALID, "session lifetime under 1s");
	if ((rc = random_secret(SESSION_ID_PREFIX, out->id, sizeof(out->id),
	    err)) < 0 ||
	    (rc = random_secret("", out->csrf, sizeof(out->csrf), err)) < 0 ||
	    (rc = sha256_hex(out->id, id_hash, err)) < 0 ||
	    (rc = sha256_hex(out->csrf, csrf_hash, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, id_hash);
	db_args_int64(&a, token_id);
	db_args_str(&a, csrf_hash);
	db_args_int64(&a, ttl_ms);
	db_args_str(&a, actor != NULL && actor[0] != '\0' ? actor : "api");
	if ((rc = db_exec(db, sql_create, &a, &res, err)) < 0) {
		if (rc == ERR_INVALID)
			rc = err_set(err, ERR_NOTFOUND, "token %lld not found",
			    (long long)token_id);
		goto out;
	}
	if (db_res_rows(res) != 1) {
		rc = err_set(err, ERR_GENERIC, "session not created");
		goto out;
	}
	(void)str_copy(out->expires_at, sizeof(out->expires_at),
	    db_res_text(res, 0, 0));
out:
	if (rc < 0)
		explicit_bzero(out, sizeof(*out));
	db_res_free(res);
	return rc;
}

/* Whether id looks like one of ours: "sls_" and 43 base64url characters. */
static int
well_formed(const char *id)
{
	if (id == NULL || strnlen(id, LIM_SESSION_ID + 1) != SESSION_ID_LEN ||
	    strncmp(id, SESSION_ID_PREFIX, strlen(SESSION_ID_PREFIX)) != 0)
		return 0;
	for (const char *p = id + strlen(SESSION_ID_PREFIX); *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

static int
from_hex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return hex[2 * n] == '\0' ? 0 : -1;
}

int
store_session_lookup(struct db *db, const char *id, struct session_info *out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	char hash[65];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!well_formed(id))
		return err_set(err, ERR_UNAUTHORIZED,
		    "session expired or signed out");
	if ((rc = sha256_hex(id, hash, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_str(&a, hash);
	if ((rc = db_exec(db, sql_lookup, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) != 1) {
		rc = err_set(err, ERR_UNAUTHORIZED,
		    "session expired or signed out");
		goto out;
	}
	if ((rc = db_res_int64(res, 0, 0, &out->token_id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 5, &out->ends_ms, err)) < 0 ||
	    (rc = role_parse(db_res_text(res, 0, 2), &out->role, err)) < 0)
		goto out;
	(void)str_copy(out->name, sizeof(out->name), db_res_text(res, 0, 1));
	(void)str_copy(out->expires_at, sizeof(out->expires_at),
	    db_res_text(res, 0, 4));
	if (from_hex(db_res_text(res, 0, 3), out->csrf_hash,
	    sizeof(out->csrf_hash)) < 0)
		rc = err_set(err, ERR_GENERIC, "stored csrf hash is malformed");
out:
	db_res_free(res);
	return rc;
}

int
store_session_check_csrf(const struct session_info *s, const char *csrf,
    struct err *err)
{
	unsigned char md[32];

	/*
	 * Hashing first makes the comparison fixed-length; CRYPTO_memcmp
	 * makes it constant-time.
	 */
	if (csrf == NULL || csrf[0] == '\0' || strlen(csrf) > LIM_TOKEN)
		return err_set(err, ERR_FORBIDDEN, "missing X-CSRF-Token "
		    "header: writes with a session cookie need the CSRF "
		    "token given at sign-in");
	if (hash_sha256(csrf, strlen(csrf), md, err) < 0 ||
	    CRYPTO_memcmp(md, s->csrf_hash, sizeof(md)) != 0)
		return err_set(err, ERR_FORBIDDEN, "X-CSRF-Token does not "
		    "match this session");
	return 0;
}

int
store_session_delete(struct db *db, const char *id, const char *actor,
    int *ended, struct err *err)
{
	struct db_args a;
	char hash[65];
	int64_t n = 0;
	int rc;

	*ended = 0;
	if (!well_formed(id))
		return 0;
	if ((rc = sha256_hex(id, hash, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_str(&a, hash);
	db_args_str(&a, actor != NULL && actor[0] != '\0' ? actor : "api");
	rc = db_exec_changed(db, sql_delete, &a, &n, err);
	*ended = n > 0;
	return rc;
}
