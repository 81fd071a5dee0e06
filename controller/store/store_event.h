/*
 * store_event.h - the audit trail (table events): one row per thing that
 * happened, appended and never changed.
 *
 * store_event_append() is how a module outside the store records an event
 * on its own.  The store's own statements that change a row and record
 * the event of that change in one statement (so the two cannot part) use
 * the same column list, SQL_EV_COLS of store_sql.h; no other code writes
 * events.
 *
 * Run, stage and approval events are also announced with NOTIFY
 * sluice_events when the transaction commits (the payload the Server-Sent
 * Events hub forwards):
 *	{"id": 42, "type": "stage", "entity": 7, "run": 3, "from": "pending",
 *	 "to": "submitted"}
 * Other entity types are not announced.
 */
#ifndef SLUICE_STORE_EVENT_H
#define SLUICE_STORE_EVENT_H

#include <stdint.h>

#include "base/err.h"

struct db;

/* One event; every string is borrowed for the call only. */
struct event_in {
	const char	*actor;		/* who: a token name, "engine", ... */
	const char	*entity_type;	/* "repository", "run", "stage", ... */
	int64_t		 entity_id;
	int64_t		 run_id;	/* the run it belongs to; 0: none */
	const char	*action;	/* [a-z][a-z_.]*; NULL: "transition" */
	const char	*from_state;	/* NULL: none */
	const char	*to_state;	/* NULL: none */
	const char	*reason;	/* NULL: none */
	const char	*data;		/* a JSON object as text; NULL: {} */
};

/*
 * Append ev to the events table and, for a run, stage or approval event,
 * NOTIFY sluice_events (delivered when the caller's transaction commits).
 * *id (may be NULL) receives the new event's id, 0 on error.
 * Errors: ERR_INVALID for an empty actor, an unknown entity type, a
 * malformed action or data that is not a JSON object; the others of
 * db_exec().  Blocks on the database.
 */
int	store_event_append(struct db *db, const struct event_in *ev,
	    int64_t *id, struct err *err) __attribute__((warn_unused_result));

#endif
