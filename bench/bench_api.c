/*
 * bench_api.c - the REST API against PostgreSQL itself, in the same run.
 *
 * A database with 1,000,000 runs (the newest 10,000 with their stages;
 * the newest one with attempts, metrics and artifacts) serves `bin/sluice
 * serve` on a free port.  Then, each for DURATION seconds with 16
 * connections on 2 threads:
 *
 *   1. GET /api/v1/runs?limit=50 under wrk (requests/s and p99), next to
 *      pgbench running the exact statement the handler runs
 *      (store_query_runs_sql) with the same parameters, -c16 -j2;
 *   2. GET /api/v1/runs/{id} of the rich run, next to pgbench running
 *      store_query_run_sql.
 *
 * The ratio API/pgbench says what the HTTP edge costs over the bare query
 * (1.0 would be free): a request also goes through the guard (its token
 * cached), waits for one of the pool's api.db_connections connections
 * (pgbench has 16), and through libmicrohttpd on the kept connection's
 * thread; wrk, the server and PostgreSQL share the machine's cores.  Both
 * sides use prepared statements; wrk runs WARMUP seconds unmeasured first.
 *
 * Needs SLUICE_BENCH_PG_URL, SLUICE_BENCH_PG_BIN (pgbench), SLUICE_TOP,
 * SLUICE_BIN, SLUICE_BENCH_TMP (scripts/bench.sh sets them) and wrk.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "base/buf.h"
#include "base/role.h"
#include "query/store_query_runs.h"
#include "store/db.h"
#include "store/migrate.h"
#include "store/store_token.h"
#include "bench_util.h"

#define NRUNS		1000000
#define WITH_STAGES	10000
#define DURATION	10
#define WARMUP		2
#define DBNAME		"sluice_bench_api"

static char tmp[512];

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_api: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		die("%s is not set; run `make bench`", name);
	return v;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
exec_sql(struct db *db, const char *sql)
{
	struct err err;

	if (db_exec_script(db, sql, &err) < 0)
		die("%s: %s", sql, err.msg);
}

static int64_t
value(struct db *db, const char *sql)
{
	struct db_res *res = NULL;
	struct err err;
	int64_t v = 0;

	if (db_exec(db, sql, NULL, &res, &err) < 0 ||
	    db_res_int64(res, 0, 0, &v, &err) < 0)
		die("%s: %s", sql, err.msg);
	db_res_free(res);
	return v;
}

/*
 * SLUICE_BENCH_API_REUSE=1 keeps a database filled by an earlier run on a
 * cluster that outlives it (seeding takes minutes); make bench starts a
 * fresh cluster, where it changes nothing.
 */
static int
reuse(void)
{
	const char *v = getenv("SLUICE_BENCH_API_REUSE");

	return v != NULL && strcmp(v, "1") == 0;
}

/* The bench database, migrated and filled; its conninfo into url. */
static void
prepare(const char *pg, char *url, size_t urllen)
{
	struct db *admin = NULL, *db = NULL;
	struct err err;
	char dir[4096];
	double t0;

	if (snprintf(url, urllen, "%s dbname=" DBNAME, pg) >= (int)urllen)
		die("conninfo too long");
	(void)snprintf(dir, sizeof(dir), "%s/migrations", env("SLUICE_TOP"));
	if (reuse() && db_open(&db, url, &err) == 0) {
		/* A kept database: migrated to today's schema, not reseeded. */
		if (migrate_ensure(db, dir, 1, &err) < 0)
			die("migrate: %s", err.msg);
		if (value(db, "SELECT count(*) FROM runs") == NRUNS) {
			exec_sql(db, "ANALYZE");
			printf("reusing the %d runs of database " DBNAME "\n",
			    NRUNS);
			db_free(db);
			return;
		}
		db_free(db);
		db = NULL;
	}
	if (db_open(&admin, pg, &err) < 0)
		die("%s", err.msg);
	exec_sql(admin, "DROP DATABASE IF EXISTS " DBNAME " WITH (FORCE)");
	exec_sql(admin, "CREATE DATABASE " DBNAME);
	db_free(admin);
	if (db_open(&db, url, &err) < 0)
		die("%s", err.msg);
	if (migrate_ensure(db, dir, 1, &err) < 0)
		die("migrate: %s", err.msg);
	t0 = now_s();
	exec_sql(db,
	    "INSERT INTO repositories (name, url, source)"
	    "  VALUES ('bench', 'file:///nonexistent/bench.git', 'api');"
	    "INSERT INTO commits (repository_id, sha, author_name, message,"
	    "  committed_at) SELECT 1, md5(g::text) || left(md5((g+1)::text), 8),"
	    "  'Ada', 'commit ' || g, now() FROM generate_series(1, 100) g;"
	    "INSERT INTO pipelines (repository_id, name, file_path)"
	    "  SELECT 1, 'p' || g, 'pipelines/p' || g || '.yaml'"
	    "  FROM generate_series(1, 20) g;"
	    "INSERT INTO pipeline_versions (commit_id, file_path, pipeline_id,"
	    "  valid, definition) SELECT 1, p.file_path, p.id, true,"
	    "  '{\"spec\": {\"params\": {\"epochs\": \"10\"}}}' FROM pipelines p;"
	    "UPDATE pipelines p SET latest_version_id = v.id"
	    "  FROM pipeline_versions v WHERE v.pipeline_id = p.id;");
	exec_sql(db,
	    "INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id,"
	    "  branch, trigger, params, created_by, status, started_at,"
	    "  finished_at)"
	    " SELECT v.pipeline_id, v.id, 1, 'main', 'push',"
	    "  '{\"epochs\": \"10\"}', 'poller',"
	    "  CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END,"
	    "  now(), now()"
	    " FROM generate_series(1, 1000000) g"
	    " JOIN pipeline_versions v ON v.id = 1 + g % 20");
	exec_sql(db,
	    "INSERT INTO stages (run_id, name, position, status, started_at,"
	    "  finished_at, needs)"
	    " SELECT r.id, s.name, s.pos, 'succeeded', now(), now(), s.needs"
	    " FROM (SELECT id FROM runs ORDER BY id DESC LIMIT 10000) r,"
	    " (VALUES ('prepare', 0, '{}'::text[]),"
	    "   ('train', 1, '{prepare}'), ('evaluate', 2, '{train}'),"
	    "   ('package', 3, '{evaluate}')) s(name, pos, needs);"
	    "INSERT INTO stage_attempts (stage_id, attempt, executor, job_name,"
	    "  status, submitted_at, started_at, finished_at, exit_code)"
	    " SELECT s.id, 1, 'local', 'sluice-' || s.run_id || '-' || s.name"
	    "  || '-1', 'succeeded', now(), now(), now(), 0 FROM stages s"
	    " WHERE s.run_id = (SELECT max(id) FROM runs);"
	    "INSERT INTO metrics (attempt_id, name, value, source_line)"
	    " SELECT a.id, 'm' || g, g / 10.0, g FROM stage_attempts a,"
	    " generate_series(1, 5) g;"
	    "INSERT INTO artifacts (attempt_id, name, uri, source_line)"
	    " SELECT a.id, 'model', 's3://models/' || a.job_name, 99"
	    " FROM stage_attempts a");
	exec_sql(db, "VACUUM ANALYZE");
	printf("seeded %d runs (%d with stages) in %.1f s\n", NRUNS,
	    WITH_STAGES, now_s() - t0);
	if (value(db, "SELECT count(*) FROM runs") != NRUNS)
		die("seeding went wrong");
	db_free(db);
}

static pid_t
serve(const char *url, int port)
{
	char cfg[1024], listen[64], yaml[8192];
	FILE *f;
	pid_t pid;

	(void)snprintf(cfg, sizeof(cfg), "%s/bench_api.yaml", tmp);
	(void)snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	(void)snprintf(yaml, sizeof(yaml), "listen: %s\ndatabase_url: \"%s\"\n"
	    "state_dir: %s/state\nlog_level: error\n", listen, url, tmp);
	if ((f = fopen(cfg, "w")) == NULL || fputs(yaml, f) < 0 ||
	    fclose(f) != 0)
		die("cannot write %s", cfg);
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execl(env("SLUICE_BIN"), "sluice", "serve", "--config", cfg,
		    (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
free_port(void)
{
	FILE *p = popen("python3 -c 'import socket; s=socket.socket(); "
	    "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'", "r");
	int port = 0;
	char line[32];

	if (p == NULL || fgets(line, sizeof(line), p) == NULL)
		die("no free port");
	port = (int)strtol(line, NULL, 10);
	pclose(p);
	return port;
}

static void
await_ready(int port)
{
	char cmd[256];

	(void)snprintf(cmd, sizeof(cmd), "curl -sf -o /dev/null "
	    "http://127.0.0.1:%d/readyz", port);
	for (int i = 0; i < 600; i++) {
		if (system(cmd) == 0)
			return;
		usleep(100 * 1000);
	}
	die("the server never became ready");
}

struct result {
	double	rps;
	double	p99_ms;
	long	errors;
};

static struct result
run_wrk_for(int port, const char *token, const char *path, int secs)
{
	char script[1024], cmd[2048], line[512];
	struct result r = { 0, 0, 0 };
	FILE *f, *p;

	(void)snprintf(script, sizeof(script), "%s/auth.lua", tmp);
	if ((f = fopen(script, "w")) == NULL)
		die("cannot write %s", script);
	fprintf(f, "wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", token);
	fclose(f);
	(void)snprintf(cmd, sizeof(cmd), "wrk -t2 -c16 -d%ds --latency -s %s "
	    "'http://127.0.0.1:%d%s' 2>&1", secs, script, port, path);
	if ((p = popen(cmd, "r")) == NULL)
		die("cannot run wrk");
	while (fgets(line, sizeof(line), p) != NULL) {
		const char *s = line + strspn(line, " \t");

		if (strncmp(s, "Requests/sec:", 13) == 0)
			r.rps = strtod(s + 13, NULL);
		else if (strncmp(s, "99%", 3) == 0)
			r.p99_ms = bench_wrk_ms(s + 3 + strspn(s + 3, " \t"));
		else if (strncmp(s, "Non-2xx or 3xx responses:", 25) == 0)
			r.errors = strtol(s + 25, NULL, 10);
	}
	if (pclose(p) != 0 || r.rps <= 0)
		die("wrk failed (is it installed?)");
	return r;
}

/*
 * wrk for DURATION seconds, after WARMUP seconds unmeasured: the server
 * opens its pool's connections and prepares its statements on first use,
 * as pgbench does before it starts its clock.
 */
static struct result
run_wrk(int port, const char *token, const char *path)
{
	(void)run_wrk_for(port, token, path, WARMUP);
	return run_wrk_for(port, token, path, DURATION);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/*
 * pgbench of sql with $1.. replaced by the values given, 16 clients on 2
 * threads, prepared statements; tps and p99 from the transaction logs.
 */
static struct result
run_pgbench(const char *url, const char *sql, const char *const *vals,
    int nvals)
{
	char file[1024], cmd[8192], line[512];
	struct result r = { 0, 0, 0 };
	struct buf text;
	long *lat = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	FILE *f, *p;
	DIR *d;

	buf_init(&text, 1 << 20);
	for (int i = 0; i < nvals; i++)
		if (buf_printf(&text, "\\set p%d %s\n", i + 1, vals[i]) < 0)
			die("script too long");
	for (const char *s = sql; *s != '\0'; s++) {
		int rc;

		if (*s == '$' && s[1] >= '1' && s[1] <= '9') {
			rc = buf_printf(&text, ":p%c", s[1]);
			s++;
		} else {
			rc = buf_putc(&text, *s);
		}
		if (rc < 0)
			die("script too long");
	}
	if (buf_puts(&text, ";\n") < 0)
		die("script too long");
	(void)snprintf(file, sizeof(file), "%s/query.sql", tmp);
	if ((f = fopen(file, "w")) == NULL || fputs(text.data, f) < 0 ||
	    fclose(f) != 0)
		die("cannot write %s", file);
	buf_release(&text);
	(void)snprintf(cmd, sizeof(cmd), "cd %s && rm -f pgblog* && "
	    "%s/pgbench -n -M prepared -c16 -j2 -T%d -l --log-prefix=pgblog "
	    "-f %s '%s' 2>&1", tmp, env("SLUICE_BENCH_PG_BIN"), DURATION, file,
	    url);
	if ((p = popen(cmd, "r")) == NULL)
		die("cannot run pgbench");
	while (fgets(line, sizeof(line), p) != NULL) {
		if (strncmp(line, "tps = ", 6) == 0)
			r.rps = strtod(line + 6, NULL);
		else if (strstr(line, "failed") != NULL &&
		    strstr(line, "transactions") != NULL)
			r.errors = strtol(strchr(line, ':') ?
			    strchr(line, ':') + 1 : line, NULL, 10);
		else if (strstr(line, "ERROR") != NULL)
			fputs(line, stderr);
	}
	if (pclose(p) != 0 || r.rps <= 0)
		die("pgbench failed");
	if ((d = opendir(tmp)) == NULL)
		die("cannot read %s", tmp);
	while ((de = readdir(d)) != NULL) {
		char path[2048];

		if (strncmp(de->d_name, "pgblog", 6) != 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			long client, tx, us;
			char *e1, *e2;

			client = strtol(line, &e1, 10);
			tx = strtol(e1, &e2, 10);
			us = strtol(e2, NULL, 10);
			(void)client;
			(void)tx;
			if (n == cap) {
				cap = cap ? cap * 2 : 65536;
				lat = realloc(lat, cap * sizeof(*lat));
				if (lat == NULL)
					die("out of memory");
			}
			lat[n++] = us;
		}
		fclose(f);
	}
	closedir(d);
	if (n > 0) {
		qsort(lat, n, sizeof(*lat), cmp_long);
		r.p99_ms = (double)lat[(size_t)((double)n * 0.99)] / 1000.0;
	}
	free(lat);
	return r;
}

static void
report(const char *what, struct result api, struct result pgb)
{
	printf("%-28s %10.0f req/s  p99 %7.2f ms  (non-2xx %ld)\n", what,
	    api.rps, api.p99_ms, api.errors);
	printf("%-28s %10.0f tx/s   p99 %7.2f ms\n", "  pgbench, same SQL",
	    pgb.rps, pgb.p99_ms);
	printf("%-28s %10.2f of pgbench's throughput, p99 x%.2f\n",
	    "  ratio API/pgbench", api.rps / pgb.rps,
	    pgb.p99_ms > 0 ? api.p99_ms / pgb.p99_ms : 0);
}

int
main(void)
{
	const char *pg = env("SLUICE_BENCH_PG_URL");
	char url[4096], token[TOKEN_LEN + 1], path[128], idtext[32], name[32];
	struct runs_filter all;
	struct result api, pgb;
	struct db *db = NULL;
	struct err err;
	int64_t rich;
	pid_t server;
	int port, status;

	(void)snprintf(tmp, sizeof(tmp), "%s/bench_api", env("SLUICE_BENCH_TMP"));
	(void)mkdir(tmp, 0755);
	prepare(pg, url, sizeof(url));
	/* a kept database holds the tokens of earlier runs */
	(void)snprintf(name, sizeof(name), "bench-%ld", (long)getpid());
	if (db_open(&db, url, &err) < 0 ||
	    store_token_create(db, name, ROLE_VIEWER, "bench", token,
	    sizeof(token), &err) < 0)
		die("token: %s", err.msg);
	rich = value(db, "SELECT max(id) FROM runs");
	db_free(db);
	port = free_port();
	server = serve(url, port);
	await_ready(port);

	printf("GET /api/v1/runs?limit=50 over %d runs, wrk -t2 -c16 -d%ds\n",
	    NRUNS, DURATION);
	api = run_wrk(port, token, "/api/v1/runs?limit=50");
	memset(&all, 0, sizeof(all));
	pgb = run_pgbench(url, store_query_runs_sql(&all),
	    (const char *const[]){ "9223372036854775807", "50" }, 2);
	report("runs list, first page", api, pgb);

	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld",
	    (long long)rich);
	(void)snprintf(idtext, sizeof(idtext), "%lld", (long long)rich);
	printf("GET %s (4 stages, attempts, metrics, artifacts)\n", path);
	api = run_wrk(port, token, path);
	pgb = run_pgbench(url, store_query_run_sql,
	    (const char *const[]){ idtext }, 1);
	report("run detail", api, pgb);

	kill(server, SIGTERM);
	if (waitpid(server, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "bench_api: the server did not stop cleanly\n");
	return 0;
}
