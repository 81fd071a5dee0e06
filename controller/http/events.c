/*
 * events.c - the hub of live events; see events.h.
 *
 * The ring is a fixed array of LIM_EVENTS_RING slots indexed by a
 * sequence number that only grows; slot seq % LIM_EVENTS_RING holds the
 * event of that sequence until it is overwritten LIM_EVENTS_RING events
 * later.  A subscriber keeps the sequence of the next event it wants;
 * when that is older than the oldest slot, it has fallen behind.  One
 * mutex guards the ring, a condition variable wakes readers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/sys.h"
#include "http/events.h"
#include "http/jsonin.h"
#include "query/store_query_events.h"
#include "store/db.h"

struct slot {
	uint64_t	 seq;
	struct event	 ev;
};

struct events_hub {
	char		*conninfo;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct slot	*ring;		/* LIM_EVENTS_RING */
	uint64_t	 next_seq;	/* of the next event published */
	int64_t		 max_id;	/* greatest event id seen */
	int		 clients;
	int		 started;
	int		 stopping;
	int		 listening;
	pthread_t	 thread;
};

struct events_sub {
	struct events_hub	*hub;
	uint64_t		 next;	/* sequence wanted next */
};

struct events_hub *
events_hub_new(const char *conninfo)
{
	struct events_hub *h = xcalloc(1, sizeof(*h));

	h->conninfo = xstrdup(conninfo != NULL ? conninfo : "");
	BUG_ON(pthread_mutex_init(&h->lock, NULL) != 0);
	sys_cond_init_monotonic(&h->cond);
	return h;
}

void
events_hub_free(struct events_hub *h)
{
	int started;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	started = h->started;
	BUG_ON(h->clients != 0);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (started)
		pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	explicit_bzero(h->conninfo, strlen(h->conninfo));
	free(h->conninfo);
	free(h->ring);
	free(h);
}

static int
valid_type(const char *t)
{
	if (t[0] == '\0')
		return 0;
	for (; *t != '\0'; t++)
		if (!((*t >= 'a' && *t <= 'z') || *t == '_'))
			return 0;
	return 1;
}

/* Parse a payload's id, type and run into ev (payload copied). */
static int
parse_event(const char *payload, struct event *ev, struct err *err)
{
	char *type = NULL;
	int64_t id = 0, run = 0;
	const struct jsonin_field fields[] = {
		{ .name = "id", .type = JSONIN_INT, .flags = JSONIN_REQUIRED,
		  .out = &id, .min = 1, .max = INT64_MAX },
		{ .name = "type", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &type,
		  .maxlen = sizeof(ev->type) - 1 },
		{ .name = "run", .type = JSONIN_INT, .flags = JSONIN_NULLABLE,
		  .out = &run, .min = 0, .max = INT64_MAX },
		{ .name = NULL },
	};
	size_t len = strlen(payload);
	int rc;

	if (len > LIM_EVENT_PAYLOAD)
		return err_set(err, ERR_TOOBIG, "event payload too long");
	if ((rc = jsonin_parse(payload, len, fields, JSONIN_OPEN, err)) < 0)
		return rc;
	if (!valid_type(type)) {
		free(type);
		return err_set(err, ERR_INVALID, "event type is not [a-z_]+");
	}
	ev->id = id;
	ev->run = run;
	(void)str_copy(ev->type, sizeof(ev->type), type);
	memcpy(ev->payload, payload, len + 1);
	free(type);
	return 0;
}

/* The ring is made when first needed (with h->lock held): most hubs of
 * tests and quiet consoles never need its LIM_EVENTS_RING slots. */
static void
ensure_ring(struct events_hub *h)
{
	if (h->ring == NULL)
		h->ring = xcalloc(LIM_EVENTS_RING, sizeof(*h->ring));
}

static void
push(struct events_hub *h, const struct event *ev)
{
	struct slot *s;

	pthread_mutex_lock(&h->lock);
	ensure_ring(h);
	s = &h->ring[h->next_seq % LIM_EVENTS_RING];
	s->seq = h->next_seq++;
	s->ev = *ev;
	if (ev->id > h->max_id)
		h->max_id = ev->id;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

int
events_publish(struct events_hub *h, const char *payload, struct err *err)
{
	struct event *ev = xcalloc(1, sizeof(*ev));
	int rc;

	if ((rc = parse_event(payload, ev, err)) == 0)
		push(h, ev);
	free(ev);
	return rc;
}

static int
stopping(struct events_hub *h)
{
	int s;

	pthread_mutex_lock(&h->lock);
	s = h->stopping;
	pthread_mutex_unlock(&h->lock);
	return s;
}

static void
set_listening(struct events_hub *h, int on)
{
	pthread_mutex_lock(&h->lock);
	h->listening = on;
	pthread_mutex_unlock(&h->lock);
}

/* After a lost connection: the events committed meanwhile, from the table. */
static void
catch_up(struct events_hub *h, struct db *db)
{
	struct event_row *rows = NULL;
	struct event *ev = xcalloc(1, sizeof(*ev));
	struct err err;
	int64_t after;
	size_t n = 0;

	pthread_mutex_lock(&h->lock);
	after = h->max_id;
	pthread_mutex_unlock(&h->lock);
	if (after > 0 && store_query_events_after(db, after, 0,
	    LIM_EVENTS_REPLAY, &rows, &n, &err) < 0)
		log_warn("events catch-up", "error=\"%s\"", err.msg);
	for (size_t i = 0; i < n; i++)
		if (parse_event(rows[i].payload, ev, &err) == 0)
			push(h, ev);
	if (n > 0)
		log_info("events caught up", "events=%zu after=%lld", n,
		    (long long)after);
	event_rows_free(rows, n);
	free(ev);
}

static void
pause_ms(struct events_hub *h, int ms)
{
	while (ms > 0 && !stopping(h)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		ms -= 100;
	}
}

static void *
listener(void *arg)
{
	struct events_hub *h = arg;
	char channel[64], *payload = xcalloc(1, LIM_EVENT_PAYLOAD + 1);
	struct db *db = NULL;
	struct err err;
	int delay = 250, rc;

	while (!stopping(h)) {
		if (db == NULL) {
			if (db_open(&db, h->conninfo, &err) < 0 ||
			    db_listen(db, "sluice_events", &err) < 0) {
				log_warn("events listener cannot connect",
				    "error=\"%s\" retry_ms=%d", err.msg, delay);
				db_free(db);
				db = NULL;
				pause_ms(h, delay);
				if (delay < 5000)
					delay *= 2;
				continue;
			}
			delay = 250;
			set_listening(h, 1);
			catch_up(h, db);
		}
		rc = db_wait_notify(db, 500, channel, sizeof(channel), payload,
		    LIM_EVENT_PAYLOAD + 1, &err);
		if (rc < 0) {
			/* db.h reconnects at the next call; wait a little. */
			set_listening(h, 0);
			log_warn("events listener", "error=\"%s\"", err.msg);
			pause_ms(h, delay);
			if (delay < 5000)
				delay *= 2;
			continue;
		}
		delay = 250;
		set_listening(h, 1);
		if (rc == 0)
			continue;
		if (channel[0] == '\0') {	/* reconnected: we missed some */
			catch_up(h, db);
			continue;
		}
		if (events_publish(h, payload, &err) < 0)
			log_warn("bad event notification", "error=\"%s\"",
			    err.msg);
	}
	set_listening(h, 0);
	db_free(db);
	free(payload);
	return NULL;
}

int
events_subscribe(struct events_hub *h, struct events_sub **out,
    struct err *err)
{
	struct events_sub *s;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		rc = err_set(err, ERR_TRANSIENT, "shutting down");
		goto out;
	}
	if (h->clients >= LIM_EVENTS_CLIENTS) {
		rc = err_set(err, ERR_TRANSIENT, "too many event clients (%d)",
		    LIM_EVENTS_CLIENTS);
		goto out;
	}
	if (!h->started) {
		if (pthread_create(&h->thread, NULL, listener, h) != 0) {
			rc = err_set(err, ERR_TRANSIENT, "cannot start the "
			    "events listener");
			goto out;
		}
		h->started = 1;
	}
	ensure_ring(h);
	s = xcalloc(1, sizeof(*s));
	s->hub = h;
	s->next = h->next_seq;
	h->clients++;
	*out = s;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void
events_unsubscribe(struct events_sub *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->hub->lock);
	s->hub->clients--;
	pthread_mutex_unlock(&s->hub->lock);
	free(s);
}

int
events_next(struct events_sub *s, int wait_ms, struct event *ev)
{
	struct events_hub *h = s->hub;
	struct timespec until = sys_deadline_in(wait_ms);
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (h->stopping) {
			rc = EVENTS_CLOSED;
			break;
		}
		if (h->next_seq - s->next > LIM_EVENTS_RING) {
			rc = EVENTS_BEHIND;
			break;
		}
		if (s->next < h->next_seq) {
			*ev = h->ring[s->next % LIM_EVENTS_RING].ev;
			s->next++;
			rc = 1;
			break;
		}
		if (pthread_cond_timedwait(&h->cond, &h->lock, &until) != 0)
			break;	/* timed out */
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int
events_clients(struct events_hub *h)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = h->clients;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int
events_listening(struct events_hub *h)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = h->listening;
	pthread_mutex_unlock(&h->lock);
	return n;
}
