/*
 * test_api_notifications.c - the notification outbox and GET
 * /api/v1/notifications/deliveries over real HTTP and PostgreSQL: the
 * trigger on events writes outbox rows for the kinds it should and only
 * those, in the event's transaction; the deliveries list is admin only,
 * newest first, paged and filtered by status, and shows no body.
 * (tests/integration/notify.sh sends them for real.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "store/db.h"

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

static void
assert_value(struct apifix *f, const char *sql, const char *want)
{
	char *v = testdb_value(&f->a->t, sql);

	if (strcmp(v != NULL ? v : "", want) != 0)
		fail_msg("%s\n  got '%s', want '%s'", sql, v ? v : "", want);
	free(v);
}

static void
notify__events_write_outbox_rows_for_their_kinds_only(void **state)
{
	struct apifix *f = *state;
	struct err err;

	seed_sql(f->db, "INSERT INTO events (actor, entity_type, entity_id,"
	    " run_id, action, from_state, to_state, data) VALUES"
	    " ('poller', 'run', 7, 7, 'created', NULL, 'queued', '{}'),"
	    " ('engine', 'stage', 3, 7, 'transition', 'pending', 'failed', '{}'),"
	    " ('engine', 'run', 7, 7, 'transition', 'running', 'failed', '{}'),"
	    " ('engine', 'approval', 4, 7, 'created', NULL, 'pending', '{}'),"
	    " ('alice', 'approval', 4, 7, 'transition', 'pending', 'approved', '{}'),"
	    " ('engine', 'model_version', 2, 7, 'transition', 'candidate',"
	    "  'production', '{}'),"
	    " ('engine', 'rollout', 5, 7, 'transition', 'rolling_back',"
	    "  'rolled_back', '{}'),"
	    " ('poller', 'repository', 1, NULL, 'branch.updated', NULL, NULL,"
	    "  '{\"to\": \"0123456789abcdef0123456789abcdef01234567\"}'),"
	    " ('poller', 'repository', 1, NULL, 'branch.deleted', NULL, NULL,"
	    "  '{}')");
	assert_value(f, "SELECT string_agg(kind, ',' ORDER BY id) FROM"
	    " notify_outbox", "run_queued,run_failed,approval_requested,"
	    "model_promoted,rollout_rolled_back,commit_validated");
	/* each row is the event's, with its states */
	assert_value(f, "SELECT count(*) FROM notify_outbox o JOIN events e"
	    " ON e.id = o.event_id AND e.entity_id = o.entity_id"
	    " WHERE o.data->>'to_state' IS NOT DISTINCT FROM e.to_state", "6");
	/* a rolled-back event leaves no outbox row */
	assert_int_equal(db_begin(f->db, &err), 0);
	assert_int_equal(db_exec(f->db, "INSERT INTO events (actor, entity_type,"
	    " entity_id, run_id, action, to_state) VALUES ('engine', 'run', 8,"
	    " 8, 'transition', 'failed')", NULL, NULL, &err), 0);
	db_rollback(f->db);
	assert_value(f, "SELECT count(*) FROM notify_outbox", "6");
}

static void
notify__deliveries_are_listed_newest_first_for_admins(void **state)
{
	struct apifix *f = *state;
	struct testreply rp;
	char path[256];
	json_t *j;

	seed_sql(f->db, "INSERT INTO events (actor, entity_type, entity_id,"
	    " run_id, action, from_state, to_state) VALUES"
	    " ('engine', 'run', 7, 7, 'transition', 'running', 'failed')");
	seed_sql(f->db, "INSERT INTO notify_deliveries (outbox_id, channel,"
	    " target, kind, format, run_id, context, sha, body, status,"
	    " attempts, last_error, last_http_status, delivered_at)"
	    " SELECT o.id, c, t, 'run_failed', fm, 7, ctx, sha, 'SECRET-BODY',"
	    "  st, n, er, hs, CASE WHEN st = 'delivered' THEN now() END"
	    " FROM notify_outbox o, (VALUES"
	    "  ('notification', 'team', 'slack', NULL, NULL, 'delivered', 1,"
	    "   NULL, 200),"
	    "  ('notification', 'hook', 'json', NULL, NULL, 'pending', 3,"
	    "   'HTTP 503', 503),"
	    "  ('commit_status', 'demo', 'github', 'sluice/demo',"
	    "   '0123456789abcdef0123456789abcdef01234567', 'failed', 1,"
	    "   'HTTP 401: Bad credentials', 401))"
	    "  AS v(c, t, fm, ctx, sha, st, n, er, hs)");
	testapi_as(f->a, &rp, f->admin, "GET",
	    "/api/v1/notifications/deliveries?limit=2", NULL);
	assert_int_equal(rp.status, 200);
	assert_null(strstr(rp.body, "SECRET-BODY"));
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "deliveries"), 2);
	assert_string_equal(tj_str(j, "deliveries[0].target"), "demo");
	assert_string_equal(tj_str(j, "deliveries[0].status"), "failed");
	assert_string_equal(tj_str(j, "deliveries[0].context"), "sluice/demo");
	assert_int_equal(tj_int(j, "deliveries[0].last_http_status"), 401);
	assert_string_equal(tj_str(j, "deliveries[1].target"), "hook");
	assert_int_equal(tj_int(j, "deliveries[1].attempts"), 3);
	assert_false(tj_is_null(j, "deliveries[1].next_attempt_at"));
	(void)snprintf(path, sizeof(path), "/api/v1/notifications/deliveries?"
	    "limit=2&cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "deliveries"), 1);
	assert_string_equal(tj_str(j, "deliveries[0].target"), "team");
	assert_false(tj_is_null(j, "deliveries[0].delivered_at"));
	assert_true(tj_is_null(j, "deliveries[0].next_attempt_at"));
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "GET",
	    "/api/v1/notifications/deliveries?status=pending", NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "deliveries"), 1);
	assert_string_equal(tj_str(j, "deliveries[0].event"), "run_failed");
	json_decref(j);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "GET",
	    "/api/v1/notifications/deliveries?status=lost", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->viewer, "GET",
	    "/api/v1/notifications/deliveries", NULL);
	assert_int_equal(rp.status, 403);
	testreply_free(&rp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    notify__events_write_outbox_rows_for_their_kinds_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    notify__deliveries_are_listed_newest_first_for_admins,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
