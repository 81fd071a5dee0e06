/*
 * test_auth.c - the guard over real HTTP: roles enforced on every route,
 * 401 and 403 shapes, anonymous_read, rate limiting of failed
 * authentication, strict query parameters.  The routes are the test's own
 * (one per role level) behind the real guard; the server, database, pool
 * and limiters are the real ones.
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
#include "base/caps.h"
#include "base/role.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "store/db.h"
#include "store/store_token.h"

/* Answers "name role via" of the caller. */
static void
whoami(void *ctx, struct http_request *rq, struct http_response *rs)
{
	const struct principal *p = auth_principal(rq);
	char out[256];
	int n;

	(void)ctx;
	if (p == NULL) {	/* a ROUTE_NO_AUTH route */
		if (http_reply(rs, 200, "text/plain", "open", 4) < 0)
			http_error(rs, 500, "internal", "too big");
		return;
	}
	n = snprintf(out, sizeof(out), "%s %s %s", auth_actor(rq),
	    role_name(p->role), p->via == AUTH_TOKEN ? "token" :
	    p->via == AUTH_SESSION ? "session" : "anonymous");
	if (http_reply(rs, 200, "text/plain", out, (size_t)n) < 0)
		http_error(rs, 500, "internal", "too big");
}

/* Strict query parameters: ?limit=1..500&status=a|b&follow=1 only. */
static void
query(void *ctx, struct http_request *rq, struct http_response *rs)
{
	static const char *const statuses[] = { "pending", "running", "done",
	    NULL };
	int64_t limit = 50;
	int status = -1, follow = 0;
	const char *cursor = "";
	const struct jsonin_qparam params[] = {
		{ .name = "limit", .type = JSONIN_Q_INT, .out = &limit,
		  .min = 1, .max = 500 },
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &status,
		  .choices = statuses },
		{ .name = "follow", .type = JSONIN_Q_BOOL, .out = &follow },
		{ .name = "cursor", .type = JSONIN_Q_STRING, .out = &cursor,
		  .max = 16 },
		{ .name = NULL },
	};
	struct err err;
	char out[256];
	int n;

	(void)ctx;
	if (jsonin_query(rq, params, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	n = snprintf(out, sizeof(out), "limit=%lld status=%d follow=%d "
	    "cursor=%s", (long long)limit, status, follow, cursor);
	if (http_reply(rs, 200, "text/plain", out, (size_t)n) < 0)
		http_error(rs, 500, "internal", "too big");
}

static const struct route routes[] = {
	{ "GET", "/t/viewer", whoami, ROLE_VIEWER, 0, "viewer" },
	{ "POST", "/t/operator", whoami, ROLE_OPERATOR, 0, "operator" },
	{ "POST", "/t/approver", whoami, ROLE_APPROVER, 0, "approver" },
	{ "POST", "/t/admin", whoami, ROLE_ADMIN, 0, "admin" },
	{ "GET", "/t/admin", whoami, ROLE_ADMIN, 0, "admin read" },
	{ "GET", "/t/query", query, ROLE_VIEWER, 0, "query" },
	{ "GET", "/t/open", whoami, 0, ROUTE_NO_AUTH, "no auth" },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

struct fixture {
	struct testapi	*a;
	char		 tok[5][TOKEN_LEN + 1];	/* by enum role */
	char		 hdr[5][TOKEN_LEN + 32];
};

static int
start(void **state, const char *const *settings)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const char *const names[] = { NULL, "viewer", "operator",
	    "approver", "admin" };

	if (f == NULL || (f->a = testapi_start(routes, settings, NULL)) == NULL)
		return -1;
	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++) {
		char name[32];

		(void)snprintf(name, sizeof(name), "t-%s", names[r]);
		if (testapi_token(f->a, name, names[r], f->tok[r]) < 0)
			return -1;
		(void)snprintf(f->hdr[r], sizeof(f->hdr[r]),
		    "Authorization: Bearer %s", f->tok[r]);
	}
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return start(state, NULL);
}

static int
setup_anonymous(void **state)
{
	static const char *const s[] = { "anonymous_read=true", NULL };

	return start(state, s);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testapi_stop(f->a);
	free(f);
	return 0;
}

static void
auth__role_matrix_allows_each_role_its_level_and_above(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *method, *path; int need; } cases[] = {
		{ "GET", "/t/viewer", ROLE_VIEWER },
		{ "POST", "/t/operator", ROLE_OPERATOR },
		{ "POST", "/t/approver", ROLE_APPROVER },
		{ "POST", "/t/admin", ROLE_ADMIN },
		{ "GET", "/t/admin", ROLE_ADMIN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++) {
			const char *h[] = { f->hdr[r], NULL };
			struct testreply rp;
			char want[256];

			testapi_request(f->a, &rp, cases[i].method,
			    cases[i].path, "", 0, h);
			if (r >= cases[i].need) {
				assert_int_equal(rp.status, 200);
				(void)snprintf(want, sizeof(want),
				    "t-%s %s token", role_name((enum role)r),
				    role_name((enum role)r));
				assert_string_equal(rp.body, want);
			} else {
				assert_int_equal(rp.status, 403);
				(void)snprintf(want, sizeof(want),
				    "{\"error\":{\"code\":\"forbidden\","
				    "\"message\":\"this needs the %s role; "
				    "token 't-%s' has %s\"}}\n",
				    role_name((enum role)cases[i].need),
				    role_name((enum role)r),
				    role_name((enum role)r));
				assert_string_equal(rp.body, want);
			}
			testreply_free(&rp);
		}
	}
}

static void
auth__missing_or_bad_credentials_are_401_with_www_authenticate(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		NULL,
		"Authorization: Bearer slc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"Authorization: Bearer not-a-token",
		"Authorization: Basic dXNlcjpwYXNz",
		"Authorization: Bearer",
		"Cookie: sluice_session=sls_nope",
	};
	char v[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *h[] = { bad[i], NULL };
		struct testreply rp;

		testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
		assert_int_equal(rp.status, 401);
		assert_int_equal(testreply_header(&rp, "WWW-Authenticate", v,
		    sizeof(v)), 0);
		assert_string_equal(v, "Bearer realm=\"sluice\"");
		assert_non_null(strstr(rp.body,
		    "{\"error\":{\"code\":\"unauthorized\",\"message\":\""));
		assert_null(strstr(rp.body, "slc_"));
		testreply_free(&rp);
	}
}

static void
auth__revoked_token_is_refused(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { f->hdr[ROLE_ADMIN], NULL };
	struct testreply rp;
	struct db *db = testdb_open(&f->a->t);
	struct err err;

	testapi_request(f->a, &rp, "POST", "/t/admin", "", 0, h);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
	assert_int_equal(store_token_revoke(db, "t-admin", "test", &err), 0);
	db_free(db);
	testapi_request(f->a, &rp, "POST", "/t/admin", "", 0, h);
	assert_int_equal(rp.status, 401);
	assert_non_null(strstr(rp.body, "invalid or revoked token"));
	testreply_free(&rp);
}

static void
auth__no_auth_routes_pass_without_credentials(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { "Authorization: Bearer garbage", NULL };
	struct testreply rp;

	testapi_request(f->a, &rp, "GET", "/t/open", NULL, 0, h);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
}

static void
auth__anonymous_read_allows_viewer_reads_only(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { f->hdr[ROLE_OPERATOR], NULL };
	struct testreply rp;

	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, NULL);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body, "anonymous viewer anonymous");
	testreply_free(&rp);
	testapi_request(f->a, &rp, "HEAD", "/t/viewer", NULL, 0, NULL);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
	/* writes and reads above viewer still need a token: 401, not 403 */
	testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	testapi_request(f->a, &rp, "GET", "/t/admin", NULL, 0, NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	/* a token still counts as itself */
	testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, h);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body, "t-operator operator token");
	testreply_free(&rp);
	/* and a bad token is not quietly anonymous */
	h[0] = "Authorization: Bearer slc_bad";
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
}

static void
auth__failed_authentications_are_rate_limited_per_address(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "Authorization: Bearer slc_wrong", NULL };
	const char *good[] = { f->hdr[ROLE_VIEWER], NULL };
	struct testreply rp;
	char v[32];
	char *end;
	long secs;

	for (int i = 0; i < LIM_AUTH_FAILURES; i++) {
		testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, bad);
		assert_int_equal(rp.status, 401);
		testreply_free(&rp);
	}
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, bad);
	assert_int_equal(rp.status, 429);
	assert_non_null(strstr(rp.body, "{\"error\":{\"code\":\"rate_limited\""));
	assert_int_equal(testreply_header(&rp, "Retry-After", v, sizeof(v)), 0);
	secs = strtol(v, &end, 10);
	assert_true(*end == '\0' && secs >= 1 &&
	    secs <= LIM_AUTH_FAILURE_PERIOD_S);
	testreply_free(&rp);
	/* the address is blocked, whatever it presents next */
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, good);
	assert_int_equal(rp.status, 429);
	testreply_free(&rp);
	/* routes that need no authentication still answer */
	testapi_request(f->a, &rp, "GET", "/t/open", NULL, 0, good);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
}

static void
auth__query_parameters_are_validated_by_name(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { f->hdr[ROLE_VIEWER], NULL };
	static const struct { const char *path; long status; const char *want; }
	    cases[] = {
		{ "/t/query", 200, "limit=50 status=-1 follow=0 cursor=" },
		{ "/t/query?limit=7&status=done&follow&cursor=abc", 200,
		  "limit=7 status=2 follow=1 cursor=abc" },
		{ "/t/query?follow=false", 200,
		  "limit=50 status=-1 follow=0 cursor=" },
		{ "/t/query?limt=5", 400,
		  "unknown query parameter \\\"limt\\\"" },
		{ "/t/query?limit=0", 400, "query parameter \\\"limit\\\": "
		  "expected an integer from 1 to 500" },
		{ "/t/query?limit=5x", 400, "expected an integer" },
		{ "/t/query?limit=99999999999999999999", 400,
		  "expected an integer" },
		{ "/t/query?limit=1&limit=2", 400, "given more than once" },
		{ "/t/query?status=lost", 400, "query parameter \\\"status\\\":"
		  " expected one of pending, running, done" },
		{ "/t/query?follow=maybe", 400, "expected 1, true, 0 or false" },
		{ "/t/query?cursor=01234567890123456789", 400,
		  "longer than 16 bytes" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testreply rp;

		testapi_request(f->a, &rp, "GET", cases[i].path, NULL, 0, h);
		assert_int_equal(rp.status, cases[i].status);
		if (strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s: got %s", cases[i].path, rp.body);
		if (cases[i].status == 400)
			assert_non_null(strstr(rp.body,
			    "{\"error\":{\"code\":\"invalid\""));
		testreply_free(&rp);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    auth__role_matrix_allows_each_role_its_level_and_above,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    auth__missing_or_bad_credentials_are_401_with_www_authenticate,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(auth__revoked_token_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    auth__no_auth_routes_pass_without_credentials, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    auth__anonymous_read_allows_viewer_reads_only,
		    setup_anonymous, teardown),
		cmocka_unit_test_setup_teardown(
		    auth__failed_authentications_are_rate_limited_per_address,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    auth__query_parameters_are_validated_by_name, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
