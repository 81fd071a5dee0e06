/*
 * store_query_notify.h - the notification deliveries as JSON, newest
 * first (GET /api/v1/notifications/deliveries):
 *	{"id", "channel", "target", "event", "format", "run", "context",
 *	 "sha", "status", "attempts", "last_error", "last_http_status",
 *	 "next_attempt_at", "created_at", "delivered_at"}
 * Bodies, URLs and credentials are not shown.  Blocks on the database;
 * errors as db_exec().
 */
#ifndef SLUICE_STORE_QUERY_NOTIFY_H
#define SLUICE_STORE_QUERY_NOTIFY_H

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* The statuses a delivery can have, NULL-terminated. */
extern const char *const store_delivery_statuses[];

/*
 * Deliveries newest first (by id, keyset), of one status or all:
 * {"deliveries": [...], "next_cursor"}.
 */
int	store_query_deliveries_list(struct db *db, const char *status,
	    const struct page_in *pg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

#endif
