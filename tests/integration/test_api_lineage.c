/*
 * test_api_lineage.c - GET /api/v1/lineage?commit= and GET /api/v1/audit
 * over real HTTP and PostgreSQL: everything a demo-like run made is found
 * from its commit (by prefix too), ambiguous, malformed and unknown
 * prefixes are refused clearly, the statement reads indexes; the audit
 * export pages its JSON and its CSV reads back with python3's csv module,
 * one record per decision, formulas defused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "query/store_query_audit.h"
#include "query/store_query_runs.h"
#include "store/db.h"

/* Two commits sharing their first 8 digits, and a third. */
#define SHA_A	"6af46c1e0123456789abcdef0123456789abcdef"
#define SHA_B	"6af46c1e9999999999999999999999999999999a"
#define SHA_C	"77777777aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct fixture {
	struct apifix	*f;
	int64_t		 run, retry, other, model, rollout, approval;
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	int64_t repo, ca, cb, cc, va, vb, vc, a;
	char *demo;

	if (x == NULL || (x->f = apifix_start(NULL, NULL)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	repo = seed_repo(x->f->db, "demo", "{main}");
	ca = seed_commit(x->f->db, repo, SHA_A, "train on new data", "Ada");
	cb = seed_commit(x->f->db, repo, SHA_B, "b", "Ada");
	cc = seed_commit(x->f->db, repo, SHA_C, "c", "Ada");
	va = seed_version(x->f->db, repo, ca, "pipelines/demo.yaml", demo,
	    NULL, NULL);
	vb = seed_version(x->f->db, repo, cb, "pipelines/demo.yaml", demo,
	    NULL, NULL);
	vc = seed_version(x->f->db, repo, cc, "pipelines/demo.yaml", demo,
	    NULL, NULL);
	free(demo);
	/* the demo's run: train, evaluate, a rollout promoted by alice */
	x->run = seed_run(x->f->db, va, "push", "main", NULL);
	(void)seed_attempt(x->f->db, x->run, "prepare", 1, 0, "succeeded");
	a = seed_attempt(x->f->db, x->run, "train", 1, 0, "succeeded");
	x->model = seed_model(x->f->db, a, "demo", 1, "production",
	    "demo-api", "{\"auc\": 0.91}");
	(void)seed_attempt(x->f->db, x->run, "evaluate", 1, 0, "succeeded");
	(void)seed_attempt(x->f->db, x->run, "rollout", 1, 1, "succeeded");
	x->rollout = seed_rollout(x->f->db, x->run, "rollout", "demo-api",
	    x->model, 0, 2, 50);
	x->approval = seed_approval(x->f->db, x->rollout, 2, 50, "approved",
	    "alice");
	/* a retry of it (same commit, found through parent_run_id too) */
	x->retry = seed_sql(x->f->db, "INSERT INTO runs (pipeline_id,"
	    " pipeline_version_id, commit_id, trigger, parent_run_id,"
	    " created_by) SELECT pipeline_id, pipeline_version_id, commit_id,"
	    " 'retry', id, 'ada' FROM runs WHERE id = %lld RETURNING id",
	    (long long)x->run);
	(void)seed_run(x->f->db, vb, "push", "main", NULL);
	x->other = seed_run(x->f->db, vc, "push", "main", NULL);
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
get_as(struct fixture *x, const char *token, const char *path, long status)
{
	struct testreply rp;
	json_t *j;

	testapi_as(x->f->a, &rp, token, "GET", path, NULL);
	if (rp.status != status)
		fail_msg("GET %s: %ld %s", path, rp.status, rp.body);
	j = tj_parse(rp.body);
	testreply_free(&rp);
	return j;
}

static void
lineage__a_commit_gives_its_runs_models_rollouts_and_approvals(void **state)
{
	struct fixture *x = *state;
	json_t *j = get_as(x, x->f->viewer, "/api/v1/lineage?commit="
	    SHA_A, 200);

	assert_string_equal(tj_str(j, "commit.sha"), SHA_A);
	assert_string_equal(tj_str(j, "commit.message"), "train on new data");
	assert_string_equal(tj_str(j, "commit.repositories[0]"), "demo");
	assert_int_equal(tj_len(j, "pipeline_versions"), 1);
	assert_string_equal(tj_str(j, "pipeline_versions[0].pipeline"),
	    "demo");
	/* the run and its retry, no other commit's run */
	assert_int_equal(tj_len(j, "runs"), 2);
	assert_int_equal(tj_int(j, "runs[0].id"), x->run);
	assert_int_equal(tj_int(j, "runs[1].id"), x->retry);
	assert_int_equal(tj_int(j, "runs[1].parent_run"), x->run);
	assert_int_equal(tj_len(j, "attempts"), 4);
	assert_string_equal(tj_str(j, "attempts[1].stage"), "train");
	assert_int_equal(tj_len(j, "artifacts"), 1);
	assert_string_equal(tj_str(j, "artifacts[0].uri"), "s3://models/demo/1");
	assert_int_equal(tj_len(j, "model_versions"), 1);
	assert_string_equal(tj_str(j, "model_versions[0].name"), "demo");
	assert_string_equal(tj_str(j, "model_versions[0].status"),
	    "production");
	assert_int_equal(tj_int(j, "model_versions[0].run"), x->run);
	assert_int_equal(tj_len(j, "rollouts"), 1);
	assert_int_equal(tj_int(j, "rollouts[0].id"), x->rollout);
	assert_string_equal(tj_str(j, "rollouts[0].target"), "demo-api");
	assert_int_equal(tj_len(j, "approvals"), 1);
	assert_int_equal(tj_int(j, "approvals[0].id"), x->approval);
	assert_string_equal(tj_str(j, "approvals[0].decided_by"), "alice");
	json_decref(j);
}

static void
lineage__a_prefix_finds_its_commit_and_a_shared_one_is_409(void **state)
{
	struct fixture *x = *state;
	json_t *j;

	/* 9 digits, upper case: one commit */
	j = get_as(x, x->f->viewer, "/api/v1/lineage?commit=6AF46C1E0", 200);
	assert_string_equal(tj_str(j, "commit.sha"), SHA_A);
	json_decref(j);
	j = get_as(x, x->f->viewer, "/api/v1/lineage?commit=7777777", 200);
	assert_int_equal(tj_int(j, "runs[0].id"), x->other);
	json_decref(j);
	/* 7 and 8 digits that both commits share */
	j = get_as(x, x->f->viewer, "/api/v1/lineage?commit=6af46c1", 409);
	assert_string_equal(tj_str(j, "error.code"), "ambiguous");
	assert_non_null(strstr(tj_str(j, "error.message"), SHA_A));
	assert_non_null(strstr(tj_str(j, "error.message"), SHA_B));
	json_decref(j);
	j = get_as(x, x->f->viewer, "/api/v1/lineage?commit=6af46c1e", 409);
	json_decref(j);
}

static void
lineage__malformed_and_unknown_commits_are_clear_4xx(void **state)
{
	struct fixture *x = *state;
	static const char *const bad[] = { "6af46c", "6af46c1g", "",
	    "6af46c1e0123456789abcdef0123456789abcdef0123456789abcdef012345678",
	    "6af 46c1", NULL };
	char path[256];
	json_t *j;

	for (size_t i = 0; bad[i] != NULL; i++) {
		(void)snprintf(path, sizeof(path), "/api/v1/lineage?commit=%s",
		    bad[i]);
		for (char *p = path; *p != '\0'; p++)
			if (*p == ' ')
				*p = '+';
		j = get_as(x, x->f->viewer, path, 400);
		assert_string_equal(tj_str(j, "error.code"), "invalid");
		assert_non_null(strstr(tj_str(j, "error.message"), "commit"));
		json_decref(j);
	}
	j = get_as(x, x->f->viewer, "/api/v1/lineage", 400);
	assert_non_null(strstr(tj_str(j, "error.message"), "required"));
	json_decref(j);
	j = get_as(x, x->f->viewer, "/api/v1/lineage?commit=0000000", 404);
	assert_string_equal(tj_str(j, "error.code"), "not_found");
	assert_non_null(strstr(tj_str(j, "error.message"), "0000000"));
	json_decref(j);
}

/* EXPLAIN sql with one text parameter; fail on a full scan of a big table. */
static void
expect_no_seq_scan(struct db *db, const char *sql, const char *param,
    const char *must_read)
{
	/* the tables the history below makes long */
	static const char *const tables[] = { "commits", "runs", "stages",
	    "stage_attempts", "artifacts", "pipeline_versions", NULL };
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	char *explain;
	size_t len = strlen(sql) + 16;
	int found = must_read == NULL;

	explain = malloc(len);
	assert_non_null(explain);
	(void)snprintf(explain, len, "EXPLAIN %s", sql);
	db_args_init(&a);
	db_args_str(&a, param);
	if (db_exec(db, explain, &a, &res, &err) < 0)
		fail_msg("EXPLAIN: %s", err.msg);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const char *line = db_res_text(res, i, 0);

		for (size_t t = 0; tables[t] != NULL; t++) {
			char scan[64];

			(void)snprintf(scan, sizeof(scan), "Seq Scan on %s ",
			    tables[t]);
			if (strstr(line, scan) != NULL) {
				for (size_t k = 0; k < db_res_rows(res); k++)
					fprintf(stderr, "  %s\n",
					    db_res_text(res, k, 0));
				fail_msg("reads all of %s: %s", tables[t],
				    line);
			}
		}
		if (must_read != NULL && strstr(line, must_read) != NULL)
			found = 1;
	}
	db_res_free(res);
	free(explain);
	if (!found)
		fail_msg("the plan does not read %s", must_read);
}

static void
lineage__the_statement_reads_indexes_over_a_long_history(void **state)
{
	struct fixture *x = *state;

	/* 4000 commits with a run each, two stages and an attempt a stage */
	seed_sql(x->f->db,
	    "INSERT INTO commits (repository_id, sha, committed_at)"
	    " SELECT repository_id, md5(g::text) || substr(md5((g+1)::text), 1, 8),"
	    "  now() FROM commits, generate_series(1, 4000) g"
	    " WHERE sha = '" SHA_C "';"
	    "INSERT INTO pipeline_versions (commit_id, file_path, pipeline_id,"
	    "  valid, definition) SELECT c.id, 'pipelines/demo.yaml',"
	    "  v.pipeline_id, true, v.definition FROM commits c,"
	    "  pipeline_versions v WHERE v.id = (SELECT min(id) FROM"
	    "  pipeline_versions) AND c.committed_at IS NOT NULL"
	    "  AND NOT EXISTS (SELECT 1 FROM pipeline_versions w"
	    "   WHERE w.commit_id = c.id);"
	    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id,"
	    "  trigger, created_by, status, started_at, finished_at)"
	    " SELECT v.pipeline_id, v.id, v.commit_id, 'push', 'bench',"
	    "  'succeeded', now(), now() FROM pipeline_versions v"
	    " WHERE NOT EXISTS (SELECT 1 FROM runs r"
	    "   WHERE r.commit_id = v.commit_id);"
	    "INSERT INTO stages (run_id, name, position, status, finished_at)"
	    " SELECT r.id, s.name, s.pos, 'succeeded', now() FROM runs r,"
	    "  (VALUES ('train', 0), ('evaluate', 1)) s(name, pos)"
	    " WHERE r.created_by = 'bench';"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at) SELECT s.id, 1,"
	    "  'local', 'sluice-' || s.run_id || '-' || s.name || '-1',"
	    "  'succeeded', now(), now(), now() FROM stages s JOIN runs r ON r.id = s.run_id"
	    " WHERE r.created_by = 'bench';"
	    "INSERT INTO artifacts (attempt_id, name, uri, source_line)"
	    " SELECT a.id, 'model', 's3://m/' || a.id, 1 FROM stage_attempts a"
	    " JOIN stages s ON s.id = a.stage_id JOIN runs r ON r.id = s.run_id"
	    " WHERE s.name = 'train' AND r.created_by = 'bench';"
	    "ANALYZE");
	assert_true(seed_sql(x->f->db, "SELECT count(*) FROM runs") > 4000);
	expect_no_seq_scan(x->f->db, store_query_commit_lineage_sql, SHA_A,
	    "runs_commit");
	expect_no_seq_scan(x->f->db,
	    "SELECT DISTINCT c.sha FROM commits c"
	    " WHERE c.sha COLLATE \"C\" >= $1 AND c.sha COLLATE \"C\" < $1 || 'g'"
	    " ORDER BY 1 LIMIT 11", "6af46c1", "commits_sha_prefix");
	/* and the answer is still the demo run's */
	json_decref(get_as(x, x->f->viewer, "/api/v1/lineage?commit=6af46c1e0",
	    200));
}

/* --- audit ------------------------------------------------------------ */

/*
 * Decisions as the store writes them (events), plus things that are not
 * decisions (a run's transitions, a session).
 */
static void
seed_decisions(struct fixture *x)
{
	seed_sql(x->f->db,
	    "INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
	    " from_state, to_state, reason, data) VALUES"
	    " ('engine', 'run', %lld, %lld, 'transition', 'queued', 'running',"
	    "  NULL, '{}'),"
	    " ('alice', 'approval', %lld, %lld, 'transition', 'pending',"
	    "  'approved', '=HYPERLINK(\"http://x\")',"
	    "  '{\"comment\": \"=HYPERLINK(\\\"http://x\\\")\"}'),"
	    " ('engine', 'model_version', %lld, %lld, 'transition',"
	    "  'candidate', 'production', NULL, '{}'),"
	    " ('bob', 'rollout', %lld, %lld, 'abort', NULL, NULL,"
	    "  'aborted by bob: latency', '{\"comment\": \"latency, p99 \\\"800ms\\\"\\nsee dashboard\"}'),"
	    " ('bob', 'rollout', %lld, %lld, 'transition', 'rolling_back',"
	    "  'rolled_back', 'aborted by bob: latency', '{}'),"
	    " ('carol', 'model_version', %lld, NULL, 'transition', 'retired',"
	    "  'production', 'back to v1', '{\"action\": \"rollback\","
	    "  \"comment\": \"back to v1\"}'),"
	    " ('system', 'session', 1, NULL, 'created', NULL, NULL, NULL, '{}')",
	    (long long)x->run, (long long)x->run,
	    (long long)x->approval, (long long)x->run,
	    (long long)x->model, (long long)x->run,
	    (long long)x->rollout, (long long)x->run,
	    (long long)x->rollout, (long long)x->run,
	    (long long)x->model);
}

/* The number of audit events: the fixture's tokens (4) and the above (5). */
#define AUDIT_ENTRIES	9

static void
audit__json_pages_hold_every_decision_once(void **state)
{
	struct fixture *x = *state;
	char path[512], cursor[300] = "";
	size_t n = 0;
	long long last = 0;
	json_t *j;

	seed_decisions(x);
	/* admin only */
	json_decref(get_as(x, x->f->approver, "/api/v1/audit", 403));
	do {
		(void)snprintf(path, sizeof(path), "/api/v1/audit?limit=2%s%s",
		    cursor[0] ? "&cursor=" : "", cursor);
		j = get_as(x, x->f->admin, path, 200);
		for (size_t i = 0; i < tj_len(j, "entries"); i++) {
			char k[64];

			(void)snprintf(k, sizeof(k), "entries[%zu].id", i);
			assert_true(tj_int(j, k) > last);	/* oldest first */
			last = tj_int(j, k);
			n++;
		}
		cursor[0] = '\0';
		if (!tj_is_null(j, "next_cursor"))
			(void)snprintf(cursor, sizeof(cursor), "%s",
			    tj_str(j, "next_cursor"));
		json_decref(j);
	} while (cursor[0] != '\0');
	assert_int_equal(n, AUDIT_ENTRIES);
	j = get_as(x, x->f->admin, "/api/v1/audit?limit=200", 200);
	assert_string_equal(tj_str(j, "entries[0].kind"), "token");
	assert_string_equal(tj_str(j, "entries[0].object"),
	    "token ana-viewer (viewer)");
	assert_string_equal(tj_str(j, "entries[4].kind"), "approval");
	assert_string_equal(tj_str(j, "entries[4].action"), "approved");
	assert_string_equal(tj_str(j, "entries[4].actor"), "alice");
	assert_string_equal(tj_str(j, "entries[4].target"), "demo-api");
	assert_string_equal(tj_str(j, "entries[5].kind"), "promotion");
	assert_string_equal(tj_str(j, "entries[5].object"), "model demo v1");
	assert_string_equal(tj_str(j, "entries[6].kind"), "rollout_action");
	assert_string_equal(tj_str(j, "entries[6].action"), "abort");
	assert_string_equal(tj_str(j, "entries[7].kind"), "rollback");
	assert_string_equal(tj_str(j, "entries[7].action"), "rolled_back");
	assert_string_equal(tj_str(j, "entries[8].kind"), "rollback");
	assert_string_equal(tj_str(j, "entries[8].action"), "rollback");
	assert_string_equal(tj_str(j, "entries[5].action"), "production");
	assert_string_equal(tj_str(j, "entries[8].comment"), "back to v1");
	json_decref(j);
	/* a window: nothing before the fixture began, nothing in the future */
	j = get_as(x, x->f->admin, "/api/v1/audit?until=2001-01-01T00:00:00Z",
	    200);
	assert_int_equal(tj_len(j, "entries"), 0);
	json_decref(j);
	j = get_as(x, x->f->admin,
	    "/api/v1/audit?since=2001-01-01T00:00:00%2B02:00", 200);
	assert_int_equal(tj_len(j, "entries"), 9);
	json_decref(j);
	/* bad input */
	j = get_as(x, x->f->admin, "/api/v1/audit?since=yesterday", 400);
	assert_non_null(strstr(tj_str(j, "error.message"), "since"));
	json_decref(j);
	j = get_as(x, x->f->admin, "/api/v1/audit?since=2026-02-30T00:00:00Z",
	    400);
	json_decref(j);
	j = get_as(x, x->f->admin, "/api/v1/audit?since=2026-01-02T00:00:00Z"
	    "&until=2026-01-01T00:00:00Z", 400);
	json_decref(j);
	j = get_as(x, x->f->admin, "/api/v1/audit?format=xml", 400);
	json_decref(j);
}

/* Run python3 on the CSV in path; its output into out. */
static void
python_csv(const char *path, char *out, size_t outlen)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	(void)snprintf(cmd, sizeof(cmd), "python3 -c '"
	    "import csv, sys\n"
	    "rows = list(csv.reader(open(sys.argv[1], newline=\"\")))\n"
	    "print(len(rows))\n"
	    "print(rows[0][2], rows[0][10])\n"
	    "for r in rows[1:]:\n"
	    "    assert len(r) == len(rows[0]), r\n"
	    "    print(r[2] + \"|\" + r[3] + \"|\" + r[10].replace(\"\\n\", \"\\\\n\"))\n"
	    "' %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void
audit__csv_reads_back_one_record_per_decision(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	char tmp[] = "/tmp/sluice-audit-XXXXXX", out[4096], ctype[128];
	int fd;

	seed_decisions(x);
	testapi_as(x->f->a, &rp, x->f->admin, "GET", "/api/v1/audit?format=csv",
	    NULL);
	assert_int_equal(rp.status, 200);
	assert_int_equal(testreply_header(&rp, "Content-Type", ctype,
	    sizeof(ctype)), 0);
	assert_int_equal(strncmp(ctype, "text/csv", 8), 0);
	assert_int_equal(strncmp(rp.body, "id,time,kind,", 13), 0);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rp.body, rp.len), (ssize_t)rp.len);
	close(fd);
	testreply_free(&rp);
	python_csv(tmp, out, sizeof(out));
	unlink(tmp);
	/* a header and 9 records, quotes, commas and a newline kept */
	assert_int_equal(strncmp(out, "10\nkind comment\n", 16), 0);
	assert_non_null(strstr(out,
	    "approval|approved|'=HYPERLINK(\"http://x\")\n"));
	assert_non_null(strstr(out,
	    "rollout_action|abort|latency, p99 \"800ms\"\\nsee dashboard\n"));
	assert_non_null(strstr(out, "promotion|production|\n"));
	assert_non_null(strstr(out, "rollback|rollback|back to v1\n"));
	/* the viewer may not, the window is checked */
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/audit?format=csv", NULL);
	assert_int_equal(rp.status, 403);
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->admin, "GET",
	    "/api/v1/audit?format=csv&until=nope", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
}

static void
audit__a_long_csv_streams_every_page(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	size_t lines = 0;

	/* 1000 approvals decided: five pages of the stream */
	seed_sql(x->f->db,
	    "INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
	    " from_state, to_state, data) SELECT 'alice', 'approval', %lld,"
	    " %lld, 'transition', 'pending', 'approved',"
	    " jsonb_build_object('comment', 'ok ' || g)"
	    " FROM generate_series(1, 1000) g",
	    (long long)x->approval, (long long)x->run);
	testapi_as(x->f->a, &rp, x->f->admin, "GET", "/api/v1/audit?format=csv",
	    NULL);
	assert_int_equal(rp.status, 200);
	for (size_t i = 0; i < rp.len; i++)
		if (rp.body[i] == '\n')
			lines++;
	assert_int_equal(lines, 1 + 4 + 1000);
	assert_non_null(strstr(rp.body, "\"ok 1000\"\r\n"));
	testreply_free(&rp);
	/* the statement reads the audit index */
	{
		struct db_res *res = NULL;
		struct db_args a;
		struct err err;
		char sql[8192];
		int found = 0;

		(void)snprintf(sql, sizeof(sql), "EXPLAIN %s",
		    store_query_audit_sql);
		db_args_init(&a);
		db_args_int64(&a, 0);
		db_args_int64(&a, 50);
		db_args_int64(&a, 0);
		db_args_int64(&a, INT64_C(253402300799000));
		assert_int_equal(db_exec(x->f->db, sql, &a, &res, &err), 0);
		for (size_t i = 0; i < db_res_rows(res); i++)
			if (strstr(db_res_text(res, i, 0), "events_audit"))
				found = 1;
		db_res_free(res);
		assert_true(found);
	}
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(lineage__a_commit_gives_its_runs_models_rollouts_and_approvals),
		T(lineage__a_prefix_finds_its_commit_and_a_shared_one_is_409),
		T(lineage__malformed_and_unknown_commits_are_clear_4xx),
		T(lineage__the_statement_reads_indexes_over_a_long_history),
		T(audit__json_pages_hold_every_decision_once),
		T(audit__csv_reads_back_one_record_per_decision),
		T(audit__a_long_csv_streams_every_page),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
