/*
 * test_api_events.c - GET /api/v1/events over real HTTP and PostgreSQL:
 * events committed with NOTIFY sluice_events arrive as Server-Sent
 * Events; Last-Event-ID replays from the events table and then goes live
 * without repeating; ?run= filters; the hub catches up after losing its
 * connection; a client a whole ring behind is told to reconnect.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "../support/testapi.h"
#include "../support/testseed.h"
#include "http/events.h"
#include "store/db.h"

#define WAIT_S	30	/* upper bound for anything to arrive */

static int
setup(void **state)
{
	struct apifix *f = apifix_start(NULL, NULL);

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	apifix_stop(*state);
	return 0;
}

/* A client reading the stream on its own thread. */
struct client {
	struct apifix	*f;
	char		 path[256];
	char		 last_id[32];	/* Last-Event-ID to send, or "" */
	const char	*token;
	pthread_mutex_t	 lock;
	char		 data[65536];
	size_t		 len;
	long		 status;
	char		 ctype[128];
	volatile int	 stop;
	int		 done;
	pthread_t	 thread;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct client *c = arg;
	size_t add = sz * n;

	pthread_mutex_lock(&c->lock);
	if (c->len + add < sizeof(c->data)) {
		memcpy(c->data + c->len, p, add);
		c->len += add;
		c->data[c->len] = '\0';
	}
	pthread_mutex_unlock(&c->lock);
	return c->stop ? 0 : add;
}

static int
on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t x,
    curl_off_t y)
{
	struct client *c = arg;

	(void)a;
	(void)b;
	(void)x;
	(void)y;
	return c->stop ? 1 : 0;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct curl_slist *h = NULL;
	char url[512], hdr[256];
	CURL *curl = curl_easy_init();
	char *ct = NULL;

	(void)snprintf(url, sizeof(url), "%s%s", c->f->a->base, c->path);
	if (c->token != NULL) {
		(void)snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s",
		    c->token);
		h = curl_slist_append(h, hdr);
	}
	if (c->last_id[0] != '\0') {
		(void)snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s",
		    c->last_id);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)(WAIT_S * 3));
	(void)curl_easy_perform(curl);
	pthread_mutex_lock(&c->lock);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
	if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL)
		(void)snprintf(c->ctype, sizeof(c->ctype), "%s", ct);
	c->done = 1;
	pthread_mutex_unlock(&c->lock);
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	return NULL;
}

static struct client *
client_start(struct apifix *f, const char *path, const char *last_id)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->f = f;
	c->token = f->viewer;
	(void)snprintf(c->path, sizeof(c->path), "%s", path);
	if (last_id != NULL)
		(void)snprintf(c->last_id, sizeof(c->last_id), "%s", last_id);
	pthread_mutex_init(&c->lock, NULL);
	assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
	return c;
}

static void
client_stop(struct client *c)
{
	c->stop = 1;
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Wait until what the client got contains want (fails after WAIT_S). */
static void
await(struct client *c, const char *want)
{
	for (int i = 0; i < WAIT_S * 20; i++) {
		int found, done;

		pthread_mutex_lock(&c->lock);
		found = strstr(c->data, want) != NULL;
		done = c->done;
		pthread_mutex_unlock(&c->lock);
		if (found)
			return;
		if (done)
			break;
		usleep(50 * 1000);
	}
	fail_msg("never got '%s'; got:\n%s", want, c->data);
}

/* Wait until the hub's listener is connected. */
static void
await_listening(struct apifix *f)
{
	for (int i = 0; i < WAIT_S * 20; i++) {
		if (events_listening(f->a->ctl.events))
			return;
		usleep(50 * 1000);
	}
	fail_msg("the events listener never connected");
}

/* An event row and its notification, in one transaction; its id. */
static int64_t
notify_event(struct apifix *f, const char *type, int64_t run,
    const char *to)
{
	return seed_sql(f->db, "WITH e AS (INSERT INTO events (actor,"
	    " entity_type, entity_id, run_id, action, to_state) VALUES"
	    " ('engine', '%s', %lld, %lld, 'transition', '%s') RETURNING *)"
	    " SELECT e.id FROM e, LATERAL (SELECT pg_notify('sluice_events',"
	    " json_build_object('id', e.id, 'type', e.entity_type,"
	    " 'run', e.run_id, 'to', e.to_state)::text)) n", type,
	    (long long)run, (long long)run, to);
}

/* An event row without a notification; its id. */
static int64_t
quiet_event(struct apifix *f, const char *type, int64_t run, const char *to)
{
	return seed_sql(f->db, "INSERT INTO events (actor, entity_type,"
	    " entity_id, run_id, action, to_state) VALUES ('engine', '%s',"
	    " %lld, %lld, 'transition', '%s') RETURNING id", type,
	    (long long)run, (long long)run, to);
}

static void
events__notifications_arrive_as_server_sent_events(void **state)
{
	struct apifix *f = *state;
	struct client *c = client_start(f, "/api/v1/events", NULL);
	char want[256];
	int64_t id;

	await(c, "retry: 3000\n\n");
	await_listening(f);
	assert_int_equal(c->status == 0 || c->status == 200, 1);
	id = notify_event(f, "run", 7, "running");
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: run\ndata: "
	    "{\"id\" : %lld, \"type\" : \"run\", \"run\" : 7, \"to\" : "
	    "\"running\"}\n\n", (long long)id, (long long)id);
	await(c, want);
	id = notify_event(f, "approval", 7, "pending");
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: approval\n",
	    (long long)id);
	await(c, want);
	/* a malformed notification is dropped, the stream goes on */
	seed_sql(f->db, "SELECT count(pg_notify('sluice_events', 'not json'))");
	id = notify_event(f, "stage", 7, "succeeded");
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: stage\n",
	    (long long)id);
	await(c, want);
	assert_int_equal(events_clients(f->a->ctl.events), 1);
	client_stop(c);
}

static void
events__last_event_id_replays_then_goes_live_without_repeats(void **state)
{
	struct apifix *f = *state;
	int64_t e1, e2, e3, e4, tok;
	char last[32], want[256];
	struct client *c;
	char *p2, *p3, *p4;

	e1 = quiet_event(f, "run", 1, "queued");
	e2 = quiet_event(f, "stage", 1, "running");
	tok = seed_sql(f->db, "INSERT INTO events (actor, entity_type,"
	    " entity_id, action) VALUES ('ada', 'token', 1, 'created')"
	    " RETURNING id");
	e3 = quiet_event(f, "approval", 1, "pending");
	(void)snprintf(last, sizeof(last), "%lld", (long long)e1);
	c = client_start(f, "/api/v1/events", last);
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: approval\n"
	    "data: {\"id\" : %lld, \"type\" : \"approval\", \"run\" : 1,",
	    (long long)e3, (long long)e3);
	await(c, want);
	await_listening(f);
	/* a live copy of an event the replay gave is not sent again */
	seed_sql(f->db, "SELECT count(pg_notify('sluice_events',"
	    " json_build_object('id', %lld, 'type', 'approval', 'run', 1)"
	    "::text))", (long long)e3);
	e4 = notify_event(f, "run", 1, "waiting_approval");
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: run\n",
	    (long long)e4);
	await(c, want);
	pthread_mutex_lock(&c->lock);
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)e1);
	assert_null(strstr(c->data, want));
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)tok);
	assert_null(strstr(c->data, want));
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)e2);
	p2 = strstr(c->data, want);
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)e3);
	p3 = strstr(c->data, want);
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)e4);
	p4 = strstr(c->data, want);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p2 < p3 && p3 < p4);
	(void)snprintf(want, sizeof(want), "\"id\" : %lld,", (long long)e3);
	if (strstr(strstr(c->data, want) + 1, want) != NULL)	/* once */
		fail_msg("%s twice in:\n%s", want, c->data);
	pthread_mutex_unlock(&c->lock);
	client_stop(c);

	/* the same with ?last_event_id=, for clients without headers */
	c = client_start(f, "/api/v1/events?last_event_id=0", NULL);
	(void)snprintf(want, sizeof(want), "id: %lld\nevent: run\n",
	    (long long)e1);
	await(c, want);
	client_stop(c);
}

static void
events__run_filter_and_invalids(void **state)
{
	struct apifix *f = *state;
	struct client *c = client_start(f, "/api/v1/events?run=2", NULL);
	struct testreply rp;
	const char *h[2] = { NULL, NULL };
	char auth[128], want[64];
	int64_t other, mine;

	await(c, "retry: 3000");
	await_listening(f);
	other = notify_event(f, "run", 3, "running");
	mine = notify_event(f, "run", 2, "running");
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)mine);
	await(c, want);
	pthread_mutex_lock(&c->lock);
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)other);
	assert_null(strstr(c->data, want));
	pthread_mutex_unlock(&c->lock);
	client_stop(c);

	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/events?run=x", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/events?since=3", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    f->viewer);
	{
		const char *hh[3] = { auth, "Last-Event-ID: abc", NULL };

		testapi_request(f->a, &rp, "GET", "/api/v1/events", NULL, 0, hh);
		assert_int_equal(rp.status, 400);
		assert_non_null(strstr(rp.body, "Last-Event-ID"));
		testreply_free(&rp);
	}
	testapi_request(f->a, &rp, "GET", "/api/v1/events", NULL, 0, h);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	/* a client that hung up is let go without waiting for a ping */
	for (int i = 0; i < WAIT_S * 20 &&
	    events_clients(f->a->ctl.events) > 0; i++)
		usleep(50 * 1000);
	assert_int_equal(events_clients(f->a->ctl.events), 0);
}

static void
events__the_hub_catches_up_after_losing_its_connection(void **state)
{
	struct apifix *f = *state;
	struct client *c = client_start(f, "/api/v1/events", NULL);
	char want[64];
	int64_t id;

	await(c, "retry: 3000");
	await_listening(f);
	id = notify_event(f, "run", 5, "running");
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)id);
	await(c, want);
	/* the listener's backend is killed, an event commits meanwhile */
	seed_sql(f->db, "SELECT count(pg_terminate_backend(pid)) FROM"
	    " pg_stat_activity WHERE query = 'LISTEN sluice_events'"
	    " AND datname = current_database()");
	id = notify_event(f, "run", 5, "succeeded");
	(void)snprintf(want, sizeof(want), "id: %lld\n", (long long)id);
	await(c, want);
	client_stop(c);
}

static void
events__a_client_a_whole_ring_behind_is_told_to_reconnect(void **state)
{
	struct apifix *f = *state;
	struct events_hub *h = f->a->ctl.events;
	struct events_sub *s = NULL;
	struct event *ev = calloc(1, sizeof(*ev));
	struct err err;
	char payload[128];

	assert_non_null(ev);
	assert_int_equal(events_subscribe(h, &s, &err), 0);
	assert_int_equal(events_next(s, 10, ev), 0);
	for (int i = 1; i <= LIM_EVENTS_RING; i++) {
		(void)snprintf(payload, sizeof(payload), "{\"id\":%d,"
		    "\"type\":\"stage\",\"run\":1}", i);
		assert_int_equal(events_publish(h, payload, &err), 0);
	}
	/* a full ring behind is still fine */
	assert_int_equal(events_next(s, 10, ev), 1);
	assert_int_equal(ev->id, 1);
	assert_string_equal(ev->type, "stage");
	assert_int_equal(events_publish(h, "{\"id\":99999,\"type\":\"run\"}",
	    &err), 0);
	assert_int_equal(events_publish(h, "{\"id\":100000,\"type\":\"run\"}",
	    &err), 0);
	assert_int_equal(events_next(s, 10, ev), EVENTS_BEHIND);
	assert_int_equal(events_publish(h, "{\"type\":\"run\"}", &err),
	    ERR_INVALID);
	assert_int_equal(events_publish(h, "{\"id\":1,\"type\":\"Run\\n\"}",
	    &err), ERR_INVALID);
	events_unsubscribe(s);
	free(ev);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(events__notifications_arrive_as_server_sent_events),
		T(events__last_event_id_replays_then_goes_live_without_repeats),
		T(events__run_filter_and_invalids),
		T(events__the_hub_catches_up_after_losing_its_connection),
		T(events__a_client_a_whole_ring_behind_is_told_to_reconnect),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
