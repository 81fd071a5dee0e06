/*
 * test_api_repos.c - /api/v1/repositories over real HTTP and PostgreSQL:
 * the list with poll state and without credentials, adding (validated
 * like sluice.yaml), deleting, refreshing, roles, paging, bad input.
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
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/routes.h"
#include "store/db.h"

/* VISION_TOKEN is allowed here so the add test can name it. */
static const char *const settings[] = {
	"api_env_allowlist=[SLUICE_GIT_*, VISION_TOKEN]", NULL
};

static int
setup(void **state)
{
	struct apifix *f = apifix_start(settings, NULL);

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	apifix_stop(*state);
	return 0;
}

/* The first column of the first row of sql, as text ("" for none). */
static void
assert_value(struct apifix *f, const char *sql, const char *want)
{
	char *v = testdb_value(&f->a->t, sql);

	if (strcmp(v != NULL ? v : "", want) != 0)
		fail_msg("%s\n  got '%s', want '%s'", sql, v ? v : "", want);
	free(v);
}

static void
repos__list_shows_poll_state_and_hides_credentials(void **state)
{
	struct apifix *f = *state;
	struct testreply rp;
	json_t *j;

	seed_sql(f->db, "INSERT INTO repositories (name, url, branches, path,"
	    " poll_interval_ms, auth_token_env, source, poll_status,"
	    " last_poll_at, last_error, consecutive_failures) VALUES"
	    " ('beta', 'https://bot:s3cret@git.example/beta.git',"
	    "  '{main,dev}', 'ml', 15000, 'GIT_TOKEN', 'api', 'failing',"
	    "  '2026-11-21T10:00:00Z', 'fetch: 503', 2),"
	    " ('alpha', 'ssh://git:pw@git.example:22/alpha.git', '{main}',"
	    "  'pipelines', NULL, NULL, 'config', 'ok', now(), NULL, 0),"
	    " ('gamma', 'https://t0ken@github.com/acme/g', '{main}',"
	    "  'pipelines', NULL, NULL, 'config', 'pending', NULL, NULL, 0)");
	seed_head(f->db, seed_sql(f->db, "SELECT id FROM repositories WHERE"
	    " name = 'beta'"), "main", "0123456789abcdef0123456789abcdef01234567");
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/repositories", NULL);
	assert_int_equal(rp.status, 200);
	assert_null(strstr(rp.body, "s3cret"));
	assert_null(strstr(rp.body, "t0ken"));
	assert_null(strstr(rp.body, ":pw@"));
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "repositories"), 3);
	assert_true(tj_is_null(j, "next_cursor"));
	/* by name */
	assert_string_equal(tj_str(j, "repositories[0].name"), "alpha");
	assert_string_equal(tj_str(j, "repositories[0].url"),
	    "ssh://git:***@git.example:22/alpha.git");
	assert_string_equal(tj_str(j, "repositories[0].poll_status"), "ok");
	assert_true(tj_is_null(j, "repositories[0].interval_ms"));
	assert_int_equal(tj_len(j, "repositories[0].auth"), 0);
	assert_string_equal(tj_str(j, "repositories[1].name"), "beta");
	assert_string_equal(tj_str(j, "repositories[1].url"),
	    "https://git.example/beta.git");
	assert_string_equal(tj_str(j, "repositories[1].branches[1]"), "dev");
	assert_string_equal(tj_str(j, "repositories[1].path"), "ml");
	assert_int_equal(tj_int(j, "repositories[1].interval_ms"), 15000);
	assert_string_equal(tj_str(j, "repositories[1].auth.token_env"),
	    "GIT_TOKEN");
	assert_string_equal(tj_str(j, "repositories[1].source"), "api");
	assert_string_equal(tj_str(j, "repositories[1].poll_status"),
	    "failing");
	assert_string_equal(tj_str(j, "repositories[1].last_poll_at"),
	    "2026-11-21T10:00:00.000Z");
	assert_true(tj_is_null(j, "repositories[1].last_success_at"));
	assert_string_equal(tj_str(j, "repositories[1].last_error"),
	    "fetch: 503");
	assert_int_equal(tj_int(j, "repositories[1].consecutive_failures"), 2);
	assert_non_null(tj_str(j, "repositories[1].next_poll_at"));
	assert_string_equal(tj_str(j, "repositories[1].heads.main"),
	    "0123456789abcdef0123456789abcdef01234567");
	assert_string_equal(tj_str(j, "repositories[2].url"),
	    "https://github.com/acme/g");
	json_decref(j);
	testreply_free(&rp);

	/* one of them */
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/repositories/beta",
	    NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "name"), "beta");
	json_decref(j);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/repositories/nope",
	    NULL);
	assert_int_equal(rp.status, 404);
	assert_non_null(strstr(rp.body, "repository 'nope' not found"));
	testreply_free(&rp);
	/* no token: 401 */
	testapi_as(f->a, &rp, NULL, "GET", "/api/v1/repositories", NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
}

static void
repos__list_pages_by_name_and_checks_its_query(void **state)
{
	struct apifix *f = *state;
	struct testreply rp;
	char path[512];
	json_t *j;

	seed_repo(f->db, "r1", "{main}");
	seed_repo(f->db, "r2", "{main}");
	seed_repo(f->db, "r3", "{main}");
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/repositories?limit=2",
	    NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "repositories"), 2);
	assert_string_equal(tj_str(j, "repositories[1].name"), "r2");
	(void)snprintf(path, sizeof(path), "/api/v1/repositories?limit=2&"
	    "cursor=%s", tj_str(j, "next_cursor"));
	json_decref(j);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->viewer, "GET", path, NULL);
	assert_int_equal(rp.status, 200);
	j = tj_parse(rp.body);
	assert_int_equal(tj_len(j, "repositories"), 1);
	assert_string_equal(tj_str(j, "repositories[0].name"), "r3");
	assert_true(tj_is_null(j, "next_cursor"));
	json_decref(j);
	testreply_free(&rp);

	static const struct { const char *q, *want; } bad[] = {
		{ "?limt=2", "unknown query parameter \\\"limt\\\"" },
		{ "?limit=0", "expected an integer from 1 to 200" },
		{ "?limit=201", "expected an integer from 1 to 200" },
		{ "?limit=2&limit=3", "given more than once" },
		{ "?cursor=zzz", "not a cursor of this list" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(path, sizeof(path), "/api/v1/repositories%s",
		    bad[i].q);
		testapi_as(f->a, &rp, f->viewer, "GET", path, NULL);
		assert_int_equal(rp.status, 400);
		if (strstr(rp.body, bad[i].want) == NULL)
			fail_msg("%s: %s", bad[i].q, rp.body);
		testreply_free(&rp);
	}
}

static void
repos__admin_adds_a_repository_checked_like_the_config(void **state)
{
	struct apifix *f = *state;
	const char *body = "{\"name\":\"vision\",\"url\":"
	    "\"https://git.example/vision.git\",\"branches\":[\"main\","
	    "\"release\"],\"path\":\"ml/pipelines\",\"interval\":\"45s\","
	    "\"auth\":{\"token_env\":\"VISION_TOKEN\"}}";
	struct testreply rp;
	char loc[256];
	json_t *j;

	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories", body);
	assert_int_equal(rp.status, 201);
	assert_int_equal(testreply_header(&rp, "Location", loc, sizeof(loc)),
	    0);
	assert_string_equal(loc, "/api/v1/repositories/vision");
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "name"), "vision");
	assert_string_equal(tj_str(j, "source"), "api");
	assert_string_equal(tj_str(j, "branches[1]"), "release");
	assert_string_equal(tj_str(j, "path"), "ml/pipelines");
	assert_int_equal(tj_int(j, "interval_ms"), 45000);
	assert_string_equal(tj_str(j, "auth.token_env"), "VISION_TOKEN");
	assert_string_equal(tj_str(j, "poll_status"), "pending");
	/* the poller is asked to look now */
	assert_non_null(tj_str(j, "refresh_requested_at"));
	json_decref(j);
	testreply_free(&rp);
	assert_value(f, "SELECT actor || ' ' || action FROM events WHERE"
	    " entity_type = 'repository'", "ada-admin created");

	/* defaults: branches [main], path pipelines */
	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"small\",\"url\":\"file:///srv/small.git\"}");
	assert_int_equal(rp.status, 201);
	j = tj_parse(rp.body);
	assert_string_equal(tj_str(j, "branches[0]"), "main");
	assert_int_equal(tj_len(j, "branches"), 1);
	assert_string_equal(tj_str(j, "path"), "pipelines");
	json_decref(j);
	testreply_free(&rp);

	/* a taken name */
	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories", body);
	assert_int_equal(rp.status, 409);
	assert_non_null(strstr(rp.body, "repository 'vision' already exists"));
	testreply_free(&rp);

	/* roles */
	testapi_as(f->a, &rp, f->operator, "POST", "/api/v1/repositories",
	    "{\"name\":\"x\",\"url\":\"file:///x\"}");
	assert_int_equal(rp.status, 403);
	assert_non_null(strstr(rp.body, "admin"));
	testreply_free(&rp);
	assert_value(f, "SELECT count(*) FROM repositories", "2");
}

static void
repos__bad_bodies_are_400_naming_the_field(void **state)
{
	struct apifix *f = *state;
	static const struct { const char *body, *want; } cases[] = {
		{ "{\"url\":\"file:///x\"}", "missing field \\\"name\\\"" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"branch\":[]}",
		  "unknown field \\\"branch\\\"" },
		{ "{\"name\":\"Bad_Name\",\"url\":\"file:///x\"}", "name" },
		{ "{\"name\":\"x\",\"url\":\"ftp://x/y\"}", "url" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"branches\":[]}",
		  "branches: must be a non-empty list" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"branches\":[1]}",
		  "field \\\"branches[0]\\\": expected a string" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"branches\":"
		  "[\"a..b\"]}", "branches[0]" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"interval\":\"5x\"}",
		  "interval: \\\"5x\\\" is not a duration" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"interval\":\"0s\"}",
		  "interval" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"path\":\"/abs\"}",
		  "path" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"auth\":{\"token_env\":"
		  "\"T\",\"ssh_key_file\":\"/k\"}}", "auth" },
		{ "{\"name\":\"x\",\"url\":\"file:///x\",\"auth\":{\"token\":"
		  "\"T\"}}", "unknown field \\\"auth.token\\\"" },
		{ "{\"name\":\"x\",\"url\":\"https://u:p@git.example/x\"}",
		  "url: must not hold credentials" },
		{ "{\"name\":\"x\",\"url\":\"https://tok@git.example/x\"}",
		  "url: must not hold credentials" },
		{ "[]", "body: expected a JSON object" },
		{ "", "empty body" },
	};
	struct testreply rp;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
		    cases[i].body);
		if (rp.status != 400 || strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s: %ld %s", cases[i].body, rp.status,
			    rp.body);
		assert_non_null(strstr(rp.body, "\"code\":\"invalid\""));
		testreply_free(&rp);
	}
	assert_value(f, "SELECT count(*) FROM repositories", "0");
}

static void
repos__delete_removes_api_repositories_and_keeps_history(void **state)
{
	struct apifix *f = *state;
	struct testreply rp;

	seed_repo(f->db, "from-config", "{main}");
	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"tmp\",\"url\":\"file:///srv/tmp.git\"}");
	assert_int_equal(rp.status, 201);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->operator, "DELETE",
	    "/api/v1/repositories/tmp", NULL);
	assert_int_equal(rp.status, 403);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "DELETE", "/api/v1/repositories/tmp",
	    NULL);
	assert_int_equal(rp.status, 204);
	assert_int_equal(rp.len, 0);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "DELETE", "/api/v1/repositories/tmp",
	    NULL);
	assert_int_equal(rp.status, 404);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->admin, "DELETE",
	    "/api/v1/repositories/from-config", NULL);
	assert_int_equal(rp.status, 409);
	assert_non_null(strstr(rp.body, "configuration file"));
	testreply_free(&rp);
	/* soft: the row and its events stay */
	assert_value(f, "SELECT count(*) FROM repositories WHERE name = 'tmp'"
	    " AND deleted_at IS NOT NULL", "1");
	assert_value(f, "SELECT string_agg(actor || ' ' || action, ','"
	    " ORDER BY id) FROM events WHERE entity_type = 'repository'",
	    "ada-admin created,ada-admin deleted");
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/repositories", NULL);
	assert_null(strstr(rp.body, "\"tmp\""));
	testreply_free(&rp);
	/* the name can be used again */
	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"tmp\",\"url\":\"file:///srv/tmp2.git\"}");
	assert_int_equal(rp.status, 201);
	testreply_free(&rp);
}

static void
repos__refresh_asks_the_poller_at_once(void **state)
{
	struct apifix *f = *state;
	struct db *listener = testdb_open(&f->a->t);
	struct testreply rp;
	struct err err;
	char ch[64], payload[256];
	int got = 0;

	seed_repo(f->db, "demo", "{main}");
	assert_int_equal(db_listen(listener, "sluice_refresh", &err), 0);
	testapi_as(f->a, &rp, f->viewer, "POST",
	    "/api/v1/repositories/demo/refresh", NULL);
	assert_int_equal(rp.status, 403);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->operator, "POST",
	    "/api/v1/repositories/demo/refresh", NULL);
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"refresh_requested\":\"demo\"}\n");
	testreply_free(&rp);
	assert_value(f, "SELECT refresh_requested_at IS NOT NULL FROM"
	    " repositories WHERE name = 'demo'", "t");
	for (int i = 0; i < 50 && got == 0; i++)
		got = db_wait_notify(listener, 100, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
	assert_int_equal(got, 1);
	assert_string_equal(ch, "sluice_refresh");
	assert_string_equal(payload, "demo");
	testapi_as(f->a, &rp, f->operator, "POST",
	    "/api/v1/repositories/nope/refresh", NULL);
	assert_int_equal(rp.status, 404);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->operator, "POST",
	    "/api/v1/repositories/demo/refresh?now=1", NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	db_free(listener);
}

/*
 * auth.token_env names a variable of the controller's environment whose
 * value is sent to the URL: only the allowlist of the configuration may
 * be named, never SLUICE_WEBHOOK_SECRET or PGPASSWORD.
 */
static void
repos__token_env_must_match_the_allowlist(void **state)
{
	struct apifix *f = *state, *d;
	static const char *const refused[] = {
		"SLUICE_WEBHOOK_SECRET", "PGPASSWORD", "SLUICE_DATABASE_URL",
		"VISION_TOKEN_X", "HOME",
	};
	char body[512];
	struct testreply rp;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		(void)snprintf(body, sizeof(body), "{\"name\":\"leak\","
		    "\"url\":\"https://attacker.example/x.git\",\"auth\":"
		    "{\"token_env\":\"%s\"}}", refused[i]);
		testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
		    body);
		if (rp.status != 400 ||
		    strstr(rp.body, refused[i]) == NULL ||
		    strstr(rp.body, "auth.token_env") == NULL ||
		    strstr(rp.body, "api_env_allowlist (SLUICE_GIT_*, "
		    "VISION_TOKEN)") == NULL)
			fail_msg("%s: %ld %s", refused[i], rp.status, rp.body);
		testreply_free(&rp);
	}
	assert_value(f, "SELECT count(*) FROM repositories", "0");
	testapi_as(f->a, &rp, f->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"ok\",\"url\":\"https://git.example/x.git\","
	    "\"auth\":{\"token_env\":\"SLUICE_GIT_OK\"}}");
	assert_int_equal(rp.status, 201);
	testreply_free(&rp);

	/* the default allows SLUICE_GIT_* alone */
	d = apifix_start(NULL, NULL);
	assert_non_null(d);
	testapi_as(d->a, &rp, d->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"v\",\"url\":\"https://git.example/x.git\","
	    "\"auth\":{\"token_env\":\"VISION_TOKEN\"}}");
	if (rp.status != 400 || strstr(rp.body, "\\\"VISION_TOKEN\\\" is "
	    "not allowed") == NULL || strstr(rp.body,
	    "api_env_allowlist (SLUICE_GIT_*)") == NULL)
		fail_msg("%ld %s", rp.status, rp.body);
	testreply_free(&rp);
	testapi_as(d->a, &rp, d->admin, "POST", "/api/v1/repositories",
	    "{\"name\":\"v\",\"url\":\"https://git.example/x.git\","
	    "\"auth\":{\"token_env\":\"SLUICE_GIT_VISION\"}}");
	assert_int_equal(rp.status, 201);
	testreply_free(&rp);
	apifix_stop(d);
}

/* The refresh body is strict JSON: nothing, {} or nothing else. */
static void
repos__refresh_takes_an_empty_body_or_an_empty_object(void **state)
{
	struct apifix *f = *state;
	static const struct { const char *body, *want; } bad[] = {
		{ "{", "invalid JSON" },
		{ "{\"force\":true}", "unknown field \\\"force\\\"" },
		{ "[]", "body: expected a JSON object" },
		{ "null", "invalid JSON" },
		{ "{} x", "invalid JSON" },
	};
	struct testreply rp;

	seed_repo(f->db, "demo", "{main}");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		testapi_as(f->a, &rp, f->operator, "POST",
		    "/api/v1/repositories/demo/refresh", bad[i].body);
		if (rp.status != 400 || strstr(rp.body, bad[i].want) == NULL)
			fail_msg("%s: %ld %s", bad[i].body, rp.status, rp.body);
		testreply_free(&rp);
	}
	assert_value(f, "SELECT refresh_requested_at IS NULL FROM"
	    " repositories WHERE name = 'demo'", "t");
	testapi_as(f->a, &rp, f->operator, "POST",
	    "/api/v1/repositories/demo/refresh", "{}");
	assert_int_equal(rp.status, 202);
	testreply_free(&rp);
	testapi_as(f->a, &rp, f->operator, "POST",
	    "/api/v1/repositories/demo/refresh", " { } ");
	assert_int_equal(rp.status, 202);
	testreply_free(&rp);
}

/* Every route but health and metrics refuses a query it does not take. */
static void
api__every_route_refuses_unknown_query_parameters(void **state)
{
	struct apifix *f = *state;
	struct testreply rp;
	char path[256];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		const char *p = r->pattern;
		size_t n = 0;

		if (strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 ||
		    strcmp(p, "/metrics") == 0)
			continue;
		/* {x} segments become "1" */
		while (*p != '\0' && n + 8 < sizeof(path)) {
			if (*p == '{') {
				path[n++] = '1';
				p = strchr(p, '}') + 1;
			} else {
				path[n++] = *p++;
			}
		}
		(void)snprintf(path + n, sizeof(path) - n, "?bogus=1");
		testapi_as(f->a, &rp, f->admin, r->method, path,
		    strcmp(r->method, "POST") == 0 ? "{}" : NULL);
		if ((r->flags & ROUTE_RAW_BODY) != 0) {
			/* hooks check their signature first */
			if (rp.status != 401 && rp.status != 503)
				fail_msg("%s %s: %ld %s", r->method, path,
				    rp.status, rp.body);
		} else if (rp.status != 400 || strstr(rp.body,
		    "unknown query parameter \\\"bogus\\\"") == NULL) {
			fail_msg("%s %s: %ld %s", r->method, path, rp.status,
			    rp.body);
		}
		testreply_free(&rp);
	}
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(repos__list_shows_poll_state_and_hides_credentials),
		T(repos__list_pages_by_name_and_checks_its_query),
		T(repos__admin_adds_a_repository_checked_like_the_config),
		T(repos__bad_bodies_are_400_naming_the_field),
		T(repos__delete_removes_api_repositories_and_keeps_history),
		T(repos__refresh_asks_the_poller_at_once),
		T(repos__token_env_must_match_the_allowlist),
		T(repos__refresh_takes_an_empty_body_or_an_empty_object),
		T(api__every_route_refuses_unknown_query_parameters),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
