/*
 * db.c - the PostgreSQL connection; see db.h for the contract.
 *
 * Why a broken connection is detected before a statement rather than
 * retried after one: when PostgreSQL stops, every backend sends
 * "terminating connection due to administrator command" and closes its
 * socket, but libpq only notices when it next reads.  Reading what is
 * already there (poll with a zero timeout, then PQconsumeInput) finds the
 * end of file before anything is sent, so resetting and then running the
 * statement is always safe.  A connection that breaks after the statement
 * was sent leaves its outcome unknown (an INSERT may have committed), so
 * that case is reported as ERR_TRANSIENT and not retried blindly.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/db_int.h"

/* Seconds allowed to connect when conninfo does not say. */
#define DB_CONNECT_TIMEOUT	"10"

/* TCP keepalives of our side when conninfo does not say (db.h). */
#define DB_KEEPALIVES_IDLE	"10"
#define DB_KEEPALIVES_INTERVAL	"5"
#define DB_KEEPALIVES_COUNT	"3"

/* At most this many reads of pending input before a statement. */
#define DB_DRAIN_READS		8

void
db_args_init(struct db_args *a)
{
	a->n = 0;
}

static char *
args_slot(struct db_args *a)
{
	BUG_ON(a->n >= LIM_DB_PARAMS);
	return a->num[a->n];
}

void
db_args_str(struct db_args *a, const char *s)
{
	BUG_ON(a->n >= LIM_DB_PARAMS);
	a->values[a->n++] = s;
}

void
db_args_null(struct db_args *a)
{
	db_args_str(a, NULL);
}

void
db_args_int64(struct db_args *a, int64_t v)
{
	char *p = args_slot(a);

	(void)snprintf(p, sizeof(a->num[0]), "%" PRId64, v);
	a->values[a->n++] = p;
}

int
db_int64_array(struct buf *out, const int64_t *v, size_t n, struct err *err)
{
	int rc = 0;

	buf_reset(out);
	rc |= buf_putc(out, '{');
	for (size_t i = 0; i < n; i++)
		rc |= buf_printf(out, "%s%" PRId64, i ? "," : "", v[i]);
	rc |= buf_putc(out, '}');
	if (rc < 0)
		return err_set(err, ERR_TOOBIG, "too many ids for one statement");
	return 0;
}

void
db_args_double(struct db_args *a, double v)
{
	char *p = args_slot(a);

	/* %.17g reads back as the same double; PostgreSQL spells these. */
	if (isnan(v))
		(void)snprintf(p, sizeof(a->num[0]), "NaN");
	else if (isinf(v))
		(void)snprintf(p, sizeof(a->num[0]), "%s",
		    v > 0 ? "Infinity" : "-Infinity");
	else
		(void)snprintf(p, sizeof(a->num[0]), "%.17g", v);
	a->values[a->n++] = p;
}

void
db_args_bool(struct db_args *a, int v)
{
	db_args_str(a, v ? "true" : "false");
}

/*
 * Copy a libpq message into out on one line: newlines and tabs become
 * single spaces, trailing space goes.  libpq messages end with "\n" and
 * continue hints on indented lines.
 */
static void
one_line(char *out, size_t outlen, const char *msg)
{
	size_t n = 0;
	int space = 0;

	if (msg == NULL)
		msg = "";
	for (; *msg != '\0' && n + 1 < outlen; msg++) {
		unsigned char c = (unsigned char)*msg;

		if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < outlen)
			out[n++] = ' ';
		space = 0;
		out[n++] = (char)c;
	}
	out[n] = '\0';
}

static int
conn_error(struct db *db, const char *what, struct err *err)
{
	char msg[ERR_MSG_MAX];

	db->sqlstate[0] = '\0';
	one_line(msg, sizeof(msg), PQerrorMessage(db->conn));
	if (msg[0] == '\0')
		return err_set(err, ERR_TRANSIENT, "database unavailable: %s",
		    what);
	return err_set(err, ERR_TRANSIENT, "database unavailable: %s", msg);
}

/* The code a caller can branch on for a SQLSTATE. */
static int
sqlstate_code(const char *s)
{
	if (s == NULL || strlen(s) != 5)
		return ERR_GENERIC;
	if (strcmp(s, "08P01") == 0)		/* protocol violation: our bug */
		return ERR_GENERIC;
	if (strncmp(s, "08", 2) == 0 ||		/* connection exception */
	    strncmp(s, "53", 2) == 0 ||		/* insufficient resources */
	    strcmp(s, "57P01") == 0 ||		/* admin shutdown */
	    strcmp(s, "57P02") == 0 ||		/* crash shutdown */
	    strcmp(s, "57P03") == 0 ||		/* cannot connect now */
	    strcmp(s, "57014") == 0 ||		/* query canceled */
	    strcmp(s, "55P03") == 0 ||		/* lock not available */
	    strcmp(s, "40001") == 0 ||		/* serialization failure */
	    strcmp(s, "40P01") == 0)		/* deadlock detected */
		return ERR_TRANSIENT;
	if (strcmp(s, "23505") == 0 || strcmp(s, "23P01") == 0)
		return ERR_CONFLICT;
	if (strncmp(s, "23", 2) == 0 || strncmp(s, "22", 2) == 0)
		return ERR_INVALID;
	return ERR_GENERIC;
}

int
db_result_error(struct db *db, const PGresult *res, struct err *err)
{
	const char *state = NULL, *primary = NULL;
	char msg[ERR_MSG_MAX];
	int code;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (PQstatus(db->conn) != CONNECTION_OK)
		return conn_error(db, "connection lost", err);
	if (state != NULL)
		(void)str_copy(db->sqlstate, sizeof(db->sqlstate), state);
	else
		db->sqlstate[0] = '\0';
	one_line(msg, sizeof(msg),
	    primary != NULL ? primary : PQerrorMessage(db->conn));
	code = sqlstate_code(state);
	if (state != NULL && strcmp(state, "42P01") == 0)
		return err_set(err, code,
		    "database: %s (has 'sluice migrate' been run?)", msg);
	return err_set(err, code, "database: %s", msg);
}

/*
 * Server notices (RAISE NOTICE, "relation already exists, skipping") go to
 * the log instead of libpq's default, stderr (the logger escapes the
 * text, so it stays one parseable line).
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char msg[LIM_LOG_LINE / 2];

	(void)arg;
	one_line(msg, sizeof(msg), text);
	if (sev != NULL && strcmp(sev, "WARNING") == 0)
		log_warn("database warning", "text=\"%s\"", msg);
	else
		log_debug("database notice", "severity=%s text=\"%s\"",
		    sev != NULL ? sev : "?", msg);
}

/* The index of "dbname" (the caller's conninfo) in db_open's keys. */
#define DB_CONNINFO_VAL	5

/* Whether conninfo is a keyword/value string or a URI rather than a name. */
static int
is_conninfo(const char *s)
{
	return strchr(s, '=') != NULL || strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0;
}

int
db_open(struct db **out, const char *conninfo, struct err *err)
{
	/*
	 * Keywords are applied in order and conninfo is expanded from dbname,
	 * so the caller's connect_timeout wins over ours.
	 */
	const char *keys[] = { "connect_timeout", "keepalives_idle",
	    "keepalives_interval", "keepalives_count",
	    "fallback_application_name", "dbname", NULL };
	const char *vals[] = { DB_CONNECT_TIMEOUT, DB_KEEPALIVES_IDLE,
	    DB_KEEPALIVES_INTERVAL, DB_KEEPALIVES_COUNT, "sluice", conninfo,
	    NULL };
	PQconninfoOption *opts = NULL;
	struct db *db = NULL;
	char *perr = NULL, msg[ERR_MSG_MAX];
	int rc = 0;

	*out = NULL;
	if (conninfo == NULL)
		conninfo = vals[DB_CONNINFO_VAL] = "";
	if (strlen(conninfo) > LIM_DB_URL)
		return err_set(err, ERR_INVALID,
		    "database_url is longer than %d bytes", LIM_DB_URL);
	if (is_conninfo(conninfo)) {
		if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
			one_line(msg, sizeof(msg),
			    perr != NULL ? perr : "out of memory");
			rc = err_set(err, ERR_INVALID,
			    "invalid database_url: %s", msg);
			goto out;
		}
	}
	db = xcalloc(1, sizeof(*db));
	db->conninfo = xstrdup(conninfo);
	vals[DB_CONNINFO_VAL] = db->conninfo;
	if ((db->conn = PQconnectdbParams(keys, vals, 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "database: out of memory");
		goto out;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		rc = conn_error(db, "cannot connect", err);
		goto out;
	}
	PQsetNoticeReceiver(db->conn, notice_receiver, NULL);
	*out = db;
	db = NULL;
out:
	PQconninfoFree(opts);
	PQfreemem(perr);
	db_free(db);
	return rc;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	if (db->conninfo != NULL) {
		explicit_bzero(db->conninfo, strlen(db->conninfo));
		free(db->conninfo);
	}
	free(db);
}

/*
 * Read whatever the server sent while we were idle, without blocking, and
 * report whether the connection is still good.  A closed socket stays
 * readable, so the loop ends at its end of file (libpq then marks the
 * connection bad) or when nothing more is waiting.
 */
static int
conn_alive(PGconn *conn)
{
	struct pollfd pfd;
	int i, n;

	if (PQstatus(conn) != CONNECTION_OK)
		return 0;
	for (i = 0; i < DB_DRAIN_READS; i++) {
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return 0;
		n = poll(&pfd, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (PQconsumeInput(conn) == 0 ||
		    PQstatus(conn) != CONNECTION_OK)
			return 0;
	}
	return PQstatus(conn) == CONNECTION_OK;
}

static int	result_ok(const PGresult *res);

/*
 * The statement timeout of db on the backend it talks to now: a new
 * backend (after a reconnect) starts with the server's.
 */
static int
apply_timeout(struct db *db, struct err *err)
{
	static const char sql[] =
	    "SELECT set_config('statement_timeout', $1, false)";
	const char *vals[1];
	char ms[32];
	PGresult *pg;
	int rc = 0;

	if (db->timeout_ms == 0 || db->timeout_pid == PQbackendPID(db->conn))
		return 0;
	(void)snprintf(ms, sizeof(ms), "%lld", (long long)db->timeout_ms);
	vals[0] = ms;
	pg = PQexecParams(db->conn, sql, 1, NULL, vals, NULL, NULL, 0);
	if (pg == NULL || !result_ok(pg))
		rc = db_result_error(db, pg, err);
	else
		db->timeout_pid = PQbackendPID(db->conn);
	PQclear(pg);
	return rc;
}

int
db_conn(struct db *db, PGconn **conn, struct err *err)
{
	*conn = NULL;
	db->sqlstate[0] = '\0';
	if (conn_alive(db->conn)) {
		*conn = db->conn;
		return apply_timeout(db, err);
	}
	if (db->in_tx)
		return err_set(err, ERR_TRANSIENT,
		    "database unavailable: connection lost inside a "
		    "transaction");
	if (db->nlocks > 0)
		return err_set(err, ERR_TRANSIENT,
		    "database unavailable: connection lost while holding a "
		    "lock");
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK)
		return conn_error(db, "cannot reconnect", err);
	log_info("database reconnected", "server_version=%d",
	    PQserverVersion(db->conn));
	*conn = db->conn;
	return apply_timeout(db, err);
}

int
db_set_statement_timeout(struct db *db, int64_t ms, struct err *err)
{
	PGconn *conn;

	BUG_ON(ms <= 0);
	db->timeout_ms = ms;
	db->timeout_pid = 0;
	return db_conn(db, &conn, err);
}

static int
result_ok(const PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return 1;
	default:
		return 0;
	}
}

int
db_exec(struct db *db, const char *sql, const struct db_args *args,
    struct db_res **res, struct err *err)
{
	PGresult *pg = NULL;
	PGconn *conn;
	int rc;

	if (res != NULL)
		*res = NULL;
	if ((rc = db_conn(db, &conn, err)) < 0)
		return rc;
	pg = PQexecParams(conn, sql, args != NULL ? args->n : 0, NULL,
	    args != NULL ? args->values : NULL, NULL, NULL, 0);
	if (pg == NULL || !result_ok(pg)) {
		rc = db_result_error(db, pg, err);
		PQclear(pg);
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

/* The 1-based line of sql holding the character at 1-based pos. */
static long
line_of(const char *sql, long pos)
{
	long line = 1, chars = 0;

	for (const unsigned char *p = (const unsigned char *)sql; *p != '\0';
	    p++) {
		if ((*p & 0xC0) == 0x80)	/* UTF-8 continuation byte */
			continue;
		if (++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

int
db_exec_script(struct db *db, const char *sql, struct err *err)
{
	PGresult *pg = NULL;
	PGconn *conn;
	const char *pos;
	char *end, msg[ERR_MSG_MAX - 32];
	long p;
	int rc;

	if ((rc = db_conn(db, &conn, err)) < 0)
		return rc;
	pg = PQexec(conn, sql);
	if (pg != NULL && result_ok(pg)) {
		PQclear(pg);
		return 0;
	}
	rc = db_result_error(db, pg, err);
	pos = pg != NULL ? PQresultErrorField(pg, PG_DIAG_STATEMENT_POSITION)
	    : NULL;
	if (pos != NULL && rc != ERR_TRANSIENT) {
		errno = 0;
		p = strtol(pos, &end, 10);
		if (errno == 0 && *end == '\0' && p > 0) {
			one_line(msg, sizeof(msg), PQresultErrorField(pg,
			    PG_DIAG_MESSAGE_PRIMARY));
			rc = err_set(err, rc, "line %ld: %s", line_of(sql, p),
			    msg);
		}
	}
	PQclear(pg);
	return rc;
}

int
db_begin(struct db *db, struct err *err)
{
	int rc;

	BUG_ON(db->in_tx);
	if ((rc = db_exec(db, "BEGIN", NULL, NULL, err)) < 0)
		return rc;
	db->in_tx = 1;
	return 0;
}

int
db_commit(struct db *db, struct err *err)
{
	int rc;

	BUG_ON(!db->in_tx);
	if (PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) == PQTRANS_INERROR) {
		/* COMMIT would quietly roll back; say so instead. */
		db_rollback(db);
		return err_set(err, ERR_GENERIC,
		    "database: transaction rolled back after an earlier "
		    "error");
	}
	rc = db_exec(db, "COMMIT", NULL, NULL, err);
	db->in_tx = 0;
	return rc;
}

void
db_rollback(struct db *db)
{
	PGresult *pg;

	if (db == NULL || !db->in_tx)
		return;
	db->in_tx = 0;
	if (!conn_alive(db->conn))
		return;		/* the server rolled it back */
	pg = PQexec(db->conn, "ROLLBACK");
	if (pg == NULL || !result_ok(pg))
		log_warn("database rollback failed", "error=\"%s\"",
		    pg != NULL ? PQresStatus(PQresultStatus(pg)) : "none");
	PQclear(pg);
}

int
db_in_transaction(const struct db *db)
{
	return db->in_tx;
}

int
db_advisory_lock(struct db *db, int64_t key, struct err *err)
{
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, key);
	if ((rc = db_exec(db, "SELECT pg_advisory_lock($1::bigint)", &a, NULL,
	    err)) < 0)
		return rc;
	db->nlocks++;
	return 0;
}

int
db_advisory_try_lock(struct db *db, int64_t key, int *got, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc, v = 0;

	*got = 0;
	db_args_init(&a);
	db_args_int64(&a, key);
	if ((rc = db_exec(db, "SELECT pg_try_advisory_lock($1::bigint)", &a,
	    &res, err)) < 0)
		goto out;
	if ((rc = db_res_bool(res, 0, 0, &v, err)) < 0)
		goto out;
	if (v) {
		db->nlocks++;
		*got = 1;
	}
out:
	db_res_free(res);
	return rc;
}

int
db_advisory_unlock(struct db *db, int64_t key, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc, v = 0;

	BUG_ON(db->nlocks <= 0);
	if (!conn_alive(db->conn)) {
		db->nlocks--;	/* released by the server with the session */
		return 0;
	}
	db_args_init(&a);
	db_args_int64(&a, key);
	rc = db_exec(db, "SELECT pg_advisory_unlock($1::bigint)", &a, &res,
	    err);
	db->nlocks--;
	if (rc < 0)
		goto out;
	if ((rc = db_res_bool(res, 0, 0, &v, err)) < 0)
		goto out;
	if (!v)
		rc = err_set(err, ERR_GENERIC,
		    "database: advisory lock %" PRId64 " was not held", key);
out:
	db_res_free(res);
	return rc;
}

int
db_advisory_lock_wait(struct db *db, int64_t key, int64_t wait_ms, int *got,
    struct err *err)
{
	struct db_args a;
	int rc;

	*got = 0;
	BUG_ON(wait_ms <= 0);
	if ((rc = db_begin(db, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_int64(&a, wait_ms);
	if ((rc = db_exec(db, "SELECT set_config('lock_timeout', $1, true)",
	    &a, NULL, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_int64(&a, key);
	rc = db_exec(db, "SELECT pg_advisory_lock($1::bigint)", &a, NULL, err);
	if (rc < 0) {
		if (strcmp(db->sqlstate, "55P03") == 0)	/* lock_timeout */
			rc = 0;
		goto out;
	}
	/* a session lock: the commit keeps it */
	db->nlocks++;
	if ((rc = db_commit(db, err)) < 0) {
		struct err ignored;

		if (db_advisory_unlock(db, key, &ignored) < 0)
			log_debug("advisory lock lost with its connection",
			    "error=\"%s\"", ignored.msg);
		goto out;
	}
	*got = 1;
out:
	db_rollback(db);
	return rc;
}

int
db_server_keepalives(struct db *db, int idle_s, int interval_s, int count,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, idle_s);
	db_args_int64(&a, interval_s);
	db_args_int64(&a, count);
	return db_exec(db, "SELECT set_config('tcp_keepalives_idle', $1, "
	    "false), set_config('tcp_keepalives_interval', $2, false), "
	    "set_config('tcp_keepalives_count', $3, false)", &a, NULL, err);
}

int
db_ping(struct db *db, struct err *err)
{
	return db_exec(db, "SELECT 1", NULL, NULL, err);
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

size_t
db_res_rows(const struct db_res *r)
{
	return (size_t)PQntuples(r->pg);
}

int
db_res_cols(const struct db_res *r)
{
	return PQnfields(r->pg);
}

static void
check_cell(const struct db_res *r, size_t row, int col)
{
	BUG_ON(row >= (size_t)PQntuples(r->pg));
	BUG_ON(col < 0 || col >= PQnfields(r->pg));
}

const char *
db_res_text(const struct db_res *r, size_t row, int col)
{
	check_cell(r, row, col);
	if (PQgetisnull(r->pg, (int)row, col))
		return NULL;
	return PQgetvalue(r->pg, (int)row, col);
}

int
db_res_is_null(const struct db_res *r, size_t row, int col)
{
	check_cell(r, row, col);
	return PQgetisnull(r->pg, (int)row, col);
}

int
db_res_bytea(const struct db_res *r, size_t row, int col, size_t skip,
    struct buf *out, struct err *err)
{
	const char *s = db_res_text(r, row, col);
	unsigned char *bin;
	size_t n = 0;
	int rc = 0;

	if (s == NULL || (bin = PQunescapeBytea((const unsigned char *)s,
	    &n)) == NULL)
		return err_set(err, ERR_INVALID, "database: column '%s' is not "
		    "bytea", PQfname(r->pg, col));
	if (n < skip)
		rc = err_set(err, ERR_INVALID, "database: column '%s' is shorter "
		    "than %zu bytes", PQfname(r->pg, col), skip);
	else if (buf_append(out, (const char *)bin + skip, n - skip) < 0)
		rc = err_set(err, ERR_TOOBIG, "database: column '%s' does not "
		    "fit", PQfname(r->pg, col));
	PQfreemem(bin);
	return rc;
}

int
db_res_int64(const struct db_res *r, size_t row, int col, int64_t *out,
    struct err *err)
{
	const char *s = db_res_text(r, row, col);
	char *end;
	long long v;

	if (s == NULL)
		return err_set(err, ERR_INVALID, "database: column '%s' is null",
		    PQfname(r->pg, col));
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return err_set(err, ERR_INVALID,
		    "database: column '%s' is not an integer",
		    PQfname(r->pg, col));
	*out = (int64_t)v;
	return 0;
}

int
db_exec_int64(struct db *db, const char *sql, const struct db_args *args,
    int64_t *out, struct err *err)
{
	struct db_res *res = NULL;
	int rc;

	*out = 0;
	if ((rc = db_exec(db, sql, args, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 0 || db_res_cols(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "database: no row");
	else if (db_res_is_null(res, 0, 0))
		rc = err_set(err, ERR_NOTFOUND, "database: column '%s' is null",
		    PQfname(res->pg, 0));
	else
		rc = db_res_int64(res, 0, 0, out, err);
out:
	db_res_free(res);
	return rc;
}

int
db_exec_changed(struct db *db, const char *sql, const struct db_args *args,
    int64_t *changed, struct err *err)
{
	struct db_res *res = NULL;
	int rc;

	if (changed != NULL)
		*changed = 0;
	if ((rc = db_exec(db, sql, args, &res, err)) < 0)
		return rc;
	if (changed != NULL)
		*changed = db_res_affected(res);
	db_res_free(res);
	return 0;
}

int
db_res_double(const struct db_res *r, size_t row, int col, double *out,
    struct err *err)
{
	const char *s = db_res_text(r, row, col);
	char *end;
	double v;

	if (s == NULL)
		return err_set(err, ERR_INVALID, "database: column '%s' is null",
		    PQfname(r->pg, col));
	errno = 0;
	v = strtod(s, &end);
	/* Underflow (a denormal) is fine; overflow is not. */
	if ((errno == ERANGE && isinf(v)) || end == s || *end != '\0')
		return err_set(err, ERR_INVALID,
		    "database: column '%s' is not a number",
		    PQfname(r->pg, col));
	*out = v;
	return 0;
}

int
db_res_bool(const struct db_res *r, size_t row, int col, int *out,
    struct err *err)
{
	const char *s = db_res_text(r, row, col);

	if (s != NULL && strcmp(s, "t") == 0)
		*out = 1;
	else if (s != NULL && strcmp(s, "f") == 0)
		*out = 0;
	else
		return err_set(err, ERR_INVALID,
		    "database: column '%s' is not a boolean",
		    PQfname(r->pg, col));
	return 0;
}

int64_t
db_res_affected(const struct db_res *r)
{
	const char *s = PQcmdTuples(r->pg);
	long long v;
	char *end;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return (int64_t)v;
}

void
db_res_free(struct db_res *r)
{
	if (r == NULL)
		return;
	PQclear(r->pg);
	free(r);
}

int
db_exec_guarded(struct db *db, const char *sql, const struct db_args *args,
    int64_t *first, const char *what, struct err *err)
{
	int64_t v = 0;
	int rc;

	/* No row or NULL reads as 0: nothing changed. */
	if ((rc = db_exec_int64(db, sql, args, &v, err)) == ERR_NOTFOUND)
		rc = 0;
	if (rc == 0 && v == 0)
		rc = err_set(err, ERR_CONFLICT, "%s: the state changed meanwhile",
		    what);
	if (first != NULL)
		*first = v;
	return rc;
}
