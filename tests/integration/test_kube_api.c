/*
 * test_kube_api.c - the Kubernetes client against the fake API server
 * (tests/fakes/kube_apiserver.py over HTTPS with a generated CA): Jobs
 * created, read, listed and deleted; 409, 422, 429 with Retry-After, 5xx,
 * dropped connections, 401/403, token rotation, an untrusted server; the
 * rate limiter; pods, logs, events and why a GPU Job is pending; the watch
 * with bookmarks, 410 re-lists and dropped streams.
 *
 * Nothing here asserts on elapsed time: waits are counted through a test
 * clock (struct kube_clock) or through the fake's request counters.  Each
 * test works in a namespace of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "../support/kubefake.h"
#include "../support/testdb.h"
#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "kube/kube_api.h"
#include "kube/kube_traffic.h"
#include "kube/kubeconfig.h"

static struct kubefake fake;

#define WAIT_UNTIL(expr)                                                    \
	do {                                                                \
		int w_i_;                                                   \
		for (w_i_ = 0; w_i_ < 750 && !(expr); w_i_++)               \
			usleep(20000);                                      \
		if (!(expr))                                                \
			fail_msg("timed out waiting for %s", #expr);        \
	} while (0)

/* ---- a clock that only moves when slept on ------------------------------- */

struct tclock {
	pthread_mutex_t	mu;
	int64_t		now;
	int64_t		slept[64];
	int		nslept;
	int64_t		total;
};

static int64_t
tc_now(void *arg)
{
	struct tclock *c = arg;
	int64_t v;

	pthread_mutex_lock(&c->mu);
	v = c->now;
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void
tc_sleep(void *arg, int64_t ms)
{
	struct tclock *c = arg;

	pthread_mutex_lock(&c->mu);
	c->now += ms;
	c->total += ms;
	if (c->nslept < 64)
		c->slept[c->nslept] = ms;
	c->nslept++;
	pthread_mutex_unlock(&c->mu);
}

static struct tclock tclock_;
static struct kube_clock test_clock = { tc_now, tc_sleep, &tclock_ };

static void
tclock_reset(void)
{
	pthread_mutex_lock(&tclock_.mu);
	tclock_.now = 1000000;
	tclock_.nslept = 0;
	tclock_.total = 0;
	pthread_mutex_unlock(&tclock_.mu);
}

/* ---- helpers ---------------------------------------------------------------- */

static struct kube_api *
client_opts(const char *kubeconfig, const struct kube_api_opts *o)
{
	struct kube_auth *a = NULL;
	struct kube_api *k = NULL;
	struct err err;

	if (kube_auth_from_kubeconfig(&a, kubefake_path(&fake, kubeconfig),
	    NULL, &err) != 0)
		fail_msg("%s", err.msg);
	if (kube_api_new(&k, a, o, &err) != 0)
		fail_msg("%s", err.msg);
	kube_auth_free(a);
	return k;
}

static struct kube_api *
client(void)
{
	return client_opts("kubeconfig", NULL);
}

/*
 * A Job manifest: managed by sluice (or not), the container's env (JSON
 * members), extra spec fields and extra container fields (each starting
 * with ',' or empty).  Caller frees.
 */
static char *
job_json(const char *name, int managed, const char *env,
    const char *spec_extra, const char *container_extra)
{
	char *s = NULL;
	int n;

	n = asprintf(&s,
	    "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
	    "\"metadata\":{\"name\":\"%s\",\"labels\":{%s"
	    "\"sluice/run\":\"42\",\"sluice/stage\":\"train\","
	    "\"sluice/attempt\":\"1\"}},"
	    "\"spec\":{\"backoffLimit\":0%s,\"template\":{\"spec\":{"
	    "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\","
	    "\"image\":\"python:3.12\",\"command\":[\"python\",\"train.py\"],"
	    "\"env\":[%s]%s}]}}}}",
	    name, managed ? "\"app.kubernetes.io/managed-by\":\"sluice\"," : "",
	    spec_extra ? spec_extra : "", env ? env : "",
	    container_extra ? container_extra : "");
	assert_true(n > 0);
	return s;
}

static void
create_ok(struct kube_api *k, const char *ns, const char *json,
    struct kube_job *out)
{
	struct err err;

	if (kube_api_job_create(k, ns, json, strlen(json), out, &err) != 0)
		fail_msg("create: %s", err.msg);
}

static enum kube_job_state
job_state(struct kube_api *k, const char *ns, const char *name)
{
	struct kube_job j;
	struct err err;

	if (kube_api_job_get(k, ns, name, &j, &err) != 0)
		fail_msg("get %s: %s", name, err.msg);
	return j.state;
}

static long
reqs(const char *what)
{
	char key[128];

	snprintf(key, sizeof(key), "requests.%s", what);
	return kubefake_stat(&fake, key);
}

static void
fault(const char *json)
{
	kubefake_post(&fake, "/_fake/faults", json);
}

/* ---- fixtures -------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	const char *args[] = { "--gpus", "nvidia.com/gpu=4", "--nodes", "4",
		"--bookmark-interval-ms", "600000",
		getenv("KUBE_FAKE_VERBOSE") ? "-v" : NULL, NULL };

	(void)state;
	pthread_mutex_init(&tclock_.mu, NULL);
	return kubefake_start(&fake, args);
}

static int
group_teardown(void **state)
{
	(void)state;
	kubefake_stop(&fake);
	pthread_mutex_destroy(&tclock_.mu);
	return 0;
}

static int
test_setup(void **state)
{
	(void)state;
	assert_int_equal(kubefake_call(&fake, "DELETE", "/_fake/faults", NULL,
	    NULL), 200);
	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[\"test-token\"],\"forbidden\":[\"forbidden-token\"]}");
	kubefake_post(&fake, "/_fake/config", "{\"gone_as_http\":false}");
	tclock_reset();
	return 0;
}

/* ---- Jobs ------------------------------------------------------------------------ */

static void
kube_api__creates_gets_and_deletes_a_job(void **state)
{
	struct kube_api *k = client();
	struct kube_job j;
	struct kube_pod_list pods;
	struct buf log;
	struct err err;
	char *json = job_json("train-1", 1,
	    "{\"name\":\"FAKE_LOG\",\"value\":\"epoch 1\\\\n::metric auc=0.93\"}",
	    NULL, NULL);

	(void)state;
	create_ok(k, "t-crud", json, &j);
	assert_string_equal(j.name, "train-1");
	assert_string_equal(j.namespace, "t-crud");
	assert_true(j.uid[0] != '\0');
	assert_true(j.resource_version[0] != '\0');
	assert_string_equal(kube_job_label(&j, "app.kubernetes.io/managed-by"),
	    "sluice");
	assert_string_equal(kube_job_label(&j, "sluice/stage"), "train");
	assert_null(kube_job_label(&j, "nope"));
	assert_int_equal(j.state, KUBE_JOB_PENDING);
	assert_true(j.created_ms > 1600000000000LL);

	WAIT_UNTIL(job_state(k, "t-crud", "train-1") == KUBE_JOB_SUCCEEDED);
	assert_int_equal(kube_api_job_get(k, "t-crud", "train-1", &j, &err), 0);
	assert_int_equal(j.succeeded, 1);
	assert_string_equal(j.reason, "CompletionsReached");
	assert_true(j.started_ms > 0 && j.finished_ms >= j.started_ms);

	assert_int_equal(kube_api_pod_list(k, "t-crud", "job-name=train-1",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 1);
	assert_string_equal(pods.items[0].job_name, "train-1");
	assert_int_equal(pods.items[0].phase, KUBE_POD_SUCCEEDED);
	assert_int_equal(pods.items[0].exit_code, 0);
	assert_string_equal(pods.items[0].term_reason, "Completed");
	assert_int_equal(pods.items[0].scheduled, 1);
	assert_true(pods.items[0].node[0] != '\0');

	buf_init(&log, LIM_STAGE_LOG);
	assert_int_equal(kube_api_pod_log(k, "t-crud", pods.items[0].name,
	    NULL, &log, &err), 0);
	assert_string_equal(log.data, "epoch 1\n::metric auc=0.93\n");
	buf_release(&log);
	kube_pod_list_release(&pods);

	/* delete with propagationPolicy Background: the pods go too */
	assert_int_equal(kube_api_job_delete(k, "t-crud", "train-1", &err), 0);
	assert_int_equal(kube_api_job_get(k, "t-crud", "train-1", &j, &err),
	    ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "jobs.batch \"train-1\" not found"));
	assert_int_equal(kube_api_job_delete(k, "t-crud", "train-1", &err),
	    ERR_NOTFOUND);
	assert_int_equal(kube_api_pod_list(k, "t-crud", "job-name=train-1",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 0);
	kube_pod_list_release(&pods);
	free(json);
	kube_api_free(k);
}

static void
kube_api__client_certificate_is_accepted(void **state)
{
	struct kube_api *k = client_opts("kubeconfig-cert", NULL);
	struct kube_job_list l;
	struct err err;
	long before = kubefake_stat(&fake, "by_token.<client-cert>");

	(void)state;
	if (kube_api_job_list(k, "t-cert", NULL, &l, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(l.n, 0);
	assert_true(l.resource_version[0] != '\0');
	kube_job_list_release(&l);
	assert_true(kubefake_stat(&fake, "by_token.<client-cert>") > before);
	assert_int_equal(kube_api_ready(k, &err), 0);
	kube_api_free(k);
}

static void
kube_api__duplicate_create_is_a_conflict_and_labels_allow_adoption(
    void **state)
{
	struct kube_api *k = client();
	struct kube_job j;
	struct err err;
	char *json = job_json("dup", 1, NULL, NULL, NULL);

	(void)state;
	create_ok(k, "t-dup", json, NULL);
	assert_int_equal(kube_api_job_create(k, "t-dup", json, strlen(json),
	    &j, &err), ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "create job 'dup' in namespace "
	    "'t-dup': 409 AlreadyExists: jobs.batch \"dup\" already exists"));
	/* the caller adopts it after checking the labels */
	assert_int_equal(kube_api_job_get(k, "t-dup", "dup", &j, &err), 0);
	assert_string_equal(kube_job_label(&j, "sluice/run"), "42");
	assert_string_equal(kube_job_label(&j, "sluice/attempt"), "1");
	free(json);
	kube_api_free(k);
}

static void
kube_api__invalid_job_fails_with_the_api_causes(void **state)
{
	static const char bad[] =
	    "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
	    "\"metadata\":{\"name\":\"Bad_Name\"},"
	    "\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
	    "\"containers\":[]}}}}";
	struct kube_api *k = client();
	struct err err;

	(void)state;
	assert_int_equal(kube_api_job_create(k, "t-invalid", bad,
	    strlen(bad), NULL, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "create job 'Bad_Name' in namespace "
	    "'t-invalid': 422 Invalid: metadata.name: Invalid value: "
	    "\"Bad_Name\""));
	assert_non_null(strstr(err.msg, "; spec.template.spec.containers: "
	    "Required value"));
	/* not retried: one request */
	assert_int_equal(reqs("create jobs") >= 1, 1);
	kube_api_free(k);
}

static void
kube_api__429_waits_as_long_as_retry_after_says(void **state)
{
	struct kube_api_opts o = { .clock = &test_clock };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_api_stats st;
	long before = reqs("create jobs");
	char *json = job_json("throttled", 1, NULL, NULL, NULL);

	(void)state;
	fault("{\"verb\":\"create jobs\",\"status\":429,\"retry_after\":3,"
	    "\"count\":2}");
	create_ok(k, "t-429", json, NULL);
	assert_int_equal(reqs("create jobs") - before, 3);
	/* exactly the server's Retry-After, twice */
	assert_int_equal(tclock_.nslept, 2);
	assert_int_equal(tclock_.slept[0], 3000);
	assert_int_equal(tclock_.slept[1], 3000);
	kube_api_stats(k, &st);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.requests[KUBE_VERB_CREATE][KUBE_RES_JOBS], 3);
	assert_int_equal(st.failures[KUBE_VERB_CREATE][KUBE_RES_JOBS], 0);
	free(json);
	kube_api_free(k);
}

static void
kube_api__retry_after_past_the_budget_fails_at_once(void **state)
{
	struct kube_api_opts o = { .clock = &test_clock,
		.retry_budget_ms = 2000 };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_job j;
	struct err err;
	long before = reqs("get jobs");

	(void)state;
	fault("{\"verb\":\"get jobs\",\"status\":429,\"retry_after\":5}");
	assert_int_equal(kube_api_job_get(k, "t-budget", "x", &j, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "asked to retry after 5s, past the "
	    "retry budget"));
	assert_non_null(strstr(err.msg, "429 TooManyRequests"));
	assert_int_equal(reqs("get jobs") - before, 1);
	assert_int_equal(tclock_.nslept, 0);
	kube_api_free(k);
}

static void
kube_api__5xx_is_retried_with_growing_backoff_until_the_budget(
    void **state)
{
	struct kube_api_opts o = { .clock = &test_clock,
		.retry_budget_ms = 5000 };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_job_list l;
	struct err err;
	long before = reqs("list jobs"), sent;
	int i;

	(void)state;
	fault("{\"verb\":\"list jobs\",\"status\":500,\"count\":2}");
	if (kube_api_job_list(k, "t-5xx", NULL, &l, &err) != 0)
		fail_msg("%s", err.msg);
	kube_job_list_release(&l);
	assert_int_equal(reqs("list jobs") - before, 3);
	assert_int_equal(tclock_.nslept, 2);
	assert_true(tclock_.slept[0] >= 125 && tclock_.slept[0] <= 250);
	assert_true(tclock_.slept[1] >= 250 && tclock_.slept[1] <= 500);

	/* a server that keeps failing: give up within the budget */
	tclock_reset();
	before = reqs("list jobs");
	fault("{\"verb\":\"list jobs\",\"status\":503,\"count\":-1}");
	assert_int_equal(kube_api_job_list(k, "t-5xx", NULL, &l, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "gave up after"));
	assert_non_null(strstr(err.msg, "503 ServiceUnavailable"));
	sent = reqs("list jobs") - before;
	assert_int_equal(sent, tclock_.nslept + 1);
	assert_true(tclock_.total <= 5000);
	for (i = 1; i < tclock_.nslept && i < 64; i++)
		assert_true(tclock_.slept[i] * 2 >= tclock_.slept[i - 1]);
	kube_api_free(k);
}

static void
kube_api__dropped_connection_is_retried(void **state)
{
	struct kube_api_opts o = { .clock = &test_clock };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_job_list l;
	struct err err;
	long before = reqs("list jobs");

	(void)state;
	fault("{\"verb\":\"list jobs\",\"drop\":true}");
	if (kube_api_job_list(k, "t-drop", NULL, &l, &err) != 0)
		fail_msg("%s", err.msg);
	kube_job_list_release(&l);
	assert_int_equal(reqs("list jobs") - before, 2);
	assert_int_equal(kubefake_stat(&fake, "dropped") >= 1, 1);
	kube_api_free(k);
}

static void
kube_api__unauthorized_and_forbidden_are_clear_and_not_ready(void **state)
{
	struct kube_api *k = client();
	struct kube_job_list l;
	struct err err;

	(void)state;
	assert_int_equal(kube_api_ready(k, &err), 0);
	kubefake_post(&fake, "/_fake/tokens", "{\"tokens\":[\"other\"]}");
	assert_int_equal(kube_api_job_list(k, "t-auth", NULL, &l, &err),
	    ERR_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "refused the credentials (401 "
	    "Unauthorized): check the token or client certificate of user "
	    "'token'"));
	assert_int_equal(kube_api_ready(k, &err), ERR_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "401"));

	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[\"other\"],\"forbidden\":[\"test-token\"]}");
	assert_int_equal(kube_api_job_list(k, "t-auth", NULL, &l, &err),
	    ERR_FORBIDDEN);
	assert_non_null(strstr(err.msg, "forbidden (403): jobs.batch is "
	    "forbidden: User"));
	assert_non_null(strstr(err.msg, "cannot list resource \"jobs\""));
	assert_int_equal(kube_api_ready(k, &err), ERR_FORBIDDEN);

	/* access restored: ready again after the next call */
	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[\"test-token\"],\"forbidden\":[]}");
	assert_int_equal(kube_api_job_list(k, "t-auth", NULL, &l, &err), 0);
	kube_job_list_release(&l);
	assert_int_equal(kube_api_ready(k, &err), 0);
	kube_api_free(k);
}

static void
kube_api__token_file_rotation_is_picked_up(void **state)
{
	struct kube_auth *a = NULL;
	struct kube_api *k = NULL;
	struct kube_job_list l;
	struct kube_api_stats st;
	struct err err;
	struct stat sb;
	struct timespec times[2];
	char dir[256], kc[4096], tokpath[512];
	long unauth;

	(void)state;
	assert_int_equal(test_tmpdir(dir, sizeof(dir)), 0);
	assert_int_equal(test_write_file(dir, "token", "test-token\n"), 0);
	snprintf(kc, sizeof(kc),
	    "clusters: [{name: f, cluster: {server: '%s', "
	    "certificate-authority: '%s'}}]\n"
	    "users: [{name: sa, user: {tokenFile: token}}]\n"
	    "contexts: [{name: f, context: {cluster: f, user: sa}}]\n"
	    "current-context: f\n", fake.url, kubefake_path(&fake, "ca.crt"));
	assert_int_equal(test_write_file(dir, "kubeconfig", kc), 0);
	snprintf(tokpath, sizeof(tokpath), "%s/kubeconfig", dir);
	if (kube_auth_from_kubeconfig(&a, tokpath, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(kube_api_new(&k, a, NULL, &err), 0);
	kube_auth_free(a);
	assert_int_equal(kube_api_job_list(k, "t-rotate", NULL, &l, &err), 0);
	kube_job_list_release(&l);

	/* rotation: the file changes and the server only takes the new one */
	kubefake_post(&fake, "/_fake/tokens", "{\"tokens\":[\"rotated-1\"]}");
	assert_int_equal(test_write_file(dir, "token", "rotated-1\n"), 0);
	if (kube_api_job_list(k, "t-rotate", NULL, &l, &err) != 0)
		fail_msg("%s", err.msg);
	kube_job_list_release(&l);
	assert_true(kubefake_stat(&fake, "by_token.rotated-1") >= 1);
	kube_api_stats(k, &st);
	assert_int_equal(st.token_reloads, 1);

	/*
	 * A rotation the client cannot see on disk (same size, mtime put
	 * back): the 401 makes it read the file again, and the call works.
	 */
	snprintf(tokpath, sizeof(tokpath), "%s/token", dir);
	assert_int_equal(stat(tokpath, &sb), 0);
	kubefake_post(&fake, "/_fake/tokens", "{\"tokens\":[\"rotated-2\"]}");
	assert_int_equal(test_write_file(dir, "token", "rotated-2\n"), 0);
	times[0] = sb.st_atim;
	times[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, tokpath, times, 0), 0);
	unauth = kubefake_stat(&fake, "unauthorized");
	if (kube_api_job_list(k, "t-rotate", NULL, &l, &err) != 0)
		fail_msg("%s", err.msg);
	kube_job_list_release(&l);
	assert_int_equal(kubefake_stat(&fake, "unauthorized") - unauth, 1);
	assert_true(kubefake_stat(&fake, "by_token.rotated-2") >= 1);
	assert_int_equal(kube_api_ready(k, &err), 0);
	kube_api_free(k);
	test_rmtree(dir);
}

static void
kube_api__untrusted_server_certificate_is_a_clear_error(void **state)
{
	struct kube_auth *a = NULL;
	struct kube_api *k = NULL;
	struct kube_job_list l;
	struct err err;
	long before = kubefake_stat(&fake, "total");

	(void)state;
	if (kube_auth_from_kubeconfig(&a, kubefake_path(&fake, "kubeconfig"),
	    NULL, &err) != 0)
		fail_msg("%s", err.msg);
	/* trust some other CA instead of the fake's */
	free(a->ca.data);
	a->ca.data = NULL;
	{
		FILE *f = fopen(kubefake_path(&fake, "other-ca.crt"), "r");
		char pem[4096];
		size_t n;

		assert_non_null(f);
		n = fread(pem, 1, sizeof(pem) - 1, f);
		fclose(f);
		pem[n] = '\0';
		a->ca.data = strdup(pem);
		a->ca.len = n;
	}
	assert_int_equal(kube_api_new(&k, a, NULL, &err), 0);
	kube_auth_free(a);
	assert_int_equal(kube_api_job_list(k, "t-tls", NULL, &l, &err),
	    ERR_GENERIC);
	assert_non_null(strstr(err.msg, "TLS with the kubernetes API at "
	    "'https://127.0.0.1:"));
	assert_non_null(strstr(err.msg, "certificate-authority"));
	assert_int_equal(kube_api_ready(k, &err), ERR_GENERIC);
	assert_int_equal(kubefake_stat(&fake, "total"), before);
	kube_api_free(k);
}

static void
kube_api__unreachable_server_is_transient(void **state)
{
	struct kube_auth a;
	struct kube_api_opts o = { .clock = &test_clock,
		.retry_budget_ms = 3000 };
	struct kube_api *k = NULL;
	struct kube_job_list l;
	struct err err;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char server[64];
	int fd;

	(void)state;
	/* a port nobody listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(server, sizeof(server), "https://127.0.0.1:%d",
	    ntohs(sin.sin_port));
	memset(&a, 0, sizeof(a));
	a.server = server;
	a.namespace = (char *)"default";
	assert_int_equal(kube_api_new(&k, &a, &o, &err), 0);
	assert_int_equal(kube_api_job_list(k, NULL, NULL, &l, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "cannot reach the kubernetes API at "
	    "'https://127.0.0.1:"));
	assert_non_null(strstr(err.msg, "gave up after"));
	assert_true(tclock_.nslept >= 2);
	assert_true(tclock_.total <= 3000);
	{
		/* every try counted under code "0": no answer came */
		struct kube_api_stats st;

		kube_api_stats(k, &st);
		assert_true(st.answers[KUBE_VERB_LIST][KUBE_RES_JOBS][0] >= 2);
		assert_int_equal(st.answers[KUBE_VERB_LIST][KUBE_RES_JOBS][0],
		    st.requests[KUBE_VERB_LIST][KUBE_RES_JOBS]);
		assert_string_equal(kube_answer_name(0), "0");
	}
	kube_api_free(k);
}

/* ---- the rate limiter ------------------------------------------------------------ */

static void
kube_api__qps_limit_spaces_requests_by_the_bucket(void **state)
{
	struct kube_api_opts o = { .clock = &test_clock, .qps = 2,
		.burst = 2 };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_api_stats st;
	struct kube_job j;
	struct err err;
	long before = reqs("get jobs");
	int i;

	(void)state;
	for (i = 0; i < 6; i++)
		assert_int_equal(kube_api_job_get(k, "t-qps", "none", &j, &err),
		    ERR_NOTFOUND);
	assert_int_equal(reqs("get jobs") - before, 6);
	/* two from the burst, then one every 500 ms of the test clock */
	kube_api_stats(k, &st);
	assert_int_equal(st.throttled, 4);
	assert_int_equal(st.throttled_ms, 2000);
	assert_int_equal(tclock_.total, 2000);
	kube_api_free(k);
}

static void
kube_api__writes_are_not_starved_by_reads(void **state)
{
	struct kube_api_opts o = { .clock = &test_clock, .qps = 1,
		.burst = 4 };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_api_stats st;
	struct kube_job j;
	struct err err;
	char *json = job_json("urgent", 1, NULL, NULL, NULL);
	int i;

	(void)state;
	/* reads leave a quarter of the burst (1 token) to writes */
	for (i = 0; i < 3; i++)
		assert_int_equal(kube_api_job_get(k, "t-prio", "x", &j, &err),
		    ERR_NOTFOUND);
	kube_api_stats(k, &st);
	assert_int_equal(st.throttled, 0);
	/* the write takes the reserved token at once */
	create_ok(k, "t-prio", json, NULL);
	kube_api_stats(k, &st);
	assert_int_equal(st.throttled, 0);
	/* the next read has to wait for the bucket */
	assert_int_equal(kube_api_job_get(k, "t-prio", "x", &j, &err),
	    ERR_NOTFOUND);
	kube_api_stats(k, &st);
	assert_int_equal(st.throttled, 1);
	assert_int_equal(st.throttled_ms, 2000);
	free(json);
	kube_api_free(k);
}

/* ---- lists, pods, logs, events ------------------------------------------------------ */

static void
kube_api__lists_follow_pages_and_filter_by_label(void **state)
{
	struct kube_api_opts o = { .list_page_size = 2 };
	struct kube_api *k = client_opts("kubeconfig", &o);
	struct kube_job_list l;
	struct err err;
	char name[32], *json;
	long before;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "paged-%d", i);
		json = job_json(name, 1, NULL, ",\"suspend\":true", NULL);
		create_ok(k, "t-list", json, NULL);
		free(json);
	}
	json = job_json("not-ours", 0, NULL, ",\"suspend\":true", NULL);
	create_ok(k, "t-list", json, NULL);
	free(json);

	before = reqs("list jobs");
	assert_int_equal(kube_api_job_list(k, "t-list",
	    "app.kubernetes.io/managed-by=sluice", &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(reqs("list jobs") - before, 2);	/* 2 pages */
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "paged-%d", i);
		assert_string_equal(l.items[i].name, name);
		assert_int_equal(l.items[i].state, KUBE_JOB_SUSPENDED);
	}
	assert_true(l.resource_version[0] != '\0');
	kube_job_list_release(&l);

	assert_int_equal(kube_api_job_list(k, "t-list", NULL, &l, &err), 0);
	assert_int_equal(l.n, 4);
	kube_job_list_release(&l);
	kube_api_free(k);
}

static void
kube_api__pending_gpu_job_says_why(void **state)
{
	struct kube_api *k = client();
	struct kube_event_list ev;
	struct kube_pod_list pods;
	struct err err;
	char why[512] = "";
	char *json = job_json("big-gpu", 1, NULL, NULL,
	    ",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"2\"}}");
	size_t i;
	int found = 0;

	(void)state;
	create_ok(k, "t-gpu", json, NULL);
	WAIT_UNTIL(kube_api_job_pending_reason(k, "t-gpu", "big-gpu", why,
	    sizeof(why), &err) == 0 && why[0] != '\0');
	assert_non_null(strstr(why, "0/4 nodes are available: 4 Insufficient "
	    "nvidia.com/gpu."));
	assert_int_equal(job_state(k, "t-gpu", "big-gpu"), KUBE_JOB_PENDING);

	assert_int_equal(kube_api_pod_list(k, "t-gpu", "job-name=big-gpu",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 1);
	assert_int_equal(pods.items[0].phase, KUBE_POD_PENDING);
	assert_int_equal(pods.items[0].scheduled, 0);
	assert_string_equal(pods.items[0].sched_reason, "Unschedulable");
	assert_int_equal(kube_api_event_list(k, "t-gpu", "Pod",
	    pods.items[0].name, &ev, &err), 0);
	for (i = 0; i < ev.n; i++) {
		if (strcmp(ev.items[i].reason, "FailedScheduling") == 0 &&
		    strcmp(ev.items[i].type, "Warning") == 0 &&
		    strcmp(ev.items[i].object_name, pods.items[0].name) == 0)
			found = 1;
	}
	assert_true(found);
	kube_event_list_release(&ev);
	kube_pod_list_release(&pods);
	assert_int_equal(kube_api_job_delete(k, "t-gpu", "big-gpu", &err), 0);
	free(json);
	kube_api_free(k);
}

static void
kube_api__pending_reason_names_an_image_that_cannot_be_pulled(void **state)
{
	static const char json[] =
	    "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
	    "\"metadata\":{\"name\":\"bad-image\"},"
	    "\"spec\":{\"backoffLimit\":0,\"template\":{\"spec\":{"
	    "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\","
	    "\"image\":\"registry.local/does-not-exist:1\"}]}}}}";
	struct kube_api *k = client();
	struct err err;
	char why[512] = "";

	(void)state;
	create_ok(k, "t-image", json, NULL);
	WAIT_UNTIL(kube_api_job_pending_reason(k, "t-image", "bad-image", why,
	    sizeof(why), &err) == 0 && why[0] != '\0');
	assert_string_equal(why, "ImagePullBackOff: Back-off pulling image "
	    "\"registry.local/does-not-exist:1\"");
	assert_int_equal(job_state(k, "t-image", "bad-image"), KUBE_JOB_PENDING);
	assert_int_equal(kube_api_job_delete(k, "t-image", "bad-image", &err), 0);
	kube_api_free(k);
}

static void
kube_api__failed_and_deadline_jobs_carry_the_reason(void **state)
{
	struct kube_api *k = client();
	struct kube_pod_list pods;
	struct kube_job j;
	struct err err;
	char *fail = job_json("exits-3", 1,
	    "{\"name\":\"FAKE_EXIT_CODE\",\"value\":\"3\"}", NULL, NULL);
	char *slow = job_json("too-slow", 1,
	    "{\"name\":\"FAKE_DURATION_MS\",\"value\":\"60000\"}",
	    ",\"activeDeadlineSeconds\":1", NULL);

	(void)state;
	create_ok(k, "t-fail", fail, NULL);
	create_ok(k, "t-fail", slow, NULL);
	WAIT_UNTIL(job_state(k, "t-fail", "exits-3") == KUBE_JOB_FAILED);
	assert_int_equal(kube_api_job_get(k, "t-fail", "exits-3", &j, &err), 0);
	assert_string_equal(j.reason, "BackoffLimitExceeded");
	assert_string_equal(j.message,
	    "Job has reached the specified backoff limit");
	assert_int_equal(j.failed, 1);
	assert_int_equal(kube_api_pod_list(k, "t-fail", "job-name=exits-3",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 1);
	assert_int_equal(pods.items[0].exit_code, 3);
	assert_string_equal(pods.items[0].term_reason, "Error");
	assert_int_equal(pods.items[0].phase, KUBE_POD_FAILED);
	kube_pod_list_release(&pods);

	WAIT_UNTIL(job_state(k, "t-fail", "too-slow") == KUBE_JOB_FAILED);
	assert_int_equal(kube_api_job_get(k, "t-fail", "too-slow", &j, &err),
	    0);
	assert_string_equal(j.reason, "DeadlineExceeded");
	free(fail);
	free(slow);
	kube_api_free(k);
}

static void
kube_api__suspended_job_waits_for_admission(void **state)
{
	struct kube_api *k = client();
	struct kube_job j;
	struct err err;
	char *json = job_json("queued", 1, NULL, ",\"suspend\":true", NULL);

	(void)state;
	create_ok(k, "t-kueue", json, &j);
	assert_int_equal(j.state, KUBE_JOB_SUSPENDED);
	WAIT_UNTIL(kube_api_job_get(k, "t-kueue", "queued", &j, &err) == 0 &&
	    strcmp(j.reason, "JobSuspended") == 0);
	assert_int_equal(j.state, KUBE_JOB_SUSPENDED);
	kubefake_post(&fake, "/_fake/admit",
	    "{\"namespace\":\"t-kueue\",\"name\":\"queued\"}");
	WAIT_UNTIL(job_state(k, "t-kueue", "queued") == KUBE_JOB_SUCCEEDED);
	/* this cluster has no Kueue: discovery says so, not an error */
	{
		char version[16] = "x";

		assert_int_equal(kube_api_kueue_discover(k, version,
		    sizeof(version), &err), 0);
		assert_string_equal(version, "");
	}
	free(json);
	kube_api_free(k);
}

static void
kube_api__log_is_read_whole_and_capped(void **state)
{
	struct kube_api *k = client();
	struct kube_pod_list pods;
	struct buf log;
	struct err err;
	char *json = job_json("chatty", 1,
	    "{\"name\":\"FAKE_LOG\",\"value\":\"0123456789abcdef\"}", NULL,
	    NULL);

	(void)state;
	create_ok(k, "t-log", json, NULL);
	WAIT_UNTIL(job_state(k, "t-log", "chatty") == KUBE_JOB_SUCCEEDED);
	assert_int_equal(kube_api_pod_list(k, "t-log", "job-name=chatty",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 1);
	/* the buffer's cap is the limit: the log is cut, not an error */
	buf_init(&log, 10);
	assert_int_equal(kube_api_pod_log(k, "t-log", pods.items[0].name,
	    "main", &log, &err), 0);
	assert_string_equal(log.data, "0123456789");
	buf_release(&log);
	/* no such pod; no such container */
	buf_init(&log, 100);
	assert_int_equal(kube_api_pod_log(k, "t-log", "nope", NULL, &log,
	    &err), ERR_NOTFOUND);
	assert_int_equal(kube_api_pod_log(k, "t-log", pods.items[0].name,
	    "sidecar", &log, &err), ERR_INVALID);
	assert_int_equal(log.len, 0);
	buf_release(&log);
	kube_pod_list_release(&pods);
	free(json);
	kube_api_free(k);
}

struct follow {
	struct buf	text;
	int		idle_calls;
};

static int
follow_cb(void *arg, const char *data, size_t len)
{
	struct follow *f = arg;

	if (len == 0) {
		f->idle_calls++;
		return 0;
	}
	return buf_append(&f->text, data, len) < 0;
}

static void
kube_api__log_follow_streams_until_the_container_ends(void **state)
{
	struct kube_api *k = client();
	struct kube_pod_list pods;
	struct kube_api_stats st;
	struct follow f;
	struct err err;
	char *json = job_json("streamer", 1,
	    "{\"name\":\"FAKE_LOG\",\"value\":\"one\\\\ntwo\\\\nthree\"},"
	    "{\"name\":\"FAKE_DURATION_MS\",\"value\":\"700\"}", NULL, NULL);

	(void)state;
	create_ok(k, "t-follow", json, NULL);
	WAIT_UNTIL(job_state(k, "t-follow", "streamer") == KUBE_JOB_RUNNING);
	assert_int_equal(kube_api_pod_list(k, "t-follow", "job-name=streamer",
	    &pods, &err), 0);
	assert_int_equal(pods.n, 1);
	buf_init(&f.text, 4096);
	f.idle_calls = 0;
	if (kube_api_pod_log_follow(k, "t-follow", pods.items[0].name, NULL,
	    follow_cb, &f, &err) != 0)
		fail_msg("%s", err.msg);
	/* it returned because the container ended, with every line */
	assert_string_equal(f.text.data, "one\ntwo\nthree\n");
	assert_int_equal(job_state(k, "t-follow", "streamer") ==
	    KUBE_JOB_RUNNING, 0);
	kube_api_stats(k, &st);
	assert_int_equal(st.requests[KUBE_VERB_GET][KUBE_RES_PODS_LOG], 1);
	buf_release(&f.text);
	kube_pod_list_release(&pods);
	free(json);
	kube_api_free(k);
}

static uint64_t
answers(const struct kube_api_stats *st, enum kube_verb v,
    enum kube_resource r, const char *code)
{
	int i;

	for (i = 0; i < KUBE_ANSWER_N; i++) {
		if (strcmp(kube_answer_name(i), code) == 0)
			return st->answers[v][r][i];
	}
	fail_msg("no answer bucket '%s'", code);
	return 0;
}

static void
kube_api__answers_are_bucketed_by_status(void **state)
{
	struct kube_api *k = client();
	struct kube_api_stats st;
	struct kube_job j;
	struct err err;

	(void)state;
	fault("[{\"verb\":\"get jobs\",\"status\":503,\"retry_after\":0,"
	    "\"count\":1},{\"verb\":\"get jobs\",\"status\":418,"
	    "\"count\":1}]");
	/* 503, then 418 (not retried) */
	assert_int_equal(kube_api_job_get(k, "t-answers", "nope", &j, &err),
	    ERR_GENERIC);
	assert_int_equal(kube_api_job_get(k, "t-answers", "nope", &j, &err),
	    ERR_NOTFOUND);
	kube_api_stats(k, &st);
	assert_int_equal(answers(&st, KUBE_VERB_GET, KUBE_RES_JOBS, "503"), 1);
	assert_int_equal(answers(&st, KUBE_VERB_GET, KUBE_RES_JOBS, "4xx"), 1);
	assert_int_equal(answers(&st, KUBE_VERB_GET, KUBE_RES_JOBS, "404"), 1);
	assert_int_equal(st.requests[KUBE_VERB_GET][KUBE_RES_JOBS], 3);
	assert_string_equal(kube_answer_name(KUBE_ANSWER_N - 1), "5xx");
	kube_api_free(k);
}

static void
kube_api__counts_calls_by_verb_and_resource(void **state)
{
	struct kube_api *k = client();
	struct kube_api_stats st;
	struct kube_job j;
	struct kube_pod_list pods;
	struct kube_event_list ev;
	struct err err;
	char *json = job_json("counted", 1, NULL, ",\"suspend\":true", NULL);

	(void)state;
	create_ok(k, "t-count", json, NULL);
	assert_int_equal(kube_api_job_get(k, "t-count", "counted", &j, &err),
	    0);
	assert_int_equal(kube_api_pod_list(k, "t-count", NULL, &pods, &err),
	    0);
	kube_pod_list_release(&pods);
	assert_int_equal(kube_api_event_list(k, "t-count", "Job", "counted",
	    &ev, &err), 0);
	kube_event_list_release(&ev);
	assert_int_equal(kube_api_job_delete(k, "t-count", "counted", &err),
	    0);
	assert_int_equal(kube_api_job_delete(k, "t-count", "counted", &err),
	    ERR_NOTFOUND);
	kube_api_stats(k, &st);
	assert_int_equal(st.requests[KUBE_VERB_CREATE][KUBE_RES_JOBS], 1);
	assert_int_equal(st.requests[KUBE_VERB_GET][KUBE_RES_JOBS], 1);
	assert_int_equal(st.requests[KUBE_VERB_LIST][KUBE_RES_PODS], 1);
	assert_int_equal(st.requests[KUBE_VERB_LIST][KUBE_RES_EVENTS], 1);
	assert_int_equal(st.requests[KUBE_VERB_DELETE][KUBE_RES_JOBS], 2);
	assert_int_equal(st.failures[KUBE_VERB_DELETE][KUBE_RES_JOBS], 1);
	/* and by the status they got */
	assert_int_equal(answers(&st, KUBE_VERB_CREATE, KUBE_RES_JOBS, "201"),
	    1);
	assert_int_equal(answers(&st, KUBE_VERB_GET, KUBE_RES_JOBS, "200"), 1);
	assert_int_equal(answers(&st, KUBE_VERB_DELETE, KUBE_RES_JOBS, "200"),
	    1);
	assert_int_equal(answers(&st, KUBE_VERB_DELETE, KUBE_RES_JOBS, "404"),
	    1);
	assert_string_equal(kube_verb_name(KUBE_VERB_WATCH), "watch");
	assert_string_equal(kube_resource_name(KUBE_RES_PODS_LOG), "pods/log");
	free(json);
	kube_api_free(k);
}

/* ---- the watch -------------------------------------------------------------------- */

struct rec {
	pthread_mutex_t	mu;
	int		n;
	int		synced;
	struct {
		enum kube_watch_type	type;
		char			name[64];
		char			rv[32];
		enum kube_job_state	state;
	}		ev[1024];
};

static void
rec_cb(void *arg, enum kube_watch_type type, const struct kube_job *j)
{
	struct rec *r = arg;

	pthread_mutex_lock(&r->mu);
	if (type == KUBE_WATCH_SYNCED)
		r->synced++;
	else if (r->n < 1024) {
		r->ev[r->n].type = type;
		snprintf(r->ev[r->n].name, sizeof(r->ev[r->n].name), "%.63s",
		    j->name);
		snprintf(r->ev[r->n].rv, sizeof(r->ev[r->n].rv), "%.31s",
		    j->resource_version);
		r->ev[r->n].state = j->state;
		r->n++;
	}
	pthread_mutex_unlock(&r->mu);
}

/* The last event about name: its type, or -1 when none. */
static int
rec_last(struct rec *r, const char *name, enum kube_job_state *state)
{
	int i, t = -1;

	pthread_mutex_lock(&r->mu);
	for (i = r->n - 1; i >= 0; i--) {
		if (strcmp(r->ev[i].name, name) == 0) {
			t = (int)r->ev[i].type;
			if (state != NULL)
				*state = r->ev[i].state;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return t;
}

/* Whether the watch has delivered name at resourceVersion rv. */
static int
rec_has_rv(struct rec *r, const char *name, const char *rv)
{
	int i, found = 0;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->ev[i].name, name) == 0 &&
		    strcmp(r->ev[i].rv, rv) == 0)
			found = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

/* Wait until a suspended Job has settled and the watch has seen that. */
static void
settled(struct kube_api *k, struct rec *r, const char *ns, const char *name)
{
	struct kube_job j;
	struct err err;

	WAIT_UNTIL(kube_api_job_get(k, ns, name, &j, &err) == 0 &&
	    strcmp(j.reason, "JobSuspended") == 0);
	WAIT_UNTIL(rec_has_rv(r, name, j.resource_version));
}

static int
rec_count(struct rec *r, const char *name, enum kube_watch_type type)
{
	int i, n = 0;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->ev[i].name, name) == 0 && r->ev[i].type == type)
			n++;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

static int
rec_synced(struct rec *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->synced;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static struct rec *
rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

static void
rec_free(struct rec *r)
{
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static struct kube_watch *
watch(struct kube_api *k, const char *ns, struct rec *r)
{
	struct kube_watch_opts o = { .ns = ns, .cb = rec_cb, .arg = r };
	struct kube_watch *w = NULL;
	struct err err;

	if (kube_watch_start(&w, k, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return w;
}

static void
rec_pod_cb(void *arg, enum kube_watch_type type, const struct kube_pod *p)
{
	struct rec *r = arg;

	pthread_mutex_lock(&r->mu);
	if (type == KUBE_WATCH_SYNCED)
		r->synced++;
	else if (r->n < 1024) {
		r->ev[r->n].type = type;
		/* by the Job's name: pods' names are random */
		snprintf(r->ev[r->n].name, sizeof(r->ev[r->n].name), "%.63s",
		    p->job_name[0] ? p->job_name : p->name);
		snprintf(r->ev[r->n].rv, sizeof(r->ev[r->n].rv), "%.31s",
		    p->resource_version);
		r->ev[r->n].state = (enum kube_job_state)p->phase;
		r->n++;
	}
	pthread_mutex_unlock(&r->mu);
}

static struct kube_watch_stats
wstats(struct kube_watch *w)
{
	struct kube_watch_stats s;

	kube_watch_stats(w, &s);
	return s;
}

static int
state_is(struct rec *r, const char *name, enum kube_job_state want)
{
	enum kube_job_state s;

	return rec_last(r, name, &s) >= 0 && s == want;
}

static void
kube_watch__follows_pods_of_managed_jobs(void **state)
{
	struct kube_api *k = client();
	struct rec *r = rec_new();
	/* job_json's pods carry no label of their own but job-name */
	struct kube_watch_opts o = { .ns = "t-podwatch",
		.selector = "job-name=mine", .resource = KUBE_RES_PODS,
		.pod_cb = rec_pod_cb, .arg = r };
	struct kube_watch *w = NULL;
	struct kube_job j;
	struct err err;
	char *mine = job_json("mine", 1, NULL, ",\"activeDeadlineSeconds\":60",
	    NULL);
	char *other = job_json("other", 0, NULL, NULL, NULL);
	enum kube_job_state phase;

	(void)state;
	/* a pods watch needs its own callback */
	o.pod_cb = NULL;
	assert_int_equal(kube_watch_start(&w, k, &o, &err), ERR_INVALID);
	o.pod_cb = rec_pod_cb;
	assert_int_equal(kube_watch_start(&w, k, &o, &err), 0);
	WAIT_UNTIL(rec_synced(r) == 1);
	create_ok(k, "t-podwatch", other, NULL);
	create_ok(k, "t-podwatch", mine, &j);
	assert_int_equal(j.active_deadline_s, 60);
	WAIT_UNTIL(rec_last(r, "mine", &phase) >= 0 &&
	    phase == (enum kube_job_state)KUBE_POD_SUCCEEDED);
	assert_int_equal(rec_count(r, "mine", KUBE_WATCH_ADDED), 1);
	/* pods the selector does not take are not delivered */
	WAIT_UNTIL(job_state(k, "t-podwatch", "other") == KUBE_JOB_SUCCEEDED);
	assert_int_equal(rec_last(r, "other", NULL), -1);
	assert_int_equal(kube_api_job_delete(k, "t-podwatch", "mine", &err), 0);
	WAIT_UNTIL(rec_last(r, "mine", NULL) == KUBE_WATCH_DELETED);
	assert_int_equal(wstats(w).lists, 1);
	kube_watch_free(w);
	rec_free(r);
	free(mine);
	free(other);
	kube_api_free(k);
}

static void
kube_watch__lists_then_follows_jobs(void **state)
{
	struct kube_api *k = client();
	struct rec *r = rec_new();
	struct kube_watch *w;
	struct kube_watch_stats s;
	struct err err;
	char *before = job_json("before", 1, NULL, ",\"suspend\":true", NULL);
	char *after = job_json("after", 1, NULL, NULL, NULL);
	char *other = job_json("other", 0, NULL, NULL, NULL);

	(void)state;
	create_ok(k, "t-watch", before, NULL);
	w = watch(k, "t-watch", r);
	WAIT_UNTIL(rec_synced(r) == 1);
	/* the list delivered the Job that was there */
	assert_int_equal(rec_count(r, "before", KUBE_WATCH_ADDED), 1);

	create_ok(k, "t-watch", other, NULL);
	create_ok(k, "t-watch", after, NULL);
	WAIT_UNTIL(state_is(r, "after", KUBE_JOB_SUCCEEDED));
	assert_int_equal(rec_count(r, "after", KUBE_WATCH_ADDED), 1);
	assert_true(rec_count(r, "after", KUBE_WATCH_MODIFIED) >= 1);
	/* only Jobs labelled managed-by=sluice */
	assert_int_equal(rec_last(r, "other", NULL), -1);

	assert_int_equal(kube_api_job_delete(k, "t-watch", "after", &err), 0);
	WAIT_UNTIL(rec_last(r, "after", NULL) == KUBE_WATCH_DELETED);
	s = wstats(w);
	assert_int_equal(s.lists, 1);
	assert_int_equal(s.watches, 1);
	assert_int_equal(s.relists_gone, 0);
	assert_int_equal(s.synced, 1);
	kube_watch_free(w);
	rec_free(r);
	free(before);
	free(after);
	free(other);
	kube_api_free(k);
}

static void
kube_watch__bookmarks_spare_a_relist_after_compaction(void **state)
{
	struct kube_api *k = client();
	struct rec *r = rec_new();
	struct kube_watch *w;
	struct kube_job j;
	struct err err;
	char rv[32], *json, name[32];
	int i;

	(void)state;
	w = watch(k, "t-bookmark", r);
	WAIT_UNTIL(rec_synced(r) == 1);
	/* changes the watch does not care about move the server along */
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "unrelated-%d", i);
		json = job_json(name, 0, NULL, ",\"suspend\":true", NULL);
		create_ok(k, "t-bookmark", json, NULL);
		free(json);
		/* settled: nothing changes between bookmark and compaction */
		WAIT_UNTIL(kube_api_job_get(k, "t-bookmark", name, &j, &err) ==
		    0 && strcmp(j.reason, "JobSuspended") == 0);
	}
	kubefake_post(&fake, "/_fake/bookmark", NULL);
	snprintf(rv, sizeof(rv), "%ld", kubefake_stat(&fake, "rv"));
	WAIT_UNTIL(wstats(w).bookmarks >= 1 &&
	    strtol(wstats(w).resource_version, NULL, 10) >= strtol(rv, NULL,
	    10));
	/* history is compacted and the connection cut: the bookmark's
	 * resourceVersion is still good, so no 410 and no list */
	kubefake_post(&fake, "/_fake/compact", NULL);
	kubefake_post(&fake, "/_fake/drop-watches", NULL);
	WAIT_UNTIL(wstats(w).watches >= 2);
	json = job_json("seen", 1, NULL, ",\"suspend\":true", NULL);
	create_ok(k, "t-bookmark", json, NULL);
	free(json);
	WAIT_UNTIL(rec_count(r, "seen", KUBE_WATCH_ADDED) == 1);
	assert_int_equal(wstats(w).relists_gone, 0);
	assert_int_equal(wstats(w).lists, 1);
	assert_true(wstats(w).reconnects >= 1);
	kube_watch_free(w);
	rec_free(r);
	kube_api_free(k);
}

static void
gone_relists(int gone_as_http)
{
	struct kube_api *k = client();
	struct rec *r = rec_new();
	struct kube_watch *w;
	struct err err;
	char ns[32], *keep, *doomed, *fresh, *noise;
	long gone;
	int keep_modified;

	snprintf(ns, sizeof(ns), "t-gone-%d", gone_as_http);
	kubefake_post(&fake, "/_fake/config", gone_as_http ?
	    "{\"gone_as_http\":true}" : "{\"gone_as_http\":false}");
	keep = job_json("keep", 1, NULL, ",\"suspend\":true", NULL);
	doomed = job_json("doomed", 1, NULL, ",\"suspend\":true", NULL);
	fresh = job_json("fresh", 1, NULL, ",\"suspend\":true", NULL);
	noise = job_json("noise", 0, NULL, ",\"suspend\":true", NULL);
	create_ok(k, ns, keep, NULL);
	create_ok(k, ns, doomed, NULL);
	w = watch(k, ns, r);
	WAIT_UNTIL(rec_synced(r) == 1);
	settled(k, r, ns, "keep");
	settled(k, r, ns, "doomed");
	keep_modified = rec_count(r, "keep", KUBE_WATCH_MODIFIED);

	/* the watch cannot reconnect for a while ... */
	fault("{\"verb\":\"watch jobs\",\"status\":500,\"count\":-1}");
	kubefake_post(&fake, "/_fake/drop-watches", NULL);
	WAIT_UNTIL(wstats(w).reconnects >= 1);
	/* ... while things change and the history is compacted */
	assert_int_equal(kube_api_job_delete(k, ns, "doomed", &err), 0);
	create_ok(k, ns, fresh, NULL);
	create_ok(k, ns, noise, NULL);
	kubefake_post(&fake, "/_fake/compact", NULL);
	gone = kubefake_stat(&fake, "watch_gone");
	assert_int_equal(kubefake_call(&fake, "DELETE", "/_fake/faults", NULL,
	    NULL), 200);

	/* 410 Gone: it lists again and reports exactly what changed */
	WAIT_UNTIL(rec_synced(r) == 2);
	assert_true(kubefake_stat(&fake, "watch_gone") > gone);
	assert_int_equal(wstats(w).relists_gone, 1);
	assert_int_equal(wstats(w).lists, 2);
	assert_int_equal(rec_last(r, "doomed", NULL), KUBE_WATCH_DELETED);
	assert_int_equal(rec_count(r, "fresh", KUBE_WATCH_ADDED), 1);
	assert_int_equal(rec_count(r, "fresh", KUBE_WATCH_DELETED), 0);
	assert_int_equal(rec_count(r, "keep", KUBE_WATCH_ADDED), 1);
	/* unchanged: not delivered again */
	assert_int_equal(rec_count(r, "keep", KUBE_WATCH_MODIFIED),
	    keep_modified);
	assert_int_equal(rec_last(r, "noise", NULL), -1);
	/* and watches on from the new list */
	assert_int_equal(kube_api_job_delete(k, ns, "keep", &err), 0);
	WAIT_UNTIL(rec_last(r, "keep", NULL) == KUBE_WATCH_DELETED);
	kube_watch_free(w);
	rec_free(r);
	free(keep);
	free(doomed);
	free(fresh);
	free(noise);
	kube_api_free(k);
}

static void
kube_watch__gone_event_relists_and_reports_what_changed(void **state)
{
	(void)state;
	gone_relists(0);
}

static void
kube_watch__gone_status_relists_and_reports_what_changed(void **state)
{
	(void)state;
	gone_relists(1);
}

static void
kube_watch__dropped_stream_resumes_without_missing_an_update(void **state)
{
	struct kube_api *k = client();
	struct rec *r = rec_new();
	struct kube_watch *w;
	char name[32], *json;
	int i;

	(void)state;
	w = watch(k, "t-resume", r);
	WAIT_UNTIL(rec_synced(r) == 1);
	for (i = 0; i < 4; i++) {
		/* cut the stream, then change something at once */
		kubefake_post(&fake, "/_fake/drop-watches", NULL);
		snprintf(name, sizeof(name), "job-%d", i);
		json = job_json(name, 1, NULL, ",\"suspend\":true", NULL);
		create_ok(k, "t-resume", json, NULL);
		free(json);
	}
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "job-%d", i);
		WAIT_UNTIL(rec_count(r, name, KUBE_WATCH_ADDED) == 1);
	}
	/* resumed from its resourceVersion each time: never a list */
	assert_int_equal(wstats(w).lists, 1);
	assert_int_equal(wstats(w).relists_gone, 0);
	assert_true(wstats(w).watches >= 2);
	kube_watch_free(w);
	rec_free(r);
	kube_api_free(k);
}

/* ---- canary traffic objects (kube_traffic.h) ---------------------------------------- */

/* Get isvc name in ns until serving says yes (or 60 s: a bound, not a measure). */
static void
isvc_wait_serving(struct kube_api *k, const char *ns, const char *name,
    struct kube_isvc *out)
{
	char why[600];
	struct err err;

	for (int i = 0; i < 3000; i++) {
		if (kube_isvc_get(k, ns, name, out, &err) != 0)
			fail_msg("get %s: %s", name, err.msg);
		if (kube_isvc_serving(out, name, why, sizeof(why)))
			return;
		usleep(20000);
	}
	fail_msg("inferenceservice %s never served: %s", name, why);
}

static void
kube_traffic__inferenceservice_is_merge_patched_and_waits_for_ready(
    void **state)
{
	struct kube_api *k = client();
	struct kube_isvc *i = calloc(1, sizeof(*i));
	char why[600];
	struct err err;
	long before;

	(void)state;
	assert_non_null(i);
	kubefake_post(&fake, "/_fake/create", "{\"plural\":\"inferenceservices\","
	    "\"namespace\":\"t-isvc\",\"object\":{\"metadata\":{\"name\":"
	    "\"fraud\"},\"spec\":{\"predictor\":{\"model\":{\"modelFormat\":"
	    "{\"name\":\"sklearn\"},\"storageUri\":\"s3://m/1\"}}}}}");
	isvc_wait_serving(k, "t-isvc", "fraud", i);
	assert_true(i->has_model);
	assert_string_equal(i->storage_uri, "s3://m/1");
	assert_int_equal(i->canary_percent, -1);

	/* held: the new revision is not ready, and why says so */
	kubefake_post(&fake, "/_fake/config", "{\"isvc_hold\":true}");
	before = reqs("merge-patch inferenceservices");
	assert_int_equal(kube_isvc_set(k, "t-isvc", "fraud", "s3://m/2", 10,
	    &err), 0);
	assert_int_equal(reqs("merge-patch inferenceservices"), before + 1);
	assert_int_equal(kube_isvc_get(k, "t-isvc", "fraud", i, &err), 0);
	assert_string_equal(i->storage_uri, "s3://m/2");
	assert_int_equal(i->canary_percent, 10);
	assert_int_equal(kube_isvc_serving(i, "fraud", why, sizeof(why)), 0);
	assert_non_null(strstr(why, "RevisionMissing"));
	assert_non_null(strstr(why, "waiting for a Revision to become ready"));
	kubefake_post(&fake, "/_fake/config", "{\"isvc_hold\":false}");
	isvc_wait_serving(k, "t-isvc", "fraud", i);
	assert_string_equal(i->latest_ready, "fraud-predictor-00002");

	/* promotion: canaryTrafficPercent removed, storageUri kept */
	assert_int_equal(kube_isvc_set(k, "t-isvc", "fraud", NULL, -1, &err), 0);
	assert_int_equal(kube_isvc_get(k, "t-isvc", "fraud", i, &err), 0);
	assert_int_equal(i->canary_percent, -1);
	assert_string_equal(i->storage_uri, "s3://m/2");

	/* a revision that fails (a bad storageUri) is not waited for */
	kubefake_post(&fake, "/_fake/config",
	    "{\"isvc_fail\":\"the model cannot be loaded\"}");
	assert_int_equal(kube_isvc_set(k, "t-isvc", "fraud", "s3://m/bad", 10,
	    &err), 0);
	for (int n = 0; n < 3000; n++) {
		assert_int_equal(kube_isvc_get(k, "t-isvc", "fraud", i, &err), 0);
		if (kube_isvc_serving(i, "fraud", why, sizeof(why)) != 0)
			break;
		usleep(20000);
	}
	kubefake_post(&fake, "/_fake/config", "{\"isvc_fail\":null}");
	assert_int_equal(kube_isvc_serving(i, "fraud", why, sizeof(why)), -1);
	assert_string_equal(why, "inferenceservice fraud: RevisionFailed: "
	    "Revision \"fraud-predictor-00003\" failed with message: the "
	    "model cannot be loaded.");

	assert_int_equal(kube_isvc_get(k, "t-isvc", "nope", i, &err),
	    ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "\"nope\" not found"));
	assert_int_equal(kube_isvc_set(k, "t-isvc", "nope", "s3://m/2", 10,
	    &err), ERR_NOTFOUND);

	/* a 403 fails the call but leaves the client ready */
	fault("{\"verb\":\"patch inferenceservices\",\"status\":403,\"count\":1}");
	assert_int_equal(kube_isvc_set(k, "t-isvc", "fraud", "s3://m/3", 50,
	    &err), ERR_FORBIDDEN);
	assert_int_equal(kube_api_ready(k, &err), 0);
	free(i);
	kube_api_free(k);
}

static void
kube_traffic__route_weights_are_set_once_and_conflicts_read_again(
    void **state)
{
	struct kube_api *k = client();
	struct kube_route_sel sel = { "shop", "shop-v1", "shop-canary", -1,
	    NULL };
	struct err err;
	char *body = NULL;
	long before;
	int changed = -1;

	(void)state;
	kubefake_post(&fake, "/_fake/create", "{\"plural\":\"httproutes\","
	    "\"namespace\":\"t-route\",\"object\":{\"metadata\":{\"name\":"
	    "\"shop\"},\"spec\":{\"parentRefs\":[{\"name\":\"gw\"}],"
	    "\"rules\":[{\"name\":\"admin\",\"backendRefs\":[{\"name\":"
	    "\"shop-admin\",\"port\":80}]},{\"name\":\"main\",\"backendRefs\":"
	    "[{\"name\":\"shop-v1\",\"port\":80},{\"name\":\"shop-canary\","
	    "\"port\":80,\"weight\":0}]}]}}}");
	before = reqs("merge-patch httproutes");
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 90, 10,
	    &changed, &err), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(reqs("merge-patch httproutes"), before + 1);
	/* the same weights again: nothing written */
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 90, 10,
	    &changed, &err), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(reqs("merge-patch httproutes"), before + 1);
	/* a conflict (someone wrote between the read and the patch) */
	fault("{\"verb\":\"patch httproutes\",\"status\":409,\"count\":1}");
	sel.rule_name = "main";
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 50, 50,
	    &changed, &err), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(kubefake_call(&fake, "GET", "/_fake/objects", NULL,
	    &body), 200);
	assert_non_null(strstr(body, "\"name\": \"shop-v1\", \"port\": 80, "
	    "\"weight\": 50}, {\"name\": \"shop-canary\", \"port\": 80, "
	    "\"weight\": 50}"));
	assert_non_null(strstr(body, "{\"name\": \"shop-admin\", \"port\": 80}"));
	free(body);

	sel.rule_name = NULL;
	sel.canary_backend = "shop-green";
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 50, 50,
	    &changed, &err), ERR_INVALID);
	assert_string_equal(err.msg, "httproute shop has no rule with both "
	    "backendRefs shop-v1 (stable) and shop-green (canary)");
	sel.rule_index = 0;
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 50, 50,
	    &changed, &err), ERR_INVALID);
	assert_string_equal(err.msg, "httproute shop: the rule has no "
	    "backendRef shop-v1 (stable backend)");
	sel.rule_index = 5;
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 50, 50,
	    &changed, &err), ERR_INVALID);
	assert_string_equal(err.msg, "httproute shop has no rule 5 (it has 2)");
	sel.route = "nope";
	assert_int_equal(kube_route_set_weights(k, "t-route", &sel, 50, 50,
	    &changed, &err), ERR_NOTFOUND);
	kube_api_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(kube_api__creates_gets_and_deletes_a_job),
		T(kube_api__client_certificate_is_accepted),
		T(kube_api__duplicate_create_is_a_conflict_and_labels_allow_adoption),
		T(kube_api__invalid_job_fails_with_the_api_causes),
		T(kube_api__429_waits_as_long_as_retry_after_says),
		T(kube_api__retry_after_past_the_budget_fails_at_once),
		T(kube_api__5xx_is_retried_with_growing_backoff_until_the_budget),
		T(kube_api__dropped_connection_is_retried),
		T(kube_api__unauthorized_and_forbidden_are_clear_and_not_ready),
		T(kube_api__token_file_rotation_is_picked_up),
		T(kube_api__untrusted_server_certificate_is_a_clear_error),
		T(kube_api__unreachable_server_is_transient),
		T(kube_api__qps_limit_spaces_requests_by_the_bucket),
		T(kube_api__writes_are_not_starved_by_reads),
		T(kube_api__lists_follow_pages_and_filter_by_label),
		T(kube_api__pending_gpu_job_says_why),
		T(kube_api__pending_reason_names_an_image_that_cannot_be_pulled),
		T(kube_api__failed_and_deadline_jobs_carry_the_reason),
		T(kube_api__suspended_job_waits_for_admission),
		T(kube_api__log_is_read_whole_and_capped),
		T(kube_api__log_follow_streams_until_the_container_ends),
		T(kube_api__counts_calls_by_verb_and_resource),
		T(kube_api__answers_are_bucketed_by_status),
		T(kube_watch__follows_pods_of_managed_jobs),
		T(kube_watch__lists_then_follows_jobs),
		T(kube_watch__bookmarks_spare_a_relist_after_compaction),
		T(kube_watch__gone_event_relists_and_reports_what_changed),
		T(kube_watch__gone_status_relists_and_reports_what_changed),
		T(kube_watch__dropped_stream_resumes_without_missing_an_update),
		T(kube_traffic__inferenceservice_is_merge_patched_and_waits_for_ready),
		T(kube_traffic__route_weights_are_set_once_and_conflicts_read_again),
#undef T
	};

	/* KUBE_TEST_FILTER=pattern runs only the matching tests */
	if (getenv("KUBE_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("KUBE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
