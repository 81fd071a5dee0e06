/*
 * store_query_events.h - run, stage and approval events from the audit
 * trail (table events), for Server-Sent Events clients that resume after
 * Last-Event-ID and for the live hub catching up after it lost its
 * connection.
 *
 * The payload of an event, as JSON text (the live NOTIFY sluice_events
 * payload has at least id, type and run too):
 *	{"id", "type": "run"|"stage"|"approval", "run", "entity", "action",
 *	 "from", "to", "actor", "reason", "at"}
 *
 * Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_QUERY_EVENTS_H
#define SLUICE_STORE_QUERY_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;

struct event_row {
	int64_t	 id;
	int64_t	 run;		/* 0 when none */
	char	 type[16];
	char	*payload;	/* owned */
};

/*
 * Events of type run, stage or approval with id > after (of run, unless
 * run is 0), oldest first, at most limit, into a new array *out of *n
 * (event_rows_free).
 */
int	store_query_events_after(struct db *db, int64_t after, int64_t run,
	    int limit, struct event_row **out, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));
void	event_rows_free(struct event_row *rows, size_t n);

#endif
