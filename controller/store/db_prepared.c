/*
 * db_prepared.c - statements prepared once per connection; see
 * db_exec_prepared in db.h.
 *
 * The names are "sluice_p<n>", n the statement's slot on this connection.
 * A reconnected connection is a new backend holding none of them: the
 * backend pid tells, as for LISTEN (db_notify.c).
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "store/db_int.h"

static int
ok(const PGresult *pg)
{
	ExecStatusType st = pg != NULL ? PQresultStatus(pg) : PGRES_FATAL_ERROR;

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static int
exec_once(struct db *db, const char *sql, const struct db_args *args,
    struct db_res **res, struct err *err)
{
	PGresult *pg = NULL;
	PGconn *conn;
	char name[32];
	int rc, i;

	if (res != NULL)
		*res = NULL;
	if ((rc = db_conn(db, &conn, err)) < 0)
		return rc;
	if (PQbackendPID(conn) != db->prep_pid) {
		db->nprep = 0;
		db->prep_pid = PQbackendPID(conn);
	}
	for (i = 0; i < db->nprep; i++)
		if (db->prep_sql[i] == sql)
			break;
	if (i == db->nprep) {
		if (db->nprep >= DB_MAX_PREPARED)
			return db_exec(db, sql, args, res, err);
		(void)snprintf(name, sizeof(name), "sluice_p%d", i);
		pg = PQprepare(conn, name, sql, 0, NULL);
		if (!ok(pg)) {
			rc = db_result_error(db, pg, err);
			PQclear(pg);
			return rc;
		}
		PQclear(pg);
		db->prep_sql[db->nprep++] = sql;
	}
	(void)snprintf(name, sizeof(name), "sluice_p%d", i);
	pg = PQexecPrepared(conn, name, args != NULL ? args->n : 0,
	    args != NULL ? args->values : NULL, NULL, NULL, 0);
	if (!ok(pg)) {
		rc = db_result_error(db, pg, err);
		PQclear(pg);
		/* Gone from the server (DISCARD ALL): forget them all. */
		if (strcmp(db->sqlstate, "26000") == 0)
			db->nprep = 0;
		return rc;
	}
	if (res != NULL) {
		*res = xcalloc(1, sizeof(**res));
		(*res)->pg = pg;
	} else {
		PQclear(pg);
	}
	return 0;
}

int
db_exec_prepared(struct db *db, const char *sql, const struct db_args *args,
    struct db_res **res, struct err *err)
{
	int rc = exec_once(db, sql, args, res, err);

	/*
	 * A statement the server no longer has ran nothing: prepare it
	 * again and run it, once.
	 */
	if (rc < 0 && strcmp(db->sqlstate, "26000") == 0)
		rc = exec_once(db, sql, args, res, err);
	return rc;
}
