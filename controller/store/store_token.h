/*
 * store_token.h - API tokens (table api_tokens).
 *
 * A token is "slc_" followed by 43 base64url characters (32 random bytes
 * from the OpenSSL CSPRNG).  Only its SHA-256 is stored, so a token is
 * shown once, at creation, and a database dump reveals none.  Looking a
 * token up hashes the presented text and finds the row by that hash; the
 * comparison is of hashes of a 256-bit secret, so its timing tells an
 * attacker nothing useful.
 *
 * Every create and revoke also appends an event (entity_type 'token') in
 * the same statement.  All calls block on the database and fail as
 * db_exec() does (ERR_TRANSIENT when it is unavailable).
 */
#ifndef SLUICE_STORE_TOKEN_H
#define SLUICE_STORE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"
#include "base/role.h"

struct db;

#define TOKEN_PREFIX	"slc_"
#define TOKEN_LEN	47		/* "slc_" + 43 characters */

struct token_info {
	int64_t		id;
	char		name[LIM_NAME + 1];
	enum role	role;
	char		created_at[32];		/* RFC 3339 */
	char		last_used_at[32];	/* "" when never used */
	char		revoked_at[32];		/* "" when live */
	int64_t		expires_ms;		/* lookup only: unix ms of its
						   expiry, 0 = never */
};

/*
 * Check a token name: 1 to 63 letters, digits, '.', '_', '@' or '-',
 * starting with a letter or digit.  Errors: ERR_INVALID.
 */
int	store_token_check_name(const char *name, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Create a token called name with role, recorded as created by actor
 * ("cli", or the admin's token name), and write it into token (tokenlen at
 * least TOKEN_LEN + 1).  Errors: ERR_INVALID for a bad name or role,
 * ERR_CONFLICT when a live token already has that name.
 */
int	store_token_create(struct db *db, const char *name, enum role role,
	    const char *actor, char *token, size_t tokenlen, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Find the live (not revoked, not expired) token whose text is token and
 * fill *out; last_used_at is the use before this one.  Records the use
 * (last_used_at, at most once a minute per token).  Errors:
 * ERR_UNAUTHORIZED "invalid or revoked token" for anything else, without
 * saying which.
 */
int	store_token_lookup(struct db *db, const char *token,
	    struct token_info *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * All tokens, revoked ones too, oldest first, into a new array *out of *n
 * entries (the caller frees it with free()).
 */
int	store_token_list(struct db *db, struct token_info **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Revoke the live token called name and end its console sessions.
 * Errors: ERR_NOTFOUND when there is no such live token.
 */
int	store_token_revoke(struct db *db, const char *name, const char *actor,
	    struct err *err) __attribute__((warn_unused_result));

#endif
