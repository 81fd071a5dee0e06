/*
 * auth_cache.h - the tokens and console sessions the guard (auth.c)
 * looked up lately, so that a request with a known credential costs no
 * database round trip.
 *
 * Bounded: LIM_AUTH_CACHE slots, chosen by the SHA-256 of the presented
 * secret (a newer entry replaces an older one in its slot); only that
 * hash is kept, never the secret.  An entry is trusted for
 * LIM_AUTH_CACHE_TTL_MS at most, and never past the expiry of its token or
 * session.  Only successful lookups are cached: an unknown or revoked
 * credential asks the database every time.
 *
 * Invalidation: one thread per process LISTENs on its own connection to
 * sluice_auth, which PostgreSQL triggers send (migration 0006_auth_notify) whenever a
 * token is revoked, expired, re-roled or deleted and whenever a session
 * ends or is changed, whichever replica or `sluice token` did it; each
 * notification empties the cache.  Before it answers from the cache, a
 * lookup also takes whatever notification has already reached that
 * connection.  While the listener is not listening (starting, or its
 * connection lost) nothing is cached, and a reconnection empties the
 * cache, since notifications were lost meanwhile.  So a revoked token is
 * refused by every replica from the moment the notification arrives (on
 * one machine, well under a millisecond after the revoke commits).
 *
 * Thread-safe.  The listener starts with the first lookup.
 */
#ifndef SLUICE_AUTH_CACHE_H
#define SLUICE_AUTH_CACHE_H

#include <stdint.h>

#include "store/store_session.h"
#include "store/store_token.h"

struct auth_cache;

/* A cache for the database at conninfo (copied); starts nothing. */
struct auth_cache *auth_cache_new(const char *conninfo);

/* Stop the listener (within a second) and free; NULL is a no-op. */
void	auth_cache_free(struct auth_cache *c);

/*
 * The cached lookup of token (the bearer text) or session id (the
 * cookie): 1 and *out filled on a hit, 0 on a miss, with *gen to hand to
 * the put after the database lookup (a lookup that raced with a revoke
 * is then not kept).  c may be NULL (a miss).
 */
int	auth_cache_token(struct auth_cache *c, const char *token,
	    struct token_info *out, uint64_t *gen);
int	auth_cache_session(struct auth_cache *c, const char *id,
	    struct session_info *out, uint64_t *gen);

/* Remember a successful lookup (nothing while not listening). */
void	auth_cache_put_token(struct auth_cache *c, uint64_t gen,
	    const char *token, const struct token_info *t);
void	auth_cache_put_session(struct auth_cache *c, uint64_t gen,
	    const char *id, const struct session_info *s);

/* Forget everything (this process revoked or signed out something). */
void	auth_cache_clear(struct auth_cache *c);

#endif
