/*
 * test_schedule.c - schedule triggers fired by sched_pass() against real
 * PostgreSQL, with the clock given to each call (no waiting for real
 * minutes): one run per slot across restarts (a new connection and no
 * memory) and two controllers at once, missed slots skipped (catch_up:
 * none) or the last one fired (catch_up: last), the next fire time kept
 * for the API, and an entry that cannot fire skipped.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testseed.h"
#include "engine/schedule.h"
#include "store/db.h"
#include "testdb.h"

#define SHA_A	"aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* 2026-12-07 19:00:00 UTC, a minute boundary */
#define T0	INT64_C(1796670000)

static const char minutely_yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: minutely}\n"
    "spec:\n"
    "  triggers:\n"
    "    schedule:\n"
    "      - {cron: \"*/1 * * * *\", params: {size: \"2\"}}\n"
    "  params: {size: \"1\"}\n"
    "  stages:\n"
    "    - {name: a, image: alpine, command: [\"true\"]}\n"
    "    - {name: b, image: alpine, command: [\"true\"], needs: [a]}\n";

static const char hourly_yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: hourly}\n"
    "spec:\n"
    "  triggers:\n"
    "    schedule:\n"
    "      - {cron: \"0 * * * *\", timezone: Asia/Kolkata}\n"
    "      - {cron: \"0 * * * *\", branch: dev}\n"
    "    catch_up: last\n"
    "  stages:\n"
    "    - {name: a, image: alpine, command: [\"true\"]}\n";

struct fixture {
	struct testdb	 t;
	struct db	*db;
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int64_t repo, c;

	if (x == NULL || testdb_create_migrated(&x->t) < 0 ||
	    (x->db = testdb_open(&x->t)) == NULL)
		return -1;
	repo = seed_repo(x->db, "demo", "{main,dev}");
	c = seed_commit(x->db, repo, SHA_A, "schedules", "Ada");
	(void)seed_version(x->db, repo, c, "pipelines/minutely.yaml",
	    minutely_yaml, NULL, NULL);
	(void)seed_version(x->db, repo, c, "pipelines/hourly.yaml",
	    hourly_yaml, NULL, NULL);
	seed_head(x->db, repo, "main", SHA_A);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;

	db_free(x->db);
	testdb_drop(&x->t);
	free(x);
	return 0;
}

static void
pass_at(struct db *db, int64_t now, int64_t *next)
{
	struct err err;
	int64_t n;

	if (sched_pass(db, now, next != NULL ? next : &n, &err) < 0)
		fail_msg("sched_pass: %s", err.msg);
}

static void
assert_value(struct fixture *x, const char *sql, const char *want)
{
	char *v = testdb_value(&x->t, sql);

	if (strcmp(v != NULL ? v : "", want) != 0)
		fail_msg("%s\n  got '%s', want '%s'", sql, v ? v : "", want);
	free(v);
}

/* The slots of pipeline name's runs, as minutes after T0. */
#define SLOTS(name)                                                         \
	"SELECT coalesce(string_agg(((extract(epoch FROM r.schedule_slot)"  \
	"  - 1796670000) / 60)::bigint::text, ',' ORDER BY r.id), '')"       \
	" FROM runs r JOIN pipelines p ON p.id = r.pipeline_id"             \
	" WHERE p.name = '" name "'"

struct racer {
	struct testdb	*t;
	int64_t		 now;
	int		 rc;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct db *db = testdb_open(r->t);
	struct err err;
	int64_t next;

	r->rc = db != NULL ? sched_pass(db, r->now, &next, &err) : -1;
	db_free(db);
	return NULL;
}

static void
schedule__every_minute_fires_each_slot_once(void **state)
{
	struct fixture *x = *state;
	struct racer r[2];
	pthread_t th[2];
	struct db *again;
	int64_t next = 0;

	/* first sight: counts from now, fires nothing */
	pass_at(x->db, T0 + 10, &next);
	assert_value(x, SLOTS("minutely"), "");
	assert_true(next == T0 + 60);
	assert_value(x, "SELECT extract(epoch FROM s.next_at)::bigint - "
	    "1796670000 FROM pipeline_schedules s JOIN pipelines p ON "
	    "p.id = s.pipeline_id WHERE p.name = 'minutely'", "60");
	/* the slot, then the same slot again, then from a "restarted"
	 * controller (a new connection, nothing in memory) */
	pass_at(x->db, T0 + 60, NULL);
	pass_at(x->db, T0 + 61, NULL);
	again = testdb_open(&x->t);
	assert_non_null(again);
	pass_at(again, T0 + 75, NULL);
	db_free(again);
	assert_value(x, SLOTS("minutely"), "1");
	/* two controllers at the same instant */
	for (int i = 0; i < 2; i++) {
		r[i].t = &x->t;
		r[i].now = T0 + 121;
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	assert_value(x, SLOTS("minutely"), "1,2");
	/* 30 s late (a kill -9 and a restart): still fired */
	pass_at(x->db, T0 + 210, NULL);
	assert_value(x, SLOTS("minutely"), "1,2,3");
	/* down from 3:30 to 9:10: 4..8 are missed (catch_up: none), 9 is on
	 * time */
	pass_at(x->db, T0 + 550, NULL);
	assert_value(x, SLOTS("minutely"), "1,2,3,9");
	/* the runs are like API runs: stages, params, branch, an event */
	assert_value(x, "SELECT count(*) FROM stages s JOIN runs r ON "
	    "r.id = s.run_id WHERE r.trigger = 'schedule' AND r.status = "
	    "'queued' AND r.branch = 'main' AND r.params->>'size' = '2' AND "
	    "r.created_by = 'schedule'", "8");
	assert_value(x, "SELECT count(*) FROM events e JOIN runs r ON "
	    "r.id = e.entity_id WHERE e.entity_type = 'run' AND "
	    "e.action = 'created' AND r.trigger = 'schedule'", "4");
	/* the key is the pipeline and the slot: a second run of a slot is
	 * refused by the database itself */
	assert_int_not_equal(testdb_sql(&x->t, "INSERT INTO runs (pipeline_id,"
	    " pipeline_version_id, commit_id, trigger, created_by,"
	    " schedule_slot) SELECT pipeline_id, pipeline_version_id,"
	    " commit_id, 'schedule', 'x', schedule_slot FROM runs"
	    " WHERE trigger = 'schedule' LIMIT 1"), 0);
}

static void
schedule__catch_up_last_fires_the_newest_missed_slot_once(void **state)
{
	struct fixture *x = *state;
	int64_t next = 0;

	/* Asia/Kolkata is UTC+5:30: its hours start at :30 UTC */
	pass_at(x->db, T0 + 10, &next);
	assert_value(x, SLOTS("hourly"), "");
	/* down for three hours and a bit: 19:30, 20:30 and 21:30 were
	 * missed; only 21:30 fires; the dev entry cannot (dev not polled) */
	pass_at(x->db, T0 + 3 * 3600 + 20 * 60, &next);
	assert_value(x, SLOTS("hourly"), "150");
	pass_at(x->db, T0 + 3 * 3600 + 21 * 60, &next);
	assert_value(x, SLOTS("hourly"), "150");
	assert_value(x, "SELECT extract(epoch FROM s.next_at)::bigint - "
	    "1796670000 FROM pipeline_schedules s JOIN pipelines p ON "
	    "p.id = s.pipeline_id WHERE p.name = 'hourly'",
	    "12600");	/* 22:30 UTC */
}

static void
schedule__a_removed_schedule_forgets_its_next_time(void **state)
{
	struct fixture *x = *state;

	pass_at(x->db, T0 + 10, NULL);
	assert_value(x, "SELECT count(*) FROM pipeline_schedules", "2");
	assert_int_equal(testdb_sql(&x->t, "UPDATE pipelines SET deleted_at ="
	    " now() WHERE name = 'hourly'"), 0);
	pass_at(x->db, T0 + 20, NULL);
	assert_value(x, "SELECT count(*) FROM pipeline_schedules", "1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    schedule__every_minute_fires_each_slot_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    schedule__catch_up_last_fires_the_newest_missed_slot_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    schedule__a_removed_schedule_forgets_its_next_time, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
