/*
 * test_engine_prom.c - canary analysis from a real Prometheus (Debian's
 * `prometheus`, started by tests/fakes/prometheus_run.sh on a free port
 * with a 1 s scrape interval) scraping tests/fakes/request_counter.py,
 * whose canary error rate a test raises mid-step.  The engine runs
 * against a real PostgreSQL with the fake executor, one pass at a time;
 * every wait is on a condition with a deadline.
 *
 * A healthy canary passes with its measurements stored; a raised error
 * rate fails the step once failure_limit is passed and rolls back; a
 * PromQL syntax error (Prometheus' 400) is the stage's message; an
 * unreachable Prometheus is inconclusive, never a pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "base/cfg.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"
#include "store/db.h"
#include "store/store_commit.h"
#include "store/store_pipeline.h"
#include "store/store_rollout.h"
#include "store/store_run.h"
#include "fake_executor.h"
#include "testchild.h"
#include "testdb.h"

/* The servers, shared by the tests of this program. */
static struct testchild counter, prom;
static char promdir[512];

struct fx {
	struct testdb		 t;
	struct db		*db;
	struct cfg		*cfg;
	struct executor		 ex;
	struct fake_executor	*fake;
	struct engine		*e;
	char			 dir[512];
	int64_t			 repo_id;
};

/* --- HTTP to the servers ------------------------------------------------ */

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	(void)!buf_append(b, p, size * n);
	return size * n;
}

/* POST (body NULL: GET) url; the answer's body into b; the HTTP status. */
static long
http(const char *url, const char *form, struct buf *b)
{
	CURL *h = curl_easy_init();
	long code = 0;

	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	if (form != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static void
set_error_rate(const char *backend, const char *rate)
{
	char url[200];
	struct buf b;

	buf_init(&b, 4096);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/error_rate?"
	    "backend=%s&rate=%s", counter.port, backend, rate);
	assert_int_equal(http(url, "", &b), 200);
	buf_release(&b);
}

#define ERROR_RATE(b)							\
	"sum(rate(http_requests_total{target=\"${canary.target}\","	\
	"backend=\"" b "\",code=~\"5..\"}[3s])) / "			\
	"sum(rate(http_requests_total{target=\"${canary.target}\","	\
	"backend=\"" b "\"}[3s]))"

/*
 * Wait (at most 60 s) until Prometheus has the canary's error rate at
 * `want` ("0", "0.5"): scraped, and the rate window past the change.
 */
static void
wait_prometheus(const char *want)
{
	char url[100], form[600], w[64];
	int64_t deadline = sys_now_ms() + 60000;
	char *esc;
	struct buf b;
	CURL *h = curl_easy_init();

	esc = curl_easy_escape(h, "sum(rate(http_requests_total{target=\"api\","
	    "backend=\"canary\",code=~\"5..\"}[3s])) / sum(rate("
	    "http_requests_total{target=\"api\",backend=\"canary\"}[3s]))", 0);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/query",
	    prom.port);
	(void)snprintf(form, sizeof(form), "query=%s", esc);
	(void)snprintf(w, sizeof(w), ",\"%s\"]", want);
	curl_free(esc);
	curl_easy_cleanup(h);
	buf_init(&b, 1 << 20);
	for (;;) {
		buf_reset(&b);
		if (http(url, form, &b) == 200 && b.data != NULL &&
		    strstr(b.data, w) != NULL)
			break;
		if (sys_now_ms() > deadline)
			fail_msg("prometheus never gave %s: %s", want,
			    b.data ? b.data : "(nothing)");
		usleep(200 * 1000);
	}
	buf_release(&b);
}

static int
group_setup(void **state)
{
	char target[64];
	const char *c_argv[] = { "python3", NULL, NULL };
	const char *p_argv[] = { "sh", NULL, promdir, target, NULL };
	static char cpath[600], ppath[600];

	(void)state;
	if (system("command -v prometheus >/dev/null") != 0) {
		fprintf(stderr, "prometheus is not installed "
		    "(scripts/bootstrap.sh installs Debian's package)\n");
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c_argv[1] = test_fixture(cpath, sizeof(cpath),
	    "../fakes/request_counter.py");
	p_argv[1] = test_fixture(ppath, sizeof(ppath),
	    "../fakes/prometheus_run.sh");
	if (test_tmpdir(promdir, sizeof(promdir)) < 0 ||
	    testchild_spawn(&counter, c_argv, 1) < 0)
		return -1;
	(void)snprintf(target, sizeof(target), "127.0.0.1:%d", counter.port);
	if (testchild_spawn(&prom, p_argv, 1) < 0 || prom.port <= 0) {
		fprintf(stderr, "prometheus did not start (see %s)\n", promdir);
		return -1;
	}
	wait_prometheus("0");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	testchild_stop(&prom);
	testchild_stop(&counter);
	test_rmtree(promdir);
	curl_global_cleanup();
	return 0;
}

/* --- the engine's fixture ---------------------------------------------- */

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct engine_opts o = {
		.poll_ms = 20, .sweep_ms = 1000, .backoff_ms = 100,
		.backoff_max_ms = 400, .timeout_margin_ms = 100,
	};
	char dburl[2200], st[600], *envp[3], *id;
	struct err err;

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	f->fake = fake_executor_new(&f->ex);
	id = testdb_value(&f->t, "INSERT INTO repositories (name, url, source)"
	    " VALUES ('models', 'file:///nonexistent.git', 'api') RETURNING id");
	f->repo_id = strtoll(id, NULL, 10);
	free(id);
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    f->t.url);
	(void)snprintf(st, sizeof(st), "SLUICE_STATE_DIR=%s/state", f->dir);
	envp[0] = dburl;
	envp[1] = st;
	envp[2] = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0 ||
	    engine_new(&f->e, f->cfg, f->ex, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	engine_set_opts(f->e, &o);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	engine_free(f->e);
	fake_executor_free(f->fake);
	cfg_free(f->cfg);
	db_free(f->db);
	testdb_drop(&f->t);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* The first value of a query (owned), or NULL. */
static char *
q(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *
q(struct fx *f, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return testdb_value(&f->t, sql);
}

/*
 * Run engine passes until the query answers want (at most 90 s: an
 * analysis window is real time), failing with the last answer.
 */
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
tick_until(struct fx *f, const char *want, const char *fmt, ...)
{
	int64_t deadline = sys_now_ms() + 90000;
	char sql[4096];
	struct err err;
	va_list ap;
	char *v = NULL;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	for (;;) {
		free(v);
		v = testdb_value(&f->t, sql);
		if (v != NULL && strcmp(v, want) == 0)
			break;
		if (sys_now_ms() > deadline)
			fail_msg("%s\n  still: %s\n  want:  %s", sql,
			    v ? v : "(null)", want);
		if (engine_tick(f->e, &err) < 0)
			fail_msg("engine_tick: %s", err.msg);
		usleep(20 * 1000);
	}
	free(v);
}

static void
expect(struct fx *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
expect(struct fx *f, const char *want, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	char *v;

	va_start(ap, fmt);
	(void)vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	v = testdb_value(&f->t, sql);
	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("%s\n  got:  %s\n  want: %s", sql, v ? v : "(null)",
		    want);
	free(v);
}

/*
 * A run of a pipeline whose canary stage's step 1 is `analysis` (YAML
 * flow mapping) against provider (a prometheus mapping); the train stage
 * registers a model.
 */
static int64_t
start_run(struct fx *f, const char *name, const char *provider,
    const char *analysis)
{
	static int ncommits;
	char yaml[8192], sha[41];
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct pipeline_version_in v;
	struct commit_in c;
	struct run_new rn;
	struct fake_rule r;
	struct err err;
	char *json = NULL;
	int64_t commit_id, pipeline_id, version_id, id;
	int created;

	(void)snprintf(yaml, sizeof(yaml), "apiVersion: sluice/v1\n"
	    "kind: Pipeline\nmetadata: {name: %s}\nspec:\n"
	    "  defaults: {image: \"alpine:3.20\"}\n"
	    "  stages:\n"
	    "    - {name: train, command: [\"true\"]}\n"
	    "    - name: rollout\n"
	    "      needs: [train]\n"
	    "      type: canary\n"
	    "      command: [\"rollout\"]\n"
	    "      canary:\n"
	    "        target: api\n"
	    "        analysis_provider: {prometheus: %s}\n"
	    "        rollback_command: [\"rollout\", \"--abort\"]\n"
	    "        steps:\n"
	    "          - {weight: 10, analysis: %s}\n"
	    "          - {weight: 100}\n", name, provider, analysis);
	pipeline_errors_init(&errs);
	if (pipeline_parse(&p, &errs, yaml, strlen(yaml), "p.yaml", &err) < 0)
		fail_msg("pipeline: %s: %s", err.msg, errs.n > 0 ?
		    errs.v[0].message : "");
	pipeline_errors_release(&errs);
	if (pipeline_to_json(p, &json, &err) < 0)
		fail_msg("json: %s", err.msg);
	memset(&c, 0, sizeof(c));
	(void)snprintf(sha, sizeof(sha), "%040x", ++ncommits);
	c.sha = sha;
	c.author_name = "t";
	c.author_email = "t@example.com";
	c.message = "m";
	c.committed_at = 1700000000;
	if (store_commit_put(f->db, f->repo_id, &c, &commit_id, &err) < 0)
		fail_msg("commit: %s", err.msg);
	memset(&v, 0, sizeof(v));
	v.repo_id = f->repo_id;
	v.commit_id = commit_id;
	v.file_path = "pipelines/p.yaml";
	v.name = p->name;
	v.definition = json;
	v.errors = "[]";
	if (store_pipeline_version_put(f->db, &v, &pipeline_id, &version_id,
	    &err) < 0)
		fail_msg("version: %s", err.msg);
	free(json);
	pipeline_free(p);
	memset(&r, 0, sizeof(r));
	r.stage = "train";
	r.outcome.log = "::artifact model=s3://models/fraud/7\n";
	fake_executor_on(f->fake, &r);
	memset(&rn, 0, sizeof(rn));
	rn.version_id = version_id;
	rn.branch = "main";
	rn.trigger = "api";
	rn.created_by = "tester";
	if (store_run_create(f->db, &rn, &id, &created, &err) < 0)
		fail_msg("run: %s", err.msg);
	return id;
}

static const char *
provider(void)
{
	static char s[200];

	(void)snprintf(s, sizeof(s), "{address: \"http://127.0.0.1:%d\", "
	    "timeout: 5s}", prom.port);
	return s;
}

/* --- tests -------------------------------------------------------------- */

static void
engine_prom__a_healthy_canary_passes_with_its_measurements_stored(void **state)
{
	struct fx *f = *state;
	int64_t r;

	set_error_rate("canary", "0");
	wait_prometheus("0");
	r = start_run(f, "healthy", provider(), "{duration: 3s, interval: 1s, "
	    "queries: [{name: error_rate, query: '" ERROR_RATE("canary") "', "
	    "op: \"<=\", value: 0.05}]}");
	tick_until(f, "succeeded", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	/* the last slot is always measured; each one passed, value 0 */
	expect(f, "3|pass|0|<=|0.05", "SELECT max(slot) || '|' || "
	    "string_agg(DISTINCT result, ',') || '|' || max(value) || '|' || "
	    "min(op) || '|' || min(threshold) FROM analysis_measurements "
	    "WHERE run_id = %lld AND step = 1 AND query = 'error_rate'",
	    (long long)r);
	expect(f, "succeeded|production", "SELECT ro.status || '|' || m.status "
	    "FROM rollouts ro JOIN model_versions m ON m.id = "
	    "ro.model_version_id WHERE ro.run_id = %lld", (long long)r);
}

static void
engine_prom__a_raised_error_rate_fails_the_step_and_rolls_back(void **state)
{
	struct fx *f = *state;
	char *msg, rb[64];
	int64_t r;

	set_error_rate("canary", "0");
	wait_prometheus("0");
	r = start_run(f, "degraded", provider(), "{duration: 60s, interval: 1s, "
	    "failure_limit: 1, queries: [{name: error_rate, query: '"
	    ERROR_RATE("canary") "', op: \"<=\", value: 0.05}]}");
	/* healthy at first: two passed measurements, stored */
	tick_until(f, "t", "SELECT count(*) >= 2 FROM analysis_measurements "
	    "WHERE run_id = %lld AND result = 'pass'", (long long)r);
	set_error_rate("canary", "0.5");
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	set_error_rate("canary", "0");
	/* the limit tolerates one failure: the second fails the step */
	expect(f, "2", "SELECT count(*) FROM analysis_measurements WHERE "
	    "run_id = %lld AND result <> 'pass'", (long long)r);
	expect(f, "rolled_back|rejected", "SELECT ro.status || '|' || m.status "
	    "FROM rollouts ro JOIN model_versions m ON m.id = "
	    "ro.model_version_id WHERE ro.run_id = %lld", (long long)r);
	(void)snprintf(rb, sizeof(rb), "sluice-%lld-rollout-1-rb", (long long)r);
	assert_int_equal(fake_executor_starts(f->fake, rb), 1);
	msg = q(f, "SELECT message FROM stages WHERE run_id = %lld AND name = "
	    "'rollout'", (long long)r);
	assert_non_null(msg);
	if (strncmp(msg, "analysis of step 1 (weight 10) failed: query "
	    "error_rate: 2 failed measurements (failure_limit 1, inconclusive "
	    "counted as failed); last: ", 120) != 0 ||
	    strstr(msg, " is not <= 0.05; rolled back") == NULL)
		fail_msg("stage message: %s", msg);
	free(msg);
	/* the step's failure is after its measurements (stored first) */
	expect(f, "t", "SELECT max(m.measured_at) <= ro.finished_at FROM "
	    "analysis_measurements m JOIN rollouts ro ON ro.id = m.rollout_id "
	    "WHERE m.run_id = %lld GROUP BY ro.finished_at", (long long)r);
}

/* How many times Prometheus has scraped the counter server. */
static long
scrapes(void)
{
	char url[100];
	struct buf b;
	long n;

	buf_init(&b, 4096);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/scrapes",
	    counter.port);
	assert_int_equal(http(url, NULL, &b), 200);
	assert_int_equal(buf_putc(&b, '\0'), 0);
	n = strtol(b.data, NULL, 10);
	buf_release(&b);
	return n;
}

static void
act(struct fx *f, int64_t r, enum rollout_act a)
{
	struct err err;
	int64_t ro;

	if (store_rollout_act(f->db, r, 0, a, "alice", NULL, NULL, &ro,
	    &err) < 0)
		fail_msg("%s: %s", rollout_act_name(a), err.msg);
}

static void
engine_prom__a_pause_stops_the_analysis_clock(void **state)
{
	struct fx *f = *state;
	int64_t r, deadline;
	struct err err;
	long s0;
	char *v;
	int n;

	set_error_rate("canary", "0");
	wait_prometheus("0");
	r = start_run(f, "paused", provider(), "{duration: 60s, interval: 1s, "
	    "queries: [{name: error_rate, query: '" ERROR_RATE("canary") "', "
	    "op: \"<=\", value: 0.05}]}");
	tick_until(f, "t", "SELECT count(*) >= 2 FROM analysis_measurements "
	    "WHERE run_id = %lld", (long long)r);
	act(f, r, ROLLOUT_ACT_PAUSE);
	v = q(f, "SELECT count(*) FROM analysis_measurements WHERE run_id = "
	    "%lld", (long long)r);
	n = atoi(v);
	free(v);
	tick_until(f, "rollout paused by alice", "SELECT waiting_reason FROM "
	    "stages WHERE run_id = %lld AND name = 'rollout'", (long long)r);
	/* five scrapes later (more than four intervals): nothing measured */
	s0 = scrapes();
	deadline = sys_now_ms() + 60000;
	while (scrapes() < s0 + 5) {
		if (sys_now_ms() > deadline)
			fail_msg("prometheus stopped scraping");
		if (engine_tick(f->e, &err) < 0)
			fail_msg("engine_tick: %s", err.msg);
		usleep(50 * 1000);
	}
	expect(f, "analyzing", "SELECT status FROM rollouts WHERE run_id = %lld",
	    (long long)r);
	v = q(f, "SELECT count(*) FROM analysis_measurements WHERE run_id = "
	    "%lld", (long long)r);
	assert_int_equal(atoi(v), n);
	free(v);
	/* resumed, the clock goes on where it stopped, not 4 s later */
	act(f, r, ROLLOUT_ACT_RESUME);
	tick_until(f, "t", "SELECT count(*) > %d FROM analysis_measurements "
	    "WHERE run_id = %lld", n, (long long)r);
	v = q(f, "SELECT max(slot) FROM analysis_measurements WHERE run_id = "
	    "%lld", (long long)r);
	if (atoi(v) > n + 1)
		fail_msg("after %d slots and a pause, slot %s", n, v);
	free(v);
	act(f, r, ROLLOUT_ACT_ABORT);
	tick_until(f, "rolled_back", "SELECT status FROM rollouts WHERE run_id "
	    "= %lld", (long long)r);
}

static void
engine_prom__a_promql_syntax_error_is_the_stage_message(void **state)
{
	struct fx *f = *state;
	int64_t r;

	r = start_run(f, "syntax", provider(), "{duration: 2s, interval: 1s, "
	    "queries: [{name: broken, query: 'sum(rate(x[1m]', op: \"<\", "
	    "value: 1}]}");
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "analysis of step 1 (weight 10) failed: query broken: 1 "
	    "failed measurement (failure_limit 0, inconclusive counted as "
	    "failed); last: inconclusive: prometheus: bad_data: invalid "
	    "parameter \"query\": 1:15: parse error: unclosed left parenthesis; "
	    "rolled back", "SELECT message FROM stages WHERE run_id = %lld AND "
	    "name = 'rollout'", (long long)r);
	expect(f, "inconclusive|", "SELECT result || '|' || coalesce(value::text,"
	    " '') FROM analysis_measurements WHERE run_id = %lld",
	    (long long)r);
}

static void
engine_prom__an_unreachable_prometheus_is_inconclusive_never_a_pass(
    void **state)
{
	struct fx *f = *state;
	char addr[200];
	int64_t r, r2;
	int port = test_free_port();

	/* inconclusive: ignore -- measured, shown, and still no pass */
	(void)snprintf(addr, sizeof(addr), "{address: \"http://127.0.0.1:%d\", "
	    "timeout: 1s}", port);
	r = start_run(f, "unreachable", addr, "{duration: 3s, interval: 1s, "
	    "inconclusive: ignore, queries: [{name: error_rate, query: '"
	    ERROR_RATE("canary") "', op: \"<=\", value: 0.05}]}");
	tick_until(f, "t", "SELECT waiting_reason LIKE 'analysis of step 1 "
	    "(weight 10): measurement %% of 3; error_rate inconclusive: cannot "
	    "query prometheus at http://127.0.0.1:%d: %%' FROM stages WHERE "
	    "run_id = %lld AND name = 'rollout'", port, (long long)r);
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	expect(f, "inconclusive", "SELECT string_agg(DISTINCT result, ',') FROM "
	    "analysis_measurements WHERE run_id = %lld", (long long)r);
	expect(f, "t", "SELECT message LIKE 'analysis of step 1 (weight 10) "
	    "failed: query error_rate: no conclusive measurement in %% "
	    "inconclusive: cannot query prometheus at %%; rolled back' FROM "
	    "stages WHERE run_id = %lld AND name = 'rollout'", (long long)r);

	/* inconclusive: fail (the default) -- the first one fails the step */
	r2 = start_run(f, "unreachable-fails", addr, "{duration: 30s, "
	    "interval: 1s, queries: [{name: error_rate, query: '"
	    ERROR_RATE("canary") "', op: \"<=\", value: 0.05}]}");
	tick_until(f, "failed", "SELECT status FROM runs WHERE id = %lld",
	    (long long)r2);
	expect(f, "1|inconclusive", "SELECT count(*) || '|' || "
	    "string_agg(result, ',') FROM analysis_measurements WHERE "
	    "run_id = %lld", (long long)r2);
	expect(f, "rolled_back", "SELECT status FROM rollouts WHERE run_id = "
	    "%lld", (long long)r2);
}

/* A run whose step 1 queries vector(0) through provider; its end. */
static int64_t
run_vector0(struct fx *f, const char *name, const char *provider_yaml,
    const char *want)
{
	int64_t r = start_run(f, name, provider_yaml, "{duration: 2s, "
	    "interval: 1s, queries: [{name: zero, query: 'vector(0)', op: "
	    "\"<=\", value: 0}]}");

	tick_until(f, want, "SELECT status FROM runs WHERE id = %lld",
	    (long long)r);
	return r;
}

static void
engine_prom__https_with_a_ca_file_or_skipped_verification_and_a_token(
    void **state)
{
	struct fx *f = *state;
	const char *p_argv[] = { "sh", NULL, NULL, NULL };
	static char ppath[600];
	char dir[512], cmd[1400], cert[600], key[600], pdir[600], addr[900];
	struct testchild tls;
	int64_t r;

	assert_int_equal(test_tmpdir(dir, sizeof(dir)), 0);
	(void)snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	(void)snprintf(key, sizeof(key), "%s/key.pem", dir);
	(void)snprintf(pdir, sizeof(pdir), "%s/prometheus", dir);
	(void)snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
	    "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
	    ">/dev/null 2>&1", key, cert);
	assert_int_equal(system(cmd), 0);
	p_argv[1] = test_fixture(ppath, sizeof(ppath),
	    "../fakes/prometheus_run.sh");
	p_argv[2] = pdir;
	setenv("PROM_TLS_CERT", cert, 1);
	setenv("PROM_TLS_KEY", key, 1);
	memset(&tls, 0, sizeof(tls));
	assert_int_equal(testchild_spawn(&tls, p_argv, 1), 0);
	unsetenv("PROM_TLS_CERT");
	unsetenv("PROM_TLS_KEY");
	assert_true(tls.port > 0);

	/* the CA given: verified, and the query answers */
	(void)snprintf(addr, sizeof(addr), "{address: \"https://127.0.0.1:%d\", "
	    "ca_file: \"%s\"}", tls.port, cert);
	r = run_vector0(f, "tls-ca", addr, "succeeded");
	expect(f, "2|pass", "SELECT count(*) || '|' || string_agg(DISTINCT "
	    "result, ',') FROM analysis_measurements WHERE run_id = %lld",
	    (long long)r);

	/* no CA: the certificate is refused, inconclusive */
	(void)snprintf(addr, sizeof(addr), "{address: \"https://127.0.0.1:%d\"}",
	    tls.port);
	r = run_vector0(f, "tls-unknown", addr, "failed");
	expect(f, "t", "SELECT message LIKE 'cannot query prometheus at "
	    "https://127.0.0.1:%d: %%' FROM analysis_measurements WHERE "
	    "run_id = %lld AND result = 'inconclusive'", tls.port,
	    (long long)r);

	/* verification skipped, a bearer token from the environment */
	setenv("PROM_TEST_TOKEN", "t0ken", 1);
	(void)snprintf(addr, sizeof(addr), "{address: \"https://127.0.0.1:%d\", "
	    "insecure_skip_verify: true, token_env: PROM_TEST_TOKEN}",
	    tls.port);
	(void)run_vector0(f, "tls-insecure", addr, "succeeded");

	/* the token's variable unset: inconclusive, saying so */
	unsetenv("PROM_TEST_TOKEN");
	r = run_vector0(f, "token-missing", addr, "failed");
	expect(f, "token_env PROM_TEST_TOKEN is not set in the "
	    "controller's environment", "SELECT message FROM "
	    "analysis_measurements WHERE run_id = %lld", (long long)r);
	testchild_stop(&tls);
	test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(engine_prom__a_healthy_canary_passes_with_its_measurements_stored),
		T(engine_prom__a_raised_error_rate_fails_the_step_and_rolls_back),
		T(engine_prom__a_pause_stops_the_analysis_clock),
		T(engine_prom__a_promql_syntax_error_is_the_stage_message),
		T(engine_prom__an_unreachable_prometheus_is_inconclusive_never_a_pass),
		T(engine_prom__https_with_a_ca_file_or_skipped_verification_and_a_token),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
