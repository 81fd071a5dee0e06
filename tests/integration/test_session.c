/*
 * test_session.c - console sessions over real HTTP: sign-in sets an
 * HttpOnly SameSite=Strict cookie and returns a CSRF token; cookie writes
 * need that token and bearer writes do not; sign-out, expiry and a revoked
 * token end the session; strict sign-in bodies.
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
#include "http/api_session.h"
#include "http/auth.h"
#include "http/http.h"
#include "store/db.h"
#include "store/store_token.h"

static void
write_ok(void *ctx, struct http_request *rq, struct http_response *rs)
{
	char out[128];
	int n;

	(void)ctx;
	n = snprintf(out, sizeof(out), "written by %s", auth_actor(rq));
	if (http_reply(rs, 200, "text/plain", out, (size_t)n) < 0)
		http_error(rs, 500, "internal", "too big");
}

/* The real session routes plus one write of each level. */
static const struct route routes[] = {
	{ "POST", "/api/v1/session", api_session_create, 0, ROUTE_NO_AUTH,
	    "sign in" },
	{ "GET", "/api/v1/session", api_session_get, ROLE_VIEWER, 0, "whoami" },
	{ "DELETE", "/api/v1/session", api_session_delete, ROLE_VIEWER, 0,
	    "sign out" },
	{ "POST", "/t/operator", write_ok, ROLE_OPERATOR, 0, "write" },
	{ "GET", "/t/viewer", write_ok, ROLE_VIEWER, 0, "read" },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

struct fixture {
	struct testapi	*a;
	char		 token[TOKEN_LEN + 1];
	char		 bearer[TOKEN_LEN + 32];
	char		 cookie[600];	/* "Cookie: sluice_session=..." */
	char		 csrf[128];	/* "X-CSRF-Token: ..." */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->a = testapi_start(routes, NULL, NULL)) == NULL ||
	    testapi_token(f->a, "console-op", "operator", f->token) < 0)
		return -1;
	(void)snprintf(f->bearer, sizeof(f->bearer),
	    "Authorization: Bearer %s", f->token);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testapi_stop(f->a);
	free(f);
	return 0;
}

/* Copy the value of "key":"value" from a flat JSON text into out. */
static void
json_field(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p, *end;

	(void)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	assert_non_null(p);
	p += strlen(pat);
	end = strchr(p, '"');
	assert_non_null(end);
	(void)snprintf(out, len, "%.*s", (int)(end - p), p);
}

/* Sign in and keep the cookie and CSRF headers in f. */
static void
sign_in(struct fixture *f, const char *extra, struct testreply *rp)
{
	char body[128], setc[512], id[512], csrf[64];
	const char *h[] = { extra, NULL };
	char *semi;

	(void)snprintf(body, sizeof(body), "{\"token\":\"%s\"}", f->token);
	testapi_request(f->a, rp, "POST", "/api/v1/session", body,
	    strlen(body), h);
	assert_int_equal(rp->status, 201);
	assert_int_equal(testreply_header(rp, "Set-Cookie", setc,
	    sizeof(setc)), 0);
	assert_int_equal(strncmp(setc, "sluice_session=sls_", 19), 0);
	(void)snprintf(id, sizeof(id), "%s", setc + 15);
	semi = strchr(id, ';');
	assert_non_null(semi);
	*semi = '\0';
	json_field(rp->body, "csrf_token", csrf, sizeof(csrf));
	(void)snprintf(f->cookie, sizeof(f->cookie),
	    "Cookie: sluice_session=%s", id);
	(void)snprintf(f->csrf, sizeof(f->csrf), "X-CSRF-Token: %s", csrf);
}

static void
session__sign_in_sets_an_httponly_strict_cookie_and_a_csrf_token(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char setc[512], v[128];
	char *n;

	sign_in(f, NULL, &rp);
	assert_int_equal(testreply_header(&rp, "Set-Cookie", setc,
	    sizeof(setc)), 0);
	assert_non_null(strstr(setc, "; Path=/; HttpOnly; SameSite=Strict; "
	    "Max-Age=43200"));
	assert_null(strstr(setc, "Secure"));
	assert_int_equal(testreply_header(&rp, "Cache-Control", v, sizeof(v)),
	    0);
	assert_string_equal(v, "no-store");
	json_field(rp.body, "name", v, sizeof(v));
	assert_string_equal(v, "console-op");
	json_field(rp.body, "role", v, sizeof(v));
	assert_string_equal(v, "operator");
	json_field(rp.body, "expires_at", v, sizeof(v));
	assert_int_equal(strlen(v), 24);	/* 2026-11-21T22:00:00.000Z */
	testreply_free(&rp);
	/* only hashes are stored */
	n = testdb_value(&f->a->t, "SELECT count(*) FROM sessions WHERE "
	    "octet_length(id_hash) = 32 AND octet_length(csrf_hash) = 32 AND "
	    "expires_at > now() + interval '11 hours'");
	assert_string_equal(n, "1");
	free(n);
	n = testdb_value(&f->a->t, "SELECT count(*) FROM events WHERE "
	    "action = 'session.created' AND actor = 'console-op'");
	assert_string_equal(n, "1");
	free(n);
	/* the cookie is a principal */
	{
		const char *h[] = { f->cookie, NULL };

		testapi_request(f->a, &rp, "GET", "/api/v1/session", NULL, 0,
		    h);
		assert_int_equal(rp.status, 200);
		json_field(rp.body, "via", v, sizeof(v));
		assert_string_equal(v, "session");
		json_field(rp.body, "name", v, sizeof(v));
		assert_string_equal(v, "console-op");
		testreply_free(&rp);
	}
}

static void
session__cookie_is_secure_behind_an_https_proxy(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char setc[512];

	sign_in(f, "X-Forwarded-Proto: https", &rp);
	assert_int_equal(testreply_header(&rp, "Set-Cookie", setc,
	    sizeof(setc)), 0);
	assert_non_null(strstr(setc, "; Secure"));
	testreply_free(&rp);
}

static void
session__cookie_writes_need_the_csrf_token_and_bearer_writes_do_not(
    void **state)
{
	struct fixture *f = *state;
	struct testreply rp;

	sign_in(f, NULL, &rp);
	testreply_free(&rp);
	{
		const char *h[] = { f->cookie, NULL };

		testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, h);
		assert_int_equal(rp.status, 403);
		assert_non_null(strstr(rp.body, "{\"error\":{\"code\":\"csrf\","
		    "\"message\":\"missing X-CSRF-Token header"));
		testreply_free(&rp);
		/* reads need none */
		testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
		assert_int_equal(rp.status, 200);
		testreply_free(&rp);
	}
	{
		const char *h[] = { f->cookie, "X-CSRF-Token: "
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL };

		testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, h);
		assert_int_equal(rp.status, 403);
		assert_non_null(strstr(rp.body, "\"code\":\"csrf\""));
		assert_non_null(strstr(rp.body, "does not match"));
		testreply_free(&rp);
	}
	{
		const char *h[] = { f->cookie, f->csrf, NULL };

		testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, h);
		assert_int_equal(rp.status, 200);
		assert_string_equal(rp.body, "written by console-op");
		testreply_free(&rp);
	}
	{
		const char *h[] = { f->bearer, NULL };

		testapi_request(f->a, &rp, "POST", "/t/operator", "", 0, h);
		assert_int_equal(rp.status, 200);
		testreply_free(&rp);
	}
}

static void
session__sign_out_ends_the_session_and_clears_the_cookie(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char setc[256], *n;

	sign_in(f, NULL, &rp);
	testreply_free(&rp);
	{
		/* signing out is a cookie write: CSRF token needed */
		const char *h[] = { f->cookie, NULL };

		testapi_request(f->a, &rp, "DELETE", "/api/v1/session", NULL,
		    0, h);
		assert_int_equal(rp.status, 403);
		testreply_free(&rp);
	}
	{
		const char *h[] = { f->cookie, f->csrf, NULL };

		testapi_request(f->a, &rp, "DELETE", "/api/v1/session", NULL,
		    0, h);
		assert_int_equal(rp.status, 204);
		assert_int_equal(testreply_header(&rp, "Set-Cookie", setc,
		    sizeof(setc)), 0);
		assert_non_null(strstr(setc, "sluice_session=; "));
		assert_non_null(strstr(setc, "Max-Age=0"));
		testreply_free(&rp);
	}
	{
		const char *h[] = { f->cookie, NULL };

		testapi_request(f->a, &rp, "GET", "/api/v1/session", NULL, 0,
		    h);
		assert_int_equal(rp.status, 401);
		assert_non_null(strstr(rp.body, "session expired or signed "
		    "out"));
		testreply_free(&rp);
	}
	n = testdb_value(&f->a->t, "SELECT count(*) FROM sessions");
	assert_string_equal(n, "0");
	free(n);
	n = testdb_value(&f->a->t, "SELECT count(*) FROM events WHERE "
	    "action = 'session.ended' AND actor = 'console-op'");
	assert_string_equal(n, "1");
	free(n);
}

static void
session__expired_session_is_refused(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { NULL, NULL };
	struct testreply rp;

	sign_in(f, NULL, &rp);
	testreply_free(&rp);
	h[0] = f->cookie;
	assert_int_equal(testdb_sql(&f->a->t, "UPDATE sessions SET "
	    "created_at = now() - interval '2 days', "
	    "expires_at = now() - interval '1 second'"), 0);
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
}

static void
session__revoking_the_token_ends_its_sessions(void **state)
{
	struct fixture *f = *state;
	const char *h[] = { NULL, NULL };
	struct testreply rp;
	struct db *db;
	struct err err;

	sign_in(f, NULL, &rp);
	testreply_free(&rp);
	h[0] = f->cookie;
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
	db = testdb_open(&f->a->t);
	assert_int_equal(store_token_revoke(db, "console-op", "test", &err), 0);
	db_free(db);
	testapi_request(f->a, &rp, "GET", "/t/viewer", NULL, 0, h);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
}

static void
session__whoami_without_a_session_is_401_and_with_a_token_is_the_token(
    void **state)
{
	struct fixture *f = *state;
	const char *h[] = { f->bearer, NULL };
	struct testreply rp;

	testapi_request(f->a, &rp, "GET", "/api/v1/session", NULL, 0, NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	testapi_request(f->a, &rp, "GET", "/api/v1/session", NULL, 0, h);
	assert_int_equal(rp.status, 200);
	assert_non_null(strstr(rp.body, "\"via\":\"token\""));
	assert_non_null(strstr(rp.body, "\"expires_at\":null"));
	testreply_free(&rp);
}

static void
session__sign_in_bodies_are_strict_and_bad_tokens_are_401(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *body; long status; const char *want; }
	    cases[] = {
		{ "{\"tokn\":\"x\"}", 400, "unknown field \\\"tokn\\\"" },
		{ "{\"token\":5}", 400,
		  "field \\\"token\\\": expected a string" },
		{ "{\"token\":\"a\",\"token\":\"b\"}", 400,
		  "duplicate key \\\"token\\\"" },
		{ "{}", 400, "missing field \\\"token\\\"" },
		{ "[1]", 400, "expected a JSON object" },
		{ "{\"token\":", 400, "invalid JSON at line 1" },
		{ "", 400, "empty body" },
		{ "{\"token\":\"slc_nope\"}", 401, "invalid or revoked token" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testreply rp;

		testapi_request(f->a, &rp, "POST", "/api/v1/session",
		    cases[i].body, strlen(cases[i].body), NULL);
		assert_int_equal(rp.status, cases[i].status);
		if (strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s: got %s", cases[i].body, rp.body);
		testreply_free(&rp);
	}
}

static void
session__failed_sign_ins_are_rate_limited(void **state)
{
	struct fixture *f = *state;
	const char *bad = "{\"token\":\"slc_nope\"}";
	struct testreply rp;
	char v[16];

	for (int i = 0; i < LIM_AUTH_FAILURES; i++) {
		testapi_request(f->a, &rp, "POST", "/api/v1/session", bad,
		    strlen(bad), NULL);
		assert_int_equal(rp.status, 401);
		testreply_free(&rp);
	}
	testapi_request(f->a, &rp, "POST", "/api/v1/session", bad, strlen(bad),
	    NULL);
	assert_int_equal(rp.status, 429);
	assert_int_equal(testreply_header(&rp, "Retry-After", v, sizeof(v)), 0);
	testreply_free(&rp);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(session__sign_in_sets_an_httponly_strict_cookie_and_a_csrf_token),
		T(session__cookie_is_secure_behind_an_https_proxy),
		T(session__cookie_writes_need_the_csrf_token_and_bearer_writes_do_not),
		T(session__sign_out_ends_the_session_and_clears_the_cookie),
		T(session__expired_session_is_refused),
		T(session__revoking_the_token_ends_its_sessions),
		T(session__whoami_without_a_session_is_401_and_with_a_token_is_the_token),
		T(session__sign_in_bodies_are_strict_and_bad_tokens_are_401),
		T(session__failed_sign_ins_are_rate_limited),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
