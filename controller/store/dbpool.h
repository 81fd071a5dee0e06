/*
 * dbpool.h - a small bounded pool of database connections for the HTTP
 * threads.
 *
 * A struct db is one connection and not thread-safe; an HTTP handler
 * borrows one for the length of its work and gives it back:
 *
 *	struct db *db = NULL;
 *
 *	if (dbpool_acquire(ctl->dbpool, &db, err) < 0)
 *		goto out;		(503: database busy or down)
 *	... db_exec(db, ...) ...
 *   out:
 *	dbpool_release(ctl->dbpool, db);
 *
 * Connections are opened lazily, at most size of them; a caller that finds
 * none free waits up to wait_ms for one.  A connection that broke is not
 * replaced here: db.h reconnects it before its next statement.  A
 * connection given back inside a transaction (a bug in the caller) is
 * rolled back first, so the next borrower starts clean.
 */
#ifndef SLUICE_DBPOOL_H
#define SLUICE_DBPOOL_H

#include <stdint.h>

#include "base/err.h"

struct db;
struct dbpool;

/*
 * A pool of up to size connections to conninfo (copied; it may hold a
 * password and is never logged), waiting up to wait_ms for a free one.
 * Opens nothing yet.  Free with dbpool_free (NULL is a no-op), after every
 * connection was given back.
 */
struct dbpool *dbpool_new(const char *conninfo, int size, int wait_ms);

/*
 * Cap every statement on the pool's connections at ms milliseconds (> 0;
 * see db_set_statement_timeout), so that no borrower holds a database
 * backend longer.  Call before the first dbpool_acquire.
 */
void	dbpool_set_statement_timeout(struct dbpool *p, int64_t ms);
void	dbpool_free(struct dbpool *p);

/*
 * Borrow a connection into *out, opening one when none is idle and the
 * pool is not full, else waiting.  Errors: ERR_TRANSIENT "database busy"
 * when none came free in time, ERR_TRANSIENT (as db_open) when a new one
 * cannot connect.  Blocks.
 */
int	dbpool_acquire(struct dbpool *p, struct db **out, struct err *err)
	    __attribute__((warn_unused_result));

/* Give a borrowed connection back; NULL is a no-op. */
void	dbpool_release(struct dbpool *p, struct db *db);

#endif
