/*
 * test_http.c - the HTTP edge over real HTTP: routing, errors, body caps,
 * security headers and static files, with libcurl as the client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "base/caps.h"
#include "http/http.h"

static void
echo_handler(void *ctx, struct http_request *rq, struct http_response *rs)
{
	char out[512];
	const char *q = http_query(rq, "q");
	int n;

	(void)ctx;
	n = snprintf(out, sizeof(out), "id=%s q=%s len=%zu",
	    rq->nparams ? rq->params[0] : "-", q ? q : "-", rq->body.len);
	if (http_reply(rs, 200, "text/plain", out, (size_t)n) < 0)
		http_error(rs, 500, "internal", "too big");
}

static int
deny_guard(void *ctx, const struct route *r, struct http_request *rq,
    struct http_response *rs)
{
	(void)ctx;
	(void)rq;
	if (r->role > 0) {
		http_error(rs, 401, "unauthorized", "token required");
		return 1;
	}
	return 0;
}

static const struct route routes[] = {
	{ "GET", "/api/v1/things/{id}", echo_handler, 0, 0, "get" },
	{ "POST", "/api/v1/things/{id}", echo_handler, 0, 0, "post" },
	{ "GET", "/api/v1/secret", echo_handler, 1, 0, "guarded" },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

struct reply {
	long		 status;
	char		*body;
	size_t		 len;
	char		 headers[4096];
};

static size_t
body_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct reply *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	assert_non_null(nb);
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t
header_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t have = strlen(r->headers), add = sz * n;

	if (have + add < sizeof(r->headers)) {
		memcpy(r->headers + have, p, add);
		r->headers[have + add] = '\0';
	}
	return sz * n;
}

static struct http_server *server;
static char base[64];

static void
request(struct reply *r, const char *method, const char *path,
    const char *body, size_t len, const char *extra_header)
{
	char url[512];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();

	memset(r, 0, sizeof(*r));
	(void)snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	}
	if (extra_header != NULL)
		h = curl_slist_append(h, extra_header);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void
reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

static int
setup(void **state)
{
	struct err err;
	char web[1024];
	const char *top = getenv("SLUICE_TOP");

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	(void)snprintf(web, sizeof(web), "%s/tests/fixtures/web",
	    top ? top : ".");
	if (http_start(&server, "127.0.0.1:0", routes, web, deny_guard,
	    NULL, &err) < 0) {
		fprintf(stderr, "http_start: %s\n", err.msg);
		return -1;
	}
	(void)snprintf(base, sizeof(base), "http://127.0.0.1:%d",
	    http_port(server));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	http_stop(server);
	curl_global_cleanup();
	return 0;
}

static void
http__routes_match_with_path_params_and_query(void **state)
{
	struct reply r;

	(void)state;
	request(&r, "GET", "/api/v1/things/a%20b?q=x%26y", NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "id=a b q=x&y len=0");
	reply_free(&r);
	request(&r, "POST", "/api/v1/things/7", "hello", 5, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "id=7 q=- len=5");
	reply_free(&r);
}

static void
http__unknown_routes_and_methods_answer_json_errors(void **state)
{
	struct reply r;

	(void)state;
	request(&r, "GET", "/api/v1/nothing", NULL, 0, NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error\":{\"code\":\"not_found\","
	    "\"message\":\"no route for '/api/v1/nothing'\"}}\n");
	reply_free(&r);
	request(&r, "DELETE", "/api/v1/things/1", NULL, 0, NULL);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.headers, "Allow: GET, POST"));
	reply_free(&r);
}

static void
http__guard_runs_before_the_handler(void **state)
{
	struct reply r;

	(void)state;
	request(&r, "GET", "/api/v1/secret", NULL, 0, NULL);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "token required"));
	reply_free(&r);
}

static void
http__oversized_bodies_are_refused_with_413(void **state)
{
	size_t n = LIM_HTTP_BODY + 1;
	char *big = malloc(n);
	struct reply r;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	request(&r, "POST", "/api/v1/things/1", big, n, NULL);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "\"too_big\""));
	reply_free(&r);
	/* exactly at the cap is fine */
	request(&r, "POST", "/api/v1/things/1", big, n - 1, NULL);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	free(big);
}

static void
http__every_response_carries_security_headers(void **state)
{
	struct reply r;

	(void)state;
	request(&r, "GET", "/api/v1/nothing", NULL, 0, NULL);
	assert_non_null(strstr(r.headers, "Content-Security-Policy: "
	    "default-src 'self'; script-src 'self'"));
	assert_non_null(strstr(r.headers, "frame-ancestors 'none'"));
	assert_null(strstr(r.headers, "unsafe-inline"));
	assert_non_null(strstr(r.headers, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(r.headers, "Referrer-Policy: no-referrer"));
	reply_free(&r);
}

static void
http__static_files_are_served_with_etag(void **state)
{
	struct reply r;
	char inm[160], *etag, *end;

	(void)state;
	request(&r, "GET", "/", NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "hello"));
	assert_non_null(strstr(r.headers, "Content-Type: text/html"));
	etag = strstr(r.headers, "ETag: ");
	assert_non_null(etag);
	etag += 6;
	end = strstr(etag, "\r\n");
	assert_non_null(end);
	(void)snprintf(inm, sizeof(inm), "If-None-Match: %.*s",
	    (int)(end - etag), etag);
	reply_free(&r);
	request(&r, "GET", "/index.html", NULL, 0, inm);
	assert_int_equal(r.status, 304);
	reply_free(&r);
	request(&r, "GET", "/sub/app.css", NULL, 0, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: text/css"));
	reply_free(&r);
}

static void
http__static_paths_cannot_escape_or_reach_hidden_files(void **state)
{
	static const char *bad[] = {
		"/../test_http.c", "/%2e%2e/%2e%2e/Makefile", "/sub/../../x",
		"/.hidden", "/sub//app.css", "/..%2fMakefile", "/sub\\app.css",
		"/nonexistent.js",
	};
	struct reply r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		request(&r, "GET", bad[i], NULL, 0, NULL);
		assert_int_equal(r.status, 404);
		assert_null(strstr(r.body, "secret"));
		reply_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http__routes_match_with_path_params_and_query),
		cmocka_unit_test(
		    http__unknown_routes_and_methods_answer_json_errors),
		cmocka_unit_test(http__guard_runs_before_the_handler),
		cmocka_unit_test(http__oversized_bodies_are_refused_with_413),
		cmocka_unit_test(http__every_response_carries_security_headers),
		cmocka_unit_test(http__static_files_are_served_with_etag),
		cmocka_unit_test(
		    http__static_paths_cannot_escape_or_reach_hidden_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
