/*
 * test_webhook.c - the signed webhooks over real HTTP against the real
 * route table: a real GitHub push payload (tests/fixtures/github, from
 * @octokit/webhooks-examples) signed with a test secret refreshes the
 * matching repository; good, bad, missing, malformed and replayed
 * signatures and deliveries; oversized bodies are 413 before being read;
 * the retrain hook's verification, idempotency and strict body (its
 * runs are tested in test_api_pipelines.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "../support/testapi.h"
#include "base/caps.h"
#include "base/metrics.h"
#include "base/ratelimit.h"
#include "http/ctl.h"
#include "http/webhook.h"
#include "store/store_repo.h"

#define SECRET	"It's a Secret to Everybody"

struct fixture {
	struct testapi	*a;
	char		*push;		/* tests/fixtures/github/push.json */
	size_t		 pushlen;
	char		*ping;
	size_t		 pinglen;
	int		 retrain_calls;
	char		 retrain_seen[512];
};

static int
start(void **state, const char *secret)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->a = testapi_start(NULL, NULL, secret)) == NULL)
		return -1;
	f->push = test_read_top_file("tests/fixtures/github/push.json",
	    &f->pushlen);
	f->ping = test_read_top_file("tests/fixtures/github/ping.json",
	    &f->pinglen);
	if (f->push == NULL || f->ping == NULL)
		return -1;
	/*
	 * The payload's repository is Codertocat/Hello-World, pushed to
	 * master.  "demo" names it by its scp-like SSH URL.
	 */
	if (testdb_sql(&f->a->t, "INSERT INTO repositories (name, url, "
	    "branches, source) VALUES "
	    "('demo', 'git@github.com:Codertocat/Hello-World.git', "
	    "'{main,master}', 'config'), "
	    "('other', 'https://github.com/Codertocat/Other.git', "
	    "'{master}', 'config')") < 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return start(state, SECRET);
}

static int
setup_no_secret(void **state)
{
	return start(state, NULL);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testapi_stop(f->a);
	free(f->push);
	free(f->ping);
	free(f);
	return 0;
}

/* POST a GitHub delivery; sig NULL signs body with SECRET, "" sends none. */
static void
github(struct fixture *f, struct testreply *rp, const char *event,
    const char *delivery, const char *body, size_t len, const char *sig,
    const char *ctype)
{
	char hs[128], he[128], hd[128], hc[128], s[WEBHOOK_SIG_LEN + 1];
	const char *h[6];
	size_t n = 0;

	if (ctype != NULL) {
		(void)snprintf(hc, sizeof(hc), "Content-Type: %s", ctype);
		h[n++] = hc;
	}
	if (sig == NULL) {
		assert_int_equal(webhook_sign(SECRET, body, len, s, sizeof(s)),
		    0);
		sig = s;
	}
	if (sig[0] != '\0') {
		(void)snprintf(hs, sizeof(hs), "X-Hub-Signature-256: %s", sig);
		h[n++] = hs;
	}
	(void)snprintf(he, sizeof(he), "X-GitHub-Event: %s", event);
	h[n++] = he;
	if (delivery != NULL) {
		(void)snprintf(hd, sizeof(hd), "X-GitHub-Delivery: %s",
		    delivery);
		h[n++] = hd;
	}
	h[n] = NULL;
	testapi_request(f->a, rp, "POST", "/api/v1/hooks/github", body, len, h);
}

static char *
value(struct fixture *f, const char *sql)
{
	return testdb_value(&f->a->t, sql);
}

static void
assert_value(struct fixture *f, const char *sql, const char *want)
{
	char *v = value(f, sql);

	if (want == NULL) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static double
delivered(struct fixture *f, const char *source, const char *result)
{
	return metric_value(f->a->ctl.m_webhook_deliveries,
	    METRIC_LABELS(source, result));
}

static void
webhook__github_push_refreshes_the_matching_repository(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	PGconn *listener;
	PGnotify *note = NULL;
	char v[32];

	/* The refresh is announced to the poller by NOTIFY. */
	listener = PQconnectdb(f->a->t.url);
	assert_int_equal(PQstatus(listener), CONNECTION_OK);
	PQclear(PQexec(listener, "LISTEN sluice_refresh"));
	github(f, &rp, "push", "a1b2c3d4-0000-4000-8000-000000000001",
	    f->push, f->pushlen, NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"refreshed\": [\"demo\"]}\n");
	assert_int_equal(testreply_header(&rp, "X-Sluice-Replayed", v,
	    sizeof(v)), -1);
	testreply_free(&rp);
	assert_value(f, "SELECT refresh_requested_at IS NOT NULL FROM "
	    "repositories WHERE name = 'demo'", "t");
	assert_value(f, "SELECT refresh_requested_at IS NULL FROM "
	    "repositories WHERE name = 'other'", "t");
	assert_value(f, "SELECT source || ' ' || event || ' ' || status_code "
	    "|| ' ' || (repository_id = (SELECT id FROM repositories WHERE "
	    "name = 'demo')) FROM webhook_deliveries", "github push 202 true");
	assert_value(f, "SELECT actor || ' ' || action FROM events WHERE "
	    "entity_type = 'webhook'", "github received");
	/* committed before the answer: the notification is there (bounded wait) */
	for (int i = 0; i < 50 && note == NULL; i++) {
		struct timeval tv = { 0, 100000 };
		fd_set fds;
		int sock = PQsocket(listener);

		FD_ZERO(&fds);
		FD_SET(sock, &fds);
		(void)select(sock + 1, &fds, NULL, NULL, &tv);
		PQconsumeInput(listener);
		note = PQnotifies(listener);
	}
	assert_non_null(note);
	assert_string_equal(note->relname, "sluice_refresh");
	assert_string_equal(note->extra, "demo");
	PQfreemem(note);
	PQfinish(listener);
	assert_true(delivered(f, "github", "accepted") == 1);
}

/*
 * The database's repo_url_key makes the key webhook_url_key makes, and a
 * push looks its repositories up by that key's index: among 2,000
 * repositories it reads only the one it names.
 */
static void
webhook__push_looks_up_only_the_repositories_it_names(void **state)
{
	static const char *const urls[] = {
		"https://github.com/Owner/Repo.git",
		"https://github.com/owner/repo/",
		"http://user:token@github.com/Owner/Repo.git",
		"http://us@er:tok@en@GitHub.com:8443/Owner/Repo.git//",
		"git@github.com:Owner/Repo.git", "github.com:Owner/Repo",
		"ssh://git@github.com:22/Owner/Repo", "git://h/a:b/c.GIT",
		"file:///srv/git/demo.git", "/srv/git/Demo.git/", "demo",
		"ssh://[::1]:2222/x/y.git", "https://[fe80::1]/z",
		"https://github.com", "https://host:8080", "a/b:c",
		"https://", "file:///", ".git", "x.git.git", "Ünï/CÖDE.git",
	};
	struct fixture *f = *state;
	struct testreply rp;
	const char *params[6] = { "master", "github.com/codertocat/"
	    "hello-world", NULL, NULL, NULL, NULL };
	char key[LIM_URL + 1], sql[1024];
	int found = 0;
	PGconn *c;
	PGresult *r;

	c = PQconnectdb(f->a->t.url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		const char *u[1] = { urls[i] };
		const char *got;

		r = PQexecParams(c, "SELECT repo_url_key($1)", 1, NULL, u,
		    NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		got = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
		if (webhook_url_key(urls[i], key, sizeof(key)) < 0) {
			if (got != NULL)
				fail_msg("%s: no key in C, '%s' in SQL",
				    urls[i], got);
		} else if (got == NULL || strcmp(got, key) != 0) {
			fail_msg("%s: '%s' in C, '%s' in SQL", urls[i], key,
			    got != NULL ? got : "(null)");
		}
		PQclear(r);
	}
	(void)snprintf(sql, sizeof(sql), "INSERT INTO repositories (name, url,"
	    " branches, source) SELECT 'r' || g, 'https://git.example.com/"
	    "team/repo-' || g || '.git', '{master}', 'config'"
	    " FROM generate_series(1, 2000) g; ANALYZE repositories");
	assert_int_equal(testdb_sql(&f->a->t, sql), 0);
	(void)snprintf(sql, sizeof(sql), "EXPLAIN %s", store_repo_watching_sql);
	r = PQexecParams(c, sql, 6, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(r); i++) {
		if (strstr(PQgetvalue(r, i, 0), "Seq Scan") != NULL)
			fail_msg("reads every repository: %s",
			    PQgetvalue(r, i, 0));
		if (strstr(PQgetvalue(r, i, 0), "repositories_url_key") != NULL)
			found = 1;
	}
	PQclear(r);
	PQfinish(c);
	assert_true(found);
	github(f, &rp, "push", "a1b2c3d4-0000-4000-8000-000000000002",
	    f->push, f->pushlen, NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"refreshed\": [\"demo\"]}\n");
	testreply_free(&rp);
	assert_value(f, "SELECT count(*) FROM repositories WHERE "
	    "refresh_requested_at IS NOT NULL", "1");
}

static void
webhook__replayed_delivery_returns_the_first_answer_and_does_nothing(
    void **state)
{
	struct fixture *f = *state;
	const char *id = "a1b2c3d4-0000-4000-8000-000000000002";
	struct testreply first, again;
	char v[32];

	github(f, &first, "push", id, f->push, f->pushlen, NULL, NULL);
	assert_int_equal(first.status, 202);
	assert_int_equal(testdb_sql(&f->a->t, "UPDATE repositories SET "
	    "refresh_requested_at = NULL"), 0);
	github(f, &again, "push", id, f->push, f->pushlen, NULL, NULL);
	assert_int_equal(again.status, first.status);
	assert_string_equal(again.body, first.body);
	assert_int_equal(testreply_header(&again, "X-Sluice-Replayed", v,
	    sizeof(v)), 0);
	assert_string_equal(v, "true");
	testreply_free(&first);
	testreply_free(&again);
	assert_value(f, "SELECT count(*) FROM repositories WHERE "
	    "refresh_requested_at IS NOT NULL", "0");
	assert_value(f, "SELECT count(*) FROM webhook_deliveries", "1");
	assert_true(delivered(f, "github", "duplicate") == 1);
	/* a new delivery of the same push acts again */
	github(f, &again, "push", "a1b2c3d4-0000-4000-8000-000000000003",
	    f->push, f->pushlen, NULL, NULL);
	assert_int_equal(again.status, 202);
	testreply_free(&again);
	assert_value(f, "SELECT count(*) FROM repositories WHERE "
	    "refresh_requested_at IS NOT NULL", "1");
}

static void
webhook__bad_missing_or_malformed_signatures_are_401(void **state)
{
	struct fixture *f = *state;
	char other[WEBHOOK_SIG_LEN + 1], upper[WEBHOOK_SIG_LEN + 1];
	static const char zeros[] = "sha256="
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct {
		const char *sig, *result, *msg;
	} cases[] = {
		{ other, "bad_signature", "signature does not match" },
		{ zeros, "bad_signature", "signature does not match" },
		{ "", "unauthorized", "missing signature" },
		{ "sha1=abcdef", "unauthorized", "malformed signature" },
		{ "sha256=xyz", "unauthorized", "malformed signature" },
	};
	struct testreply rp;

	assert_int_equal(webhook_sign("another secret", f->push, f->pushlen,
	    other, sizeof(other)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		github(f, &rp, "push", "d-1", f->push, f->pushlen,
		    cases[i].sig, NULL);
		assert_int_equal(rp.status, 401);
		assert_non_null(strstr(rp.body, "\"code\":\"unauthorized\""));
		if (strstr(rp.body, cases[i].msg) == NULL)
			fail_msg("%s: got %s", cases[i].sig, rp.body);
		testreply_free(&rp);
	}
	assert_true(delivered(f, "github", "bad_signature") == 2);
	assert_true(delivered(f, "github", "unauthorized") == 3);
	assert_value(f, "SELECT count(*) FROM webhook_deliveries", "0");
	assert_value(f, "SELECT count(*) FROM repositories WHERE "
	    "refresh_requested_at IS NOT NULL", "0");
	/* a signature of another body is wrong too; hex case does not matter */
	assert_int_equal(webhook_sign(SECRET, f->push, f->pushlen, upper,
	    sizeof(upper)), 0);
	for (char *p = upper + 7; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	github(f, &rp, "push", "d-2", f->ping, f->pinglen, upper, NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	github(f, &rp, "push", "d-3", f->push, f->pushlen, upper, NULL);
	assert_int_equal(rp.status, 202);
	testreply_free(&rp);
}

static void
webhook__failed_signatures_and_hook_calls_are_rate_limited(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;
	char v[16], id[32];

	for (int i = 0; i < LIM_AUTH_FAILURES; i++) {
		github(f, &rp, "ping", "r-1", f->ping, f->pinglen, "", NULL);
		assert_int_equal(rp.status, 401);
		testreply_free(&rp);
	}
	github(f, &rp, "ping", "r-1", f->ping, f->pinglen, NULL, NULL);
	assert_int_equal(rp.status, 429);
	assert_non_null(strstr(rp.body, "\"code\":\"rate_limited\""));
	assert_int_equal(testreply_header(&rp, "Retry-After", v, sizeof(v)), 0);
	testreply_free(&rp);
	assert_true(delivered(f, "github", "rejected") == 1);

	/* calls: a smaller limiter in place of the default one */
	ratelimit_free(f->a->ctl.auth_failures);
	f->a->ctl.auth_failures = ratelimit_new(LIM_AUTH_FAILURES, 60, 16);
	ratelimit_free(f->a->ctl.hook_calls);
	f->a->ctl.hook_calls = ratelimit_new(3, 3600, 16);
	for (int i = 0; i < 3; i++) {
		(void)snprintf(id, sizeof(id), "call-%d", i);
		github(f, &rp, "ping", id, f->ping, f->pinglen, NULL, NULL);
		assert_int_equal(rp.status, 200);
		testreply_free(&rp);
	}
	github(f, &rp, "ping", "call-3", f->ping, f->pinglen, NULL, NULL);
	assert_int_equal(rp.status, 429);
	assert_int_equal(testreply_header(&rp, "Retry-After", v, sizeof(v)), 0);
	assert_true(strtol(v, NULL, 10) >= 1);
	testreply_free(&rp);
}

static void
webhook__oversized_bodies_are_refused_before_being_read(void **state)
{
	struct fixture *f = *state;
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n);
	struct testreply rp;

	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	github(f, &rp, "push", "big-1", big, n, NULL, NULL);
	assert_int_equal(rp.curl_code, 0);
	assert_int_equal(rp.status, 413);
	assert_non_null(strstr(rp.body, "\"code\":\"too_big\""));
	testreply_free(&rp);
	/* and with Expect: 100-continue the body is never even sent */
	{
		const char *h[] = { "Expect: 100-continue",
		    "X-Sluice-Delivery: big-2", NULL };

		testapi_request(f->a, &rp, "POST", "/api/v1/hooks/retrain/demo",
		    big, n, h);
		assert_int_equal(rp.status, 413);
		testreply_free(&rp);
	}
	free(big);
	assert_value(f, "SELECT count(*) FROM webhook_deliveries", "0");
	assert_true(delivered(f, "github", "rejected") == 1);
	assert_true(delivered(f, "sluice", "rejected") == 1);
}

static void
webhook__github_ping_is_answered(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;

	github(f, &rp, "ping", "p-1", f->ping, f->pinglen, NULL, NULL);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body, "{\"ok\": true, \"zen\": \"Anything added "
	    "dilutes everything else.\"}\n");
	testreply_free(&rp);
	assert_value(f, "SELECT event || ' ' || status_code FROM "
	    "webhook_deliveries", "ping 200");
}

static void
webhook__pushes_nobody_watches_and_other_events_are_ignored(void **state)
{
	struct fixture *f = *state;
	static const char tag[] = "{\"ref\":\"refs/tags/v1\",\"repository\":"
	    "{\"clone_url\":\"https://github.com/Codertocat/Hello-World.git\"}}";
	static const char dev[] = "{\"ref\":\"refs/heads/dev\",\"repository\":"
	    "{\"ssh_url\":\"git@github.com:Codertocat/Hello-World.git\","
	    "\"html_url\":null}}";
	static const char unknown[] = "{\"ref\":\"refs/heads/master\","
	    "\"repository\":{\"clone_url\":\"https://github.com/a/b.git\"}}";
	struct testreply rp;

	github(f, &rp, "push", "i-1", tag, strlen(tag), NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"ignored\": \"ref 'refs/tags/v1' is "
	    "not a branch\"}\n");
	testreply_free(&rp);
	github(f, &rp, "push", "i-2", dev, strlen(dev), NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_non_null(strstr(rp.body, "branch 'dev' is not watched"));
	testreply_free(&rp);
	github(f, &rp, "push", "i-3", unknown, strlen(unknown), NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_non_null(strstr(rp.body, "no repository is configured with "
	    "URL 'github.com/a/b'"));
	testreply_free(&rp);
	github(f, &rp, "issues", "i-4", "{}", 2, NULL, NULL);
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"ignored\": \"event 'issues' is not "
	    "handled\"}\n");
	testreply_free(&rp);
	assert_value(f, "SELECT count(*) FROM repositories WHERE "
	    "refresh_requested_at IS NOT NULL", "0");
	assert_value(f, "SELECT string_agg(delivery_id || ':' || status_code, "
	    "',' ORDER BY delivery_id) FROM webhook_deliveries",
	    "i-1:202,i-2:202,i-3:202,i-4:202");
	assert_true(delivered(f, "github", "ignored") == 4);
}

static void
webhook__github_bad_headers_and_bodies_are_400(void **state)
{
	struct fixture *f = *state;
	static const char notobj[] = "[\"x\"]";
	static const char noref[] = "{\"repository\":{\"clone_url\":\"x\"}}";
	struct testreply rp;

	github(f, &rp, "push", NULL, f->push, f->pushlen, NULL, NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "X-GitHub-Delivery header missing"));
	testreply_free(&rp);
	github(f, &rp, "push", "bad id with spaces", f->push, f->pushlen,
	    NULL, NULL);
	assert_int_equal(rp.status, 400);
	testreply_free(&rp);
	github(f, &rp, "Push!", "b-1", f->push, f->pushlen, NULL, NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "X-GitHub-Event header malformed"));
	testreply_free(&rp);
	github(f, &rp, "push", "b-2", notobj, strlen(notobj), NULL, NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "expected a JSON object"));
	testreply_free(&rp);
	github(f, &rp, "push", "b-3", noref, strlen(noref), NULL, NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "missing field \\\"ref\\\""));
	testreply_free(&rp);
	/* a refused delivery is recorded too, and replays the same way */
	github(f, &rp, "push", "b-3", noref, strlen(noref), NULL, NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "missing field"));
	testreply_free(&rp);
	assert_true(delivered(f, "github", "duplicate") == 1);
}

/* payload=<urlencoded JSON>, GitHub's form content type. */
static void
webhook__form_encoded_github_payload_is_accepted(void **state)
{
	struct fixture *f = *state;
	size_t cap = 8 + 3 * f->pushlen + 1, n = 8;
	char *form = malloc(cap);
	struct testreply rp;

	assert_non_null(form);
	memcpy(form, "payload=", 8);
	for (size_t i = 0; i < f->pushlen; i++) {
		unsigned char c = (unsigned char)f->push[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')
			form[n++] = (char)c;
		else if (c == ' ')
			form[n++] = '+';
		else
			n += (size_t)snprintf(form + n, cap - n, "%%%02X", c);
	}
	form[n] = '\0';
	github(f, &rp, "push", "form-1", form, n, NULL,
	    "application/x-www-form-urlencoded");
	assert_int_equal(rp.status, 202);
	assert_string_equal(rp.body, "{\"refreshed\": [\"demo\"]}\n");
	testreply_free(&rp);
	free(form);
}

static void
webhook__without_a_secret_hooks_answer_503(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;

	github(f, &rp, "ping", "s-1", f->ping, f->pinglen, NULL, NULL);
	assert_int_equal(rp.status, 503);
	assert_non_null(strstr(rp.body, "webhook secret not configured"));
	assert_non_null(strstr(rp.body, "SLUICE_WEBHOOK_SECRET"));
	testreply_free(&rp);
	assert_true(delivered(f, "github", "error") == 1);
}

/* --- retrain ---------------------------------------------------------- */

static void
retrain(struct fixture *f, struct testreply *rp, const char *pipeline,
    const char *delivery, const char *body, const char *sig)
{
	char path[128], hs[128], hd[128], s[WEBHOOK_SIG_LEN + 1];
	const char *h[3] = { NULL, NULL, NULL };
	size_t n = 0;

	if (sig == NULL) {
		assert_int_equal(webhook_sign(SECRET, body, strlen(body), s,
		    sizeof(s)), 0);
		sig = s;
	}
	if (sig[0] != '\0') {
		(void)snprintf(hs, sizeof(hs), "X-Sluice-Signature-256: %s",
		    sig);
		h[n++] = hs;
	}
	if (delivery != NULL) {
		(void)snprintf(hd, sizeof(hd), "X-Sluice-Delivery: %s",
		    delivery);
		h[n++] = hd;
	}
	(void)snprintf(path, sizeof(path), "/api/v1/hooks/retrain/%s",
	    pipeline);
	testapi_request(f->a, rp, "POST", path, body, strlen(body), h);
}

static struct fixture *current;

/* A stand-in for the engine: records what it was asked. */
static int
fake_retrain(struct ctl *ctl, struct db *db, const struct retrain_request *rq,
    struct retrain_result *out, struct err *err)
{
	struct fixture *f = current;
	size_t used;

	(void)ctl;
	(void)db;
	f->retrain_calls++;
	if (strcmp(rq->pipeline, "nope") == 0)
		return err_set(err, ERR_NOTFOUND, "pipeline '%s' not found",
		    rq->pipeline);
	used = (size_t)snprintf(f->retrain_seen, sizeof(f->retrain_seen),
	    "%s reason=%s delivery=%s actor=%s", rq->pipeline, rq->reason,
	    rq->delivery_id, rq->actor);
	for (size_t i = 0; i < rq->nparams && used < sizeof(f->retrain_seen);
	    i++)
		used += (size_t)snprintf(f->retrain_seen + used,
		    sizeof(f->retrain_seen) - used, " %s=%s",
		    rq->param_names[i], rq->param_values[i]);
	out->run_id = 0;
	out->pipeline_id = 0;
	return 0;
}

static void
webhook__retrain_of_an_unknown_pipeline_is_404_after_verification(void **state)
{
	struct fixture *f = *state;
	struct testreply rp;

	retrain(f, &rp, "demo", "rt-1", "{}", "");
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	assert_value(f, "SELECT count(*) FROM webhook_deliveries", "0");
	/* the real run creation: no such pipeline, an answer recorded */
	retrain(f, &rp, "demo", "rt-1", "{}", NULL);
	assert_int_equal(rp.status, 404);
	assert_non_null(strstr(rp.body, "pipeline 'demo' not found"));
	testreply_free(&rp);
	assert_value(f, "SELECT delivery_id || ':' || status_code FROM"
	    " webhook_deliveries", "rt-1:404");
}

static void
webhook__retrain_asks_the_engine_once_per_delivery(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"params\":{\"epochs\":\"5\",\"lr\":\"0.01\"},"
	    "\"reason\":\"drift detected\"}";
	struct testreply first, again;

	current = f;
	f->a->ctl.retrain = fake_retrain;
	retrain(f, &first, "demo", "rt-2", body, NULL);
	assert_int_equal(first.status, 202);
	assert_string_equal(first.body, "{\"run\": 0, \"pipeline\": "
	    "\"demo\"}\n");
	assert_int_equal(f->retrain_calls, 1);
	assert_string_equal(f->retrain_seen, "demo reason=drift detected "
	    "delivery=rt-2 actor=webhook epochs=5 lr=0.01");
	retrain(f, &again, "demo", "rt-2", body, NULL);
	assert_int_equal(again.status, 202);
	assert_string_equal(again.body, first.body);
	assert_int_equal(f->retrain_calls, 1);
	testreply_free(&first);
	testreply_free(&again);
	/* an engine refusal is an answer too, recorded and replayed */
	retrain(f, &first, "nope", "rt-3", "{}", NULL);
	assert_int_equal(first.status, 404);
	assert_non_null(strstr(first.body, "pipeline 'nope' not found"));
	retrain(f, &again, "nope", "rt-3", "{}", NULL);
	assert_int_equal(again.status, 404);
	assert_string_equal(again.body, first.body);
	assert_int_equal(f->retrain_calls, 2);
	testreply_free(&first);
	testreply_free(&again);
	assert_value(f, "SELECT string_agg(source || ':' || delivery_id || ':' "
	    "|| event || ':' || status_code, ',' ORDER BY id) FROM "
	    "webhook_deliveries", "sluice:rt-2:retrain:202,"
	    "sluice:rt-3:retrain:404");
	assert_true(delivered(f, "sluice", "accepted") == 1);
	assert_true(delivered(f, "sluice", "duplicate") == 2);
}

static void
webhook__retrain_bodies_are_strict_and_name_the_field(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *body, *want; } cases[] = {
		{ "{\"params\":{\"epochs\":5}}",
		  "field \\\"params.epochs\\\": expected a string" },
		{ "{\"parms\":{}}", "unknown field \\\"parms\\\"" },
		{ "{\"reason\":\"a\",\"reason\":\"b\"}",
		  "duplicate key \\\"reason\\\"" },
		{ "{\"reason\":7}", "field \\\"reason\\\": expected a string" },
		{ "{\"params\":[]}",
		  "field \\\"params\\\": expected an object of strings" },
		{ "not json", "invalid JSON" },
	};
	struct testreply rp;
	char id[32];

	current = f;
	f->a->ctl.retrain = fake_retrain;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(id, sizeof(id), "strict-%zu", i);
		retrain(f, &rp, "demo", id, cases[i].body, NULL);
		assert_int_equal(rp.status, 400);
		if (strstr(rp.body, cases[i].want) == NULL)
			fail_msg("%s: got %s", cases[i].body, rp.body);
		testreply_free(&rp);
	}
	retrain(f, &rp, "Bad_Name", "strict-x", "{}", NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "not a DNS label"));
	testreply_free(&rp);
	retrain(f, &rp, "demo", NULL, "{}", NULL);
	assert_int_equal(rp.status, 400);
	assert_non_null(strstr(rp.body, "X-Sluice-Delivery header missing"));
	testreply_free(&rp);
	assert_int_equal(f->retrain_calls, 0);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(webhook__github_push_refreshes_the_matching_repository),
		T(webhook__push_looks_up_only_the_repositories_it_names),
		T(webhook__replayed_delivery_returns_the_first_answer_and_does_nothing),
		T(webhook__bad_missing_or_malformed_signatures_are_401),
		T(webhook__failed_signatures_and_hook_calls_are_rate_limited),
		T(webhook__oversized_bodies_are_refused_before_being_read),
		T(webhook__github_ping_is_answered),
		T(webhook__pushes_nobody_watches_and_other_events_are_ignored),
		T(webhook__github_bad_headers_and_bodies_are_400),
		T(webhook__form_encoded_github_payload_is_accepted),
		cmocka_unit_test_setup_teardown(
		    webhook__without_a_secret_hooks_answer_503,
		    setup_no_secret, teardown),
		T(webhook__retrain_of_an_unknown_pipeline_is_404_after_verification),
		T(webhook__retrain_asks_the_engine_once_per_delivery),
		T(webhook__retrain_bodies_are_strict_and_name_the_field),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
