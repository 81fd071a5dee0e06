/*
 * testdb.c - integration test helpers; see testdb.h.  Test code: it talks
 * to libpq directly to create and drop databases (identifiers cannot be
 * parameters, so names are escaped with PQescapeIdentifier).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/db.h"
#include "store/migrate.h"
#include "testdb.h"

extern char **environ;

const char *
test_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "test: %s is not set; run the tests with "
		    "`make test`\n", name);
		abort();
	}
	return v;
}

/*
 * testdb_sql and testdb_value keep one connection open (to the database
 * asked last) instead of connecting for every statement: a test that polls
 * with them makes thousands of calls, and a new backend per call was much
 * of the suite's time on a loaded machine.  The statements that create and
 * drop databases keep one of their own to the admin database, for the same
 * reason (a backend's start costs the server about what copying the
 * template does).  A connection the server closed meanwhile (a dropped
 * database, a stopped cluster, a terminated backend) is noticed before it
 * is used and replaced.  Statements run outside any transaction, as each
 * did on its own connection.
 */
struct keep {
	pthread_mutex_t	 mu;
	PGconn		*c;
	char		 url[2048];
};

static struct keep kept = { PTHREAD_MUTEX_INITIALIZER, NULL, "" };
static struct keep admin = { PTHREAD_MUTEX_INITIALIZER, NULL, "" };

static void
keep_close(struct keep *k)
{
	PQfinish(k->c);
	k->c = NULL;
	k->url[0] = '\0';
}

/* k->mu held: a usable connection to url, or NULL (the error printed). */
static PGconn *
keep_conn(struct keep *k, const char *url)
{
	if (k->c != NULL && (strcmp(k->url, url) != 0 ||
	    PQstatus(k->c) != CONNECTION_OK || !PQconsumeInput(k->c) ||
	    PQstatus(k->c) != CONNECTION_OK ||
	    PQtransactionStatus(k->c) != PQTRANS_IDLE))
		keep_close(k);
	if (k->c == NULL) {
		k->c = PQconnectdb(url);
		if (PQstatus(k->c) != CONNECTION_OK) {
			fprintf(stderr, "test: connect: %s",
			    PQerrorMessage(k->c));
			keep_close(k);
			return NULL;
		}
		(void)snprintf(k->url, sizeof(k->url), "%s", url);
	}
	return k->c;
}

/*
 * Run sql on k's connection to url, k->mu held; NULL when no connection.
 * A connection found dead by the statement (closed between the check and
 * the send) is replaced and the statement sent once more: it never
 * reached the server.
 */
static PGresult *
keep_exec(struct keep *k, const char *url, const char *sql)
{
	PGresult *r;
	PGconn *c;

	if ((c = keep_conn(k, url)) == NULL)
		return NULL;
	r = PQexec(c, sql);
	if (PQstatus(c) == CONNECTION_BAD) {
		PQclear(r);
		keep_close(k);
		if ((c = keep_conn(k, url)) == NULL)
			return NULL;
		r = PQexec(c, sql);
	}
	/* what a multi-statement string left open is not the next one's */
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		keep_close(k);
	return r;
}

/* Run sql on t's kept connection, kept.mu held. */
static PGresult *
kept_exec(const struct testdb *t, const char *sql)
{
	return keep_exec(&kept, t->url, sql);
}

/*
 * Run "VERB name[ TEMPLATE tmpl]suffix" on the admin database, the
 * identifiers escaped; tmpl may be NULL.  A new database is a copy made
 * with $SLUICE_TEST_PG_STRATEGY when set (FILE_COPY, which PostgreSQL 15
 * has: it copies the template's files instead of writing each of its
 * pages through the WAL, several times cheaper for the server).
 */
static int
db_statement(const char *verb, const char *name, const char *tmpl,
    const char *suffix)
{
	const char *strategy = getenv("SLUICE_TEST_PG_STRATEGY");
	char *ident = NULL, *tident = NULL, sql[512];
	PGresult *r = NULL;
	PGconn *c;
	int rc = -1;

	pthread_mutex_lock(&admin.mu);
	if ((c = keep_conn(&admin, test_env("SLUICE_TEST_PG_URL"))) == NULL)
		goto out;
	if ((ident = PQescapeIdentifier(c, name, strlen(name))) == NULL)
		goto out;
	if (tmpl != NULL &&
	    (tident = PQescapeIdentifier(c, tmpl, strlen(tmpl))) == NULL)
		goto out;
	if (strncmp(verb, "CREATE", 6) != 0 || strategy == NULL)
		strategy = "";
	if (snprintf(sql, sizeof(sql), "%s %s%s%s%s%s%s", verb, ident,
	    tident != NULL ? " TEMPLATE " : "", tident != NULL ? tident : "",
	    strategy[0] != '\0' ? " STRATEGY " : "", strategy,
	    suffix) >= (int)sizeof(sql))
		goto out;
	if ((r = keep_exec(&admin, test_env("SLUICE_TEST_PG_URL"), sql)) ==
	    NULL)
		goto out;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "test: %s: %s", sql, PQresultErrorMessage(r));
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	PQfreemem(ident);
	PQfreemem(tident);
	pthread_mutex_unlock(&admin.mu);
	return rc;
}

/* Fill t with a new unique name and its conninfo.  0 or -1. */
static int
testdb_name(struct testdb *t)
{
	static int counter;
	int n;

	n = snprintf(t->name, sizeof(t->name), "sluice_test_%ld_%d",
	    (long)getpid(), ++counter);
	if (n < 0 || (size_t)n >= sizeof(t->name))
		return -1;
	n = snprintf(t->url, sizeof(t->url), "%s dbname=%s",
	    test_env("SLUICE_TEST_PG_URL"), t->name);
	if (n < 0 || (size_t)n >= sizeof(t->url))
		return -1;
	return 0;
}

int
testdb_create(struct testdb *t)
{
	if (testdb_name(t) < 0)
		return -1;
	return db_statement("CREATE DATABASE", t->name, NULL, "");
}

int
testdb_create_migrated(struct testdb *t)
{
	const char *tmpl = getenv("SLUICE_TEST_PG_TEMPLATE");

	if (tmpl == NULL || tmpl[0] == '\0')
		return testdb_create(t) < 0 ? -1 : testdb_migrate(t);
	if (testdb_name(t) < 0)
		return -1;
	return db_statement("CREATE DATABASE", t->name, tmpl, "");
}

void
testdb_drop(struct testdb *t)
{
	if (t->name[0] == '\0')
		return;
	pthread_mutex_lock(&kept.mu);
	if (strcmp(kept.url, t->url) == 0)
		keep_close(&kept);
	pthread_mutex_unlock(&kept.mu);
	if (db_statement("DROP DATABASE IF EXISTS", t->name, NULL,
	    " WITH (FORCE)") < 0)
		fprintf(stderr, "test: could not drop %s\n", t->name);
	t->name[0] = '\0';
}

int
testdb_setup(void **state)
{
	struct testdb *t = calloc(1, sizeof(*t));

	if (t == NULL || testdb_create(t) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

int
testdb_teardown(void **state)
{
	struct testdb *t = *state;

	testdb_drop(t);
	free(t);
	return 0;
}

struct db *
testdb_open(const struct testdb *t)
{
	struct db *db = NULL;
	struct err err;

	if (db_open(&db, t->url, &err) < 0) {
		fprintf(stderr, "test: db_open: %s\n", err.msg);
		abort();
	}
	return db;
}

int
testdb_migrate(const struct testdb *t)
{
	char dir[1024];
	struct db *db = testdb_open(t);
	struct err err;
	int rc = 0;

	if (snprintf(dir, sizeof(dir), "%s/migrations",
	    test_env("SLUICE_TOP")) >= (int)sizeof(dir))
		rc = -1;
	else if (migrate_apply(db, dir, NULL, &err) < 0) {
		fprintf(stderr, "test: migrate: %s\n", err.msg);
		rc = -1;
	}
	db_free(db);
	return rc;
}

int
testdb_sql(const struct testdb *t, const char *sql)
{
	PGresult *r;
	int rc = -1;

	pthread_mutex_lock(&kept.mu);
	if ((r = kept_exec(t, sql)) == NULL)
		goto out;
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "test: %s: %s", sql, PQresultErrorMessage(r));
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	pthread_mutex_unlock(&kept.mu);
	return rc;
}

char *
testdb_value(const struct testdb *t, const char *sql)
{
	PGresult *r;
	char *v = NULL;

	pthread_mutex_lock(&kept.mu);
	if ((r = kept_exec(t, sql)) == NULL)
		abort();
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "test: %s: %s", sql, PQresultErrorMessage(r));
		abort();
	}
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	pthread_mutex_unlock(&kept.mu);
	return v;
}

static const char *
tmp_root(void)
{
	const char *t = getenv("SLUICE_TEST_TMP");

	return t != NULL && t[0] != '\0' ? t : "/tmp";
}

static int
pg_script(const char *what)
{
	char cmd[2048];
	int n, st;

	n = snprintf(cmd, sizeof(cmd),
	    "bash -c '. \"$SLUICE_TOP/scripts/pg.sh\" && %s' >&2", what);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	(void)test_env("SLUICE_TOP");
	(void)test_env("SLUICE_TEST_PG_DIR");
	(void)test_env("SLUICE_TEST_PG_PORT");
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "test: '%s' failed\n", what);
		return -1;
	}
	return 0;
}

int
testpg_stop(void)
{
	pthread_mutex_lock(&kept.mu);
	keep_close(&kept);
	pthread_mutex_unlock(&kept.mu);
	pthread_mutex_lock(&admin.mu);
	keep_close(&admin);
	pthread_mutex_unlock(&admin.mu);
	return pg_script("pg_stop \"$SLUICE_TEST_PG_DIR\"");
}

int
testpg_start(void)
{
	return pg_script("PG_FSYNC=off pg_start \"$SLUICE_TEST_PG_DIR\" "
	    "\"$SLUICE_TEST_PG_PORT\"");
}

/*
 * A random port below Linux's ephemeral range (32768-60999 by default), so
 * that no outgoing connection of a test running in parallel takes it
 * between our check and the server's bind, as a port from bind(0) can.
 */
int
test_free_port(void)
{
	static unsigned seed;
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s, port, tries, ok;

	if (seed == 0)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (tries = 0; tries < 200; tries++) {
		port = 20000 + rand_r(&seed) % 12000;
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			break;
		a.sin_port = htons((uint16_t)port);
		ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(s);
		if (ok)
			return port;
	}
	fprintf(stderr, "test: no free port: %s\n", strerror(errno));
	return -1;
}

int
testpg_private(void)
{
	char dir[512], port[16], url[1024];
	int p, n;

	if ((p = test_free_port()) < 0)
		return -1;
	n = snprintf(dir, sizeof(dir), "%s/pg-private-%ld", tmp_root(),
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -1;
	(void)snprintf(port, sizeof(port), "%d", p);
	n = snprintf(url, sizeof(url), "host=%s/run port=%d user=sluice "
	    "dbname=postgres", dir, p);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -1;
	if (setenv("SLUICE_TEST_PG_DIR", dir, 1) < 0 ||
	    setenv("SLUICE_TEST_PG_PORT", port, 1) < 0 ||
	    setenv("SLUICE_TEST_PG_URL", url, 1) < 0 ||
	    unsetenv("SLUICE_TEST_PG_TEMPLATE") < 0)
		return -1;
	return testpg_start();
}

void
testpg_private_end(void)
{
	const char *dir = getenv("SLUICE_TEST_PG_DIR");

	if (dir == NULL || strstr(dir, "/pg-private-") == NULL)
		return;
	(void)testpg_stop();
	test_rmtree(dir);
}

int
test_tmpdir(char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/t.XXXXXX", tmp_root());

	if (n < 0 || (size_t)n >= outlen || mkdtemp(out) == NULL) {
		fprintf(stderr, "test: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int
test_write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;
	int n, rc = 0;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "test: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void
test_rmtree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* environ with env's NAME=value pairs replacing or adding; caller frees. */
static char **
make_env(const char *const *env)
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **out;

	while (environ[n] != NULL)
		n++;
	while (env != NULL && env[m] != NULL)
		m++;
	if ((out = calloc(n + m + 1, sizeof(*out))) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		int replaced = 0;

		for (j = 0; j < m; j++) {
			size_t len = strcspn(env[j], "=");

			if (strncmp(environ[i], env[j], len) == 0 &&
			    environ[i][len] == '=')
				replaced = 1;
		}
		if (!replaced)
			out[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		out[k++] = (char *)(uintptr_t)env[j];
	out[k] = NULL;
	return out;
}

int
testproc_spawn(struct testproc *p, const char *const *argv,
    const char *const *env)
{
	posix_spawn_file_actions_t fa;
	char **envp = make_env(env);
	int fd, rc;

	memset(p, 0, sizeof(*p));
	if (snprintf(p->out_path, sizeof(p->out_path), "%s/out.XXXXXX",
	    tmp_root()) >= (int)sizeof(p->out_path) ||
	    snprintf(p->err_path, sizeof(p->err_path), "%s/err.XXXXXX",
	    tmp_root()) >= (int)sizeof(p->err_path))
		abort();
	if ((fd = mkstemp(p->out_path)) < 0)
		abort();
	close(fd);
	if ((fd = mkstemp(p->err_path)) < 0)
		abort();
	close(fd);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY |
	    O_TRUNC, 0);
	posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY |
	    O_TRUNC, 0);
	rc = posix_spawn(&p->pid, argv[0], &fa, NULL,
	    (char *const *)(uintptr_t)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (rc != 0) {
		fprintf(stderr, "test: spawn %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	return 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t len = 0, n;
	char chunk[4096];

	if (f == NULL)
		return strdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *q = realloc(data, len + n + 1);

		if (q == NULL)
			abort();
		data = q;
		memcpy(data + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (data == NULL)
		return strdup("");
	data[len] = '\0';
	return data;
}

int
testproc_wait(struct testproc *p)
{
	int st;

	while (waitpid(p->pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	p->out = slurp(p->out_path);
	p->err = slurp(p->err_path);
	return 0;
}

int
testproc_run(struct testproc *p, const char *const *argv,
    const char *const *env)
{
	if (testproc_spawn(p, argv, env) < 0)
		return -1;
	return testproc_wait(p);
}

void
testproc_release(struct testproc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
	if (p->out_path[0] != '\0')
		(void)unlink(p->out_path);
	if (p->err_path[0] != '\0')
		(void)unlink(p->err_path);
}
