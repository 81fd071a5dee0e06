/*
 * bench_engine.c - the run engine's throughput: N runs (default 2000) of
 * a 3-stage pipeline (a -> b -> c) through an executor whose attempts
 * succeed at once, driven by engine_tick() in one thread.  Prints runs per
 * second, database statements per run and the process's peak RSS, next to
 * a baseline measured in the same process: as many bare INSERT/UPDATE
 * round trips to PostgreSQL (libpq, one statement each) as the engine
 * made.  The ratio says what the engine costs beyond its round trips.
 *
 *	SLUICE_BENCH_DB_URL=...  conninfo of a migrated, empty database
 *	BENCH_RUNS=2000          runs
 *	BENCH_PARALLEL=64        max_parallel_stages
 *
 * `make bench` (scripts/bench.sh) starts a throwaway PostgreSQL for it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/cfg.h"
#include "base/log.h"
#include "engine/engine.h"
#include "exec/executor.h"
#include "store/db.h"
#include "store/store_run.h"
#include "bench_util.h"

static const char yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: bench}\n"
    "spec:\n"
    "  concurrency: 0\n"
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: a, command: [\"true\"]}\n"
    "    - {name: b, needs: [a], command: [\"true\"]}\n"
    "    - {name: c, needs: [b], command: [\"true\"]}\n";

/* --- an executor whose attempts succeed at once -------------------------- */

struct instant {
	int64_t	submits;
};

static int
in_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct instant *x = impl;

	(void)a;
	(void)err;
	x->submits++;
	return 0;
}

static int
in_status(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	(void)impl;
	(void)name;
	(void)err;
	memset(out, 0, sizeof(*out));
	out->state = EXEC_SUCCEEDED;
	out->exit_code = 0;
	return 0;
}

static int
in_noop(void *impl, const char *name, struct err *err)
{
	(void)impl;
	(void)name;
	(void)err;
	return 0;
}

static void
in_free(void *impl)
{
	(void)impl;
}

static const struct executor_ops instant_ops = {
	.name = "instant",
	.submit = in_submit,
	.status = in_status,
	.logs = bench_logs_none,
	.cancel = in_noop,
	.release = in_noop,
	.free = in_free,
};

/* --- helpers ----------------------------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define PROG	"bench_engine"

/*
 * n bare round trips: INSERT and UPDATE in turn, one statement (and so one
 * transaction) each, on an ordinary table like the engine's.
 */
static double
baseline(struct db *db, int64_t n)
{
	struct db_args a;
	struct err err;
	double t0;

	if (db_exec(db, "CREATE TABLE bench_rt (id bigint PRIMARY KEY, "
	    "v bigint NOT NULL, t text)", NULL, NULL, &err) < 0)
		bench_die(PROG, "baseline table", &err);
	t0 = now_s();
	for (int64_t i = 0; i < n; i++) {
		db_args_init(&a);
		db_args_int64(&a, i / 2);
		if (i % 2 == 0) {
			db_args_str(&a, "queued");
			if (db_exec(db, "INSERT INTO bench_rt (id, v, t) VALUES "
			    "($1, 0, $2)", &a, NULL, &err) < 0)
				bench_die(PROG, "baseline insert", &err);
		} else if (db_exec(db, "UPDATE bench_rt SET v = v + 1, t = "
		    "'running' WHERE id = $1", &a, NULL, &err) < 0) {
			bench_die(PROG, "baseline update", &err);
		}
	}
	return now_s() - t0;
}

int
main(void)
{
	const char *url = getenv("SLUICE_BENCH_DB_URL");
	int nruns = bench_env_int("BENCH_RUNS", 2000, 10000000);
	int parallel = bench_env_int("BENCH_PARALLEL", 64, 10000000);
	char dburl[4200], state[600], par[64], tmpl[] = "/tmp/sluice-bench.XXXXXX";
	char *envp[5];
	struct instant inst = { 0 };
	struct executor ex = { &instant_ops, &inst };
	struct engine_stats st;
	struct engine *e = NULL;
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct rusage ru;
	struct err err;
	double t0, t_engine, t_base;
	int64_t vid, passes = 0;

	if (url == NULL || *url == '\0') {
		fprintf(stderr, "bench_engine: set SLUICE_BENCH_DB_URL to a "
		    "migrated, empty database (make bench does)\n");
		return 2;
	}
	log_setup(LOG_WARN, LOG_TEXT, stderr);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s", url);
	(void)snprintf(state, sizeof(state), "SLUICE_STATE_DIR=%s", tmpl);
	(void)snprintf(par, sizeof(par), "SLUICE_MAX_PARALLEL_STAGES=%d",
	    parallel);
	envp[0] = dburl;
	envp[1] = state;
	envp[2] = par;
	envp[3] = NULL;
	if (cfg_load(&cfg, NULL, envp, NULL, 0, &err) < 0)
		bench_die(PROG, "config", &err);
	if (db_open(&db, url, &err) < 0)
		bench_die(PROG, "database", &err);
	vid = bench_make_version(PROG, db, "bench", yaml);
	for (int i = 0; i < nruns; i++) {
		struct run_new rn = { .version_id = vid, .branch = "main",
		    .trigger = "api", .created_by = "bench" };
		int64_t id;
		int created;

		if (store_run_create(db, &rn, &id, &created, &err) < 0)
			bench_die(PROG, "run", &err);
	}
	if (engine_new(&e, cfg, ex, &err) < 0)
		bench_die(PROG, "engine", &err);
	t0 = now_s();
	for (;;) {
		if (engine_tick(e, &err) < 0)
			bench_die(PROG, "tick", &err);
		passes++;
		if (passes % 8 == 0 && bench_one_int(PROG, db, "SELECT "
		    "count(*) FROM runs WHERE status IN ('queued', 'running', "
		    "'waiting_approval')") == 0)
			break;
	}
	t_engine = now_s() - t0;
	engine_stats(e, &st);
	if (bench_one_int(PROG, db, "SELECT count(*) FROM runs WHERE status = "
	    "'succeeded'") != nruns) {
		fprintf(stderr, "bench_engine: not every run succeeded\n");
		return 1;
	}
	t_base = baseline(db, st.statements);
	getrusage(RUSAGE_SELF, &ru);
	printf("bench_engine: %d runs of a 3-stage pipeline, instant executor, "
	    "max_parallel_stages %d\n", nruns, parallel);
	printf("  engine:    %.2f s, %.0f runs/s, %lld passes, %lld statements "
	    "(%.1f per run), %lld submits\n", t_engine, nruns / t_engine,
	    (long long)st.passes, (long long)st.statements,
	    (double)st.statements / nruns, (long long)inst.submits);
	printf("  baseline:  %lld bare INSERT/UPDATE round trips in %.2f s "
	    "(%.0f per s)\n", (long long)st.statements, t_base,
	    st.statements / t_base);
	printf("  ratio:     engine time / baseline time = %.2f\n",
	    t_engine / t_base);
	printf("  peak RSS:  %ld KiB\n", ru.ru_maxrss);
	engine_free(e);
	db_free(db);
	cfg_free(cfg);
	(void)rmdir(tmpl);
	return 0;
}
