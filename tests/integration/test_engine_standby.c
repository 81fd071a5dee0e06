/*
 * test_engine_standby.c - two engines on one database, as two replicas'
 * engines are: one works, the other waits as a standby, and takes over
 * when the first one's session ends, without doing anything twice.
 * Real PostgreSQL, the fake executor, the engines' own loops
 * (engine_start), as `sluice serve` runs them.
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
#include "store/db.h"
#include "fake_executor.h"
#include "testdb.h"
#include "testseed.h"

static const char yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: standby}\n"
    "spec:\n"
    "  concurrency: 0\n"
    "  checkout: false\n"
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n";

struct fx {
	struct testdb		 t;
	struct db		*db;
	struct cfg		*cfg;
	char			 dir[512];
	int64_t			 version;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char dburl[2200], sd[600];
	char *envp[3];
	struct err err;
	int64_t repo, commit;

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    f->t.url);
	(void)snprintf(sd, sizeof(sd), "SLUICE_STATE_DIR=%s/state", f->dir);
	envp[0] = dburl;
	envp[1] = sd;
	envp[2] = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0) {
		fprintf(stderr, "config: %s\n", err.msg);
		return -1;
	}
	repo = seed_repo(f->db, "models", "{main}");
	commit = seed_commit(f->db, repo,
	    "0123456789012345678901234567890123456789", "seed", "t");
	f->version = seed_version(f->db, repo, commit,
	    "pipelines/standby.yaml", yaml, "standby", NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	cfg_free(f->cfg);
	db_free(f->db);
	test_rmtree(f->dir);
	testdb_drop(&f->t);
	free(f);
	return 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (at most 300 s: a bound against a hang, not a measure) for cond. */
#define WAIT_FOR(what, cond) do {					\
	int i_;								\
	for (i_ = 0; i_ < 30000 && !(cond); i_++)			\
		sleep_ms(10);						\
	if (!(cond))							\
		fail_msg("never: %s", what);				\
} while (0)

/* The number of submits of run's stage, attempt 1. */
static int
submits(struct fake_executor *fake, int64_t run, const char *stage)
{
	char name[64];

	(void)snprintf(name, sizeof(name), "sluice-%lld-%s-1", (long long)run,
	    stage);
	return fake_executor_submits(fake, name);
}

static void
engine__a_standby_takes_over_when_the_active_engine_goes(void **state)
{
	struct fx *f = *state;
	struct engine_opts o = { .poll_ms = 50 };
	struct executor ex;
	struct fake_executor *fake = fake_executor_new(&ex);
	struct engine *e1 = NULL, *e2 = NULL;
	struct err err;
	char name[64], sql[256];
	int64_t r1, r2;

	/* stage a runs until the test ends it: one cluster for both */
	fake_executor_on(fake, &(struct fake_rule){ .stage = "a",
	    .outcome = { .manual = 1 } });
	/* the first engine holds the lock and starts run 1 */
	assert_int_equal(engine_new(&e1, f->cfg, ex, &err), 0);
	engine_set_opts(e1, &o);
	r1 = seed_run(f->db, f->version, "api", "main", NULL);
	for (int i = 0; i < 50 && submits(fake, r1, "a") == 0; i++)
		assert_int_equal(engine_tick(e1, &err), 0);
	assert_int_equal(submits(fake, r1, "a"), 1);

	/* the second waits as a standby in its own loop: it starts nothing */
	assert_int_equal(engine_new(&e2, f->cfg, ex, &err), 0);
	engine_set_opts(e2, &o);
	assert_int_equal(engine_start(e2, &err), 0);
	r2 = seed_run(f->db, f->version, "api", "main", NULL);
	sleep_ms(500);
	assert_int_equal(submits(fake, r2, "a"), 0);

	/* the first one goes (its connection closes): the standby takes
	   over, starts run 2 and carries run 1 on, adopting its stage a */
	engine_free(e1);
	WAIT_FOR("the standby starts run 2", submits(fake, r2, "a") == 1);
	for (int64_t r = r1; r <= r2; r++) {
		(void)snprintf(name, sizeof(name), "sluice-%lld-a-1",
		    (long long)r);
		assert_int_equal(fake_executor_finish(fake, name,
		    EXEC_SUCCEEDED, 0, NULL), 0);
	}
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE id "
	    "IN (%lld, %lld) AND status = 'succeeded'", (long long)r1,
	    (long long)r2);
	WAIT_FOR("both runs succeeded", seed_sql(f->db, "%s", sql) == 2);
	/* each stage's attempt was submitted once */
	assert_int_equal(submits(fake, r1, "a"), 1);
	assert_int_equal(submits(fake, r1, "b"), 1);
	assert_int_equal(submits(fake, r2, "a"), 1);
	assert_int_equal(submits(fake, r2, "b"), 1);
	assert_int_equal(seed_sql(f->db, "SELECT count(*) FROM stage_attempts"),
	    4);
	engine_free(e2);
	fake_executor_free(fake);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    engine__a_standby_takes_over_when_the_active_engine_goes,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
