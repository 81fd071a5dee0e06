/*
 * bench_kube.c - the Kubernetes executor against the fake API server,
 * next to the fake's own throughput for the same kind of calls from curl,
 * measured in the same run.
 *
 * 1. N (5,000) stage Jobs through the executor's ops, the way the engine
 *    drives them, with the fake in "instant completion" mode (pods start
 *    and end at once).  C (16) chains run side by side; in each, when the
 *    watch reports a Job finished, the driver reads its log (as the engine
 *    does for ::metric), submits the chain's next Job and releases the
 *    finished one, all on one thread like the engine's loop.  Then S
 *    (500) Jobs in one chain, stage after stage, for the latency without
 *    other chains queueing in the loop.  Printed: Job creations per second; the time from the
 *    completion event (the watch's delivery waking the driver) to the next
 *    stage's create having been answered, median and p99; API calls per
 *    attempt (the fake's counters and the client's); the process's peak
 *    RSS.
 * 2. The same fake answering curl (one keep-alive curl process per chain,
 *    C in parallel): create, get and delete per Job, for M (1,000) Jobs.
 *    Printed: Jobs and calls per second, and the ratio sluice/curl.
 *
 * The client's rate limiter is off (qps 0): this measures the executor
 * and the API server, not the token bucket (20 qps by default would cap
 * the run at about 7 attempts a second).
 *
 * Environment: SLUICE_TOP (the source tree), SLUICE_BENCH_TMP;
 * SLUICE_BENCH_KUBE_JOBS, SLUICE_BENCH_KUBE_CHAINS,
 * SLUICE_BENCH_KUBE_SERIAL_JOBS and SLUICE_BENCH_KUBE_CURL_JOBS override
 * N, C, S and M.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/sys.h"
#include "exec/executor.h"
#include "kube/exec_kube.h"
#include "kube/kube_api.h"
#include "kube/kubeconfig.h"
#include "bench_util.h"

#define NS		"bench"
#define NS_CURL		"bench-curl"
#define MAX_CHAINS	256

static char dir[512];
static char url[128];
static char top[512];

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_kube: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int
env_int(const char *name, int def)
{
	const char *v = getenv(name);
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, NULL, 10);
	return n > 0 && n < 10000000 ? (int)n : def;
}

/* ---- the fake -------------------------------------------------------------- */

static void
fake_start(void)
{
	char cmd[2048], path[600], line[32];
	FILE *fp;
	long port = 0;

	(void)snprintf(cmd, sizeof(cmd), "KUBE_FAKE_WATCH_PID=%ld bash "
	    "'%s/tests/fakes/kube_fake.sh' start '%s' --duration-ms 0 "
	    "--pod-start-ms 0 --tick-ms 5 --nodes 1 "
	    "--bookmark-interval-ms 60000 >/dev/null", (long)getpid(), top,
	    dir);
	if (system(cmd) != 0)
		die("cannot start the fake API server: %s", cmd);
	(void)snprintf(path, sizeof(path), "%s/port", dir);
	if ((fp = fopen(path, "r")) == NULL)
		die("no %s", path);
	if (fgets(line, sizeof(line), fp) != NULL)
		port = strtol(line, NULL, 10);
	fclose(fp);
	if (port <= 0)
		die("no port in %s", path);
	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%ld", port);
}

static void
fake_stop(void)
{
	char cmd[1200];

	(void)snprintf(cmd, sizeof(cmd), "bash '%s/tests/fakes/kube_fake.sh' "
	    "stop '%s'", top, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_kube: stopping the fake failed\n");
}

struct body {
	struct buf	b;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;

	return buf_append(&b->b, p, size * n) < 0 ? 0 : size * n;
}

/* Call the fake's control API; the answer in out (caller releases). */
static void
control(const char *method, const char *path, struct buf *out)
{
	struct body b;
	char u[256], ca[600];
	long status = 0;
	CURL *c = curl_easy_init();

	buf_init(&b.b, 1 << 20);
	(void)snprintf(u, sizeof(u), "%s%s", url, path);
	(void)snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
	if (curl_easy_perform(c) != CURLE_OK ||
	    (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status !=
	    200))
		die("fake control %s %s failed (%ld)", method, path, status);
	curl_easy_cleanup(c);
	if (out != NULL)
		*out = b.b;
	else
		buf_release(&b.b);
}

/* A request count from /_fake/stats ("create jobs"), by a plain scan. */
static long
fake_count(const char *stats, const char *what)
{
	char key[128];
	const char *p;

	(void)snprintf(key, sizeof(key), "\"%s\": ", what);
	if ((p = strstr(stats, key)) == NULL)
		return 0;
	return strtol(p + strlen(key), NULL, 10);
}

/* ---- part 1: the executor ------------------------------------------------------ */

struct chain {
	int		 busy;
	int		 job;		/* its current Job's number */
	char		 name[64];
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
attempt_of(struct exec_attempt *a, int i, char *name, size_t len,
    const char **argv, struct exec_env *env)
{
	memset(a, 0, sizeof(*a));
	(void)snprintf(name, len, "sluice-%d-train-1", 1000 + i);
	argv[0] = "python3";
	argv[1] = "train.py";
	env[0] = (struct exec_env){ "FAKE_LOG", "::metric auc=0.93" };
	a->name = name;
	a->run_id = 1000 + i;
	a->pipeline = "bench";
	a->stage = "train";
	a->attempt = 1;
	a->kind = "job";
	a->image = "python:3.11-slim";
	a->argv = argv;
	a->argc = 2;
	a->env = env;
	a->nenv = 1;
	a->cpu = "100m";
	a->memory = "64Mi";
}

static void
submit(struct executor *ex, int i, struct chain *c)
{
	struct exec_attempt a;
	struct exec_env env[1];
	const char *argv[2];
	struct err err;

	attempt_of(&a, i, c->name, sizeof(c->name), argv, env);
	if (ex->ops->submit(ex->impl, &a, &err) != 0)
		die("submit %s: %s", c->name, err.msg);
	c->busy = 1;
	c->job = i;
}

struct result {
	double	wall;
	double	med_ms, p99_ms;
	double	calls_per_attempt;
	long	creates, logs, deletes, other;
	uint64_t client_calls;
};


/* The executor's wake (set_wake): a counter and a condition to wait on. */
struct waker {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	uint64_t	n;
};

static void
waker_wake(void *arg)
{
	struct waker *w = arg;

	pthread_mutex_lock(&w->mu);
	w->n++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Wait until the executor woke us since *seen, or ms passed. */
static void
waker_wait(struct waker *w, uint64_t *seen, int64_t ms)
{
	struct timespec ts = sys_deadline_in(ms);

	pthread_mutex_lock(&w->mu);
	while (w->n == *seen &&
	    pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	*seen = w->n;
	pthread_mutex_unlock(&w->mu);
}

static void
run_executor(int njobs, int nchains, struct result *r)
{
	struct kube_auth *auth = NULL;
	struct kube_api *k = NULL;
	struct kube_api_opts ko = { .qps = 0, .max_connections = 16 };
	struct kube_job_opts jo = { .ttl_after_finished_s = 3600 };
	struct kube_api_stats ks0, ks1;
	struct executor ex;
	struct chain chains[MAX_CHAINS];
	struct exec_status st;
	struct err err;
	struct buf log, stats;
	double *lat, t0, t_event, t;
	uint64_t seen = 0;
	struct waker wk;
	int64_t next;
	int submitted = 0, done = 0, nlat = 0, i, v, res;
	char kc[600];

	(void)snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
	if (kube_auth_from_kubeconfig(&auth, kc, NULL, &err) < 0 ||
	    kube_api_new(&k, auth, &ko, &err) < 0 ||
	    exec_kube_new_with(&ex, k, NS, &jo, &err) < 0 ||
	    exec_kube_wait_synced(ex.impl, 30000, &err) < 0)
		die("%s", err.msg);
	kube_auth_free(auth);
	pthread_mutex_init(&wk.mu, NULL);
	sys_cond_init_monotonic(&wk.cv);
	wk.n = 0;
	if (ex.ops->set_wake == NULL || ex.ops->set_wake(ex.impl, waker_wake,
	    &wk) != 1)
		die("the Kubernetes executor does not wake");
	lat = calloc((size_t)njobs, sizeof(*lat));
	memset(chains, 0, sizeof(chains));
	control("POST", "/_fake/stats/reset", NULL);
	kube_api_stats(k, &ks0);
	buf_init(&log, LIM_STAGE_LOG);

	t0 = bench_now_s();
	for (i = 0; i < nchains && submitted < njobs; i++)
		submit(&ex, submitted++, &chains[i]);
	while (done < njobs) {
		waker_wait(&wk, &seen, 1000);
		t_event = bench_now_s();
		for (i = 0; i < nchains; i++) {
			struct chain *c = &chains[i];
			char old[64];

			if (!c->busy)
				continue;
			if (ex.ops->status(ex.impl, c->name, &st, &err) != 0)
				die("status %s: %s", c->name, err.msg);
			if (st.state == EXEC_PENDING ||
			    st.state == EXEC_RUNNING)
				continue;
			if (st.state != EXEC_SUCCEEDED)
				die("%s ended %d: %s", c->name, st.state,
				    st.message);
			/* what the engine does: the log to its end (the
			   pod's log is followed: "not yet" until it is read),
			   the next, release */
			buf_reset(&log);
			for (;;) {
				size_t had = log.len;
				int rc = ex.ops->logs(ex.impl, c->name, 0,
				    (int64_t)log.len, &log, &next, NULL, 0,
				    &err);

				if (rc == ERR_TRANSIENT) {
					struct timespec ms = { 0, 1000000 };

					nanosleep(&ms, NULL);
					continue;
				}
				if (rc != 0)
					die("log of %s: %s", c->name, err.msg);
				if (log.len == had)
					break;
			}
			if (log.data == NULL ||
			    strstr(log.data, "::metric auc=0.93") == NULL)
				die("log of %s: no metric", c->name);
			(void)snprintf(old, sizeof(old), "%s", c->name);
			c->busy = 0;
			done++;
			if (submitted < njobs) {
				submit(&ex, submitted++, c);
				t = bench_now_s();
				lat[nlat++] = (t - t_event) * 1000.0;
			}
			if (ex.ops->release(ex.impl, old, &err) != 0)
				die("release %s: %s", old, err.msg);
		}
	}
	r->wall = bench_now_s() - t0;
	/* the deletes of the last releases */
	for (;;) {
		struct exec_kube_stats es;

		exec_kube_stats(ex.impl, &es);
		if (es.tasks == 0)
			break;
		usleep(10000);
	}
	kube_api_stats(k, &ks1);
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp_double);
	r->med_ms = nlat ? lat[nlat / 2] : 0;
	r->p99_ms = nlat ? lat[(size_t)((double)nlat * 0.99)] : 0;
	control("GET", "/_fake/stats", &stats);
	r->creates = fake_count(stats.data, "create jobs");
	r->logs = fake_count(stats.data, "get pods/log");
	r->deletes = fake_count(stats.data, "delete jobs");
	r->other = fake_count(stats.data, "get jobs") +
	    fake_count(stats.data, "list pods") +
	    fake_count(stats.data, "list jobs") +
	    fake_count(stats.data, "list events") +
	    fake_count(stats.data, "get pods");
	r->calls_per_attempt = (double)(r->creates + r->logs + r->deletes +
	    r->other) / njobs;
	r->client_calls = 0;
	for (v = 0; v < KUBE_VERB_N; v++) {
		if (v == KUBE_VERB_WATCH)
			continue;
		for (res = 0; res < KUBE_RES_N; res++)
			r->client_calls += ks1.requests[v][res] -
			    ks0.requests[v][res];
	}
	buf_release(&stats);
	buf_release(&log);
	free(lat);
	(void)ex.ops->set_wake(ex.impl, NULL, NULL);
	ex.ops->free(ex.impl);
	kube_api_free(k);
}

/* ---- part 2: curl ------------------------------------------------------------------- */

/* The options every request of a curl config file repeats. */
static void
common(FILE *fp)
{
	fprintf(fp, "cacert = \"%s/ca.crt\"\n"
	    "header = \"Authorization: Bearer test-token\"\n"
	    "header = \"Content-Type: application/json\"\n"
	    "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", dir);
}

/* Write a curl config file doing create, get, delete for jobs [from, to). */
static void
curl_config(const char *path, int from, int to)
{
	FILE *fp = fopen(path, "w");
	int i;

	if (fp == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	for (i = from; i < to; i++) {

		fprintf(fp, "url = \"%s/apis/batch/v1/namespaces/" NS_CURL
		    "/jobs\"\n", url);
		common(fp);
		fprintf(fp, "data = \"{\\\"apiVersion\\\":\\\"batch/v1\\\","
		    "\\\"kind\\\":\\\"Job\\\",\\\"metadata\\\":{\\\"name\\\":"
		    "\\\"curl-%d\\\",\\\"labels\\\":{\\\"app.kubernetes.io/"
		    "managed-by\\\":\\\"curl\\\"}},\\\"spec\\\":{\\\"backoffLimit"
		    "\\\":0,\\\"template\\\":{\\\"spec\\\":{\\\"restartPolicy"
		    "\\\":\\\"Never\\\",\\\"containers\\\":[{\\\"name\\\":"
		    "\\\"stage\\\",\\\"image\\\":\\\"python:3.11-slim\\\","
		    "\\\"command\\\":[\\\"python3\\\",\\\"train.py\\\"]}]}}}}\"\n"
		    "next\n", i);
		fprintf(fp, "url = \"%s/apis/batch/v1/namespaces/" NS_CURL
		    "/jobs/curl-%d\"\n", url, i);
		common(fp);
		fprintf(fp, "next\n");
		fprintf(fp, "url = \"%s/apis/batch/v1/namespaces/" NS_CURL
		    "/jobs/curl-%d\"\n", url, i);
		common(fp);
		fprintf(fp, "request = \"DELETE\"\n"
		    "data = \"{\\\"propagationPolicy\\\":\\\"Background\\\"}\"\n");
		if (i + 1 < to)
			fprintf(fp, "next\n");
	}
	fclose(fp);
}

/* Run nproc curl processes over njobs Jobs; seconds taken. */
static double
run_curl(int njobs, int nproc, long *ok)
{
	pid_t pids[MAX_CHAINS];
	char cfg[700], out[700], line[64];
	double t0, wall;
	int i, status, per = (njobs + nproc - 1) / nproc;
	FILE *fp;

	nproc = (njobs + per - 1) / per;	/* none with nothing to do */

	for (i = 0; i < nproc; i++) {
		(void)snprintf(cfg, sizeof(cfg), "%s/curl-%d.cfg", dir, i);
		curl_config(cfg, i * per, (i + 1) * per < njobs ?
		    (i + 1) * per : njobs);
	}
	t0 = bench_now_s();
	for (i = 0; i < nproc; i++) {
		(void)snprintf(cfg, sizeof(cfg), "%s/curl-%d.cfg", dir, i);
		(void)snprintf(out, sizeof(out), "%s/curl-%d.out", dir, i);
		if ((pids[i] = fork()) < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (fd < 0)
				_exit(127);
			dup2(fd, 1);
			execlp("curl", "curl", "-sS", "-K", cfg, (char *)NULL);
			_exit(127);
		}
	}
	for (i = 0; i < nproc; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("curl exited with %d", status);
	}
	wall = bench_now_s() - t0;
	*ok = 0;
	for (i = 0; i < nproc; i++) {
		(void)snprintf(out, sizeof(out), "%s/curl-%d.out", dir, i);
		if ((fp = fopen(out, "r")) == NULL)
			die("no %s", out);
		while (fgets(line, sizeof(line), fp) != NULL) {
			if (line[0] == '2')
				(*ok)++;
		}
		fclose(fp);
	}
	return wall;
}

int
main(void)
{
	const char *base = getenv("SLUICE_BENCH_TMP"), *t = getenv("SLUICE_TOP");
	int njobs = env_int("SLUICE_BENCH_KUBE_JOBS", 5000);
	int nserial = env_int("SLUICE_BENCH_KUBE_SERIAL_JOBS", 500);
	int nchains = env_int("SLUICE_BENCH_KUBE_CHAINS", 16);
	int ncurl = env_int("SLUICE_BENCH_KUBE_CURL_JOBS", 1000);
	struct result r, r1;
	struct rusage ru;
	double cwall, ours_jobs, curl_jobs, ours_calls, curl_calls;
	long ok;

	if (nchains > MAX_CHAINS)
		nchains = MAX_CHAINS;
	(void)snprintf(top, sizeof(top), "%s", t != NULL && *t ? t : ".");
	(void)snprintf(dir, sizeof(dir), "%s/kube.XXXXXX", base ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp %s: %s", dir, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fprintf(stderr, "bench_kube: starting the fake API server...\n");
	fake_start();

	fprintf(stderr, "bench_kube: %d jobs through the executor...\n", njobs);
	run_executor(njobs, nchains, &r);
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr, "bench_kube: %d jobs one after another...\n", nserial);
	run_executor(nserial, 1, &r1);
	fprintf(stderr, "bench_kube: %d jobs through curl...\n", ncurl);
	cwall = run_curl(ncurl, nchains, &ok);
	if (ok != 3L * ncurl)
		fprintf(stderr, "bench_kube: curl: %ld of %d answers were 2xx\n",
		    ok, 3 * ncurl);

	ours_jobs = njobs / r.wall;
	ours_calls = (double)(r.creates + r.logs + r.deletes + r.other) /
	    r.wall;
	curl_jobs = ncurl / cwall;
	curl_calls = 3.0 * ncurl / cwall;
	printf("kubernetes executor, %d stage Jobs through the fake API server "
	    "(instant completion, %d chains, rate limiter off):\n", njobs,
	    nchains);
	printf("  sluice:  %.1f s, %.1f Job creations/s, %.1f API calls/s\n",
	    r.wall, ours_jobs, ours_calls);
	printf("  calls per attempt: %.2f (create %.2f, pod log %.2f, delete "
	    "%.2f, other %.2f; the watches' streams not counted); client "
	    "counted %.2f\n", r.calls_per_attempt, (double)r.creates / njobs,
	    (double)r.logs / njobs, (double)r.deletes / njobs,
	    (double)r.other / njobs, (double)r.client_calls / njobs);
	printf("  completion event -> next stage's create answered (log read "
	    "included), %d chains sharing one loop: median %.2f ms  p99 %.2f "
	    "ms\n", nchains, r.med_ms, r.p99_ms);
	printf("  the same, one chain (stage after stage, %d Jobs): median "
	    "%.2f ms  p99 %.2f ms\n", nserial, r1.med_ms, r1.p99_ms);
	printf("  peak RSS: %.1f MiB\n", ru.ru_maxrss / 1024.0);
	printf("  curl:    %d Jobs (create + get + delete, %d keep-alive curl "
	    "processes): %.1f s, %.1f Jobs/s, %.1f API calls/s\n", ncurl,
	    nchains, cwall, curl_jobs, curl_calls);
	printf("  ratio sluice/curl: Jobs/s %.2f  API calls/s %.2f\n",
	    ours_jobs / curl_jobs, ours_calls / curl_calls);

	fake_stop();
	curl_global_cleanup();
	{
		char cmd[600];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_kube: cannot remove %s\n", dir);
	}
	return 0;
}
