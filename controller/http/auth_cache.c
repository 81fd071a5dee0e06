/*
 * auth_cache.c - the guard's cache of looked-up tokens and sessions,
 * emptied by NOTIFY sluice_auth; see auth_cache.h.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/sys.h"
#include "http/auth_cache.h"
#include "store/db.h"

#define CHANNEL		"sluice_auth"

enum kind { KIND_NONE = 0, KIND_TOKEN, KIND_SESSION };

struct slot {
	enum kind	 kind;
	unsigned char	 key[32];	/* SHA-256 of kind and secret */
	int64_t		 until_ms;	/* sys_now_ms() deadline */
	union {
		struct token_info	t;
		struct session_info	s;
	} v;
};

struct auth_cache {
	char		*conninfo;
	pthread_mutex_t	 mu;		/* everything below */
	struct slot	*slots;		/* LIM_AUTH_CACHE */
	int		 live;		/* the listener listens */
	uint64_t	 gen;		/* clears so far */
	int		 started, stop;
	pthread_t	 thread;
	/* the listener's connection: used under conn_mu only */
	pthread_mutex_t	 conn_mu;
	struct db	*db;
	uint64_t	 hits, misses;
};

struct auth_cache *
auth_cache_new(const char *conninfo)
{
	struct auth_cache *c = xcalloc(1, sizeof(*c));

	c->conninfo = xstrdup(conninfo != NULL ? conninfo : "");
	c->slots = xcalloc(LIM_AUTH_CACHE, sizeof(*c->slots));
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->conn_mu, NULL);
	return c;
}

/* Under mu. */
static void
clear_locked(struct auth_cache *c)
{
	memset(c->slots, 0, LIM_AUTH_CACHE * sizeof(*c->slots));
	c->gen++;
}

void
auth_cache_clear(struct auth_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}

static void
set_live(struct auth_cache *c, int live)
{
	pthread_mutex_lock(&c->mu);
	c->live = live;
	clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}

/*
 * Take the notifications that reached the connection (no waiting): 1 when
 * there was one (or the connection was replaced), 0 none, < 0 an error.
 * Under conn_mu.
 */
static int
drain_locked(struct auth_cache *c)
{
	char ch[64], payload[64];
	struct err err;
	int rc, any = 0;

	while ((rc = db_wait_notify(c->db, 0, ch, sizeof(ch), payload,
	    sizeof(payload), &err)) > 0)
		any = 1;
	if (rc < 0)
		log_debug("auth cache listener", "error=\"%s\"", err.msg);
	return rc < 0 ? rc : any;
}

static int
stopping(struct auth_cache *c)
{
	int s;

	pthread_mutex_lock(&c->mu);
	s = c->stop;
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void
nap(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *
listen_main(void *arg)
{
	struct auth_cache *c = arg;
	struct err err;
	int backoff = 250;

	while (!stopping(c)) {
		struct pollfd pfd;
		int rc;

		pthread_mutex_lock(&c->conn_mu);
		if (c->db == NULL &&
		    db_open(&c->db, c->conninfo, &err) < 0)
			c->db = NULL;
		rc = c->db == NULL ? -1 :
		    db_listen(c->db, CHANNEL, &err) < 0 ? -1 : drain_locked(c);
		pfd.fd = c->db != NULL ? db_notify_fd(c->db) : -1;
		pthread_mutex_unlock(&c->conn_mu);
		if (rc < 0 || pfd.fd < 0) {
			set_live(c, 0);
			nap(backoff);
			if (backoff < 4000)
				backoff *= 2;
			continue;
		}
		if (rc > 0 || !c->live)
			set_live(c, 1);	/* emptied: changed or resynced */
		backoff = 250;
		pfd.events = POLLIN;
		pfd.revents = 0;
		(void)poll(&pfd, 1, 500);
	}
	return NULL;
}

/* Start the listener once; under mu. */
static void
start_locked(struct auth_cache *c)
{
	if (c->started)
		return;
	c->started = 1;
	if (pthread_create(&c->thread, NULL, listen_main, c) != 0) {
		c->started = 0;
		log_warn("auth cache off", "reason=%s", "no listener thread");
	}
}

void
auth_cache_free(struct auth_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->thread, NULL);
	db_free(c->db);
	pthread_mutex_destroy(&c->conn_mu);
	pthread_mutex_destroy(&c->mu);
	free(c->slots);
	free(c->conninfo);
	free(c);
}

static int
key_of(enum kind k, const char *secret, unsigned char key[32])
{
	char b[LIM_SESSION_ID + LIM_TOKEN + 4];
	struct err err;
	size_t n = strnlen(secret, sizeof(b) - 2);

	if (n >= sizeof(b) - 2)
		return -1;
	b[0] = k == KIND_TOKEN ? 't' : 's';
	memcpy(b + 1, secret, n);
	return hash_sha256(b, n + 1, key, &err);
}

static struct slot *
slot_of(struct auth_cache *c, const unsigned char key[32])
{
	uint32_t i = (uint32_t)key[0] | (uint32_t)key[1] << 8 |
	    (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;

	return &c->slots[i % LIM_AUTH_CACHE];
}

/*
 * Fill out (size n) from the slot of kind k and secret; 1 on a hit.  On a
 * miss *gen is what put() must be given.
 */
static int
get(struct auth_cache *c, enum kind k, const char *secret, void *out,
    size_t n, uint64_t *gen)
{
	unsigned char key[32];
	struct slot *s;
	int hit = 0, changed = 0, live;

	*gen = 0;
	if (c == NULL || secret == NULL || key_of(k, secret, key) < 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	start_locked(c);
	live = c->live;
	pthread_mutex_unlock(&c->mu);
	if (!live)
		return 0;
	/* what has already arrived counts: a revoke seen is a revoke */
	pthread_mutex_lock(&c->conn_mu);
	if (c->db != NULL)
		changed = drain_locked(c);
	pthread_mutex_unlock(&c->conn_mu);
	pthread_mutex_lock(&c->mu);
	if (changed != 0)
		clear_locked(c);
	*gen = c->gen;
	s = slot_of(c, key);
	if (c->live && s->kind == k && memcmp(s->key, key, 32) == 0 &&
	    sys_now_ms() < s->until_ms) {
		memcpy(out, &s->v, n);
		hit = 1;
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

/* Keep a lookup made after get() answered gen, unless cleared since. */
static void
put(struct auth_cache *c, uint64_t gen, enum kind k, const char *secret,
    const void *v, size_t n, int64_t ends_ms)
{
	unsigned char key[32];
	int64_t ttl = LIM_AUTH_CACHE_TTL_MS, left;
	struct slot *s;

	if (c == NULL || secret == NULL || key_of(k, secret, key) < 0)
		return;
	if (ends_ms > 0) {
		left = ends_ms - sys_wall_ms();
		if (left <= 0)
			return;
		if (left < ttl)
			ttl = left;
	}
	pthread_mutex_lock(&c->mu);
	if (c->live && gen == c->gen) {
		s = slot_of(c, key);
		s->kind = k;
		memcpy(s->key, key, 32);
		s->until_ms = sys_now_ms() + ttl;
		memcpy(&s->v, v, n);
	}
	pthread_mutex_unlock(&c->mu);
}

int
auth_cache_token(struct auth_cache *c, const char *token,
    struct token_info *out, uint64_t *gen)
{
	return get(c, KIND_TOKEN, token, out, sizeof(*out), gen);
}

int
auth_cache_session(struct auth_cache *c, const char *id,
    struct session_info *out, uint64_t *gen)
{
	return get(c, KIND_SESSION, id, out, sizeof(*out), gen);
}

void
auth_cache_put_token(struct auth_cache *c, uint64_t gen, const char *token,
    const struct token_info *t)
{
	put(c, gen, KIND_TOKEN, token, t, sizeof(*t), t->expires_ms);
}

void
auth_cache_put_session(struct auth_cache *c, uint64_t gen, const char *id,
    const struct session_info *s)
{
	put(c, gen, KIND_SESSION, id, s, sizeof(*s), s->ends_ms);
}
