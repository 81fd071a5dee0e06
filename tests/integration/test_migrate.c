/*
 * test_migrate.c - migrations against a real PostgreSQL: order, re-runs,
 * checksum and missing-file refusal, bad names, rollback of a failing
 * migration, `sluice migrate --status`, two concurrent `sluice migrate`
 * processes, and the project's own migrations/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/testdb.h"
#include "store/db.h"
#include "store/migrate.h"

struct fixture {
	struct testdb	t;
	char		dir[512];	/* a scratch migrations directory */
	char		url_env[2100];	/* SLUICE_DATABASE_URL=... */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || testdb_create(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0) {
		free(f);
		return -1;
	}
	(void)snprintf(f->url_env, sizeof(f->url_env),
	    "SLUICE_DATABASE_URL=%s", f->t.url);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testdb_drop(&f->t);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* Write file name with text into the fixture's directory. */
static void
put(struct fixture *f, const char *name, const char *text)
{
	assert_int_equal(test_write_file(f->dir, name, text), 0);
}

static void
rm(struct fixture *f, const char *name)
{
	char path[1024];

	(void)snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(unlink(path), 0);
}

/* The first column of a one-row query, "" for none; caller frees. */
static char *
value(struct fixture *f, const char *sql)
{
	char *v = testdb_value(&f->t, sql);

	return v != NULL ? v : strdup("");
}

static void
assert_value(struct fixture *f, const char *sql, const char *want)
{
	char *v = value(f, sql);

	assert_string_equal(v, want);
	free(v);
}

static void
migrate__applies_files_in_number_order(void **state)
{
	struct fixture *f = *state;
	struct migration_list done = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	char name[64], sql[128];
	struct err err;

	/* Written newest first, so directory order is no help. */
	for (int i = 12; i >= 2; i--) {
		(void)snprintf(name, sizeof(name), "%04d_step_%d.sql", i, i);
		(void)snprintf(sql, sizeof(sql),
		    "INSERT INTO steps (n) VALUES (%d);\n", i);
		put(f, name, sql);
	}
	put(f, "0001_create.sql",
	    "CREATE TABLE steps (seq serial PRIMARY KEY, n int);\n");
	put(f, "README.md", "not a migration\n");

	assert_int_equal(migrate_apply(db, f->dir, &done, &err), 0);
	assert_int_equal(done.n, 12);
	assert_string_equal(done.items[0].name, "0001_create.sql");
	assert_string_equal(done.items[11].name, "0012_step_12.sql");
	assert_value(f, "SELECT string_agg(n::text, ',' ORDER BY seq) "
	    "FROM steps", "2,3,4,5,6,7,8,9,10,11,12");
	assert_value(f, "SELECT string_agg(version::text, ',' ORDER BY "
	    "applied_at, version) FROM schema_migrations",
	    "1,2,3,4,5,6,7,8,9,10,11,12");
	/* the recorded checksum is the file's SHA-256 */
	assert_value(f, "SELECT checksum FROM schema_migrations "
	    "WHERE version = 1", done.items[0].checksum);
	assert_value(f, "SELECT encode(sha256(convert_to('CREATE TABLE steps "
	    "(seq serial PRIMARY KEY, n int);' || chr(10), 'UTF8')), 'hex')",
	    done.items[0].checksum);
	migration_list_release(&done);
	db_free(db);
}

static void
migrate__second_run_is_a_no_op(void **state)
{
	struct fixture *f = *state;
	struct migration_list done = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	struct err err;
	size_t pending = 99;
	char *before;

	put(f, "0001_a.sql", "CREATE TABLE a (x int);\n");
	put(f, "0002_b.sql", "INSERT INTO a VALUES (1);\n");
	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), 0);
	before = value(f, "SELECT string_agg(applied_at::text, ',') "
	    "FROM schema_migrations");

	assert_int_equal(migrate_apply(db, f->dir, &done, &err), 0);
	assert_int_equal(done.n, 0);
	assert_value(f, "SELECT count(*) FROM a", "1");
	assert_value(f, "SELECT string_agg(applied_at::text, ',') "
	    "FROM schema_migrations", before);
	assert_int_equal(migrate_pending(db, f->dir, &pending, &err), 0);
	assert_int_equal(pending, 0);
	free(before);
	migration_list_release(&done);
	db_free(db);
}

static void
migrate__refuses_when_an_applied_file_changed(void **state)
{
	struct fixture *f = *state;
	struct migration_list l = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	struct err err;
	size_t pending;

	put(f, "0001_lineage.sql", "CREATE TABLE a (x int);\n");
	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), 0);
	put(f, "0001_lineage.sql", "CREATE TABLE a (x int, y int);\n");
	put(f, "0002_more.sql", "CREATE TABLE b (x int);\n");

	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "migration 0001_lineage.sql was "
	    "changed after it was applied (checksum "));
	/* nothing ran: the pending migration waits */
	assert_value(f, "SELECT count(*) FROM schema_migrations", "1");
	assert_value(f, "SELECT to_regclass('b') IS NULL", "t");
	assert_int_equal(migrate_pending(db, f->dir, &pending, &err),
	    ERR_CONFLICT);
	assert_int_equal(migrate_ensure(db, f->dir, 0, &err), ERR_CONFLICT);
	assert_non_null(strstr(err.msg, "was changed"));

	assert_int_equal(migrate_status(db, f->dir, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].state, MIGRATION_CHANGED);
	assert_int_equal(l.items[1].state, MIGRATION_PENDING);
	migration_list_release(&l);

	/* a rename is a change too */
	rm(f, "0001_lineage.sql");
	put(f, "0001_renamed.sql", "CREATE TABLE a (x int);\n");
	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), ERR_CONFLICT);
	assert_string_equal(err.msg, "migration 0001 was applied as "
	    "'0001_lineage.sql' but the file is now '0001_renamed.sql'");
	db_free(db);
}

static void
migrate__refuses_when_an_applied_file_is_missing(void **state)
{
	struct fixture *f = *state;
	struct migration_list l = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	struct err err;

	put(f, "0001_a.sql", "CREATE TABLE a (x int);\n");
	put(f, "0002_b.sql", "CREATE TABLE b (x int);\n");
	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), 0);
	rm(f, "0002_b.sql");

	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), ERR_CONFLICT);
	assert_non_null(strstr(err.msg,
	    "migration 0002_b.sql was applied but is not in"));
	assert_int_equal(migrate_status(db, f->dir, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[1].state, MIGRATION_MISSING);
	assert_string_equal(l.items[1].name, "0002_b.sql");
	migration_list_release(&l);
	db_free(db);
}

static void
migrate__refuses_bad_names_gaps_and_duplicates(void **state)
{
	struct fixture *f = *state;
	struct migration_list l = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	struct err err;

	put(f, "0001_a.sql", "SELECT 1;\n");
	put(f, "2_b.sql", "SELECT 1;\n");
	assert_int_equal(migrate_scan(f->dir, &l, &err), ERR_INVALID);
	assert_string_equal(err.msg, "migrations: '2_b.sql' is not named "
	    "NNNN_description.sql (NNNN from 0001)");
	assert_null(l.items);
	rm(f, "2_b.sql");

	put(f, "0000_zero.sql", "SELECT 1;\n");
	assert_int_equal(migrate_scan(f->dir, &l, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "'0000_zero.sql' is not named"));
	rm(f, "0000_zero.sql");

	put(f, "0003_c.sql", "SELECT 1;\n");
	assert_int_equal(migrate_apply(db, f->dir, NULL, &err), ERR_INVALID);
	assert_string_equal(err.msg, "migrations: number 0002 is missing "
	    "(next file is '0003_c.sql')");
	/* nothing was applied, not even 0001 */
	assert_value(f, "SELECT count(*) FROM schema_migrations", "0");

	put(f, "0002_b.sql", "SELECT 1;\n");
	put(f, "0002_b2.sql", "SELECT 1;\n");
	assert_int_equal(migrate_scan(f->dir, &l, &err), ERR_INVALID);
	assert_string_equal(err.msg, "migrations: '0002_b.sql' and "
	    "'0002_b2.sql' have the same number");

	assert_int_equal(migrate_scan("/nonexistent/migrations", &l, &err),
	    ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "'/nonexistent/migrations'"));
	db_free(db);
}

static void
migrate__failing_migration_rolls_back_and_records_nothing(void **state)
{
	struct fixture *f = *state;
	struct migration_list done = { NULL, 0 };
	struct db *db = testdb_open(&f->t);
	struct err err;

	put(f, "0001_good.sql", "CREATE TABLE good (x int);\n");
	put(f, "0002_bad.sql", "CREATE TABLE half (x int);\n"
	    "INSERT INTO good VALUES (1);\n"
	    "INSERT INTO nope VALUES (1);\n");
	put(f, "0003_after.sql", "CREATE TABLE after (x int);\n");

	assert_int_equal(migrate_apply(db, f->dir, &done, &err), ERR_GENERIC);
	assert_string_equal(err.msg, "migration 0002_bad.sql: line 3: "
	    "relation \"nope\" does not exist");
	assert_int_equal(done.n, 1);
	assert_string_equal(done.items[0].name, "0001_good.sql");
	migration_list_release(&done);

	assert_value(f, "SELECT string_agg(name, ',') FROM schema_migrations",
	    "0001_good.sql");
	assert_value(f, "SELECT to_regclass('half') IS NULL", "t");
	assert_value(f, "SELECT to_regclass('after') IS NULL", "t");
	assert_value(f, "SELECT count(*) FROM good", "0");
	/* the connection is usable and the lock was released */
	assert_int_equal(db_ping(db, &err), 0);
	put(f, "0002_bad.sql", "CREATE TABLE half (x int);\n");
	assert_int_equal(migrate_apply(db, f->dir, &done, &err), 0);
	assert_int_equal(done.n, 2);
	migration_list_release(&done);
	db_free(db);
}

static void
migrate__serve_check_refuses_pending_unless_told_to_migrate(void **state)
{
	struct fixture *f = *state;
	struct db *db = testdb_open(&f->t);
	struct err err;
	size_t pending = 0;

	put(f, "0001_a.sql", "CREATE TABLE a (x int);\n");
	put(f, "0002_b.sql", "CREATE TABLE b (x int);\n");
	assert_int_equal(migrate_pending(db, f->dir, &pending, &err), 0);
	assert_int_equal(pending, 2);
	assert_int_equal(migrate_ensure(db, f->dir, 0, &err), ERR_CONFLICT);
	assert_string_equal(err.msg, "2 pending migrations (first "
	    "0001_a.sql): run 'sluice migrate' or start with --migrate");
	assert_int_equal(migrate_ensure(db, f->dir, 1, &err), 0);
	assert_int_equal(migrate_ensure(db, f->dir, 0, &err), 0);
	db_free(db);
}

static void
migrate__cli_status_lists_applied_and_pending(void **state)
{
	struct fixture *f = *state;
	const char *env[] = { f->url_env, NULL };
	const char *argv[] = { test_env("SLUICE_BIN"), "migrate", "--status",
	    "--migrations-dir", f->dir, NULL };
	const char *apply[] = { test_env("SLUICE_BIN"), "migrate",
	    "--migrations-dir", f->dir, NULL };
	struct testproc p;
	char *at;

	put(f, "0001_a.sql", "CREATE TABLE a (x int);\n");
	assert_int_equal(testproc_run(&p, apply, env), 0);
	assert_int_equal(p.status, 0);
	assert_string_equal(p.out, "applied  0001_a.sql\n");
	testproc_release(&p);

	put(f, "0002_b.sql", "CREATE TABLE b (x int);\n");
	assert_int_equal(testproc_run(&p, argv, env), 0);
	assert_int_equal(p.status, 0);
	at = value(f, "SELECT to_char(applied_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations");
	{
		char want[256];

		(void)snprintf(want, sizeof(want),
		    "applied  0001_a.sql  %s\npending  0002_b.sql\n", at);
		assert_string_equal(p.out, want);
	}
	free(at);
	testproc_release(&p);

	/* a changed file shows as changed and fails the command */
	put(f, "0001_a.sql", "CREATE TABLE a (x bigint);\n");
	assert_int_equal(testproc_run(&p, argv, env), 0);
	assert_int_equal(p.status, 1);
	assert_memory_equal(p.out, "changed  0001_a.sql  ", 21);
	assert_non_null(strstr(p.err, "1 applied migration is changed"));
	testproc_release(&p);
}

static void
migrate__concurrent_runs_apply_each_migration_once(void **state)
{
	struct fixture *f = *state;
	const char *env[] = { f->url_env, NULL };
	const char *argv[] = { test_env("SLUICE_BIN"), "migrate",
	    "--migrations-dir", f->dir, NULL };
	struct testproc a, b;
	int applied = 0;
	const char *s;

	/* Slow enough that the two runs overlap. */
	put(f, "0001_a.sql", "CREATE TABLE runs_log (n int);\n"
	    "SELECT pg_sleep(0.5);\n");
	put(f, "0002_b.sql", "INSERT INTO runs_log VALUES (2);\n"
	    "SELECT pg_sleep(0.5);\n");
	put(f, "0003_c.sql", "INSERT INTO runs_log VALUES (3);\n");

	assert_int_equal(testproc_spawn(&a, argv, env), 0);
	assert_int_equal(testproc_spawn(&b, argv, env), 0);
	assert_int_equal(testproc_wait(&a), 0);
	assert_int_equal(testproc_wait(&b), 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 0);
	for (s = a.out; (s = strstr(s, "applied  ")) != NULL; s++)
		applied++;
	for (s = b.out; (s = strstr(s, "applied  ")) != NULL; s++)
		applied++;
	assert_int_equal(applied, 3);
	assert_value(f, "SELECT string_agg(n::text, ',' ORDER BY n) "
	    "FROM runs_log", "2,3");
	assert_value(f, "SELECT string_agg(version::text, ',' ORDER BY "
	    "version) FROM schema_migrations", "1,2,3");
	testproc_release(&a);
	testproc_release(&b);
}

static void
migrate__project_migrations_apply_and_events_are_append_only(void **state)
{
	struct fixture *f = *state;
	char dir[1024];
	const char *env[] = { f->url_env, NULL };
	const char *argv[] = { test_env("SLUICE_BIN"), "migrate",
	    "--migrations-dir", dir, NULL };
	struct db *db;
	struct testproc p;
	struct err err;
	size_t pending = 9;

	(void)snprintf(dir, sizeof(dir), "%s/migrations",
	    test_env("SLUICE_TOP"));
	assert_int_equal(testproc_run(&p, argv, env), 0);
	assert_int_equal(p.status, 0);
	assert_non_null(strstr(p.out, "applied  0001_lineage.sql\n"));
	testproc_release(&p);
	assert_int_equal(testproc_run(&p, argv, env), 0);
	assert_int_equal(p.status, 0);
	assert_string_equal(p.out, "no pending migrations\n");
	testproc_release(&p);

	db = testdb_open(&f->t);
	assert_int_equal(migrate_pending(db, dir, &pending, &err), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(db_exec(db, "INSERT INTO events (actor, entity_type, "
	    "entity_id, from_state, to_state) VALUES ('engine', 'run', 1, "
	    "'queued', 'running')", NULL, NULL, &err), 0);
	assert_int_equal(db_exec(db, "UPDATE events SET to_state = 'failed'",
	    NULL, NULL, &err), ERR_INVALID);
	assert_string_equal(err.msg, "database: events are append-only: "
	    "UPDATE is not allowed");
	assert_int_equal(db_exec(db, "DELETE FROM events", NULL, NULL, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "DELETE is not allowed"));
	assert_int_equal(db_exec(db, "TRUNCATE events", NULL, NULL, &err),
	    ERR_INVALID);
	assert_value(f, "SELECT to_state FROM events", "running");
	db_free(db);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(migrate__applies_files_in_number_order),
		T(migrate__second_run_is_a_no_op),
		T(migrate__refuses_when_an_applied_file_changed),
		T(migrate__refuses_when_an_applied_file_is_missing),
		T(migrate__refuses_bad_names_gaps_and_duplicates),
		T(migrate__failing_migration_rolls_back_and_records_nothing),
		T(migrate__serve_check_refuses_pending_unless_told_to_migrate),
		T(migrate__cli_status_lists_applied_and_pending),
		T(migrate__concurrent_runs_apply_each_migration_once),
		T(migrate__project_migrations_apply_and_events_are_append_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
