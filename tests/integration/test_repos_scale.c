/*
 * test_repos_scale.c - thousands of repositories: a sluice.yaml with 2,000
 * file:// repositories loads, the poller polls every one of them (more
 * than it keeps open at once), and the API lists them all, page by page;
 * max_repositories bounds the configuration and the API's additions.
 * Real git, real PostgreSQL, real HTTP.
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

#include "../support/testapi.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "git/poller.h"
#include "store/db.h"
#include "testsh.h"

#define NREPOS	2000

static const char pipeline_yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: demo}\n"
    "spec:\n"
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: train, command: [\"true\"]}\n";

struct fx {
	struct apifix	*f;
	char		 dir[512];
};

static int
setup(void **state)
{
	static const char *const settings[] = { "max_repositories=3", NULL };
	struct fx *x = calloc(1, sizeof(*x));

	if (x == NULL || test_tmpdir(x->dir, sizeof(x->dir)) < 0 ||
	    (x->f = apifix_start(settings, NULL)) == NULL)
		return -1;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", x->dir, 1);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;

	apifix_stop(x->f);
	test_rmtree(x->dir);
	free(x);
	return 0;
}

/* dir/sluice.yaml with n repositories r0000.. at url, interval 15s. */
static void
write_config(const char *dir, const char *db_url, int n, int max,
    const char *url)
{
	char path[600];
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/sluice.yaml", dir);
	if ((fp = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s", path);
	fprintf(fp, "database_url: \"%s\"\nstate_dir: %s/state\n"
	    "poll_workers: 4\n", db_url, dir);
	if (max > 0)
		fprintf(fp, "max_repositories: %d\n", max);
	fprintf(fp, "repositories:\n");
	for (int i = 0; i < n; i++)
		fprintf(fp, "  - {name: r%04d, url: \"%s\", interval: 15s}\n", i,
		    url);
	if (fclose(fp) != 0)
		fail_msg("cannot write %s", path);
}

static long long
count(struct fx *x, const char *sql)
{
	char *v = testdb_value(&x->f->a->t, sql);
	long long n = v != NULL ? strtoll(v, NULL, 10) : -1;

	free(v);
	return n;
}

static void
repos_scale__two_thousand_repositories_load_poll_and_list(void **state)
{
	struct fx *x = *state;
	char bare[600], work[600], url[700], path[600], page[512];
	char last[64] = "";
	struct cfg *cfg = NULL;
	struct poller *p = NULL;
	struct testreply rp;
	struct err err;
	time_t deadline;
	int listed = 0, pages = 0;

	(void)snprintf(bare, sizeof(bare), "%s/models.git", x->dir);
	(void)snprintf(work, sizeof(work), "%s/models", x->dir);
	test_git_remote(bare, work);
	setenv("PIPELINE", pipeline_yaml, 1);
	test_sh("cd %s && mkdir -p pipelines && printf '%%s' \"$PIPELINE\" > "
	    "pipelines/demo.yaml && " TEST_GIT "add -A && " TEST_GIT
	    "commit -qm seed && " TEST_GIT "push -q origin main", work);
	(void)snprintf(url, sizeof(url), "file://%s", bare);
	write_config(x->dir, x->f->a->t.url, NREPOS, 0, url);
	(void)snprintf(path, sizeof(path), "%s/sluice.yaml", x->dir);
	if (cfg_load(&cfg, path, (char *[]){ NULL }, NULL, 0, &err) < 0)
		fail_msg("config: %s", err.msg);
	assert_int_equal(cfg->nrepositories, NREPOS);
	assert_true(NREPOS > LIM_POLL_OPEN_SOURCES);

	if (poller_start(&p, cfg, &err) < 0)
		fail_msg("poller: %s", err.msg);
	/* A bound on the wait, not a timing assertion. */
	deadline = time(NULL) + 900;
	while (count(x, "SELECT count(*) FROM repositories WHERE"
	    " last_success_at IS NOT NULL AND deleted_at IS NULL") < NREPOS &&
	    time(NULL) < deadline)
		test_sh("sleep 0.5");
	poller_stop(p);
	assert_int_equal(count(x, "SELECT count(*) FROM repositories WHERE"
	    " last_success_at IS NOT NULL AND deleted_at IS NULL"), NREPOS);
	assert_int_equal(count(x, "SELECT count(*) FROM repositories WHERE"
	    " last_error IS NOT NULL"), 0);
	assert_int_equal(count(x, "SELECT count(DISTINCT repository_id) FROM"
	    " pipelines WHERE name = 'demo' AND deleted_at IS NULL"), NREPOS);

	/* Every one of them through the API, LIM_API_PAGE at a time. */
	(void)snprintf(page, sizeof(page), "/api/v1/repositories?limit=%d",
	    LIM_API_PAGE);
	for (;;) {
		json_t *j;
		size_t n;

		testapi_as(x->f->a, &rp, x->f->viewer, "GET", page, NULL);
		assert_int_equal(rp.status, 200);
		j = tj_parse(rp.body);
		n = tj_len(j, "repositories");
		for (size_t i = 0; i < n; i++) {
			char at[64];
			const char *name;

			(void)snprintf(at, sizeof(at), "repositories[%zu].name",
			    i);
			name = tj_str(j, at);
			assert_true(strcmp(name, last) > 0);
			(void)snprintf(last, sizeof(last), "%s", name);
			(void)snprintf(at, sizeof(at),
			    "repositories[%zu].poll_status", i);
			assert_string_equal(tj_str(j, at), "ok");
		}
		listed += (int)n;
		pages++;
		if (tj_is_null(j, "next_cursor")) {
			json_decref(j);
			testreply_free(&rp);
			break;
		}
		(void)snprintf(page, sizeof(page), "/api/v1/repositories?"
		    "limit=%d&cursor=%s", LIM_API_PAGE,
		    tj_str(j, "next_cursor"));
		json_decref(j);
		testreply_free(&rp);
	}
	assert_int_equal(listed, NREPOS);
	assert_int_equal(pages, NREPOS / LIM_API_PAGE);
	assert_string_equal(last, "r1999");
	cfg_free(cfg);
}

static void
repos_scale__config_past_max_repositories_is_refused(void **state)
{
	struct fx *x = *state;
	char path[600];
	struct cfg *cfg = NULL;
	struct err err;

	write_config(x->dir, "postgresql:///unused", 4, 3,
	    "file:///nonexistent.git");
	(void)snprintf(path, sizeof(path), "%s/sluice.yaml", x->dir);
	assert_int_equal(cfg_load(&cfg, path, (char *[]){ NULL }, NULL, 0,
	    &err), ERR_INVALID);
	assert_null(cfg);
	assert_string_equal(err.msg, "repositories: has 4 entries, more than "
	    "max_repositories (3)");
	write_config(x->dir, "postgresql:///unused", 3, 3,
	    "file:///nonexistent.git");
	if (cfg_load(&cfg, path, (char *[]){ NULL }, NULL, 0, &err) < 0)
		fail_msg("config: %s", err.msg);
	assert_int_equal(cfg->nrepositories, 3);
	cfg_free(cfg);
}

static void
repos_scale__api_adds_up_to_max_repositories(void **state)
{
	struct fx *x = *state;
	struct testreply rp;
	char body[256];

	/* The server of the fixture runs with max_repositories=3. */
	for (int i = 0; i < 4; i++) {
		(void)snprintf(body, sizeof(body), "{\"name\": \"a%d\", "
		    "\"url\": \"file:///nonexistent/a%d.git\"}", i, i);
		testapi_as(x->f->a, &rp, x->f->admin, "POST",
		    "/api/v1/repositories", body);
		if (i < 3) {
			assert_int_equal(rp.status, 201);
		} else {
			assert_int_equal(rp.status, 409);
			assert_non_null(strstr(rp.body, "there are already 3 "
			    "repositories, the most max_repositories allows"));
		}
		testreply_free(&rp);
	}
	assert_int_equal(count(x, "SELECT count(*) FROM repositories WHERE"
	    " deleted_at IS NULL"), 3);
	/* A deleted one frees its place. */
	testapi_as(x->f->a, &rp, x->f->admin, "DELETE",
	    "/api/v1/repositories/a0", NULL);
	assert_int_equal(rp.status, 204);
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->admin, "POST", "/api/v1/repositories",
	    "{\"name\": \"a3\", \"url\": \"file:///nonexistent/a3.git\"}");
	assert_int_equal(rp.status, 201);
	testreply_free(&rp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    repos_scale__two_thousand_repositories_load_poll_and_list,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    repos_scale__config_past_max_repositories_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    repos_scale__api_adds_up_to_max_repositories,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
