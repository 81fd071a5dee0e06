/*
 * test_api_actions.c - the writes that drive the engine, over real HTTP and
 * PostgreSQL: cancel, retry, approve and reject, a rollout's
 * promote-full, abort, pause and resume, their roles, their conflicts,
 * and what they leave in the database and the audit trail.
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
#include "../support/testseed.h"
#include "store/db.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"

struct fixture {
	struct apifix	*f;
	int64_t		 version;
	int64_t		 run;
	int64_t		 approval;
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int64_t repo, commit, a, model, ro;
	char *demo;

	if (x == NULL || (x->f = apifix_start(NULL, NULL)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	repo = seed_repo(x->f->db, "demo", "{main}");
	commit = seed_commit(x->f->db, repo, SHA_A, "m", "Ada");
	x->version = seed_version(x->f->db, repo, commit, "pipelines/demo.yaml",
	    demo, NULL, NULL);
	free(demo);
	x->run = seed_run(x->f->db, x->version, "push", "main", NULL);
	seed_sql(x->f->db, "UPDATE runs SET status = 'waiting_approval', "
	    "started_at = now() WHERE id = %lld", (long long)x->run);
	a = seed_attempt(x->f->db, x->run, "train", 1, 0, "succeeded");
	model = seed_model(x->f->db, a, "demo", 1, "candidate", "demo-api",
	    "{\"auc\": 0.9}");
	ro = seed_rollout(x->f->db, x->run, "rollout", "demo-api", model, 0,
	    2, 50);
	x->approval = seed_approval(x->f->db, ro, 2, 50, "pending", NULL);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;
	/* cancel, retry: each run's list document is kept true */
	size_t stale = seed_stale_summaries(x->f->db);

	apifix_stop(x->f);
	free(x);
	return stale == 0 ? 0 : -1;
}

/* POST /api/v1/<what>/<id>/<verb> */
static void
request(struct fixture *x, struct testreply *r, const char *token,
    const char *what, int64_t id, const char *verb, const char *body)
{
	char path[128];

	(void)snprintf(path, sizeof(path), "/api/v1/%s/%lld/%s", what,
	    (long long)id, verb);
	testapi_as(x->f->a, r, token, "POST", path, body);
}

static void
api_actions__approve_records_who_when_and_the_comment(void **state)
{
	struct fixture *x = *state;
	struct testreply r;

	request(x, &r, x->f->approver, "approvals", x->approval, "approve", "{\"comment\": \"metrics look good\"}");
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"status\" : \"approved\""));
	testreply_free(&r);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM approvals "
	    "WHERE id = %lld AND status = 'approved' AND decided_by = "
	    "'amy-approver' AND comment = 'metrics look good' AND decided_at IS "
	    "NOT NULL", (long long)x->approval), 1);
	/* deciding twice is a conflict, not a second decision */
	request(x, &r, x->f->approver, "approvals", x->approval, "reject", "{}");
	assert_int_equal(r.status, 409);
	testreply_free(&r);
	request(x, &r, x->f->approver, "approvals", x->approval, "approve",
	    "{}");
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(r.body, "is already approved"));
	testreply_free(&r);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events "
	    "WHERE entity_type = 'approval' AND entity_id = %lld AND "
	    "actor = 'amy-approver'", (long long)x->approval), 1);
}

static void
api_actions__reject_needs_the_approver_role(void **state)
{
	struct fixture *x = *state;
	struct testreply r;

	request(x, &r, x->f->viewer, "approvals", x->approval, "reject", "{\"comment\": \"no\"}");
	assert_int_equal(r.status, 403);
	testreply_free(&r);
	request(x, &r, x->f->operator, "approvals", x->approval, "reject", "{\"comment\": \"no\"}");
	assert_int_equal(r.status, 403);
	testreply_free(&r);
	request(x, &r, NULL, "approvals", x->approval,
	    "reject", "{}");
	assert_int_equal(r.status, 401);
	testreply_free(&r);
	request(x, &r, x->f->approver, "approvals", x->approval, "reject", "{\"comment\": \"error rate\"}");
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"status\" : \"rejected\""));
	testreply_free(&r);
	request(x, &r, x->f->approver, "approvals", 999999, "approve", "{}");
	assert_int_equal(r.status, 404);
	testreply_free(&r);
	request(x, &r, x->f->approver, "approvals", x->approval, "approve", "{\"coment\": \"typo\"}");
	assert_true(r.status == 400 || r.status == 409);
	testreply_free(&r);
}

static void
api_actions__cancel_then_retry(void **state)
{
	struct fixture *x = *state;
	struct testreply r;
	int64_t queued;

	/* a queued run is canceled at once */
	queued = seed_run(x->f->db, x->version, "push", "main", NULL);
	request(x, &r, x->f->viewer, "runs", queued, "cancel", NULL);
	assert_int_equal(r.status, 403);
	testreply_free(&r);
	request(x, &r, x->f->operator, "runs", queued,
	    "cancel", NULL);
	assert_int_equal(r.status, 202);
	testreply_free(&r);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs WHERE "
	    "id = %lld AND status = 'canceled' AND cancel_requested_by = "
	    "'oli-operator'", (long long)queued), 1);
	/* a finished run cannot be canceled again */
	request(x, &r, x->f->operator, "runs", queued, "cancel", NULL);
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(r.body, "already finished"));
	testreply_free(&r);
	/* a canceled run can be retried: a new run linked to its parent */
	request(x, &r, x->f->operator, "runs", queued,
	    "retry", NULL);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.body, "\"trigger\" : \"retry\""));
	testreply_free(&r);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs WHERE "
	    "parent_run_id = %lld AND trigger = 'retry' AND status = 'queued'",
	    (long long)queued), 1);
	/* a run that is not failed or canceled cannot be retried */
	request(x, &r, x->f->operator, "runs", x->run,
	    "retry", NULL);
	assert_int_equal(r.status, 409);
	testreply_free(&r);
	request(x, &r, x->f->operator, "runs", 424242,
	    "cancel", NULL);
	assert_int_equal(r.status, 404);
	testreply_free(&r);
}

/* --- rollout actions (the engine's side: test_engine_rollout.c) ----- */

/* POST /api/v1/runs/<run>/rollout/<verb> as token with body. */
static int
rollout_act(struct fixture *x, struct testreply *r, const char *token, int64_t run,
    const char *verb, const char *body)
{
	char path[128];

	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/rollout/%s",
	    (long long)run, verb);
	testapi_as(x->f->a, r, token, "POST", path, body);
	return r->status;
}

/* rollout_act() must answer status with needle in the body. */
static void
expect_act(struct fixture *x, const char *token, int64_t run, const char *verb,
    const char *body, int status, const char *needle)
{
	struct testreply r;

	if (rollout_act(x, &r, token, run, verb, body) != status ||
	    (needle != NULL && strstr(r.body, needle) == NULL))
		fail_msg("%s: %d %s\n  want %d with \"%s\"", verb, r.status,
		    r.body, status, needle ? needle : "");
	testreply_free(&r);
}

static void
api_rollouts__need_the_approver_role(void **state)
{
	struct fixture *x = *state;
	const char *verbs[] = { "promote-full", "abort", "pause", "resume" };

	for (size_t i = 0; i < 4; i++) {
		expect_act(x, x->f->viewer, x->run, verbs[i], "{}", 403, NULL);
		expect_act(x, x->f->operator, x->run, verbs[i], "{}", 403, NULL);
		expect_act(x, NULL, x->run, verbs[i], "{}", 401, NULL);
	}
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events "
	    "WHERE entity_type = 'rollout'"), 0);
}

static void
api_rollouts__pause_and_resume_are_audited_and_refused_twice(void **state)
{
	struct fixture *x = *state;

	expect_act(x, x->f->approver, x->run, "resume", NULL, 409,
	    "is waiting_approval and not paused: resume does not apply");
	expect_act(x, x->f->approver, x->run, "pause",
	    "{\"comment\": \"checking a dashboard\"}", 200,
	    "\"paused_by\" : \"amy-approver\"");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM stages WHERE "
	    "run_id = %lld AND waiting_reason = 'rollout paused by "
	    "amy-approver'", (long long)x->run), 1);
	expect_act(x, x->f->admin, x->run, "pause", NULL, 409,
	    "is already paused by amy-approver");
	expect_act(x, x->f->approver, x->run, "resume", "{}", 200,
	    "\"paused_by\" : null");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events WHERE "
	    "entity_type = 'rollout' AND actor = 'amy-approver' AND action IN "
	    "('paused', 'resumed') AND run_id = %lld", (long long)x->run), 2);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events WHERE "
	    "action = 'paused' AND data->>'comment' = 'checking a dashboard'"),
	    1);
}

static void
api_rollouts__abort_closes_the_approval_then_nothing_applies(void **state)
{
	struct fixture *x = *state;

	expect_act(x, x->f->approver, x->run, "abort",
	    "{\"comment\": \"latency\"}", 200, "\"action\" : \"abort\"");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM approvals "
	    "WHERE id = %lld AND status = 'expired' AND comment = 'aborted by "
	    "amy-approver: latency'", (long long)x->approval), 1);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events WHERE "
	    "entity_type = 'rollout' AND action = 'abort' AND actor = "
	    "'amy-approver' AND reason = 'aborted by amy-approver: latency'"),
	    1);
	expect_act(x, x->f->approver, x->run, "abort", NULL, 409,
	    "abort already asked by amy-approver: abort does not apply");
	expect_act(x, x->f->approver, x->run, "promote-full", NULL, 409,
	    "promote-full does not apply");
	expect_act(x, x->f->approver, x->run, "pause", NULL, 409, "pause does not "
	    "apply");
	/* a rollout that ended */
	seed_sql(x->f->db, "UPDATE rollouts SET status = 'rolled_back', "
	    "finished_at = now()");
	expect_act(x, x->f->approver, x->run, "promote-full", NULL, 409,
	    "is rolled_back: promote-full does not apply");
}

static void
api_rollouts__promote_full_approves_in_the_callers_name(void **state)
{
	struct fixture *x = *state;

	expect_act(x, x->f->approver, x->run, "promote-full", NULL, 200,
	    "\"action\" : \"promote_full\"");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM approvals "
	    "WHERE id = %lld AND status = 'approved' AND decided_by = "
	    "'amy-approver' AND comment = 'promoted to 100 %% by "
	    "amy-approver'", (long long)x->approval), 1);
	expect_act(x, x->f->approver, x->run, "abort", NULL, 409,
	    "promote-full already asked by amy-approver");
}

static void
api_rollouts__unknown_run_no_rollout_and_bad_bodies(void **state)
{
	struct fixture *x = *state;
	int64_t bare = seed_run(x->f->db, x->version, "push", "main", NULL);

	expect_act(x, x->f->approver, 424242, "abort", NULL, 404,
	    "run 424242 not found");
	expect_act(x, x->f->approver, bare, "pause", NULL, 404, "has no rollout");
	expect_act(x, x->f->approver, x->run, "pause", "{\"coment\": \"x\"}", 400,
	    NULL);
	expect_act(x, x->f->approver, x->run, "pause", "[1]", 400, NULL);
	expect_act(x, x->f->approver, 0, "pause", NULL, 404, "not found");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM rollouts "
	    "WHERE paused_at IS NOT NULL"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    api_actions__approve_records_who_when_and_the_comment,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    api_actions__reject_needs_the_approver_role, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(api_actions__cancel_then_retry,
		    setup, teardown),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(api_rollouts__need_the_approver_role),
		T(api_rollouts__pause_and_resume_are_audited_and_refused_twice),
		T(api_rollouts__abort_closes_the_approval_then_nothing_applies),
		T(api_rollouts__promote_full_approves_in_the_callers_name),
		T(api_rollouts__unknown_run_no_rollout_and_bad_bodies),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
