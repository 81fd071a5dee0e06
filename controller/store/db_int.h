/*
 * db_int.h - the inside of struct db, for the db family only: db.c,
 * migrate.c and store_*.c.  Nothing else includes libpq.
 *
 * A store file normally needs only db.h; this header is for the rare
 * statement db_exec() cannot express (COPY, binary results, LISTEN).
 */
#ifndef SLUICE_DB_INT_H
#define SLUICE_DB_INT_H

#include <libpq-fe.h>

#include "store/db.h"

#define DB_MAX_LISTEN	4
#define DB_MAX_PREPARED	64	/* statements db_exec_prepared keeps */

struct db {
	PGconn	*conn;		/* owned; never NULL after db_open */
	char	*conninfo;	/* owned; may hold a password: never logged */
	int	 in_tx;		/* a transaction is open (db_begin) */
	int	 nlocks;	/* session advisory locks held */
	char	 sqlstate[6];	/* of the last failed statement, or "" */
	/* LISTEN channels (db_notify.c), re-issued after a reconnect */
	char	 listen_ch[DB_MAX_LISTEN][64];
	int	 nlisten;
	int	 listen_pid;	/* backend that holds the LISTENs, 0 = none */
	/* prepared statements (db_prepared.c), keyed by their SQL's address */
	const char *prep_sql[DB_MAX_PREPARED];
	int	 nprep;
	int	 prep_pid;	/* backend that holds them, 0 = none */
	/* statement_timeout (db_set_statement_timeout), set on each backend */
	int64_t	 timeout_ms;	/* 0 = the server's */
	int	 timeout_pid;	/* backend it was set on, 0 = none */
};

struct db_res {
	PGresult	*pg;	/* owned */
};

/*
 * Make the connection ready for a statement: read what the server sent
 * while we were idle and reset a broken connection when that is safe (see
 * "Reconnection" in db.h).  On success *conn is the connection, borrowed
 * until the next db call.  Errors: ERR_TRANSIENT.
 */
int	db_conn(struct db *db, PGconn **conn, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Translate a failed result (res may be NULL when libpq returned none) into
 * err and return the code; records the SQLSTATE for db_sqlstate().
 */
int	db_result_error(struct db *db, const PGresult *res, struct err *err);

#endif
