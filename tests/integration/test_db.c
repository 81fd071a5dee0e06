/*
 * test_db.c - the PostgreSQL connection against a real server: parameters,
 * results, error codes, transactions, advisory locks and reconnection.
 * The restart test stops the cluster, so this program has a cluster of its
 * own (testpg_private): the other programs run meanwhile.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <time.h>

#include "../support/testdb.h"
#include "store/db.h"

static int
group_setup(void **state)
{
	(void)state;
	return testpg_private();
}

static int
group_teardown(void **state)
{
	(void)state;
	testpg_private_end();
	return 0;
}

/* The backend pid of db's session. */
static int64_t
backend_pid(struct db *db)
{
	struct db_res *res = NULL;
	struct err err;
	int64_t pid = 0;

	assert_int_equal(db_exec(db, "SELECT pg_backend_pid()", NULL, &res,
	    &err), 0);
	assert_int_equal(db_res_int64(res, 0, 0, &pid, &err), 0);
	db_res_free(res);
	return pid;
}

/* Kill db's session from another connection and wait until it is gone. */
static void
kill_session(const struct testdb *t, struct db *db)
{
	struct db *other = testdb_open(t);
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	int killed = 0;

	db_args_init(&a);
	db_args_int64(&a, backend_pid(db));
	assert_int_equal(db_exec(other,
	    "SELECT pg_terminate_backend($1::int, 10000)", &a, &res, &err), 0);
	assert_int_equal(db_res_bool(res, 0, 0, &killed, &err), 0);
	assert_true(killed);
	db_res_free(res);
	db_free(other);
}

static void
db__open_rejects_a_malformed_conninfo(void **state)
{
	struct db *db = NULL;
	struct err err;

	(void)state;
	assert_int_equal(db_open(&db, "host=/tmp port", &err), ERR_INVALID);
	assert_null(db);
	assert_non_null(strstr(err.msg, "invalid database_url"));
	assert_int_equal(db_open(&db, "postgresql://[::1", &err),
	    ERR_INVALID);
	assert_null(db);
}

static void
db__open_fails_as_transient_when_the_server_is_unreachable(void **state)
{
	struct db *db = NULL;
	struct err err;

	(void)state;
	assert_int_equal(db_open(&db, "host=/nonexistent/sluice port=1 "
	    "user=x password=hunter2", &err), ERR_TRANSIENT);
	assert_null(db);
	assert_string_equal(err_code_name(err.code), "unavailable");
	assert_memory_equal(err.msg, "database unavailable: ", 22);
	assert_non_null(strstr(err.msg, "/nonexistent/sluice"));
	assert_null(strstr(err.msg, "hunter2"));
	assert_null(strchr(err.msg, '\n'));
}

static void
db__passes_parameters_and_reads_typed_values(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	const char *evil = "x'); DROP TABLE t; --";
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	int64_t i = 0;
	double d = 0;
	int b = 0;

	assert_int_equal(db_exec(db, "CREATE TABLE t (s text, i bigint, "
	    "d double precision, b boolean, n text)", NULL, NULL, &err), 0);
	db_args_init(&a);
	db_args_str(&a, evil);
	db_args_int64(&a, INT64_MIN);
	db_args_double(&a, 0.1);
	db_args_bool(&a, 1);
	db_args_null(&a);
	assert_int_equal(db_exec(db, "INSERT INTO t VALUES ($1, $2, $3, $4, "
	    "$5)", &a, &res, &err), 0);
	assert_int_equal(db_res_affected(res), 1);
	db_res_free(res);

	assert_int_equal(db_exec(db, "SELECT s, i, d, b, n FROM t", NULL,
	    &res, &err), 0);
	assert_int_equal(db_res_rows(res), 1);
	assert_int_equal(db_res_cols(res), 5);
	assert_string_equal(db_res_text(res, 0, 0), evil);
	assert_int_equal(db_res_int64(res, 0, 1, &i, &err), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(db_res_double(res, 0, 2, &d, &err), 0);
	assert_true(d == 0.1);
	assert_int_equal(db_res_bool(res, 0, 3, &b, &err), 0);
	assert_int_equal(b, 1);
	assert_null(db_res_text(res, 0, 4));
	assert_true(db_res_is_null(res, 0, 4));
	assert_int_equal(db_res_int64(res, 0, 4, &i, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "'n' is null"));
	assert_int_equal(db_res_int64(res, 0, 0, &i, &err), ERR_INVALID);
	db_res_free(res);
	db_free(db);
}

static void
db__maps_server_errors_to_codes_callers_branch_on(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct err err;

	assert_int_equal(db_exec(db, "CREATE TABLE u (k text PRIMARY KEY, "
	    "n int CHECK (n > 0))", NULL, NULL, &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO u VALUES ('a', 1)", NULL,
	    NULL, &err), 0);
	assert_string_equal(db_sqlstate(db), "");

	assert_int_equal(db_exec(db, "INSERT INTO u VALUES ('a', 1)", NULL,
	    NULL, &err), ERR_CONFLICT);
	assert_string_equal(db_sqlstate(db), "23505");
	assert_string_equal(err.msg, "database: duplicate key value violates "
	    "unique constraint \"u_pkey\"");

	assert_int_equal(db_exec(db, "INSERT INTO u VALUES ('b', 0)", NULL,
	    NULL, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "u_n_check"));
	assert_int_equal(db_exec(db, "SELECT 'x'::int", NULL, NULL, &err),
	    ERR_INVALID);

	assert_int_equal(db_exec(db, "SELEC 1", NULL, NULL, &err),
	    ERR_GENERIC);
	assert_non_null(strstr(err.msg, "syntax error"));
	assert_int_equal(db_exec(db, "SELECT * FROM runs", NULL, NULL, &err),
	    ERR_GENERIC);
	assert_non_null(strstr(err.msg, "has 'sluice migrate' been run?"));
	/* the connection is still good after errors */
	assert_int_equal(db_ping(db, &err), 0);
	db_free(db);
}

static void
db__scripts_report_the_failing_line(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct err err;

	assert_int_equal(db_exec_script(db, "CREATE TABLE a (x int);\n"
	    "INSERT INTO a VALUES (1);\n-- é\nINSERT INTO nope VALUES (2);\n",
	    &err), ERR_GENERIC);
	assert_string_equal(err.msg,
	    "line 4: relation \"nope\" does not exist");
	db_free(db);
}

static void
db__transactions_commit_and_roll_back(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_res *res = NULL;
	struct err err;

	assert_int_equal(db_exec(db, "CREATE TABLE v (k int PRIMARY KEY)",
	    NULL, NULL, &err), 0);
	assert_int_equal(db_begin(db, &err), 0);
	assert_true(db_in_transaction(db));
	assert_int_equal(db_exec(db, "INSERT INTO v VALUES (1)", NULL, NULL,
	    &err), 0);
	db_rollback(db);
	assert_false(db_in_transaction(db));
	db_rollback(db);	/* a no-op outside a transaction */

	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO v VALUES (2)", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_commit(db, &err), 0);
	assert_false(db_in_transaction(db));

	/* a commit after a failed statement says it rolled back */
	assert_int_equal(db_begin(db, &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO v VALUES (3)", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_exec(db, "INSERT INTO v VALUES (2)", NULL, NULL,
	    &err), ERR_CONFLICT);
	assert_int_equal(db_commit(db, &err), ERR_GENERIC);
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_false(db_in_transaction(db));

	assert_int_equal(db_exec(db, "SELECT k FROM v ORDER BY k", NULL, &res,
	    &err), 0);
	assert_int_equal(db_res_rows(res), 1);
	assert_string_equal(db_res_text(res, 0, 0), "2");
	db_res_free(res);
	db_free(db);
}

static void
db__advisory_lock_excludes_another_session(void **state)
{
	struct testdb *t = *state;
	struct db *a = testdb_open(t), *b = testdb_open(t);
	struct err err;
	int got = -1;

	assert_int_equal(db_advisory_lock(a, 42, &err), 0);
	assert_int_equal(db_advisory_try_lock(b, 42, &got, &err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(db_advisory_unlock(a, 42, &err), 0);
	assert_int_equal(db_advisory_try_lock(b, 42, &got, &err), 0);
	assert_int_equal(got, 1);
	assert_int_equal(db_advisory_unlock(b, 42, &err), 0);
	db_free(a);
	db_free(b);
}

/* Close the connection given after 200 ms (another thread). */
static void *
free_later(void *arg)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	db_free(arg);
	return NULL;
}

static void
db__lock_wait_times_out_and_is_granted_when_the_holder_goes(void **state)
{
	struct testdb *t = *state;
	struct db *a = testdb_open(t), *b = testdb_open(t);
	struct db *c = testdb_open(t);
	struct err err;
	pthread_t th;
	int got = -1;

	assert_int_equal(db_advisory_lock(a, 42, &err), 0);
	/* held: the wait ends empty-handed, outside any transaction */
	assert_int_equal(db_advisory_lock_wait(b, 42, 100, &got, &err), 0);
	assert_int_equal(got, 0);
	assert_false(db_in_transaction(b));
	assert_int_equal(db_ping(b, &err), 0);
	/* the holder's session ends while b waits: b has it */
	assert_int_equal(pthread_create(&th, NULL, free_later, a), 0);
	assert_int_equal(db_advisory_lock_wait(b, 42, 600000, &got, &err), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(got, 1);
	assert_false(db_in_transaction(b));
	/* and keeps it after the wait's transaction */
	assert_int_equal(db_advisory_try_lock(c, 42, &got, &err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(db_advisory_unlock(b, 42, &err), 0);
	assert_int_equal(db_advisory_try_lock(c, 42, &got, &err), 0);
	assert_int_equal(got, 1);
	assert_int_equal(db_advisory_unlock(c, 42, &err), 0);
	db_free(b);
	db_free(c);
}

static void
db__server_keepalives_are_set_for_the_session(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_res *res = NULL;
	struct err err;

	assert_int_equal(db_server_keepalives(db, 10, 5, 3, &err), 0);
	/* the session's own setting (a Unix socket reads it as 0) */
	assert_int_equal(db_exec(db, "SELECT current_setting("
	    "'tcp_keepalives_count')::int IN (0, 3)", NULL, &res, &err), 0);
	assert_string_equal(db_res_text(res, 0, 0), "t");
	db_res_free(res);
	db_free(db);
}

static void
db__reconnects_when_the_server_ended_the_session(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	int64_t before = backend_pid(db);
	struct err err;

	kill_session(t, db);
	/* the next call finds the dead session and runs on a new one */
	assert_int_equal(db_ping(db, &err), 0);
	assert_true(backend_pid(db) != before);
	db_free(db);
}

static void
db__does_not_hide_a_lost_transaction(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct err err;
	int got = 0;

	assert_int_equal(db_begin(db, &err), 0);
	kill_session(t, db);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, NULL, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "inside a transaction"));
	assert_int_equal(db_commit(db, &err), ERR_TRANSIENT);
	assert_false(db_in_transaction(db));
	assert_int_equal(db_ping(db, &err), 0);

	/* likewise a session lock */
	assert_int_equal(db_advisory_try_lock(db, 7, &got, &err), 0);
	assert_int_equal(got, 1);
	kill_session(t, db);
	assert_int_equal(db_ping(db, &err), ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "while holding a lock"));
	assert_int_equal(db_advisory_unlock(db, 7, &err), 0);
	assert_int_equal(db_ping(db, &err), 0);
	db_free(db);
}

/* Last: it stops and starts the (private) cluster. */
static void
db__next_call_succeeds_after_postgresql_restarts(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_res *res = NULL;
	struct err err;
	int rc;

	assert_int_equal(db_exec(db, "CREATE TABLE w (k int)", NULL, NULL,
	    &err), 0);
	assert_int_equal(testpg_stop(), 0);
	rc = db_exec(db, "INSERT INTO w VALUES (1)", NULL, NULL, &err);
	if (rc != ERR_TRANSIENT)
		(void)testpg_start();
	assert_int_equal(rc, ERR_TRANSIENT);
	assert_memory_equal(err.msg, "database unavailable: ", 22);
	assert_int_equal(db_ping(db, &err), ERR_TRANSIENT);

	assert_int_equal(testpg_start(), 0);
	assert_int_equal(db_exec(db, "INSERT INTO w VALUES (1)", NULL, NULL,
	    &err), 0);
	assert_int_equal(db_exec(db, "SELECT count(*) FROM w", NULL, &res,
	    &err), 0);
	assert_string_equal(db_res_text(res, 0, 0), "1");
	db_res_free(res);

	/* a restart with no call in between is just as invisible */
	assert_int_equal(testpg_stop(), 0);
	assert_int_equal(testpg_start(), 0);
	assert_int_equal(db_ping(db, &err), 0);
	db_free(db);
}

static const char sql_prepared[] = "SELECT $1::int + 1, count(*) FROM"
    " pg_prepared_statements WHERE name LIKE 'sluice_p%'";

static void
db__prepared_statements_are_made_once_and_again_after_a_reconnect(
    void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	int64_t v, n;

	for (int i = 0; i < 3; i++) {
		db_args_init(&a);
		db_args_int64(&a, i);
		assert_int_equal(db_exec_prepared(db, sql_prepared, &a, &res,
		    &err), 0);
		assert_int_equal(db_res_int64(res, 0, 0, &v, &err), 0);
		assert_int_equal(db_res_int64(res, 0, 1, &n, &err), 0);
		assert_int_equal(v, i + 1);
		assert_int_equal(n, 1);	/* prepared once */
		db_res_free(res);
	}
	kill_session(t, db);
	db_args_init(&a);
	db_args_int64(&a, 41);
	assert_int_equal(db_exec_prepared(db, sql_prepared, &a, &res, &err), 0);
	assert_int_equal(db_res_int64(res, 0, 0, &v, &err), 0);
	assert_int_equal(v, 42);
	db_res_free(res);
	/* a statement that does not prepare is an error, not a cached one */
	assert_int_equal(db_exec_prepared(db, "SELECT nope", NULL, NULL,
	    &err), ERR_GENERIC);
	assert_int_equal(db_exec_prepared(db, "SELECT nope", NULL, NULL,
	    &err), ERR_GENERIC);
	/* the server forgot them all (DISCARD): prepared again at once */
	assert_int_equal(db_exec(db, "DEALLOCATE ALL", NULL, NULL, &err), 0);
	db_args_init(&a);
	db_args_int64(&a, 1);
	assert_int_equal(db_exec_prepared(db, sql_prepared, &a, NULL, &err),
	    0);
	db_free(db);
}

static void
db__exec_int64_reads_one_integer_and_names_what_is_missing(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_args a;
	struct err err;
	int64_t v = 7;

	assert_int_equal(db_exec(db, "CREATE TABLE w (id bigint"
	    " GENERATED BY DEFAULT AS IDENTITY, k text UNIQUE, n bigint)",
	    NULL, NULL, &err), 0);
	db_args_init(&a);
	db_args_str(&a, "a");
	assert_int_equal(db_exec_int64(db, "INSERT INTO w (k, n) VALUES ($1,"
	    " 9223372036854775807) RETURNING id", &a, &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(db_exec_int64(db, "SELECT n FROM w WHERE k = $1",
	    &a, &v, &err), 0);
	assert_true(v == INT64_MAX);

	/* no row, a NULL, text, an error of the server: *out is 0 */
	v = 7;
	db_args_init(&a);
	db_args_str(&a, "zz");
	assert_int_equal(db_exec_int64(db, "SELECT n FROM w WHERE k = $1",
	    &a, &v, &err), ERR_NOTFOUND);
	assert_int_equal(v, 0);
	assert_string_equal(err.msg, "database: no row");
	v = 7;
	assert_int_equal(db_exec_int64(db, "SELECT NULL::bigint AS m", NULL,
	    &v, &err), ERR_NOTFOUND);
	assert_int_equal(v, 0);
	assert_non_null(strstr(err.msg, "'m' is null"));
	assert_int_equal(db_exec_int64(db, "SELECT 'x'::text AS s", NULL, &v,
	    &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "'s' is not an integer"));
	assert_int_equal(db_exec_int64(db, "SELECT 99999999999999999999",
	    NULL, &v, &err), ERR_INVALID);
	db_args_init(&a);
	db_args_str(&a, "a");
	v = 7;
	assert_int_equal(db_exec_int64(db, "INSERT INTO w (k) VALUES ($1)"
	    " RETURNING id", &a, &v, &err), ERR_CONFLICT);
	assert_int_equal(v, 0);
	/* the first column of the first row */
	assert_int_equal(db_exec_int64(db, "SELECT g, 0 FROM"
	    " generate_series(5, 8) g", NULL, &v, &err), 0);
	assert_int_equal(v, 5);
	db_free(db);
}

static void
db__exec_changed_counts_the_rows_a_statement_changed(void **state)
{
	struct testdb *t = *state;
	struct db *db = testdb_open(t);
	struct db_args a;
	struct err err;
	int64_t n = 7;

	assert_int_equal(db_exec(db, "CREATE TABLE c (k int PRIMARY KEY,"
	    " v text)", NULL, NULL, &err), 0);
	assert_int_equal(db_exec_changed(db, "INSERT INTO c SELECT g, 'a'"
	    " FROM generate_series(1, 5) g", NULL, &n, &err), 0);
	assert_int_equal(n, 5);
	db_args_init(&a);
	db_args_int64(&a, 2);
	assert_int_equal(db_exec_changed(db, "UPDATE c SET v = 'b'"
	    " WHERE k > $1", &a, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(db_exec_changed(db, "DELETE FROM c WHERE k > $1"
	    " RETURNING k", &a, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(db_exec_changed(db, "DELETE FROM c WHERE k > $1",
	    &a, &n, &err), 0);
	assert_int_equal(n, 0);
	/* a statement that changes nothing, NULL for the count */
	assert_int_equal(db_exec_changed(db, "CREATE INDEX ON c (v)", NULL,
	    &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(db_exec_changed(db, "UPDATE c SET v = 'c'", NULL,
	    NULL, &err), 0);
	/* errors: the server's code, and the count is 0 */
	n = 7;
	assert_int_equal(db_exec_changed(db, "INSERT INTO c VALUES (1, 'x')",
	    NULL, &n, &err), ERR_CONFLICT);
	assert_int_equal(n, 0);
	assert_int_equal(db_exec_changed(db, "UPDATE nosuch SET v = 1", NULL,
	    &n, &err), ERR_GENERIC);
	db_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) \
    cmocka_unit_test_setup_teardown(name, testdb_setup, testdb_teardown)
		T(db__prepared_statements_are_made_once_and_again_after_a_reconnect),
		cmocka_unit_test(db__open_rejects_a_malformed_conninfo),
		cmocka_unit_test(
		    db__open_fails_as_transient_when_the_server_is_unreachable),
		T(db__passes_parameters_and_reads_typed_values),
		T(db__maps_server_errors_to_codes_callers_branch_on),
		T(db__scripts_report_the_failing_line),
		T(db__transactions_commit_and_roll_back),
		T(db__advisory_lock_excludes_another_session),
		T(db__lock_wait_times_out_and_is_granted_when_the_holder_goes),
		T(db__server_keepalives_are_set_for_the_session),
		T(db__reconnects_when_the_server_ended_the_session),
		T(db__does_not_hide_a_lost_transaction),
		T(db__exec_int64_reads_one_integer_and_names_what_is_missing),
		T(db__exec_changed_counts_the_rows_a_statement_changed),
		T(db__next_call_succeeds_after_postgresql_restarts),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
