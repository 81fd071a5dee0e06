/*
 * dbpool.c - bounded pool of database connections; see dbpool.h.
 *
 * Idle connections sit on a stack; nopen counts connections that exist or
 * are being opened, so the pool never exceeds its size even while a slow
 * connect runs outside the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/sys.h"
#include "store/db.h"
#include "store/dbpool.h"

struct dbpool {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a connection came back or a slot freed */
	char		*conninfo;	/* owned; never logged */
	int		 size;
	int		 wait_ms;
	int64_t		 timeout_ms;	/* statement_timeout, 0 = server's */
	int		 nopen;		/* open or being opened */
	struct db	**idle;		/* size slots */
	int		 nidle;
};

struct dbpool *
dbpool_new(const char *conninfo, int size, int wait_ms)
{
	struct dbpool *p = xcalloc(1, sizeof(*p));

	BUG_ON(size < 1 || wait_ms < 0);
	BUG_ON(pthread_mutex_init(&p->lock, NULL) != 0);
	sys_cond_init_monotonic(&p->cond);
	p->conninfo = xstrdup(conninfo);
	p->size = size;
	p->wait_ms = wait_ms;
	p->idle = xcalloc((size_t)size, sizeof(*p->idle));
	return p;
}

void
dbpool_set_statement_timeout(struct dbpool *p, int64_t ms)
{
	BUG_ON(ms <= 0);
	p->timeout_ms = ms;
}

void
dbpool_free(struct dbpool *p)
{
	if (p == NULL)
		return;
	/* Every connection must have come back: a leak is a bug. */
	BUG_ON(p->nidle != p->nopen);
	for (int i = 0; i < p->nidle; i++)
		db_free(p->idle[i]);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	explicit_bzero(p->conninfo, strlen(p->conninfo));
	free(p->conninfo);
	free(p->idle);
	free(p);
}

int
dbpool_acquire(struct dbpool *p, struct db **out, struct err *err)
{
	struct timespec deadline = sys_deadline_in(p->wait_ms);
	struct db *db = NULL;
	int rc = 0, open_new = 0;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->nidle > 0) {
			db = p->idle[--p->nidle];
			break;
		}
		if (p->nopen < p->size) {
			p->nopen++;
			open_new = 1;
			break;
		}
		if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) ==
		    ETIMEDOUT) {
			/* One may have come back at the last moment. */
			if (p->nidle > 0)
				continue;
			rc = err_set(err, ERR_TRANSIENT, "database busy: all "
			    "%d connections in use", p->size);
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (rc < 0) {
		log_warn("database pool exhausted", "size=%d wait_ms=%d",
		    p->size, p->wait_ms);
		return rc;
	}
	if (open_new && ((rc = db_open(&db, p->conninfo, err)) < 0 ||
	    (p->timeout_ms > 0 &&
	    (rc = db_set_statement_timeout(db, p->timeout_ms, err)) < 0))) {
		db_free(db);
		pthread_mutex_lock(&p->lock);
		p->nopen--;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	*out = db;
	return 0;
}

void
dbpool_release(struct dbpool *p, struct db *db)
{
	if (db == NULL)
		return;
	if (db_in_transaction(db)) {
		log_warn("connection returned inside a transaction",
		    "action=%s", "rollback");
		db_rollback(db);
	}
	pthread_mutex_lock(&p->lock);
	BUG_ON(p->nidle >= p->size);
	p->idle[p->nidle++] = db;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
