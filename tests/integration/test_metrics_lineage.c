/*
 * test_metrics_lineage.c - the lineage numbers of /metrics, read from the
 * database at scrape time: runs by pipeline and status, queue depth, GPUs
 * in use, pending approvals, stage durations, repository poll health.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "../support/testseed.h"
#include "store/db.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"

static void
has_line(const char *body, const char *line)
{
	char want[512];

	(void)snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(body, want) == NULL)
		fail_msg("no line '%s' in /metrics", line);
}

/* The demo pipeline's version in repository "demo"; *repo its id. */
static int64_t
demo_version(struct apifix *f, int64_t *repo)
{
	char *demo = seed_file("pipelines/demo.yaml");
	int64_t commit, version;

	*repo = seed_repo(f->db, "demo", "{main}");
	commit = seed_commit(f->db, *repo, SHA_A, "m", "Ada");
	version = seed_version(f->db, *repo, commit, "pipelines/demo.yaml",
	    demo, NULL, NULL);
	free(demo);
	return version;
}

static void
metrics__lineage_numbers_come_from_the_database(void **state)
{
	struct apifix *f = apifix_start(NULL, NULL);
	struct testreply r;
	int64_t repo, version, done, ro, a;

	(void)state;
	assert_non_null(f);
	version = demo_version(f, &repo);
	(void)seed_run(f->db, version, "push", "main", NULL);	/* queued */
	(void)seed_run(f->db, version, "push", "main", NULL);	/* queued */
	done = seed_run(f->db, version, "push", "main", NULL);
	seed_sql(f->db, "UPDATE stages SET status = 'succeeded', started_at = "
	    "now() - interval '42 seconds', finished_at = now() WHERE run_id = "
	    "%lld AND name = 'train'", (long long)done);
	seed_sql(f->db, "UPDATE runs SET status = 'succeeded', started_at = "
	    "now(), finished_at = now() WHERE id = %lld", (long long)done);
	a = seed_attempt(f->db, done, "prepare", 1, 0, "running");
	seed_sql(f->db, "UPDATE stage_attempts SET gpus = 2 WHERE id = %lld",
	    (long long)a);
	ro = seed_rollout(f->db, done, "rollout", "demo-api", 0, 0, 2, 50);
	(void)seed_approval(f->db, ro, 2, 50, "pending", NULL);
	seed_sql(f->db, "UPDATE repositories SET consecutive_failures = 3, "
	    "poll_status = 'failing' WHERE id = %lld", (long long)repo);

	testapi_as(f->a, &r, NULL, "GET", "/metrics", NULL);
	assert_int_equal(r.status, 200);
	has_line(r.body, "sluice_runs{pipeline=\"demo\",status=\"queued\"} 2");
	has_line(r.body, "sluice_runs_total{pipeline=\"demo\","
	    "status=\"succeeded\"} 1");
	has_line(r.body, "sluice_queue_depth 2");
	has_line(r.body, "sluice_gpus_in_use 2");
	has_line(r.body, "sluice_approvals_pending 1");
	has_line(r.body, "sluice_poll_consecutive_failures{repository=\"demo\"} "
	    "3");
	has_line(r.body, "sluice_stage_duration_seconds_bucket{pipeline="
	    "\"demo\",stage=\"train\",le=\"30\"} 0");
	has_line(r.body, "sluice_stage_duration_seconds_bucket{pipeline="
	    "\"demo\",stage=\"train\",le=\"60\"} 1");
	assert_non_null(strstr(r.body, "# TYPE sluice_poll_errors_total "
	    "counter"));
	testreply_free(&r);
	/* a second scrape does not count the same stage or run twice */
	testapi_as(f->a, &r, NULL, "GET", "/metrics", NULL);
	has_line(r.body, "sluice_stage_duration_seconds_count{pipeline="
	    "\"demo\",stage=\"train\"} 1");
	has_line(r.body, "sluice_runs_total{pipeline=\"demo\","
	    "status=\"succeeded\"} 1");
	testreply_free(&r);
	apifix_stop(f);
}

/*
 * A job stage that waited 10 minutes for a node and then ran 7 s counts
 * 7 s: its last attempt's run time, not the stage's wall time.
 */
static void
metrics__stage_duration_is_the_attempts_run_time(void **state)
{
	struct apifix *f = apifix_start(NULL, NULL);
	struct testreply r;
	int64_t repo, version, run, a;

	(void)state;
	assert_non_null(f);
	version = demo_version(f, &repo);
	run = seed_run(f->db, version, "push", "main", NULL);
	a = seed_attempt(f->db, run, "train", 1, 0, "running");
	seed_sql(f->db, "UPDATE stage_attempts SET status = 'succeeded', "
	    "started_at = now() - interval '7 seconds', finished_at = now() "
	    "WHERE id = %lld", (long long)a);
	seed_sql(f->db, "UPDATE stages SET status = 'succeeded', started_at = "
	    "now() - interval '600 seconds', finished_at = now() WHERE run_id = "
	    "%lld AND name = 'train'", (long long)run);
	testapi_as(f->a, &r, NULL, "GET", "/metrics", NULL);
	assert_int_equal(r.status, 200);
	has_line(r.body, "sluice_stage_duration_seconds_bucket{pipeline="
	    "\"demo\",stage=\"train\",le=\"5\"} 0");
	has_line(r.body, "sluice_stage_duration_seconds_bucket{pipeline="
	    "\"demo\",stage=\"train\",le=\"15\"} 1");
	testreply_free(&r);
	apifix_stop(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    metrics__lineage_numbers_come_from_the_database),
		cmocka_unit_test(
		    metrics__stage_duration_is_the_attempts_run_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
