/*
 * ratelimit.c - token buckets per key; see ratelimit.h.
 *
 * Keys live in a fixed array with a chained hash index; a lookup is a hash
 * and a short chain.  Finding a slot to reuse scans the array, which only
 * happens when it is full (a few thousand entries, under the mutex: still
 * microseconds).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/ratelimit.h"

#define KEY_MAX	64		/* an IPv6 address in text fits */
#define NONE	((size_t)-1)

struct bucket {
	char	 key[KEY_MAX];
	double	 tokens;
	int64_t	 updated_ms;	/* last refill */
	int64_t	 used_ms;	/* last access, for LRU */
	size_t	 next;		/* hash chain */
	int	 used;
};

struct ratelimit {
	pthread_mutex_t	 lock;
	double		 burst;
	double		 per_ms;	/* tokens per millisecond */
	struct bucket	*b;
	size_t		 n;
	size_t		*heads;		/* n chains */
};

struct ratelimit *
ratelimit_new(int burst, int period_s, size_t max_keys)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	BUG_ON(burst < 1 || period_s < 1 || max_keys < 1);
	BUG_ON(pthread_mutex_init(&rl->lock, NULL) != 0);
	rl->burst = burst;
	rl->per_ms = (double)burst / ((double)period_s * 1000.0);
	rl->n = max_keys;
	rl->b = xcalloc(max_keys, sizeof(*rl->b));
	rl->heads = xcalloc(max_keys, sizeof(*rl->heads));
	for (size_t i = 0; i < max_keys; i++)
		rl->heads[i] = NONE;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->b);
	free(rl->heads);
	free(rl);
}

static size_t
chain_of(const struct ratelimit *rl, const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	return h % rl->n;
}

static void
refill(const struct ratelimit *rl, struct bucket *b, int64_t now_ms)
{
	if (now_ms > b->updated_ms) {
		b->tokens += (double)(now_ms - b->updated_ms) * rl->per_ms;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->updated_ms = now_ms;
	}
}

static void
unlink_bucket(struct ratelimit *rl, size_t i)
{
	size_t *p = &rl->heads[chain_of(rl, rl->b[i].key)];

	while (*p != NONE && *p != i)
		p = &rl->b[*p].next;
	if (*p == i)
		*p = rl->b[i].next;
	rl->b[i].used = 0;
}

/* The slot to reuse for a new key: free, else refilled, else LRU. */
static size_t
victim(struct ratelimit *rl, int64_t now_ms)
{
	size_t lru = 0;

	for (size_t i = 0; i < rl->n; i++) {
		struct bucket *b = &rl->b[i];

		if (!b->used)
			return i;
		refill(rl, b, now_ms);
		if (b->tokens >= rl->burst)
			return i;
		if (b->used_ms < rl->b[lru].used_ms)
			lru = i;
	}
	return lru;
}

/* The bucket of key, created full when create is set. */
static struct bucket *
lookup(struct ratelimit *rl, const char *whole, int64_t now_ms, int create)
{
	char key[KEY_MAX];
	size_t c, i;
	struct bucket *b;

	(void)str_copy(key, sizeof(key), whole);	/* cut as stored */
	c = chain_of(rl, key);
	for (i = rl->heads[c]; i != NONE; i = rl->b[i].next)
		if (strcmp(rl->b[i].key, key) == 0)
			break;
	if (i == NONE) {
		if (!create)
			return NULL;
		i = victim(rl, now_ms);
		if (rl->b[i].used)
			unlink_bucket(rl, i);
		b = &rl->b[i];
		memset(b, 0, sizeof(*b));
		(void)str_copy(b->key, sizeof(b->key), key);
		b->tokens = rl->burst;
		b->updated_ms = now_ms;
		b->used = 1;
		b->next = rl->heads[c];
		rl->heads[c] = i;
	}
	b = &rl->b[i];
	refill(rl, b, now_ms);
	b->used_ms = now_ms;
	return b;
}

/* Whole seconds until b holds one token, at least 1. */
static int
wait_s(const struct ratelimit *rl, const struct bucket *b)
{
	double ms = (1.0 - b->tokens) / rl->per_ms;
	int s = (int)((ms + 999.0) / 1000.0);

	return s < 1 ? 1 : s;
}

int
ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms)
{
	struct bucket *b;
	int rc = 0;

	pthread_mutex_lock(&rl->lock);
	b = lookup(rl, key, now_ms, 1);
	if (b->tokens >= 1.0)
		b->tokens -= 1.0;
	else
		rc = wait_s(rl, b);
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

int
ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now_ms)
{
	struct bucket *b;
	int rc = 0;

	pthread_mutex_lock(&rl->lock);
	b = lookup(rl, key, now_ms, 0);
	if (b != NULL && b->tokens < 1.0)
		rc = wait_s(rl, b);
	pthread_mutex_unlock(&rl->lock);
	return rc;
}
