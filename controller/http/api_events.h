/*
 * api_events.h - GET /api/v1/events: Server-Sent Events of run, stage
 * and approval changes (viewer; the console's EventSource sends its
 * session cookie).
 *
 *	GET /api/v1/events?run=ID&last_event_id=N
 *	Last-Event-ID: N
 *
 * The answer (text/event-stream) starts with "retry: 3000" and then
 * carries one message per event:
 *
 *	id: 1234
 *	event: stage
 *	data: {"id":1234,"type":"stage","run":42,...}
 *
 * and a comment line ": ping" after LIM_EVENTS_PING_S seconds without
 * one, so proxies and clients see a live connection.  With ?run= only
 * that run's events come.
 *
 * Resuming: with Last-Event-ID (the header EventSource sends when it
 * reconnects, or ?last_event_id=), the events after N are first replayed
 * from the events table (up to LIM_EVENTS_REPLAY; past that the client
 * should refetch what it shows), then the live ones follow, without the
 * ones the replay already gave.  Event ids commit in about, not exactly,
 * their order: an event whose id is below one already sent carries no
 * "id:" line, so it is delivered without moving the client's resume
 * point backwards (see events.h for what that trade costs).
 *
 * A client too slow to keep up with the live ring gets
 *
 *	event: reconnect
 *	data: {"reason":"fell behind"}
 *
 * and the stream ends: EventSource reconnects by itself with its
 * Last-Event-ID and resumes from the table.  The stream holds no database
 * connection: the replay borrows one from the pool for one statement.
 */
#ifndef SLUICE_API_EVENTS_H
#define SLUICE_API_EVENTS_H

struct http_request;
struct http_response;

void	api_events(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
