/* store_query_events.c - events to replay; see store_query_events.h. */
#include <stdlib.h>

#include "base/buf.h"
#include "query/store_query_events.h"
#include "store/db.h"

/* The primary key from after, or events_run for one run. */
static const char sql_after[] =
    "SELECT e.id, coalesce(e.run_id, 0), e.entity_type,"
    "  json_build_object('id', e.id, 'type', e.entity_type,"
    "  'run', e.run_id, 'entity', e.entity_id, 'action', e.action,"
    "  'from', e.from_state, 'to', e.to_state, 'actor', e.actor,"
    "  'reason', e.reason, 'at', rfc3339(e.created_at))::text"
    " FROM events e"
    " WHERE e.id > $1 AND e.entity_type IN ('run', 'stage', 'approval')"
    "   AND ($2::bigint = 0 OR e.run_id = $2)"
    " ORDER BY e.id LIMIT $3";

void
event_rows_free(struct event_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(rows[i].payload);
	free(rows);
}

int
store_query_events_after(struct db *db, int64_t after, int64_t run,
    int limit, struct event_row **out, size_t *n, struct err *err)
{
	struct event_row *rows = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	size_t count = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, after);
	db_args_int64(&a, run);
	db_args_int64(&a, limit);
	if ((rc = db_exec(db, sql_after, &a, &res, err)) < 0)
		return rc;
	count = db_res_rows(res);
	rows = xcalloc(count + 1, sizeof(*rows));
	for (i = 0; i < count; i++) {
		if ((rc = db_res_int64(res, i, 0, &rows[i].id, err)) < 0 ||
		    (rc = db_res_int64(res, i, 1, &rows[i].run, err)) < 0)
			break;
		(void)str_copy(rows[i].type, sizeof(rows[i].type),
		    db_res_text(res, i, 2));
		rows[i].payload = xstrdup(db_res_text(res, i, 3));
	}
	db_res_free(res);
	if (rc < 0) {
		event_rows_free(rows, i);
		return rc;
	}
	*out = rows;
	*n = count;
	return 0;
}
