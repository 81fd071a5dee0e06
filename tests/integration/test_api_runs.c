/*
 * test_api_runs.c - /api/v1/runs over real HTTP and PostgreSQL: a whole
 * run in one document (stages, attempts, metrics, artifacts, approvals,
 * model versions, rollouts), retries, lineage, the list with filters and
 * pages that stay stable while runs are added, the indexes the list reads,
 * and stage logs, whole and followed.
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
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "query/store_query_runs.h"
#include "store/db.h"
#include "store/store_log.h"
#include "store/store_run.h"

#define SHA_A	"abcdef0123456789abcdef0123456789abcdef01"

struct fixture {
	struct apifix	*f;
	char		 tmp[512];	/* state_dir and log files */
	int64_t		 repo, commit, pipeline, version;
	int64_t		 run;		/* the rich run */
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	char setting[600], *demo;
	const char *settings[2] = { setting, NULL };

	if (x == NULL || test_tmpdir(x->tmp, sizeof(x->tmp)) < 0)
		return -1;
	(void)snprintf(setting, sizeof(setting), "state_dir=%s", x->tmp);
	if ((x->f = apifix_start(settings, NULL)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	x->repo = seed_repo(x->f->db, "demo", "{main}");
	x->commit = seed_commit(x->f->db, x->repo, SHA_A, "more epochs",
	    "Ada");
	x->version = seed_version(x->f->db, x->repo, x->commit,
	    "pipelines/demo.yaml", demo, NULL, &x->pipeline);
	seed_head(x->f->db, x->repo, "main", SHA_A);
	free(demo);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;
	size_t stale = seed_stale_summaries(x->f->db);

	apifix_stop(x->f);
	test_rmtree(x->tmp);
	free(x);
	/* whatever the test wrote, each run's list document is kept true */
	return stale == 0 ? 0 : -1;
}

/*
 * The demo run half-way through its canary: prepare done; train failed
 * once then succeeded (metrics reported by both attempts, a model
 * artifact, a model version); evaluate done; rollout waiting for the
 * approval of step 2.
 */
static int64_t
seed_rich_run(struct fixture *x)
{
	int64_t r = seed_run(x->f->db, x->version, "push", "main", NULL);

	seed_sql(x->f->db,
	    "UPDATE runs SET status = 'running', started_at = now() -"
	    "  interval '1 hour' WHERE id = %lld;"
	    "CREATE TEMP TABLE st AS SELECT name, id FROM stages"
	    "  WHERE run_id = %lld;"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at, exit_code,"
	    "  log_path) SELECT id, 1, 'local', 'sluice-%lld-prepare-1',"
	    "  'succeeded', now(), now(), now(), 0, '%s/prepare.log'"
	    "  FROM st WHERE name = 'prepare';"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at, exit_code,"
	    "  message) SELECT id, 1, 'local', 'sluice-%lld-train-1', 'failed',"
	    "  now(), now(), now(), 1, 'exit status 1' FROM st"
	    "  WHERE name = 'train';"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at, exit_code,"
	    "  log_path) SELECT id, 2, 'local', 'sluice-%lld-train-2',"
	    "  'succeeded', now(), now(), now(), 0, '%s/train-2.log'"
	    "  FROM st WHERE name = 'train';"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at, exit_code)"
	    "  SELECT id, 1, 'local', 'sluice-%lld-evaluate-1', 'succeeded',"
	    "  now(), now(), now(), 0 FROM st WHERE name = 'evaluate';"
	    "INSERT INTO stage_attempts (stage_id, kind, step, attempt, weight,"
	    "  executor, job_name, status, submitted_at, started_at,"
	    "  finished_at, exit_code) SELECT id, 'canary_step', s, 1, w,"
	    "  'local', 'sluice-%lld-rollout-1-s' || s, 'succeeded', now(),"
	    "  now(), now(), 0 FROM st, (VALUES (1, 10), (2, 50)) v(s, w)"
	    "  WHERE name = 'rollout';"
	    "UPDATE stages SET status = 'succeeded', started_at = now(),"
	    "  finished_at = now() WHERE run_id = %lld"
	    "  AND name IN ('prepare', 'train', 'evaluate');"
	    "INSERT INTO artifacts (attempt_id, name, uri, source_line)"
	    "  SELECT id, 'dataset', 'file:///data/ds.csv', 3"
	    "  FROM stage_attempts WHERE job_name = 'sluice-%lld-prepare-1';"
	    "INSERT INTO artifacts (attempt_id, name, uri, source_line)"
	    "  SELECT id, 'model', 's3://models/demo/1', 9"
	    "  FROM stage_attempts WHERE job_name = 'sluice-%lld-train-2';"
	    "INSERT INTO metrics (attempt_id, name, value, source_line,"
	    "  reported_at) SELECT a.id, m.n, m.v, m.l, now() - m.ago"
	    "  FROM stage_attempts a, (VALUES"
	    "    ('sluice-%lld-train-1', 'loss', 0.9, 2, interval '30 min'),"
	    "    ('sluice-%lld-train-2', 'loss', 0.4, 2, interval '20 min'),"
	    "    ('sluice-%lld-train-2', 'loss', 0.2, 5, interval '10 min'),"
	    "    ('sluice-%lld-train-2', 'acc', 0.91, 5, interval '10 min'),"
	    "    ('sluice-%lld-evaluate-1', 'auc', 0.934, 1, interval '5 min'),"
	    "    ('sluice-%lld-rollout-1-s1', 'error_rate', 0.01, 1,"
	    "      interval '1 min')) m(j, n, v, l, ago)"
	    "  WHERE a.job_name = m.j;"
	    "INSERT INTO model_versions (name, version, uri, artifact_id, run_id,"
	    "  stage_id, attempt_id, status, target, metrics)"
	    "  SELECT 'demo', 1, ar.uri, ar.id, %lld, a.stage_id, a.id,"
	    "  'candidate', 'demo-api', '{\"auc\": 0.934}'"
	    "  FROM artifacts ar JOIN stage_attempts a ON a.id = ar.attempt_id"
	    "  WHERE a.job_name = 'sluice-%lld-train-2';"
	    "INSERT INTO rollouts (run_id, stage_id, target, model_version_id,"
	    "  status, steps, current_step, current_weight,"
	    "  analysis_started_at) SELECT %lld, id, 'demo-api',"
	    "  (SELECT id FROM model_versions WHERE run_id = %lld),"
	    "  'waiting_approval', 3, 2, 50, now() FROM st"
	    "  WHERE name = 'rollout';"
	    "UPDATE stages SET status = 'waiting_approval', started_at = now(),"
	    "  waiting_reason = 'waiting for approval of step 2 (weight 50)'"
	    "  WHERE run_id = %lld AND name = 'rollout';"
	    "UPDATE runs SET status = 'waiting_approval' WHERE id = %lld;"
	    "INSERT INTO approvals (rollout_id, run_id, stage_id, step, weight,"
	    "  target, expires_at) SELECT ro.id, %lld, ro.stage_id, 2, 50,"
	    "  'demo-api', now() + interval '1 day' FROM rollouts ro"
	    "  WHERE ro.run_id = %lld;"
	    "DROP TABLE st",
	    (long long)r, (long long)r, (long long)r, x->tmp, (long long)r,
	    (long long)r, x->tmp, (long long)r, (long long)r, (long long)r,
	    (long long)r, (long long)r, (long long)r, (long long)r,
	    (long long)r, (long long)r, (long long)r, (long long)r,
	    (long long)r, (long long)r, (long long)r, (long long)r,
	    (long long)r, (long long)r, (long long)r, (long long)r);
	return r;
}

/* A retry of run parent that reuses its stage prepare. */
static int64_t
seed_retry(struct fixture *x, int64_t parent)
{
	struct run_new rn;
	struct err err;
	int64_t id = 0;
	int created = 0;

	memset(&rn, 0, sizeof(rn));
	rn.version_id = x->version;
	rn.branch = "main";
	rn.trigger = "retry";
	rn.parent_run_id = parent;
	rn.created_by = "oli-operator";
	assert_int_equal(store_run_create(x->f->db, &rn, &id, &created, &err),
	    0);
	seed_sql(x->f->db, "UPDATE stages s SET status = 'succeeded',"
	    " finished_at = now(), reused_from_stage_id = p.id FROM stages p"
	    " WHERE s.run_id = %lld AND s.name = 'prepare' AND p.run_id = %lld"
	    " AND p.name = 'prepare'", (long long)id, (long long)parent);
	return id;
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
runs__detail_is_the_whole_run_in_one_document(void **state)
{
	struct fixture *x = *state;
	char path[64];
	json_t *j;

	x->run = seed_rich_run(x);
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)x->run);
	j = get_json(x, path, 200);
	assert_int_equal(tj_int(j, "id"), x->run);
	assert_string_equal(tj_str(j, "pipeline"), "demo");
	assert_string_equal(tj_str(j, "repository"), "demo");
	assert_string_equal(tj_str(j, "status"), "waiting_approval");
	assert_string_equal(tj_str(j, "trigger"), "push");
	assert_string_equal(tj_str(j, "branch"), "main");
	assert_int_equal(tj_int(j, "pipeline_version"), x->version);
	assert_string_equal(tj_str(j, "commit.sha"), SHA_A);
	assert_string_equal(tj_str(j, "commit.message"), "more epochs");
	assert_string_equal(tj_str(j, "commit.author"), "Ada");
	assert_string_equal(tj_str(j, "params.epochs"), "100");
	assert_true(tj_is_null(j, "parent_run"));
	assert_true(tj_is_null(j, "finished_at"));
	assert_non_null(tj_str(j, "started_at"));
	/* RFC 3339 in UTC with milliseconds */
	assert_int_equal(strlen(tj_str(j, "created_at")), 24);
	assert_int_equal(tj_str(j, "created_at")[23], 'Z');
	/* stages in pipeline order */
	assert_int_equal(tj_len(j, "stages"), 4);
	assert_string_equal(tj_str(j, "stages[0].name"), "prepare");
	assert_string_equal(tj_str(j, "stages[0].artifacts.dataset"),
	    "file:///data/ds.csv");
	assert_string_equal(tj_str(j, "stages[1].name"), "train");
	assert_string_equal(tj_str(j, "stages[1].needs[0]"), "prepare");
	assert_string_equal(tj_str(j, "stages[1].type"), "job");
	assert_int_equal(tj_len(j, "stages[1].attempts"), 2);
	assert_int_equal(tj_int(j, "stages[1].attempts[0].attempt"), 1);
	assert_string_equal(tj_str(j, "stages[1].attempts[0].status"),
	    "failed");
	assert_int_equal(tj_int(j, "stages[1].attempts[0].exit_code"), 1);
	assert_string_equal(tj_str(j, "stages[1].attempts[0].message"),
	    "exit status 1");
	assert_string_equal(tj_str(j, "stages[1].attempts[1].job"),
	    tj_str(j, "stages[1].attempts[1].job"));
	assert_string_equal(tj_str(j, "stages[1].attempts[1].kind"), "job");
	assert_string_equal(tj_str(j, "stages[1].attempts[1].status"),
	    "succeeded");
	/* the latest value of each metric, across attempts */
	assert_int_equal(tj_len(j, "stages[1].metrics"), 2);
	assert_true(tj_num(j, "stages[1].metrics.loss") == 0.2);
	assert_true(tj_num(j, "stages[1].metrics.acc") == 0.91);
	assert_string_equal(tj_str(j, "stages[1].artifacts.model"),
	    "s3://models/demo/1");
	assert_true(tj_num(j, "stages[2].metrics.auc") == 0.934);
	assert_int_equal(tj_len(j, "stages[0].metrics"), 0);
	/* the canary stage: steps as attempts, waiting for a person */
	assert_string_equal(tj_str(j, "stages[3].type"), "canary");
	assert_string_equal(tj_str(j, "stages[3].status"), "waiting_approval");
	assert_string_equal(tj_str(j, "stages[3].waiting_reason"),
	    "waiting for approval of step 2 (weight 50)");
	assert_string_equal(tj_str(j, "stages[3].attempts[1].kind"),
	    "canary_step");
	assert_int_equal(tj_int(j, "stages[3].attempts[1].step"), 2);
	assert_int_equal(tj_int(j, "stages[3].attempts[1].weight"), 50);
	assert_true(tj_num(j, "stages[3].metrics.error_rate") == 0.01);
	/* approvals, model versions, rollouts */
	assert_int_equal(tj_len(j, "approvals"), 1);
	assert_int_equal(tj_int(j, "approvals[0].run"), x->run);
	assert_string_equal(tj_str(j, "approvals[0].stage"), "rollout");
	assert_int_equal(tj_int(j, "approvals[0].step"), 2);
	assert_int_equal(tj_int(j, "approvals[0].weight"), 50);
	assert_string_equal(tj_str(j, "approvals[0].target"), "demo-api");
	assert_string_equal(tj_str(j, "approvals[0].status"), "pending");
	assert_true(tj_is_null(j, "approvals[0].decided_by"));
	assert_non_null(tj_str(j, "approvals[0].requested_at"));
	assert_int_equal(tj_len(j, "model_versions"), 1);
	assert_string_equal(tj_str(j, "model_versions[0].name"), "demo");
	assert_int_equal(tj_int(j, "model_versions[0].version"), 1);
	assert_string_equal(tj_str(j, "model_versions[0].status"), "candidate");
	assert_string_equal(tj_str(j, "model_versions[0].stage"), "train");
	assert_true(tj_num(j, "model_versions[0].metrics.auc") == 0.934);
	assert_int_equal(tj_len(j, "rollouts"), 1);
	assert_string_equal(tj_str(j, "rollouts[0].status"), "waiting_approval");
	assert_int_equal(tj_int(j, "rollouts[0].current_weight"), 50);
	assert_int_equal(tj_int(j, "rollouts[0].model.version"), 1);
	assert_true(tj_is_null(j, "rollouts[0].previous_model"));
	assert_int_equal(tj_len(j, "retries"), 0);
	json_decref(j);
}

static void
runs__a_retry_shows_its_parent_and_the_stages_it_reused(void **state)
{
	struct fixture *x = *state;
	int64_t retry;
	char path[64];
	json_t *j;

	x->run = seed_rich_run(x);
	retry = seed_retry(x, x->run);
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)retry);
	j = get_json(x, path, 200);
	assert_string_equal(tj_str(j, "trigger"), "retry");
	assert_int_equal(tj_int(j, "parent_run"), x->run);
	assert_string_equal(tj_str(j, "created_by"), "oli-operator");
	assert_int_equal(tj_int(j, "stages[0].reused_from_run"), x->run);
	assert_string_equal(tj_str(j, "stages[0].status"), "succeeded");
	/* what the reused stage did, in the parent */
	assert_int_equal(tj_len(j, "stages[0].attempts"), 1);
	assert_string_equal(tj_str(j, "stages[0].artifacts.dataset"),
	    "file:///data/ds.csv");
	assert_true(tj_is_null(j, "stages[1].reused_from_run"));
	assert_int_equal(tj_len(j, "stages[1].attempts"), 0);
	json_decref(j);
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)x->run);
	j = get_json(x, path, 200);
	assert_int_equal(tj_len(j, "retries"), 1);
	assert_int_equal(tj_int(j, "retries[0]"), retry);
	json_decref(j);
}

/* Whether the graph has an edge from → to (of kind, if not NULL). */
static int
has_edge(json_t *j, const char *from, const char *to, const char *kind)
{
	size_t n = tj_len(j, "edges");
	char p[64];

	for (size_t i = 0; i < n; i++) {
		(void)snprintf(p, sizeof(p), "edges[%zu]", i);
		json_t *e = tj_get(j, p);

		if (strcmp(json_string_value(json_object_get(e, "from")),
		    from) == 0 && strcmp(json_string_value(json_object_get(e,
		    "to")), to) == 0 && (kind == NULL ||
		    strcmp(json_string_value(json_object_get(e, "kind")),
		    kind) == 0))
			return 1;
	}
	return 0;
}

static int
has_node(json_t *j, const char *id, const char *type)
{
	size_t n = tj_len(j, "nodes");
	char p[64];

	for (size_t i = 0; i < n; i++) {
		(void)snprintf(p, sizeof(p), "nodes[%zu]", i);
		json_t *nd = tj_get(j, p);

		if (strcmp(json_string_value(json_object_get(nd, "id")),
		    id) == 0 && strcmp(json_string_value(json_object_get(nd,
		    "type")), type) == 0 && json_object_get(nd, "label"))
			return 1;
	}
	return 0;
}

static void
runs__lineage_goes_from_the_commit_to_the_rollout(void **state)
{
	struct fixture *x = *state;
	char path[64], run[32], ver[64], st_train[32], st_prep[32],
	    st_roll[32], art[32], mv[32], ro[32], retry_node[32];
	int64_t retry;
	json_t *j;

	x->run = seed_rich_run(x);
	retry = seed_retry(x, x->run);
	(void)snprintf(run, sizeof(run), "run:%lld", (long long)x->run);
	(void)snprintf(retry_node, sizeof(retry_node), "run:%lld",
	    (long long)retry);
	(void)snprintf(ver, sizeof(ver), "pipeline_version:%lld",
	    (long long)x->version);
	(void)snprintf(st_prep, sizeof(st_prep), "stage:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM stages WHERE run_id = %lld AND"
	    " name = 'prepare'", (long long)x->run));
	(void)snprintf(st_train, sizeof(st_train), "stage:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM stages WHERE run_id = %lld AND"
	    " name = 'train'", (long long)x->run));
	(void)snprintf(st_roll, sizeof(st_roll), "stage:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM stages WHERE run_id = %lld AND"
	    " name = 'rollout'", (long long)x->run));
	(void)snprintf(art, sizeof(art), "artifact:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM artifacts WHERE name ="
	    " 'model'"));
	(void)snprintf(mv, sizeof(mv), "model_version:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM model_versions"));
	(void)snprintf(ro, sizeof(ro), "rollout:%lld", (long long)
	    seed_sql(x->f->db, "SELECT id FROM rollouts"));
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/lineage",
	    (long long)x->run);
	j = get_json(x, path, 200);
	assert_int_equal(tj_int(j, "run"), x->run);
	assert_true(has_node(j, "commit:" SHA_A, "commit"));
	assert_true(has_node(j, ver, "pipeline_version"));
	assert_true(has_node(j, run, "run"));
	assert_true(has_node(j, retry_node, "run"));
	assert_true(has_node(j, st_train, "stage"));
	assert_true(has_node(j, art, "artifact"));
	assert_true(has_node(j, mv, "model_version"));
	assert_true(has_node(j, ro, "rollout"));
	/* 1 commit, 1 version, 2 runs, 4 stages, 2 artifacts, 1 model, 1 rollout */
	assert_int_equal(tj_len(j, "nodes"), 12);
	assert_true(has_edge(j, "commit:" SHA_A, ver, "defines"));
	assert_true(has_edge(j, ver, run, "runs"));
	assert_true(has_edge(j, run, retry_node, "retry"));
	assert_true(has_edge(j, run, st_train, "stage"));
	assert_true(has_edge(j, st_prep, st_train, "needs"));
	assert_true(has_edge(j, st_train, art, "produced"));
	assert_true(has_edge(j, art, mv, "registered"));
	assert_true(has_edge(j, st_roll, ro, "rollout"));
	assert_true(has_edge(j, mv, ro, "candidate"));
	json_decref(j);
	/* from the retry: its parent, and the reused stage's artifact */
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/lineage",
	    (long long)retry);
	j = get_json(x, path, 200);
	assert_true(has_edge(j, run, retry_node, "retry"));
	assert_true(has_node(j, "artifact:1", "artifact"));
	json_decref(j);
}

static void
runs__list_is_newest_first_and_filtered(void **state)
{
	struct fixture *x = *state;
	char path[256];
	int64_t ids[5];
	json_t *j;

	for (int i = 0; i < 5; i++)
		ids[i] = seed_run(x->f->db, x->version, "push", "main", NULL);
	seed_sql(x->f->db, "UPDATE runs SET status = 'failed', finished_at ="
	    " now() WHERE id IN (%lld, %lld)", (long long)ids[1],
	    (long long)ids[3]);
	j = get_json(x, "/api/v1/runs", 200);
	assert_int_equal(tj_len(j, "runs"), 5);
	assert_int_equal(tj_int(j, "runs[0].id"), ids[4]);
	assert_int_equal(tj_int(j, "runs[4].id"), ids[0]);
	assert_true(tj_is_null(j, "next_cursor"));
	assert_string_equal(tj_str(j, "runs[0].pipeline"), "demo");
	assert_string_equal(tj_str(j, "runs[0].commit.sha"), SHA_A);
	assert_int_equal(tj_len(j, "runs[0].stages"), 4);
	assert_string_equal(tj_str(j, "runs[0].stages[0].name"), "prepare");
	assert_string_equal(tj_str(j, "runs[0].stages[0].status"), "pending");
	json_decref(j);
	/* the marks follow every stage change, in its transaction */
	seed_sql(x->f->db, "UPDATE stages SET status = 'running', started_at ="
	    " now() WHERE run_id = %lld AND position = 1", (long long)ids[4]);
	j = get_json(x, "/api/v1/runs?limit=1", 200);
	assert_string_equal(tj_str(j, "runs[0].stages[0].status"), "pending");
	assert_string_equal(tj_str(j, "runs[0].stages[1].status"), "running");
	assert_int_equal(tj_len(j, "runs[0].stages"), 4);
	json_decref(j);
	j = get_json(x, "/api/v1/runs?status=failed", 200);
	assert_int_equal(tj_len(j, "runs"), 2);
	assert_int_equal(tj_int(j, "runs[0].id"), ids[3]);
	assert_int_equal(tj_int(j, "runs[1].id"), ids[1]);
	json_decref(j);
	j = get_json(x, "/api/v1/runs?pipeline=demo&status=queued&limit=2",
	    200);
	assert_int_equal(tj_len(j, "runs"), 2);
	assert_int_equal(tj_int(j, "runs[0].id"), ids[4]);
	assert_int_equal(tj_int(j, "runs[1].id"), ids[2]);
	(void)snprintf(path, sizeof(path), "/api/v1/runs?pipeline=demo&"
	    "status=queued&limit=2&cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, path, 200);
	assert_int_equal(tj_len(j, "runs"), 1);
	assert_int_equal(tj_int(j, "runs[0].id"), ids[0]);
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, "/api/v1/runs?pipeline=nope", 200);
	assert_int_equal(tj_len(j, "runs"), 0);
	json_decref(j);

	static const struct { const char *q, *want; } bad[] = {
		{ "status=done", "expected one of queued, running, "
		  "waiting_approval, succeeded, failed, canceled" },
		{ "limit=0", "from 1 to 200" },
		{ "limit=x", "from 1 to 200" },
		{ "limit=500", "from 1 to 200" },
		{ "cursor=abc", "not a cursor of this list" },
		{ "order=asc", "unknown query parameter \\\"order\\\"" },
		{ "status=failed&status=queued", "more than once" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct testreply rp;

		(void)snprintf(path, sizeof(path), "/api/v1/runs?%s", bad[i].q);
		testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
		if (rp.status != 400 || strstr(rp.body, bad[i].want) == NULL)
			fail_msg("%s: %ld %s", bad[i].q, rp.status, rp.body);
		testreply_free(&rp);
	}
	/* a cursor of another list */
	(void)seed_repo(x->f->db, "zeta", "{main}");
	j = get_json(x, "/api/v1/repositories?limit=1", 200);
	(void)snprintf(path, sizeof(path), "/api/v1/runs?cursor=%s",
	    tj_str(j, "next_cursor"));
	json_decref(j);
	j = get_json(x, path, 400);
	assert_non_null(strstr(tj_str(j, "error.message"),
	    "not a cursor of this list"));
	json_decref(j);
}

static void
runs__pages_stay_stable_while_runs_are_added(void **state)
{
	struct fixture *x = *state;
	int64_t first[30], seen[64];
	size_t nseen = 0;
	char path[256], cursor[300] = "";
	json_t *j;

	for (int i = 0; i < 30; i++)
		first[i] = seed_run(x->f->db, x->version, "push", "main", NULL);
	for (int page = 0; page < 10; page++) {
		if (page == 0)
			(void)snprintf(path, sizeof(path),
			    "/api/v1/runs?limit=7");
		else
			(void)snprintf(path, sizeof(path),
			    "/api/v1/runs?limit=7&cursor=%s", cursor);
		j = get_json(x, path, 200);
		for (size_t i = 0; i < tj_len(j, "runs"); i++) {
			char p[32];

			(void)snprintf(p, sizeof(p), "runs[%zu].id", i);
			assert_true(nseen < 64);
			seen[nseen++] = tj_int(j, p);
		}
		/* newer runs arrive between pages */
		for (int k = 0; k < 3; k++)
			(void)seed_run(x->f->db, x->version, "push", "main",
			    NULL);
		if (tj_is_null(j, "next_cursor")) {
			json_decref(j);
			break;
		}
		(void)snprintf(cursor, sizeof(cursor), "%s",
		    tj_str(j, "next_cursor"));
		json_decref(j);
	}
	/* exactly the first 30, newest first: no duplicate, no gap */
	assert_int_equal(nseen, 30);
	for (size_t i = 0; i < 30; i++)
		assert_int_equal(seen[i], first[29 - i]);
}

/* EXPLAIN the list statement of f and check the index it reads. */
static void
expect_plan(struct fixture *x, const struct runs_filter *f,
    const char *index, int may_sort)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	char sql[16384];
	int found = 0;

	(void)snprintf(sql, sizeof(sql), "EXPLAIN %s", store_query_runs_sql(f));
	db_args_init(&a);
	db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, 50);
	if (f->pipeline != NULL)
		db_args_str(&a, f->pipeline);
	if (f->status != NULL)
		db_args_str(&a, f->status);
	assert_int_equal(db_exec(x->f->db, sql, &a, &res, &err), 0);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const char *line = db_res_text(res, i, 0);

		if (!may_sort && strstr(line, "Sort") != NULL)
			fail_msg("%s sorts: %s", index, line);
		if (strstr(line, "Seq Scan on runs") != NULL)
			fail_msg("scans all runs: %s", line);
		/* the stage marks are kept with the run (stage_marks) */
		if (strstr(line, " on stages") != NULL)
			fail_msg("reads stages per run: %s", line);
		/* and so is the rest of its document (summary) */
		if (strstr(line, " on commits") != NULL ||
		    strstr(line, " on repositories") != NULL ||
		    (f->pipeline == NULL && strstr(line, " on pipelines") !=
		    NULL) || strstr(line, "SubPlan") != NULL)
			fail_msg("reads more than runs per run: %s", line);
		if (strstr(line, index) != NULL)
			found = 1;
	}
	if (!found) {
		for (size_t i = 0; i < db_res_rows(res); i++)
			fprintf(stderr, "  %s\n", db_res_text(res, i, 0));
		db_res_free(res);
		fail_msg("the list does not read %s", index);
	}
	db_res_free(res);
}

/*
 * 40000 runs of 20 pipelines (demo has 1 in 20): 97% succeeded, 2%
 * failed, 1% queued.
 */
static void
seed_many_runs(struct fixture *x)
{
	seed_sql(x->f->db,
	    "INSERT INTO pipelines (repository_id, name, file_path)"
	    " SELECT %lld, 'p' || g, 'p' || g || '.yaml'"
	    " FROM generate_series(1, 19) g;"
	    "INSERT INTO pipeline_versions (commit_id, file_path, pipeline_id,"
	    "  valid, definition) SELECT %lld, file_path, id, true, '{}'"
	    " FROM pipelines WHERE name <> 'demo';"
	    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id,"
	    "  trigger, created_by, status, started_at, finished_at)"
	    " SELECT v.pipeline_id, v.id, %lld, 'push', 'bench', s.status,"
	    "  CASE WHEN s.status = 'queued' THEN NULL ELSE now() END,"
	    "  CASE WHEN s.status = 'queued' THEN NULL ELSE now() END"
	    " FROM generate_series(1, 40000) g"
	    " JOIN pipeline_versions v ON v.id = (SELECT min(id) FROM"
	    "   pipeline_versions) + g %% 20"
	    " CROSS JOIN LATERAL (SELECT CASE WHEN g %% 100 = 7 THEN 'queued'"
	    "   WHEN g %% 50 = 3 THEN 'failed' ELSE 'succeeded' END"
	    "   AS status) s;"
	    "ANALYZE",
	    (long long)x->repo, (long long)x->commit, (long long)x->commit);
	assert_true(seed_sql(x->f->db, "SELECT count(*) FROM runs WHERE"
	    " pipeline_id = %lld", (long long)x->pipeline) == 2000);
}

static void
runs__list_statements_read_their_index(void **state)
{
	struct fixture *x = *state;
	struct runs_filter f;

	seed_many_runs(x);
	memset(&f, 0, sizeof(f));
	expect_plan(x, &f, "runs_pkey", 0);
	f.status = "queued";
	expect_plan(x, &f, "runs_status_newest", 0);
	f.status = "failed";
	expect_plan(x, &f, "runs_status_newest", 0);
	/* even when most runs match */
	f.status = "succeeded";
	expect_plan(x, &f, "runs_status_newest", 0);
	f.status = NULL;
	f.pipeline = "demo";
	/* one index scan per pipeline of that name, then a top-N merge */
	expect_plan(x, &f, "runs_pipeline_newest", 1);
	/* both: one of the two indexes, whichever is narrower */
	f.status = "failed";
	expect_plan(x, &f, "_newest", 1);
}

/*
 * A run's document reads its run by the primary key and its stages and
 * attempts by the indexes keyed by run and stage, however many there are.
 */
static void
runs__the_detail_statement_reads_by_index(void **state)
{
	struct fixture *x = *state;
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	char sql[16384];

	seed_many_runs(x);
	seed_sql(x->f->db,
	    "INSERT INTO stages (run_id, name, position, status, needs)"
	    " SELECT r.id, s.name, s.pos, 'pending', '{}' FROM runs r,"
	    " (VALUES ('a', 0), ('b', 1), ('c', 2), ('d', 3)) s(name, pos)"
	    " WHERE r.id %% 20 = 0 AND NOT EXISTS (SELECT 1 FROM stages x"
	    "   WHERE x.run_id = r.id);"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status) SELECT s.id, 1, 'local', 'j-' || s.id, 'pending'"
	    " FROM stages s WHERE NOT EXISTS (SELECT 1 FROM stage_attempts a"
	    "   WHERE a.stage_id = s.id);"
	    "ANALYZE");
	(void)snprintf(sql, sizeof(sql), "EXPLAIN %s", store_query_run_sql);
	db_args_init(&a);
	db_args_int64(&a, seed_sql(x->f->db, "SELECT max(run_id) FROM stages"));
	assert_int_equal(db_exec(x->f->db, sql, &a, &res, &err), 0);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const char *line = db_res_text(res, i, 0);

		if (strstr(line, "Seq Scan on runs") != NULL ||
		    strstr(line, "Seq Scan on stages") != NULL ||
		    strstr(line, "Seq Scan on stage_attempts") != NULL)
			fail_msg("the detail scans a whole table: %s", line);
	}
	db_res_free(res);
}

static void
runs__unknown_runs_are_404(void **state)
{
	struct fixture *x = *state;
	static const char *const paths[] = {
		"/api/v1/runs/999999", "/api/v1/runs/abc", "/api/v1/runs/0",
		"/api/v1/runs/-1", "/api/v1/runs/99999999999999999999",
		"/api/v1/runs/999999/lineage",
		"/api/v1/runs/999999/stages/train/logs",
	};
	struct testreply rp;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		testapi_as(x->f->a, &rp, x->f->viewer, "GET", paths[i], NULL);
		if (rp.status != 404 || strstr(rp.body,
		    "\"code\":\"not_found\"") == NULL)
			fail_msg("%s: %ld %s", paths[i], rp.status, rp.body);
		testreply_free(&rp);
	}
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", "/api/v1/runs/1?x=1",
	    NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, NULL, "GET", "/api/v1/runs", NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
}

static void
logs__show_the_latest_attempt_or_the_one_asked(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	char path[128], v[64], dir[700];

	x->run = seed_rich_run(x);
	assert_int_equal(test_write_file(x->tmp, "train-2.log",
	    "epoch 1\n::metric loss=0.4\nepoch 2\n::metric loss=0.2\n"), 0);
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/train/"
	    "logs", (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body,
	    "epoch 1\n::metric loss=0.4\nepoch 2\n::metric loss=0.2\n");
	assert_int_equal(testreply_header(&rp, "Content-Type", v, sizeof(v)),
	    0);
	assert_string_equal(v, "text/plain; charset=utf-8");
	assert_int_equal(testreply_header(&rp, "X-Sluice-Attempt", v,
	    sizeof(v)), 0);
	assert_string_equal(v, "2");
	testreply_free(&rp);
	/* attempt 1 has no log recorded: empty */
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/train/"
	    "logs?attempt=1", (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	assert_int_equal(rp.len, 0);
	assert_int_equal(testreply_header(&rp, "X-Sluice-Attempt", v,
	    sizeof(v)), 0);
	assert_string_equal(v, "1");
	testreply_free(&rp);
	/* the local executor's own file when none is recorded */
	(void)snprintf(dir, sizeof(dir), "%s/attempts/sluice-%lld-evaluate-1",
	    x->tmp, (long long)x->run);
	{
		char cmd[800];

		(void)snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(test_write_file(dir, "log", "::metric auc=0.934\n"),
	    0);
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/evaluate/"
	    "logs", (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body, "::metric auc=0.934\n");
	testreply_free(&rp);
	/* a canary step */
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/rollout/"
	    "logs?step=1", (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	assert_int_equal(testreply_header(&rp, "X-Sluice-Job", v, sizeof(v)),
	    0);
	assert_non_null(strstr(v, "-rollout-1-s1"));
	testreply_free(&rp);
	/* 404s and 400s */
	static const struct { const char *q; long status; const char *want; }
	    cases[] = {
		{ "nope/logs", 404, "has no stage 'nope'" },
		{ "train/logs?attempt=9", 404, "has no such attempt" },
		{ "train/logs?attempt=0", 400, "attempt" },
		{ "train/logs?follow=yes", 400, "follow" },
		{ "train/logs?tail=5", 400, "unknown query parameter" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/%s",
		    (long long)x->run, cases[i].q);
		testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
		if (rp.status != cases[i].status ||
		    strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s: %ld %s", cases[i].q, rp.status, rp.body);
		testreply_free(&rp);
	}
}

/* A follow request on its own thread. */
struct follower {
	struct fixture	*x;
	char		 path[128];
	struct testreply rp;
};

static void *
follow_thread(void *arg)
{
	struct follower *fl = arg;

	testapi_as(fl->x->f->a, &fl->rp, fl->x->f->viewer, "GET", fl->path,
	    NULL);
	return NULL;
}

/* Keep text as the whole log of node `node` of attempt id, as the
   engine does. */
static void
keep_node_log(struct fixture *x, int64_t id, int node, const char *text)
{
	struct log_head old, now;
	struct err err;

	memset(&old, 0, sizeof(old));
	memset(&now, 0, sizeof(now));
	now.offset = now.bytes = (int64_t)strlen(text);
	now.lines = 1;
	now.complete = 1;
	if (store_log_append(x->f->db, id, node, &old, &now, text,
	    strlen(text), NULL, 0, &err) < 0)
		fail_msg("%s", err.msg);
}

/* GET train's logs with query q: status, and body when want is not NULL. */
static void
train_log_is(struct fixture *x, const char *q, long status, const char *want)
{
	struct testreply rp;
	char path[160];

	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/stages/train/"
	    "logs%s", (long long)x->run, q);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, status);
	if (want != NULL)
		assert_string_equal(rp.body, want);
	testreply_free(&rp);
}

/*
 * A multi-node attempt: the run gives its node count, each node's kept
 * log is read with ?node=N, a node it does not have is a 404.
 */
static void
logs__every_node_of_a_multi_node_attempt(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	char path[128], sql[256];
	int64_t id;
	struct err err;
	json_t *run, *train, *atts;

	x->run = seed_rich_run(x);
	(void)snprintf(sql, sizeof(sql), "UPDATE stage_attempts SET spec ="
	    " '{\"nodes\": 2}' WHERE job_name = 'sluice-%lld-train-2'"
	    " RETURNING id", (long long)x->run);
	if (db_exec_int64(x->f->db, sql, NULL, &id, &err) < 0)
		fail_msg("%s", err.msg);
	keep_node_log(x, id, 0, "rank 0 of 2\n");
	keep_node_log(x, id, 1, "rank 1 of 2\n");
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	run = json_loads(rp.body, 0, NULL);
	assert_non_null(run);
	train = json_array_get(json_object_get(run, "stages"), 1);
	assert_string_equal(json_string_value(json_object_get(train,
	    "name")), "train");
	atts = json_object_get(train, "attempts");
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(atts, 0), "nodes")), 1);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(atts, 1), "nodes")), 2);
	json_decref(run);
	testreply_free(&rp);
	train_log_is(x, "?node=1", 200, "rank 1 of 2\n");
	train_log_is(x, "", 200, "rank 0 of 2\n");
	train_log_is(x, "?node=2", 404, NULL);
}

static void
logs__follow_streams_until_the_attempt_finishes(void **state)
{
	struct fixture *x = *state;
	struct follower fl;
	pthread_t t;
	int64_t run = seed_run(x->f->db, x->version, "push", "main", NULL);
	char line[64], want[4096] = "", logdir[700];
	FILE *f;

	memset(&fl, 0, sizeof(fl));
	fl.x = x;
	(void)snprintf(fl.path, sizeof(fl.path), "/api/v1/runs/%lld/stages/"
	    "prepare/logs?follow=1", (long long)run);
	/* the stage has no attempt yet: the follower waits for one */
	assert_int_equal(pthread_create(&t, NULL, follow_thread, &fl), 0);
	usleep(300 * 1000);
	(void)snprintf(logdir, sizeof(logdir), "%s/follow.log", x->tmp);
	seed_sql(x->f->db, "INSERT INTO stage_attempts (stage_id, attempt,"
	    " executor, job_name, status, submitted_at, started_at, log_path)"
	    " SELECT id, 1, 'local', 'sluice-%lld-prepare-1', 'running', now(),"
	    " now(), '%s' FROM stages WHERE run_id = %lld AND name = 'prepare'",
	    (long long)run, logdir, (long long)run);
	f = fopen(logdir, "w");
	assert_non_null(f);
	for (int i = 0; i < 20; i++) {
		(void)snprintf(line, sizeof(line), "line %d\n", i);
		fputs(line, f);
		fflush(f);
		(void)snprintf(want + strlen(want), sizeof(want) - strlen(want),
		    "%s", line);
		usleep(50 * 1000);
	}
	fclose(f);
	seed_sql(x->f->db, "UPDATE stage_attempts SET status = 'succeeded',"
	    " finished_at = now(), exit_code = 0 WHERE job_name ="
	    " 'sluice-%lld-prepare-1'", (long long)run);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(fl.rp.curl_code, CURLE_OK);
	assert_int_equal(fl.rp.status, 200);
	assert_string_equal(fl.rp.body, want);
	testreply_free(&fl.rp);

	/* a stage that ends with no attempt ends the follow too */
	(void)snprintf(fl.path, sizeof(fl.path), "/api/v1/runs/%lld/stages/"
	    "train/logs?follow=1", (long long)run);
	assert_int_equal(pthread_create(&t, NULL, follow_thread, &fl), 0);
	usleep(200 * 1000);
	seed_sql(x->f->db, "UPDATE stages SET status = 'skipped', finished_at"
	    " = now() WHERE run_id = %lld AND name = 'train'", (long long)run);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(fl.rp.status, 200);
	assert_int_equal(fl.rp.len, 0);
	testreply_free(&fl.rp);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(runs__detail_is_the_whole_run_in_one_document),
		T(runs__a_retry_shows_its_parent_and_the_stages_it_reused),
		T(runs__lineage_goes_from_the_commit_to_the_rollout),
		T(runs__list_is_newest_first_and_filtered),
		T(runs__pages_stay_stable_while_runs_are_added),
		T(runs__list_statements_read_their_index),
		T(runs__the_detail_statement_reads_by_index),
		T(runs__unknown_runs_are_404),
		T(logs__show_the_latest_attempt_or_the_one_asked),
		T(logs__follow_streams_until_the_attempt_finishes),
		T(logs__every_node_of_a_multi_node_attempt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
