/* test_notify.c - LISTEN/NOTIFY through struct db (db_notify.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "store/db.h"
#include "store/store_notify.h"
#include "testdb.h"

static void
notify__a_notification_from_another_connection_wakes_the_waiter(void **state)
{
	struct testdb t;
	struct db *a, *b;
	struct err err;
	char ch[64], payload[64];

	(void)state;
	assert_int_equal(testdb_create(&t), 0);
	a = testdb_open(&t);
	b = testdb_open(&t);
	assert_int_equal(db_listen(a, "sluice_runs", &err), 0);
	assert_int_equal(db_wait_notify(a, 50, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 0);
	assert_int_equal(db_exec(b, "SELECT pg_notify('sluice_runs', '42')",
	    NULL, NULL, &err), 0);
	assert_int_equal(db_wait_notify(a, 5000, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 1);
	assert_string_equal(ch, "sluice_runs");
	assert_string_equal(payload, "42");
	assert_int_equal(db_listen(a, "Bad; DROP", &err), ERR_INVALID);
	db_free(a);
	db_free(b);
	testdb_drop(&t);
}

static void
notify__a_replaced_connection_listens_again_and_says_resync(void **state)
{
	struct testdb t;
	struct db *a, *b;
	struct err err;
	char ch[64], payload[64], sql[128];
	char *pid;
	int rc;

	(void)state;
	assert_int_equal(testdb_create(&t), 0);
	a = testdb_open(&t);
	b = testdb_open(&t);
	assert_int_equal(db_listen(a, "sluice_refresh", &err), 0);
	pid = testdb_value(&t, "SELECT pid FROM pg_stat_activity WHERE "
	    "query LIKE 'LISTEN%' AND datname = current_database()");
	assert_non_null(pid);
	(void)snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
	free(pid);
	assert_int_equal(testdb_sql(&t, sql), 0);
	/*
	 * The first waits may see the broken connection (an error, or the
	 * termination message arriving as input); then it resyncs.
	 */
	for (int i = 0; i < 20; i++) {
		rc = db_wait_notify(a, 500, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
		if (rc == 1)
			break;
	}
	assert_int_equal(rc, 1);
	assert_string_equal(ch, "");
	assert_int_equal(db_exec(b, "NOTIFY sluice_refresh, 'demo'", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_wait_notify(a, 5000, ch, sizeof(ch), payload,
	    sizeof(payload), &err), 1);
	assert_string_equal(payload, "demo");
	db_free(a);
	db_free(b);
	testdb_drop(&t);
}

static int64_t
idle_ms(struct db *db, int64_t cap)
{
	struct err err;
	int64_t ms = -1;

	if (store_notify_idle_ms(db, cap, &ms, &err) < 0)
		fail_msg("store_notify_idle_ms: %s", err.msg);
	return ms;
}

/* The notification sender's pause: the cap when nothing is pending. */
static void
notify__the_sender_waits_the_cap_with_nothing_pending(void **state)
{
	struct testdb t;
	struct db *db;
	int64_t ms;

	(void)state;
	assert_int_equal(testdb_create_migrated(&t), 0);
	db = testdb_open(&t);
	assert_int_equal(idle_ms(db, 30000), 30000);
	/* an outbox row to fan out: no pause */
	assert_int_equal(testdb_sql(&t, "INSERT INTO notify_outbox (id,"
	    " event_id, kind, entity_type, entity_id, fanned_out_at) VALUES"
	    " (1, 1, 'run_queued', 'run', 1, NULL)"), 0);
	assert_int_equal(idle_ms(db, 30000), 0);
	/*
	 * fanned out; its delivery due in an hour: the pause is the time
	 * until then (under a larger cap), however slow the machine is
	 */
	assert_int_equal(testdb_sql(&t, "UPDATE notify_outbox SET"
	    " fanned_out_at = now()"), 0);
	assert_int_equal(testdb_sql(&t, "INSERT INTO notify_deliveries"
	    " (outbox_id, channel, target, kind, format, body, next_attempt_at)"
	    " VALUES (1, 'notification', 'http://x', 'run_queued', 'json',"
	    " '{}', now() + interval '1 hour')"), 0);
	ms = idle_ms(db, 36000000);
	assert_true(ms > 3000000 && ms <= 3600000);
	assert_int_equal(idle_ms(db, 30000), 30000);
	/* due: no pause; delivered: the cap again */
	assert_int_equal(testdb_sql(&t, "UPDATE notify_deliveries SET"
	    " next_attempt_at = now() - interval '1 s'"), 0);
	assert_int_equal(idle_ms(db, 30000), 0);
	assert_int_equal(testdb_sql(&t, "UPDATE notify_deliveries SET"
	    " status = 'delivered', delivered_at = now()"), 0);
	assert_int_equal(idle_ms(db, 30000), 30000);
	db_free(db);
	testdb_drop(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    notify__a_notification_from_another_connection_wakes_the_waiter),
		cmocka_unit_test(
		    notify__a_replaced_connection_listens_again_and_says_resync),
		cmocka_unit_test(
		    notify__the_sender_waits_the_cap_with_nothing_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
