/*
 * testdb.h - helpers for integration tests: a fresh PostgreSQL database per
 * test, running bin/sluice as a child process, stopping and starting the
 * test cluster, and temporary directories.
 *
 * They read the environment scripts/test.sh exports: SLUICE_TEST_PG_URL
 * (conninfo of the "postgres" database, superuser), SLUICE_TEST_PG_DIR,
 * SLUICE_TEST_PG_PORT, SLUICE_TEST_PG_TEMPLATE (the migrated template
 * database), SLUICE_TEST_PG_STRATEGY (how CREATE DATABASE copies, when
 * the server has a choice), SLUICE_TEST_TMP, SLUICE_BIN, SLUICE_TOP.  Failures
 * print why on stderr and return -1, so a test can assert_int_equal(..., 0).
 */
#ifndef SLUICE_TESTDB_H
#define SLUICE_TESTDB_H

#include <stddef.h>
#include <sys/types.h>

struct db;

struct testdb {
	char	name[64];	/* sluice_test_<pid>_<n> */
	char	url[2048];	/* conninfo of the new database */
};

/* The value of an environment variable the tests need; aborts if unset. */
const char *test_env(const char *name);

/* CREATE DATABASE with a unique name, empty; fills t.  0 or -1. */
int	testdb_create(struct testdb *t);

/*
 * A database with the project's migrations applied: a copy of the
 * template scripts/test.sh migrates once per run ($SLUICE_TEST_PG_TEMPLATE),
 * or, without one, testdb_create + testdb_migrate.  0 or -1.
 */
int	testdb_create_migrated(struct testdb *t);

/* DROP DATABASE ... WITH (FORCE); ignores a database that is gone. */
void	testdb_drop(struct testdb *t);

/*
 * cmocka setup and teardown for a test that wants an empty database of its
 * own: *state is a struct testdb * (testdb_create, testdb_drop).
 */
int	testdb_setup(void **state);
int	testdb_teardown(void **state);

/* Open a struct db on t (aborts on failure: the server must be up). */
struct db *testdb_open(const struct testdb *t);

/* Apply the project's migrations/ ($SLUICE_TOP/migrations).  0 or -1. */
int	testdb_migrate(const struct testdb *t);

/*
 * Run sql (no parameters, may be several statements) on t; 0 or -1 with
 * the error printed.  For test setup only.
 */
int	testdb_sql(const struct testdb *t, const char *sql);

/*
 * The first column of the first row of sql as a newly allocated string
 * (NULL for no row or SQL NULL; aborts on error).  Caller frees.
 */
char	*testdb_value(const struct testdb *t, const char *sql);

/* Stop and start the test cluster (scripts/pg.sh).  0 or -1. */
int	testpg_stop(void);
int	testpg_start(void);

/*
 * For a program that stops or reconfigures the cluster: a cluster of its
 * own (initdb, start) under $SLUICE_TEST_TMP, free port; the SLUICE_TEST_PG_*
 * variables then name it, so testdb_* and testpg_* use it, and it has no
 * template (testdb_create_migrated migrates).  The shared cluster other
 * programs use in parallel is left alone.  0 or -1.
 */
int	testpg_private(void);
/* Stop and remove the cluster testpg_private made (else a no-op). */
void	testpg_private_end(void);

/*
 * A TCP port on 127.0.0.1 nobody listened on a moment ago (below the
 * ephemeral range, so no client connection takes it meanwhile), or -1.
 */
int	test_free_port(void);

/* A child process with its stdout and stderr captured to files. */
struct testproc {
	pid_t	pid;
	char	out_path[512];
	char	err_path[512];
	int	status;		/* exit status, or 128 + signal */
	char	*out;		/* captured stdout, after testproc_wait */
	char	*err;		/* captured stderr */
};

/*
 * Start argv (argv[0] a path) with the current environment plus env
 * ("NAME=value" strings replacing same-named variables; NULL-terminated,
 * may be NULL).  0 or -1.
 */
int	testproc_spawn(struct testproc *p, const char *const *argv,
	    const char *const *env);
/* Wait for it and read what it printed.  0 or -1. */
int	testproc_wait(struct testproc *p);
/* spawn + wait. */
int	testproc_run(struct testproc *p, const char *const *argv,
	    const char *const *env);
/* Free the captured output and remove the files. */
void	testproc_release(struct testproc *p);

/* mkdtemp under $SLUICE_TEST_TMP (or /tmp) into out.  0 or -1. */
int	test_tmpdir(char *out, size_t outlen);
/* Write a file (created or truncated).  0 or -1. */
int	test_write_file(const char *dir, const char *name, const char *text);
/* rm -rf dir. */
void	test_rmtree(const char *dir);

#endif
