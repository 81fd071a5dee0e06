/*
 * test_engine.c - the run engine against a real PostgreSQL with the fake
 * executor: DAG order and parallelism, failure propagation, retries,
 * timeouts, gates and baselines, model registration, canary approve /
 * reject / analysis / expiry / rollback, cancel, retry from the failed
 * stage, concurrency, the GPU cap, restarts, events and wake-ups; one
 * rollout per target (queue, supersede, woken by the lease's release) and
 * the rollout actions promote-full, abort, pause and resume with the
 * states they do not apply to.
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

#include "base/cfg.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"
#include "store/db.h"
#include "store/store_approval.h"
#include "store/store_commit.h"
#include "store/store_pipeline.h"
#include "store/store_rollout.h"
#include "store/store_run.h"
#include "fake_executor.h"
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
	int64_t			 log_cap;	/* logs.max_bytes, 0: default */
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
		.log_max_bytes = f->log_cap,
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

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
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
 * Tick until the query answers want, failing with the last answer after
 * 60 s (a bound against a hang on a loaded machine, not a measure; a pass
 * may have to wait for a backoff or a window).  The first passes follow
 * each other at once; then the pauses between passes grow to 50 ms, so
 * that a 1 s window costs a few dozen passes rather than a hundred.
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
	int64_t end = sys_now_ms() + 60000;
	int pause = 5;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	for (int i = 0;; i++) {
		free(v);
		v = testdb_value(&f->t, sql);
		if (v != NULL && strcmp(v, want) == 0) {
			free(v);
			return;
		}
		if (sys_now_ms() > end)
			break;
		tick(f);
		if (i > 20) {
			sleep_ms(pause);
			pause = pause * 2 < 50 ? pause * 2 : 50;
		}
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


/* --- canary ------------------------------------------------------------- */

static const char canary_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: train, command: [\"true\"]}\n"
    "    - name: evaluate\n"
    "      needs: [train]\n"
    "      command: [\"true\"]\n"
    "      gates:\n"
    "        - {metric: auc, op: \">=\", baseline: production, "
    "tolerance: 0.01}\n"
    "    - name: rollout\n"
    "      needs: [evaluate]\n"
    "      type: canary\n"
    "      command: [\"rollout\", \"--model\", "
    "\"${stages.train.artifacts.model}\"]\n"
    "      canary:\n"
    "        target: api\n"
    "        steps:\n"
    "          - {weight: 10, analysis: {duration: 1s, gates: "
    "[{metric: error_rate, op: \"<=\", value: 0.05}]}}\n"
    "          - {weight: 50, approval: required}\n"
    "          - {weight: 100, approval: required}\n"
    "        approval_timeout: 1h\n"
    "        rollback_command: [\"rollout\", \"--abort\"]\n";

/* Outcomes of a healthy canary run whose model is uri. */
static void
canary_rules(struct fx *f, const char *uri, const char *auc)
{
	static char train[8][128], eval[8][64];
	static int n;
	struct fake_outcome t = { 0 }, e = { 0 };
	struct fake_outcome step = { .log = "::metric error_rate=0.01\n" };

	(void)snprintf(train[n % 8], sizeof(train[0]),
	    "::artifact model=%s\n", uri);
	(void)snprintf(eval[n % 8], sizeof(eval[0]), "::metric auc=%s\n", auc);
	t.log = train[n % 8];
	e.log = eval[n % 8];
	n++;
	on(f, "train", NULL, 0, 0, t);
	on(f, "evaluate", NULL, 0, 0, e);
	on(f, "rollout", "canary_step", 0, 0, step);
}

static int64_t
approval_id(struct fx *f, int64_t r, int step)
{
	char *v = q(f, "SELECT id FROM approvals WHERE run_id = %lld AND "
	    "step = %d", (long long)r, step);
	int64_t id;

	assert_non_null(v);
	id = strtoll(v, NULL, 10);
	free(v);
	return id;
}

static void
decide(struct fx *f, int64_t id, int approve, const char *who,
    const char *comment)
{
	struct err err;

	if (store_approval_decide(f->db, id, approve, who, comment, &err) < 0)
		fail_msg("decide: %s", err.msg);
}

/* Run r to its approval of step 2. */
static void
to_first_approval(struct fx *f, int64_t r)
{
	tick_until(f, "waiting_approval", "SELECT status FROM runs WHERE "
	    "id = %lld", (long long)r);
	expect(f, "pending|50|api", "SELECT status || '|' || weight || '|' || "
	    "target FROM approvals WHERE run_id = %lld AND step = 2",
	    (long long)r);
}

static void
engine__canary_steps_wait_for_approvals_then_promote(void **state)
{
	struct fx *f = *state;
	int64_t v = versionf(f, canary_yaml, "canary");
	int64_t r = run(f, v), r2, a2, a3;
	struct err err;
	const char *s1;

	canary_rules(f, "s3://m/1", "0.9");
	to_first_approval(f, r);
	expect(f, "waiting_approval|waiting for approval of step 2 (weight 50)",
	    "SELECT status || '|' || waiting_reason FROM stages WHERE "
	    "run_id = %lld AND name = 'rollout'", (long long)r);
	expect(f, "waiting_approval|2|50", "SELECT status || '|' || "
	    "current_step || '|' || current_weight FROM rollouts WHERE "
	    "run_id = %lld", (long long)r);
	expect(f, "1:10:succeeded,2:50:succeeded", "SELECT string_agg(step || "
	    "':' || weight || ':' || a.status, ',' ORDER BY step) FROM "
	    "stage_attempts a JOIN stages s ON s.id = a.stage_id WHERE "
	    "s.run_id = %lld AND a.kind = 'canary_step'", (long long)r);
	/* step 1's Job: its weight, step, target, no previous model */
	s1 = step_job(f, r, "rollout", 1);
	assert_string_equal(fake_executor_env(f->fake, s1,
	    "SLUICE_CANARY_WEIGHT"), "10");
	assert_string_equal(fake_executor_env(f->fake, s1,
	    "SLUICE_CANARY_STEP"), "1");
	assert_string_equal(fake_executor_env(f->fake, s1,
	    "SLUICE_CANARY_TARGET"), "api");
	assert_string_equal(fake_executor_env(f->fake, s1,
	    "SLUICE_PREVIOUS_MODEL"), "");
	assert_string_equal(fake_executor_arg(f->fake, s1, 2), "s3://m/1");
	expect(f, "candidate|api", "SELECT status || '|' || target FROM "
	    "model_versions WHERE run_id = %lld", (long long)r);
	/* step 3 does not start before the approval */
	assert_int_equal(fake_executor_starts(f->fake,
	    step_job(f, r, "rollout", 3)), 0);
	a2 = approval_id(f, r, 2);
	decide(f, a2, 1, "alice", "looks good");
	assert_int_equal(store_approval_decide(f->db, a2, 0, "bob", NULL, &err),
	    ERR_CONFLICT);
	assert_int_equal(store_approval_decide(f->db, 999999, 1, "bob", NULL,
	    &err), ERR_NOTFOUND);
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 3", (long long)r);
	a3 = approval_id(f, r, 3);
	decide(f, a3, 1, "bob", NULL);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "production|true", "SELECT status || '|' || (promoted_at IS NOT "
	    "NULL) FROM model_versions WHERE run_id = %lld", (long long)r);
	expect(f, "succeeded|3|100", "SELECT status || '|' || current_step || "
	    "'|' || current_weight FROM rollouts WHERE run_id = %lld",
	    (long long)r);
	/* who approved, when, and why, are kept */
	expect(f, "approved|alice|looks good|true", "SELECT status || '|' || "
	    "decided_by || '|' || comment || '|' || (decided_at IS NOT NULL) "
	    "FROM approvals WHERE id = %lld", (long long)a2);
	expect(f, "1", "SELECT count(*) FROM events WHERE entity_type = "
	    "'approval' AND entity_id = %lld AND actor = 'alice' AND to_state "
	    "= 'approved'", (long long)a2);

	/* the next run replaces it: previous model given, old one retired */
	canary_rules(f, "s3://m/2", "0.95");
	r2 = run(f, v);
	to_first_approval(f, r2);
	assert_string_equal(fake_executor_env(f->fake,
	    step_job(f, r2, "rollout", 1), "SLUICE_PREVIOUS_MODEL"),
	    "s3://m/1");
	decide(f, approval_id(f, r2, 2), 1, "alice", NULL);
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 3", (long long)r2);
	decide(f, approval_id(f, r2, 3), 1, "alice", NULL);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	expect(f, "retired,production", "SELECT string_agg(status, ',' ORDER "
	    "BY version) FROM model_versions WHERE target = 'api'");
}

static void
engine__baseline_compares_with_the_production_model(void **state)
{
	struct fx *f = *state;
	int64_t v = versionf(f, canary_yaml, "prod-baseline");
	int64_t r = run(f, v), r2;
	char want[300];

	canary_rules(f, "s3://m/1", "0.9");
	to_first_approval(f, r);
	decide(f, approval_id(f, r, 2), 1, "alice", NULL);
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 3", (long long)r);
	decide(f, approval_id(f, r, 3), 1, "alice", NULL);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	canary_rules(f, "s3://m/2", "0.85");
	r2 = run(f, v);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	(void)snprintf(want, sizeof(want), "gate failed: auc = 0.85 is not >= "
	    "0.89 (baseline 0.9 from production model prod-baseline v1 (run "
	    "%lld), tolerance 0.01)", (long long)r);
	expect(f, want, "SELECT message FROM stages WHERE run_id = %lld AND "
	    "name = 'evaluate'", (long long)r2);
	expect(f, "skipped", "SELECT status FROM stages WHERE run_id = %lld "
	    "AND name = 'rollout'", (long long)r2);
	/*
	 * production is unchanged; the failed run's model carries the
	 * verdict: rejected, with the gate's message as the reason
	 */
	expect(f, "production,rejected", "SELECT string_agg(status, ',' "
	    "ORDER BY version) FROM model_versions");
	expect(f, "gate failed: auc = 0.85 is not >= 0.89 (baseline 0.9 from "
	    "production model prod-baseline v1 (run 1), tolerance 0.01)",
	    "SELECT rejected_reason FROM model_versions WHERE run_id = %lld",
	    (long long)r2);
}

static void
engine__a_rejected_approval_rolls_back_and_fails_the_stage(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, canary_yaml, "reject"));
	const char *rb;

	canary_rules(f, "s3://m/1", "0.9");
	to_first_approval(f, r);
	decide(f, approval_id(f, r, 2), 0, "carol", "too risky");
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	rb = "sluice-1-rollout-1-rb";
	expect(f, "rollback|0|succeeded", "SELECT kind || '|' || weight || '|' "
	    "|| status FROM stage_attempts WHERE job_name = '%s'", rb);
	assert_string_equal(fake_executor_env(f->fake, rb,
	    "SLUICE_CANARY_WEIGHT"), "0");
	assert_string_equal(fake_executor_arg(f->fake, rb, 1), "--abort");
	expect(f, "failed|approval of step 2 (weight 50) rejected by carol: "
	    "too risky; rolled back", "SELECT status || '|' || message FROM "
	    "stages WHERE run_id = %lld AND name = 'rollout'", (long long)r);
	expect(f, "rolled_back", "SELECT status FROM rollouts WHERE run_id = "
	    "%lld", (long long)r);
	expect(f, "rejected", "SELECT status FROM model_versions WHERE run_id = "
	    "%lld", (long long)r);
	expect(f, "rejected|carol|too risky", "SELECT status || '|' || "
	    "decided_by || '|' || comment FROM approvals WHERE run_id = %lld",
	    (long long)r);
	assert_int_equal(fake_executor_starts(f->fake,
	    step_job(f, r, "rollout", 3)), 0);
}

static void
engine__a_failed_analysis_rolls_back(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, canary_yaml, "analysis"));
	struct fake_outcome bad = { .log = "::metric error_rate=0.2\n" };

	canary_rules(f, "s3://m/1", "0.9");
	on(f, "rollout", "canary_step", 0, 1, bad);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "analysis of step 1 (weight 10) failed: gate failed: "
	    "error_rate = 0.2 is not <= 0.05; rolled back", "SELECT message "
	    "FROM stages WHERE run_id = %lld AND name = 'rollout'",
	    (long long)r);
	assert_int_equal(fake_executor_starts(f->fake,
	    step_job(f, r, "rollout", 2)), 0);
	assert_int_equal(fake_executor_starts(f->fake, "sluice-1-rollout-1-rb"),
	    1);
}

static void
engine__a_failed_step_rolls_back(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, canary_yaml, "step-fails"));
	struct fake_outcome bad = { .state = EXEC_FAILED, .exit_code = 4 };

	canary_rules(f, "s3://m/1", "0.9");
	on(f, "rollout", "canary_step", 0, 1, bad);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "step 1 (weight 10) failed: exit status 4; rolled back",
	    "SELECT message FROM stages WHERE run_id = %lld AND name = "
	    "'rollout'", (long long)r);
	expect(f, "stage 'rollout' failed: step 1 (weight 10) failed: exit "
	    "status 4; rolled back", "SELECT message FROM runs WHERE id = %lld",
	    (long long)r);
}

static void
engine__an_approval_expires_and_rolls_back(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, canary_yaml, "expiry")), a;
	struct err err;

	canary_rules(f, "s3://m/1", "0.9");
	to_first_approval(f, r);
	a = approval_id(f, r, 2);
	/* an hour passes */
	assert_int_equal(testdb_sql(&f->t, "UPDATE approvals SET requested_at "
	    "= requested_at - interval '2 hours', expires_at = expires_at - "
	    "interval '1 hour 1 minute'"), 0);
	assert_int_equal(store_approval_decide(f->db, a, 1, "late", NULL, &err),
	    ERR_CONFLICT);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "expired|true|true", "SELECT status || '|' || (decided_by IS NULL) "
	    "|| '|' || (decided_at IS NOT NULL) FROM approvals WHERE id = %lld",
	    (long long)a);
	expect(f, "approval of step 2 (weight 50) expired after 1h; rolled "
	    "back", "SELECT message FROM stages WHERE run_id = %lld AND name = "
	    "'rollout'", (long long)r);
	assert_int_equal(store_approval_decide(f->db, a, 1, "late", NULL, &err),
	    ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "already expired"));
}

/* --- cancel and retry ------------------------------------------------- */

static void
engine__cancel_stops_running_stages_and_cancels_the_run(void **state)
{
	struct fx *f = *state;
	struct fake_outcome manual = { .manual = 1 };
	int64_t r = run(f, versionf(f, dag_yaml, "cancel"));
	struct err err;

	on(f, NULL, NULL, 0, 0, manual);
	tick(f);
	tick(f);
	expect(f, "running", "SELECT status FROM stage_attempts WHERE job_name "
	    "= '%s'", job(r, "a", 1));
	assert_int_equal(store_run_request_cancel(f->db, r, "alice", &err), 0);
	/* asking twice is fine */
	assert_int_equal(store_run_request_cancel(f->db, r, "alice", &err), 0);
	tick_until(f, "canceled", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	assert_int_equal(fake_executor_cancels(f->fake, job(r, "a", 1)), 1);
	expect(f, "canceled,canceled,canceled,canceled",
	    "SELECT string_agg(status, ',' ORDER BY position) FROM stages "
	    "WHERE run_id = %lld", (long long)r);
	expect(f, "canceled", "SELECT status FROM stage_attempts WHERE "
	    "job_name = '%s'", job(r, "a", 1));
	expect(f, "canceled by alice", "SELECT message FROM runs WHERE id = "
	    "%lld", (long long)r);
	expect(f, "alice", "SELECT actor FROM events WHERE entity_type = 'run' "
	    "AND action = 'cancel_requested' AND entity_id = %lld",
	    (long long)r);
	assert_int_equal(store_run_request_cancel(f->db, r, "alice", &err),
	    ERR_CONFLICT);
	assert_int_equal(store_run_request_cancel(f->db, 424242, "alice",
	    &err), ERR_NOTFOUND);
}

static void
engine__cancel_of_a_queued_run_is_immediate(void **state)
{
	struct fx *f = *state;
	struct fake_outcome manual = { .manual = 1 };
	int64_t v = versionf(f, dag_yaml, "cancel-queued");
	int64_t r1 = run(f, v), r2 = run(f, v);
	struct err err;

	on(f, NULL, NULL, 0, 0, manual);
	tick(f);
	expect(f, "queued", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	assert_int_equal(store_run_request_cancel(f->db, r2, "bob", &err), 0);
	expect(f, "canceled|canceled before it started", "SELECT status || '|' "
	    "|| message FROM runs WHERE id = %lld", (long long)r2);
	expect(f, "4", "SELECT count(*) FROM stages WHERE run_id = %lld AND "
	    "status = 'canceled'", (long long)r2);
	tick(f);
	expect(f, "running", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r1);
}

static void
engine__cancel_during_a_canary_rolls_back(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, canary_yaml, "cancel-canary"));
	struct err err;

	canary_rules(f, "s3://m/1", "0.9");
	to_first_approval(f, r);
	assert_int_equal(store_run_request_cancel(f->db, r, "dave", &err), 0);
	tick_until(f, "canceled", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "rejected|dave|run canceled", "SELECT status || '|' || "
	    "decided_by || '|' || comment FROM approvals WHERE run_id = %lld",
	    (long long)r);
	expect(f, "succeeded", "SELECT status FROM stage_attempts WHERE "
	    "job_name = 'sluice-1-rollout-1-rb'");
	expect(f, "canceled|run canceled; rolled back", "SELECT status || '|' "
	    "|| message FROM stages WHERE run_id = %lld AND name = 'rollout'",
	    (long long)r);
	expect(f, "rejected", "SELECT status FROM model_versions WHERE "
	    "run_id = %lld", (long long)r);
}

static const char retry_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: prep, command: [\"true\"]}\n"
    "    - name: train\n"
    "      needs: [prep]\n"
    "      command: [\"train\", \"${stages.prep.artifacts.data}\"]\n"
    "    - {name: evaluate, needs: [train], command: [\"true\"]}\n";

static void
engine__retry_reuses_succeeded_stages_and_starts_at_the_failed_one(
    void **state)
{
	struct fx *f = *state;
	struct fake_outcome prep = { .log = "::artifact data=file:///d1\n" };
	struct fake_outcome fails = { .state = EXEC_FAILED };
	struct fake_outcome ok = { .state = EXEC_SUCCEEDED };
	int64_t r1 = run_with(f, versionf(f, retry_yaml, "retry-run"),
	    "{\"k\": \"v\"}"), r2, r3;
	struct err err;
	char want[256];

	on(f, "prep", NULL, 0, 0, prep);
	on(f, "train", NULL, 0, 0, fails);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r1);
	assert_int_equal(store_run_retry(f->db, 424242, "erin", &r2, &err),
	    ERR_NOTFOUND);
	assert_int_equal(store_run_retry(f->db, r1, "erin", &r2, &err), 0);
	(void)snprintf(want, sizeof(want), "retry|%lld|erin|true|true|true",
	    (long long)r1);
	expect(f, want, "SELECT c.trigger || '|' || c.parent_run_id || '|' || "
	    "c.created_by || '|' || (c.pipeline_version_id = p.pipeline_version_id)"
	    " || '|' || (c.commit_id = p.commit_id) || '|' || (c.params = "
	    "p.params) FROM runs c JOIN runs p ON p.id = c.parent_run_id WHERE "
	    "c.id = %lld", (long long)r2);
	expect(f, "prep:succeeded:true,train:pending:false,"
	    "evaluate:pending:false", "SELECT string_agg(s.name || ':' || "
	    "s.status || ':' || (s.reused_from_stage_id IS NOT DISTINCT FROM "
	    "p.id AND s.reused_from_stage_id IS NOT NULL)::text, ',' ORDER BY "
	    "s.position) "
	    "FROM stages s LEFT JOIN stages p ON p.run_id = %lld AND p.name = "
	    "s.name WHERE s.run_id = %lld", (long long)r1, (long long)r2);
	on(f, "train", NULL, 0, 0, ok);
	on(f, "evaluate", NULL, 0, 0, fails);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	/* prep did not run again; train read the parent's artifact */
	assert_int_equal(fake_executor_starts(f->fake, job(r2, "prep", 1)), 0);
	assert_string_equal(fake_executor_arg(f->fake, job(r2, "train", 1), 1),
	    "file:///d1");
	/* a retry of the retry reuses what ran, wherever it ran */
	assert_int_equal(store_run_retry(f->db, r2, "erin", &r3, &err), 0);
	expect(f, "prep:1,train:2", "SELECT string_agg(s.name || ':' || "
	    "(SELECT run_id FROM stages o WHERE o.id = s.reused_from_stage_id), "
	    "',' ORDER BY s.position) FROM stages s WHERE s.run_id = %lld AND "
	    "s.status = 'succeeded'", (long long)r3);
	on(f, "evaluate", NULL, 0, 0, ok);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r3);
	assert_int_equal(store_run_retry(f->db, r3, "erin", &r2, &err),
	    ERR_CONFLICT);
}

/* --- concurrency and caps --------------------------------------------- */

static const char one_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: work, command: [\"true\"]}\n";

static void
engine__pipeline_concurrency_queues_runs_in_order(void **state)
{
	struct fx *f = *state;
	struct fake_outcome manual = { .manual = 1 };
	int64_t v = versionf(f, one_yaml, "serial");
	int64_t other = versionf(f, one_yaml, "other");
	int64_t r1 = run(f, v), r2 = run(f, v), r3 = run(f, v), r4;

	on(f, NULL, NULL, 0, 0, manual);
	tick(f);
	tick(f);
	expect(f, "running,queued,queued", "SELECT string_agg(status, ',' "
	    "ORDER BY id) FROM runs WHERE id IN (%lld, %lld, %lld)",
	    (long long)r1, (long long)r2, (long long)r3);
	/* another pipeline is not held back */
	r4 = run(f, other);
	tick(f);
	expect(f, "running", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r4);
	assert_int_equal(fake_executor_finish(f->fake, job(r1, "work", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick_until(f, "running", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	expect(f, "succeeded,running,queued", "SELECT string_agg(status, ',' "
	    "ORDER BY id) FROM runs WHERE id IN (%lld, %lld, %lld)",
	    (long long)r1, (long long)r2, (long long)r3);
}

static const char gpu_yaml[] = HEAD
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: train, command: [\"true\"], resources: {gpu: %d}}\n";

static int64_t
gpu_version(struct fx *f, const char *name, int gpus)
{
	char yaml[1024], tmpl[1024];
	const char *mark = strstr(gpu_yaml, "%d");

	(void)snprintf(tmpl, sizeof(tmpl), "%.*s%d%s", (int)(mark - gpu_yaml),
	    gpu_yaml, gpus, mark + 2);
	(void)snprintf(yaml, sizeof(yaml), "%s", tmpl);
	return versionf(f, yaml, name);
}

static void
engine__the_gpu_cap_is_first_in_first_out(void **state)
{
	struct fx *f = *state;
	static const char *const env[] = { "SLUICE_KUBERNETES_MAX_GPUS=4",
	    NULL };
	struct fake_outcome manual = { .manual = 1 };
	int64_t big, two, one, cpu, huge;
	char want[256];

	configure(f, env);
	on(f, NULL, NULL, 0, 0, manual);
	big = run(f, gpu_version(f, "big", 3));
	tick(f);
	two = run(f, gpu_version(f, "two", 2));
	one = run(f, gpu_version(f, "one", 1));
	cpu = run(f, gpu_version(f, "cpu", 0));
	tick(f);
	tick(f);
	assert_int_equal(fake_executor_starts(f->fake, job(big, "train", 1)),
	    1);
	/* two does not fit; one would, but it is younger: it waits too */
	assert_int_equal(fake_executor_starts(f->fake, job(two, "train", 1)),
	    0);
	assert_int_equal(fake_executor_starts(f->fake, job(one, "train", 1)),
	    0);
	/* a stage needing no GPU is not held back */
	assert_int_equal(fake_executor_starts(f->fake, job(cpu, "train", 1)),
	    1);
	expect(f, "waiting for 2 GPUs (3 of kubernetes.max_gpus 4 in use)",
	    "SELECT waiting_reason FROM stages WHERE run_id = %lld",
	    (long long)two);
	(void)snprintf(want, sizeof(want), "waiting for GPUs behind stage "
	    "'train' of run %lld", (long long)two);
	expect(f, want, "SELECT waiting_reason FROM stages WHERE run_id = %lld",
	    (long long)one);
	expect(f, "3", "SELECT sum(gpus) FROM stage_attempts WHERE status IN "
	    "('pending', 'submitted', 'running')");
	assert_int_equal(fake_executor_finish(f->fake, job(big, "train", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick_until(f, "running", "SELECT status FROM stage_attempts WHERE "
	    "job_name = '%s'", job(one, "train", 1));
	assert_int_equal(fake_executor_starts(f->fake, job(two, "train", 1)),
	    1);
	expect(f, "3", "SELECT sum(gpus) FROM stage_attempts WHERE status IN "
	    "('pending', 'submitted', 'running')");
	/* more than the cap can never run */
	huge = run(f, gpu_version(f, "huge", 5));
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)huge);
	expect(f, "cannot start: needs 5 GPUs, more than kubernetes.max_gpus "
	    "(4)", "SELECT message FROM stages WHERE run_id = %lld",
	    (long long)huge);
}

static void
engine__nodes_beyond_max_nodes_fail_and_gpus_count_per_node(void **state)
{
	struct fx *f = *state;
	static const char *const env[] = { "SLUICE_MAX_NODES=2",
	    "SLUICE_KUBERNETES_MAX_GPUS=4", NULL };
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"], nodes: %d, "
	    "resources: {gpu: 2}}\n";
	struct fake_outcome manual = { .manual = 1 };
	char text[1024];
	int64_t fits, wide;

	configure(f, env);
	on(f, NULL, NULL, 0, 0, manual);
	/* 2 nodes of 2 GPUs: 4 GPUs held at once, within both caps */
	(void)snprintf(text, sizeof(text), yaml, "%s", 2);
	fits = run(f, versionf(f, text, "fits"));
	tick_until(f, "running", "SELECT status FROM stage_attempts WHERE "
	    "job_name = '%s'", job(fits, "train", 1));
	expect(f, "4", "SELECT sum(gpus) FROM stage_attempts WHERE status IN "
	    "('pending', 'submitted', 'running')");
	/* 3 nodes: more than max_nodes, the stage fails at once */
	(void)snprintf(text, sizeof(text), yaml, "%s", 3);
	wide = run(f, versionf(f, text, "wide"));
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)wide);
	expect(f, "cannot start: needs 3 nodes, more than max_nodes (2)",
	    "SELECT message FROM stages WHERE run_id = %lld", (long long)wide);
	assert_int_equal(fake_executor_submits(f->fake, job(wide, "train", 1)),
	    0);
}

static void
engine__max_parallel_stages_caps_attempts_across_runs(void **state)
{
	struct fx *f = *state;
	static const char *const env[] = { "SLUICE_MAX_PARALLEL_STAGES=2",
	    NULL };
	static const char yaml[] = HEAD
	    "  concurrency: 0\n"
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: a, command: [\"true\"]}\n"
	    "    - {name: b, command: [\"true\"]}\n"
	    "    - {name: c, command: [\"true\"]}\n";
	struct fake_outcome manual = { .manual = 1 };
	int64_t v, r1, r3;

	configure(f, env);
	on(f, NULL, NULL, 0, 0, manual);
	v = versionf(f, yaml, "wide");
	r1 = run(f, v);
	(void)run(f, v);
	r3 = run(f, v);
	tick(f);
	tick(f);
	assert_int_equal(fake_executor_count(f->fake), 2);
	expect(f, "waiting for a free slot (max_parallel_stages 2)",
	    "SELECT waiting_reason FROM stages WHERE run_id = %lld AND name = "
	    "'c'", (long long)r1);
	/* no room left: the third run waits in the queue */
	expect(f, "queued", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r3);
	assert_int_equal(fake_executor_finish(f->fake, job(r1, "a", 1),
	    EXEC_SUCCEEDED, 0, NULL), 0);
	tick_until(f, "submitted", "SELECT status FROM stages WHERE run_id = "
	    "%lld AND name = 'c'", (long long)r1);
	assert_int_equal(fake_executor_count(f->fake), 3);
	expect(f, "2", "SELECT count(*) FROM stage_attempts WHERE status IN "
	    "('pending', 'submitted', 'running')");
}

/* --- kept logs ----------------------------------------------------------- */

/* The kept log of node `node` of an attempt as text. */
static char *
kept_node_log(struct fx *f, const char *jobname, int node)
{
	return q(f, "SELECT coalesce(convert_from(string_agg(c.data, ''::bytea"
	    " ORDER BY c.pos), 'UTF8'), '') FROM stage_attempts a"
	    " LEFT JOIN attempt_log_chunks c ON c.attempt_id = a.id"
	    " AND c.node = %d WHERE a.job_name = '%s'", node, jobname);
}

static void
expect_kept_node(struct fx *f, const char *jobname, int node,
    const char *want)
{
	char *got = kept_node_log(f, jobname, node);

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("kept log of %s node %d:\n  got:  [%s]\n  want: [%s]",
		    jobname, node, got ? got : "(null)", want);
	free(got);
}

static void
expect_kept(struct fx *f, const char *jobname, const char *want)
{
	expect_kept_node(f, jobname, 0, want);
}

/*
 * Every node of a multi-node attempt has its log kept, complete before
 * release; its outputs are node 0's (each node printed the same metric:
 * it is stored once).
 */
static void
engine__every_node_of_a_multi_node_attempt_is_kept(void **state)
{
	struct fx *f = *state;
	static const char yaml[] = HEAD
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"], nodes: 3}\n";
	struct fake_outcome manual = { .manual = 1 };
	const char *j;
	int64_t r;

	on(f, NULL, NULL, 0, 0, manual);
	r = run(f, versionf(f, yaml, "ranks"));
	j = job(r, "train", 1);
	tick_until(f, "running", "SELECT status FROM stage_attempts");
	assert_int_equal(fake_executor_emit(f->fake, j,
	    "epoch 1\n::metric loss=0.5\n"), 0);
	tick(f);
	expect(f, "0:false,1:false,2:false", "SELECT string_agg(node || ':' ||"
	    " complete, ',' ORDER BY node) FROM attempt_log_heads");
	assert_int_equal(fake_executor_emit(f->fake, j, "done"), 0);
	assert_int_equal(fake_executor_finish(f->fake, j, EXEC_SUCCEEDED, 0,
	    NULL), 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "0:true,1:true,2:true", "SELECT string_agg(node || ':' ||"
	    " complete, ',' ORDER BY node) FROM attempt_log_heads");
	for (int node = 0; node < 3; node++)
		expect_kept_node(f, j, node, "epoch 1\n::metric loss=0.5\n"
		    "done");
	expect(f, "loss=0.5", "SELECT string_agg(name || '=' || value, ',')"
	    " FROM metrics");
}

/* A run of one_yaml whose one attempt runs until finished by hand. */
static int64_t
manual_run(struct fx *f, const char *name, const char **jobname)
{
	struct fake_outcome manual = { .manual = 1 };
	int64_t r = run(f, versionf(f, one_yaml, name));

	on(f, NULL, NULL, 0, 0, manual);
	tick_until(f, "running", "SELECT status FROM stage_attempts");
	*jobname = job(r, "work", 1);
	return r;
}

static void
engine__a_running_log_is_kept_in_whole_lines_across_restarts(void **state)
{
	struct fx *f = *state;
	const char *j;
	int64_t r = manual_run(f, "keep", &j);

	assert_int_equal(fake_executor_emit(f->fake, j,
	    "epoch 1\n::metric loss=0.5\npart"), 0);
	tick(f);
	/* whole lines only: the partial line waits */
	expect_kept(f, j, "epoch 1\n::metric loss=0.5\n");
	expect(f, "0|26|2|false", "SELECT node || '|' || source_offset || '|' ||"
	    " lines || '|' || complete FROM attempt_log_heads");
	expect(f, "loss=0.5@1", "SELECT string_agg(name || '=' || value || '@'"
	    " || source_line, ',') FROM metrics");
	/* the controller restarts with a partial line read but not stored */
	new_engine(f);
	assert_int_equal(fake_executor_emit(f->fake, j,
	    "ial\n::metric loss=0.25\n"), 0);
	tick(f);
	tick(f);
	expect_kept(f, j, "epoch 1\n::metric loss=0.5\npartial\n"
	    "::metric loss=0.25\n");
	new_engine(f);
	/* the last line has no newline: kept when the attempt ends */
	assert_int_equal(fake_executor_emit(f->fake, j, "::metric auc=0.9"),
	    0);
	assert_int_equal(fake_executor_finish(f->fake, j, EXEC_FAILED, 3,
	    NULL), 0);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect_kept(f, j, "epoch 1\n::metric loss=0.5\npartial\n"
	    "::metric loss=0.25\n::metric auc=0.9");
	expect(f, "true|5|0", "SELECT complete || '|' || lines || '|' || dropped"
	    " FROM attempt_log_heads");
	/* every value once, with the line it came from */
	expect(f, "loss=0.5@1,loss=0.25@3,auc=0.9@4", "SELECT string_agg(name"
	    " || '=' || value || '@' || source_line, ',' ORDER BY source_line)"
	    " FROM metrics");
	assert_int_equal(fake_executor_releases(f->fake, j), 1);
}

static void
engine__an_attempt_is_released_only_once_its_log_is_complete(void **state)
{
	struct fx *f = *state;
	struct fake_outcome once = { .polls = 1,
	    .log = "::metric x=1\n::artifact model=s3://m/1\n" };
	int64_t r = run(f, versionf(f, one_yaml, "complete"));
	const char *j = job(r, "work", 1);

	on(f, NULL, NULL, 0, 0, once);
	tick_until(f, "running", "SELECT status FROM stage_attempts");
	/* the executor cannot give the log for a while */
	fake_executor_fail_logs(f->fake, 1000);
	for (int i = 0; i < 20; i++)
		tick(f);
	assert_int_equal(fake_executor_state(f->fake, j), EXEC_SUCCEEDED);
	expect(f, "running", "SELECT status FROM stage_attempts");
	assert_int_equal(fake_executor_releases(f->fake, j), 0);
	fake_executor_fail_logs(f->fake, 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "t", "SELECT complete FROM attempt_log_heads");
	expect_kept(f, j, "::metric x=1\n::artifact model=s3://m/1\n");
	expect(f, "1", "SELECT count(*) FROM metrics");
	/* the model artifact was read back for registration */
	expect(f, "1", "SELECT count(*) FROM model_versions");
	assert_int_equal(fake_executor_releases(f->fake, j), 1);
}

static void
engine__a_log_past_the_cap_ends_with_a_marker_and_is_still_parsed(
    void **state)
{
	struct fx *f = *state;
	int64_t r;
	const char *j;
	char line[64], *v;

	f->log_cap = 100;
	new_engine(f);
	r = manual_run(f, "capped", &j);
	for (int i = 0; i < 40; i++) {
		(void)snprintf(line, sizeof(line), "line %02d\n", i);
		assert_int_equal(fake_executor_emit(f->fake, j, line), 0);
		if (i % 7 == 0)
			tick(f);
	}
	assert_int_equal(fake_executor_emit(f->fake, j,
	    "::metric late=7\n"), 0);
	assert_int_equal(fake_executor_finish(f->fake, j, EXEC_SUCCEEDED, 0,
	    NULL), 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	/* 12 whole lines of 8 bytes fit in 100; 28 lines and the metric not */
	v = kept_node_log(f, j, 0);
	assert_non_null(v);
	assert_non_null(strstr(v, "line 11\n[sluice] log truncated at 100B: "
	    "240 more bytes not kept\n"));
	assert_null(strstr(v, "line 12"));
	free(v);
	expect(f, "true|240|41", "SELECT complete || '|' || dropped || '|' ||"
	    " lines FROM attempt_log_heads");
	expect(f, "late=7@40", "SELECT string_agg(name || '=' || value || '@'"
	    " || source_line, ',') FROM metrics");
}

static void
engine__a_new_log_source_is_marked_and_read_from_its_start(void **state)
{
	struct fx *f = *state;
	const char *j;
	int64_t r = manual_run(f, "evicted", &j);

	assert_int_equal(fake_executor_emit(f->fake, j, "first pod\n"), 0);
	tick(f);
	expect_kept(f, j, "first pod\n");
	/* evicted: a new pod prints from its start */
	assert_int_equal(fake_executor_new_source(f->fake, j, "work-pod-2",
	    "second pod\n::metric x=2\n"), 0);
	tick(f);
	tick(f);
	assert_int_equal(fake_executor_finish(f->fake, j, EXEC_SUCCEEDED, 0,
	    NULL), 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect_kept(f, j, "first pod\n[sluice] now reading pod work-pod-2\n"
	    "second pod\n::metric x=2\n");
	expect(f, "work-pod-2|24|true", "SELECT source || '|' || source_offset"
	    " || '|' || complete FROM attempt_log_heads");
	/* the new pod's lines go on numbering the attempt's lines */
	expect(f, "x=2@2", "SELECT string_agg(name || '=' || value || '@' ||"
	    " source_line, ',') FROM metrics");
}

/* --- restarts, events, wake-ups ---------------------------------------- */

static void
engine__a_restart_at_any_pass_runs_every_attempt_once(void **state)
{
	struct fx *f = *state;
	struct fake_outcome slow = { .polls = 2, .log = "::metric x=1\n" };
	int64_t v = versionf(f, dag_yaml, "restart");
	int64_t r1 = run(f, v), r2 = run(f, v);
	static const char *const stages[] = { "a", "b", "c", "d" };

	on(f, NULL, NULL, 0, 0, slow);
	/* the first submit "crashes": the row is written, the Job not made */
	fake_executor_fail_submits(f->fake, 1, ERR_TRANSIENT);
	for (int i = 0; i < 400; i++) {
		char *s = q(f, "SELECT string_agg(status, ',' ORDER BY id) FROM "
		    "runs");
		int done = s != NULL && strcmp(s, "succeeded,succeeded") == 0;

		free(s);
		if (done)
			break;
		tick(f);
		if (i % 2 == 1)
			new_engine(f);	/* the controller restarts */
	}
	expect(f, "succeeded,succeeded", "SELECT string_agg(status, ',' ORDER "
	    "BY id) FROM runs");
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(fake_executor_starts(f->fake,
		    job(r1, stages[i], 1)), 1);
		assert_int_equal(fake_executor_starts(f->fake,
		    job(r2, stages[i], 1)), 1);
	}
	/* the log was read more than once; each value is stored once */
	expect(f, "8", "SELECT count(*) FROM metrics");
	expect(f, "8", "SELECT count(*) FROM stage_attempts");
}

static void
engine__events_trace_every_transition(void **state)
{
	struct fx *f = *state;
	struct db *listener = testdb_open(&f->t);
	int64_t r = run(f, versionf(f, dag_yaml, "events"));
	struct fake_outcome one_poll = { .polls = 1 };
	char ch[64], payload[512];
	struct err err;
	int stage_events = 0;

	on(f, NULL, NULL, 0, 0, one_poll);
	assert_int_equal(db_listen(listener, "sluice_events", &err), 0);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "created:-:queued,transition:queued:running,"
	    "transition:running:succeeded", "SELECT string_agg(action || ':' || "
	    "coalesce(from_state, '-') || ':' || to_state, ',' ORDER BY id) "
	    "FROM events WHERE entity_type = 'run' AND entity_id = %lld",
	    (long long)r);
	expect(f, "pending>submitted,submitted>running,running>succeeded",
	    "SELECT string_agg("
	    "from_state || '>' || to_state, ',' ORDER BY e.id) FROM events e "
	    "JOIN stages s ON s.id = e.entity_id WHERE e.entity_type = 'stage' "
	    "AND s.name = 'a' AND s.run_id = %lld", (long long)r);
	/* every transition starts where the previous one ended */
	expect(f, "0", "SELECT count(*) FROM (SELECT from_state, lag(to_state) "
	    "OVER (PARTITION BY entity_type, entity_id ORDER BY id) AS prev, "
	    "action FROM events WHERE run_id = %lld) x WHERE action = "
	    "'transition' AND prev IS NOT NULL AND from_state <> prev",
	    (long long)r);
	expect(f, "controller", "SELECT string_agg(DISTINCT actor, ',') FROM "
	    "events WHERE run_id = %lld AND action = 'transition'",
	    (long long)r);
	/* and each run and stage transition was announced */
	for (int i = 0; i < 100; i++) {
		int rc = db_wait_notify(listener, 100, ch, sizeof(ch), payload,
		    sizeof(payload), &err);

		if (rc <= 0)
			break;
		if (strstr(payload, "\"type\" : \"stage\"") != NULL ||
		    strstr(payload, "\"type\": \"stage\"") != NULL)
			stage_events++;
	}
	assert_int_equal(stage_events, 12);
	db_free(listener);
}

static void
engine__the_loop_wakes_on_a_queued_run(void **state)
{
	struct fx *f = *state;
	struct engine_opts o = { .poll_ms = 20, .sweep_ms = 600000 };
	int64_t v = versionf(f, one_yaml, "wake"), r;
	struct err err;
	char *s = NULL;

	engine_set_opts(f->e, &o);
	assert_int_equal(engine_start(f->e, &err), 0);
	sleep_ms(300);		/* idle: the loop now sleeps for the sweep */
	r = run(f, v);		/* NOTIFY sluice_runs from another connection */
	for (int i = 0; i < 200; i++) {
		free(s);
		s = q(f, "SELECT status FROM runs WHERE id = %lld",
		    (long long)r);
		if (s != NULL && strcmp(s, "succeeded") == 0)
			break;
		sleep_ms(50);
	}
	assert_string_equal(s, "succeeded");
	free(s);
	engine_stop(f->e);
}

/* --- one rollout per target and rollout actions ---------------------- */

/*
 * A model trained, then its canary with on_conflict and a first step
 * (its analysis, when any, is the only place timing could matter, so
 * only the test of the analysis clock has one).
 */
#define LEASE_YAML(on_conflict, step1) HEAD                                \
    "  concurrency: 0\n"                                                   \
    "  defaults: {image: \"alpine:3.20\"}\n"                               \
    "  stages:\n"                                                          \
    "    - {name: train, command: [\"true\"]}\n"                           \
    "    - name: rollout\n"                                                \
    "      needs: [train]\n"                                               \
    "      type: canary\n"                                                 \
    "      command: [\"rollout\"]\n"                                       \
    "      canary:\n"                                                      \
    "        target: api\n"                                                \
    "        on_conflict: " on_conflict "\n"                               \
    "        steps:\n"                                                     \
    "          - " step1 "\n"                                              \
    "          - {weight: 50, approval: required}\n"                       \
    "          - {weight: 100, approval: required}\n"                      \
    "        approval_timeout: 1h\n"                                       \
    "        rollback_command: [\"rollout\", \"--abort\"]\n"

static const char lease_queue_yaml[] = LEASE_YAML("queue", "{weight: 10}");
static const char lease_supersede_yaml[] =
    LEASE_YAML("supersede", "{weight: 10}");
static const char lease_clock_yaml[] = LEASE_YAML("queue", "{weight: 10, "
    "analysis: {duration: 1s, gates: [{metric: error_rate, op: \"<=\", "
    "value: 0.05}]}}");

/* Healthy outcomes: a model from train, steps within the gate. */
static void
lease_healthy(struct fx *f)
{
	on(f, "train", NULL, 0, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, 0, (struct fake_outcome){
	    .log = "::metric error_rate=0.01\n" });
}

/* Approve the steps of r left and let it succeed. */
static void
lease_approve_all(struct fx *f, int64_t r)
{
	decide(f, approval_id(f, r, 2), 1, "alice", NULL);
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 3", (long long)r);
	decide(f, approval_id(f, r, 3), 1, "alice", NULL);
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
}

static int
rollout_act(struct fx *f, int64_t r, enum rollout_act a, const char *who,
    const char *comment, struct err *err)
{
	int64_t ro = 0;

	return store_rollout_act(f->db, r, 0, a, who, comment, NULL, &ro, err);
}

/* --- the lease ---------------------------------------------------------- */

static void
lease__a_second_run_queues_until_the_holder_ends(void **state)
{
	struct fx *f = *state;
	int64_t v = versionf(f, lease_queue_yaml, "queue"), r1, r2;
	struct db *ldb = testdb_open(&f->t);
	char want[200], ch[64], payload[64];
	struct err err;
	int woke = 0;

	lease_healthy(f);
	r1 = run(f, v);
	to_first_approval(f, r1);
	expect(f, "api", "SELECT target FROM target_leases");
	r2 = run(f, v);
	(void)snprintf(want, sizeof(want), "pending|target api is being "
	    "rolled out by run %lld", (long long)r1);
	tick_until(f, want, "SELECT status || '|' || coalesce(waiting_reason, "
	    "'') FROM stages WHERE run_id = %lld AND name = 'rollout'",
	    (long long)r2);
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, want, "SELECT status || '|' || waiting_reason FROM stages "
	    "WHERE run_id = %lld AND name = 'rollout'", (long long)r2);
	expect(f, "0", "SELECT count(*) FROM rollouts WHERE run_id = %lld",
	    (long long)r2);
	(void)snprintf(want, sizeof(want), "%lld", (long long)r1);
	expect(f, want, "SELECT run_id FROM target_leases WHERE target = 'api'");

	/* the holder's end releases the lease and NOTIFYs the engine */
	assert_int_equal(db_listen(ldb, "sluice_runs", &err), 0);
	lease_approve_all(f, r1);
	expect(f, "0", "SELECT count(*) FROM target_leases WHERE run_id = %lld",
	    (long long)r1);
	for (int i = 0; i < 200 && !woke; i++)
		if (db_wait_notify(ldb, 50, ch, sizeof(ch), payload,
		    sizeof(payload), &err) == 1 && strcmp(ch, "sluice_runs") == 0
		    && strtoll(payload, NULL, 10) == r1)
			woke = 1;
	assert_true(woke);
	to_first_approval(f, r2);
	(void)snprintf(want, sizeof(want), "%lld", (long long)r2);
	expect(f, want, "SELECT run_id FROM target_leases WHERE target = 'api'");
	expect(f, "t", "SELECT (SELECT started_at FROM rollouts WHERE run_id = "
	    "%lld) >= (SELECT finished_at FROM rollouts WHERE run_id = %lld)",
	    (long long)r2, (long long)r1);
	lease_approve_all(f, r2);
	expect(f, "0", "SELECT count(*) FROM target_leases");
	db_free(ldb);
}

static void
lease__supersede_rolls_the_holder_back_and_expires_its_approval(
    void **state)
{
	struct fx *f = *state;
	int64_t v1 = versionf(f, lease_queue_yaml, "old");
	int64_t v2 = versionf(f, lease_supersede_yaml, "new"), r1, r2;
	char want[300];

	lease_healthy(f);
	r1 = run(f, v1);
	to_first_approval(f, r1);
	r2 = run(f, v2);
	tick_until(f, "rolled_back", "SELECT status FROM rollouts WHERE "
	    "run_id = %lld", (long long)r1);
	(void)snprintf(want, sizeof(want), "expired|superseded by run %lld|true",
	    (long long)r2);
	expect(f, want, "SELECT status || '|' || comment || '|' || "
	    "(decided_by IS NULL) FROM approvals WHERE run_id = %lld",
	    (long long)r1);
	(void)snprintf(want, sizeof(want), "failed|superseded by run %lld; "
	    "rolled back", (long long)r2);
	expect(f, want, "SELECT status || '|' || message FROM stages WHERE "
	    "run_id = %lld AND name = 'rollout'", (long long)r1);
	expect(f, "succeeded", "SELECT a.status FROM stage_attempts a JOIN "
	    "stages s ON s.id = a.stage_id WHERE s.run_id = 1 AND a.kind = "
	    "'rollback'");
	expect(f, "rejected", "SELECT status FROM model_versions WHERE "
	    "run_id = 1");
	/* the one event of the rollback says what caused it */
	(void)snprintf(want, sizeof(want), "controller|superseded by run %lld; "
	    "rolled back|controller|api", (long long)r2);
	expect(f, want, "SELECT actor || '|' || reason || '|' || "
	    "(data->>'caused_by') || '|' || (data->>'target') FROM events "
	    "WHERE entity_type = 'rollout' AND run_id = 1 AND to_state = "
	    "'rolled_back'");
	/* and the new run takes the target after the rollback ended */
	to_first_approval(f, r2);
	expect(f, "t", "SELECT (SELECT started_at FROM rollouts WHERE run_id = "
	    "%lld) >= (SELECT finished_at FROM rollouts WHERE run_id = %lld)",
	    (long long)r2, (long long)r1);
	expect(f, "failed", "SELECT status FROM runs WHERE id = 1");
	lease_approve_all(f, r2);
	expect(f, "0", "SELECT count(*) FROM target_leases");
}

static void
lease__supersede_cancels_the_holders_running_step(void **state)
{
	struct fx *f = *state;
	int64_t v1 = versionf(f, lease_queue_yaml, "old");
	int64_t v2 = versionf(f, lease_supersede_yaml, "new"), r1, r2;

	on(f, "train", NULL, 0, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, 0, (struct fake_outcome){
	    .manual = 1 });
	on(f, "rollout", "rollback", 0, 0, (struct fake_outcome){ .polls = 1 });
	r1 = run(f, v1);
	tick_until(f, "running", "SELECT status FROM stage_attempts WHERE "
	    "job_name = 'sluice-1-rollout-1-s1'");
	r2 = run(f, v2);
	tick_until(f, "canceled", "SELECT status FROM stage_attempts WHERE "
	    "job_name = 'sluice-1-rollout-1-s1'");
	tick_until(f, "rolled_back", "SELECT status FROM rollouts WHERE "
	    "run_id = %lld", (long long)r1);
	tick_until(f, "running", "SELECT status FROM stage_attempts WHERE "
	    "job_name = 'sluice-2-rollout-1-s1'");
	expect(f, "1", "SELECT count(*) FROM target_leases WHERE run_id = %lld",
	    (long long)r2);
}

/* --- actions ------------------------------------------------------------ */

static void
act__abort_rolls_back_now_and_names_who(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, lease_queue_yaml, "abort"));
	struct err err;

	lease_healthy(f);
	to_first_approval(f, r);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_ABORT, "alice", "latency",
	    &err), 0);
	expect(f, "expired|aborted by alice: latency", "SELECT status || '|' "
	    "|| comment FROM approvals WHERE run_id = 1");
	/* a second abort, a promote-full or a pause no longer apply */
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_ABORT, "bob", NULL, &err),
	    ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is waiting_approval, "
	    "abort already asked by alice: abort does not apply");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", NULL,
	    &err), ERR_CONFLICT);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PAUSE, "bob", NULL, &err),
	    ERR_CONFLICT);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = 1");
	expect(f, "failed|aborted by alice: latency; rolled back", "SELECT "
	    "status || '|' || message FROM stages WHERE run_id = 1 AND name = "
	    "'rollout'");
	expect(f, "1", "SELECT count(*) FROM stage_attempts WHERE kind = "
	    "'rollback'");
	expect(f, "rejected", "SELECT status FROM model_versions");
	expect(f, "alice|latency", "SELECT actor || '|' || (data->>'comment') "
	    "FROM events WHERE entity_type = 'rollout' AND action = 'abort'");
	expect(f, "alice", "SELECT actor FROM events WHERE entity_type = "
	    "'rollout' AND to_state = 'rolled_back'");
	expect(f, "0", "SELECT count(*) FROM target_leases");
	/* finished: every action is refused, naming the state */
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_RESUME, "bob", NULL, &err),
	    ERR_CONFLICT);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", NULL,
	    &err), ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is rolled_back: "
	    "promote-full does not apply");
}

static void
act__promote_full_jumps_to_100_and_bypasses_the_approvals(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, lease_queue_yaml, "full"));
	struct err err;

	lease_healthy(f);
	to_first_approval(f, r);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", "ship it",
	    &err), 0);
	expect(f, "approved|bob|promoted to 100 % by bob: ship it", "SELECT "
	    "status || '|' || decided_by || '|' || comment FROM approvals "
	    "WHERE run_id = 1");
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = 1");
	/* step 3 ran with weight 100, no approval asked for it */
	expect(f, "1:10,2:50,3:100", "SELECT string_agg(step || ':' || weight, ',' "
	    "ORDER BY step) FROM stage_attempts WHERE kind = 'canary_step'");
	assert_string_equal(fake_executor_env(f->fake,
	    "sluice-1-rollout-1-s3", "SLUICE_CANARY_WEIGHT"), "100");
	expect(f, "1", "SELECT count(*) FROM approvals");
	expect(f, "production", "SELECT status FROM model_versions");
	expect(f, "succeeded|3|100", "SELECT status || '|' || current_step || "
	    "'|' || current_weight FROM rollouts");
	expect(f, "bob|bob|[2, 3]", "SELECT actor || '|' || "
	    "(data->>'promote_full_by') || '|' || (data->>'bypassed_approvals')"
	    " FROM events WHERE entity_type = 'rollout' AND to_state = "
	    "'succeeded'");
	expect(f, "0", "SELECT count(*) FROM target_leases");
}

static void
act__pause_holds_the_approval_and_resume_goes_on(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, lease_queue_yaml, "pause")), a;
	struct err err;

	lease_healthy(f);
	to_first_approval(f, r);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_RESUME, "carol", NULL, &err),
	    ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is waiting_approval "
	    "and not paused: resume does not apply");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PAUSE, "carol", NULL, &err), 0);
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PAUSE, "dave", NULL, &err),
	    ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is already paused by "
	    "carol");
	expect(f, "rollout paused by carol", "SELECT waiting_reason FROM "
	    "stages WHERE run_id = 1 AND name = 'rollout'");
	/* the expiry passes while paused: the approval does not expire */
	assert_int_equal(testdb_sql(&f->t, "UPDATE approvals SET requested_at "
	    "= requested_at - interval '2 hours', expires_at = now() - "
	    "interval '1 minute'"), 0);
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, "pending", "SELECT status FROM approvals WHERE run_id = 1");
	/* an approval given while paused is kept, the rollout holds */
	a = approval_id(f, r, 2);
	decide(f, a, 1, "alice", NULL);
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, "waiting_approval|2|rollout paused by carol", "SELECT "
	    "ro.status || '|' || ro.current_step || '|' || s.waiting_reason "
	    "FROM rollouts ro JOIN stages s ON s.id = ro.stage_id");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_RESUME, "carol", "ok", &err), 0);
	expect(f, "carol|ok", "SELECT actor || '|' || (data->>'comment') FROM "
	    "events WHERE entity_type = 'rollout' AND action = 'resumed'");
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = 1 AND step = 3");
	expect(f, "waiting for approval of step 3 (weight 100)", "SELECT "
	    "waiting_reason FROM stages WHERE run_id = 1 AND name = 'rollout'");
}

static void
act__pause_stops_the_analysis_clock(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, versionf(f, lease_clock_yaml, "clock"));
	struct err err;

	on(f, "train", NULL, 0, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, 0, (struct fake_outcome){
	    .log = "::metric error_rate=0.01\n" });
	tick_until(f, "analyzing", "SELECT status FROM rollouts");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PAUSE, "carol", NULL, &err), 0);
	/* well past the 1s window: no verdict while paused */
	assert_int_equal(testdb_sql(&f->t, "UPDATE rollouts SET "
	    "analysis_started_at = analysis_started_at - interval '1 minute',"
	    " paused_at = paused_at - interval '30 seconds'"), 0);
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, "analyzing", "SELECT status FROM rollouts");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_RESUME, "carol", NULL, &err), 0);
	/* the 30 s held are added to the window */
	expect(f, "t", "SELECT paused_ms >= 30000 FROM rollouts");
	tick_until(f, "waiting_approval", "SELECT status FROM rollouts");
}

static void
act__errors_name_the_run_and_the_rollout(void **state)
{
	struct fx *f = *state;
	int64_t v = versionf(f, lease_queue_yaml, "errors"), r;
	struct err err;

	on(f, "train", NULL, 0, 0, (struct fake_outcome){ .manual = 1 });
	r = run(f, v);
	assert_int_equal(rollout_act(f, 999, ROLLOUT_ACT_ABORT, "bob", NULL, &err),
	    ERR_NOTFOUND);
	assert_string_equal(err.msg, "run 999 not found");
	assert_int_equal(rollout_act(f, r, ROLLOUT_ACT_PAUSE, "bob", NULL, &err),
	    ERR_NOTFOUND);
	assert_string_equal(err.msg, "run 1 has no rollout");
	expect(f, "0", "SELECT count(*) FROM events WHERE entity_type = "
	    "'rollout'");
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
		T(engine__canary_steps_wait_for_approvals_then_promote),
		T(engine__baseline_compares_with_the_production_model),
		T(engine__a_rejected_approval_rolls_back_and_fails_the_stage),
		T(engine__a_failed_analysis_rolls_back),
		T(engine__a_failed_step_rolls_back),
		T(engine__an_approval_expires_and_rolls_back),
		T(engine__cancel_stops_running_stages_and_cancels_the_run),
		T(engine__cancel_of_a_queued_run_is_immediate),
		T(engine__cancel_during_a_canary_rolls_back),
		T(engine__retry_reuses_succeeded_stages_and_starts_at_the_failed_one),
		T(engine__pipeline_concurrency_queues_runs_in_order),
		T(engine__the_gpu_cap_is_first_in_first_out),
		T(engine__nodes_beyond_max_nodes_fail_and_gpus_count_per_node),
		T(engine__every_node_of_a_multi_node_attempt_is_kept),
		T(engine__max_parallel_stages_caps_attempts_across_runs),
		T(engine__a_restart_at_any_pass_runs_every_attempt_once),
		T(engine__events_trace_every_transition),
		T(engine__the_loop_wakes_on_a_queued_run),
		T(lease__a_second_run_queues_until_the_holder_ends),
		T(lease__supersede_rolls_the_holder_back_and_expires_its_approval),
		T(lease__supersede_cancels_the_holders_running_step),
		T(act__abort_rolls_back_now_and_names_who),
		T(act__promote_full_jumps_to_100_and_bypasses_the_approvals),
		T(act__pause_holds_the_approval_and_resume_goes_on),
		T(act__pause_stops_the_analysis_clock),
		T(act__errors_name_the_run_and_the_rollout),
		T(engine__a_running_log_is_kept_in_whole_lines_across_restarts),
		T(engine__an_attempt_is_released_only_once_its_log_is_complete),
		T(engine__a_log_past_the_cap_ends_with_a_marker_and_is_still_parsed),
		T(engine__a_new_log_source_is_marked_and_read_from_its_start),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
