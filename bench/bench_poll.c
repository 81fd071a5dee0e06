/*
 * bench_poll.c - the poller against the git CLI, measured in the same run.
 *
 * 1. N (200) unchanged repositories served over file://: one full poll
 *    cycle (every repository polled once, through the worker pool the
 *    daemon uses) — wall and CPU time — next to N `git fetch` runs of the
 *    git CLI against the same remotes from already-up-to-date clones, run
 *    with the same parallelism.  Ratio printed (lower is better for us).
 * 2. The time from a `git push` to the queued run with a 1 s interval,
 *    over several pushes (median and max).
 *
 * Needs SLUICE_BENCH_PG_URL (scripts/bench.sh starts a PostgreSQL).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "git/poller.h"
#include "store/db.h"
#include "bench_util.h"

#define NREPOS	200
#define WORKERS	4
#define PUSHES	10

static char tmp[512];

/* CPU seconds of this process and its waited-for children. */
static double
cpu_s(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
	    kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
	    (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
	    kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
}

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_poll: failed: %s\n", cmd);
		exit(1);
	}
}

static struct db *
open_db(const char *url)
{
	struct db *db = NULL;
	struct err err;

	if (db_open(&db, url, &err) < 0) {
		fprintf(stderr, "bench_poll: %s\n", err.msg);
		exit(1);
	}
	return db;
}

static int64_t
count_runs(struct db *db)
{
	struct db_res *res = NULL;
	struct err err;
	int64_t n = -1;

	if (db_exec(db, "SELECT count(*) FROM runs", NULL, &res, &err) == 0 &&
	    db_res_int64(res, 0, 0, &n, &err) == 0) {
		db_res_free(res);
		return n;
	}
	db_res_free(res);
	return -1;
}

/* Poll every repository once with WORKERS threads of poller_poll_now. */
struct cycle_arg {
	const struct cfg	*cfg;
	const char		*url;
	int			 first, step;
};

#include <pthread.h>

static void *
cycle_worker(void *p)
{
	struct cycle_arg *a = p;
	struct db *db = open_db(a->url);

	for (int i = a->first; i < NREPOS; i += a->step) {
		char name[32];
		struct err err;

		(void)snprintf(name, sizeof(name), "r%03d", i);
		if (poller_poll_now(a->cfg, db, name, &err) < 0)
			fprintf(stderr, "bench_poll: %s: %s\n", name, err.msg);
	}
	db_free(db);
	return NULL;
}

static void
poll_cycle(const struct cfg *cfg, const char *url)
{
	pthread_t t[WORKERS];
	struct cycle_arg a[WORKERS];

	for (int i = 0; i < WORKERS; i++) {
		a[i].cfg = cfg;
		a[i].url = url;
		a[i].first = i;
		a[i].step = WORKERS;
		pthread_create(&t[i], NULL, cycle_worker, &a[i]);
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(void)
{
	const char *pg = getenv("SLUICE_BENCH_PG_URL");
	const char *base = getenv("SLUICE_BENCH_TMP");
	char dburl[1024], envdb[1100], envstate[700], *envp[5];
	struct buf repos;
	struct cfg *cfg = NULL;
	struct poller *p = NULL;
	struct db *admin, *db;
	struct err err;
	double w0, c0, ours_wall, ours_cpu, git_wall, git_cpu;
	double lat[PUSHES];

	if (pg == NULL) {
		fprintf(stderr, "bench_poll: SLUICE_BENCH_PG_URL is not set "
		    "(run it with make bench)\n");
		return 1;
	}
	(void)snprintf(tmp, sizeof(tmp), "%s/poll.XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmp) == NULL)
		return 1;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", tmp, 1);

	/* a database with the schema */
	admin = open_db(pg);
	if (db_exec(admin, "DROP DATABASE IF EXISTS sluice_bench_poll", NULL,
	    NULL, &err) < 0 || db_exec(admin, "CREATE DATABASE sluice_bench_poll",
	    NULL, NULL, &err) < 0) {
		fprintf(stderr, "bench_poll: %s\n", err.msg);
		return 1;
	}
	(void)snprintf(dburl, sizeof(dburl), "%.900s", pg);
	{
		char *d = strstr(dburl, "dbname=postgres");
		if (d != NULL)
			memcpy(d, "dbname=sluice_bench_poll", 24), d[24] = '\0';
	}
	sh("SLUICE_DATABASE_URL='%s' SLUICE_MIGRATIONS_DIR=%s/migrations "
	    "%s migrate >/dev/null 2>&1", dburl, getenv("SLUICE_TOP"),
	    getenv("SLUICE_BIN"));

	/* N remotes, each with a pipeline, and an up-to-date clone each */
	fprintf(stderr, "bench_poll: creating %d repositories...\n", NREPOS);
	sh("cd %s && git -c init.defaultBranch=main init -q seed && cd seed && "
	    "mkdir pipelines && cp %s/pipelines/demo.yaml pipelines/ && "
	    "cp -R %s/pipelines/demo pipelines/ && git add -A && "
	    "git -c user.name=b -c user.email=b@b commit -qm seed",
	    tmp, getenv("SLUICE_TOP"), getenv("SLUICE_TOP"));
	sh("cd %s && for i in $(seq -f %%03g 0 %d); do "
	    "git clone -q --bare seed r$i.git && "
	    "git clone -q r$i.git c$i 2>/dev/null; done", tmp, NREPOS - 1);
	buf_init(&repos, 1 << 20);
	if (buf_puts(&repos, "SLUICE_REPOSITORIES=[") < 0)
		return 1;
	for (int i = 0; i < NREPOS; i++)
		if (buf_printf(&repos, "%s{name: r%03d, url: \"file://%s/r%03d"
		    ".git\", interval: 1s}", i ? "," : "", i, tmp, i) < 0)
			return 1;
	if (buf_puts(&repos, "]") < 0)
		return 1;
	(void)snprintf(envdb, sizeof(envdb), "SLUICE_DATABASE_URL=%s", dburl);
	(void)snprintf(envstate, sizeof(envstate), "SLUICE_STATE_DIR=%s/state",
	    tmp);
	envp[0] = envdb;
	envp[1] = envstate;
	envp[2] = repos.data;
	envp[3] = (char *)"SLUICE_POLL_WORKERS=4";
	envp[4] = NULL;
	if (cfg_load(&cfg, NULL, envp, NULL, 0, &err) < 0) {
		fprintf(stderr, "bench_poll: %s\n", err.msg);
		return 1;
	}
	/* register the repositories, then a first (cold) cycle */
	if (poller_start(&p, cfg, &err) < 0) {
		fprintf(stderr, "bench_poll: %s\n", err.msg);
		return 1;
	}
	poller_stop(p);
	p = NULL;
	poll_cycle(cfg, dburl);

	/* 1. unchanged: our cycle vs git fetch, same parallelism */
	w0 = bench_now_s();
	c0 = cpu_s();
	poll_cycle(cfg, dburl);
	ours_wall = bench_now_s() - w0;
	ours_cpu = cpu_s() - c0;
	w0 = bench_now_s();
	c0 = cpu_s();
	sh("cd %s && seq -f %%03g 0 %d | xargs -P %d -I{} "
	    "git -C c{} fetch -q origin", tmp, NREPOS - 1, WORKERS);
	git_wall = bench_now_s() - w0;
	git_cpu = cpu_s() - c0;
	printf("poll cycle, %d unchanged repositories, %d workers:\n", NREPOS,
	    WORKERS);
	printf("  sluice poll:  wall %.3f s  cpu %.3f s\n", ours_wall, ours_cpu);
	printf("  git fetch:    wall %.3f s  cpu %.3f s\n", git_wall, git_cpu);
	printf("  ratio sluice/git: wall %.2f  cpu %.2f\n",
	    ours_wall / git_wall, ours_cpu / git_cpu);

	/* 2. push to queued run, 1 s interval, the daemon's poller */
	db = open_db(dburl);
	if (poller_start(&p, cfg, &err) < 0) {
		fprintf(stderr, "bench_poll: %s\n", err.msg);
		return 1;
	}
	for (int k = 0; k < PUSHES; k++) {
		int64_t before = count_runs(db);
		double t0;

		sh("cd %s/c000 && echo %d >> pipelines/demo/NOTES.md && "
		    "git add -A && git -c user.name=b -c user.email=b@b commit "
		    "-qm push%d && git push -q origin HEAD:main", tmp, k, k);
		t0 = bench_now_s();
		while (count_runs(db) == before && bench_now_s() - t0 < 30) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		lat[k] = bench_now_s() - t0;
	}
	poller_stop(p);
	qsort(lat, PUSHES, sizeof(lat[0]), cmp_double);
	printf("push to queued run (interval 1 s, %d repositories polled):\n",
	    NREPOS);
	printf("  median %.3f s  max %.3f s  (interval 1 s; ratio median/"
	    "interval %.2f)\n", lat[PUSHES / 2], lat[PUSHES - 1],
	    lat[PUSHES / 2] / 1.0);

	db_free(db);
	cfg_free(cfg);
	buf_release(&repos);
	if (db_exec(admin, "DROP DATABASE IF EXISTS sluice_bench_poll WITH "
	    "(FORCE)", NULL, NULL, &err) < 0)
		fprintf(stderr, "bench_poll: %s\n", err.msg);
	db_free(admin);
	sh("rm -rf %s", tmp);
	return 0;
}
