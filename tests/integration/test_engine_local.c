/*
 * test_engine_local.c - the real demo pipeline (pipelines/demo.yaml and
 * its Python scripts) from `git push` to production, through the poller,
 * the engine and the local executor (real processes, bin/sluice as the
 * supervisor).  Only the canary analysis window is shortened (10s -> 2s)
 * to keep the test quick.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "exec/exec_local.h"
#include "git/poller.h"
#include "store/db.h"
#include "query/store_query_runs.h"
#include "store/store_approval.h"
#include "store/store_log.h"
#include "testdb.h"
#include "testseed.h"
#include "testsh.h"

struct fx {
	struct testdb	 t;
	struct db	*db;
	struct cfg	*cfg;
	struct executor	 ex;
	struct engine	*e;
	char		 dir[512];
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char dburl[2200], st[600], repos[1024], bare[600], work[600];
	char *envp[6];
	struct exec_local_opts o;
	struct engine_opts eo = { .poll_ms = 100, .sweep_ms = 2000 };
	struct poller *p = NULL;
	struct err err;

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", f->dir, 1);
	/* the demo repository, as scripts/demo-repo.sh makes it */
	(void)snprintf(bare, sizeof(bare), "%s/demo.git", f->dir);
	(void)snprintf(work, sizeof(work), "%s/demo", f->dir);
	test_git_remote(bare, work);
	test_sh("cd %s && mkdir -p pipelines && cp -R %s/pipelines/. "
	    "pipelines/ && sed -i 's/duration: 10s/duration: 2s/' "
	    "pipelines/demo.yaml && " TEST_GIT "add -A && "
	    TEST_GIT "commit -qm seed && " TEST_GIT "push -q origin main", work,
	    test_env("SLUICE_TOP"));
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    f->t.url);
	(void)snprintf(st, sizeof(st), "SLUICE_STATE_DIR=%s/state", f->dir);
	(void)snprintf(repos, sizeof(repos), "SLUICE_REPOSITORIES=[{name: demo, "
	    "url: \"file://%s/demo.git\", branches: [main], interval: 1h}]",
	    f->dir);
	envp[0] = dburl;
	envp[1] = st;
	envp[2] = repos;
	envp[3] = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0)
		fail_msg("config: %s", err.msg);
	if (poller_start(&p, f->cfg, &err) < 0)
		fail_msg("poller: %s", err.msg);
	poller_stop(p);
	/* first sight: recorded, nothing started */
	if (poller_poll_now(f->cfg, f->db, "demo", &err) < 0)
		fail_msg("poll: %s", err.msg);
	memset(&o, 0, sizeof(o));
	o.state_dir = f->cfg->state_dir;
	o.program = test_env("SLUICE_BIN");
	o.kill_grace_ms = 2000;
	if (exec_local_new_opts(&f->ex, &o, &err) < 0 ||
	    engine_new(&f->e, f->cfg, f->ex, &err) < 0)
		fail_msg("engine: %s", err.msg);
	engine_set_opts(f->e, &eo);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	/* the engine's transitions keep each run's list document true */
	size_t stale = seed_stale_summaries(f->db);

	engine_free(f->e);
	if (f->ex.ops != NULL)
		f->ex.ops->free(f->ex.impl);
	cfg_free(f->cfg);
	db_free(f->db);
	testdb_drop(&f->t);
	test_rmtree(f->dir);
	free(f);
	return stale == 0 ? 0 : -1;
}

/*
 * Push a commit touching the folder pipelines/<folder>, poll: a run of
 * the pipeline watching it is queued.  Its id.
 */
static int64_t
push_in(struct fx *f, const char *folder, const char *line)
{
	struct err err;
	char *id;
	int64_t r;

	test_sh("cd %s/demo && echo '%s' >> pipelines/%s/RUNS.md && "
	    TEST_GIT "add -A && " TEST_GIT "commit -qm '%s' && "
	    TEST_GIT "push -q origin main", f->dir, line, folder, line);
	if (poller_poll_now(f->cfg, f->db, "demo", &err) < 0)
		fail_msg("poll: %s", err.msg);
	id = testdb_value(&f->t, "SELECT max(id) FROM runs");
	assert_non_null(id);
	r = strtoll(id, NULL, 10);
	free(id);
	return r;
}

/* Push a commit touching the demo: a run of it.  Its id. */
static int64_t
push(struct fx *f, const char *line)
{
	return push_in(f, "demo", line);
}

static char *
q(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *
q(struct fx *f, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return testdb_value(&f->t, sql);
}

/* Assert sql, whose one "%lld" stands for id, answers want. */
static void
expect(struct fx *f, const char *want, const char *sql, int64_t id)
{
	const char *mark = strstr(sql, "%lld");
	char *v, got[1024];

	assert_non_null(mark);
	v = q(f, "%.*s%lld%s", (int)(mark - sql), sql, (long long)id,
	    mark + 4);
	int same = v != NULL && strcmp(v, want) == 0;

	(void)snprintf(got, sizeof(got), "%s", v ? v : "(null)");
	free(v);
	if (!same)
		fail_msg("%s\n  got:  %s\n  want: %s", sql, got, want);
}

/*
 * Run the engine until the run's status is want: a pass every 20 ms, so
 * a stage that ended is seen at once; at most 180 s (a bound against a
 * hang on a loaded machine, not a measure).
 */
static void
until(struct fx *f, int64_t r, const char *want)
{
	struct err err;
	char *v = NULL;
	int64_t end = sys_now_ms() + 180000;

	while (sys_now_ms() < end) {
		free(v);
		v = q(f, "SELECT status FROM runs WHERE id = %lld", (long long)r);
		if (v != NULL && strcmp(v, want) == 0) {
			free(v);
			return;
		}
		if (v != NULL && (strcmp(v, "failed") == 0 ||
		    strcmp(v, "succeeded") == 0 || strcmp(v, "canceled") == 0))
			break;
		if (engine_tick(f->e, &err) < 0)
			fail_msg("tick: %s", err.msg);
		sleep_ms(20);
	}
	{
		char *m = q(f, "SELECT string_agg(name || ':' || status || ':' || "
		    "coalesce(message, ''), ' | ' ORDER BY position) FROM stages "
		    "WHERE run_id = %lld", (long long)r);

		fail_msg("run %lld is %s, want %s; stages: %s", (long long)r,
		    v ? v : "(null)", want, m ? m : "");
	}
}

static void
decide(struct fx *f, int64_t r, int step, int approve, const char *who)
{
	char *id = q(f, "SELECT id FROM approvals WHERE run_id = %lld AND "
	    "step = %d", (long long)r, step);
	struct err err;

	assert_non_null(id);
	if (store_approval_decide(f->db, strtoll(id, NULL, 10), approve, who,
	    approve ? "ship it" : "not today", &err) < 0)
		fail_msg("decide: %s", err.msg);
	free(id);
}

static void
engine_local__the_demo_goes_from_push_to_production(void **state)
{
	struct fx *f = *state;
	int64_t r = push(f, "run 1"), r2;
	char path[1024];
	struct stat sb;

	until(f, r, "waiting_approval");
	expect(f, "prepare:succeeded,train:succeeded,evaluate:succeeded,"
	    "rollout:waiting_approval", "SELECT string_agg(name || ':' || "
	    "status, ',' ORDER BY position) FROM stages WHERE run_id = %lld", r);
	/* what the scripts printed was read from their logs */
	expect(f, "t", "SELECT m.value > 0.75 FROM metrics m JOIN "
	    "stage_attempts a ON a.id = m.attempt_id JOIN stages s ON s.id = "
	    "a.stage_id WHERE s.run_id = %lld AND s.name = 'evaluate' AND "
	    "m.name = 'auc'", r);
	expect(f, "demo|1|candidate|demo-api", "SELECT name || '|' || version "
	    "|| '|' || status || '|' || target FROM model_versions WHERE "
	    "run_id = %lld", r);
	expect(f, "1:10:succeeded,2:50:succeeded", "SELECT string_agg(a.step "
	    "|| ':' || a.weight || ':' || a.status, ',' ORDER BY a.step) FROM "
	    "stage_attempts a JOIN stages s ON s.id = a.stage_id WHERE "
	    "s.run_id = %lld AND a.kind = 'canary_step'", r);
	expect(f, "pending", "SELECT status FROM approvals WHERE run_id = %lld "
	    "AND step = 2", r);
	/* the stages ran in the run's checkout */
	(void)snprintf(path, sizeof(path), "%s/state/work/%lld/pipelines/"
	    "demo.yaml", f->dir, (long long)r);
	assert_int_equal(stat(path, &sb), 0);
	decide(f, r, 2, 1, "alice");
	until(f, r, "waiting_approval");
	for (int64_t end = sys_now_ms() + 180000; sys_now_ms() < end;) {
		char *s = q(f, "SELECT status FROM approvals WHERE run_id = %lld "
		    "AND step = 3", (long long)r);
		int ok = s != NULL && strcmp(s, "pending") == 0;
		struct err err;

		free(s);
		if (ok)
			break;
		if (engine_tick(f->e, &err) < 0)
			fail_msg("tick: %s", err.msg);
		sleep_ms(20);
	}
	decide(f, r, 3, 1, "bob");
	until(f, r, "succeeded");
	expect(f, "production", "SELECT status FROM model_versions WHERE "
	    "run_id = %lld", r);
	/* the checkout goes with the run */
	(void)snprintf(path, sizeof(path), "%s/state/work/%lld", f->dir,
	    (long long)r);
	assert_int_not_equal(stat(path, &sb), 0);

	/* a second push, rejected: the rollback runs, production stays */
	r2 = push(f, "run 2");
	until(f, r2, "waiting_approval");
	decide(f, r2, 2, 0, "carol");
	until(f, r2, "failed");
	expect(f, "rollback:0:succeeded", "SELECT a.kind || ':' || a.weight || "
	    "':' || a.status FROM stage_attempts a JOIN stages s ON s.id = "
	    "a.stage_id WHERE s.run_id = %lld AND a.kind = 'rollback'", r2);
	expect(f, "failed|approval of step 2 (weight 50) rejected by carol: not "
	    "today; rolled back", "SELECT status || '|' || message FROM stages "
	    "WHERE run_id = %lld AND name = 'rollout'", r2);
	expect(f, "production,rejected", "SELECT string_agg(status, ',' ORDER "
	    "BY version) FROM model_versions WHERE %lld > 0", r2);
}

/*
 * A commit the local checkout cannot export (folders nested deeper than
 * the export allows: it fails half way through, after writing some of
 * the tree under work/<run>.tmp): the stage fails naming the checkout,
 * and neither the checkout nor its temporary copy stays behind.
 */
static void
engine_local__the_ddp_example_trains_on_two_ranks(void **state)
{
	struct fx *f = *state;
	int64_t r = push_in(f, "ddp", "run 1");
	char path[1024];
	struct buf log1;
	struct err err;

	expect(f, "ddp-demo", "SELECT p.name FROM runs r JOIN pipelines p ON "
	    "p.id = r.pipeline_id WHERE r.id = %lld", r);
	until(f, r, "succeeded");
	/* rank 0's log carried the metrics, the gate held */
	expect(f, "2", "SELECT m.value FROM metrics m JOIN stage_attempts a ON "
	    "a.id = m.attempt_id JOIN stages s ON s.id = a.stage_id WHERE "
	    "s.run_id = %lld AND m.name = 'ranks'", r);
	expect(f, "t", "SELECT m.value < 0.05 FROM metrics m JOIN "
	    "stage_attempts a ON a.id = m.attempt_id JOIN stages s ON s.id = "
	    "a.stage_id WHERE s.run_id = %lld AND m.name = 'loss'", r);
	/* rank 1 met rank 0 and logged on its own */
	(void)snprintf(path, sizeof(path), "%s/state/attempts/sluice-%lld-"
	    "train-1/log.1", f->dir, (long long)r);
	buf_init(&log1, 1 << 20);
	if (sys_read_file(path, "rank 1's log", 1 << 20, 1, &log1, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(strstr(log1.data, "rank 1: joined rank 0 at "
	    "127.0.0.1:"));
	buf_release(&log1);
	/* both ranks' logs are kept in PostgreSQL, complete, where GET
	   .../logs?node=N reads them (the log source, then the chunks) */
	expect(f, "0:true,1:true", "SELECT string_agg(h.node || ':' || h.complete, "
	    "',' ORDER BY h.node) FROM attempt_log_heads h JOIN stage_attempts "
	    "a ON a.id = h.attempt_id JOIN stages s ON s.id = a.stage_id WHERE "
	    "s.run_id = %lld AND s.name = 'train'", r);
	{
		struct log_source src;
		int64_t next;
		char *doc = NULL;

		if (store_query_log_source(f->db, r, "train", 0, -1, &src,
		    &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(src.nodes, 2);
		buf_init(&log1, 1 << 20);
		if (store_log_read(f->db, src.attempt_id, 1, 0, &log1, &next,
		    &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(next, (int64_t)log1.len);
		assert_true(buf_putc(&log1, '\0') == 0);
		assert_non_null(strstr(log1.data, "rank 1: joined rank 0 at "
		    "127.0.0.1:"));
		buf_release(&log1);
		/* the run document gives the attempt's node count */
		if (store_query_run_get(f->db, r, &doc, &err) < 0)
			fail_msg("%s", err.msg);
		assert_non_null(strstr(doc, "\"nodes\" : 2"));
		free(doc);
	}
}

static void
engine_local__a_failed_checkout_leaves_no_temporary_folder(void **state)
{
	struct fx *f = *state;
	char path[1024];
	struct stat sb;
	int64_t r;

	test_sh("cd %s/demo && p=pipelines/demo/deep && i=0 && while [ $i -lt 300 ];"
	    " do p=$p/d; i=$((i + 1)); done && mkdir -p $p && echo x > $p/f",
	    f->dir);
	r = push(f, "too deep");
	until(f, r, "failed");
	expect(f, "prepare:failed:true", "SELECT name || ':' || status || ':' || "
	    "(message LIKE 'cannot check out commit %') FROM stages WHERE "
	    "run_id = %lld AND position = 0", r);
	(void)snprintf(path, sizeof(path), "%s/state/work/%lld.tmp", f->dir,
	    (long long)r);
	if (stat(path, &sb) == 0)
		fail_msg("%s is left behind", path);
	(void)snprintf(path, sizeof(path), "%s/state/work/%lld", f->dir,
	    (long long)r);
	assert_int_not_equal(stat(path, &sb), 0);
}

/*
 * The loop is woken by the supervisors (the executor's set_wake): with
 * every timer of the engine at ten minutes, a run of three stages in a
 * row still ends, so each start and each exit woke it.  The bound is
 * against a hang, not a measure.
 */
static void
engine_local__the_loop_wakes_on_each_start_and_exit(void **state)
{
	struct fx *f = *state;
	struct engine_opts eo = { .poll_ms = 600000, .sweep_ms = 600000,
	    .active_sweep_ms = 600000 };
	struct err err;
	char *v = NULL;
	int64_t r, end;

	test_sh("cd %s/demo && mkdir -p pipelines/wake && printf '%%s\\n' "
	    "'apiVersion: sluice/v1' 'kind: Pipeline' 'metadata: {name: wake}' "
	    "'spec:' '  triggers: {push: {branches: [main], paths: "
	    "[\"pipelines/wake/**\"]}}' '  defaults: {image: alpine}' "
	    "'  stages:' "
	    "'    - {name: a, command: [sh, -c, \"sleep 0.2\"]}' "
	    "'    - {name: b, needs: [a], command: [\"true\"]}' "
	    "'    - {name: c, needs: [b], command: [\"true\"]}' "
	    "> pipelines/wake.yaml", f->dir);
	r = push_in(f, "wake", "run 1");
	expect(f, "wake", "SELECT p.name FROM runs r JOIN pipelines p ON "
	    "p.id = r.pipeline_id WHERE r.id = %lld", r);
	engine_set_opts(f->e, &eo);
	assert_int_equal(engine_start(f->e, &err), 0);
	engine_wake(f->e);
	for (end = sys_now_ms() + 120000; sys_now_ms() < end; sleep_ms(50)) {
		free(v);
		v = q(f, "SELECT status FROM runs WHERE id = %lld", (long long)r);
		if (v != NULL && strcmp(v, "running") != 0 &&
		    strcmp(v, "queued") != 0)
			break;
	}
	engine_stop(f->e);
	assert_non_null(v);
	assert_string_equal(v, "succeeded");
	free(v);
	expect(f, "3", "SELECT count(*) FROM stages WHERE run_id = %lld AND "
	    "status = 'succeeded'", r);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    engine_local__the_demo_goes_from_push_to_production, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    engine_local__the_ddp_example_trains_on_two_ranks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    engine_local__a_failed_checkout_leaves_no_temporary_folder,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engine_local__the_loop_wakes_on_each_start_and_exit,
		    setup, teardown),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
