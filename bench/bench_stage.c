/*
 * bench_stage.c - stage exit to next stage start through the whole engine
 * and the local executor (real supervisor processes, bin/sluice): N runs
 * (default 20) of a 3-stage pipeline (a -> b -> c, each `true`), one run
 * at a time (concurrency 1), the engine on its own thread as in `sluice
 * serve`.  A boundary is the time from an attempt's end (finished_at, as
 * its supervisor recorded it) to the next stage's attempt row being
 * written (created_at), read back from PostgreSQL: the engine's share of
 * a stage boundary.
 *
 * Baseline, in the same run: the same N runs with the same executor, but
 * without its wake (set_wake hidden), so the engine finds the end by its
 * status poll, every poll_ms (1 s) — how the engine worked before it was
 * woken by the executor.  Printed: p50 and p99 of both, and the ratio.
 *
 *	SLUICE_BENCH_DB_URL=...  conninfo of a migrated, empty database
 *	SLUICE_BIN=bin/sluice    the supervisor program
 *	BENCH_STAGE_RUNS=20      runs per phase
 *
 * `make bench` (scripts/bench.sh) sets all three.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cfg.h"
#include "base/log.h"
#include "engine/engine.h"
#include "exec/exec_local.h"
#include "exec/executor.h"
#include "store/db.h"
#include "store/store_run.h"
#include "bench_util.h"

static const char yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: stages}\n"
    "spec:\n"
    "  concurrency: 1\n"
    "  checkout: false\n"
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n"
    "    - {name: c, needs: [b], command: [\"true\"]}\n";

#define PROG	"bench_stage"

struct phase {
	int64_t	first, last;	/* run ids */
	int64_t	p50, p99, n;	/* boundaries, ms */
	double	seconds;
};

/* Queue n runs, run the engine until they ended, read the boundaries. */
static void
run_phase(struct db *db, const struct cfg *cfg, struct executor ex,
    int64_t vid, int n, struct phase *out)
{
	struct engine *e = NULL;
	struct err err;
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	char sql[1024];
	double t0, t1;

	for (int i = 0; i < n; i++) {
		struct run_new rn = { .version_id = vid, .branch = "main",
		    .trigger = "api", .created_by = "bench" };
		int64_t id;
		int created;

		if (store_run_create(db, &rn, &id, &created, &err) < 0)
			bench_die(PROG, "run", &err);
		if (i == 0)
			out->first = id;
		out->last = id;
	}
	if (engine_new(&e, cfg, ex, &err) < 0)
		bench_die(PROG, "engine", &err);
	t0 = bench_now_s();
	if (engine_start(e, &err) < 0)
		bench_die(PROG, "engine start", &err);
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE id "
	    "BETWEEN %lld AND %lld AND status IN ('queued', 'running', "
	    "'waiting_approval')", (long long)out->first,
	    (long long)out->last);
	while (bench_one_int(PROG, db, sql) > 0)
		nanosleep(&nap, NULL);
	t1 = bench_now_s();
	engine_free(e);
	out->seconds = t1 - t0;
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE id "
	    "BETWEEN %lld AND %lld AND status <> 'succeeded'",
	    (long long)out->first, (long long)out->last);
	if (bench_one_int(PROG, db, sql) != 0) {
		fprintf(stderr, "bench_stage: not every run succeeded\n");
		exit(1);
	}
#define BOUNDARIES							\
	"FROM stages ps JOIN stage_attempts p ON p.stage_id = ps.id"	\
	" JOIN stages ns ON ns.run_id = ps.run_id"			\
	"  AND ns.position = ps.position + 1"				\
	" JOIN stage_attempts n ON n.stage_id = ns.id"			\
	" WHERE ps.run_id BETWEEN %lld AND %lld"
#define MS "(extract(epoch FROM n.created_at - p.finished_at) * 1000)"
	(void)snprintf(sql, sizeof(sql), "SELECT percentile_disc(0.5) WITHIN "
	    "GROUP (ORDER BY " MS ")::bigint " BOUNDARIES,
	    (long long)out->first, (long long)out->last);
	out->p50 = bench_one_int(PROG, db, sql);
	(void)snprintf(sql, sizeof(sql), "SELECT percentile_disc(0.99) WITHIN "
	    "GROUP (ORDER BY " MS ")::bigint " BOUNDARIES,
	    (long long)out->first, (long long)out->last);
	out->p99 = bench_one_int(PROG, db, sql);
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) " BOUNDARIES,
	    (long long)out->first, (long long)out->last);
	out->n = bench_one_int(PROG, db, sql);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

int
main(void)
{
	const char *url = getenv("SLUICE_BENCH_DB_URL");
	const char *bin = getenv("SLUICE_BIN");
	int nruns = bench_env_int("BENCH_STAGE_RUNS", 20, 100000);
	char dburl[4200], state[600], tmpl[] = "/tmp/sluice-bench.XXXXXX";
	char *envp[4];
	struct executor_ops polled;
	struct exec_local_opts lo;
	struct executor ex, ex_polled;
	struct phase before, after;
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct err err;
	int64_t vid;

	if (url == NULL || *url == '\0' || bin == NULL || *bin == '\0') {
		fprintf(stderr, "bench_stage: set SLUICE_BENCH_DB_URL and "
		    "SLUICE_BIN (make bench does)\n");
		return 2;
	}
	log_setup(LOG_WARN, LOG_TEXT, stderr);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s", url);
	(void)snprintf(state, sizeof(state), "SLUICE_STATE_DIR=%s", tmpl);
	envp[0] = dburl;
	envp[1] = state;
	envp[2] = NULL;
	if (cfg_load(&cfg, NULL, envp, NULL, 0, &err) < 0)
		bench_die(PROG, "config", &err);
	if (db_open(&db, url, &err) < 0)
		bench_die(PROG, "database", &err);
	memset(&lo, 0, sizeof(lo));
	lo.state_dir = cfg->state_dir;
	lo.program = bin;
	if (exec_local_new_opts(&ex, &lo, &err) < 0)
		bench_die(PROG, "local executor", &err);
	/* the baseline: the same executor, its wake hidden from the engine */
	polled = *ex.ops;
	polled.set_wake = NULL;
	ex_polled.ops = &polled;
	ex_polled.impl = ex.impl;
	vid = bench_make_version(PROG, db, "stages", yaml);
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	run_phase(db, cfg, ex_polled, vid, nruns, &before);
	run_phase(db, cfg, ex, vid, nruns, &after);
	printf("bench_stage: %d runs of a 3-stage pipeline (a -> b -> c, each "
	    "`true`) on the local executor, one run at a time\n", nruns);
	printf("  woken:     stage end -> next stage's attempt written: "
	    "p50 %lld ms, p99 %lld ms (%lld boundaries, %.1f s)\n",
	    (long long)after.p50, (long long)after.p99, (long long)after.n,
	    after.seconds);
	printf("  baseline:  the same, polled every second: p50 %lld ms, "
	    "p99 %lld ms (%lld boundaries, %.1f s)\n", (long long)before.p50,
	    (long long)before.p99, (long long)before.n, before.seconds);
	printf("  ratio:     woken p50 / polled p50 = %.3f\n",
	    before.p50 > 0 ? (double)after.p50 / (double)before.p50 : 0.0);
	ex.ops->free(ex.impl);
	db_free(db);
	cfg_free(cfg);
	(void)nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
