/*
 * db_notify.c - LISTEN/NOTIFY on a struct db; see db.h.
 *
 * The LISTENs belong to a server backend: when db_conn() replaced a broken
 * connection, the new backend listens to nothing, so every call compares
 * the backend pid with the one that holds the LISTENs and re-issues them.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "store/db_int.h"

static int
channel_ok(const char *ch)
{
	size_t n = strlen(ch);

	if (n == 0 || n >= 64)
		return 0;
	for (; *ch != '\0'; ch++)
		if (!((*ch >= 'a' && *ch <= 'z') || *ch == '_'))
			return 0;
	return 1;
}

/* Issue every LISTEN on the current backend. */
static int
relisten(struct db *db, PGconn *conn, struct err *err)
{
	for (int i = 0; i < db->nlisten; i++) {
		char sql[96];
		int rc;

		/* The channel is a checked identifier (channel_ok). */
		(void)snprintf(sql, sizeof(sql), "LISTEN %s", db->listen_ch[i]);
		if ((rc = db_exec(db, sql, NULL, NULL, err)) < 0)
			return rc;
	}
	db->listen_pid = PQbackendPID(conn);
	return 0;
}

int
db_listen(struct db *db, const char *channel, struct err *err)
{
	PGconn *conn;
	int rc;

	if (!channel_ok(channel))
		return err_set(err, ERR_INVALID, "bad channel name '%s'",
		    channel);
	for (int i = 0; i < db->nlisten; i++)
		if (strcmp(db->listen_ch[i], channel) == 0)
			return 0;
	if (db->nlisten >= DB_MAX_LISTEN)
		return err_set(err, ERR_TOOBIG, "too many LISTEN channels");
	(void)str_copy(db->listen_ch[db->nlisten++], 64, channel);
	if ((rc = db_conn(db, &conn, err)) < 0)
		return rc;
	return relisten(db, conn, err);
}

static int
take_notify(PGconn *conn, char *channel, size_t chlen, char *payload,
    size_t plen)
{
	PGnotify *n = PQnotifies(conn);

	if (n == NULL)
		return 0;
	(void)str_copy(channel, chlen, n->relname);
	(void)str_copy(payload, plen, n->extra ? n->extra : "");
	PQfreemem(n);
	return 1;
}

int
db_wait_notify(struct db *db, int timeout_ms, char *channel, size_t chlen,
    char *payload, size_t plen, struct err *err)
{
	struct pollfd pfd;
	PGconn *conn;
	int rc;

	channel[0] = '\0';
	payload[0] = '\0';
	if ((rc = db_conn(db, &conn, err)) < 0)
		return rc;
	if (db->nlisten > 0 && PQbackendPID(conn) != db->listen_pid) {
		int had = db->listen_pid != 0;

		if ((rc = relisten(db, conn, err)) < 0)
			return rc;
		if (had)
			return 1;	/* resync: notifications were lost */
	}
	if (take_notify(conn, channel, chlen, payload, plen))
		return 1;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return err_set(err, ERR_TRANSIENT, "database unavailable: "
		    "no connection");
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0 && errno != EINTR)
		return err_set(err, ERR_TRANSIENT, "database unavailable: "
		    "poll: %s", strerror(errno));
	if (rc <= 0)
		return 0;
	if (PQconsumeInput(conn) == 0)
		return err_set(err, ERR_TRANSIENT, "database unavailable: %s",
		    PQerrorMessage(conn));
	return take_notify(conn, channel, chlen, payload, plen);
}

int
db_notify_fd(struct db *db)
{
	return db->conn != NULL ? PQsocket(db->conn) : -1;
}
