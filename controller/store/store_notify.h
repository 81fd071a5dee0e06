/*
 * store_notify.h - the notification outbox and its deliveries (tables
 * notify_outbox, notify_deliveries; docs/notifications.md).
 *
 * Outbox rows are written by a trigger on events, in the transaction of
 * the event.  The sender (notify/) turns each into deliveries
 * (store_notify_outbox_claim, store_notify_delivery_add,
 * store_notify_outbox_done in one transaction) and sends each delivery
 * while holding its row lock (store_notify_delivery_claim, then
 * store_notify_delivery_result in the same transaction), so two
 * controllers never send one delivery and an acknowledged one is never
 * sent again.  Every call blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_NOTIFY_H
#define SLUICE_STORE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;

/*
 * One outbox row to fan out: what happened (kind) and everything a
 * message about it needs, as a JSON object built by PostgreSQL
 * (docs/notifications.md lists its fields).  Strings owned by the array
 * (store_notify_outbox_free).
 */
struct notify_outbox_row {
	int64_t	 id;
	char	*kind;
	char	*subject;
};

/*
 * Inside the caller's transaction: up to max rows not yet fanned out,
 * oldest first, locked (FOR UPDATE SKIP LOCKED: rows another controller
 * holds are skipped).  *out (n in *n) is owned by the caller.
 */
int	store_notify_outbox_claim(struct db *db, size_t max,
	    struct notify_outbox_row **out, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));
void	store_notify_outbox_free(struct notify_outbox_row *rows, size_t n);

/* Mark outbox row id fanned out (with the deliveries just added). */
int	store_notify_outbox_done(struct db *db, int64_t id, struct err *err)
	    __attribute__((warn_unused_result));

/* A new delivery; the strings are borrowed for the call. */
struct notify_delivery_in {
	int64_t		 outbox_id;
	const char	*channel;	/* "notification" | "commit_status" */
	const char	*target;	/* notification or repository name */
	const char	*kind;
	const char	*format;	/* slack | json | github | gitlab */
	int64_t		 run_id;	/* 0: none */
	const char	*context;	/* commit statuses, else NULL */
	const char	*sha;		/* commit statuses, else NULL */
	const char	*path;		/* commit statuses: under api_url */
	const char	*body;
	const char	*seq_key;	/* sent in order per key; NULL: none */
};

/* Add a delivery (a no-op when outbox_id already has this one). */
int	store_notify_delivery_add(struct db *db,
	    const struct notify_delivery_in *d, struct err *err)
	    __attribute__((warn_unused_result));

/* A delivery being sent; owned by the caller (store_notify_delivery_release). */
struct notify_delivery {
	int64_t	 id;
	char	*channel;
	char	*target;
	char	*format;
	char	*path;
	char	*body;
	int	 attempts;	/* before this one */
};

/*
 * Inside the caller's transaction: the next due pending delivery, whose
 * earlier ones of the same seq_key are all done, locked.  ERR_NOTFOUND
 * when none is due.
 */
int	store_notify_delivery_claim(struct db *db, struct notify_delivery *out,
	    struct err *err) __attribute__((warn_unused_result));
void	store_notify_delivery_release(struct notify_delivery *d);

/*
 * Record one attempt of delivery id: delivered (2xx), or not, with
 * http_status (0: no answer) and error; a failed attempt is retried at
 * now + retry_ms, or becomes failed when final.
 */
int	store_notify_delivery_result(struct db *db, int64_t id, int delivered,
	    int http_status, const char *error, int final, int64_t retry_ms,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Milliseconds until the sender has work: 0 when an outbox row waits or a
 * delivery is due, else until the next retry (at most cap_ms).
 */
int	store_notify_idle_ms(struct db *db, int64_t cap_ms, int64_t *ms,
	    struct err *err) __attribute__((warn_unused_result));

#endif
