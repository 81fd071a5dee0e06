/* api_events.c - Server-Sent Events; see api_events.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "http/api_common.h"
#include "http/api_events.h"
#include "http/ctl.h"
#include "http/events.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_events.h"

struct sse {
	struct events_sub	*sub;
	int64_t			 run;		/* filter, 0 = all */
	struct event_row	*replay;	/* oldest first */
	size_t			 nreplay;
	size_t			 ireplay;	/* next to send */
	int64_t			 max_sent;	/* greatest id sent with id: */
	struct buf		 out;		/* formatted, not yet sent */
	size_t			 pos;
	time_t			 last_write;
	int			 ending;	/* send what is left, then end */
	struct event		 ev;		/* scratch */
};

static void
sse_free(void *arg)
{
	struct sse *s = arg;

	if (s == NULL)
		return;
	events_unsubscribe(s->sub);
	event_rows_free(s->replay, s->nreplay);
	buf_release(&s->out);
	free(s);
}

/* One message: id (when it moves forward), event, data lines. */
static int
format(struct sse *s, int64_t id, const char *type, const char *payload)
{
	const char *p = payload;
	int rc = 0;

	if (id > s->max_sent) {
		rc = buf_printf(&s->out, "id: %lld\n", (long long)id);
		s->max_sent = id;
	}
	if (rc == 0)
		rc = buf_printf(&s->out, "event: %s\n", type);
	/* A payload is one line; split it anyway if it is not. */
	while (rc == 0) {
		size_t n = strcspn(p, "\r\n");

		if ((rc = buf_puts(&s->out, "data: ")) < 0 ||
		    (rc = buf_append(&s->out, p, n)) < 0 ||
		    (rc = buf_putc(&s->out, '\n')) < 0)
			break;
		p += n;
		if (*p == '\0')
			break;
		p += strspn(p, "\r\n");
		if (*p == '\0')
			break;
	}
	if (rc == 0)
		rc = buf_putc(&s->out, '\n');
	return rc;
}

/* Whether the replay already gave event id (the replay is sorted). */
static int
replayed(const struct sse *s, int64_t id)
{
	size_t lo = 0, hi = s->nreplay;

	if (s->nreplay == 0 || id > s->replay[s->nreplay - 1].id)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->replay[mid].id == id)
			return 1;
		if (s->replay[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Fill s->out with what comes next; 0 when nothing did yet. */
static int
produce(struct sse *s)
{
	int rc;

	if (s->ireplay < s->nreplay) {
		const struct event_row *r = &s->replay[s->ireplay++];

		return format(s, r->id, r->type, r->payload);
	}
	for (;;) {
		rc = events_next(s->sub, 1000, &s->ev);
		if (rc == EVENTS_BEHIND) {
			s->ending = 1;
			return buf_puts(&s->out, "event: reconnect\n"
			    "data: {\"reason\":\"fell behind\"}\n\n");
		}
		if (rc == EVENTS_CLOSED) {
			s->ending = 1;
			return 0;
		}
		if (rc == 0)
			break;
		if ((s->run != 0 && s->ev.run != s->run) ||
		    replayed(s, s->ev.id))
			continue;
		return format(s, s->ev.id, s->ev.type, s->ev.payload);
	}
	if (time(NULL) - s->last_write >= LIM_EVENTS_PING_S)
		return buf_puts(&s->out, ": ping\n\n");
	return 0;
}

static long
sse_read(void *arg, char *out, size_t max)
{
	struct sse *s = arg;
	size_t n;

	if (s->pos >= s->out.len) {
		buf_reset(&s->out);
		s->pos = 0;
		if (s->ending)
			return -1;
		if (produce(s) < 0)
			return -1;	/* cannot happen within the caps */
		if (s->out.len == 0)
			return s->ending ? -1 : 0;
	}
	n = s->out.len - s->pos;
	if (n > max)
		n = max;
	memcpy(out, s->out.data + s->pos, n);
	s->pos += n;
	s->last_write = time(NULL);
	return (long)n;
}

/* A Last-Event-ID: decimal, 0 to INT64_MAX; -1 when malformed. */
static int64_t
parse_last_id(const char *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 0)
		return -1;
	return (int64_t)n;
}

void
api_events(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct sse *s = xcalloc(1, sizeof(*s));
	const char *hdr = http_header(rq, "Last-Event-ID");
	int64_t run = 0, last = -1, qlast = 0;
	int has_qlast = 0;
	struct db *db = NULL;
	struct err err;
	const struct jsonin_qparam params[] = {
		{ .name = "run", .type = JSONIN_Q_INT, .out = &run, .min = 1,
		  .max = INT64_MAX },
		{ .name = "last_event_id", .type = JSONIN_Q_INT, .out = &qlast,
		  .present = &has_qlast, .min = 0, .max = INT64_MAX },
		{ .name = NULL },
	};

	err_clear(&err);
	buf_init(&s->out, LIM_EVENT_PAYLOAD * 2 + 256);
	if (jsonin_query(rq, params, &err) < 0)
		goto fail;
	if (hdr != NULL && hdr[0] != '\0' && (last = parse_last_id(hdr)) < 0) {
		err_set(&err, ERR_INVALID, "Last-Event-ID header: expected an "
		    "event id");
		goto fail;
	}
	if (has_qlast)
		last = qlast;
	s->run = run;
	/* Join the live stream first, so nothing falls between the two. */
	if (events_subscribe(ctl->events, &s->sub, &err) < 0)
		goto fail;
	if (last >= 0) {
		if ((db = api_db(ctl, rs)) == NULL)
			goto out;
		if (store_query_events_after(db, last, run, LIM_EVENTS_REPLAY,
		    &s->replay, &s->nreplay, &err) < 0)
			goto fail;
		s->max_sent = last;
	}
	if (buf_puts(&s->out, "retry: 3000\n\n") < 0 ||
	    http_set_header(rs, "Cache-Control", "no-store") < 0 ||
	    http_set_header(rs, "X-Accel-Buffering", "no") < 0) {
		http_error(rs, 500, "internal", "cannot answer");
		goto out;
	}
	s->last_write = time(NULL);
	http_stream(rs, "text/event-stream", sse_read, s, sse_free);
	s = NULL;	/* the response owns it */
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	sse_free(s);
}
