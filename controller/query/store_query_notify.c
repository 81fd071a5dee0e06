/* store_query_notify.c - notification deliveries; see store_query_notify.h. */
#include <stdint.h>

#include "query/store_query.h"
#include "query/store_query_notify.h"
#include "store/db.h"

const char *const store_delivery_statuses[] = {
	"pending", "delivered", "failed", NULL
};

static const char sql_list[] =
    "SELECT d.id, json_build_object('id', d.id, 'channel', d.channel,"
    " 'target', d.target, 'event', d.kind, 'format', d.format,"
    " 'run', d.run_id, 'context', d.context, 'sha', d.sha,"
    " 'status', d.status, 'attempts', d.attempts,"
    " 'last_error', d.last_error, 'last_http_status', d.last_http_status,"
    " 'next_attempt_at', CASE WHEN d.status = 'pending'"
    "   THEN rfc3339(d.next_attempt_at) END,"
    " 'created_at', rfc3339(d.created_at),"
    " 'delivered_at', rfc3339(d.delivered_at))::text"
    " FROM notify_deliveries d"
    " WHERE d.id < $1 AND ($3::text IS NULL OR d.status = $3)"
    " ORDER BY d.id DESC LIMIT $2::bigint + 1";

int
store_query_deliveries_list(struct db *db, const char *status,
    const struct page_in *pg, struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, pg->limit);
	db_args_str(&a, status);
	return store_query_page(db, sql_list, &a, "deliveries", pg->limit,
	    "n1", out, NULL, err);
}
