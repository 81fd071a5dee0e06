/*
 * test_retention.c - retention against real PostgreSQL and the real
 * binary: with keep_runs 5 and 50 runs, a sweep leaves the 5 newest and
 * the run of the production model; `sluice gc --dry-run` lists what
 * would go and why the rest stays, and changes nothing; events stay
 * append-only but for the sweep's narrow exception, and audit events
 * outlive their runs; attempt folders and checkouts go with their runs;
 * /metrics counts what went; the database stops growing across sweeps;
 * the sweeper of `sluice serve` sweeps only in the active controller.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "../support/testdb.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "base/cfg.h"
#include "engine/engine.h"
#include "engine/retention.h"
#include "fake_executor.h"
#include "store/db.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"

struct fixture {
	struct apifix	*f;
	char		 state[512];
	char		 setting[600];
	int64_t		 version;
	int64_t		 runs[50];
	int64_t		 production;	/* the run of the production model */
};

/* The demo pipeline with spec.retention keep_runs 5. */
static char *
pipeline_keeping_5(void)
{
	char *demo = seed_file("pipelines/demo.yaml"), *p, *out;
	const char *add = "\n  retention: { keep_runs: 5 }";
	size_t len = strlen(demo) + strlen(add) + 1;

	p = strstr(demo, "\nspec:");
	assert_non_null(p);
	p += strlen("\nspec:");
	out = malloc(len);
	assert_non_null(out);
	(void)snprintf(out, len, "%.*s%s%s", (int)(p - demo), demo, add, p);
	free(demo);
	return out;
}

/*
 * A finished run with two attempts, a kept log, metrics, a model version
 * demo v<version> (registered) and a few events; and its local files.
 */
static int64_t
finished_run(struct fixture *x, int version)
{
	int64_t run = seed_run(x->f->db, x->version, "push", "main", NULL);
	int64_t a, b;
	char path[1024];

	seed_sql(x->f->db, "UPDATE runs SET status = 'succeeded',"
	    " started_at = now(), finished_at = now() WHERE id = %lld;"
	    "UPDATE stages SET status = 'succeeded', finished_at = now()"
	    " WHERE run_id = %lld", (long long)run, (long long)run);
	a = seed_attempt(x->f->db, run, "train", 1, 0, "succeeded");
	b = seed_attempt(x->f->db, run, "evaluate", 1, 0, "succeeded");
	seed_metric(x->f->db, a, "loss", 0.5, 1);
	(void)seed_model(x->f->db, a, "demo", version, "registered", NULL,
	    "{}");
	seed_sql(x->f->db, "INSERT INTO attempt_log_heads (attempt_id, bytes,"
	    " complete) VALUES (%lld, 20000, true), (%lld, 20000, true);"
	    "INSERT INTO attempt_log_chunks (attempt_id, node, pos, data)"
	    " SELECT id, 0, 0, decode(repeat(md5(id::text || g::text), 625),"
	    "  'hex') FROM stage_attempts, generate_series(1, 1) g"
	    " WHERE id IN (%lld, %lld);"
	    "INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
	    " from_state, to_state) SELECT 'engine', 'stage', id, run_id,"
	    " 'transition', 'pending', 'succeeded' FROM stages"
	    " WHERE run_id = %lld",
	    (long long)a, (long long)b, (long long)a, (long long)b,
	    (long long)run);
	(void)snprintf(path, sizeof(path), "%s/attempts/sluice-%lld-train-1",
	    x->state, (long long)run);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(test_write_file(path, "log", "epoch 1\n"), 0);
	(void)snprintf(path, sizeof(path), "%s/work/%lld", x->state,
	    (long long)run);
	assert_int_equal(mkdir(path, 0755), 0);
	return run;
}

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	const char *settings[] = { x->setting, NULL };
	char dir[600];
	int64_t repo, commit;
	char *yaml;

	if (x == NULL || test_tmpdir(x->state, sizeof(x->state)) < 0)
		return -1;
	(void)snprintf(x->setting, sizeof(x->setting), "state_dir=%s",
	    x->state);
	(void)snprintf(dir, sizeof(dir), "%s/attempts", x->state);
	(void)mkdir(dir, 0755);
	(void)snprintf(dir, sizeof(dir), "%s/work", x->state);
	(void)mkdir(dir, 0755);
	if ((x->f = apifix_start(settings, NULL)) == NULL)
		return -1;
	yaml = pipeline_keeping_5();
	repo = seed_repo(x->f->db, "demo", "{main}");
	commit = seed_commit(x->f->db, repo, SHA_A, "m", "Ada");
	x->version = seed_version(x->f->db, repo, commit,
	    "pipelines/demo.yaml", yaml, NULL, NULL);
	free(yaml);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;
	char cmd[700];
	/* the runs retention keeps have their list documents, kept true */
	size_t stale = seed_stale_summaries(x->f->db);

	apifix_stop(x->f);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->state);
	(void)system(cmd);
	free(x);
	return stale == 0 ? 0 : -1;
}

/* 50 runs, the 10th's model in production, an audit event on the 3rd. */
static void
fifty_runs(struct fixture *x)
{
	for (int i = 0; i < 50; i++)
		x->runs[i] = finished_run(x, i + 1);
	x->production = x->runs[9];
	seed_sql(x->f->db, "UPDATE model_versions SET status = 'production',"
	    " target = 'demo-api', promoted_at = now() WHERE run_id = %lld;"
	    "INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
	    " reason, data) VALUES ('bob', 'rollout', 99, %lld, 'abort',"
	    " 'aborted by bob', '{}')",
	    (long long)x->production, (long long)x->runs[2]);
}

/* Row counts of the tables retention touches, as one string. */
static void
table_counts(struct fixture *x, char *out, size_t outlen)
{
	struct db_res *res = NULL;
	struct err err;

	assert_int_equal(db_exec(x->f->db, "SELECT concat_ws(' ',"
	    " (SELECT count(*) FROM runs), (SELECT count(*) FROM stages),"
	    " (SELECT count(*) FROM stage_attempts),"
	    " (SELECT count(*) FROM metrics), (SELECT count(*) FROM artifacts),"
	    " (SELECT count(*) FROM model_versions),"
	    " (SELECT count(*) FROM attempt_log_heads),"
	    " (SELECT count(*) FROM attempt_log_chunks),"
	    " (SELECT count(*) FROM events),"
	    " (SELECT runs FROM retention_totals))", NULL, &res, &err), 0);
	(void)snprintf(out, outlen, "%s", db_res_text(res, 0, 0));
	db_res_free(res);
}

static void
gc(struct fixture *x, int dry, struct testproc *p)
{
	char url[2200], sd[700];
	const char *env[] = { url, sd, NULL };
	const char *argv[] = { test_env("SLUICE_BIN"), "gc",
	    dry ? "--dry-run" : NULL, NULL };

	(void)snprintf(url, sizeof(url), "SLUICE_DATABASE_URL=%s",
	    x->f->a->t.url);
	(void)snprintf(sd, sizeof(sd), "SLUICE_STATE_DIR=%s", x->state);
	assert_int_equal(testproc_run(p, argv, env), 0);
	if (p->status != 0)
		fail_msg("sluice gc: %d %s", p->status, p->err);
}

/* Whether state_dir/attempts/sluice-<run>-train-1 (or work/<run>) is there. */
static int
exists(const char *kind, const char *dir, long long id)
{
	char path[1024];
	struct stat sb;

	if (strcmp(kind, "attempt") == 0)
		(void)snprintf(path, sizeof(path),
		    "%s/attempts/sluice-%lld-train-1", dir, id);
	else
		(void)snprintf(path, sizeof(path), "%s/work/%lld", dir, id);
	return stat(path, &sb) == 0;
}

static void
retention__keep_runs_5_leaves_the_5_newest_and_productions_run(void **state)
{
	struct fixture *x = *state;
	struct testproc p;
	char before[256], after[256], line[256];
	struct testreply rp;

	fifty_runs(x);
	/* the dry run lists, and changes nothing */
	table_counts(x, before, sizeof(before));
	gc(x, 1, &p);
	table_counts(x, after, sizeof(after));
	assert_string_equal(before, after);
	(void)snprintf(line, sizeof(line), "delete  run %lld  demo  succeeded",
	    (long long)x->runs[0]);
	assert_non_null(strstr(p.out, line));
	(void)snprintf(line, sizeof(line), "keep    run %lld  demo  succeeded",
	    (long long)x->production);
	assert_non_null(strstr(p.out, line));
	assert_non_null(strstr(p.out, "beyond keep_runs 5: model demo v10 is "
	    "production"));
	assert_non_null(strstr(p.out, "gc: 44 runs to delete, 1 kept (dry run"));
	testproc_release(&p);
	assert_true(exists("attempt", x->state,
	    x->runs[0]));

	/* the sweep */
	gc(x, 0, &p);
	/* 4 stages a run (the demo's), 2 attempts with a model version */
	if (strstr(p.out, "gc: deleted 44 runs (176 stages, 88 attempts, 44 "
	    "model versions, ") == NULL)
		fail_msg("gc said: %s", p.out);
	testproc_release(&p);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"), 6);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"
	    " WHERE id >= %lld OR id = %lld", (long long)x->runs[45],
	    (long long)x->production), 6);
	/* what hung off the deleted runs went with them */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " model_versions"), 6);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " attempt_log_chunks"), 12);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events"
	    " WHERE run_id = %lld", (long long)x->runs[0]), 0);
	/* an audit event outlives its run */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM events"
	    " WHERE run_id = %lld", (long long)x->runs[2]), 1);
	/* and their files */
	assert_false(exists("attempt", x->state,
	    x->runs[0]));
	assert_false(exists("work", x->state, x->runs[0]));
	assert_true(exists("attempt", x->state,
	    x->runs[49]));
	assert_true(exists("work", x->state, x->production));
	/* /metrics counts it */
	testapi_request(x->f->a, &rp, "GET", "/metrics", NULL, 0, NULL);
	assert_int_equal(rp.status, 200);
	assert_non_null(strstr(rp.body,
	    "sluice_retention_deleted_total{what=\"runs\"} 44\n"));
	assert_non_null(strstr(rp.body,
	    "sluice_retention_deleted_total{what=\"log_bytes\"} 1760000\n"));
	testreply_free(&rp);
	/* a second sweep has nothing to do */
	table_counts(x, before, sizeof(before));
	gc(x, 0, &p);
	assert_non_null(strstr(p.out, "gc: deleted 0 runs"));
	testproc_release(&p);
	table_counts(x, after, sizeof(after));
	assert_string_equal(before, after);
}

static void
retention__what_a_kept_run_needs_stays_too(void **state)
{
	struct fixture *x = *state;
	struct testproc p;
	char line[256];
	int64_t retry;

	fifty_runs(x);
	/* run 1 is the parent of a retry kept as run 49's stage reuser... */
	retry = seed_sql(x->f->db, "UPDATE runs SET parent_run_id = %lld,"
	    " trigger = 'retry' WHERE id = %lld RETURNING id",
	    (long long)x->runs[0], (long long)x->runs[49]);
	/* ...run 2 registered the model run 48's rollout replaced */
	seed_sql(x->f->db, "INSERT INTO rollouts (run_id, stage_id, target,"
	    " previous_model_version_id, status, steps, current_step,"
	    " current_weight, finished_at) SELECT %lld, s.id, 'demo-api',"
	    " (SELECT id FROM model_versions WHERE run_id = %lld), 'succeeded',"
	    " 1, 1, 100, now() FROM stages s WHERE s.run_id = %lld"
	    " AND s.name = 'rollout'", (long long)x->runs[47],
	    (long long)x->runs[1], (long long)x->runs[47]);
	/* a pending approval and an unfinished run */
	seed_sql(x->f->db, "UPDATE runs SET status = 'running',"
	    " finished_at = NULL WHERE id = %lld", (long long)x->runs[5]);
	gc(x, 1, &p);
	(void)snprintf(line, sizeof(line), "keep    run %lld  demo",
	    (long long)x->runs[0]);
	assert_non_null(strstr(p.out, line));
	(void)snprintf(line, sizeof(line), "its retry, run %lld, is kept",
	    (long long)retry);
	assert_non_null(strstr(p.out, line));
	(void)snprintf(line, sizeof(line), " of run %lld names model demo v2",
	    (long long)x->runs[47]);
	assert_non_null(strstr(p.out, line));
	(void)snprintf(line, sizeof(line), "keep    run %lld  demo  running",
	    (long long)x->runs[5]);
	assert_non_null(strstr(p.out, line));
	assert_non_null(strstr(p.out, "not finished"));
	testproc_release(&p);
	gc(x, 0, &p);
	testproc_release(&p);
	/* 5 newest, production's, the retry's parent, run 2, the running one */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"), 9);
}

static void
retention__events_stay_append_only_but_for_the_sweep(void **state)
{
	struct fixture *x = *state;
	struct db *db = x->f->db;
	struct err err;
	int64_t run = finished_run(x, 1);

	/* no setting: refused */
	assert_int_not_equal(db_exec(db, "DELETE FROM events", NULL, NULL,
	    &err), 0);
	assert_non_null(strstr(err.msg, "append-only"));
	assert_int_not_equal(db_exec(db, "UPDATE events SET actor = 'x'", NULL,
	    NULL, &err), 0);
	/* the setting, but the run still exists: refused */
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "SET LOCAL sluice.retention = 'on'", NULL,
	    NULL, &err), 0);
	assert_int_not_equal(db_exec(db, "DELETE FROM events WHERE run_id IS"
	    " NOT NULL", NULL, NULL, &err), 0);
	db_rollback(db);
	/* the setting, the run gone: its non-audit events only */
	seed_sql(db, "INSERT INTO events (actor, entity_type, entity_id, run_id,"
	    " action, from_state, to_state) VALUES ('alice', 'approval', 1,"
	    " %lld, 'transition', 'pending', 'approved')", (long long)run);
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "SET LOCAL sluice.retention = 'on'", NULL,
	    NULL, &err), 0);
	assert_int_equal(db_exec(db, "DELETE FROM model_versions", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_exec(db, "DELETE FROM runs", NULL, NULL, &err), 0);
	/* the approval's event is audit: the whole statement is refused */
	assert_int_not_equal(db_exec(db, "DELETE FROM events WHERE run_id IS"
	    " NOT NULL", NULL, NULL, &err), 0);
	db_rollback(db);
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "SET LOCAL sluice.retention = 'on'", NULL,
	    NULL, &err), 0);
	assert_int_equal(db_exec(db, "DELETE FROM model_versions", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_exec(db, "DELETE FROM runs", NULL, NULL, &err), 0);
	assert_int_equal(db_exec(db, "DELETE FROM events WHERE run_id IS"
	    " NOT NULL AND entity_type <> 'approval'", NULL, NULL, &err), 0);
	assert_int_equal(db_commit(db, &err), 0);
	assert_int_equal(seed_sql(db, "SELECT count(*) FROM events WHERE"
	    " run_id = %lld", (long long)run), 1);
	/* the setting ended with its transaction */
	assert_int_not_equal(db_exec(db, "DELETE FROM events", NULL, NULL,
	    &err), 0);
}

/* The size of the tables retention deletes from, with TOAST and indexes. */
static int64_t
history_bytes(struct db *db)
{
	return seed_sql(db, "SELECT sum(pg_total_relation_size(c))::bigint"
	    " FROM unnest(ARRAY['runs', 'stages', 'stage_attempts', 'metrics',"
	    " 'artifacts', 'attempt_log_heads', 'attempt_log_chunks', 'events',"
	    " 'model_versions']::regclass[]) c");
}

static void
retention__the_database_stops_growing_across_sweeps(void **state)
{
	struct fixture *x = *state;
	struct retention_counts c;
	struct cfg cfg;
	struct err err;
	int64_t size[6];
	int version = 1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = x->state;
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 10; i++)
			(void)finished_run(x, version++);
		assert_int_equal(retention_sweep(x->f->db, &cfg, NULL, &c,
		    &err), 0);
		assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"),
		    5);
		size[round] = history_bytes(x->f->db);
	}
	/* after the first rounds the space of deleted rows is reused */
	if (size[5] > size[2] + size[2] / 10)
		fail_msg("history grew from %lld to %lld bytes",
		    (long long)size[2], (long long)size[5]);
}

/* An engine on the fixture's database (a controller), with cfg loaded. */
static struct engine *
controller(struct fixture *x, struct cfg **cfg, struct executor *ex,
    struct fake_executor **fx)
{
	char dburl[2200], st[600], *envp[3];
	struct engine *e = NULL;
	struct err err;

	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    x->f->a->t.url);
	(void)snprintf(st, sizeof(st), "SLUICE_STATE_DIR=%s", x->state);
	envp[0] = dburl;
	envp[1] = st;
	envp[2] = NULL;
	*fx = fake_executor_new(ex);
	if (cfg_load(cfg, NULL, envp, NULL, 0, &err) < 0 ||
	    engine_new(&e, *cfg, *ex, &err) < 0)
		fail_msg("controller: %s", err.msg);
	return e;
}

static void
retention__only_the_active_controller_sweeps(void **state)
{
	struct fixture *x = *state;
	struct fake_executor *fx1, *fx2;
	struct executor ex1, ex2;
	struct cfg *cfg1 = NULL, *cfg2 = NULL;
	struct engine *e1, *e2;
	struct retention *r1, *r2;
	struct err err;
	int swept = -1;

	fifty_runs(x);
	e1 = controller(x, &cfg1, &ex1, &fx1);
	e2 = controller(x, &cfg2, &ex2, &fx2);
	r1 = retention_new(cfg1, e1);
	r2 = retention_new(cfg2, e2);
	/* before its engine's first pass, a controller does not sweep */
	assert_int_equal(retention_round(r1, &swept), 0);
	assert_int_equal(swept, 0);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"), 50);
	/* e1 takes the engine lock: e2 is a standby, and does not sweep */
	assert_int_equal(engine_tick(e1, &err), 0);
	assert_int_equal(engine_tick(e2, &err), ERR_CONFLICT);
	assert_int_equal(retention_round(r2, &swept), 0);
	assert_int_equal(swept, 0);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"), 50);
	/* the active one does, files included (they are on its disk) */
	assert_int_equal(retention_round(r1, &swept), 0);
	assert_int_equal(swept, 1);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM runs"), 6);
	assert_false(exists("attempt", x->state, x->runs[0]));
	retention_stop(r2);
	retention_stop(r1);
	engine_free(e2);
	engine_free(e1);
	fake_executor_free(fx2);
	fake_executor_free(fx1);
	cfg_free(cfg2);
	cfg_free(cfg1);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(retention__keep_runs_5_leaves_the_5_newest_and_productions_run),
		T(retention__what_a_kept_run_needs_stays_too),
		T(retention__events_stay_append_only_but_for_the_sweep),
		T(retention__the_database_stops_growing_across_sweeps),
		T(retention__only_the_active_controller_sweeps),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
