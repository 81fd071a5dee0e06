/*
 * test_engine_rollout.c - one rollout per target and approvers' actions,
 * against a real PostgreSQL with the fake executor: a second run's canary
 * stage queues behind the holder of its target and starts when it ends
 * (woken by the lease's release); on_conflict: supersede rolls the holder
 * back and expires its approval; promote-full, abort, pause and resume,
 * each with the states it does not apply to; the rollback closes the
 * rollout, the candidate and the approvals in one statement, with one
 * event naming who caused it.
 *
 * The engine is driven one pass at a time (engine_tick) in bounded
 * loops, never with timing assertions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base/cfg.h"
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
};

static int
setup(void **state)
{
	struct engine_opts o = {
		.poll_ms = 20, .sweep_ms = 1000, .backoff_ms = 100,
		.backoff_max_ms = 400, .timeout_margin_ms = 100,
	};
	struct fx *f = calloc(1, sizeof(*f));
	char dburl[2200], st[600], *envp[3], *id;
	struct err err;

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	f->fake = fake_executor_new(&f->ex);
	id = testdb_value(&f->t, "INSERT INTO repositories (name, url, source)"
	    " VALUES ('models', 'file:///nonexistent.git', 'api') RETURNING id");
	f->repo_id = strtoll(id, NULL, 10);
	free(id);
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s", f->t.url);
	(void)snprintf(st, sizeof(st), "SLUICE_STATE_DIR=%s/state", f->dir);
	envp[0] = dburl;
	envp[1] = st;
	envp[2] = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0 ||
	    engine_new(&f->e, f->cfg, f->ex, &err) < 0)
		fail_msg("engine: %s", err.msg);
	engine_set_opts(f->e, &o);
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

static char *
vq(struct fx *f, const char *fmt, va_list ap)
{
	char sql[4096];

	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	return testdb_value(&f->t, sql);
}

/* Assert that the first value of a query is want. */
static void
expect(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
expect(struct fx *f, const char *want, const char *fmt, ...)
{
	va_list ap;
	char *v;

	va_start(ap, fmt);
	v = vq(f, fmt, ap);
	va_end(ap);
	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("%s\n  got:  %s\n  want: %s", fmt, v ? v : "(null)",
		    want);
	free(v);
}

static void
tick(struct fx *f)
{
	struct err err;

	if (engine_tick(f->e, &err) < 0)
		fail_msg("engine_tick: %s", err.msg);
}

/* Tick until the query answers want (at most ~15 s). */
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
{
	struct timespec ts = { 0, 10 * 1000000L };
	va_list ap;
	char *v = NULL;

	for (int i = 0; i < 1500; i++) {
		free(v);
		va_start(ap, fmt);
		v = vq(f, fmt, ap);
		va_end(ap);
		if (v != NULL && strcmp(v, want) == 0) {
			free(v);
			return;
		}
		tick(f);
		if (i > 20)
			nanosleep(&ts, NULL);
	}
	fail_msg("%s\n  still: %s\n  want:  %s", fmt, v ? v : "(null)", want);
}

/*
 * A pipeline version at a new commit: a model trained, then its canary
 * with on_conflict and a first step (its analysis, when any, is the only
 * place timing could matter, so only the test of the analysis clock has
 * one).
 */
static int64_t
version_with(struct fx *f, const char *name, const char *on_conflict,
    const char *step1)
{
	static const char tmpl[] =
	    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: %s}\n"
	    "spec:\n"
	    "  concurrency: 0\n"
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"]}\n"
	    "    - name: rollout\n"
	    "      needs: [train]\n"
	    "      type: canary\n"
	    "      command: [\"rollout\"]\n"
	    "      canary:\n"
	    "        target: api\n"
	    "        on_conflict: %s\n"
	    "        steps:\n"
	    "          - %s\n"
	    "          - {weight: 50, approval: required}\n"
	    "          - {weight: 100, approval: required}\n"
	    "        approval_timeout: 1h\n"
	    "        rollback_command: [\"rollout\", \"--abort\"]\n";
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct pipeline_version_in v;
	struct commit_in c;
	struct err err;
	char yaml[4096], sha[41], *json = NULL;
	int64_t commit_id, pipeline_id, version_id;

	(void)snprintf(yaml, sizeof(yaml), tmpl, name, on_conflict, step1);
	pipeline_errors_init(&errs);
	if (pipeline_parse(&p, &errs, yaml, strlen(yaml), "p.yaml", &err) < 0)
		fail_msg("pipeline: %s", err.msg);
	pipeline_errors_release(&errs);
	if (pipeline_to_json(p, &json, &err) < 0)
		fail_msg("json: %s", err.msg);
	memset(&c, 0, sizeof(c));
	(void)snprintf(sha, sizeof(sha), "%040x", ++f->ncommits);
	c.sha = sha;
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
version(struct fx *f, const char *name, const char *on_conflict)
{
	return version_with(f, name, on_conflict, "{weight: 10}");
}

static int64_t
run(struct fx *f, int64_t version_id)
{
	struct run_new rn;
	struct err err;
	int64_t id;
	int created;

	memset(&rn, 0, sizeof(rn));
	rn.version_id = version_id;
	rn.branch = "main";
	rn.trigger = "api";
	rn.created_by = "tester";
	if (store_run_create(f->db, &rn, &id, &created, &err) < 0)
		fail_msg("run: %s", err.msg);
	return id;
}

static void
on(struct fx *f, const char *stage, const char *kind, int step,
    struct fake_outcome o)
{
	struct fake_rule r;

	memset(&r, 0, sizeof(r));
	r.stage = stage;
	r.kind = kind;
	r.step = step;
	r.outcome = o;
	fake_executor_on(f->fake, &r);
}

/* Healthy outcomes: a model from train, steps within the gate. */
static void
healthy(struct fx *f)
{
	on(f, "train", NULL, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, (struct fake_outcome){
	    .log = "::metric error_rate=0.01\n" });
}

static int64_t
approval(struct fx *f, int64_t r, int step)
{
	char sql[200], *v;
	int64_t id;

	(void)snprintf(sql, sizeof(sql), "SELECT id FROM approvals WHERE "
	    "run_id = %lld AND step = %d", (long long)r, step);
	v = testdb_value(&f->t, sql);
	assert_non_null(v);
	id = strtoll(v, NULL, 10);
	free(v);
	return id;
}

static void
decide(struct fx *f, int64_t id, int approve, const char *who)
{
	struct err err;

	if (store_approval_decide(f->db, id, approve, who, NULL, &err) < 0)
		fail_msg("decide: %s", err.msg);
}

/* Run r to its pending approval of step 2. */
static void
to_approval(struct fx *f, int64_t r)
{
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 2", (long long)r);
}

/* Approve the steps of r left and let it succeed. */
static void
approve_all(struct fx *f, int64_t r)
{
	decide(f, approval(f, r, 2), 1, "alice");
	tick_until(f, "pending", "SELECT status FROM approvals WHERE "
	    "run_id = %lld AND step = 3", (long long)r);
	decide(f, approval(f, r, 3), 1, "alice");
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
}

static int
act(struct fx *f, int64_t r, enum rollout_act a, const char *who,
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
	int64_t v = version(f, "queue", "queue"), r1, r2;
	struct db *ldb = testdb_open(&f->t);
	char want[200], ch[64], payload[64];
	struct err err;
	int woke = 0;

	healthy(f);
	r1 = run(f, v);
	to_approval(f, r1);
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
	approve_all(f, r1);
	expect(f, "0", "SELECT count(*) FROM target_leases WHERE run_id = %lld",
	    (long long)r1);
	for (int i = 0; i < 200 && !woke; i++)
		if (db_wait_notify(ldb, 50, ch, sizeof(ch), payload,
		    sizeof(payload), &err) == 1 && strcmp(ch, "sluice_runs") == 0
		    && strtoll(payload, NULL, 10) == r1)
			woke = 1;
	assert_true(woke);
	to_approval(f, r2);
	(void)snprintf(want, sizeof(want), "%lld", (long long)r2);
	expect(f, want, "SELECT run_id FROM target_leases WHERE target = 'api'");
	expect(f, "t", "SELECT (SELECT started_at FROM rollouts WHERE run_id = "
	    "%lld) >= (SELECT finished_at FROM rollouts WHERE run_id = %lld)",
	    (long long)r2, (long long)r1);
	approve_all(f, r2);
	expect(f, "0", "SELECT count(*) FROM target_leases");
	db_free(ldb);
}

static void
lease__supersede_rolls_the_holder_back_and_expires_its_approval(
    void **state)
{
	struct fx *f = *state;
	int64_t v1 = version(f, "old", "queue");
	int64_t v2 = version(f, "new", "supersede"), r1, r2;
	char want[300];

	healthy(f);
	r1 = run(f, v1);
	to_approval(f, r1);
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
	to_approval(f, r2);
	expect(f, "t", "SELECT (SELECT started_at FROM rollouts WHERE run_id = "
	    "%lld) >= (SELECT finished_at FROM rollouts WHERE run_id = %lld)",
	    (long long)r2, (long long)r1);
	expect(f, "failed", "SELECT status FROM runs WHERE id = 1");
	approve_all(f, r2);
	expect(f, "0", "SELECT count(*) FROM target_leases");
}

static void
lease__supersede_cancels_the_holders_running_step(void **state)
{
	struct fx *f = *state;
	int64_t v1 = version(f, "old", "queue");
	int64_t v2 = version(f, "new", "supersede"), r1, r2;

	on(f, "train", NULL, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, (struct fake_outcome){
	    .manual = 1 });
	on(f, "rollout", "rollback", 0, (struct fake_outcome){ .polls = 1 });
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
	int64_t r = run(f, version(f, "abort", "queue"));
	struct err err;

	healthy(f);
	to_approval(f, r);
	assert_int_equal(act(f, r, ROLLOUT_ACT_ABORT, "alice", "latency",
	    &err), 0);
	expect(f, "expired|aborted by alice: latency", "SELECT status || '|' "
	    "|| comment FROM approvals WHERE run_id = 1");
	/* a second abort, a promote-full or a pause no longer apply */
	assert_int_equal(act(f, r, ROLLOUT_ACT_ABORT, "bob", NULL, &err),
	    ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is waiting_approval, "
	    "abort already asked by alice: abort does not apply");
	assert_int_equal(act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", NULL,
	    &err), ERR_CONFLICT);
	assert_int_equal(act(f, r, ROLLOUT_ACT_PAUSE, "bob", NULL, &err),
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
	assert_int_equal(act(f, r, ROLLOUT_ACT_RESUME, "bob", NULL, &err),
	    ERR_CONFLICT);
	assert_int_equal(act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", NULL,
	    &err), ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is rolled_back: "
	    "promote-full does not apply");
}

static void
act__promote_full_jumps_to_100_and_bypasses_the_approvals(void **state)
{
	struct fx *f = *state;
	int64_t r = run(f, version(f, "full", "queue"));
	struct err err;

	healthy(f);
	to_approval(f, r);
	assert_int_equal(act(f, r, ROLLOUT_ACT_PROMOTE_FULL, "bob", "ship it",
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
	int64_t r = run(f, version(f, "pause", "queue")), a;
	struct err err;

	healthy(f);
	to_approval(f, r);
	assert_int_equal(act(f, r, ROLLOUT_ACT_RESUME, "carol", NULL, &err),
	    ERR_CONFLICT);
	assert_string_equal(err.msg, "rollout 1 of run 1 is waiting_approval "
	    "and not paused: resume does not apply");
	assert_int_equal(act(f, r, ROLLOUT_ACT_PAUSE, "carol", NULL, &err), 0);
	assert_int_equal(act(f, r, ROLLOUT_ACT_PAUSE, "dave", NULL, &err),
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
	a = approval(f, r, 2);
	decide(f, a, 1, "alice");
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, "waiting_approval|2|rollout paused by carol", "SELECT "
	    "ro.status || '|' || ro.current_step || '|' || s.waiting_reason "
	    "FROM rollouts ro JOIN stages s ON s.id = ro.stage_id");
	assert_int_equal(act(f, r, ROLLOUT_ACT_RESUME, "carol", "ok", &err), 0);
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
	int64_t r = run(f, version_with(f, "clock", "queue", "{weight: 10, "
	    "analysis: {duration: 1s, gates: [{metric: error_rate, op: "
	    "\"<=\", value: 0.05}]}}"));
	struct err err;

	on(f, "train", NULL, 0, (struct fake_outcome){
	    .log = "::artifact model=s3://m/1\n" });
	on(f, "rollout", "canary_step", 0, (struct fake_outcome){
	    .log = "::metric error_rate=0.01\n" });
	tick_until(f, "analyzing", "SELECT status FROM rollouts");
	assert_int_equal(act(f, r, ROLLOUT_ACT_PAUSE, "carol", NULL, &err), 0);
	/* well past the 1s window: no verdict while paused */
	assert_int_equal(testdb_sql(&f->t, "UPDATE rollouts SET "
	    "analysis_started_at = analysis_started_at - interval '1 minute',"
	    " paused_at = paused_at - interval '30 seconds'"), 0);
	for (int i = 0; i < 5; i++)
		tick(f);
	expect(f, "analyzing", "SELECT status FROM rollouts");
	assert_int_equal(act(f, r, ROLLOUT_ACT_RESUME, "carol", NULL, &err), 0);
	/* the 30 s held are added to the window */
	expect(f, "t", "SELECT paused_ms >= 30000 FROM rollouts");
	tick_until(f, "waiting_approval", "SELECT status FROM rollouts");
}

static void
act__errors_name_the_run_and_the_rollout(void **state)
{
	struct fx *f = *state;
	int64_t v = version(f, "errors", "queue"), r;
	struct err err;

	on(f, "train", NULL, 0, (struct fake_outcome){ .manual = 1 });
	r = run(f, v);
	assert_int_equal(act(f, 999, ROLLOUT_ACT_ABORT, "bob", NULL, &err),
	    ERR_NOTFOUND);
	assert_string_equal(err.msg, "run 999 not found");
	assert_int_equal(act(f, r, ROLLOUT_ACT_PAUSE, "bob", NULL, &err),
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
		T(lease__a_second_run_queues_until_the_holder_ends),
		T(lease__supersede_rolls_the_holder_back_and_expires_its_approval),
		T(lease__supersede_cancels_the_holders_running_step),
		T(act__abort_rolls_back_now_and_names_who),
		T(act__promote_full_jumps_to_100_and_bypasses_the_approvals),
		T(act__pause_holds_the_approval_and_resume_goes_on),
		T(act__pause_stops_the_analysis_clock),
		T(act__errors_name_the_run_and_the_rollout),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
