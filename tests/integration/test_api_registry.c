/*
 * test_api_registry.c - the model registry's decisions over real HTTP and
 * PostgreSQL: promotions and rollbacks by hand, the production history
 * of a target (what served it at any instant), and the verdict a model
 * version carries.  The history is scripted through the store functions
 * the engine calls (a rollout's start and promotion, an attempt's end
 * with a failed gate) and the API an approver calls.
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
#include "store/status.h"
#include "store/store_rollout.h"
#include "store/store_stage.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"
#define TARGET	"demo-api"

struct fixture {
	struct apifix	*f;
	int64_t		 version;
	int64_t		 runs[5];
	char		 at[6][40];	/* instants, see setup */
};

static void
die_err(const char *what, const struct err *err)
{
	fail_msg("%s: %s", what, err->msg);
}

/*
 * Run run's model (version v), and auc reported by its evaluate stage
 * unless that stage is still to run (auc < 0).
 */
static void
model_of(struct fixture *x, int64_t run, int v, double auc)
{
	int64_t a;
	char metrics[64];

	(void)snprintf(metrics, sizeof(metrics), "{\"loss\": %d}", v);
	a = seed_attempt(x->f->db, run, "train", 1, 0, "succeeded");
	(void)seed_model(x->f->db, a, "demo", v, "registered", NULL, metrics);
	if (auc < 0)
		return;
	a = seed_attempt(x->f->db, run, "evaluate", 1, 0, "succeeded");
	seed_metric(x->f->db, a, "auc", auc, 5);
}

/* Attempt 1 of stage of run, a job attempt unless changed. */
static void
attempt_of(struct fixture *x, struct attempt_new *an, int64_t run,
    const char *stage, const char *job)
{
	memset(an, 0, sizeof(*an));
	an->stage_id = seed_sql(x->f->db, "SELECT id FROM stages WHERE run_id"
	    " = %lld AND name = '%s'", (long long)run, stage);
	an->run_id = run;
	an->kind = ATTEMPT_JOB;
	an->attempt = 1;
	an->weight = -1;
	an->executor = "local";
	an->job_name = job;
	an->gpu_resource = "nvidia.com/gpu";
	an->spec = "{}";
	an->actor = "engine";
}

/* The rollout stage of run takes the target; its rollout's id. */
static int64_t
rollout_start(struct fixture *x, int64_t run)
{
	struct attempt_new an;
	struct err err;
	int64_t att = 0;
	char job[64];

	(void)snprintf(job, sizeof(job), "sluice-%lld-rollout-1-s1",
	    (long long)run);
	attempt_of(x, &an, run, "rollout", job);
	an.kind = ATTEMPT_CANARY_STEP;
	an.step = 1;
	an.weight = 10;
	if (store_rollout_start(x->f->db, &an, TARGET, 3, 0, &att, &err) < 0)
		die_err("rollout start", &err);
	return seed_sql(x->f->db, "SELECT id FROM rollouts WHERE run_id = %lld",
	    (long long)run);
}

/* Run's rollout, approved by bob-approver, promotes its model. */
static void
rollout_promote(struct fixture *x, int64_t run)
{
	int64_t ro = rollout_start(x, run);
	int64_t stage = seed_sql(x->f->db, "SELECT stage_id FROM rollouts"
	    " WHERE id = %lld", (long long)ro);
	struct err err;

	(void)seed_approval(x->f->db, ro, 1, 10, "approved", "bob-approver");
	if (store_rollout_promote(x->f->db, ro, run, stage, ROLLOUT_PROGRESSING,
	    STAGE_SUBMITTED, "engine", NULL, &err) < 0)
		die_err("rollout promote", &err);
}

/* Run's evaluate stage ends with its job succeeded and its gate failed. */
static void
gate_fails(struct fixture *x, int64_t run)
{
	struct attempt_new an;
	struct attempt_end ae;
	struct err err;
	int64_t att = 0;
	char job[64];

	(void)snprintf(job, sizeof(job), "sluice-%lld-evaluate-1",
	    (long long)run);
	attempt_of(x, &an, run, "evaluate", job);
	if (store_attempt_create(x->f->db, &an, &att, &err) < 0)
		die_err("attempt create", &err);
	seed_metric(x->f->db, att, "auc", 0.61, 1);
	memset(&ae, 0, sizeof(ae));
	ae.attempt_id = att;
	ae.run_id = run;
	ae.status = ATTEMPT_SUCCEEDED;
	ae.stage_id = an.stage_id;
	ae.stage_from = STAGE_SUBMITTED;
	ae.stage_moves = 1;
	ae.stage_to = STAGE_FAILED;
	ae.stage_message = "gate failed: auc 0.61 < 0.75";
	ae.actor = "engine";
	if (store_attempt_finish(x->f->db, &ae, &err) < 0)
		die_err("attempt finish", &err);
}

/* Values computed as 0.80 + 0.01 * i, compared as decimals. */
static int
near(double v, double want)
{
	return v > want - 1e-9 && v < want + 1e-9;
}

static struct testreply
call(struct fixture *x, const char *token, const char *method,
    const char *path, const char *body, long status)
{
	struct testreply rp;

	testapi_as(x->f->a, &rp, token, method, path, body);
	if (rp.status != status)
		fail_msg("%s %s: %ld %s", method, path, rp.status, rp.body);
	return rp;
}

static json_t *
json_call(struct fixture *x, const char *token, const char *method,
    const char *path, const char *body, long status)
{
	struct testreply rp = call(x, token, method, path, body, status);
	json_t *j = tj_parse(rp.body);

	testreply_free(&rp);
	return j;
}

/* The error message of a refused call. */
static void
refused(struct fixture *x, const char *token, const char *method,
    const char *path, const char *body, long status, const char *needle)
{
	json_t *j = json_call(x, token, method, path, body, status);
	const char *m = tj_str(j, "error.message");

	if (m == NULL || strstr(m, needle) == NULL)
		fail_msg("%s %s: message '%s' lacks '%s'", method, path,
		    m != NULL ? m : "(none)", needle);
	json_decref(j);
}

/* Instants of the history: the midpoints between its changes. */
static void
read_instants(struct fixture *x)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	static const char sql[] =
	    "WITH h AS (SELECT changed_at AS t, lead(changed_at) OVER"
	    "  (ORDER BY id) AS n, row_number() OVER (ORDER BY id) AS i"
	    "  FROM production_history WHERE target = $1)"
	    " SELECT to_char(x AT TIME ZONE 'UTC',"
	    "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ("
	    "  SELECT 0 AS i, t - interval '1 millisecond' AS x FROM h"
	    "    WHERE i = 1"
	    "  UNION ALL SELECT i, t + (n - t) / 2 FROM h WHERE n IS NOT NULL"
	    "  UNION ALL SELECT i, t + interval '1 day' FROM h WHERE n IS NULL"
	    " ) y ORDER BY i";

	db_args_init(&a);
	db_args_str(&a, TARGET);
	if (db_exec(x->f->db, sql, &a, &res, &err) < 0)
		die_err("instants", &err);
	assert_int_equal(db_res_rows(res), 5);
	for (size_t i = 0; i < 5; i++)
		(void)snprintf(x->at[i], sizeof(x->at[i]), "%s",
		    db_res_text(res, i, 0));
	db_res_free(res);
}

/*
 * Runs 1-3 promoted by their rollouts (v1, v2, v3), a rollback by hand
 * (back to v2, v3 rejected), run 4's model rejected by its gate; run 5
 * registered v5 and has not reached its rollout.  "other" v1 is another
 * model nothing serves.
 */
static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int64_t repo, commit, a;
	char *demo;
	json_t *j;

	if (x == NULL || (x->f = apifix_start(NULL, NULL)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	repo = seed_repo(x->f->db, "demo", "{main}");
	commit = seed_commit(x->f->db, repo, SHA_A, "m", "Ada");
	x->version = seed_version(x->f->db, repo, commit, "pipelines/demo.yaml",
	    demo, NULL, NULL);
	free(demo);
	for (int i = 0; i < 5; i++) {
		x->runs[i] = seed_run(x->f->db, x->version, "push", "main",
		    NULL);
		model_of(x, x->runs[i], i + 1, i == 3 ? -1 : 0.80 + 0.01 * i);
	}
	a = seed_attempt(x->f->db, x->runs[3], "prepare", 1, 0, "succeeded");
	(void)seed_model(x->f->db, a, "other", 1, "registered", NULL, "{}");
	for (int i = 0; i < 3; i++)
		rollout_promote(x, x->runs[i]);
	j = json_call(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"" TARGET "\", \"comment\": \"latency regression\"}",
	    200);
	assert_int_equal(tj_int(j, "version"), 2);
	json_decref(j);
	gate_fails(x, x->runs[3]);
	read_instants(x);
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

static void
history__lists_every_change_newest_first(void **state)
{
	struct fixture *x = *state;
	char path[256];
	json_t *j = json_call(x, x->f->viewer, "GET",
	    "/api/v1/targets/" TARGET "/history", NULL, 200);

	assert_int_equal(tj_len(j, "history"), 4);
	/* the rollback by hand */
	assert_int_equal(tj_int(j, "history[0].version"), 2);
	assert_string_equal(tj_str(j, "history[0].model"), "demo");
	assert_string_equal(tj_str(j, "history[0].source"), "rollback");
	assert_string_equal(tj_str(j, "history[0].actor"), "amy-approver");
	assert_string_equal(tj_str(j, "history[0].reason"),
	    "latency regression");
	assert_int_equal(tj_int(j, "history[0].previous.version"), 3);
	assert_true(tj_is_null(j, "history[0].run"));
	/* the rollouts: who approved, from which run */
	for (int i = 1; i <= 3; i++) {
		char p[64];

		(void)snprintf(p, sizeof(p), "history[%d].source", i);
		assert_string_equal(tj_str(j, p), "rollout");
		(void)snprintf(p, sizeof(p), "history[%d].actor", i);
		assert_string_equal(tj_str(j, p), "bob-approver");
		(void)snprintf(p, sizeof(p), "history[%d].reason", i);
		assert_string_equal(tj_str(j, p), "ok");
		(void)snprintf(p, sizeof(p), "history[%d].run", i);
		assert_int_equal(tj_int(j, p), x->runs[3 - i]);
	}
	assert_int_equal(tj_int(j, "history[1].version"), 3);
	assert_int_equal(tj_int(j, "history[1].previous.version"), 2);
	assert_true(tj_is_null(j, "history[3].previous"));
	json_decref(j);
	/* keyset pages */
	j = json_call(x, x->f->viewer, "GET", "/api/v1/targets/" TARGET
	    "/history?limit=3", NULL, 200);
	assert_int_equal(tj_len(j, "history"), 3);
	(void)snprintf(path, sizeof(path), "/api/v1/targets/" TARGET
	    "/history?limit=3&cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	j = json_call(x, x->f->viewer, "GET", path, NULL, 200);
	assert_int_equal(tj_len(j, "history"), 1);
	assert_int_equal(tj_int(j, "history[0].version"), 1);
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	/* every change is an event of the model version, as for rollouts */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events"
	    " WHERE entity_type = 'model_version' AND to_state = 'production'"
	    " AND actor = 'amy-approver' AND reason = 'latency regression'"
	    " AND data->>'action' = 'rollback'"), 1);
}

static void
history__answers_what_served_at_five_instants(void **state)
{
	struct fixture *x = *state;
	static const int want[] = { 0, 1, 2, 3, 2 };
	char path[256];

	/* before any history: 404 saying when it begins */
	(void)snprintf(path, sizeof(path), "/api/v1/targets/" TARGET
	    "/history?at=%s", x->at[0]);
	refused(x, x->f->viewer, "GET", path, NULL, 404, "history begins at");
	for (int i = 1; i < 5; i++) {
		json_t *j;

		(void)snprintf(path, sizeof(path), "/api/v1/targets/" TARGET
		    "/history?at=%s", x->at[i]);
		j = json_call(x, x->f->viewer, "GET", path, NULL, 200);
		assert_string_equal(tj_str(j, "target"), TARGET);
		if (tj_int(j, "entry.version") != want[i])
			fail_msg("at %s: v%lld, want v%d", x->at[i],
			    (long long)tj_int(j, "entry.version"), want[i]);
		json_decref(j);
	}
	/* between the third promotion and the rollback: v3, by its rollout */
	(void)snprintf(path, sizeof(path), "/api/v1/targets/" TARGET
	    "/history?at=%s", x->at[3]);
	{
		json_t *j = json_call(x, x->f->viewer, "GET", path, NULL, 200);

		assert_string_equal(tj_str(j, "entry.source"), "rollout");
		assert_int_equal(tj_int(j, "entry.run"), x->runs[2]);
		json_decref(j);
	}
	/* an offset is the same instant */
	{
		json_t *j = json_call(x, x->f->viewer, "GET", "/api/v1/targets/"
		    TARGET "/history?at=2999-01-01T01:00:00%2B01:00", NULL,
		    200);

		assert_int_equal(tj_int(j, "entry.version"), 2);
		json_decref(j);
	}
}

static void
history__refuses_bad_input(void **state)
{
	struct fixture *x = *state;

	refused(x, x->f->viewer, "GET", "/api/v1/targets/nowhere/history",
	    NULL, 404, "target 'nowhere' not found");
	refused(x, x->f->viewer, "GET", "/api/v1/targets/nowhere/history?"
	    "at=2026-01-01T00:00:00Z", NULL, 404, "target 'nowhere' not found");
	refused(x, x->f->viewer, "GET", "/api/v1/targets/" TARGET "/history?"
	    "at=yesterday", NULL, 400, "expected an RFC 3339 time");
	refused(x, x->f->viewer, "GET", "/api/v1/targets/" TARGET "/history?"
	    "at=2026-02-30T10:00:00Z", NULL, 400, "RFC 3339");
	refused(x, x->f->viewer, "GET", "/api/v1/targets/" TARGET "/history?"
	    "at=2026-02-01T10:00:00", NULL, 400, "RFC 3339");
	refused(x, x->f->viewer, "GET", "/api/v1/targets/" TARGET "/history?"
	    "at=2026-02-01T10:00:00Z&cursor=abc", NULL, 400, "\"at\"");
}

static void
verdict__rejected_versions_say_why(void **state)
{
	struct fixture *x = *state;
	json_t *j = json_call(x, x->f->viewer, "GET",
	    "/api/v1/models/demo/versions?status=rejected", NULL, 200);

	assert_int_equal(tj_len(j, "versions"), 2);
	assert_int_equal(tj_int(j, "versions[0].version"), 4);
	assert_string_equal(tj_str(j, "versions[0].rejected_reason"),
	    "gate failed: auc 0.61 < 0.75");
	assert_int_equal(tj_int(j, "versions[1].version"), 3);
	assert_string_equal(tj_str(j, "versions[1].rejected_reason"),
	    "rolled back by amy-approver: latency regression");
	/* the metrics its gate judged, against production's */
	assert_true(tj_num(j, "versions[0].gate_metrics.auc") == 0.61);
	assert_int_equal(tj_int(j, "versions[0].production.version"), 2);
	assert_true(near(tj_num(j, "versions[0].production.gate_metrics.auc"),
	    0.81));
	json_decref(j);
	j = json_call(x, x->f->viewer, "GET",
	    "/api/v1/models/demo/versions?status=production", NULL, 200);
	assert_true(tj_is_null(j, "versions[0].rejected_reason"));
	assert_true(tj_is_null(j, "versions[0].production"));
	json_decref(j);
	/* the approval card's comparison: the gate's metrics, not training's */
	{
		char path[64];

		(void)snprintf(path, sizeof(path), "/api/v1/approvals/%lld",
		    (long long)seed_sql(x->f->db, "SELECT id FROM approvals"
		    " WHERE run_id = %lld", (long long)x->runs[2]));
		j = json_call(x, x->f->viewer, "GET", path, NULL, 200);
		assert_int_equal(tj_int(j, "candidate.version"), 3);
		assert_true(near(tj_num(j, "candidate.gate_metrics.auc"), 0.82));
		assert_true(tj_num(j, "candidate.metrics.loss") == 3);
		assert_int_equal(tj_int(j, "production.version"), 2);
		assert_true(near(tj_num(j, "production.gate_metrics.auc"), 0.81));
		json_decref(j);
	}
	/* a rejected version is not promoted by hand */
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/4/"
	    "promote", "{\"target\": \"" TARGET "\"}", 409,
	    "version 4 is rejected: gate failed");
}

static void
manual__promote_and_roll_back_step_by_step(void **state)
{
	struct fixture *x = *state;
	json_t *j;

	/* v5 by hand: v2 retired, v5 in production */
	j = json_call(x, x->f->approver, "POST", "/api/v1/models/demo/versions/"
	    "5/promote", "{\"target\": \"" TARGET "\", \"comment\": \"hotfix\"}",
	    200);
	assert_string_equal(tj_str(j, "source"), "promote");
	assert_int_equal(tj_int(j, "version"), 5);
	assert_int_equal(tj_int(j, "previous.version"), 2);
	assert_string_equal(tj_str(j, "reason"), "hotfix");
	json_decref(j);
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/5/"
	    "promote", "{\"target\": \"" TARGET "\"}", 409,
	    "already in production");
	/* back to v2, then v1, then nothing is left */
	j = json_call(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"" TARGET "\"}", 200);
	assert_int_equal(tj_int(j, "version"), 2);
	json_decref(j);
	j = json_call(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"" TARGET "\"}", 200);
	assert_int_equal(tj_int(j, "version"), 1);
	assert_true(tj_is_null(j, "reason"));
	json_decref(j);
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"" TARGET "\"}", 409, "nothing to roll back to");
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " production_history WHERE target = '" TARGET "'"), 7);
	assert_int_equal(seed_sql(x->f->db, "SELECT version FROM model_versions"
	    " WHERE target = '" TARGET "' AND status = 'production'"), 1);
}

static void
manual__refuses_bad_input(void **state)
{
	struct fixture *x = *state;
	const char *body = "{\"target\": \"" TARGET "\"}";

	refused(x, x->f->approver, "POST", "/api/v1/models/ghost/versions/1/"
	    "promote", body, 404, "model 'ghost' not found");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/9/"
	    "promote", body, 404, "model 'demo' has no version 9");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/x/"
	    "promote", body, 404, "version 'x' not found");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", "{\"target\": \"nowhere\"}", 404,
	    "target 'nowhere' not found");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"nowhere\"}", 404, "target 'nowhere' not found");
	/* a version of another model */
	refused(x, x->f->approver, "POST", "/api/v1/models/other/versions/1/"
	    "promote", body, 409,
	    "target 'demo-api' serves model 'demo', not 'other'");
	refused(x, x->f->approver, "POST", "/api/v1/models/other/rollback",
	    body, 409, "serves model 'demo', not 'other'");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", "{}", 400, "missing field \"target\"");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", "{\"target\": \"\"}", 400, "must not be empty");
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", "{\"target\": \"" TARGET "\", \"why\": 1}", 400,
	    "unknown field \"why\"");
	refused(x, x->f->viewer, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", body, 403, "");
	/* nothing changed */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " production_history"), 4);
}

static void
manual__refused_while_a_rollout_holds_the_target(void **state)
{
	struct fixture *x = *state;
	int64_t ro = rollout_start(x, x->runs[4]);
	int64_t stage = seed_sql(x->f->db, "SELECT stage_id FROM rollouts"
	    " WHERE id = %lld", (long long)ro);
	char want[128];
	struct err err;
	json_t *j;

	(void)snprintf(want, sizeof(want), "target demo-api is being rolled "
	    "out by run %lld", (long long)x->runs[4]);
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/versions/1/"
	    "promote", "{\"target\": \"" TARGET "\"}", 409, want);
	refused(x, x->f->approver, "POST", "/api/v1/models/demo/rollback",
	    "{\"target\": \"" TARGET "\"}", 409, want);
	/* the rollout is rolled back: its candidate is rejected, and says why */
	if (store_rollout_end(x->f->db, ro, x->runs[4], stage,
	    ROLLOUT_PROGRESSING, ROLLOUT_ROLLED_BACK, STAGE_SUBMITTED,
	    STAGE_FAILED, "step 1: error_rate 0.2 > 0.05", "engine", NULL,
	    &err) < 0)
		die_err("rollout end", &err);
	j = json_call(x, x->f->viewer, "GET",
	    "/api/v1/models/demo/versions?status=rejected&limit=1", NULL, 200);
	assert_int_equal(tj_int(j, "versions[0].version"), 5);
	assert_string_equal(tj_str(j, "versions[0].rejected_reason"),
	    "step 1: error_rate 0.2 > 0.05");
	json_decref(j);
	/* the target is free again */
	j = json_call(x, x->f->approver, "POST", "/api/v1/models/demo/versions/"
	    "1/promote", "{\"target\": \"" TARGET "\"}", 200);
	assert_int_equal(tj_int(j, "version"), 1);
	json_decref(j);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(history__lists_every_change_newest_first),
		T(history__answers_what_served_at_five_instants),
		T(history__refuses_bad_input),
		T(verdict__rejected_versions_say_why),
		T(manual__promote_and_roll_back_step_by_step),
		T(manual__refuses_bad_input),
		T(manual__refused_while_a_rollout_holds_the_target),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
