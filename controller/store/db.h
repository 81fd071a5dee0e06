/*
 * db.h - the PostgreSQL connection: parameterized statements, transactions,
 * advisory locks and reconnection.  libpq stays behind this header (and
 * db_int.h, which only the store_*.c and migrate.c files include).
 *
 *	struct db *db = NULL;
 *	struct db_args a;
 *	struct db_res *res = NULL;
 *
 *	if (db_open(&db, cfg->database_url, err) < 0)
 *		goto out;
 *	db_args_init(&a);
 *	db_args_int64(&a, run_id);
 *	if (db_exec(db, "SELECT status FROM runs WHERE id = $1", &a, &res,
 *	    err) < 0)
 *		goto out;
 *	if (db_res_rows(res) == 1)
 *		use(db_res_text(res, 0, 0));
 *   out:
 *	db_res_free(res);
 *	db_free(db);
 *
 * SQL is always constant text; values travel as $n parameters (text form).
 *
 * Reconnection.  Before each statement run outside a transaction, the
 * connection is checked without blocking (anything the server sent while we
 * were idle, such as "terminating connection due to administrator command"
 * or end of file, is read); a broken connection is reset and the statement
 * then runs on the new one.  So after PostgreSQL restarts, the next call
 * succeeds as soon as the server accepts connections again, and a call made
 * while it is down fails with ERR_TRANSIENT ("database unavailable: ...").
 * A statement whose connection breaks while it runs is not retried, because
 * whether it took effect is unknown: it fails with ERR_TRANSIENT and the
 * next call reconnects.  Inside a transaction, or while a session advisory
 * lock is held, a lost connection is never replaced silently (the
 * transaction or the lock went with it): calls fail with ERR_TRANSIENT until
 * db_rollback() / db_advisory_unlock() have been called.
 *
 * Errors map the SQLSTATE to a code callers can branch on:
 *	ERR_TRANSIENT	connection failures, server shutting down or starting
 *			up, serialization failures, deadlocks, out of resources
 *	ERR_CONFLICT	unique and exclusion violations
 *	ERR_INVALID	CHECK, NOT NULL and foreign-key violations, bad input
 *			values (22xxx)
 *	ERR_GENERIC	anything else (a bug in our SQL, a missing table)
 * The message is the server's primary message, e.g.
 *	database: duplicate key value violates unique constraint "..."
 * and never contains the connection string.  db_sqlstate() gives the exact
 * code when a caller needs more.
 *
 * A struct db is one connection and is not thread-safe: one per thread.
 */
#ifndef SLUICE_DB_H
#define SLUICE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"

struct db;
struct db_res;
struct buf;

/*
 * Parameters of one statement, on the stack.  Values are borrowed: strings
 * given to db_args_str() must stay valid until the db_exec() that uses them
 * returns.  Numbers are formatted into the struct itself.  Adding more than
 * LIM_DB_PARAMS values is a programmer error (abort).
 */
struct db_args {
	int		 n;
	const char	*values[LIM_DB_PARAMS];
	char		 num[LIM_DB_PARAMS][32];
};

void	db_args_init(struct db_args *a);
/* A text value; NULL passes SQL NULL. */
void	db_args_str(struct db_args *a, const char *s);
void	db_args_int64(struct db_args *a, int64_t v);
void	db_args_double(struct db_args *a, double v);
/* "true" or "false". */
void	db_args_bool(struct db_args *a, int v);
/* SQL NULL.  (Pass bytea as hex text and decode($n, 'hex') in SQL.) */
void	db_args_null(struct db_args *a);

/*
 * The n numbers v as a bigint[] literal ("{1,2,3}") in out (reset
 * first), for a `$n::bigint[]` parameter.  ERR_TOOBIG past out's cap.
 */
int	db_int64_array(struct buf *out, const int64_t *v, size_t n,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Connect to conninfo (a libpq keyword/value string or a postgresql:// URI).
 * The connection string is copied; it may hold a password and is never
 * logged or put in a message.  A connect timeout of 10 seconds applies
 * unless conninfo sets connect_timeout, and TCP keepalives (libpq's
 * keepalives_idle 10, keepalives_interval 5, keepalives_count 3) unless
 * it sets them: a server that vanished without closing the connection is
 * noticed within about 25 seconds of silence, not the system's hours.
 *
 * Fails (and leaves *out NULL) when the server cannot be reached: a caller
 * that wants to wait for the database retries.  Errors: ERR_INVALID for a
 * malformed conninfo, ERR_TRANSIENT when the connection fails.  Blocks
 * while connecting.
 */
int	db_open(struct db **out, const char *conninfo, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Cap every statement of db at ms milliseconds (> 0; PostgreSQL's
 * statement_timeout), now and on every backend a reconnect brings.  A
 * statement past it is canceled and fails with ERR_TRANSIENT ("canceling
 * statement due to statement timeout").  Errors: as db_exec.  Blocks.
 */
int	db_set_statement_timeout(struct db *db, int64_t ms, struct err *err)
	    __attribute__((warn_unused_result));

/* Close the connection and free everything; NULL is a no-op. */
void	db_free(struct db *db);

/*
 * Run one statement with parameters (args may be NULL when there are none).
 * When res is not NULL, *res receives the rows (the caller frees it with
 * db_res_free), even when there are none; on error *res is NULL.  Blocks
 * until the server answers.  Errors as described at the top of this file.
 */
int	db_exec(struct db *db, const char *sql, const struct db_args *args,
	    struct db_res **res, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run one statement (as db_exec) that answers with an integer, and read it
 * from the first column of the first row into *out: a count, an id from
 * RETURNING, a flag.  Rows past the first and columns past the first are
 * ignored.  *out is set to 0 first, so it is 0 on every error.
 * Errors: those of db_exec; ERR_NOTFOUND ("database: no row" / "database:
 * column 'x' is null") when the statement returned no row or a NULL there,
 * which callers that name the missing thing replace with their own message;
 * ERR_INVALID when the value is not a 64-bit integer.  Nothing to free.
 * Blocks until the server answers.
 */
int	db_exec_int64(struct db *db, const char *sql,
	    const struct db_args *args, int64_t *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run one INSERT, UPDATE or DELETE (as db_exec) and set *changed (may be
 * NULL) to the number of rows it inserted, updated or deleted (the
 * command tag's count; 0 for other statements).  *changed is 0 on error.
 * Errors: those of db_exec.  Blocks until the server answers.
 */
int	db_exec_changed(struct db *db, const char *sql,
	    const struct db_args *args, int64_t *changed, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run sql, a guarded change whose one row's first column says how much it
 * changed (a count, or an id): that value into *first (may be NULL).
 * When it is 0, NULL or there is no row, the guard did not hold: the row
 * was not in the state the caller saw, and the answer is ERR_CONFLICT
 * "<what>: the state changed meanwhile".  Other errors as db_exec.
 */
int	db_exec_guarded(struct db *db, const char *sql,
	    const struct db_args *args, int64_t *first, const char *what,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * db_exec for hot read statements: sql is prepared once per connection
 * (a server-side prepared statement, re-prepared after a reconnect) and
 * then only executed, so a large statement is parsed and planned once
 * instead of at every call.  sql must have static storage duration (a
 * string constant): its address is the key.  Past DB_MAX_PREPARED
 * statements per connection it behaves as db_exec.  Errors as db_exec.
 * (db_prepared.c)
 */
int	db_exec_prepared(struct db *db, const char *sql,
	    const struct db_args *args, struct db_res **res, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run SQL text that may hold several statements and no parameters, with
 * the simple query protocol.  Only for trusted constant text (migration
 * files).  On error the message starts with the line of sql where the
 * server pointed, when it did: "line 12: syntax error at or near ...".
 */
int	db_exec_script(struct db *db, const char *sql, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Transactions.  db_begin() starts one (nesting is a programmer error);
 * db_commit() ends it; both fail as db_exec() does.  A failed commit leaves
 * no transaction open; with ERR_TRANSIENT its outcome is unknown.
 * db_rollback() ends a transaction whatever its state, never fails in a
 * way the caller must handle (a broken connection has rolled it back
 * already), and is a no-op outside a transaction, so it fits an out: label.
 */
int	db_begin(struct db *db, struct err *err)
	    __attribute__((warn_unused_result));
int	db_commit(struct db *db, struct err *err)
	    __attribute__((warn_unused_result));
void	db_rollback(struct db *db);
/* Whether a transaction is open. */
int	db_in_transaction(const struct db *db);

/*
 * Session-level advisory locks (pg_advisory_lock): key is one 64-bit
 * number per purpose, listed in db.h below.  db_advisory_lock() blocks until
 * the lock is free; db_advisory_try_lock() sets *got to 1 or 0 without
 * waiting.  Locks belong to the connection: see "Reconnection" above.
 * db_advisory_unlock() releases one; on a broken connection it only
 * forgets it (the server released it).  Advisory locks are per database.
 */
#define DB_LOCK_MIGRATE		INT64_C(0x736c75696365004d)	/* "sluice\0M" */
#define DB_LOCK_RETENTION	INT64_C(0x736c756963650052)	/* "sluice\0R" */

int	db_advisory_lock(struct db *db, int64_t key, struct err *err)
	    __attribute__((warn_unused_result));
int	db_advisory_try_lock(struct db *db, int64_t key, int *got,
	    struct err *err) __attribute__((warn_unused_result));
int	db_advisory_unlock(struct db *db, int64_t key, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * As db_advisory_try_lock(), but wait up to wait_ms (> 0) for the lock,
 * in the server (lock_timeout, in a transaction of its own): PostgreSQL
 * grants it the moment the holder's session ends, so a standby blocked
 * here takes over as soon as the server has seen its predecessor's
 * connection go.  *got is 0 when the time ran out.  Blocks up to wait_ms
 * plus a few round trips.  Errors as db_exec; *got is then 0.
 */
int	db_advisory_lock_wait(struct db *db, int64_t key, int64_t wait_ms,
	    int *got, struct err *err) __attribute__((warn_unused_result));

/*
 * Ask the server to probe this connection's client with TCP keepalives
 * after idle_s idle seconds, every interval_s seconds, count times
 * (tcp_keepalives_idle/_interval/_count for this session; ignored on a
 * Unix socket): a session whose client host vanished without closing
 * its socket ends, with its advisory locks, within about idle_s +
 * interval_s * count seconds instead of the system's default of hours.
 * Errors as db_exec.
 */
int	db_server_keepalives(struct db *db, int idle_s, int interval_s,
	    int count, struct err *err) __attribute__((warn_unused_result));

/*
 * Check that the database answers (SELECT 1), reconnecting if needed.
 * For /readyz.  Errors: ERR_TRANSIENT.
 */
int	db_ping(struct db *db, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * LISTEN/NOTIFY (db_notify.c).  db_listen() subscribes the connection to
 * channel (lowercase letters and '_' only; at most 4 per connection).
 * db_wait_notify() waits up to timeout_ms for a notification and returns
 * 1 with its channel and payload (truncated to fit), or 0 on timeout.
 * When the connection was replaced since the last call (PostgreSQL
 * restarted), the LISTENs are issued again and 1 is returned with an empty
 * channel: notifications may have been missed, so the caller should look
 * at everything once.  A connection used for waiting should not be inside
 * a transaction.  Errors: ERR_TRANSIENT, ERR_INVALID for a bad channel.
 */
int	db_listen(struct db *db, const char *channel, struct err *err)
	    __attribute__((warn_unused_result));
int	db_wait_notify(struct db *db, int timeout_ms, char *channel,
	    size_t chlen, char *payload, size_t plen, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The socket a notification arrives on, to poll() it without holding
 * what guards the connection (then db_wait_notify with timeout 0); -1
 * when there is none.  It changes when the connection is replaced.
 */
int	db_notify_fd(struct db *db);

/*
 * The SQLSTATE of the last failed statement ("23505"), or "" when the last
 * statement succeeded or failed without one (connection failures).
 */
const char *db_sqlstate(const struct db *db);

/*
 * Results.  Rows and columns count from 0.  Text is borrowed until
 * db_res_free().  Values come in PostgreSQL's text output form (bytea as
 * "\x..." hex, booleans as "t"/"f"); format timestamps in SQL with the
 * rfc3339(timestamptz) function of migration 0001.
 */
size_t	db_res_rows(const struct db_res *r);
int	db_res_cols(const struct db_res *r);
/* The value, or NULL for SQL NULL.  Out-of-range row/col abort. */
const char *db_res_text(const struct db_res *r, size_t row, int col);
int	db_res_is_null(const struct db_res *r, size_t row, int col);
/*
 * Parse a value.  ERR_INVALID (with the column name in the message) when it
 * is NULL or not a number in range; *out is then untouched.
 */
int	db_res_int64(const struct db_res *r, size_t row, int col,
	    int64_t *out, struct err *err) __attribute__((warn_unused_result));
int	db_res_double(const struct db_res *r, size_t row, int col,
	    double *out, struct err *err) __attribute__((warn_unused_result));
/*
 * Append a bytea value (its text form, unescaped by libpq) to out, but its
 * first skip bytes.  ERR_INVALID when NULL, not bytea text or shorter than
 * skip; ERR_TOOBIG when out has no room.
 */
int	db_res_bytea(const struct db_res *r, size_t row, int col, size_t skip,
	    struct buf *out, struct err *err) __attribute__((warn_unused_result));
/* "t" is 1, "f" is 0, anything else ERR_INVALID. */
int	db_res_bool(const struct db_res *r, size_t row, int col, int *out,
	    struct err *err) __attribute__((warn_unused_result));
/* Rows changed by an INSERT, UPDATE or DELETE (without RETURNING too). */
int64_t	db_res_affected(const struct db_res *r);
void	db_res_free(struct db_res *r);

#endif
