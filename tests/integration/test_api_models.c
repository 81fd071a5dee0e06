/*
 * test_api_models.c - /api/v1/models and /api/v1/approvals over real HTTP
 * and PostgreSQL: the registry (production per target, versions newest
 * first), and the approval inbox with what a person needs to decide.
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
#include "query/store_query_approvals.h"
#include "store/db.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"

struct fixture {
	struct apifix	*f;
	int64_t		 version;
	int64_t		 runs[3];
	int64_t		 models[4];	/* demo v1..v3, other v1 */
	int64_t		 approvals[3];	/* expired, rejected, pending */
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int64_t repo, commit, a, ro;
	char *demo;

	if (x == NULL || (x->f = apifix_start(NULL, NULL)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	repo = seed_repo(x->f->db, "demo", "{main}");
	commit = seed_commit(x->f->db, repo, SHA_A, "m", "Ada");
	x->version = seed_version(x->f->db, repo, commit, "pipelines/demo.yaml",
	    demo, NULL, NULL);
	free(demo);
	for (int i = 0; i < 3; i++)
		x->runs[i] = seed_run(x->f->db, x->version, "push", "main",
		    NULL);
	/* v1 retired, v2 in production, v3 the candidate of run 3 */
	a = seed_attempt(x->f->db, x->runs[0], "train", 1, 0, "succeeded");
	x->models[0] = seed_model(x->f->db, a, "demo", 1, "retired",
	    "demo-api", "{\"auc\": 0.88}");
	a = seed_attempt(x->f->db, x->runs[1], "train", 1, 0, "succeeded");
	x->models[1] = seed_model(x->f->db, a, "demo", 2, "production",
	    "demo-api", "{\"auc\": 0.91}");
	a = seed_attempt(x->f->db, x->runs[2], "train", 1, 0, "succeeded");
	x->models[2] = seed_model(x->f->db, a, "demo", 3, "candidate",
	    "demo-api", "{\"auc\": 0.934}");
	a = seed_attempt(x->f->db, x->runs[2], "evaluate", 1, 0, "succeeded");
	x->models[3] = seed_model(x->f->db, a, "other-model", 1, "registered",
	    NULL, "{}");
	/* approvals: run 1's expired, run 2's rejected, run 3's pending */
	a = seed_attempt(x->f->db, x->runs[0], "rollout", 1, 1, "succeeded");
	ro = seed_rollout(x->f->db, x->runs[0], "rollout", "demo-api",
	    x->models[0], 0, 2, 50);
	x->approvals[0] = seed_approval(x->f->db, ro, 2, 50, "expired", NULL);
	ro = seed_rollout(x->f->db, x->runs[1], "rollout", "demo-api",
	    x->models[1], x->models[0], 2, 50);
	x->approvals[1] = seed_approval(x->f->db, ro, 2, 50, "rejected",
	    "amy-approver");
	a = seed_attempt(x->f->db, x->runs[2], "rollout", 1, 1, "succeeded");
	seed_metric(x->f->db, a, "error_rate", 0.03, 50);
	seed_metric(x->f->db, a, "error_rate", 0.01, 10);
	seed_metric(x->f->db, a, "latency_p99", 120, 10);
	ro = seed_rollout(x->f->db, x->runs[2], "rollout", "demo-api",
	    x->models[2], x->models[1], 2, 50);
	x->approvals[2] = seed_approval(x->f->db, ro, 2, 50, "pending", NULL);
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

static json_t *
get_json(struct fixture *x, const char *path, long status)
{
	struct testreply rp;
	json_t *j;

	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	if (rp.status != status)
		fail_msg("GET %s: %ld %s", path, rp.status, rp.body);
	j = tj_parse(rp.body);
	testreply_free(&rp);
	return j;
}

static void
models__list_has_versions_and_what_is_in_production(void **state)
{
	struct fixture *x = *state;
	char path[256];
	json_t *j = get_json(x, "/api/v1/models", 200);

	assert_int_equal(tj_len(j, "models"), 2);
	assert_string_equal(tj_str(j, "models[0].name"), "demo");
	assert_int_equal(tj_int(j, "models[0].versions"), 3);
	assert_int_equal(tj_int(j, "models[0].latest.version"), 3);
	assert_string_equal(tj_str(j, "models[0].latest.status"), "candidate");
	assert_int_equal(tj_int(j, "models[0].production.demo-api"), 2);
	assert_string_equal(tj_str(j, "models[1].name"), "other-model");
	assert_int_equal(tj_len(j, "models[1].production"), 0);
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, "/api/v1/models?limit=1", 200);
	assert_int_equal(tj_len(j, "models"), 1);
	(void)snprintf(path, sizeof(path), "/api/v1/models?limit=1&cursor=%s",
	    tj_str(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, path, 200);
	assert_string_equal(tj_str(j, "models[0].name"), "other-model");
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, "/api/v1/models?status=production", 400);
	json_decref(j);
}

static void
models__versions_are_newest_first(void **state)
{
	struct fixture *x = *state;
	char path[256];
	json_t *j = get_json(x, "/api/v1/models/demo/versions", 200);

	assert_int_equal(tj_len(j, "versions"), 3);
	assert_int_equal(tj_int(j, "versions[0].version"), 3);
	assert_string_equal(tj_str(j, "versions[0].status"), "candidate");
	assert_string_equal(tj_str(j, "versions[0].uri"), "s3://models/demo/3");
	assert_string_equal(tj_str(j, "versions[0].target"), "demo-api");
	assert_int_equal(tj_int(j, "versions[0].run"), x->runs[2]);
	assert_string_equal(tj_str(j, "versions[0].pipeline"), "demo");
	assert_string_equal(tj_str(j, "versions[0].stage"), "train");
	assert_true(tj_num(j, "versions[0].metrics.auc") == 0.934);
	assert_true(tj_is_null(j, "versions[0].promoted_at"));
	assert_non_null(tj_str(j, "versions[1].promoted_at"));
	assert_non_null(tj_str(j, "versions[2].retired_at"));
	json_decref(j);
	j = get_json(x, "/api/v1/models/demo/versions?status=production", 200);
	assert_int_equal(tj_len(j, "versions"), 1);
	assert_int_equal(tj_int(j, "versions[0].version"), 2);
	json_decref(j);
	j = get_json(x, "/api/v1/models/demo/versions?status=rejected", 200);
	assert_int_equal(tj_len(j, "versions"), 0);
	json_decref(j);
	j = get_json(x, "/api/v1/models/demo/versions?limit=2", 200);
	(void)snprintf(path, sizeof(path), "/api/v1/models/demo/versions?"
	    "limit=2&cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, path, 200);
	assert_int_equal(tj_len(j, "versions"), 1);
	assert_int_equal(tj_int(j, "versions[0].version"), 1);
	json_decref(j);
	j = get_json(x, "/api/v1/models/ghost/versions", 404);
	assert_string_equal(tj_str(j, "error.message"),
	    "model 'ghost' not found");
	json_decref(j);
	j = get_json(x, "/api/v1/models/demo/versions?status=live", 400);
	json_decref(j);
}

static void
approvals__the_inbox_shows_what_a_decision_needs(void **state)
{
	struct fixture *x = *state;
	json_t *j = get_json(x, "/api/v1/approvals?status=pending", 200);

	assert_int_equal(tj_len(j, "approvals"), 1);
	assert_int_equal(tj_int(j, "approvals[0].id"), x->approvals[2]);
	assert_int_equal(tj_int(j, "approvals[0].run"), x->runs[2]);
	assert_string_equal(tj_str(j, "approvals[0].pipeline"), "demo");
	assert_string_equal(tj_str(j, "approvals[0].stage"), "rollout");
	assert_int_equal(tj_int(j, "approvals[0].step"), 2);
	assert_int_equal(tj_int(j, "approvals[0].weight"), 50);
	assert_string_equal(tj_str(j, "approvals[0].target"), "demo-api");
	assert_string_equal(tj_str(j, "approvals[0].status"), "pending");
	assert_non_null(tj_str(j, "approvals[0].requested_at"));
	assert_non_null(tj_str(j, "approvals[0].expires_at"));
	assert_true(tj_is_null(j, "approvals[0].decided_by"));
	assert_string_equal(tj_str(j, "approvals[0].run_status"), "queued");
	assert_string_equal(tj_str(j, "approvals[0].rollout.status"),
	    "waiting_approval");
	assert_int_equal(tj_int(j, "approvals[0].rollout.current_weight"), 50);
	assert_non_null(tj_str(j, "approvals[0].rollout.analysis_started_at"));
	/* the canary as defined: step 1's analysis gates, the approvals */
	assert_int_equal(tj_len(j, "approvals[0].canary_steps"), 3);
	assert_string_equal(tj_str(j,
	    "approvals[0].canary_steps[0].analysis.gates[0].metric"),
	    "error_rate");
	assert_string_equal(tj_str(j, "approvals[0].canary_steps[1].approval"),
	    "required");
	/* what the canary reported, latest values */
	assert_true(tj_num(j, "approvals[0].canary_metrics.error_rate") ==
	    0.01);
	assert_true(tj_num(j, "approvals[0].canary_metrics.latency_p99") ==
	    120);
	/* candidate against production */
	assert_int_equal(tj_int(j, "approvals[0].candidate.version"), 3);
	assert_true(tj_num(j, "approvals[0].candidate.metrics.auc") == 0.934);
	assert_int_equal(tj_int(j, "approvals[0].production.version"), 2);
	assert_true(tj_num(j, "approvals[0].production.metrics.auc") == 0.91);
	json_decref(j);
}

static void
approvals__all_newest_first_with_pages_and_filters(void **state)
{
	struct fixture *x = *state;
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	char path[256], sql[16384];
	int found = 0;
	json_t *j = get_json(x, "/api/v1/approvals", 200);

	assert_int_equal(tj_len(j, "approvals"), 3);
	assert_int_equal(tj_int(j, "approvals[0].id"), x->approvals[2]);
	assert_int_equal(tj_int(j, "approvals[2].id"), x->approvals[0]);
	assert_string_equal(tj_str(j, "approvals[1].status"), "rejected");
	assert_string_equal(tj_str(j, "approvals[1].decided_by"),
	    "amy-approver");
	assert_string_equal(tj_str(j, "approvals[1].comment"), "ok");
	assert_true(tj_is_null(j, "approvals[2].decided_by"));
	assert_non_null(tj_str(j, "approvals[2].decided_at"));
	json_decref(j);
	j = get_json(x, "/api/v1/approvals?limit=2", 200);
	assert_int_equal(tj_len(j, "approvals"), 2);
	(void)snprintf(path, sizeof(path), "/api/v1/approvals?limit=2&"
	    "cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, path, 200);
	assert_int_equal(tj_len(j, "approvals"), 1);
	assert_int_equal(tj_int(j, "approvals[0].id"), x->approvals[0]);
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, "/api/v1/approvals?status=expired", 200);
	assert_int_equal(tj_len(j, "approvals"), 1);
	json_decref(j);
	j = get_json(x, "/api/v1/approvals?status=waiting", 400);
	assert_non_null(strstr(tj_str(j, "error.message"),
	    "pending, approved, rejected, expired"));
	json_decref(j);
	j = get_json(x, "/api/v1/approvals?run=1", 400);
	json_decref(j);
	/* one */
	(void)snprintf(path, sizeof(path), "/api/v1/approvals/%lld",
	    (long long)x->approvals[1]);
	j = get_json(x, path, 200);
	assert_int_equal(tj_int(j, "id"), x->approvals[1]);
	assert_string_equal(tj_str(j, "status"), "rejected");
	assert_int_equal(tj_int(j, "production.version"), 2);
	json_decref(j);
	j = get_json(x, "/api/v1/approvals/987654", 404);
	json_decref(j);
	j = get_json(x, "/api/v1/approvals/x1", 404);
	json_decref(j);
	/* the status filter reads approvals_status_newest */
	(void)snprintf(sql, sizeof(sql), "EXPLAIN %s",
	    store_query_approvals_sql("pending"));
	db_args_init(&a);
	db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, 50);
	db_args_str(&a, "pending");
	assert_int_equal(db_exec(x->f->db, sql, &a, &res, &err), 0);
	for (size_t i = 0; i < db_res_rows(res); i++)
		if (strstr(db_res_text(res, i, 0), "approvals_status_newest"))
			found = 1;
	db_res_free(res);
	assert_true(found);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(models__list_has_versions_and_what_is_in_production),
		T(models__versions_are_newest_first),
		T(approvals__the_inbox_shows_what_a_decision_needs),
		T(approvals__all_newest_first_with_pages_and_filters),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
