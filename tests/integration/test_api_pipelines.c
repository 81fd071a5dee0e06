/*
 * test_api_pipelines.c - /api/v1/pipelines over real HTTP and PostgreSQL:
 * the list, a pipeline's definition and errors, names shared by two
 * repositories, starting runs (at a branch, at a commit, and every reason
 * not to), idempotency, and the retrain webhook's runs.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "http/webhook.h"
#include "store/db.h"

#define SHA_A	"aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B	"bbbbbbb2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C	"aaaaaaa1cccccccccccccccccccccccccccccccc"
#define SECRET	"hook-secret"

/* A minimal pipeline that webhooks may not trigger. */
static const char quiet_yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: quiet}\n"
    "spec:\n"
    "  params: {size: \"1\"}\n"
    "  stages:\n"
    "    - {name: only, image: alpine, command: [\"true\"]}\n";

struct fixture {
	struct apifix	*f;
	int64_t		 repo, other;
	int64_t		 pipeline;	/* demo in repo */
	int64_t		 v_a, v_b;	/* demo at A (valid), at B (invalid) */
};

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	char *demo, *broken, *p;
	int64_t a, b, c, ca, pid;

	if (x == NULL || (x->f = apifix_start(NULL, SECRET)) == NULL)
		return -1;
	demo = seed_file("pipelines/demo.yaml");
	/* The same file with a typo in a stage: invalid, name readable. */
	broken = strdup(demo);
	assert_non_null(broken);
	p = strstr(broken, "    - name: train\n      needs:");
	assert_non_null(p);
	memcpy(strstr(p, "needs:"), "nedds:", 6);
	x->repo = seed_repo(x->f->db, "demo", "{main,dev}");
	a = seed_commit(x->f->db, x->repo, SHA_A, "train more\n\nlonger",
	    "Ada");
	x->v_a = seed_version(x->f->db, x->repo, a, "pipelines/demo.yaml",
	    demo, NULL, &x->pipeline);
	(void)seed_version(x->f->db, x->repo, a, "pipelines/quiet.yaml",
	    quiet_yaml, NULL, &pid);
	seed_head(x->f->db, x->repo, "main", SHA_A);
	b = seed_commit(x->f->db, x->repo, SHA_B, "oops", "Bob");
	x->v_b = seed_version(x->f->db, x->repo, b, "pipelines/demo.yaml",
	    broken, "demo", NULL);
	seed_head(x->f->db, x->repo, "dev", SHA_B);
	/* a commit sharing A's first 8 digits, with no version */
	c = seed_commit(x->f->db, x->repo, SHA_C, "other", "Cy");
	(void)c;
	/* a second repository with a pipeline of the same name */
	x->other = seed_repo(x->f->db, "other", "{main}");
	ca = seed_commit(x->f->db, x->other, SHA_A, "copy", "Ada");
	(void)seed_version(x->f->db, x->other, ca, "pipelines/demo.yaml",
	    demo, NULL, NULL);
	seed_head(x->f->db, x->other, "main", SHA_A);
	free(demo);
	free(broken);
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

static void
assert_value(struct fixture *x, const char *sql, const char *want)
{
	char *v = testdb_value(&x->f->a->t, sql);

	if (strcmp(v != NULL ? v : "", want) != 0)
		fail_msg("%s\n  got '%s', want '%s'", sql, v ? v : "", want);
	free(v);
}

static void
pipelines__list_shows_latest_versions_and_last_runs(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	int64_t run = seed_run(x->f->db, x->v_a, "push", "main", NULL);
	json_t *j;

	testapi_as(x->f->a, &rp, x->f->viewer, "GET", "/api/v1/pipelines",
	    NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "pipelines"), 3);
	/* by name, then repository */
	assert_string_equal(tj_str(j, "pipelines[0].name"), "demo");
	assert_string_equal(tj_str(j, "pipelines[0].repository"), "demo");
	assert_string_equal(tj_str(j, "pipelines[0].file"),
	    "pipelines/demo.yaml");
	assert_false(tj_bool(j, "pipelines[0].deleted"));
	assert_int_equal(tj_int(j, "pipelines[0].latest.version"), x->v_b);
	assert_false(tj_bool(j, "pipelines[0].latest.valid"));
	assert_string_equal(tj_str(j, "pipelines[0].latest.commit"), SHA_B);
	assert_int_equal(tj_int(j, "pipelines[0].last_run.id"), run);
	assert_string_equal(tj_str(j, "pipelines[0].last_run.status"),
	    "queued");
	assert_string_equal(tj_str(j, "pipelines[1].repository"), "other");
	assert_true(tj_is_null(j, "pipelines[1].last_run"));
	assert_string_equal(tj_str(j, "pipelines[2].name"), "quiet");
	assert_true(tj_bool(j, "pipelines[2].latest.valid"));
	json_decref(j);
	testreply_free(&rp);

	/* one repository; paging; deleted ones only when asked */
	seed_sql(x->f->db, "UPDATE pipelines SET deleted_at = now() WHERE"
	    " name = 'quiet'");
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines?repository=demo", NULL);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "pipelines"), 1);
	json_decref(j);
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines?repository=demo&deleted=true&limit=1", NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "pipelines"), 1);
	assert_string_equal(tj_str(j, "pipelines[0].name"), "demo");
	{
		char path[512];

		(void)snprintf(path, sizeof(path), "/api/v1/pipelines?"
		    "repository=demo&deleted=1&limit=1&cursor=%s",
		    tj_str(j, "next_cursor"));
		json_decref(j);
		testreply_free(&rp);
		testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	}
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "pipelines"), 1);
	assert_string_equal(tj_str(j, "pipelines[0].name"), "quiet");
	assert_true(tj_bool(j, "pipelines[0].deleted"));
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines?deleted=maybe", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
}

static void
pipelines__detail_has_definition_latest_commit_and_errors(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;
	json_t *j;

	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines/demo?repository=demo", NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "name"), "demo");
	/* the definition is the latest valid version's canonical JSON */
	assert_int_equal(tj_int(j, "version"), x->v_a);
	assert_string_equal(tj_str(j, "definition.metadata.name"), "demo");
	assert_string_equal(tj_str(j, "definition.spec.stages[1].name"),
	    "train");
	assert_string_equal(tj_str(j, "params.epochs"), "100");
	assert_string_equal(tj_str(j, "definition_commit.sha"), SHA_A);
	/* the latest version is the broken one, with its errors */
	assert_int_equal(tj_int(j, "latest.version"), x->v_b);
	assert_false(tj_bool(j, "latest.valid"));
	assert_string_equal(tj_str(j, "latest.commit.sha"), SHA_B);
	assert_string_equal(tj_str(j, "latest.commit.message"), "oops");
	assert_string_equal(tj_str(j, "latest.commit.author"), "Bob");
	assert_non_null(tj_str(j, "latest.commit.time"));
	assert_true(tj_len(j, "latest.errors") >= 1);
	assert_string_equal(tj_str(j, "latest.errors[0].file"),
	    "pipelines/demo.yaml");
	assert_true(tj_int(j, "latest.errors[0].line") > 0);
	assert_true(tj_int(j, "latest.errors[0].column") > 0);
	assert_non_null(strstr(tj_str(j, "latest.errors[0].message"),
	    "nedds"));
	/* where it stands on each branch */
	assert_int_equal(tj_len(j, "heads"), 2);
	assert_string_equal(tj_str(j, "heads[0].branch"), "dev");
	assert_false(tj_bool(j, "heads[0].valid"));
	assert_string_equal(tj_str(j, "heads[1].branch"), "main");
	assert_int_equal(tj_int(j, "heads[1].version"), x->v_a);
	json_decref(j);
	testreply_free(&rp);

	testapi_as(x->f->a, &rp, x->f->viewer, "GET", "/api/v1/pipelines/nope",
	    NULL);
	assert_int_equal(rp.status, 404);
	assert_non_null(strstr(rp.body, "pipeline 'nope' not found"));
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines/demo?repo=demo", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
}

static void
pipelines__a_name_in_two_repositories_needs_the_repository(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;

	testapi_as(x->f->a, &rp, x->f->viewer, "GET", "/api/v1/pipelines/demo",
	    NULL);
	assert_int_equal(rp.status, 409);
	assert_non_null(strstr(rp.body, "\"code\":\"ambiguous\""));
	assert_non_null(strstr(rp.body, "repositories demo, other"));
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->operator, "POST",
	    "/api/v1/pipelines/demo/runs", "{}");
	assert_int_equal(rp.status, 409);
	assert_non_null(strstr(rp.body, "\"code\":\"ambiguous\""));
	testreply_free(&rp);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET",
	    "/api/v1/pipelines/demo?repository=other", NULL);
	assert_int_equal(rp.status, 200);
	assert_non_null(strstr(rp.body, "\"repository\" : \"other\""));
	testreply_free(&rp);
	/* once the other repository is gone the name is plain again */
	seed_sql(x->f->db, "UPDATE repositories SET deleted_at = now()"
	    " WHERE name = 'other'");
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", "/api/v1/pipelines/demo",
	    NULL);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
}

static void
runs__operator_starts_a_run_at_a_branch_head(void **state)
{
	struct fixture *x = *state;
	struct db *listener = testdb_open(&x->f->a->t);
	struct testreply rp;
	char loc[64], want[64], ch[64], payload[64];
	struct err err;
	json_t *j;
	int got = 0;

	assert_int_equal(db_listen(listener, "sluice_runs", &err), 0);
	testapi_as(x->f->a, &rp, x->f->operator, "POST",
	    "/api/v1/pipelines/demo/runs?repository=demo",
	    "{\"params\":{\"epochs\":\"5\"},\"ref\":\"main\","
	    "\"reason\":\"try fewer epochs\"}");
	assert_int_equal(rp.status, 201);
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "pipeline"), "demo");
	assert_string_equal(tj_str(j, "repository"), "demo");
	assert_string_equal(tj_str(j, "status"), "queued");
	assert_string_equal(tj_str(j, "trigger"), "api");
	assert_string_equal(tj_str(j, "branch"), "main");
	assert_string_equal(tj_str(j, "commit.sha"), SHA_A);
	assert_string_equal(tj_str(j, "created_by"), "oli-operator");
	assert_string_equal(tj_str(j, "reason"), "try fewer epochs");
	assert_int_equal(tj_int(j, "pipeline_version"), x->v_a);
	/* overrides on top of the defaults */
	assert_string_equal(tj_str(j, "params.epochs"), "5");
	assert_string_equal(tj_str(j, "params.seed"), "42");
	assert_int_equal(tj_len(j, "stages"), 4);
	assert_string_equal(tj_str(j, "stages[3].name"), "rollout");
	assert_string_equal(tj_str(j, "stages[3].type"), "canary");
	assert_string_equal(tj_str(j, "stages[3].status"), "pending");
	assert_true(tj_is_null(j, "parent_run"));
	(void)snprintf(want, sizeof(want), "/api/v1/runs/%lld",
	    tj_int(j, "id"));
	assert_int_equal(testreply_header(&rp, "Location", loc, sizeof(loc)),
	    0);
	assert_string_equal(loc, want);
	/* the engine is woken */
	for (int i = 0; i < 50 && got == 0; i++)
		got = db_wait_notify(listener, 100, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
	assert_int_equal(got, 1);
	(void)snprintf(want, sizeof(want), "%lld", tj_int(j, "id"));
	assert_string_equal(payload, want);
	json_decref(j);
	testreply_free(&rp);
	assert_value(x, "SELECT actor || ' ' || action || ' ' || to_state"
	    " FROM events WHERE entity_type = 'run'",
	    "oli-operator created queued");

	/* no body: the first branch, defaults */
	testapi_as(x->f->a, &rp, x->f->operator, "POST",
	    "/api/v1/pipelines/quiet/runs", NULL);
	assert_int_equal(rp.status, 201);
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "branch"), "main");
	assert_string_equal(tj_str(j, "params.size"), "1");
	assert_true(tj_is_null(j, "reason"));
	json_decref(j);
	testreply_free(&rp);

	/* at a commit, by a prefix: no branch */
	testapi_as(x->f->a, &rp, x->f->admin, "POST",
	    "/api/v1/pipelines/demo/runs?repository=demo",
	    "{\"commit\":\"AAAAAAA1AAAA\"}");
	assert_int_equal(rp.status, 201);
	j = tj_parse(rp.body);
	assert_true(tj_is_null(j, "branch"));
	assert_string_equal(tj_str(j, "commit.sha"), SHA_A);
	assert_string_equal(tj_str(j, "created_by"), "ada-admin");
	json_decref(j);
	testreply_free(&rp);
	db_free(listener);
}

static void
runs__requests_that_cannot_run_say_why(void **state)
{
	struct fixture *x = *state;
	static const struct {
		const char *path, *body;
		long status;
		const char *want;
	} cases[] = {
		{ "demo/runs?repository=demo", "{\"ref\":\"dev\"}", 422,
		  "pipeline 'demo' is invalid at commit bbbbbbb2bbbb" },
		{ "demo/runs?repository=demo", "{\"ref\":\"feature\"}", 422,
		  "branch 'feature' is not watched by repository 'demo' "
		  "(branches: main, dev)" },
		{ "demo/runs?repository=demo", "{\"commit\":\"1234567\"}", 422,
		  "commit '1234567' is not known in repository 'demo'" },
		{ "demo/runs?repository=demo", "{\"commit\":\"aaaaaaa1\"}", 422,
		  "commit 'aaaaaaa1' is ambiguous" },
		{ "demo/runs?repository=demo", "{\"commit\":\"" SHA_C "\"}", 422,
		  "pipeline 'demo' has no version at commit aaaaaaa1cccc" },
		{ "demo/runs?repository=demo", "{\"params\":{\"epoch\":\"1\","
		  "\"zz\":\"2\",\"lr\":\"1\"}}", 422,
		  "pipeline 'demo' does not declare params epoch, zz "
		  "(declared: epochs, fault_rate, lr, rows, seed)" },
		{ "demo/runs?repository=demo", "{\"ref\":\"main\",\"commit\":"
		  "\"aaaaaaa\"}", 400, "give \\\"ref\\\" or \\\"commit\\\"" },
		{ "demo/runs?repository=demo", "{\"commit\":\"xyz1234\"}", 400,
		  "field \\\"commit\\\": expected 7 to 64 hexadecimal" },
		{ "demo/runs?repository=demo", "{\"commit\":\"abc\"}", 400,
		  "expected 7 to 64" },
		{ "demo/runs?repository=demo", "{\"params\":{\"epochs\":5}}",
		  400, "field \\\"params.epochs\\\": expected a string" },
		{ "demo/runs?repository=demo", "{\"branch\":\"main\"}", 400,
		  "unknown field \\\"branch\\\"" },
		{ "demo/runs?repository=demo", "{\"ref\":\"\"}", 400,
		  "field \\\"ref\\\": expected a branch name" },
		{ "demo/runs?repo=demo", "{}", 400,
		  "unknown query parameter \\\"repo\\\"" },
		{ "nope/runs", "{}", 404, "pipeline 'nope' not found" },
		{ "demo/runs?repository=nope", "{}", 404,
		  "pipeline 'demo' not found in repository 'nope'" },
	};
	struct testreply rp;
	char path[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(path, sizeof(path), "/api/v1/pipelines/%s",
		    cases[i].path);
		testapi_as(x->f->a, &rp, x->f->operator, "POST", path,
		    cases[i].body);
		if (rp.status != cases[i].status ||
		    strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s %s: %ld %s", cases[i].path, cases[i].body,
			    rp.status, rp.body);
		if (cases[i].status == 422)
			assert_non_null(strstr(rp.body,
			    "\"code\":\"unprocessable\""));
		testreply_free(&rp);
	}
	/* a viewer may not */
	testapi_as(x->f->a, &rp, x->f->viewer, "POST",
	    "/api/v1/pipelines/quiet/runs", "{}");
	assert_int_equal(rp.status, 403);
	testreply_free(&rp);
	/* a deleted pipeline */
	seed_sql(x->f->db, "UPDATE pipelines SET deleted_at = now() WHERE"
	    " name = 'quiet'");
	testapi_as(x->f->a, &rp, x->f->operator, "POST",
	    "/api/v1/pipelines/quiet/runs", "{}");
	assert_int_equal(rp.status, 422);
	assert_non_null(strstr(rp.body, "was deleted"));
	testreply_free(&rp);
	assert_value(x, "SELECT count(*) FROM runs", "0");
}

static void
runs__an_idempotency_key_gives_the_first_run_again(void **state)
{
	struct fixture *x = *state;
	const char *h1[] = { NULL, "Idempotency-Key: nightly-2026-11-21", NULL };
	char auth[128];
	struct testreply first, again, other;
	const char *body = "{\"params\":{\"lr\":\"0.1\"}}";

	(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    x->f->operator);
	h1[0] = auth;
	testapi_request(x->f->a, &first, "POST", "/api/v1/pipelines/quiet/runs",
	    "{}", 2, h1);
	assert_int_equal(first.status, 201);
	testapi_request(x->f->a, &again, "POST", "/api/v1/pipelines/quiet/runs",
	    "{}", 2, h1);
	assert_int_equal(again.status, 200);
	assert_string_equal(again.body, first.body);
	/* another caller's key of the same text is another request */
	(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    x->f->admin);
	testapi_request(x->f->a, &other, "POST", "/api/v1/pipelines/quiet/runs",
	    "{}", 2, h1);
	assert_int_equal(other.status, 201);
	testreply_free(&first);
	testreply_free(&again);
	testreply_free(&other);
	assert_value(x, "SELECT count(*) FROM runs", "2");
	h1[1] = "Idempotency-Key: bad key!";
	testapi_request(x->f->a, &first, "POST",
	    "/api/v1/pipelines/demo/runs?repository=demo", body, strlen(body),
	    h1);
	assert_int_equal(first.status, 400);
	assert_non_null(strstr(first.body, "Idempotency-Key header"));
	testreply_free(&first);
}

#define RACERS	20

struct racer {
	struct testapi		*a;
	pthread_barrier_t	*start;
	const char		*headers[3];
	struct testreply	 rp;
	pthread_t		 thread;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	(void)pthread_barrier_wait(r->start);
	testapi_request(r->a, &r->rp, "POST", "/api/v1/pipelines/quiet/runs",
	    "{}", 2, r->headers);
	return NULL;
}

/*
 * Retries that arrive together: one creates the run (201), every other
 * one gets that run (200), none an error.
 */
static void
runs__concurrent_callers_with_one_idempotency_key_get_one_run(void **state)
{
	struct fixture *x = *state;
	struct racer r[RACERS];
	pthread_barrier_t start;
	char auth[128], key[64], got[64], want[64];
	int created;

	(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    x->f->operator);
	for (int round = 0; round < 3; round++) {
		(void)snprintf(key, sizeof(key), "Idempotency-Key: race-%d",
		    round);
		assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].a = x->f->a;
			r[i].start = &start;
			r[i].headers[0] = auth;
			r[i].headers[1] = key;
			assert_int_equal(pthread_create(&r[i].thread, NULL,
			    race, &r[i]), 0);
		}
		for (int i = 0; i < RACERS; i++)
			assert_int_equal(pthread_join(r[i].thread, NULL), 0);
		(void)pthread_barrier_destroy(&start);
		created = 0;
		for (int i = 0; i < RACERS; i++) {
			json_t *j;

			if (r[i].rp.status != 201 && r[i].rp.status != 200)
				fail_msg("round %d caller %d: %ld %s", round,
				    i, r[i].rp.status, r[i].rp.body);
			created += r[i].rp.status == 201;
			j = tj_parse(r[i].rp.body);
			(void)snprintf(got, sizeof(got), "%lld",
			    (long long)tj_int(j, "id"));
			json_decref(j);
			if (i == 0)
				(void)snprintf(want, sizeof(want), "%s", got);
			assert_string_equal(got, want);
		}
		assert_int_equal(created, 1);
		for (int i = 0; i < RACERS; i++)
			testreply_free(&r[i].rp);
	}
	assert_value(x, "SELECT count(*) FROM runs", "3");
}

static void
retrain(struct fixture *x, struct testreply *rp, const char *pipeline,
    const char *delivery, const char *body)
{
	char path[128], hs[128], hd[128], s[WEBHOOK_SIG_LEN + 1];
	const char *h[3] = { hs, hd, NULL };

	assert_int_equal(webhook_sign(SECRET, body, strlen(body), s,
	    sizeof(s)), 0);
	(void)snprintf(hs, sizeof(hs), "X-Sluice-Signature-256: %s", s);
	(void)snprintf(hd, sizeof(hd), "X-Sluice-Delivery: %s", delivery);
	(void)snprintf(path, sizeof(path), "/api/v1/hooks/retrain/%s",
	    pipeline);
	testapi_request(x->f->a, rp, "POST", path, body, strlen(body), h);
}

static void
retrain__the_webhook_starts_a_run_once_per_delivery(void **state)
{
	struct fixture *x = *state;
	struct testreply rp, again;
	char want[128];

	/* the other repository's demo would make the name ambiguous */
	seed_sql(x->f->db, "UPDATE repositories SET deleted_at = now()"
	    " WHERE name = 'other'");
	retrain(x, &rp, "demo", "d-1", "{\"params\":{\"seed\":\"7\"},"
	    "\"reason\":\"new data\"}");
	assert_int_equal(rp.status, 202);
	(void)snprintf(want, sizeof(want), "\"pipeline\": \"demo\"");
	assert_non_null(strstr(rp.body, want));
	retrain(x, &again, "demo", "d-1", "{\"params\":{\"seed\":\"7\"},"
	    "\"reason\":\"new data\"}");
	assert_int_equal(again.status, 202);
	assert_string_equal(again.body, rp.body);
	testreply_free(&rp);
	testreply_free(&again);
	assert_value(x, "SELECT trigger || ' ' || branch || ' ' || created_by"
	    " || ' ' || reason || ' ' || (params->>'seed') || ' ' ||"
	    " idempotency_key FROM runs", "webhook main webhook new data 7 "
	    "hook:d-1");
	assert_value(x, "SELECT run_id = (SELECT id FROM runs) FROM"
	    " webhook_deliveries", "t");

	/* refusals: recorded, no run */
	retrain(x, &rp, "quiet", "d-2", "{}");
	assert_int_equal(rp.status, 422);
	assert_non_null(strstr(rp.body, "does not accept webhook triggers"));
	testreply_free(&rp);
	retrain(x, &rp, "demo", "d-3", "{\"params\":{\"nope\":\"1\"}}");
	assert_int_equal(rp.status, 422);
	assert_non_null(strstr(rp.body, "does not declare params nope"));
	testreply_free(&rp);
	retrain(x, &rp, "ghost", "d-4", "{}");
	assert_int_equal(rp.status, 404);
	testreply_free(&rp);
	assert_value(x, "SELECT count(*) FROM runs", "1");
	assert_value(x, "SELECT string_agg(delivery_id || ':' || status_code,"
	    " ',' ORDER BY id) FROM webhook_deliveries",
	    "d-1:202,d-2:422,d-3:422,d-4:404");
}

static void
retrain__a_name_in_two_repositories_is_409_ambiguous(void **state)
{
	struct fixture *x = *state;
	struct testreply rp;

	retrain(x, &rp, "demo", "amb-1", "{}");
	assert_int_equal(rp.status, 409);
	if (strstr(rp.body, "\"code\": \"ambiguous\"") == NULL)
		fail_msg("got %s", rp.body);
	testreply_free(&rp);
	assert_value(x, "SELECT count(*) FROM runs", "0");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(pipelines__list_shows_latest_versions_and_last_runs),
		T(pipelines__detail_has_definition_latest_commit_and_errors),
		T(pipelines__a_name_in_two_repositories_needs_the_repository),
		T(runs__operator_starts_a_run_at_a_branch_head),
		T(runs__requests_that_cannot_run_say_why),
		T(runs__an_idempotency_key_gives_the_first_run_again),
		T(runs__concurrent_callers_with_one_idempotency_key_get_one_run),
		T(retrain__the_webhook_starts_a_run_once_per_delivery),
		T(retrain__a_name_in_two_repositories_is_409_ambiguous),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
