/*
 * test_schema.c - the lineage schema of migrations/0001_lineage.sql holds a
 * whole push -> run -> model -> rollout -> approval chain, and refuses rows
 * that break its rules (status values, lifecycle invariants, one production
 * model per target, runs only of valid pipeline versions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testdb.h"
#include "store/db.h"

struct fixture {
	struct testdb	 t;
	struct db	*db;
};

/* One of everything, linked: ids are all 1 except where noted. */
static const char chain[] =
    "INSERT INTO repositories (name, url, source)"
    "  VALUES ('demo', 'file:///srv/demo.git', 'config');\n"
    "INSERT INTO commits (repository_id, sha, author_name, message,"
    "  committed_at) VALUES (1, repeat('a', 40), 'Ada', 'train more',"
    "  '2026-11-21T21:00:00Z');\n"
    "INSERT INTO branch_heads (repository_id, branch, sha)"
    "  VALUES (1, 'main', repeat('a', 40));\n"
    "INSERT INTO pipelines (repository_id, name, file_path)"
    "  VALUES (1, 'fraud-detector', 'pipelines/fraud.yaml');\n"
    "INSERT INTO pipeline_versions (commit_id, file_path, pipeline_id,"
    "  valid, definition) VALUES (1, 'pipelines/fraud.yaml', 1, true,"
    "  '{\"stages\": [\"train\", \"rollout\"]}');\n"
    /* id 2: a broken file next to it, stored with its errors */
    "INSERT INTO pipeline_versions (commit_id, file_path, valid, errors)"
    "  VALUES (1, 'pipelines/broken.yaml', false,"
    "  '[{\"line\": 3, \"col\": 5, \"message\": \"bad\"}]');\n"
    "UPDATE pipelines SET latest_version_id = 1;\n"
    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch,"
    "  trigger, params, created_by, idempotency_key)"
    "  VALUES (1, 1, 1, 'main', 'push', '{\"epochs\": \"10\"}', 'poller',"
    "  'push:1:aaaa');\n"
    "UPDATE runs SET status = 'running', started_at = now();\n"
    "INSERT INTO stages (run_id, name, position) VALUES (1, 'train', 0);\n"
    "INSERT INTO stages (run_id, name, type, position, needs)"
    "  VALUES (1, 'rollout', 'canary', 1, '{train}');\n"
    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
    "  gpus) VALUES (1, 1, 'kubernetes', 'sluice-1-train-1', 1);\n"
    "UPDATE stage_attempts SET status = 'succeeded', submitted_at = now(),"
    "  started_at = now(), finished_at = now(), exit_code = 0;\n"
    "UPDATE stages SET status = 'succeeded', finished_at = now()"
    "  WHERE id = 1;\n"
    "INSERT INTO metrics (attempt_id, name, value, source_line)"
    "  VALUES (1, 'auc', 0.934, 7), (1, 'loss', 0.21, 7);\n"
    "INSERT INTO artifacts (attempt_id, name, uri, source_line)"
    "  VALUES (1, 'model', 's3://models/fraud/1', 8);\n"
    "INSERT INTO model_versions (name, version, uri, artifact_id, run_id,"
    "  stage_id, attempt_id, metrics) VALUES ('fraud-detector', 1,"
    "  's3://models/fraud/1', 1, 1, 1, 1, '{\"auc\": 0.934}');\n"
    "INSERT INTO rollouts (run_id, stage_id, target, model_version_id,"
    "  steps) VALUES (1, 2, 'fraud-api', 1, 2);\n"
    "INSERT INTO stage_attempts (stage_id, kind, step, attempt, weight,"
    "  executor, job_name) VALUES (2, 'canary_step', 1, 1, 50,"
    "  'kubernetes', 'sluice-1-rollout-1-s1');\n"
    "UPDATE stages SET status = 'waiting_approval', started_at = now()"
    "  WHERE id = 2;\n"
    "UPDATE runs SET status = 'waiting_approval';\n"
    "INSERT INTO approvals (rollout_id, run_id, stage_id, step, weight,"
    "  target, expires_at) VALUES (1, 1, 2, 2, 100, 'fraud-api',"
    "  now() + interval '24 hours');\n"
    "UPDATE approvals SET status = 'approved', decided_by = 'alice',"
    "  decided_at = now(), comment = 'looks good';\n"
    "UPDATE model_versions SET status = 'production', target = 'fraud-api',"
    "  promoted_at = now();\n"
    "UPDATE rollouts SET status = 'succeeded', current_step = 2,"
    "  current_weight = 100, finished_at = now();\n"
    "INSERT INTO events (actor, entity_type, entity_id, run_id, from_state,"
    "  to_state) VALUES ('alice', 'approval', 1, 1, 'pending', 'approved');\n"
    "INSERT INTO api_tokens (name, role, token_hash)"
    "  VALUES ('ci', 'operator', sha256('t'));\n"
    "INSERT INTO sessions (id_hash, token_id, csrf_hash, expires_at)"
    "  VALUES (sha256('s'), 1, sha256('c'), now() + interval '12 hours');\n"
    "INSERT INTO webhook_deliveries (source, delivery_id, event,"
    "  pipeline_id, run_id, status_code, response) VALUES ('sluice', 'd-1',"
    "  'retrain', 1, 1, 201, '{\"id\": 1}');\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err;

	if (f == NULL || testdb_create(&f->t) < 0 ||
	    testdb_migrate(&f->t) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	if (db_exec_script(f->db, chain, &err) < 0) {
		fprintf(stderr, "chain: %s\n", err.msg);
		return -1;
	}
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

/* Run sql and expect code, with want (if not NULL) in the message. */
static void
expect(struct fixture *f, const char *sql, int code, const char *want)
{
	struct err err;
	int rc;

	err_clear(&err);
	rc = db_exec(f->db, sql, NULL, NULL, &err);
	if (rc != code || (want != NULL && strstr(err.msg, want) == NULL))
		fail_msg("%s\n  got %d (%s), want %d with '%s'", sql, rc,
		    err.msg, code, want != NULL ? want : "");
}

static void
schema__holds_a_full_lineage_chain(void **state)
{
	struct fixture *f = *state;
	struct db_res *res = NULL;
	struct err err;

	/* The lineage API's walk, commit to approval, in one query. */
	{
		struct db_args a;

		db_args_init(&a);
		db_args_int64(&a, 1);
		assert_int_equal(db_exec(f->db,
		    "SELECT c.sha, p.name, r.status, s.name, a.job_name,"
		    "  art.uri, mv.version, mv.status, ro.status,"
		    "  ap.decided_by, rfc3339(c.committed_at)"
		    " FROM runs r"
		    " JOIN commits c ON c.id = r.commit_id"
		    " JOIN pipeline_versions pv ON pv.id = r.pipeline_version_id"
		    " JOIN pipelines p ON p.id = pv.pipeline_id"
		    " JOIN stages s ON s.run_id = r.id AND s.name = 'train'"
		    " JOIN stage_attempts a ON a.stage_id = s.id"
		    " JOIN artifacts art ON art.attempt_id = a.id"
		    " JOIN model_versions mv ON mv.artifact_id = art.id"
		    " JOIN rollouts ro ON ro.model_version_id = mv.id"
		    " JOIN approvals ap ON ap.rollout_id = ro.id"
		    " WHERE r.id = $1", &a, &res, &err), 0);
	}
	assert_int_equal(db_res_rows(res), 1);
	assert_string_equal(db_res_text(res, 0, 0),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(db_res_text(res, 0, 1), "fraud-detector");
	assert_string_equal(db_res_text(res, 0, 2), "waiting_approval");
	assert_string_equal(db_res_text(res, 0, 3), "train");
	assert_string_equal(db_res_text(res, 0, 4), "sluice-1-train-1");
	assert_string_equal(db_res_text(res, 0, 5), "s3://models/fraud/1");
	assert_string_equal(db_res_text(res, 0, 6), "1");
	assert_string_equal(db_res_text(res, 0, 7), "production");
	assert_string_equal(db_res_text(res, 0, 8), "succeeded");
	assert_string_equal(db_res_text(res, 0, 9), "alice");
	assert_string_equal(db_res_text(res, 0, 10),
	    "2026-11-21T21:00:00.000Z");
	db_res_free(res);

	/* updated_at follows updates */
	expect(f, "UPDATE runs SET updated_at = '2000-01-01', message = 'x'",
	    0, NULL);
	assert_int_equal(db_exec(f->db, "SELECT updated_at > '2001-01-01' "
	    "FROM runs", NULL, &res, &err), 0);
	assert_string_equal(db_res_text(res, 0, 0), "t");
	db_res_free(res);
}

static void
schema__refuses_unknown_status_values(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"UPDATE repositories SET source = 'git'",
		"UPDATE repositories SET poll_status = 'broken'",
		"UPDATE runs SET status = 'paused'",
		"UPDATE runs SET trigger = 'cron'",
		"UPDATE stages SET status = 'done'",
		"UPDATE stages SET type = 'shell'",
		"UPDATE stage_attempts SET status = 'lost'",
		"UPDATE stage_attempts SET kind = 'other'",
		"UPDATE stage_attempts SET executor = 'docker'",
		"UPDATE model_versions SET status = 'staging'",
		"UPDATE rollouts SET status = 'paused'",
		"UPDATE approvals SET status = 'maybe'",
		"UPDATE api_tokens SET role = 'root'",
		"UPDATE webhook_deliveries SET source = 'gitlab'",
		"INSERT INTO events (actor, entity_type, entity_id)"
		"  VALUES ('x', 'table', 1)",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(f, bad[i], ERR_INVALID, "violates check constraint");
}

static void
schema__enforces_lifecycle_invariants(void **state)
{
	struct fixture *f = *state;

	/* a finished run has finished_at, an active one started_at */
	expect(f, "UPDATE runs SET status = 'succeeded'", ERR_INVALID,
	    "runs_finished_when_done");
	expect(f, "UPDATE runs SET started_at = NULL", ERR_INVALID,
	    "runs_started_when_active");
	/* a retry names its parent; others have none */
	expect(f, "UPDATE runs SET trigger = 'retry'", ERR_INVALID,
	    "runs_retry_has_parent");
	/* only canary stages wait for approval */
	expect(f, "UPDATE stages SET status = 'waiting_approval', "
	    "finished_at = NULL WHERE name = 'train'", ERR_INVALID,
	    "stages_only_canary_waits");
	/* a canary step has a step number, a job attempt none */
	expect(f, "UPDATE stage_attempts SET step = 0 "
	    "WHERE kind = 'canary_step'", ERR_INVALID,
	    "stage_attempts_step_only_for_canary");
	/* one Job per name, one run per idempotency key */
	expect(f, "INSERT INTO stage_attempts (stage_id, attempt, executor, "
	    "job_name) VALUES (1, 2, 'local', 'sluice-1-train-1')",
	    ERR_CONFLICT, "stage_attempts_job_name_key");
	expect(f, "INSERT INTO runs (pipeline_id, pipeline_version_id, "
	    "commit_id, trigger, created_by, idempotency_key) VALUES (1, 1, 1, "
	    "'push', 'poller', 'push:1:aaaa')", ERR_CONFLICT,
	    "runs_idempotency_key_key");
	/* an invalid pipeline file starts no run */
	expect(f, "INSERT INTO commits (repository_id, sha, committed_at) "
	    "VALUES (1, repeat('b', 40), now())", 0, NULL);
	expect(f, "INSERT INTO pipeline_versions (commit_id, file_path, "
	    "pipeline_id, valid, errors) VALUES (2, 'pipelines/fraud.yaml', 1, "
	    "false, '[{\"message\": \"x\"}]')", 0, NULL);
	expect(f, "INSERT INTO runs (pipeline_id, pipeline_version_id, "
	    "commit_id, trigger, created_by) VALUES (1, 3, 2, 'api', 'x')",
	    ERR_INVALID, "runs_version_matches");
	/* nor does a version of another pipeline or commit */
	expect(f, "INSERT INTO runs (pipeline_id, pipeline_version_id, "
	    "commit_id, trigger, created_by) VALUES (1, 1, 2, 'api', 'x')",
	    ERR_INVALID, "runs_version_matches");
	expect(f, "UPDATE pipeline_versions SET valid = false", ERR_INVALID,
	    "pipeline_versions_valid");
	/* a decision has a person and a time */
	expect(f, "UPDATE approvals SET decided_by = NULL", ERR_INVALID,
	    "approvals_person_decides");
	expect(f, "UPDATE approvals SET status = 'pending'", ERR_INVALID,
	    "approvals_decided_when_done");
	/* metrics are finite numbers */
	expect(f, "INSERT INTO metrics (attempt_id, name, value, source_line) "
	    "VALUES (1, 'auc', 'NaN', 9)", ERR_INVALID, "metrics_value_check");
	expect(f, "INSERT INTO metrics (attempt_id, name, value, source_line) "
	    "VALUES (1, 'auc', 'Infinity', 9)", ERR_INVALID, NULL);
	/* the same log line is not read twice */
	expect(f, "INSERT INTO metrics (attempt_id, name, value, source_line) "
	    "VALUES (1, 'auc', 0.5, 7)", ERR_CONFLICT, NULL);
	/* a deleted run takes no model version with it */
	expect(f, "DELETE FROM runs", ERR_INVALID, "model_versions");
}

static void
schema__keeps_one_production_model_per_target(void **state)
{
	struct fixture *f = *state;

	expect(f, "INSERT INTO artifacts (attempt_id, name, uri, source_line) "
	    "VALUES (1, 'model2', 's3://models/fraud/2', 9)", 0, NULL);
	expect(f, "INSERT INTO model_versions (name, version, uri, "
	    "artifact_id, run_id, stage_id, attempt_id) VALUES "
	    "('fraud-detector', 2, 's3://models/fraud/2', 2, 1, 1, 1)", 0,
	    NULL);
	expect(f, "UPDATE model_versions SET status = 'production', "
	    "target = 'fraud-api', promoted_at = now() WHERE version = 2",
	    ERR_CONFLICT, "model_versions_one_production");
	/* promotion: retire the old one first, in one transaction */
	expect(f, "BEGIN", 0, NULL);
	expect(f, "UPDATE model_versions SET status = 'retired', "
	    "retired_at = now() WHERE version = 1", 0, NULL);
	expect(f, "UPDATE model_versions SET status = 'production', "
	    "target = 'fraud-api', promoted_at = now() WHERE version = 2", 0,
	    NULL);
	expect(f, "COMMIT", 0, NULL);
	/* and a version number is used once per model */
	expect(f, "INSERT INTO model_versions (name, version, uri, "
	    "artifact_id, run_id, stage_id, attempt_id) VALUES "
	    "('fraud-detector', 2, 's3://x', 1, 1, 1, 1)", ERR_CONFLICT, NULL);
}

static void
schema__timestamps_read_as_rfc3339_utc(void **state)
{
	struct fixture *f = *state;
	struct db_res *res = NULL;
	struct err err;

	expect(f, "SET TimeZone = 'America/New_York'", 0, NULL);
	assert_int_equal(db_exec(f->db, "SELECT rfc3339("
	    "'2026-11-21 22:50:00.1234+01'), rfc3339(NULL)", NULL, &res, &err),
	    0);
	assert_string_equal(db_res_text(res, 0, 0),
	    "2026-11-21T21:50:00.123Z");
	assert_null(db_res_text(res, 0, 1));
	db_res_free(res);
	expect(f, "RESET TimeZone", 0, NULL);
}

/* EXPLAIN sql and check that the plan reads index and sorts nothing. */
static void
expect_plan(struct fixture *f, const char *sql, const char *index)
{
	struct db_res *res = NULL;
	struct err err;
	char explain[1024];
	int found = 0;

	(void)snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
	assert_int_equal(db_exec(f->db, explain, NULL, &res, &err), 0);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const char *line = db_res_text(res, i, 0);

		if (strstr(line, "Sort") != NULL)
			fail_msg("%s sorts: %s", sql, line);
		if (strstr(line, index) != NULL)
			found = 1;
	}
	if (!found)
		fail_msg("%s does not use %s", sql, index);
	db_res_free(res);
}

static void
schema__newest_first_pages_read_an_index_without_sorting(void **state)
{
	struct fixture *f = *state;

	/* 2000 runs of a busy pipeline, 20 of a quiet one, a few queued. */
	expect(f, "INSERT INTO pipelines (repository_id, name, file_path) "
	    "VALUES (1, 'quiet', 'pipelines/quiet.yaml')", 0, NULL);
	expect(f, "INSERT INTO pipeline_versions (commit_id, file_path, "
	    "pipeline_id, valid, definition) VALUES (1, 'pipelines/quiet.yaml',"
	    " 2, true, '{}')", 0, NULL);
	expect(f, "INSERT INTO runs (pipeline_id, pipeline_version_id, "
	    "commit_id, trigger, created_by, status, finished_at) "
	    "SELECT CASE WHEN g % 100 = 0 THEN 2 ELSE 1 END,"
	    " CASE WHEN g % 100 = 0 THEN 3 ELSE 1 END, 1, 'api', 'x',"
	    " CASE WHEN g % 97 = 0 THEN 'queued' ELSE 'succeeded' END,"
	    " CASE WHEN g % 97 = 0 THEN NULL ELSE now() END"
	    " FROM generate_series(1, 2020) g", 0, NULL);
	expect(f, "ANALYZE runs", 0, NULL);
	expect_plan(f, "SELECT id FROM runs WHERE pipeline_id = 2 AND "
	    "id < 1900 ORDER BY id DESC LIMIT 50", "runs_pipeline_newest");
	expect_plan(f, "SELECT id FROM runs WHERE status = 'queued' AND "
	    "id < 1900 ORDER BY id DESC LIMIT 50", "runs_status_newest");
	expect_plan(f, "SELECT id FROM runs WHERE id < 1900 "
	    "ORDER BY id DESC LIMIT 50", "runs_pkey");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(schema__holds_a_full_lineage_chain),
		T(schema__refuses_unknown_status_values),
		T(schema__enforces_lifecycle_invariants),
		T(schema__keeps_one_production_model_per_target),
		T(schema__timestamps_read_as_rfc3339_utc),
		T(schema__newest_first_pages_read_an_index_without_sorting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
