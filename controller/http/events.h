/*
 * events.h - live run, stage and approval events for Server-Sent Events
 * clients (GET /api/v1/events), from one LISTEN connection.
 *
 * The engine sends NOTIFY sluice_events with a JSON payload
 * {"id": <events.id>, "type": "run"|"stage"|"approval", "run": <id>, ...}
 * for every transition, in the transaction that writes the event row, so
 * a notification arrives when (and only if) its row committed.  One
 * thread per process listens on its own connection (not the HTTP pool's)
 * and appends each event to a ring of the last LIM_EVENTS_RING.  Each
 * client reads the ring from where it joined at its own pace; a client
 * that falls a whole ring behind is told so (events_next answers
 * EVENTS_BEHIND) and should reconnect and resume from the events table.
 * Nothing a slow client does can hold the listener up or grow memory.
 *
 * When the listening connection was lost and comes back, notifications
 * sent meanwhile are gone: the listener then reads the events table from
 * the last id it saw (up to LIM_EVENTS_REPLAY rows) into the ring.  Ids
 * are allocated before commit, so one that commits late with a smaller id
 * than one already seen is delivered live but not by this catch-up (nor
 * by a client's resume after Last-Event-ID); clients treat events as
 * hints to refetch the run they name, so a lost hint costs a stale view
 * until the next event of that run, never a wrong one.
 *
 * Thread-safe.  The listener thread starts with the first subscriber and
 * connects (and reconnects) with backoff; subscribing never waits for it.
 */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"

struct events_hub;
struct events_sub;

/* One event as a client gets it. */
struct event {
	int64_t	 id;
	int64_t	 run;				/* 0 when none */
	char	 type[16];			/* [a-z_]+ */
	char	 payload[LIM_EVENT_PAYLOAD + 1];	/* JSON text */
};

/*
 * A hub for the database at conninfo (copied; never logged).  Starts
 * nothing.  events_hub_free stops the listener (within a second) and
 * frees it; every subscriber must be gone.  NULL is a no-op.
 */
struct events_hub *events_hub_new(const char *conninfo);
void	events_hub_free(struct events_hub *h);

/*
 * Join the live stream from now on.  Errors: ERR_TRANSIENT "too many event
 * clients" past LIM_EVENTS_CLIENTS.  Free with events_unsubscribe.
 */
int	events_subscribe(struct events_hub *h, struct events_sub **out,
	    struct err *err) __attribute__((warn_unused_result));
void	events_unsubscribe(struct events_sub *s);

#define EVENTS_BEHIND	(-2)	/* the client lost events: reconnect */
#define EVENTS_CLOSED	(-1)	/* the hub is stopping */

/*
 * The subscriber's next event into *ev: 1, or 0 when none came within
 * wait_ms, EVENTS_BEHIND or EVENTS_CLOSED.  Blocks up to wait_ms.
 */
int	events_next(struct events_sub *s, int wait_ms, struct event *ev);

/*
 * Append an event to the ring as the listener does (payload: the NOTIFY
 * text).  ERR_INVALID for a payload without a numeric "id" and a "type".
 * For the listener and tests.
 */
int	events_publish(struct events_hub *h, const char *payload,
	    struct err *err) __attribute__((warn_unused_result));

/* Subscribers now, and whether the listener is connected (for tests). */
int	events_clients(struct events_hub *h);
int	events_listening(struct events_hub *h);

#endif
