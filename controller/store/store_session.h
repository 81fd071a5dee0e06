/*
 * store_session.h - console sessions (table sessions).
 *
 * The console signs in with an API token and then holds a session: an
 * HttpOnly cookie with a random session id, plus a CSRF token that it
 * sends back in X-CSRF-Token on every write.  Both are 32 random bytes
 * from the OpenSSL CSPRNG in unpadded base64url; only their SHA-256 is
 * stored, so a database dump opens no session.  A session has its token's
 * role, ends when its token is revoked or expires, and lasts a fixed time
 * from sign-in (cfg session_ttl), not sliding.
 *
 * Sign-in and sign-out append an event (entity_type 'token', actions
 * 'session.created' and 'session.ended', actor the token's name).  All
 * calls block on the database and fail as db_exec() does (ERR_TRANSIENT
 * when it is unavailable).
 */
#ifndef SLUICE_STORE_SESSION_H
#define SLUICE_STORE_SESSION_H

#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"
#include "base/role.h"

struct db;

#define SESSION_ID_PREFIX	"sls_"
#define SESSION_ID_LEN		47	/* "sls_" + 43 characters */
#define SESSION_CSRF_LEN	43

/* A new session, as shown once to the client that signed in. */
struct session_new {
	char	id[SESSION_ID_LEN + 1];		/* the cookie value */
	char	csrf[SESSION_CSRF_LEN + 1];	/* for X-CSRF-Token */
	char	expires_at[32];			/* RFC 3339 */
};

/* A live session, as found from its cookie. */
struct session_info {
	int64_t		token_id;
	char		name[LIM_NAME + 1];	/* the token's name */
	enum role	role;
	char		expires_at[32];		/* RFC 3339 */
	int64_t		ends_ms;		/* unix ms: when it or its
						   token expires, the sooner */
	unsigned char	csrf_hash[32];		/* SHA-256 of the CSRF token */
};

/*
 * Start a session for token token_id (its name, for the event, in actor)
 * lasting ttl_ms, and fill *out.  Expired sessions are purged on the way.
 * Errors: ERR_INVALID for ttl_ms < 1000, ERR_NOTFOUND when the token is
 * gone, ERR_GENERIC when no randomness is available.
 */
int	store_session_create(struct db *db, int64_t token_id, const char *actor,
	    int64_t ttl_ms, struct session_new *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Find the live session whose cookie value is id: not expired, its token
 * neither revoked nor expired.  Records the use (last_seen_at, at most
 * once a minute).  Errors: ERR_UNAUTHORIZED "session expired or signed
 * out" for anything else (a malformed id asks nothing of the database).
 */
int	store_session_lookup(struct db *db, const char *id,
	    struct session_info *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Whether csrf (the X-CSRF-Token header, may be NULL) is the session's,
 * comparing SHA-256 hashes in constant time.  Errors: ERR_FORBIDDEN.
 * Pure; does not touch the database.
 */
int	store_session_check_csrf(const struct session_info *s,
	    const char *csrf, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * End the session whose cookie value is id (actor for the event).  Ending
 * one that does not exist is not an error: *ended says whether one did.
 */
int	store_session_delete(struct db *db, const char *id, const char *actor,
	    int *ended, struct err *err) __attribute__((warn_unused_result));

#endif
