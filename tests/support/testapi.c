/*
 * testapi.c - an API server and client for integration tests; see
 * testapi.h.  Test code: it may abort on the impossible.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/role.h"
#include "http/api_metrics.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/routes.h"
#include "store/db.h"
#include "store/store_token.h"
#include "cmd.h"
#include "testapi.h"

struct testapi *
testapi_start(const struct route *routes, const char *const *settings,
    const char *secret)
{
	struct cfg_override ov[LIM_CONFIG_OVERRIDES];
	char *const noenv[] = { NULL };
	char *copies[LIM_CONFIG_OVERRIDES];
	struct testapi *a = calloc(1, sizeof(*a));
	struct http_options o;
	struct err err;
	size_t n = 0;
	int ok = 0;

	if (a == NULL)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (testdb_create_migrated(&a->t) < 0)
		goto out;
	ov[n].key = "database_url";
	ov[n++].value = a->t.url;
	for (size_t i = 0; settings != NULL && settings[i] != NULL; i++) {
		char *eq;

		copies[i] = strdup(settings[i]);
		if (copies[i] == NULL || (eq = strchr(copies[i], '=')) == NULL)
			abort();
		*eq = '\0';
		ov[n].key = copies[i];
		ov[n++].value = eq + 1;
		copies[i + 1] = NULL;
	}
	if (cfg_load(&a->ctl.cfg, NULL, noenv, ov, n, &err) < 0) {
		fprintf(stderr, "testapi: cfg: %s\n", err.msg);
		goto out;
	}
	free(a->ctl.cfg->listen);
	a->ctl.cfg->listen = xstrdup("127.0.0.1:0");
	a->ctl.started_at = time(NULL);
	a->ctl.db_ready = a->ctl.migrations_ready = a->ctl.executor_ready = 1;
	serve_edge_init(&a->ctl, secret);
	memset(&o, 0, sizeof(o));
	o.listen = a->ctl.cfg->listen;
	o.routes = routes != NULL ? routes : ctl_routes;
	a->record = routes == NULL;
	o.guard = auth_guard;
	o.observe = api_observe;
	o.ctx = &a->ctl;
	if (http_start_opts(&a->ctl.http, &o, &err) < 0) {
		fprintf(stderr, "testapi: http: %s\n", err.msg);
		goto out;
	}
	(void)snprintf(a->base, sizeof(a->base), "http://127.0.0.1:%d",
	    http_port(a->ctl.http));
	ok = 1;
out:
	for (size_t i = 0; settings != NULL && settings[i] != NULL; i++)
		free(copies[i]);
	if (!ok) {
		testapi_stop(a);
		return NULL;
	}
	return a;
}

void
testapi_stop(struct testapi *a)
{
	if (a == NULL)
		return;
	http_stop(a->ctl.http);
	serve_edge_release(&a->ctl);
	cfg_free(a->ctl.cfg);
	if (a->t.name[0] != '\0')
		testdb_drop(&a->t);
	free(a);
	curl_global_cleanup();
}

static size_t
body_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct testreply *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (nb == NULL)
		abort();
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t
header_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct testreply *r = arg;
	size_t have = strlen(r->headers), add = sz * n;

	if (have + add < sizeof(r->headers)) {
		memcpy(r->headers + have, p, add);
		r->headers[have + add] = '\0';
	}
	return sz * n;
}

/*
 * With SLUICE_TEST_API_RECORD=DIR, every answer of the real route table is
 * appended as one JSON line to DIR/<program>-<pid>.jsonl: method, path,
 * status, Content-Type, the raw head and the body.  tests/api/contract.mjs
 * validates them all against docs/api.yaml after the integration tests.
 */
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether path (query ignored) matches a pattern of the real route table. */
static int
real_route(const char *path)
{
	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		const char *p = r->pattern, *q = path;

		while (*p != '\0' && *q != '\0' && *q != '?') {
			if (*p == '{') {
				p = strchr(p, '}') + 1;
				while (*q != '\0' && *q != '/' && *q != '?')
					q++;
			} else if (*p++ != *q++) {
				break;
			}
		}
		if (*p == '\0' && (*q == '\0' || *q == '?'))
			return 1;
	}
	return 0;
}

static void
record_answer(const struct testapi *a, const char *method, const char *path,
    const char *const *headers, const struct testreply *r)
{
	const char *dir = getenv("SLUICE_TEST_API_RECORD");
	char file[1024], ctype[256] = "";
	const char *auth = "none";
	json_t *o;
	char *line;
	int fd;

	if (dir == NULL || dir[0] == '\0' || (r->curl_code != 0 &&
	    r->curl_code != CURLE_OPERATION_TIMEDOUT) ||
	    r->status <= 0 || (!a->record && !real_route(path)))
		return;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (strncasecmp(headers[i], "Authorization:", 14) == 0)
			auth = "bearer";
		else if (strncasecmp(headers[i], "Cookie:", 7) == 0 &&
		    strcmp(auth, "none") == 0)
			auth = "cookie";
	}
	(void)testreply_header(r, "Content-Type", ctype, sizeof(ctype));
	o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "method", method,
	    "path", path, "status", (int)r->status, "content_type", ctype,
	    "auth", auth, "head", r->headers);
	if (o == NULL)
		return;
	json_object_set_new(o, "body", json_stringn(r->body, r->len));
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return;
	(void)snprintf(file, sizeof(file), "%s/%s-%ld.jsonl", dir,
	    program_invocation_short_name, (long)getpid());
	pthread_mutex_lock(&record_lock);
	fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t n = strlen(line);

		line[n] = '\n';
		if (write(fd, line, n + 1) != (ssize_t)(n + 1))
			fprintf(stderr, "testapi: short write to %s\n", file);
		line[n] = '\0';
		close(fd);
	}
	pthread_mutex_unlock(&record_lock);
	free(line);
}

void
testapi_request(struct testapi *a, struct testreply *r, const char *method,
    const char *path, const char *body, size_t len,
    const char *const *headers)
{
	char url[1024];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();

	if (c == NULL)
		abort();
	memset(r, 0, sizeof(*r));
	(void)snprintf(url, sizeof(url), "%s%s", a->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms > 0 ?
	    a->timeout_ms : 60000L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	}
	int has_expect = 0;

	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		h = curl_slist_append(h, headers[i]);
		if (strncasecmp(headers[i], "Expect:", 7) == 0)
			has_expect = 1;
	}
	/*
	 * No 100-continue round trip unless the test asks for one; when it
	 * does, the body waits for the server's answer however slow it is
	 * (curl sends it anyway after a second by default).
	 */
	if (!has_expect)
		h = curl_slist_append(h, "Expect:");
	else
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
	if (body != NULL) {
		int has_ctype = 0;

		for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
			if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
				has_ctype = 1;
		if (!has_ctype)
			h = curl_slist_append(h,
			    "Content-Type: application/json");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	r->curl_code = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body == NULL) {
		r->body = strdup("");
		if (r->body == NULL)
			abort();
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	record_answer(a, method, path, headers, r);
}

void
testreply_free(struct testreply *r)
{
	free(r->body);
	r->body = NULL;
}

int
testreply_header(const struct testreply *r, const char *name, char *out,
    size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = r->headers;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;

			while (*v == ' ')
				v++;
			(void)snprintf(out, outlen, "%.*s",
			    (int)(len - (size_t)(v - p)), v);
			return 0;
		}
		p += len;
		if (*p != '\0')
			p += 2;
	}
	return -1;
}

int
testapi_token(struct testapi *a, const char *name, const char *role,
    char *out)
{
	struct db *db = testdb_open(&a->t);
	struct err err;
	enum role r;
	int rc;

	if ((rc = role_parse(role, &r, &err)) == 0)
		rc = store_token_create(db, name, r, "test", out,
		    TOKEN_LEN + 1, &err);
	if (rc < 0)
		fprintf(stderr, "testapi: token: %s\n", err.msg);
	db_free(db);
	return rc < 0 ? -1 : 0;
}

char *
test_read_top_file(const char *rel, size_t *len)
{
	char path[2048];
	FILE *f;
	char *data = NULL;
	long n;

	(void)snprintf(path, sizeof(path), "%s/%s", test_env("SLUICE_TOP"),
	    rel);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "test: cannot open %s\n", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n + 1)) &&
	    fread(data, 1, (size_t)n, f) == (size_t)n) {
		data[n] = '\0';
		*len = (size_t)n;
	} else {
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

void
testapi_as(struct testapi *a, struct testreply *r, const char *token,
    const char *method, const char *path, const char *body)
{
	char auth[256];
	const char *h[2] = { NULL, NULL };

	if (token != NULL) {
		(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    token);
		h[0] = auth;
	}
	testapi_request(a, r, method, path, body, body != NULL ?
	    strlen(body) : 0, h);
}
