/*
 * bench_e2e.c - the webhook path and the stage boundary as a user feels
 * them: `sluice serve` (bin/sluice, its own process) with the Kubernetes
 * executor against the fake API server (tests/fakes/kube_apiserver.py,
 * pods that run FAKE_DURATION 100 ms), a file:// repository, and N (100)
 * signed GitHub push webhooks, one at a time: commit and push (not
 * timed), then the webhook, then wait until the run has ended.
 *
 *   webhook -> Job POST    from just before the webhook's request is sent
 *                          to the fake receiving the POST of the run's
 *                          first Job (the fake's /_fake/timeline): verify,
 *                          refresh request, poll and fetch, parse, run
 *                          and stages written, engine, Job.
 *   baseline               the same webhook's own round trip (request sent
 *                          -> 202 read), measured in the same run.
 *   stage -> next stage    from the fake marking a Job Complete to the
 *                          fake receiving the next stage's Job POST
 *                          (a -> b, b -> c: 2 per run).
 *
 * Times here are CLOCK_REALTIME, the fake's are time.time(): one clock.
 * Printed: p50 and p99 of each, the ratio to the baseline, and whether
 * the targets (webhook -> Job p50 <= 50 ms, p99 <= 200 ms; stage -> next
 * p50 <= 50 ms) hold.  The bench does not fail on a missed target (a
 * loaded machine would), only when something does not work.
 *
 *	SLUICE_BENCH_DB_URL, SLUICE_BIN, SLUICE_TOP, SLUICE_BENCH_TMP
 *	                        set by `make bench` (scripts/bench.sh)
 *	BENCH_E2E_PUSHES=100    webhooks
 *	BENCH_E2E_POD_MS=100    how long each stage's pod runs in the fake
 *	BENCH_E2E_LOG_LEVEL     serve's log_level (warn)
 *	BENCH_E2E_KEEP=FILE     copy serve's log to FILE
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hash.h"
#include "base/log.h"
#include "store/db.h"
#include "bench_util.h"
#include "bench_serve.h"

#define PROG	"bench_e2e"
#define SECRET	"bench-webhook-secret"
#define NS	"bench-e2e"

static const char yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: e2e}\n"
    "spec:\n"
    "  triggers:\n"
    "    push: {branches: [main]}\n"
    "  concurrency: 0\n"
    "  checkout: false\n"
    "  defaults: {image: \"registry.example.com/ml/train:1.0\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n"
    "    - {name: c, needs: [b], command: [\"true\"]}\n";

static const char *const stages[] = { "a", "b", "c" };
#define NSTAGES	3

struct push {
	char	sha[41];
	double	sent;		/* the webhook's request is about to go */
	double	answered;	/* its 202 has been read */
};

static void
write_config(const char *path, const char *dir, const char *fakedir,
    int port)
{
	const char *level = getenv("BENCH_E2E_LOG_LEVEL");

	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		bench_fail("cannot write %s", path);
	if (level == NULL || *level == '\0')
		level = "warn";
	fprintf(fp, "listen: 127.0.0.1:%d\n"
	    "state_dir: %s/state\n"
	    "log_level: %s\n"
	    "executor: kubernetes\n"
	    "kubernetes:\n"
	    "  kubeconfig: %s/kubeconfig\n"
	    "  namespace: " NS "\n"
	    "webhook_secret_env: BENCH_E2E_WEBHOOK_SECRET\n"
	    "repositories:\n"
	    "  - name: e2e\n"
	    "    url: file://%s/repo.git\n"
	    "    branches: [main]\n"
	    "    path: pipelines\n"
	    "    interval: 1h\n", port, dir, level, fakedir, dir);
	if (fclose(fp) != 0)
		bench_fail("cannot write %s", path);
}

/* Send the signed push webhook for p; 202 {"refreshed":...} expected. */
static void
webhook(CURL *c, int port, const char *dir, int i, struct push *p)
{
	char url[128], body[1024], sig[HASH_HMAC_SIG_LEN + 1], h[3][160];
	struct curl_slist *hs = NULL;
	struct buf answer;
	long status;

	(void)snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/api/v1/hooks/github", port);
	(void)snprintf(body, sizeof(body), "{\"ref\":\"refs/heads/main\","
	    "\"after\":\"%s\",\"repository\":{\"clone_url\":"
	    "\"file://%s/repo.git\"}}", p->sha, dir);
	if (hash_hmac_sig(SECRET, body, strlen(body), sig, sizeof(sig)) < 0)
		bench_fail("hmac failed");
	(void)snprintf(h[0], sizeof(h[0]), "X-Hub-Signature-256: %s", sig);
	(void)snprintf(h[1], sizeof(h[1]), "X-GitHub-Delivery: bench-%d-%s",
	    i, p->sha);
	(void)snprintf(h[2], sizeof(h[2]), "X-GitHub-Event: push");
	hs = curl_slist_append(hs, "Content-Type: application/json");
	for (int k = 0; k < 3; k++)
		hs = curl_slist_append(hs, h[k]);
	p->sent = bench_wall();
	status = bench_http(c, "POST", url, NULL, body, hs, &answer);
	p->answered = bench_wall();
	if (status != 202 || answer.data == NULL ||
	    strstr(answer.data, "refreshed") == NULL)
		bench_fail("webhook %d answered %ld: %s", i, status,
		    answer.data != NULL ? answer.data : "");
	buf_release(&answer);
	curl_slist_free_all(hs);
}

/* Wait until n runs have ended (at most 120 s). */
static void
wait_ended(struct db *db, int64_t n)
{
	for (int i = 0; i < 12000; i++) {
		if (bench_one_int(PROG, db, "SELECT count(*) FROM runs WHERE "
		    "status IN ('succeeded', 'failed', 'canceled')") >= n)
			return;
		bench_sleep_ms(10);
	}
	bench_fail("run %lld has not ended after 120 s", (long long)n);
}

int
main(void)
{
	const char *url = getenv("SLUICE_BENCH_DB_URL");
	const char *bin = getenv("SLUICE_BIN");
	const char *top = getenv("SLUICE_TOP");
	int npush = bench_env_int("BENCH_E2E_PUSHES", 100, 100000);
	int pod_ms = bench_env_int("BENCH_E2E_POD_MS", 100, 3600000);
	char dir[400], fakedir[480], config[480], logp[480], args[256];
	struct bench_fake fake;
	struct bench_job *jobs = NULL;
	struct push *pushes;
	struct db_res *res = NULL;
	struct db *db = NULL;
	struct err err;
	double *e2e, *rtt, *bound, p50, p99, r50, r99, b50, b99;
	double load0, load1, cpu0, cpu1, t0, t1;
	size_t njobs, nb = 0, ne = 0;
	int port, failed = 0;
	pid_t pid;
	CURL *c;

	bench_serve_init(PROG, "e2e", dir, sizeof(dir));
	pushes = calloc((size_t)npush, sizeof(*pushes));
	e2e = calloc((size_t)npush, sizeof(*e2e));
	rtt = calloc((size_t)npush, sizeof(*rtt));
	bound = calloc((size_t)npush * (NSTAGES - 1), sizeof(*bound));
	if (pushes == NULL || e2e == NULL || rtt == NULL || bound == NULL)
		bench_fail("out of memory");

	fprintf(stderr, PROG ": starting the fake API server and serve...\n");
	(void)snprintf(fakedir, sizeof(fakedir), "%s/kube", dir);
	(void)snprintf(args, sizeof(args), "--duration-ms %d --pod-start-ms 0 "
	    "--tick-ms 5 --nodes 1", pod_ms);
	bench_fake_start(&fake, top, fakedir, args);
	bench_git_repo(dir, "e2e", yaml);
	port = bench_free_port();
	(void)snprintf(config, sizeof(config), "%s/sluice.yaml", dir);
	(void)snprintf(logp, sizeof(logp), "%s/serve.log", dir);
	write_config(config, dir, fakedir, port);
	if (setenv("SLUICE_DATABASE_URL", url, 1) < 0 ||
	    setenv("BENCH_E2E_WEBHOOK_SECRET", SECRET, 1) < 0)
		bench_fail("setenv failed");
	unsetenv("KUBECONFIG");
	if (db_open(&db, url, &err) < 0)
		bench_die(PROG, "database", &err);
	pid = bench_serve_start(bin, config, logp);
	bench_serve_wait_ready(port);
	/* the first poll records the pipeline and starts nothing */
	for (int i = 0; bench_one_int(PROG, db, "SELECT count(*) FROM "
	    "pipeline_versions WHERE valid") < 1; i++) {
		if (i > 12000)
			bench_fail("the pipeline was never read (see %s)", logp);
		bench_sleep_ms(10);
	}

	fprintf(stderr, PROG ": %d pushes...\n", npush);
	c = curl_easy_init();
	load0 = bench_loadavg();
	cpu0 = bench_cpu_ms(pid);
	t0 = bench_wall();
	for (int i = 0; i < npush; i++) {
		bench_git_push(dir, i, pushes[i].sha);
		webhook(c, port, dir, i, &pushes[i]);
		wait_ended(db, i + 1);
	}
	t1 = bench_wall();
	cpu1 = bench_cpu_ms(pid);
	load1 = bench_loadavg();
	curl_easy_cleanup(c);

	/* read back: each push's run, its Jobs in the fake */
	njobs = bench_fake_jobs(&fake, &jobs);
	if (db_exec(db, "SELECT r.id, c.sha, r.status FROM runs r JOIN "
	    "commits c ON c.id = r.commit_id ORDER BY r.id", NULL, &res,
	    &err) < 0)
		bench_die(PROG, "runs", &err);
	if (db_res_rows(res) != (size_t)npush)
		bench_fail("%zu runs for %d pushes", db_res_rows(res), npush);
	for (size_t r = 0; r < db_res_rows(res); r++) {
		const struct bench_job *prev = NULL;
		const char *sha = db_res_text(res, r, 1);
		int64_t id = 0;
		int i;

		if (db_res_int64(res, r, 0, &id, &err) < 0)
			bench_die(PROG, "run id", &err);
		if (strcmp(db_res_text(res, r, 2), "succeeded") != 0)
			failed++;
		for (i = 0; i < npush && strcmp(pushes[i].sha, sha) != 0; i++)
			;
		if (i == npush)
			bench_fail("run %lld is of no push", (long long)id);
		for (int s = 0; s < NSTAGES; s++) {
			const struct bench_job *j;
			char name[96];

			(void)snprintf(name, sizeof(name), "sluice-%lld-%s-1",
			    (long long)id, stages[s]);
			if ((j = bench_job_find(jobs, njobs, name)) == NULL)
				bench_fail("no Job %s in the fake", name);
			if (s == 0)
				e2e[ne++] = (j->posted - pushes[i].sent) * 1e3;
			else if (prev->complete && prev->finished > 0)
				bound[nb++] = (j->posted - prev->finished) *
				    1e3;
			prev = j;
		}
	}
	db_res_free(res);
	for (int i = 0; i < npush; i++)
		rtt[i] = (pushes[i].answered - pushes[i].sent) * 1e3;
	p50 = bench_quantile(e2e, ne, 0.5);
	p99 = bench_quantile(e2e, ne, 0.99);
	r50 = bench_quantile(rtt, (size_t)npush, 0.5);
	r99 = bench_quantile(rtt, (size_t)npush, 0.99);
	b50 = bench_quantile(bound, nb, 0.5);
	b99 = bench_quantile(bound, nb, 0.99);

	printf(PROG ": %d signed GitHub push webhooks to a file:// repository, "
	    "one at a time, each a 3-stage run (a -> b -> c) on the Kubernetes "
	    "executor against the fake API server (pods run %d ms)\n", npush,
	    pod_ms);
	printf("  webhook -> first Job's POST received:  p50 %.1f ms  p99 "
	    "%.1f ms  (%zu runs)\n", p50, p99, ne);
	printf("  baseline: the webhook's round trip:    p50 %.1f ms  p99 "
	    "%.1f ms\n", r50, r99);
	printf("  ratio:    p50 %.2f  p99 %.2f\n", r50 > 0 ? p50 / r50 : 0,
	    r99 > 0 ? p99 / r99 : 0);
	printf("  stage -> next stage (Job marked Complete -> next Job's POST "
	    "received):  p50 %.1f ms  p99 %.1f ms  (%zu boundaries)\n", b50,
	    b99, nb);
	printf("  targets: webhook -> Job p50 <= 50 ms %s, p99 <= 200 ms %s; "
	    "stage -> next p50 <= 50 ms %s\n", p50 <= 50 ? "met" : "MISSED",
	    p99 <= 200 ? "met" : "MISSED", b50 <= 50 ? "met" : "MISSED");
	printf("  serve's CPU: %.1f ms per run (whole run, 3 stages); %.1f s "
	    "for all; machine load average %.1f at the start, %.1f at the "
	    "end (%ld cores)\n", (cpu1 - cpu0) / npush, t1 - t0, load0, load1,
	    sysconf(_SC_NPROCESSORS_ONLN));
	if (failed > 0)
		printf("  %d runs did not succeed\n", failed);

	bench_serve_kill(pid, SIGTERM);
	bench_fake_stop(&fake);
	db_free(db);
	free(jobs);
	free(pushes);
	free(e2e);
	free(rtt);
	free(bound);
	curl_global_cleanup();
	if (getenv("BENCH_E2E_KEEP") != NULL)
		bench_sh("cp '%s' '%s'", logp, getenv("BENCH_E2E_KEEP"));
	bench_sh("rm -rf '%s'", dir);
	return failed > 0;
}
