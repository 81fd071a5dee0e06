/* store_event.c - the audit trail; see store_event.h. */
#include "store/db.h"
#include "store/store_event.h"
#include "store/store_sql.h"

static const char sql_append[] =
    "WITH e AS (" SQL_EV_COLS
    "  VALUES ($1, $2, $3, nullif($4::bigint, 0), coalesce($5, 'transition'),"
    "    $6, $7, $8, coalesce($9::jsonb, '{}'::jsonb))" SQL_EV_RETURNING ")"
    " SELECT (SELECT id FROM e), " SQL_NOTIFY("e");

int
store_event_append(struct db *db, const struct event_in *ev, int64_t *id,
    struct err *err)
{
	struct db_args a;
	int64_t v = 0;
	int rc;

	db_args_init(&a);
	db_args_str(&a, ev->actor);
	db_args_str(&a, ev->entity_type);
	db_args_int64(&a, ev->entity_id);
	db_args_int64(&a, ev->run_id);
	db_args_str(&a, ev->action);
	db_args_str(&a, ev->from_state);
	db_args_str(&a, ev->to_state);
	db_args_str(&a, ev->reason);
	db_args_str(&a, ev->data);
	rc = db_exec_int64(db, sql_append, &a, &v, err);
	if (id != NULL)
		*id = v;
	return rc;
}
