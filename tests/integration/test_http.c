/*
 * test_http.c - the HTTP edge over real HTTP: routing, errors, body caps,
 * security headers and static files, with libcurl as the client; request
 * heads libcurl will not send, per-address caps, the reserve for requests
 * with credentials and the head deadline, over raw sockets (testraw.h).
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "base/caps.h"
#include "http/http.h"
#include "testraw.h"

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
	static int principal;
	const char *auth = http_header(rq, "Authorization");

	(void)ctx;
	if (r->role > 0 && auth != NULL && strcmp(auth, "Bearer ok") == 0) {
		rq->user = &principal;	/* authenticated */
		return 0;
	}
	if (r->role > 0) {
		http_error(rs, 401, "unauthorized", "token required");
		return 1;
	}
	return 0;
}

/* Requests to /api/v1/hold wait in their handler until released. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int held, hold_open;

static void
hold_handler(void *ctx, struct http_request *rq, struct http_response *rs)
{
	(void)ctx;
	(void)rq;
	pthread_mutex_lock(&hold_mu);
	held++;
	pthread_cond_broadcast(&hold_cv);
	while (!hold_open)
		pthread_cond_wait(&hold_cv, &hold_mu);
	held--;
	pthread_mutex_unlock(&hold_mu);
	if (http_reply(rs, 200, "text/plain", "held", 4) < 0)
		http_error(rs, 500, "internal", "too big");
}

static const struct route routes[] = {
	{ "GET", "/healthz", echo_handler, 0, 0, "health" },
	{ "GET", "/api/v1/hold", hold_handler, 0, 0, "held until released" },
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
	testraw_fd_limit(4096);
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

/* A raw exchange from src; the answer must be a JSON error of status. */
static void
assert_json_error(const char *src, const char *req, size_t len, int status,
    const char *code)
{
	static char out[65536];
	char want[64];

	if (testraw_exchange(src, http_port(server), req, len, out,
	    sizeof(out), 5000) < 0)
		fail_msg("no answer to %.40s", req);
	if (testraw_status(out) != status)
		fail_msg("want %d, got: %.300s", status, out);
	assert_non_null(strstr(out, "\r\nContent-Type: application/json\r\n"));
	(void)snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\","
	    "\"message\":\"", code);
	if (strncmp(testraw_body(out), want, strlen(want)) != 0)
		fail_msg("want a JSON error '%s', got: %s", code,
		    testraw_body(out));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
}

static void
http__nul_in_the_path_or_a_header_value_is_refused_with_400(void **state)
{
	static const char path_nul[] =
	    "GET /api/v1/things/1%00/x HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char path_nul2[] =
	    "GET /api/v1/things/1%00 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char query_nul[] =
	    "GET /api/v1/things/1?q=a%00b HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char header_nul[] =
	    "GET /api/v1/things/1 HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n";
	static const char raw_nul[] =
	    "GET /api/v1/things/1\0x HTTP/1.1\r\nHost: a\r\n\r\n";

	(void)state;
	assert_json_error(NULL, path_nul, sizeof(path_nul) - 1, 400,
	    "invalid");
	assert_json_error(NULL, path_nul2, sizeof(path_nul2) - 1, 400,
	    "invalid");
	assert_json_error(NULL, query_nul, sizeof(query_nul) - 1, 400,
	    "invalid");
	assert_json_error(NULL, header_nul, sizeof(header_nul) - 1, 400,
	    "invalid");
	assert_json_error(NULL, raw_nul, sizeof(raw_nul) - 1, 400,
	    "invalid");
}

static void
http__http11_needs_exactly_one_host_header(void **state)
{
	static const char none[] = "GET /api/v1/things/1 HTTP/1.1\r\n\r\n";
	static const char two[] = "GET /api/v1/things/1 HTTP/1.1\r\n"
	    "Host: a\r\nhost: b\r\n\r\n";
	static const char http10[] = "GET /api/v1/things/1 HTTP/1.0\r\n\r\n";
	char out[4096];

	(void)state;
	assert_json_error(NULL, none, sizeof(none) - 1, 400, "invalid");
	assert_json_error(NULL, two, sizeof(two) - 1, 400, "invalid");
	/* HTTP/1.0 has no Host requirement. */
	assert_true(testraw_exchange(NULL, http_port(server), http10,
	    sizeof(http10) - 1, out, sizeof(out), 5000) > 0);
	assert_int_equal(testraw_status(out), 200);
	assert_string_equal(testraw_body(out), "id=1 q=- len=0");
}

static void
http__malformed_heads_get_json_errors_not_html(void **state)
{
	static const char *const cases[][3] = {
		{ "GARBAGE\r\n\r\n", "400", "invalid" },
		{ "GET /x HTTP/2.0\r\nHost: a\r\n\r\n", "505", "http_version" },
		{ "GET /x HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "400",
		    "invalid" },
		{ "GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n",
		    "400", "invalid" },
		{ "POST /api/v1/things/1 HTTP/1.1\r\nHost: a\r\n"
		    "Content-Length: 99999999999999999999\r\n\r\n", "413",
		    "too_big" },
		{ "POST /api/v1/things/1 HTTP/1.1\r\nHost: a\r\n"
		    "Content-Length: 12abc\r\n\r\n", "400", "invalid" },
		{ "POST /api/v1/things/1 HTTP/1.1\r\nHost: a\r\n"
		    "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", "400",
		    "invalid" },
		{ "POST /api/v1/things/1 HTTP/1.1\r\nHost: a\r\n"
		    "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "x", "400", "invalid" },
		{ "POST /api/v1/things/1 HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n0\r\n\r\n",
		    "411", "length_required" },
	};
	size_t big = LIM_HTTP_HEAD + 100;
	char *head = malloc(big + 64);
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_json_error(NULL, cases[i][0], strlen(cases[i][0]),
		    atoi(cases[i][1]), cases[i][2]);
	/* A head over the cap: 431 (libmicrohttpd's own answer was HTML). */
	assert_non_null(head);
	n = snprintf(head, big + 64, "GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(head + n, 'a', big - (size_t)n);
	memcpy(head + big, "\r\n\r\n", 5);
	assert_json_error(NULL, head, big + 4, 431, "head_too_big");
	free(head);
}

static void
http__one_address_cannot_take_every_connection(void **state)
{
	int fds[LIM_HTTP_PER_ADDRESS + 8], port = http_port(server);
	char out[4096];
	static const char get[] = "GET /api/v1/things/2 HTTP/1.1\r\n"
	    "Host: a\r\n\r\n";
	size_t n = sizeof(fds) / sizeof(fds[0]), refused = 0;

	(void)state;
	/* Idle connections from 127.0.0.3 up to and past its cap ... */
	for (size_t i = 0; i < n; i++) {
		fds[i] = testraw_connect("127.0.0.3", port);
		assert_true(fds[i] >= 0);
		(void)send(fds[i], "G", 1, MSG_NOSIGNAL);
	}
	/* ... the ones past it are answered 503 and closed ... */
	for (size_t i = 0; i < n; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN, .revents = 0 };
		ssize_t got;

		if (poll(&p, 1, i < LIM_HTTP_PER_ADDRESS ? 0 : 2000) <= 0)
			continue;
		got = recv(fds[i], out, sizeof(out) - 1, 0);
		if (got > 0) {
			out[got] = '\0';
			assert_int_equal(testraw_status(out), 503);
			assert_non_null(strstr(out, "too_many_connections"));
			refused++;
		}
	}
	assert_int_equal(refused, n - LIM_HTTP_PER_ADDRESS);
	/* ... while another address is served. */
	assert_true(testraw_exchange("127.0.0.4", port, get, sizeof(get) - 1,
	    out, sizeof(out), 5000) > 0);
	assert_int_equal(testraw_status(out), 200);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

struct holder {
	char	 src[32];
	int	 status;
	pthread_t th;
};

static void *
holder_main(void *arg)
{
	static const char get[] = "GET /api/v1/hold HTTP/1.1\r\nHost: a\r\n\r\n";
	struct holder *h = arg;
	char out[4096];

	h->status = -1;
	if (testraw_exchange(h->src, http_port(server), get, sizeof(get) - 1,
	    out, sizeof(out), 30000) > 0)
		h->status = testraw_status(out);
	return NULL;
}

static void
http__anonymous_requests_leave_room_for_credentials_and_health(void **state)
{
	enum { PER = LIM_HTTP_PER_ADDRESS - 4 };
	size_t n = LIM_HTTP_ANON_ACTIVE, ok = 0;
	struct holder *h = calloc(n, sizeof(*h));
	static const char anon[] = "GET /api/v1/things/3 HTTP/1.1\r\n"
	    "Host: a\r\n\r\n";
	static const char cred[] = "GET /api/v1/things/3 HTTP/1.1\r\n"
	    "Host: a\r\nAuthorization: Bearer x\r\n\r\n";
	static const char health[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
	struct timespec until;
	char out[4096];

	(void)state;
	assert_non_null(h);
	hold_open = 0;
	/* Fill every anonymous slot with a request that waits in its handler. */
	for (size_t i = 0; i < n; i++) {
		(void)snprintf(h[i].src, sizeof(h[i].src), "127.0.1.%zu",
		    10 + i / PER);
		assert_int_equal(pthread_create(&h[i].th, NULL, holder_main,
		    &h[i]), 0);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&hold_mu);
	while (held < (int)n && pthread_cond_timedwait(&hold_cv, &hold_mu,
	    &until) == 0)
		;
	assert_int_equal(held, (int)n);
	pthread_mutex_unlock(&hold_mu);
	/* One more anonymous request: busy. */
	assert_json_error("127.0.0.5", anon, sizeof(anon) - 1, 503, "busy");
	/* With credentials, and health checks: served from the reserve. */
	assert_true(testraw_exchange("127.0.0.5", http_port(server), cred,
	    sizeof(cred) - 1, out, sizeof(out), 5000) > 0);
	assert_int_equal(testraw_status(out), 200);
	assert_true(testraw_exchange("127.0.0.5", http_port(server), health,
	    sizeof(health) - 1, out, sizeof(out), 5000) > 0);
	assert_int_equal(testraw_status(out), 200);
	pthread_mutex_lock(&hold_mu);
	hold_open = 1;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
	for (size_t i = 0; i < n; i++) {
		pthread_join(h[i].th, NULL);
		ok += h[i].status == 200;
	}
	assert_int_equal(ok, n);
	free(h);
}

static void
http__a_trickled_head_is_cut_off_at_its_deadline(void **state)
{
	int fd = testraw_connect("127.0.0.6", http_port(server));
	static const char head[] = "GET /api/v1/things/1 HTTP/1.1\r\nX-Slow: ";
	struct timespec t0, t1, pause = { 0, 250 * 1000 * 1000 };
	char out[4096];
	ssize_t got = 0;
	long ms;

	(void)state;
	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL),
	    (ssize_t)sizeof(head) - 1);
	/*
	 * A byte every 250 ms: an idle timer would never fire.  The bound is
	 * only a guard against a server that never answers; how soon after
	 * the deadline the answer comes is not this test's business.
	 */
	for (int i = 0; i < (LIM_HTTP_HEAD_MS + 60000) / 250; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };

		if (poll(&p, 1, 0) > 0)
			break;
		(void)send(fd, "a", 1, MSG_NOSIGNAL);
		nanosleep(&pause, NULL);
	}
	got = recv(fd, out, sizeof(out) - 1, MSG_DONTWAIT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(got > 0);
	out[got] = '\0';
	assert_int_equal(testraw_status(out), 408);
	assert_non_null(strstr(out, "\"timeout\""));
	/* never cut before its deadline */
	assert_true(ms >= LIM_HTTP_HEAD_MS);
}

/* Read one whole answer (head and Content-Length body) from fd. */
static void
read_answer(int fd, char *out, size_t outlen)
{
	size_t got = 0;
	const char *end, *cl;

	out[0] = '\0';
	while (got + 1 < outlen) {
		struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
		ssize_t n;

		assert_true(poll(&p, 1, 30000) > 0);
		n = recv(fd, out + got, outlen - 1 - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
		out[got] = '\0';
		if ((end = strstr(out, "\r\n\r\n")) != NULL &&
		    (cl = strcasestr(out, "Content-Length:")) != NULL &&
		    (long)strlen(end + 4) >= strtol(cl + 15, NULL, 10))
			return;
	}
	fail_msg("no whole answer: %s", out);
}

/*
 * An authenticated answer keeps its connection for the next request, whose
 * head is checked as the gate checks a first one; other answers close.
 */
static void
http__an_authenticated_connection_is_kept_and_its_next_head_checked(
    void **state)
{
	static const char cred[] = "GET /api/v1/secret HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer ok\r\n\r\n";
	static const char twohosts[] = "GET /api/v1/secret HTTP/1.1\r\n"
	    "Host: x\r\nHost: y\r\nAuthorization: Bearer ok\r\n\r\n";
	static const char anon[] = "GET /api/v1/things/1 HTTP/1.1\r\n"
	    "Host: x\r\n\r\n";
	int fd = testraw_connect("127.0.0.7", http_port(server));
	char out[8192];

	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(send(fd, cred, sizeof(cred) - 1, MSG_NOSIGNAL),
		    (ssize_t)sizeof(cred) - 1);
		read_answer(fd, out, sizeof(out));
		assert_int_equal(testraw_status(out), 200);
		assert_null(strcasestr(out, "Connection: close"));
	}
	/* the next head still passes the gate's checks, JSON errors and all */
	assert_int_equal(send(fd, twohosts, sizeof(twohosts) - 1, MSG_NOSIGNAL),
	    (ssize_t)sizeof(twohosts) - 1);
	read_answer(fd, out, sizeof(out));
	assert_int_equal(testraw_status(out), 400);
	assert_non_null(strstr(out, "more than one Host header"));
	assert_non_null(strcasestr(out, "Connection: close"));
	close(fd);
	/* without credentials: one request, then closed */
	fd = testraw_connect("127.0.0.7", http_port(server));
	assert_true(fd >= 0);
	assert_int_equal(send(fd, anon, sizeof(anon) - 1, MSG_NOSIGNAL),
	    (ssize_t)sizeof(anon) - 1);
	read_answer(fd, out, sizeof(out));
	assert_int_equal(testraw_status(out), 200);
	assert_non_null(strcasestr(out, "Connection: close"));
	close(fd);
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
		cmocka_unit_test(
		    http__nul_in_the_path_or_a_header_value_is_refused_with_400),
		cmocka_unit_test(http__http11_needs_exactly_one_host_header),
		cmocka_unit_test(http__malformed_heads_get_json_errors_not_html),
		cmocka_unit_test(
		    http__an_authenticated_connection_is_kept_and_its_next_head_checked),
		cmocka_unit_test(
		    http__one_address_cannot_take_every_connection),
		cmocka_unit_test(
		    http__anonymous_requests_leave_room_for_credentials_and_health),
		cmocka_unit_test(
		    http__a_trickled_head_is_cut_off_at_its_deadline),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
