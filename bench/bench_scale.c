/*
 * bench_scale.c - the whole controller at scale, in one process: the
 * poller watching BENCH_REPOS file:// repositories (interval 15 s), the
 * HTTP API, and the engine driving BENCH_RUNS active runs of a 3-stage
 * pipeline (a -> b -> c) on a fake executor whose attempts take a random
 * BENCH_STAGE_MIN_MS..BENCH_STAGE_MAX_MS each and that wakes the engine
 * when one ends (as the local and Kubernetes executors do), with
 * max_parallel_stages BENCH_PARALLEL.  Phases:
 *
 *   1. start-up: RSS of the idle controller (the baseline), then every
 *      repository polled once (time, RSS, RSS per repository);
 *   2. the runs created (queued), a token; wrk on the runs list and one
 *      run's detail while the engine is stopped: the API's baseline;
 *   3. the engine started: the ramp until max_parallel_stages attempts
 *      run (stage starts per second), then BENCH_SECONDS without API load
 *      and BENCH_SECONDS with wrk (BENCH_CONNECTIONS connections, half on
 *      the list, half on the detail) on the API.
 *
 * Printed: peak RSS (next to the idle baseline), the engine's pass time
 * p50/p99, stage starts per second, stage exit -> next stage p50/p99
 * (from the moment an attempt ended to the submit of the run's next
 * stage) without and with the API load, the API's p99 with the engine
 * working next to the idle baseline, and database statements per state
 * transition of the engine.
 *
 *	SLUICE_BENCH_DB_URL, SLUICE_BENCH_TMP   (scripts/bench.sh sets them)
 *	BENCH_REPOS=500 BENCH_RUNS=2000 BENCH_PARALLEL=500
 *	BENCH_SECONDS=5 BENCH_RAMP_SECONDS=20 BENCH_CONNECTIONS=8
 *	BENCH_STAGE_MIN_MS=1000 BENCH_STAGE_MAX_MS=5000
 *	BENCH_PIPELINES=1	(distinct pipelines the runs belong to, one
 *				 per repository, at most BENCH_REPOS)
 *
 * The defaults keep `make bench` short; the full size is
 *
 *	make bench BENCH=bench_scale BENCH_REPOS=2000 BENCH_RUNS=10000 \
 *	    BENCH_PARALLEL=2000 BENCH_SECONDS=10 BENCH_RAMP_SECONDS=60
 *
 * Needs git and wrk on PATH.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/cfg.h"
#include "base/log.h"
#include "base/role.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "exec/executor.h"
#include "git/poller.h"
#include "http/ctl.h"
#include "http/http.h"
#include "store/db.h"
#include "store/store_run.h"
#include "store/store_token.h"
#include "cmd.h"
#include "bench_util.h"

#define PROG	"bench_scale"

static const char pipeline_yaml[] =
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

enum phase { PH_SETUP, PH_RAMP, PH_QUIET, PH_LOADED, PH_DONE, PH_N };

static _Atomic int phase = PH_SETUP;

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int64_t
now_ms(void)
{
	return sys_now_ms();
}

/* --- samples ------------------------------------------------------------ */

struct samples {
	double	*v;
	size_t	 n, cap;
};

static void
sample_add(struct samples *s, double v)
{
	if (sys_grow((void **)&s->v, s->n, &s->cap, sizeof(*s->v), 0) < 0)
		abort();
	s->v[s->n++] = v;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of s (sorted in place); 0 when empty. */
static double
quantile(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

/* --- a fake executor: attempts that take a random time ------------------ */

#define NBUCKETS	16384

struct fattempt {
	struct fattempt	*next;		/* bucket chain */
	char		*name;
	int64_t		 start_wall, end_wall;	/* unix ms */
	int64_t		 end;		/* now_ms() when it ends */
	int		 canceled;
};

struct fake {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct fattempt	*buckets[NBUCKETS];
	int64_t		*heap;		/* end times (now_ms), a min-heap */
	size_t		 nheap, heapcap;
	void		(*wake)(void *);
	void		*wake_arg;
	int		 stop;
	pthread_t	 timer;
	int		 min_ms, max_ms;
	/* the previous stage's end of each run, by run id - first_run */
	int64_t		*prev_end;
	int64_t		 first_run, nruns;
	int64_t		 submits[PH_N];
	int64_t		 ramp_full_at;	/* now_ms() when the ramp filled */
	int		 parallel;
	int64_t		 running;	/* submitted, not ended */
	struct samples	 next_stage[PH_N];	/* exit -> next stage, ms */
};

static unsigned
hash_name(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NBUCKETS;
}

static struct fattempt **
find(struct fake *f, const char *name)
{
	struct fattempt **pp = &f->buckets[hash_name(name)];

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
heap_push(struct fake *f, int64_t v)
{
	size_t i;

	if (sys_grow((void **)&f->heap, f->nheap, &f->heapcap,
	    sizeof(*f->heap), 0) < 0)
		abort();
	i = f->nheap++;
	while (i > 0 && f->heap[(i - 1) / 2] > v) {
		f->heap[i] = f->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	f->heap[i] = v;
}

static void
heap_pop(struct fake *f)
{
	int64_t last = f->heap[--f->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= f->nheap)
			break;
		if (c + 1 < f->nheap && f->heap[c + 1] < f->heap[c])
			c++;
		if (f->heap[c] >= last)
			break;
		f->heap[i] = f->heap[c];
		i = c;
	}
	if (f->nheap > 0)
		f->heap[i] = last;
}

/* Wakes the engine whenever an attempt ends, as a real executor does. */
static void *
timer_main(void *arg)
{
	struct fake *f = arg;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		int64_t now = now_ms();
		int ended = 0;

		while (f->nheap > 0 && f->heap[0] <= now) {
			heap_pop(f);
			f->running--;
			ended = 1;
		}
		if (ended && f->wake != NULL)
			f->wake(f->wake_arg);
		if (f->nheap == 0) {
			pthread_cond_wait(&f->cv, &f->mu);
		} else {
			struct timespec ts = sys_deadline_in(f->heap[0] - now);

			(void)pthread_cond_timedwait(&f->cv, &f->mu, &ts);
		}
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static int
fk_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct fake *f = impl;
	struct fattempt **pp, *x;
	unsigned int r = 0;
	int64_t now = now_ms(), k;
	int ph = atomic_load(&phase);

	(void)err;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned int)now;
	pthread_mutex_lock(&f->mu);
	pp = find(f, a->name);
	if (*pp != NULL) {		/* adopt */
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	x = xcalloc(1, sizeof(*x));
	x->name = xstrdup(a->name);
	x->start_wall = sys_wall_ms();
	x->end = now + f->min_ms + (int64_t)(r % (unsigned)(f->max_ms -
	    f->min_ms + 1));
	x->end_wall = x->start_wall + (x->end - now);
	*pp = x;
	heap_push(f, x->end);
	f->running++;
	f->submits[ph]++;
	if (ph == PH_RAMP && f->ramp_full_at == 0 &&
	    f->submits[PH_RAMP] >= f->parallel)
		f->ramp_full_at = now;
	k = a->run_id - f->first_run;
	if (k >= 0 && k < f->nruns) {
		if (strcmp(a->stage, "a") != 0 && f->prev_end[k] > 0)
			sample_add(&f->next_stage[ph],
			    (double)(now - f->prev_end[k]));
		f->prev_end[k] = x->end;
	}
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int
fk_status(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	struct fake *f = impl;
	struct fattempt *x;

	(void)err;
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	pthread_mutex_lock(&f->mu);
	x = *find(f, name);
	if (x == NULL) {
		out->state = EXEC_UNKNOWN;
	} else if (x->canceled) {
		out->state = EXEC_CANCELED;
		out->started_at = x->start_wall;
		out->finished_at = x->start_wall;
	} else if (now_ms() < x->end) {
		out->state = EXEC_RUNNING;
		out->started_at = x->start_wall;
	} else {
		out->state = EXEC_SUCCEEDED;
		out->exit_code = 0;
		out->started_at = x->start_wall;
		out->finished_at = x->end_wall;
	}
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int
fk_cancel(void *impl, const char *name, struct err *err)
{
	struct fake *f = impl;
	struct fattempt *x;

	(void)err;
	pthread_mutex_lock(&f->mu);
	if ((x = *find(f, name)) != NULL)
		x->canceled = 1;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int
fk_release(void *impl, const char *name, struct err *err)
{
	struct fake *f = impl;
	struct fattempt **pp, *x;

	(void)err;
	pthread_mutex_lock(&f->mu);
	pp = find(f, name);
	if ((x = *pp) != NULL) {
		*pp = x->next;
		free(x->name);
		free(x);
	}
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int
fk_set_wake(void *impl, void (*wake)(void *arg), void *arg)
{
	struct fake *f = impl;

	pthread_mutex_lock(&f->mu);
	f->wake = wake;
	f->wake_arg = arg;
	pthread_mutex_unlock(&f->mu);
	return 1;
}

static void
fk_free(void *impl)
{
	struct fake *f = impl;

	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->timer, NULL);
	for (size_t i = 0; i < NBUCKETS; i++) {
		while (f->buckets[i] != NULL) {
			struct fattempt *x = f->buckets[i];

			f->buckets[i] = x->next;
			free(x->name);
			free(x);
		}
	}
	for (int i = 0; i < PH_N; i++)
		free(f->next_stage[i].v);
	free(f->heap);
	free(f->prev_end);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static const struct executor_ops fake_ops = {
	.name = "fake",
	.submit = fk_submit,
	.status = fk_status,
	.logs = bench_logs_none,
	.cancel = fk_cancel,
	.release = fk_release,
	.set_wake = fk_set_wake,
	.free = fk_free,
};

/* --- engine passes -------------------------------------------------------- */

static pthread_mutex_t pass_mu = PTHREAD_MUTEX_INITIALIZER;
static struct samples passes[PH_N];	/* ms */

static void
on_pass(void *arg, int64_t us)
{
	(void)arg;
	pthread_mutex_lock(&pass_mu);
	sample_add(&passes[atomic_load(&phase)], (double)us / 1000.0);
	pthread_mutex_unlock(&pass_mu);
}

/* --- the process -------------------------------------------------------- */

/* VmRSS or VmHWM ("VmRSS:") of this process, KiB. */
static long
proc_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(fp);
	return v;
}

/* User + system CPU time of this process, seconds. */
static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
sh(const char *cmd)
{
	if (system(cmd) != 0)
		die("command failed: %s", cmd);
}

/* --- wrk ------------------------------------------------------------------ */

struct wrk {
	FILE	*p;
	double	 rps, p50_ms, p99_ms;
	long	 errors;
};

static void
wrk_start(struct wrk *w, const char *script, int conns, int seconds,
    int port, const char *path)
{
	char cmd[2048];

	memset(w, 0, sizeof(*w));
	(void)snprintf(cmd, sizeof(cmd), "wrk -t1 -c%d -d%ds --latency -s %s "
	    "'http://127.0.0.1:%d%s' 2>&1", conns, seconds, script, port,
	    path);
	if ((w->p = popen(cmd, "r")) == NULL)
		die("cannot run %s", cmd);
}

static void
wrk_finish(struct wrk *w)
{
	char line[512];

	while (fgets(line, sizeof(line), w->p) != NULL) {
		const char *s = line + strspn(line, " \t");

		if (strncmp(s, "Requests/sec:", 13) == 0)
			w->rps = strtod(s + 13, NULL);
		else if (strncmp(s, "50%", 3) == 0)
			w->p50_ms = bench_wrk_ms(s + 3 + strspn(s + 3, " \t"));
		else if (strncmp(s, "99%", 3) == 0)
			w->p99_ms = bench_wrk_ms(s + 3 + strspn(s + 3, " \t"));
		else if (strncmp(s, "Non-2xx or 3xx responses:", 25) == 0)
			w->errors = strtol(s + 25, NULL, 10);
	}
	if (pclose(w->p) != 0 || w->rps <= 0)
		die("wrk failed (is it installed?)");
}

/* wrk on the list and on the detail at once, conns in all. */
static void
api_load(struct wrk *list, struct wrk *detail, const char *script,
    int conns, int seconds, int port, int64_t run_id)
{
	char path[128];
	int half = conns / 2 > 0 ? conns / 2 : 1;

	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)run_id);
	wrk_start(list, script, half, seconds, port, "/api/v1/runs?limit=50");
	wrk_start(detail, script, conns - half > 0 ? conns - half : 1,
	    seconds, port, path);
	wrk_finish(list);
	wrk_finish(detail);
}

/* --- set-up ----------------------------------------------------------------- */

/* A bare repository holding pipelines/bench.yaml; its path in out. */
static void
make_source(const char *dir, char *out, size_t len)
{
	char cmd[8192], yaml[700];
	FILE *fp;

	(void)snprintf(out, len, "%s/source.git", dir);
	(void)snprintf(yaml, sizeof(yaml), "%s/bench.yaml", dir);
	if ((fp = fopen(yaml, "w")) == NULL)
		die("cannot write %s", yaml);
	fputs(pipeline_yaml, fp);
	fclose(fp);
	(void)snprintf(cmd, sizeof(cmd),
	    "set -e; export GIT_CONFIG_NOSYSTEM=1 HOME='%s';"
	    " g='git -c user.name=B -c user.email=b@example.com"
	    " -c init.defaultBranch=main';"
	    " $g init -q --bare '%s'; $g clone -q '%s' '%s/work' 2>/dev/null;"
	    " cd '%s/work'; mkdir pipelines; cp '%s' pipelines/;"
	    " $g add -A; $g commit -qm seed; $g push -q origin HEAD:main",
	    dir, out, out, dir, dir, yaml);
	sh(cmd);
}

static void
write_config(const char *path, const char *dir, const char *db_url,
    const char *source, int nrepos, int parallel)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		die("cannot write %s", path);
	fprintf(fp, "database_url: \"%s\"\n"
	    "state_dir: %s/state\nlog_level: warn\n"
	    "max_parallel_stages: %d\nrepositories:\n", db_url, dir,
	    parallel);
	for (int i = 0; i < nrepos; i++)
		fprintf(fp, "  - {name: r%05d, url: \"file://%s\", "
		    "interval: 15s}\n", i, source);
	if (fclose(fp) != 0)
		die("cannot write %s", path);
}

int
main(void)
{
	const char *url = getenv("SLUICE_BENCH_DB_URL");
	const char *tmproot = getenv("SLUICE_BENCH_TMP");
	int nrepos = bench_env_int("BENCH_REPOS", 500, 100001);
	int nruns = bench_env_int("BENCH_RUNS", 2000, 10000001);
	int parallel = bench_env_int("BENCH_PARALLEL", 500, 100001);
	int seconds = bench_env_int("BENCH_SECONDS", 5, 100000);
	int ramp_s = bench_env_int("BENCH_RAMP_SECONDS", 20, 100000);
	int npipelines = bench_env_int("BENCH_PIPELINES", 1, 100001);
	int conns = bench_env_int("BENCH_CONNECTIONS", 8, 10000);
	int min_ms = bench_env_int("BENCH_STAGE_MIN_MS", 1000, 10000000);
	int max_ms = bench_env_int("BENCH_STAGE_MAX_MS", 5000, 10000000);
	char dir[600], source[700], cfgpath[700], script[700], sql[256];
	char token[TOKEN_LEN + 1], cmd[800];
	struct samples all_passes = { 0 };
	struct ctl ctl;
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct poller *poller = NULL;
	struct engine *e = NULL;
	struct fake *f;
	struct executor ex;
	struct engine_opts eo;
	struct engine_stats st0, st1;
	struct wrk bl_list, bl_detail, ld_list, ld_detail;
	struct db_res *res = NULL;
	struct err err;
	int64_t *versions = NULL, t0, t_polled, t_ramp, t_stop, first_run = 0;
	long rss_idle, rss_polled, rss_runs;
	double cpu_idle;
	int64_t idle_polls;
	size_t nversions;
	FILE *fp;
	int port;

	if (url == NULL || *url == '\0')
		die("set SLUICE_BENCH_DB_URL to a migrated, empty database "
		    "(make bench does)");
	if (max_ms < min_ms)
		max_ms = min_ms;
	log_setup(LOG_ERROR, LOG_TEXT, stderr);
	(void)snprintf(dir, sizeof(dir), "%s/bench_scale.XXXXXX",
	    tmproot != NULL && *tmproot != '\0' ? tmproot : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	make_source(dir, source, sizeof(source));
	(void)snprintf(cfgpath, sizeof(cfgpath), "%s/sluice.yaml", dir);
	write_config(cfgpath, dir, url, source, nrepos, parallel);
	if (cfg_load(&cfg, cfgpath, (char *[]){ NULL }, NULL, 0, &err) < 0)
		bench_die(PROG, "config", &err);
	free(cfg->listen);
	cfg->listen = xstrdup("127.0.0.1:0");	/* any free port */
	if (db_open(&db, url, &err) < 0)
		bench_die(PROG, "database", &err);

	/* 1. the controller: HTTP edge, then the poller */
	memset(&ctl, 0, sizeof(ctl));
	ctl.cfg = cfg;
	ctl.db_ready = 1;
	ctl.executor_ready = 1;
	serve_edge_init(&ctl, NULL);
	if (serve_http_start(&ctl, &err) < 0)
		bench_die(PROG, "http", &err);
	port = http_port(ctl.http);
	rss_idle = proc_kib("VmRSS:");
	t0 = now_ms();
	if (poller_start(&poller, cfg, &err) < 0)
		bench_die(PROG, "poller", &err);
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM repositories"
	    " WHERE last_success_at IS NOT NULL AND deleted_at IS NULL");
	while (bench_one_int(PROG, db, sql) < nrepos)
		usleep(250 * 1000);
	t_polled = now_ms() - t0;
	rss_polled = proc_kib("VmRSS:");
	if (bench_one_int(PROG, db, "SELECT count(*) FROM repositories WHERE "
	    "last_error IS NOT NULL") != 0)
		die("a repository failed to poll");
	/*
	 * Idle polling: the polls of 15 s (one interval) in which nothing
	 * moved, and the controller's CPU time over them.
	 */
	cpu_idle = cpu_s();
	sleep(15);
	cpu_idle = cpu_s() - cpu_idle;
	idle_polls = bench_one_int(PROG, db, "SELECT count(*) FROM "
	    "repositories WHERE last_poll_at > now() - interval '15 s'");

	/* 2. runs, spread over the repositories' pipelines; a token */
	if (db_exec(db, "SELECT p.latest_version_id FROM pipelines p"
	    " WHERE p.deleted_at IS NULL ORDER BY p.id", NULL, &res,
	    &err) < 0)
		bench_die(PROG, "versions", &err);
	nversions = db_res_rows(res);
	if (nversions > (size_t)npipelines)
		nversions = (size_t)npipelines;
	if (nversions == 0)
		die("no pipeline was found in the repositories");
	versions = xcalloc(nversions, sizeof(*versions));
	for (size_t i = 0; i < nversions; i++)
		if (db_res_int64(res, i, 0, &versions[i], &err) < 0)
			bench_die(PROG, "versions", &err);
	db_res_free(res);
	if (db_begin(db, &err) < 0)
		bench_die(PROG, "begin", &err);
	for (int i = 0; i < nruns; i++) {
		struct run_new rn = { .version_id = versions[(size_t)i %
		    nversions], .branch = "main", .trigger = "api",
		    .created_by = "bench" };
		int64_t id;
		int created;

		if (store_run_create(db, &rn, &id, &created, &err) < 0)
			bench_die(PROG, "run", &err);
		if (i == 0)
			first_run = id;
	}
	if (db_commit(db, &err) < 0)
		bench_die(PROG, "commit", &err);
	if (store_token_create(db, "bench", ROLE_VIEWER, "bench", token,
	    sizeof(token), &err) < 0)
		bench_die(PROG, "token", &err);
	(void)snprintf(script, sizeof(script), "%s/auth.lua", dir);
	if ((fp = fopen(script, "w")) == NULL)
		die("cannot write %s", script);
	fprintf(fp, "wrk.headers[\"Authorization\"] = \"Bearer %s\"\n",
	    token);
	fclose(fp);
	api_load(&bl_list, &bl_detail, script, conns, seconds, port,
	    first_run);
	rss_runs = proc_kib("VmRSS:");

	/* 3. the engine on the fake executor */
	f = xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	sys_cond_init_monotonic(&f->cv);
	f->min_ms = min_ms;
	f->max_ms = max_ms;
	f->parallel = parallel < nruns ? parallel : nruns;
	f->first_run = first_run;
	f->nruns = nruns;
	f->prev_end = xcalloc((size_t)nruns, sizeof(*f->prev_end));
	if (pthread_create(&f->timer, NULL, timer_main, f) != 0)
		die("cannot start the timer");
	ex.ops = &fake_ops;
	ex.impl = f;
	if (engine_new(&e, cfg, ex, &err) < 0)
		bench_die(PROG, "engine", &err);
	memset(&eo, 0, sizeof(eo));
	eo.on_pass = on_pass;
	engine_set_opts(e, &eo);
	atomic_store(&phase, PH_RAMP);
	t0 = now_ms();
	if (engine_start(e, &err) < 0)
		bench_die(PROG, "engine", &err);
	for (;;) {
		int64_t full;

		pthread_mutex_lock(&f->mu);
		full = f->ramp_full_at;
		pthread_mutex_unlock(&f->mu);
		if (full != 0 || now_ms() - t0 >= (int64_t)ramp_s * 1000)
			break;
		usleep(50 * 1000);
	}
	t_ramp = (f->ramp_full_at != 0 ? f->ramp_full_at : now_ms()) - t0;
	atomic_store(&phase, PH_QUIET);
	sleep((unsigned)seconds);
	atomic_store(&phase, PH_LOADED);
	api_load(&ld_list, &ld_detail, script, conns, seconds, port,
	    first_run);
	atomic_store(&phase, PH_DONE);
	t_stop = now_ms();
	engine_stop(e);		/* waits for the pass in progress */
	t_stop = now_ms() - t_stop;
	memset(&st0, 0, sizeof(st0));
	engine_stats(e, &st1);	/* exact now: the whole run */

	printf("bench_scale: %d repositories (file://, 15 s), %d runs of a "
	    "3-stage pipeline (%zu distinct), fake attempts of %d..%d ms, "
	    "max_parallel_stages %d, %d s per phase\n", nrepos, nruns,
	    nversions, min_ms, max_ms, parallel, seconds);
	printf("  repositories: all polled once in %.1f s; RSS %ld KiB idle "
	    "(baseline), %ld KiB polled: %.1f KiB per repository\n",
	    t_polled / 1000.0, rss_idle, rss_polled,
	    (double)(rss_polled - rss_idle) / nrepos);
	printf("  idle polling: %lld polls in 15 s (nothing moved) for %.2f "
	    "CPU-s of the controller: %.2f ms per poll; every repository "
	    "each 15 s would take %.0f%% of one core\n",
	    (long long)idle_polls, cpu_idle, idle_polls > 0 ?
	    cpu_idle * 1000 / (double)idle_polls : 0.0, idle_polls > 0 ?
	    cpu_idle / (double)idle_polls * nrepos * 100 / 15 : 0.0);
	printf("  peak RSS:     %ld KiB (%.1f MiB; idle baseline %ld KiB, "
	    "with the runs queued %ld KiB)\n", proc_kib("VmHWM:"),
	    proc_kib("VmHWM:") / 1024.0, rss_idle, rss_runs);
	printf("  stage starts: %lld in the ramp in %.1f s: %.0f/s (to %d "
	    "running%s); %.0f/s without API load, %.0f/s with\n",
	    (long long)f->submits[PH_RAMP], t_ramp / 1000.0,
	    f->submits[PH_RAMP] * 1000.0 / (t_ramp > 0 ? t_ramp : 1),
	    f->parallel, f->ramp_full_at ? "" : ", not reached",
	    (double)f->submits[PH_QUIET] / seconds,
	    (double)f->submits[PH_LOADED] / seconds);
	/* with the pass engine_stop() waited for (PH_DONE) */
	for (int i = PH_RAMP; i <= PH_DONE; i++)
		for (size_t k = 0; k < passes[i].n; k++)
			sample_add(&all_passes, passes[i].v[k]);
	printf("  engine pass:  p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu "
	    "passes; the last one ended %.1f s after the phases); p99 "
	    "without API load %.1f ms (%zu), with %.1f ms (%zu)\n",
	    quantile(&all_passes, 0.5), quantile(&all_passes, 0.99),
	    quantile(&all_passes, 1.0), all_passes.n, t_stop / 1000.0,
	    quantile(&passes[PH_QUIET], 0.99), passes[PH_QUIET].n,
	    quantile(&passes[PH_LOADED], 0.99), passes[PH_LOADED].n);
	printf("  exit -> next stage: without API load p50 %.0f ms, p99 %.0f "
	    "ms (%zu); with wrk at %d connections p50 %.0f ms, p99 %.0f ms "
	    "(%zu)\n", quantile(&f->next_stage[PH_QUIET], 0.5),
	    quantile(&f->next_stage[PH_QUIET], 0.99), f->next_stage[PH_QUIET].n,
	    conns, quantile(&f->next_stage[PH_LOADED], 0.5),
	    quantile(&f->next_stage[PH_LOADED], 0.99),
	    f->next_stage[PH_LOADED].n);
	printf("  API p99:      runs list %.1f ms (%.0f/s), run detail %.1f ms "
	    "(%.0f/s) while the engine works; engine stopped (baseline): "
	    "%.1f ms (%.0f/s), %.1f ms (%.0f/s)\n", ld_list.p99_ms,
	    ld_list.rps, ld_detail.p99_ms, ld_detail.rps, bl_list.p99_ms,
	    bl_list.rps, bl_detail.p99_ms, bl_detail.rps);
	printf("  statements:   %lld over %lld state transitions: %.2f per "
	    "transition (docs/engine.md: one write per transition, plus each "
	    "pass's reads); %.2f per stage started\n",
	    (long long)(st1.statements - st0.statements),
	    (long long)(st1.transitions - st0.transitions),
	    (double)(st1.statements - st0.statements) /
	    (double)(st1.transitions - st0.transitions > 0 ?
	    st1.transitions - st0.transitions : 1),
	    (double)(st1.statements - st0.statements) /
	    (double)(st1.submits - st0.submits > 0 ?
	    st1.submits - st0.submits : 1));
	if (ld_list.errors + ld_detail.errors + bl_list.errors +
	    bl_detail.errors > 0)
		printf("  (API answers other than 2xx: %ld)\n", ld_list.errors +
		    ld_detail.errors + bl_list.errors + bl_detail.errors);

	engine_free(e);
	fk_free(f);
	poller_stop(poller);
	http_stop(ctl.http);
	serve_edge_release(&ctl);
	db_free(db);
	cfg_free(cfg);
	free(versions);
	for (int i = 0; i < PH_N; i++)
		free(passes[i].v);
	free(all_passes.v);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return 0;
}
