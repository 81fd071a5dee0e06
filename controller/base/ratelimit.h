/*
 * ratelimit.h - token buckets per key (a client address), in memory.
 *
 * Each key has a bucket of burst tokens that refills at rate tokens per
 * second.  The HTTP edge keeps two limiters: failed authentications (a
 * client that fails LIM_AUTH_FAILURES times within a period is answered
 * 429 until its bucket refills) and webhook calls.
 *
 * The table is bounded (max_keys): a new key takes a free slot, else the
 * slot of a key whose bucket is full again (it carries no information),
 * else the least recently used one.  So a flood of addresses can reset
 * some buckets early but never grows memory.  Thread-safe (one mutex).
 *
 * Times are milliseconds of a monotonic clock, passed in so tests need no
 * sleeping: sys_now_ms() of base/sys.h gives the real one.
 */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A limiter of burst tokens refilled over period_s seconds per key. */
struct ratelimit *ratelimit_new(int burst, int period_s, size_t max_keys);
/* NULL is a no-op. */
void	ratelimit_free(struct ratelimit *rl);

/*
 * Take one token from key's bucket.  Returns 0 when one was there, else
 * the whole seconds (at least 1) until one will be, for Retry-After; then
 * nothing was taken.
 */
int	ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms);

/*
 * Whether key's bucket is empty, without taking: 0 when a token is there,
 * else the seconds until one will be.
 */
int	ratelimit_blocked(struct ratelimit *rl, const char *key,
	    int64_t now_ms);

#endif
