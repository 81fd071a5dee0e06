/*
 * test_engine_admit.c - the engine's admission of queued runs
 * (store_run_admit, docs/engine.md "The loop"): who starts, under each
 * pipeline's concurrency and the limit, and that its statement reads only
 * the queue it may start (the plan), however long the backlog.
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
#include "../support/testseed.h"
#include "store/db.h"
#include "store/store_run.h"

#define SHA_A	"abcdef0123456789abcdef0123456789abcdef01"

struct fixture {
	struct testdb	 t;
	struct db	*db;
	int64_t		 repo, commit;
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	if (x == NULL || testdb_create_migrated(&x->t) < 0)
		return -1;
	x->db = testdb_open(&x->t);
	x->repo = seed_repo(x->db, "demo", "{main}");
	x->commit = seed_commit(x->db, x->repo, SHA_A, "first", "Ada");
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;

	db_free(x->db);
	testdb_drop(&x->t);
	free(x);
	return 0;
}

/*
 * A pipeline `name` whose version says `concurrency: conc`, with `running`
 * runs started and `queued` runs waiting (oldest first by id, the queued
 * ones after the running ones).  Returns the pipeline's id.
 */
static int64_t
seed_pipeline(struct fixture *x, const char *name, int conc, int running,
    int queued)
{
	int64_t p = seed_sql(x->db,
	    "INSERT INTO pipelines (repository_id, name, file_path)"
	    " VALUES (%lld, '%s', '%s.yaml') RETURNING id",
	    (long long)x->repo, name, name);
	int64_t v = seed_sql(x->db,
	    "INSERT INTO pipeline_versions (commit_id, file_path, pipeline_id,"
	    "  valid, definition) VALUES (%lld, '%s.yaml', %lld, true,"
	    "  '{\"spec\": {\"concurrency\": %d}}') RETURNING id",
	    (long long)x->commit, name, (long long)p, conc);

	seed_sql(x->db,
	    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id,"
	    "  trigger, created_by, status, started_at)"
	    " SELECT %lld, %lld, %lld, 'push', 'test', 'running', now()"
	    " FROM generate_series(1, %d);"
	    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id,"
	    "  trigger, created_by) SELECT %lld, %lld, %lld, 'push', 'test'"
	    " FROM generate_series(1, %d)",
	    (long long)p, (long long)v, (long long)x->commit, running,
	    (long long)p, (long long)v, (long long)x->commit, queued);
	return p;
}

static int
admit(struct fixture *x, int limit)
{
	struct err err;
	int started = -1;

	assert_int_equal(store_run_admit(x->db, limit, "controller", &started,
	    &err), 0);
	return started;
}

/* Runs of pipeline p in status. */
static int64_t
count(struct fixture *x, int64_t p, const char *status)
{
	return seed_sql(x->db, "SELECT count(*) FROM runs WHERE pipeline_id ="
	    " %lld AND status = '%s'", (long long)p, status);
}

static void
admit__starts_each_queue_up_to_its_concurrency(void **state)
{
	struct fixture *x = *state;
	int64_t full = seed_pipeline(x, "full", 1, 1, 5);
	int64_t two = seed_pipeline(x, "two", 2, 0, 5);
	int64_t any = seed_pipeline(x, "any", 0, 3, 4);

	/* full has no room, two has 2, any all 4 */
	assert_int_equal(admit(x, 100), 6);
	assert_int_equal(count(x, full, "running"), 1);
	assert_int_equal(count(x, two, "running"), 2);
	assert_int_equal(count(x, any, "running"), 7);
	/* the oldest of two's queue started, not the youngest */
	assert_int_equal(seed_sql(x->db, "SELECT count(*) FROM runs"
	    " WHERE pipeline_id = %lld AND status = 'queued' AND id < (SELECT"
	    " max(id) FROM runs WHERE pipeline_id = %lld AND status ="
	    " 'running')", (long long)two, (long long)two), 0);
	/* nothing more fits */
	assert_int_equal(admit(x, 100), 0);
	/* a run that ends makes room for one more of its pipeline */
	seed_sql(x->db, "UPDATE runs SET status = 'succeeded', finished_at ="
	    " now() WHERE id = (SELECT min(id) FROM runs WHERE pipeline_id ="
	    " %lld AND status = 'running')", (long long)full);
	assert_int_equal(admit(x, 100), 1);
	assert_int_equal(count(x, full, "running"), 1);
	assert_int_equal(count(x, full, "queued"), 4);
	/* every start is an event */
	assert_int_equal(seed_sql(x->db, "SELECT count(*) FROM events WHERE"
	    " entity_type = 'run' AND from_state = 'queued' AND to_state ="
	    " 'running'"), 7);
}

static void
admit__starts_the_oldest_first_within_the_limit(void **state)
{
	struct fixture *x = *state;
	int64_t a = seed_pipeline(x, "a", 0, 0, 3);
	int64_t b = seed_pipeline(x, "b", 0, 0, 3);

	/* a's runs are older than b's: the limit takes them first */
	assert_int_equal(admit(x, 4), 4);
	assert_int_equal(count(x, a, "running"), 3);
	assert_int_equal(count(x, b, "running"), 1);
	assert_int_equal(admit(x, 0), 0);
	assert_int_equal(admit(x, 10), 2);
}

/*
 * The plan: with a backlog of 30,000 queued runs over 30 pipelines, the
 * admission reads the queue through runs_queued (one probe per pipeline)
 * and never scans or numbers all runs.
 */
static void
admit__reads_only_the_runs_it_may_start(void **state)
{
	struct fixture *x = *state;
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	char sql[16384];
	int queued = 0;

	for (int i = 0; i < 30; i++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "p%d", i);
		(void)seed_pipeline(x, name, i % 3, i % 2, 1000);
	}
	seed_sql(x->db, "ANALYZE");
	(void)snprintf(sql, sizeof(sql), "EXPLAIN %s", store_run_admit_sql());
	db_args_init(&a);
	db_args_int64(&a, 64);
	db_args_str(&a, "controller");
	db_args_str(&a, "queued");
	db_args_str(&a, "running");
	db_args_bool(&a, 0);
	assert_int_equal(db_exec(x->db, sql, &a, &res, &err), 0);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const char *line = db_res_text(res, i, 0);

		if (strstr(line, "Seq Scan on runs") != NULL ||
		    strstr(line, "WindowAgg") != NULL) {
			for (size_t j = 0; j < db_res_rows(res); j++)
				fprintf(stderr, "  %s\n", db_res_text(res, j, 0));
			fail_msg("the admission reads the whole backlog: %s",
			    line);
		}
		if (strstr(line, "runs_queued") != NULL)
			queued = 1;
	}
	if (!queued) {
		for (size_t j = 0; j < db_res_rows(res); j++)
			fprintf(stderr, "  %s\n", db_res_text(res, j, 0));
		fail_msg("the admission does not read runs_queued");
	}
	db_res_free(res);
	/* and it does what the plan says: 10 pipelines without a limit */
	assert_int_equal(admit(x, 64), 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(admit__starts_each_queue_up_to_its_concurrency),
		T(admit__starts_the_oldest_first_within_the_limit),
		T(admit__reads_only_the_runs_it_may_start),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
