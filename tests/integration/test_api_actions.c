/*
 * test_api_actions.c - the writes that drive the engine, over real HTTP and
 * PostgreSQL: cancel, retry, approve and reject, their roles, their
 * conflicts, and what they leave in the database and the audit trail.
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

	apifix_stop(x->f);
	free(x);
	return 0;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
