/*
 * test_engine.c - the run engine against a real PostgreSQL with the fake
 * executor: DAG order and parallelism, failure propagation, retries,
 * timeouts, gates and baselines, model registration, canary approve /
 * reject / analysis / expiry / rollback, cancel, retry from the failed
 * stage, concurrency, the GPU cap, restarts, events and wake-ups.
 *
 * Runs are created as users create them (store_run_create on a pipeline
 * version made from YAML); the engine is driven one pass at a time with
 * engine_tick() in bounded loops, never with timing assertions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cfg.h"
#include "db.h"
#include "engine.h"
#include "fake_executor.h"
#include "pipeline.h"
#include "store_approval.h"
#include "store_commit.h"
#include "store_pipeline.h"
#include "store_run.h"
#include "testdb.h"

struct fx {
	struct testdb		 t;
	struct db		*db;
	struct cfg		*cfg;
	struct executor		 ex;
	struct fake_executor	*fake;
	struct engine		*e;
	char			 dir[512];
	int64_t			 repo_id;
	int			 ncommits;
};

/* --- fixture ----------------------------------------------------------- */

static void
load_cfg(struct fx *f, const char *const *extra)
{
	char dburl[2200], state[600];
	char *envp[16];
	size_t n = 0;
	struct err err;

	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    f->t.url);
	(void)snprintf(state, sizeof(state), "SLUICE_STATE_DIR=%s/state",
	    f->dir);
	envp[n++] = dburl;
	envp[n++] = state;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
		envp[n++] = (char *)extra[i];
	envp[n] = NULL;
	cfg_free(f->cfg);
	f->cfg = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0)
		fail_msg("config: %s", err.msg);
}

static void
new_engine(struct fx *f)
{
	struct engine_opts o = {
		.poll_ms = 20, .sweep_ms = 1000, .backoff_ms = 100,
		.backoff_max_ms = 400, .timeout_margin_ms = 100,
	};
	struct err err;

	engine_free(f->e);
	f->e = NULL;
	if (engine_new(&f->e, f->cfg, f->ex, &err) < 0)
		fail_msg("engine_new: %s", err.msg);
	engine_set_opts(f->e, &o);
}

/* Reload the configuration with extra SLUICE_* settings, new engine. */
static void configure(struct fx *, const char *const *)
    __attribute__((unused));
static void
configure(struct fx *f, const char *const *extra)
{
	engine_free(f->e);
	f->e = NULL;
	load_cfg(f, extra);
	new_engine(f);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *id;

	if (f == NULL || testdb_create(&f->t) < 0 ||
	    testdb_migrate(&f->t) < 0 || test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	f->fake = fake_executor_new(&f->ex);
	id = testdb_value(&f->t, "INSERT INTO repositories (name, url, source)"
	    " VALUES ('models', 'file:///nonexistent.git', 'api') RETURNING id");
	f->repo_id = strtoll(id, NULL, 10);
	free(id);
	load_cfg(f, NULL);
	new_engine(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	engine_free(f->e);
	fake_executor_free(f->fake);
	cfg_free(f->cfg);
	db_free(f->db);
	testdb_drop(&f->t);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* --- helpers ------------------------------------------------------------- */

static char *
q(struct fx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));
static char *
q(struct fx *f, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return testdb_value(&f->t, sql);
}

/* Assert that the first value of a query is want. */
static void
expect(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
expect(struct fx *f, const char *want, const char *fmt, ...)
{
	char sql[4096], got[2048];
	va_list ap;
	char *v;
	int same;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	v = testdb_value(&f->t, sql);
	same = v != NULL && strcmp(v, want) == 0;
	(void)snprintf(got, sizeof(got), "%s", v ? v : "(null)");
	free(v);
	if (!same)
		fail_msg("%s\n  got:  %s\n  want: %s", sql, got, want);
}

static void
tick(struct fx *f)
{
	struct err err;

	if (engine_tick(f->e, &err) < 0)
		fail_msg("engine_tick: %s", err.msg);
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Tick until the query answers want; at most ~15 s (a pass may have to
 * wait for a backoff or a window), failing with the last answer.
 */
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	char *v = NULL;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	for (int i = 0; i < 1500; i++) {
		free(v);
		v = testdb_value(&f->t, sql);
		if (v != NULL && strcmp(v, want) == 0) {
			free(v);
			return;
		}
		tick(f);
		if (i > 20)
			sleep_ms(10);
	}
	fail_msg("%s\n  still: %s\n  want:  %s", sql, v ? v : "(null)", want);
}

static const char *
sha_of(int n)
{
	static char sha[41];

	(void)snprintf(sha, sizeof(sha), "%040x", n);
	return sha;
}

/* A valid pipeline version from YAML, at a new commit. */
static int64_t
version(struct fx *f, const char *yaml)
{
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct pipeline_version_in v;
	struct commit_in c;
	struct err err;
	char *json = NULL;
	int64_t commit_id, pipeline_id, version_id;

	pipeline_errors_init(&errs);
	if (pipeline_parse(&p, &errs, yaml, strlen(yaml), "p.yaml", &err) < 0)
		fail_msg("pipeline: %s", err.msg);
	pipeline_errors_release(&errs);
	if (pipeline_to_json(p, &json, &err) < 0)
		fail_msg("json: %s", err.msg);
	memset(&c, 0, sizeof(c));
	c.sha = sha_of(++f->ncommits);
	c.author_name = "t";
	c.author_email = "t@example.com";
	c.message = "m";
	c.committed_at = 1700000000;
	if (store_commit_put(f->db, f->repo_id, &c, &commit_id, &err) < 0)
		fail_msg("commit: %s", err.msg);
	memset(&v, 0, sizeof(v));
	v.repo_id = f->repo_id;
	v.commit_id = commit_id;
	v.file_path = "pipelines/p.yaml";
	v.name = p->name;
	v.definition = json;
	v.errors = "[]";
	if (store_pipeline_version_put(f->db, &v, &pipeline_id, &version_id,
	    &err) < 0)
		fail_msg("version: %s", err.msg);
	free(json);
	pipeline_free(p);
	return version_id;
}

static int64_t
run_with(struct fx *f, int64_t version_id, const char *params)
{
	struct run_new rn;
	struct err err;
	int64_t id;
	int created;

	memset(&rn, 0, sizeof(rn));
	rn.version_id = version_id;
	rn.branch = "main";
	rn.trigger = "api";
	rn.params = params;
	rn.created_by = "tester";
	if (store_run_create(f->db, &rn, &id, &created, &err) < 0)
		fail_msg("run: %s", err.msg);
	return id;
}

static int64_t
run(struct fx *f, int64_t version_id)
{
	return run_with(f, version_id, NULL);
}

static void
on(struct fx *f, const char *stage, const char *kind, int attempt, int step,
    struct fake_outcome o)
{
	struct fake_rule r;

	memset(&r, 0, sizeof(r));
	r.stage = stage;
	r.kind = kind;
	r.attempt = attempt;
	r.step = step;
	r.outcome = o;
	fake_executor_on(f->fake, &r);
}

static const char *
job(int64_t run_id, const char *stage, int attempt)
{
	static char names[8][96];
	static int next;
	char *n = names[next++ % 8];

	(void)snprintf(n, 96, "sluice-%lld-%s-%d", (long long)run_id, stage,
	    attempt);
	return n;
}

static const char *step_job(struct fx *, int64_t, const char *, int)
    __attribute__((unused));
static const char *
step_job(struct fx *f, int64_t run_id, const char *stage, int step)
{
	(void)f;
	static char names[8][96];
	static int next;
	char *n = names[next++ % 8];

	(void)snprintf(n, 96, "sluice-%lld-%s-1-s%d", (long long)run_id, stage,
	    step);
	return n;
}

#define HEAD \
    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: %s}\nspec:\n"

static const char dag_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n"
    "    - {name: c, needs: [a], command: [\"true\"]}\n"
    "    - {name: d, needs: [b, c], command: [\"true\"]}\n";

/* The YAML tmpl with its one "%s" (the pipeline's name) replaced. */
static int64_t
versionf(struct fx *f, const char *tmpl, const char *name)
{
	const char *mark = strstr(tmpl, "%s");
	char yaml[8192];

	assert_non_null(mark);
	(void)snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(mark - tmpl),
	    tmpl, name, mark + 2);
	return version(f, yaml);
}

/* --- DAG ---------------------------------------------------------------- */

static void
engine__runs_a_dag_in_order_with_parallel_branches(void **state)
{
	struct fx *f = *state;
	struct fake_outcome manual = { .manual = 1 };
	int64_t r = run(f, versionf(f, dag_yaml, "dag"));

	on(f, NULL, NULL, 0, 0, manual);
	tick(f);
	expect(f, "running", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	/* only the root starts */
	assert_int_equal(fake_executor_count(f->fake), 1);
	assert_string_equal(fake_executor_name(f->fake, 0), job(r, "a", 1));
	expect(f, "submitted,pending,pending,pending",
	    "SELECT string_agg(status, ',' ORDER BY position) FROM stages "
	    "WHERE run_id = %lld", (long long)r);
	tick(f);
	expect(f, "running", "SELECT status FROM stages WHERE run_id = %lld "
	    "AND name = 'a'", (long long)r);
	assert_int_equal(fake_executor_finish(f->fake, job(r, "a", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick(f);
	/* b and c start in the same pass and run side by side */
	assert_int_equal(fake_executor_count(f->fake), 3);
	assert_int_equal(fake_executor_state(f->fake, job(r, "b", 1)),
	    EXEC_RUNNING);
	assert_int_equal(fake_executor_state(f->fake, job(r, "c", 1)),
	    EXEC_RUNNING);
	expect(f, "succeeded,submitted,submitted,pending",
	    "SELECT string_agg(status, ',' ORDER BY position) FROM stages "
	    "WHERE run_id = %lld", (long long)r);
	assert_int_equal(fake_executor_finish(f->fake, job(r, "b", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick(f);
	tick(f);
	/* d waits for c */
	assert_int_equal(fake_executor_count(f->fake), 3);
	assert_int_equal(fake_executor_finish(f->fake, job(r, "c", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick(f);
	assert_int_equal(fake_executor_count(f->fake), 4);
	assert_string_equal(fake_executor_name(f->fake, 3), job(r, "d", 1));
	assert_int_equal(fake_executor_finish(f->fake, job(r, "d", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "succeeded,succeeded,succeeded,succeeded",
	    "SELECT string_agg(status, ',' ORDER BY position) FROM stages "
	    "WHERE run_id = %lld", (long long)r);
	/* every attempt released once it was recorded */
	assert_int_equal(fake_executor_releases(f->fake, job(r, "d", 1)), 1);
	expect(f, "t", "SELECT finished_at IS NOT NULL AND started_at IS NOT "
	    "NULL FROM runs WHERE id = %lld", (long long)r);
}

static void
engine__a_failed_stage_skips_its_dependents_and_fails_the_run(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: a, command: [\"true\"]}\n"
	    "    - {name: b, needs: [a], command: [\"true\"]}\n"
	    "    - {name: c, needs: [b], command: [\"true\"]}\n"
	    "    - {name: side, command: [\"true\"]}\n";
	struct fake_outcome fails = { .state = EXEC_FAILED, .exit_code = 3,
	    .log = "starting\nboom\n" };
	int64_t r = run(f, versionf(f, yaml, "fails"));

	on(f, "a", NULL, 0, 0, fails);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "failed,skipped,skipped,succeeded",
	    "SELECT string_agg(status, ',' ORDER BY position) FROM stages "
	    "WHERE run_id = %lld", (long long)r);
	expect(f, "stage 'a' failed: exit status 3",
	    "SELECT message FROM runs WHERE id = %lld", (long long)r);
	expect(f, "skipped: needs 'a', which failed",
	    "SELECT message FROM stages WHERE run_id = %lld AND name = 'b'",
	    (long long)r);
	expect(f, "skipped: needs 'b', which was skipped",
	    "SELECT message FROM stages WHERE run_id = %lld AND name = 'c'",
	    (long long)r);
	expect(f, "failed|3|exit status 3", "SELECT status || '|' || exit_code "
	    "|| '|' || message FROM stage_attempts WHERE job_name = '%s'",
	    job(r, "a", 1));
	assert_int_equal(fake_executor_starts(f->fake, job(r, "b", 1)), 0);
}

/* --- retries and timeouts ---------------------------------------------- */

static void
engine__retries_a_failed_attempt_after_a_backoff(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"], retries: 2}\n";
	struct fake_outcome fails = { .state = EXEC_FAILED, .exit_code = 1 };
	struct fake_outcome ok = { .state = EXEC_SUCCEEDED };
	int64_t r = run(f, versionf(f, yaml, "retry"));

	on(f, "train", NULL, 0, 0, fails);
	on(f, "train", NULL, 3, 0, ok);
	tick(f);
	tick(f);
	/* the first attempt failed: the stage waits for its backoff */
	expect(f, "pending", "SELECT status FROM stages WHERE run_id = %lld",
	    (long long)r);
	expect(f, "attempt 1 failed (exit status 1); attempt 2 of 3 in 100ms",
	    "SELECT waiting_reason FROM stages WHERE run_id = %lld",
	    (long long)r);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "1:failed,2:failed,3:succeeded", "SELECT string_agg(attempt "
	    "|| ':' || a.status, ',' ORDER BY attempt) FROM stage_attempts a JOIN "
	    "stages s ON s.id = a.stage_id WHERE s.run_id = %lld",
	    (long long)r);
	assert_int_equal(fake_executor_starts(f->fake, job(r, "train", 2)), 1);
	assert_int_equal(fake_executor_starts(f->fake, job(r, "train", 3)), 1);
	/* the second wait is twice the first */
	expect(f, "t", "SELECT (SELECT created_at FROM stage_attempts WHERE "
	    "job_name = '%s') - (SELECT finished_at FROM stage_attempts WHERE "
	    "job_name = '%s') >= interval '200 ms'", job(r, "train", 3),
	    job(r, "train", 2));
	assert_string_equal(fake_executor_env(f->fake, job(r, "train", 3),
	    "SLUICE_ATTEMPT"), "3");
}

static void
engine__a_stage_out_of_retries_fails_with_the_last_message(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"], retries: 1}\n";
	struct fake_outcome fails = { .state = EXEC_FAILED, .exit_code = 2,
	    .message = "killed by signal 9" };
	int64_t r = run(f, versionf(f, yaml, "retry-out"));

	on(f, "train", NULL, 0, 0, fails);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "failed after 2 attempts: killed by signal 9",
	    "SELECT message FROM stages WHERE run_id = %lld", (long long)r);
	expect(f, "2", "SELECT count(*) FROM stage_attempts a JOIN stages s ON "
	    "s.id = a.stage_id WHERE s.run_id = %lld", (long long)r);
}

static void
engine__a_timeout_fails_the_attempt(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: slow, command: [\"sleep\", \"1h\"], timeout: 1s}\n";
	struct fake_outcome hangs = { .manual = 1 };
	int64_t r = run(f, versionf(f, yaml, "timeout"));
	struct fake_attempt_info info;

	on(f, "slow", NULL, 0, 0, hangs);
	tick(f);
	assert_int_equal(fake_executor_info(f->fake, job(r, "slow", 1), &info),
	    0);
	/* the executor is told the timeout ... */
	assert_int_equal(info.timeout_ms, 1000);
	/* ... and the engine stops an attempt that runs past it anyway */
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	assert_int_equal(fake_executor_cancels(f->fake, job(r, "slow", 1)), 1);
	expect(f, "timeout after 1s (stopped by the controller)",
	    "SELECT message FROM stages WHERE run_id = %lld", (long long)r);
	expect(f, "failed", "SELECT status FROM stage_attempts WHERE "
	    "job_name = '%s'", job(r, "slow", 1));
}

static void
engine__an_executor_timeout_fails_the_stage_with_its_message(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: slow, command: [\"sleep\", \"1h\"], timeout: 5m}\n";
	struct fake_outcome timeout = { .state = EXEC_FAILED,
	    .exit_code = 143, .message = "timeout after 5m" };
	int64_t r = run(f, versionf(f, yaml, "timeout2"));

	on(f, "slow", NULL, 0, 0, timeout);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "stage 'slow' failed: timeout after 5m",
	    "SELECT message FROM runs WHERE id = %lld", (long long)r);
}

/* --- outputs, gates, models ------------------------------------------------ */

static const char gate_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - name: evaluate\n"
    "      command: [\"true\"]\n"
    "      gates:\n"
    "        - {metric: auc, op: \">=\", value: 0.9}\n"
    "        - {metric: auc, op: \">=\", baseline: production, "
    "tolerance: 0.01}\n";

static void
engine__stores_metrics_and_artifacts_and_passes_gates(void **state)
{
	struct fx *f = *state;
	struct fake_outcome o = { .log =
	    "epoch 1\n::metric loss=0.5\n::metric loss=0.2 auc=0.93\n"
	    "::artifact report=s3://bucket/report.html\n"
	    "::metric bad=abc\n::artifact model=s3://m/1 name=fraud\n" };
	int64_t r = run(f, versionf(f, gate_yaml, "gates"));

	on(f, "evaluate", NULL, 0, 0, o);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "auc=0.93@2,loss=0.2@2,loss=0.5@1",
	    "SELECT string_agg(m.name || '=' || m.value || '@' || "
	    "m.source_line, ',' ORDER BY m.name, m.source_line DESC) FROM "
	    "metrics m JOIN stage_attempts a ON a.id = m.attempt_id JOIN "
	    "stages s ON s.id = a.stage_id WHERE s.run_id = %lld",
	    (long long)r);
	expect(f, "model=s3://m/1,report=s3://bucket/report.html",
	    "SELECT string_agg(x.name || '=' || x.uri, ',' ORDER BY x.name) "
	    "FROM artifacts x JOIN stage_attempts a ON a.id = x.attempt_id "
	    "JOIN stages s ON s.id = a.stage_id WHERE s.run_id = %lld",
	    (long long)r);
	/* the model artifact registered a version with the metrics */
	expect(f, "fraud|1|s3://m/1|registered|0.93|0.2", "SELECT name || '|' "
	    "|| version || '|' || uri || '|' || status || '|' || "
	    "(metrics->>'auc') || '|' || (metrics->>'loss') FROM "
	    "model_versions WHERE run_id = %lld", (long long)r);
	expect(f, "1", "SELECT count(*) FROM events WHERE entity_type = "
	    "'model_version' AND action = 'created' AND run_id = %lld",
	    (long long)r);
}

static void
engine__a_failed_gate_fails_the_stage_naming_the_metric(void **state)
{
	struct fx *f = *state;
	struct fake_outcome o = { .log = "::metric auc=0.71\n" };
	int64_t r = run(f, versionf(f, gate_yaml, "gates-fail"));

	on(f, "evaluate", NULL, 0, 0, o);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "gate failed: auc = 0.71 is not >= 0.9",
	    "SELECT message FROM stages WHERE run_id = %lld", (long long)r);
	/* the attempt itself succeeded; a gate failure is not retried */
	expect(f, "succeeded", "SELECT status FROM stage_attempts WHERE "
	    "job_name = '%s'", job(r, "evaluate", 1));
}

static void
engine__a_missing_gate_metric_fails_the_stage(void **state)
{
	struct fx *f = *state;
	struct fake_outcome o = { .log = "::metric loss=0.1\n" };
	int64_t r = run(f, versionf(f, gate_yaml, "gates-missing"));

	on(f, "evaluate", NULL, 0, 0, o);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "gate failed: metric 'auc' was not reported",
	    "SELECT message FROM stages WHERE run_id = %lld", (long long)r);
}

static void
engine__baseline_compares_with_the_last_successful_run(void **state)
{
	struct fx *f = *state;
	struct fake_outcome first = { .log = "::metric auc=0.95\n" };
	struct fake_outcome worse = { .log = "::metric auc=0.92\n" };
	struct fake_outcome close = { .log = "::metric auc=0.945\n" };
	int64_t v = versionf(f, gate_yaml, "baseline");
	int64_t r1, r2, r3;
	char want[256];

	on(f, "evaluate", NULL, 0, 0, first);
	r1 = run(f, v);
	/* nothing to compare with yet: the baseline gate holds */
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r1);
	on(f, "evaluate", NULL, 0, 0, worse);
	r2 = run(f, v);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	(void)snprintf(want, sizeof(want), "gate failed: auc = 0.92 is not >= "
	    "0.94 (baseline 0.95 from the last successful run %lld, "
	    "tolerance 0.01)", (long long)r1);
	expect(f, want, "SELECT message FROM stages WHERE run_id = %lld",
	    (long long)r2);
	on(f, "evaluate", NULL, 0, 0, close);
	r3 = run(f, v);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r3);
}

/* --- substitution and environment -------------------------------------- */

static void
engine__substitutes_references_and_sets_the_stage_environment(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  params: {epochs: \"10\", lr: \"0.1\"}\n"
	    "  defaults: {image: \"alpine:3.20\", env: {MODE: fast}}\n"
	    "  stages:\n"
	    "    - {name: prep, command: [\"true\"]}\n"
	    "    - name: train\n"
	    "      needs: [prep]\n"
	    "      command: [\"train\", \"--epochs\", \"${params.epochs}\",\n"
	    "        \"--data\", \"${stages.prep.artifacts.data}\",\n"
	    "        \"--out=/m/${run.id}\", \"${stages.prep.metrics.rows}\"]\n"
	    "      env: {RUN: \"${run.pipeline}@${run.branch}\"}\n";
	struct fake_outcome prep = { .log =
	    "::artifact data=file:///d.csv\n::metric rows=4000\n" };
	int64_t r = run_with(f, versionf(f, yaml, "subst"),
	    "{\"epochs\": \"3\"}");
	const char *name;
	char out[64];

	on(f, "prep", NULL, 0, 0, prep);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	name = job(r, "train", 1);
	assert_string_equal(fake_executor_arg(f->fake, name, 2), "3");
	assert_string_equal(fake_executor_arg(f->fake, name, 4),
	    "file:///d.csv");
	(void)snprintf(out, sizeof(out), "--out=/m/%lld", (long long)r);
	assert_string_equal(fake_executor_arg(f->fake, name, 5), out);
	assert_string_equal(fake_executor_arg(f->fake, name, 6), "4000");
	(void)snprintf(out, sizeof(out), "%lld", (long long)r);
	assert_string_equal(fake_executor_env(f->fake, name, "SLUICE_RUN_ID"),
	    out);
	assert_string_equal(fake_executor_env(f->fake, name, "SLUICE_STAGE"),
	    "train");
	assert_string_equal(fake_executor_env(f->fake, name, "SLUICE_ATTEMPT"),
	    "1");
	assert_string_equal(fake_executor_env(f->fake, name, "SLUICE_COMMIT"),
	    sha_of(f->ncommits));
	assert_string_equal(fake_executor_env(f->fake, name,
	    "SLUICE_PIPELINE"), "subst");
	assert_string_equal(fake_executor_env(f->fake, name,
	    "SLUICE_PARAM_EPOCHS"), "3");
	assert_string_equal(fake_executor_env(f->fake, name,
	    "SLUICE_PARAM_LR"), "0.1");
	assert_string_equal(fake_executor_env(f->fake, name, "MODE"), "fast");
	assert_string_equal(fake_executor_env(f->fake, name, "RUN"),
	    "subst@main");
	assert_null(fake_executor_env(f->fake, name, "SLUICE_CANARY_WEIGHT"));
	/* what was submitted is on record, after substitution */
	expect(f, "3", "SELECT spec->'command'->>2 FROM stage_attempts WHERE "
	    "job_name = '%s'", name);
}

static void
engine__a_missing_artifact_fails_the_stage_without_running_it(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"]}\n"
	    "    - name: evaluate\n"
	    "      needs: [train]\n"
	    "      command: [\"eval\", \"${stages.train.artifacts.model}\"]\n";
	int64_t r = run(f, versionf(f, yaml, "missing"));

	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "cannot start: stage 'train' reported no artifact 'model'",
	    "SELECT message FROM stages WHERE run_id = %lld AND name = "
	    "'evaluate'", (long long)r);
	assert_int_equal(fake_executor_starts(f->fake,
	    job(r, "evaluate", 1)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(engine__runs_a_dag_in_order_with_parallel_branches),
		T(engine__a_failed_stage_skips_its_dependents_and_fails_the_run),
		T(engine__retries_a_failed_attempt_after_a_backoff),
		T(engine__a_stage_out_of_retries_fails_with_the_last_message),
		T(engine__a_timeout_fails_the_attempt),
		T(engine__an_executor_timeout_fails_the_stage_with_its_message),
		T(engine__stores_metrics_and_artifacts_and_passes_gates),
		T(engine__a_failed_gate_fails_the_stage_naming_the_metric),
		T(engine__a_missing_gate_metric_fails_the_stage),
		T(engine__baseline_compares_with_the_last_successful_run),
		T(engine__substitutes_references_and_sets_the_stage_environment),
		T(engine__a_missing_artifact_fails_the_stage_without_running_it),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
