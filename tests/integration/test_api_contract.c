/*
 * test_api_contract.c - every route of the route table answers the shared
 * statuses docs/api.yaml promises for it: 400 for an unknown query
 * parameter (or a NUL byte where parameters are lenient), 401
 * without credentials, 403 below the route's role, 404 for what does not
 * exist, 405 for a method the path does not have, 413 for a body over the
 * cap, 429 once an address failed to authenticate too often, 503 while
 * the database is down.  Each answer is the JSON error shape with the
 * right code; with SLUICE_TEST_API_RECORD set they are recorded too, and
 * tests/api/contract.mjs checks them (and every other recorded answer)
 * against the document's schemas.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "base/caps.h"
#include "base/role.h"
#include "http/http.h"
#include "http/routes.h"
#include "http/webhook.h"

#define SECRET	"contract-secret"

struct fixture {
	struct testapi	*a;
	char		 admin[48];
	char		 viewer[48];
};

/* The route's pattern with every {param} replaced by value. */
static void
concrete(const char *pattern, const char *value, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = pattern; *p != '\0' && o + 1 < outlen; p++) {
		if (*p == '{') {
			const char *e = strchr(p, '}');

			for (const char *v = value; *v != '\0' && o + 1 < outlen;
			    v++)
				out[o++] = *v;
			p = e;
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

static int
is_hook(const struct route *r)
{
	return strncmp(r->pattern, "/api/v1/hooks/", 14) == 0;
}

static int
is_health(const struct route *r)
{
	return strncmp(r->pattern, "/api/", 5) != 0;
}

/* The error code of a JSON error body, or "" */
static void
error_code(const struct testreply *rp, char *out, size_t outlen)
{
	const char *k = strstr(rp->body, "\"code\"");
	const char *q;
	size_t n;

	out[0] = '\0';
	if (k == NULL || (k = strchr(k + 6, '"')) == NULL ||
	    (q = strchr(k + 1, '"')) == NULL)
		return;
	n = (size_t)(q - k - 1);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, k + 1, n);
	out[n] = '\0';
}

static void
expect(const struct testreply *rp, long status, const char *code,
    const char *method, const char *path)
{
	char got[64], ctype[128] = "";

	error_code(rp, got, sizeof(got));
	(void)testreply_header(rp, "Content-Type", ctype, sizeof(ctype));
	if (rp->status != status || strcmp(got, code) != 0 ||
	    strncmp(ctype, "application/json", 16) != 0) {
		print_error("%s %s: expected %ld %s (application/json), got %ld "
		    "'%s' (%s): %s\n", method, path, status, code, rp->status,
		    got, ctype, rp->body);
		fail();
	}
}

/* One signed hook request (a retrain hook's delivery id is unique). */
static void
hook(struct fixture *f, struct testreply *rp, const char *path,
    const char *body, int sign, const char *extra)
{
	static int delivery;
	char sig[128], sigh[160], id[96], event[64] = "X-GitHub-Event: push";
	const char *h[6];
	size_t n = 0;
	int github = strstr(path, "/github") != NULL;

	(void)snprintf(id, sizeof(id), "%s: contract-%d-%d",
	    github ? "X-GitHub-Delivery" : "X-Sluice-Delivery", (int)getpid(),
	    ++delivery);
	h[n++] = id;
	if (github)
		h[n++] = event;
	if (sign) {
		assert_int_equal(webhook_sign(SECRET, body, strlen(body), sig,
		    sizeof(sig)), 0);
		(void)snprintf(sigh, sizeof(sigh), "%s: %s", github ?
		    "X-Hub-Signature-256" : "X-Sluice-Signature-256", sig);
		h[n++] = sigh;
	}
	h[n++] = extra;
	h[n] = NULL;
	testapi_request(f->a, rp, "POST", path, body, strlen(body), h);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->a = testapi_start(NULL, NULL, SECRET);
	assert_non_null(f->a);
	assert_int_equal(testapi_token(f->a, "ada-admin", "admin", f->admin),
	    0);
	assert_int_equal(testapi_token(f->a, "vic-viewer", "viewer",
	    f->viewer), 0);
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

static void
contract__every_route_refuses_an_unknown_query_parameter_with_400(
    void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		if (is_health(r))
			continue;	/* lenient: see the NUL test below */
		concrete(r->pattern, "1", path, sizeof(path) - 16);
		memcpy(path + strlen(path), "?bogus=1", 9);
		if (is_hook(r))
			hook(f, &rp, path, "{}", 1, NULL);
		else
			testapi_as(f->a, &rp, f->admin, r->method, path,
			    strcmp(r->method, "GET") == 0 ? NULL : "{}");
		expect(&rp, 400, "invalid", r->method, path);
		testreply_free(&rp);
	}
}

static void
contract__a_nul_byte_in_the_query_is_400_on_every_route(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		concrete(r->pattern, "1", path, sizeof(path) - 16);
		memcpy(path + strlen(path), "?q=a%00b", 9);
		testapi_request(f->a, &rp, r->method, path, NULL, 0, NULL);
		expect(&rp, 400, "invalid", r->method, path);
		testreply_free(&rp);
	}
}

static void
contract__routes_with_a_role_answer_401_without_credentials(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		concrete(r->pattern, "1", path, sizeof(path));
		if (is_hook(r))
			hook(f, &rp, path, "{}", 0, NULL);
		else if (strcmp(r->pattern, "/api/v1/session") == 0 &&
		    strcmp(r->method, "POST") == 0)
			testapi_as(f->a, &rp, NULL, "POST", path,
			    "{\"token\":\"slc_not-a-token\"}");
		else if (r->role == 0)
			continue;
		else
			testapi_as(f->a, &rp, NULL, r->method, path,
			    strcmp(r->method, "GET") == 0 ? NULL : "{}");
		expect(&rp, 401, "unauthorized", r->method, path);
		testreply_free(&rp);
	}
}

static void
contract__routes_above_viewer_answer_403_to_a_viewer(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		if (r->role <= ROLE_VIEWER)
			continue;
		concrete(r->pattern, "1", path, sizeof(path));
		testapi_as(f->a, &rp, f->viewer, r->method, path, "{}");
		expect(&rp, 403, "forbidden", r->method, path);
		testreply_free(&rp);
	}
}

static void
contract__a_cookie_write_without_csrf_is_403(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char body[128], setc[512], cookie[600];
	const char *h[] = { cookie, NULL };
	char *semi;

	(void)snprintf(body, sizeof(body), "{\"token\":\"%s\"}", f->viewer);
	testapi_request(f->a, &rp, "POST", "/api/v1/session", body,
	    strlen(body), NULL);
	assert_int_equal(rp.status, 201);
	assert_int_equal(testreply_header(&rp, "Set-Cookie", setc,
	    sizeof(setc)), 0);
	testreply_free(&rp);
	semi = strchr(setc, ';');
	assert_non_null(semi);
	*semi = '\0';
	(void)snprintf(cookie, sizeof(cookie), "Cookie: %s", setc);
	testapi_request(f->a, &rp, "DELETE", "/api/v1/session", NULL, 0, h);
	expect(&rp, 403, "csrf", "DELETE", "/api/v1/session");
	testreply_free(&rp);
}

static void
contract__routes_with_parameters_answer_404_for_what_does_not_exist(
    void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		if (strchr(r->pattern, '{') == NULL)
			continue;
		concrete(r->pattern, "424242", path, sizeof(path));
		if (is_hook(r))
			hook(f, &rp, path, "{}", 1, NULL);
		else
			testapi_as(f->a, &rp, f->admin, r->method, path,
			    strcmp(r->method, "GET") == 0 ? NULL : "{}");
		expect(&rp, 404, "not_found", r->method, path);
		testreply_free(&rp);
	}
}

static void
contract__a_method_the_path_does_not_have_is_405_with_allow(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512], allow[128];

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		int first = 1;

		for (const struct route *q = ctl_routes; q < r; q++)
			if (strcmp(q->pattern, r->pattern) == 0)
				first = 0;
		if (!first)
			continue;
		concrete(r->pattern, "1", path, sizeof(path));
		testapi_as(f->a, &rp, f->admin, "PUT", path, "{}");
		expect(&rp, 405, "method_not_allowed", "PUT", path);
		assert_int_equal(testreply_header(&rp, "Allow", allow,
		    sizeof(allow)), 0);
		assert_non_null(strstr(allow, r->method));
		testreply_free(&rp);
	}
}

static void
contract__a_body_over_the_cap_is_413_on_every_route(void **state)
{
	struct fixture *f = *state;
	size_t len = LIM_HTTP_BODY + 1;
	char *big = malloc(len + 1);
	char auth[128], path[512];
	/*
	 * As a client sending a big body should: the server refuses it from
	 * its Content-Length before the body is sent.  (Without Expect, the
	 * body races the refusal and the connection's close: on a loaded
	 * machine the client may see the reset instead of the 413.)
	 */
	const char *h[] = { auth, "Expect: 100-continue", NULL };
	struct testreply rp;

	assert_non_null(big);
	memset(big, ' ', len);
	big[len] = '\0';
	(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    f->admin);
	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		concrete(r->pattern, "1", path, sizeof(path));
		testapi_request(f->a, &rp, r->method, path, big, len, h);
		expect(&rp, 413, "too_big", r->method, path);
		testreply_free(&rp);
	}
	free(big);
}

static void
contract__readiness_and_the_event_stream_answer_200(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char ctype[128];

	testapi_request(f->a, &rp, "GET", "/readyz", NULL, 0, NULL);
	assert_int_equal(rp.status, 200);
	testreply_free(&rp);
	/* a stream never ends by itself: read its head, then hang up */
	f->a->timeout_ms = 1500;
	testapi_as(f->a, &rp, f->viewer, "GET", "/api/v1/events", NULL);
	f->a->timeout_ms = 0;
	assert_int_equal(rp.status, 200);
	assert_int_equal(testreply_header(&rp, "Content-Type", ctype,
	    sizeof(ctype)), 0);
	assert_int_equal(strncmp(ctype, "text/event-stream", 17), 0);
	testreply_free(&rp);
}

/* Last on its server: it spends the address's budgets. */
static void
contract__an_address_that_failed_too_often_gets_429(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char path[512], after[32];

	for (int i = 0; i < 12; i++) {
		testapi_as(f->a, &rp, "slc_wrong", "GET", "/api/v1/runs",
		    NULL);
		testreply_free(&rp);
	}
	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		concrete(r->pattern, "1", path, sizeof(path));
		if (is_hook(r))
			continue;	/* their own budget, below */
		if (r->role == 0 && strcmp(r->pattern, "/api/v1/session") != 0)
			continue;
		if (r->role == 0)
			testapi_as(f->a, &rp, NULL, r->method, path,
			    "{\"token\":\"slc_wrong\"}");
		else
			testapi_as(f->a, &rp, "slc_wrong", r->method, path,
			    strcmp(r->method, "GET") == 0 ? NULL : "{}");
		expect(&rp, 429, "rate_limited", r->method, path);
		assert_int_equal(testreply_header(&rp, "Retry-After", after,
		    sizeof(after)), 0);
		testreply_free(&rp);
	}
	/* Hook calls: a budget per address per minute, good or bad. */
	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		long status = 0;

		if (!is_hook(r))
			continue;
		concrete(r->pattern, "nope", path, sizeof(path));
		for (int i = 0; i < 2 * LIM_HOOK_CALLS && status != 429; i++) {
			hook(f, &rp, path, "{}", 0, NULL);
			status = rp.status;
			if (status == 429)
				expect(&rp, 429, "rate_limited", r->method,
				    path);
			testreply_free(&rp);
		}
		assert_int_equal(status, 429);
	}
}

static void
contract__every_route_that_needs_the_database_is_503_while_it_is_down(
    void **state)
{
	const char *settings[] = {
	    "database_url=host=127.0.0.1 port=9 dbname=none connect_timeout=2",
	    NULL };
	struct testapi *down;
	struct testreply rp;
	struct fixture f;
	char token[48], path[512];

	(void)state;
	down = testapi_start(NULL, settings, SECRET);
	assert_non_null(down);
	assert_int_equal(testapi_token(down, "ada-admin", "admin", token), 0);
	down->ctl.db_ready = 0;
	f.a = down;
	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		if (strcmp(r->pattern, "/healthz") == 0 ||
		    strcmp(r->pattern, "/metrics") == 0)
			continue;
		concrete(r->pattern, "1", path, sizeof(path));
		if (is_hook(r))
			hook(&f, &rp, path, "{}", 1, NULL);
		else if (strcmp(r->pattern, "/api/v1/session") == 0 &&
		    strcmp(r->method, "POST") == 0)
			testapi_as(down, &rp, NULL, "POST", path,
			    "{\"token\":\"slc_whatever\"}");
		else
			testapi_as(down, &rp, token, r->method, path,
			    strcmp(r->method, "GET") == 0 ? NULL : "{}");
		if (strcmp(r->pattern, "/readyz") == 0)
			expect(&rp, 503, "not_ready", r->method, path);
		else
			expect(&rp, 503, "unavailable", r->method, path);
		assert_null(strstr(rp.body, "port 9"));
		assert_null(strstr(rp.body, "connection to server"));
		testreply_free(&rp);
	}
	testapi_stop(down);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    contract__every_route_refuses_an_unknown_query_parameter_with_400),
		cmocka_unit_test(
		    contract__a_nul_byte_in_the_query_is_400_on_every_route),
		cmocka_unit_test(
		    contract__routes_with_a_role_answer_401_without_credentials),
		cmocka_unit_test(
		    contract__routes_above_viewer_answer_403_to_a_viewer),
		cmocka_unit_test(contract__a_cookie_write_without_csrf_is_403),
		cmocka_unit_test(
		    contract__routes_with_parameters_answer_404_for_what_does_not_exist),
		cmocka_unit_test(
		    contract__a_method_the_path_does_not_have_is_405_with_allow),
		cmocka_unit_test(
		    contract__a_body_over_the_cap_is_413_on_every_route),
		cmocka_unit_test(
		    contract__readiness_and_the_event_stream_answer_200),
		cmocka_unit_test(
		    contract__an_address_that_failed_too_often_gets_429),
		cmocka_unit_test(
		    contract__every_route_that_needs_the_database_is_503_while_it_is_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
