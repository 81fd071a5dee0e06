/*
 * bench_failover.c - how long the engine is away when the active replica
 * dies: two `sluice serve` replicas (bin/sluice) on one database, the
 * Kubernetes executor against the fake API server (each replica with its
 * own bearer token, so the fake's /_fake/timeline says who created each
 * Job), a steady stream of runs (one every BENCH_FAILOVER_EVERY_MS, 1000
 * ms, of a 2-stage pipeline whose pods run 300 ms), and K (20) times:
 * kill -9 of the active replica (the one holding the engine lock), then
 * wait for the other to take over, start the killed one again (it waits
 * as the standby) and let the stream run on for a moment.
 *
 *   takeover        kill -9 -> the first Job POST the fake receives from
 *                   the new active replica: p50 and max.
 *   lock            kill -9 -> the new active replica's "engine active"
 *                   log line (it holds the lock): p50 and max.
 *   baseline        the stream's own "run created -> its first Job POST"
 *                   for runs created while no kill was near (more than
 *                   2 s after a takeover, not within 1 s of the next kill),
 *                   measured in the same run: what a run waits anyway.
 *
 * After the last kill the stream stops, every run must end, and then:
 * every run succeeded, every stage has exactly one attempt (a second one
 * would be a duplicate: the pipeline has no retries), every attempt's Job
 * was created in the fake exactly once and the fake holds no Job without
 * an attempt.  Printed: the figures, the counts, and the creates the
 * fake refused as already existing (a replica re-submitting an attempt
 * whose Job its predecessor created: harmless, counted).  Exit 1 when a
 * run was lost or an attempt duplicated.
 *
 *	SLUICE_BENCH_DB_URL, SLUICE_BIN, SLUICE_TOP, SLUICE_BENCH_TMP
 *	                          set by `make bench` (scripts/bench.sh)
 *	BENCH_FAILOVER_KILLS=20   kills
 *	BENCH_FAILOVER_EVERY_MS=1000
 *	                          one run every this many ms
 *	BENCH_FAILOVER_POD_MS=300 how long each stage's pod runs in the fake
 *	BENCH_FAILOVER_KEEP=DIR   copy both replicas' logs to DIR
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "store/db.h"
#include "store/store_run.h"
#include "bench_util.h"
#include "bench_serve.h"

#define PROG		"bench_failover"
#define NS		"bench-failover"
#define MAX_KILLS	1000

static const char yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: failover}\n"
    "spec:\n"
    "  concurrency: 0\n"
    "  checkout: false\n"
    "  defaults: {image: \"registry.example.com/ml/train:1.0\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n";

struct replica {
	char	 name[8];	/* "a", "b": its token is "replica-NAME" */
	char	 config[480];
	char	 log[480];
	int	 port;
	pid_t	 pid;
	long	 off;		/* of its log, read so far */
	int	 nactive;	/* "engine active" lines so far */
	int	 nstandby;	/* "engine standby" lines so far */
	double	 t_active;	/* the time of the last "engine active" */
};

/* The stream of runs, on its own thread and connection. */
struct stream {
	const char	*url;
	int64_t		 version;
	int		 every_ms;
	volatile int	 stop;
	int		 created;
	int64_t		 first, last;	/* run ids */
};

static void
write_config(struct replica *r, const char *dir, const char *fakedir)
{
	FILE *fp;

	if (snprintf(r->config, sizeof(r->config), "%s/sluice-%s.yaml", dir,
	    r->name) >= (int)sizeof(r->config) || snprintf(r->log,
	    sizeof(r->log), "%s/serve-%s.log", dir, r->name) >=
	    (int)sizeof(r->log))
		bench_fail("%s: path too long", dir);
	bench_sh("sed 's/token: test-token/token: replica-%s/' "
	    "'%s/kubeconfig' >'%s/kubeconfig-%s'", r->name, fakedir, dir,
	    r->name);
	if ((fp = fopen(r->config, "w")) == NULL)
		bench_fail("cannot write %s", r->config);
	fprintf(fp, "listen: 127.0.0.1:%d\n"
	    "state_dir: %s/state-%s\n"
	    "log_level: info\n"
	    "executor: kubernetes\n"
	    "kubernetes:\n"
	    "  kubeconfig: %s/kubeconfig-%s\n"
	    "  namespace: " NS "\n"
	    "repositories:\n"
	    "  - name: failover\n"
	    "    url: file://%s/repo.git\n"
	    "    branches: [main]\n"
	    "    path: pipelines\n"
	    "    interval: 1h\n", r->port, dir, r->name, dir, r->name, dir);
	if (fclose(fp) != 0)
		bench_fail("cannot write %s", r->config);
}

/* The time of a log line ("ts=2026-12-07T22:21:06.737Z ..."), or 0. */
static double
line_time(const char *line)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (strncmp(line, "ts=", 3) != 0 ||
	    (p = strptime(line + 3, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return (double)timegm(&tm) + (*p == '.' ? strtod(p, NULL) : 0);
}

/* Read what r's log gained since the last call: count the engine lines. */
static void
scan_log(struct replica *r)
{
	char line[8192];
	FILE *fp = fopen(r->log, "r");

	if (fp == NULL)
		return;
	if (fseek(fp, r->off, SEEK_SET) == 0) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			size_t n = strlen(line);

			if (n > 0 && line[n - 1] != '\n' && !feof(fp))
				continue;	/* a very long line: skip it */
			if (n > 0 && line[n - 1] != '\n')
				break;		/* not complete yet */
			r->off += (long)n;
			if (strstr(line, "msg=\"engine active\"") != NULL) {
				r->nactive++;
				r->t_active = line_time(line);
			} else if (strstr(line, "msg=\"engine standby\"") !=
			    NULL) {
				r->nstandby++;
			}
		}
	}
	fclose(fp);
}

/* Wait until *count (updated by scan_log) exceeds n (at most 120 s). */
static void
wait_log(struct replica *r, const int *count, int n, const char *what)
{
	for (int i = 0; i < 24000; i++) {
		scan_log(r);
		if (*count > n)
			return;
		bench_sleep_ms(5);
	}
	bench_fail("replica %s: no new \"%s\" after 120 s (see %s)", r->name,
	    what, r->log);
}

static void *
stream_main(void *arg)
{
	struct stream *s = arg;
	struct db *db = NULL;
	struct err err;

	if (db_open(&db, s->url, &err) < 0)
		bench_die(PROG, "stream database", &err);
	while (!s->stop) {
		struct run_new rn = { .version_id = s->version,
		    .branch = "main", .trigger = "api",
		    .created_by = "bench" };
		int64_t id;
		int created;

		if (store_run_create(db, &rn, &id, &created, &err) < 0)
			bench_die(PROG, "run", &err);
		if (s->created++ == 0)
			s->first = id;
		s->last = id;
		bench_sleep_ms(s->every_ms);
	}
	db_free(db);
	return NULL;
}

static void
start_replica(struct replica *r, const char *bin)
{
	r->pid = bench_serve_start(bin, r->config, r->log);
	bench_serve_wait_ready(r->port);
}

/* The integer sql answers for the run ids a ($1) to b ($2). */
static int64_t
count_runs(struct db *db, const char *sql, int64_t a, int64_t b)
{
	struct db_args args;
	struct err err;
	int64_t v;

	db_args_init(&args);
	db_args_int64(&args, a);
	db_args_int64(&args, b);
	if (db_exec_int64(db, sql, &args, &v, &err) < 0)
		bench_die(PROG, sql, &err);
	return v;
}

int
main(void)
{
	const char *url = getenv("SLUICE_BENCH_DB_URL");
	const char *bin = getenv("SLUICE_BIN");
	const char *top = getenv("SLUICE_TOP");
	const char *keep = getenv("BENCH_FAILOVER_KEEP");
	int nkill = bench_env_int("BENCH_FAILOVER_KILLS", 20, MAX_KILLS + 1);
	int pod_ms = bench_env_int("BENCH_FAILOVER_POD_MS", 300, 3600000);
	char dir[400], fakedir[420], args[256];
	struct replica rep[2];
	struct stream st;
	struct bench_fake fake;
	struct bench_job *jobs = NULL;
	struct db_res *res = NULL;
	struct db *db = NULL;
	struct err err;
	pthread_t th;
	double t_kill[MAX_KILLS + 1], t_lock[MAX_KILLS], t_job[MAX_KILLS];
	double take[MAX_KILLS], lock[MAX_KILLS], *base = NULL;
	double load0, load1;
	size_t njobs, nbase = 0;
	int active, bad = 0;
	int64_t runs, ok, dup, lost, orphans, missing, creates, nattempts;

	memset(&st, 0, sizeof(st));
	st.every_ms = bench_env_int("BENCH_FAILOVER_EVERY_MS", 1000, 600000);
	bench_serve_init(PROG, "failover", dir, sizeof(dir));

	fprintf(stderr, PROG ": starting the fake API server and replica "
	    "a...\n");
	(void)snprintf(fakedir, sizeof(fakedir), "%s/kube", dir);
	(void)snprintf(args, sizeof(args), "--duration-ms %d --pod-start-ms 0 "
	    "--tick-ms 5 --nodes 1 --token replica-a --token replica-b",
	    pod_ms);
	bench_fake_start(&fake, top, fakedir, args);
	bench_git_repo(dir, "failover", yaml);
	memset(rep, 0, sizeof(rep));
	for (int i = 0; i < 2; i++) {
		(void)snprintf(rep[i].name, sizeof(rep[i].name), "%c",
		    'a' + i);
		rep[i].port = bench_free_port();
		write_config(&rep[i], dir, fakedir);
	}
	if (setenv("SLUICE_DATABASE_URL", url, 1) < 0)
		bench_fail("setenv failed");
	unsetenv("KUBECONFIG");
	if (db_open(&db, url, &err) < 0)
		bench_die(PROG, "database", &err);
	start_replica(&rep[0], bin);
	wait_log(&rep[0], &rep[0].nactive, 0, "engine active");
	for (int i = 0; (st.version = bench_one_int(PROG, db, "SELECT "
	    "coalesce(max(id), 0) FROM pipeline_versions WHERE valid")) == 0;
	    i++) {
		if (i > 12000)
			bench_fail("the pipeline was never read (see %s)",
			    rep[0].log);
		bench_sleep_ms(10);
	}
	start_replica(&rep[1], bin);
	wait_log(&rep[1], &rep[1].nstandby, 0, "engine standby");
	active = 0;

	fprintf(stderr, PROG ": a run every %d ms; %d kills...\n",
	    st.every_ms, nkill);
	st.url = url;
	if (pthread_create(&th, NULL, stream_main, &st) != 0)
		bench_fail("cannot start the stream");
	load0 = bench_loadavg();
	bench_sleep_ms(3000);
	for (int k = 0; k < nkill; k++) {
		struct replica *dead = &rep[active], *next = &rep[!active];
		int had, standby;

		scan_log(next);
		scan_log(dead);
		had = next->nactive;
		standby = dead->nstandby;

		t_kill[k] = bench_wall();
		bench_serve_kill(dead->pid, SIGKILL);
		wait_log(next, &next->nactive, had, "engine active");
		t_lock[k] = next->t_active;
		start_replica(dead, bin);
		wait_log(dead, &dead->nstandby, standby, "engine standby");
		active = !active;
		fprintf(stderr, PROG ": kill %d: replica %s took over\n", k + 1,
		    next->name);
		/* the stream runs on, then the next kill */
		bench_sleep_ms(2000);
	}
	t_kill[nkill] = bench_wall() + 1e9;
	load1 = bench_loadavg();
	st.stop = 1;
	pthread_join(th, NULL);
	fprintf(stderr, PROG ": %d runs made; waiting for them to end...\n",
	    st.created);
	for (int i = 0; count_runs(db, "SELECT count(*) FROM runs WHERE id "
	    "BETWEEN $1 AND $2 AND status IN ('queued', 'running', "
	    "'waiting_approval')", st.first, st.last) > 0; i++) {
		if (i > 24000)
			bench_fail("runs still going after 240 s");
		bench_sleep_ms(10);
	}

	/* takeover: kill -> the new active replica's first Job POST */
	njobs = bench_fake_jobs(&fake, &jobs);
	active = 0;
	for (int k = 0; k < nkill; k++) {
		char token[32];
		double first = 0;

		active = !active;
		(void)snprintf(token, sizeof(token), "replica-%c", 'a' + active);
		for (size_t j = 0; j < njobs; j++)
			if (strcmp(jobs[j].token, token) == 0 &&
			    jobs[j].posted > t_kill[k] &&
			    (first == 0 || jobs[j].posted < first))
				first = jobs[j].posted;
		if (first == 0 || first > t_kill[k + 1])
			bench_fail("kill %d: replica %c created no Job before "
			    "the next kill", k + 1, 'a' + active);
		t_job[k] = first;
		take[k] = (first - t_kill[k]) * 1e3;
		lock[k] = (t_lock[k] - t_kill[k]) * 1e3;
	}

	/* the baseline: created -> first Job POST, for runs far from kills */
	if (db_exec(db, "SELECT 'sluice-' || r.id || '-a-1', extract(epoch "
	    "FROM r.created_at) FROM runs r ORDER BY r.id", NULL, &res,
	    &err) < 0)
		bench_die(PROG, "runs", &err);
	base = calloc(db_res_rows(res) + 1, sizeof(*base));
	for (size_t i = 0; i < db_res_rows(res); i++) {
		const struct bench_job *j = bench_job_find(jobs, njobs,
		    db_res_text(res, i, 0));
		double c = strtod(db_res_text(res, i, 1), NULL);
		int near = 0;

		for (int k = 0; k < nkill && !near; k++)
			near = (c > t_kill[k] - 1.0 && c < t_job[k] + 2.0);
		if (j != NULL && !near && c > t_kill[0] - 3.0)
			base[nbase++] = (j->posted - c) * 1e3;
	}
	db_res_free(res);

	/* nothing lost, nothing twice */
	runs = count_runs(db, "SELECT count(*) FROM runs WHERE id BETWEEN "
	    "$1 AND $2", st.first, st.last);
	ok = count_runs(db, "SELECT count(*) FROM runs WHERE id BETWEEN $1 "
	    "AND $2 AND status = 'succeeded'", st.first, st.last);
	dup = count_runs(db, "SELECT count(*) FROM stages s WHERE s.run_id "
	    "BETWEEN $1 AND $2 AND (SELECT count(*) FROM stage_attempts a "
	    "WHERE a.stage_id = s.id) > 1", st.first, st.last);
	lost = count_runs(db, "SELECT count(*) FROM stages s WHERE s.run_id "
	    "BETWEEN $1 AND $2 AND NOT EXISTS (SELECT 1 FROM "
	    "stage_attempts a WHERE a.stage_id = s.id)", st.first, st.last);
	nattempts = bench_one_int(PROG, db, "SELECT count(*) FROM "
	    "stage_attempts");
	if (db_exec(db, "SELECT job_name FROM stage_attempts", NULL, &res,
	    &err) < 0)
		bench_die(PROG, "attempts", &err);
	missing = 0;
	for (size_t i = 0; i < db_res_rows(res); i++)
		if (bench_job_find(jobs, njobs, db_res_text(res, i, 0)) == NULL)
			missing++;
	db_res_free(res);
	orphans = (int64_t)njobs - (nattempts - missing);
	{
		json_t *stats = bench_fake_get(&fake, "/_fake/stats");

		creates = (int64_t)json_integer_value(json_object_get(
		    json_object_get(stats, "requests"), "create jobs"));
		json_decref(stats);
	}

	printf(PROG ": %d kill -9 of the active replica of two (`sluice serve`, "
	    "Kubernetes executor, fake API server), a run of a 2-stage "
	    "pipeline every %d ms (pods run %d ms)\n", nkill, st.every_ms,
	    pod_ms);
	printf("  kill -> the new active replica's first Job POST:  p50 %.0f "
	    "ms  max %.0f ms\n", bench_quantile(take, (size_t)nkill, 0.5),
	    bench_quantile(take, (size_t)nkill, 1.0));
	printf("  kill -> it holds the engine lock (\"engine active\"):  p50 "
	    "%.0f ms  max %.0f ms\n", bench_quantile(lock, (size_t)nkill, 0.5),
	    bench_quantile(lock, (size_t)nkill, 1.0));
	printf("  baseline: run created -> its first Job POST, away from the "
	    "kills:  p50 %.0f ms  p99 %.0f ms  (%zu runs)\n",
	    bench_quantile(base, nbase, 0.5), bench_quantile(base, nbase, 0.99),
	    nbase);
	printf("  runs: %lld made, %lld succeeded; stages with 2+ attempts "
	    "(duplicates): %lld; stages with none (lost): %lld\n",
	    (long long)runs, (long long)ok, (long long)dup, (long long)lost);
	printf("  fake: %zu Jobs for %lld attempts; attempts without a Job: "
	    "%lld; Jobs without an attempt: %lld; creates refused as existing: "
	    "%lld\n", njobs, (long long)nattempts, (long long)missing,
	    (long long)orphans, (long long)(creates - (int64_t)njobs));
	printf("  target: takeover p50 <= 3000 ms %s; machine load average "
	    "%.1f at the start, %.1f at the end (%ld cores)\n",
	    bench_quantile(take, (size_t)nkill, 0.5) <= 3000 ? "met" : "MISSED",
	    load0, load1, sysconf(_SC_NPROCESSORS_ONLN));
	bad = ok != runs || dup != 0 || lost != 0 || missing != 0 ||
	    orphans != 0;
	if (bad)
		printf("  FAILED: a run was lost or an attempt duplicated\n");

	for (int i = 0; i < 2; i++)
		bench_serve_kill(rep[i].pid, SIGTERM);
	bench_fake_stop(&fake);
	if (keep != NULL)
		bench_sh("cp '%s' '%s' '%s'", rep[0].log, rep[1].log, keep);
	db_free(db);
	free(jobs);
	free(base);
	curl_global_cleanup();
	bench_sh("rm -rf '%s'", dir);
	return bad;
}
