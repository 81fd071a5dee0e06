/*
 * store_sql.h - SQL fragments shared by the store_*.c files
 * (constant text only; included by store modules, nothing else).
 */
#ifndef SLUICE_STORE_SQL_H
#define SLUICE_STORE_SQL_H

/* A timestamptz as unix milliseconds (NULL stays NULL). */
#define SQL_MS(x)	"(extract(epoch FROM " x ") * 1000)::bigint"

/* Unix milliseconds $n (bigint) as a timestamptz. */
#define SQL_TS(p)	"to_timestamp(" p "::bigint / 1000.0)"

/*
 * The one column list of every insert into events (store_event.h): the
 * statement gives all nine values, in this order.  SQL_EV_RETURNING gives
 * the columns SQL_NOTIFY() reads from the CTE.
 */
#define SQL_EV_COLS \
	"INSERT INTO events (actor, entity_type, entity_id, run_id, action," \
	" from_state, to_state, reason, data) "
#define SQL_EV_RETURNING \
	" RETURNING id, entity_type, entity_id, run_id, from_state, to_state"

/*
 * NOTIFY sluice_events once per run, stage or approval event of the CTE
 * named cte (the SSE endpoint tails it):
 *	{"id": 42, "type": "stage", "entity": 7, "run": 3, "from": "pending",
 *	 "to": "submitted"}
 * Evaluates to the number of notifications, so it can sit in a SELECT
 * list that always returns one row.
 */
#define SQL_NOTIFY(cte)                                                     \
	"(SELECT count(pg_notify('sluice_events', json_build_object("      \
	"'id', id, 'type', entity_type, 'entity', entity_id, 'run', run_id," \
	" 'from', from_state, 'to', to_state)::text)) FROM " cte            \
	" WHERE entity_type IN ('run', 'stage', 'approval'))"

#endif
