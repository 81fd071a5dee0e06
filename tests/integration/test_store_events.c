/*
 * test_store_events.c - store_event_append against a migrated database:
 * the row it writes, its defaults, the NOTIFY of run, stage and approval
 * events, and the checks of the events table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/db.h"
#include "store/store_event.h"
#include "testdb.h"

struct fixture {
	struct testdb	 t;
	struct db	*db;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || testdb_create(&f->t) < 0) {
		free(f);
		return -1;
	}
	if (testdb_migrate(&f->t) < 0) {
		testdb_drop(&f->t);
		free(f);
		return -1;
	}
	f->db = testdb_open(&f->t);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	db_free(f->db);
	testdb_drop(&f->t);
	free(f);
	return 0;
}

/* The row of event id as one line of text. */
static char *
event_text(const struct fixture *f, int64_t id)
{
	char sql[512];

	assert_true(snprintf(sql, sizeof(sql), "SELECT concat_ws('|', actor,"
	    " entity_type, entity_id, coalesce(run_id::text, '-'), action,"
	    " coalesce(from_state, '-'), coalesce(to_state, '-'),"
	    " coalesce(reason, '-'), data::text) FROM events WHERE id = %lld",
	    (long long)id) < (int)sizeof(sql));
	return testdb_value(&f->t, sql);
}

static void
store_event__appends_every_column_and_fills_the_defaults(void **state)
{
	struct fixture *f = *state;
	struct event_in full = {
		.actor = "alice", .entity_type = "stage", .entity_id = 7,
		.run_id = 3, .action = "transition", .from_state = "pending",
		.to_state = "submitted", .reason = "it's ready",
		.data = "{\"attempt\": 1}",
	};
	struct event_in bare = {
		.actor = "poller", .entity_type = "repository", .entity_id = 5,
	};
	struct err err;
	int64_t id1 = 0, id2 = 0;
	char *s;

	assert_int_equal(store_event_append(f->db, &full, &id1, &err), 0);
	assert_true(id1 > 0);
	s = event_text(f, id1);
	assert_string_equal(s, "alice|stage|7|3|transition|pending|submitted|"
	    "it's ready|{\"attempt\": 1}");
	free(s);
	assert_int_equal(store_event_append(f->db, &bare, &id2, &err), 0);
	assert_true(id2 > id1);
	s = event_text(f, id2);
	assert_string_equal(s, "poller|repository|5|-|transition|-|-|-|{}");
	free(s);
	assert_int_equal(store_event_append(f->db, &bare, NULL, &err), 0);
	s = testdb_value(&f->t, "SELECT count(*) FROM events");
	assert_string_equal(s, "3");
	free(s);
}

static void
store_event__announces_run_stage_and_approval_events_only(void **state)
{
	struct fixture *f = *state;
	struct db *l = testdb_open(&f->t);
	struct event_in ev = {
		.actor = "engine", .entity_type = "repository", .entity_id = 9,
		.action = "branch.updated", .data = "{\"branch\": \"main\"}",
	};
	struct err err;
	char ch[64], payload[256], want[256];
	int64_t id = 0;

	assert_int_equal(db_listen(l, "sluice_events", &err), 0);
	assert_int_equal(store_event_append(f->db, &ev, &id, &err), 0);
	assert_int_equal(db_wait_notify(l, 300, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 0);

	/* inside a transaction it is delivered at commit */
	ev.entity_type = "run";
	ev.entity_id = 4;
	ev.run_id = 4;
	ev.action = NULL;
	ev.from_state = "queued";
	ev.to_state = "running";
	ev.data = NULL;
	assert_int_equal(db_begin(f->db, &err), 0);
	assert_int_equal(store_event_append(f->db, &ev, &id, &err), 0);
	assert_int_equal(db_wait_notify(l, 300, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 0);
	assert_int_equal(db_commit(f->db, &err), 0);
	assert_int_equal(db_wait_notify(l, 5000, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 1);
	assert_string_equal(ch, "sluice_events");
	assert_true(snprintf(want, sizeof(want), "{\"id\" : %lld, \"type\" : "
	    "\"run\", \"entity\" : 4, \"run\" : 4, \"from\" : \"queued\", "
	    "\"to\" : \"running\"}", (long long)id) < (int)sizeof(want));
	assert_string_equal(payload, want);
	db_free(l);
}

static void
store_event__refuses_what_the_events_table_refuses(void **state)
{
	struct fixture *f = *state;
	struct event_in ev = {
		.actor = "", .entity_type = "run", .entity_id = 1,
	};
	struct err err;
	int64_t id = 7;
	char *s;

	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	assert_int_equal(id, 0);
	ev.actor = NULL;
	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	ev.actor = "a";
	ev.entity_type = "planet";
	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	ev.entity_type = "run";
	ev.action = "Drop Table";
	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	ev.action = NULL;
	ev.data = "[1, 2]";
	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	ev.data = "{not json";
	assert_int_equal(store_event_append(f->db, &ev, &id, &err),
	    ERR_INVALID);
	s = testdb_value(&f->t, "SELECT count(*) FROM events");
	assert_string_equal(s, "0");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    store_event__appends_every_column_and_fills_the_defaults,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_event__announces_run_stage_and_approval_events_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    store_event__refuses_what_the_events_table_refuses, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
