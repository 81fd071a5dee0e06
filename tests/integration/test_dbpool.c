/*
 * test_dbpool.c - the HTTP threads' connection pool against a real
 * PostgreSQL: lazy connections, reuse, "database busy" when all are taken,
 * a waiter served when one comes back, a failed connect freeing its slot,
 * a connection returned inside a transaction rolled back.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testdb.h"
#include "store/db.h"
#include "store/dbpool.h"

static int
backend_pid(struct db *db)
{
	struct db_res *res = NULL;
	struct err err;
	int64_t pid = 0;

	assert_int_equal(db_exec(db, "SELECT pg_backend_pid()", NULL, &res,
	    &err), 0);
	assert_int_equal(db_res_int64(res, 0, 0, &pid, &err), 0);
	db_res_free(res);
	return (int)pid;
}

static void
dbpool__connections_are_reused_and_capped(void **state)
{
	struct testdb *t = *state;
	struct dbpool *p = dbpool_new(t->url, 2, 100);
	struct db *a = NULL, *b = NULL, *c = NULL;
	struct err err;
	int pid;

	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	pid = backend_pid(a);
	dbpool_release(p, a);
	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	assert_int_equal(backend_pid(a), pid);	/* the same connection */
	assert_int_equal(dbpool_acquire(p, &b, &err), 0);
	assert_int_not_equal(backend_pid(b), pid);
	assert_int_equal(dbpool_acquire(p, &c, &err), ERR_TRANSIENT);
	assert_null(c);
	assert_string_equal(err.msg, "database busy: all 2 connections in use");
	dbpool_release(p, a);
	dbpool_release(p, b);
	dbpool_free(p);
}

struct waiter {
	struct dbpool	*p;
	struct db	*got;
	int		 rc;
};

static void *
wait_for_one(void *arg)
{
	struct waiter *w = arg;
	struct err err;

	w->rc = dbpool_acquire(w->p, &w->got, &err);
	return NULL;
}

static void
dbpool__a_waiter_gets_the_connection_given_back(void **state)
{
	struct testdb *t = *state;
	struct dbpool *p = dbpool_new(t->url, 1, 60000);
	struct waiter w = { p, NULL, -1 };
	struct db *a = NULL;
	struct err err;
	pthread_t th;

	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	assert_int_equal(pthread_create(&th, NULL, wait_for_one, &w), 0);
	dbpool_release(p, a);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_ptr_equal(w.got, a);
	dbpool_release(p, w.got);
	dbpool_free(p);
}

static void
dbpool__a_failed_connect_frees_its_slot(void **state)
{
	struct dbpool *p = dbpool_new("host=/nonexistent port=1 user=x "
	    "connect_timeout=2", 1, 100);
	struct db *a = NULL;
	struct err err;

	(void)state;
	assert_int_equal(dbpool_acquire(p, &a, &err), ERR_TRANSIENT);
	assert_null(strstr(err.msg, "busy"));
	/* the slot came back: the next try connects again, not "busy" */
	assert_int_equal(dbpool_acquire(p, &a, &err), ERR_TRANSIENT);
	assert_null(strstr(err.msg, "busy"));
	dbpool_free(p);
}

static void
dbpool__a_connection_given_back_in_a_transaction_is_rolled_back(void **state)
{
	struct testdb *t = *state;
	struct dbpool *p = dbpool_new(t->url, 1, 100);
	struct db *a = NULL;
	struct err err;
	char *v;

	assert_int_equal(testdb_sql(t, "CREATE TABLE x (n int)"), 0);
	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	assert_int_equal(db_begin(a, &err), 0);
	assert_int_equal(db_exec(a, "INSERT INTO x VALUES (1)", NULL, NULL,
	    &err), 0);
	dbpool_release(p, a);
	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	assert_int_equal(db_in_transaction(a), 0);
	dbpool_release(p, a);
	v = testdb_value(t, "SELECT count(*) FROM x");
	assert_string_equal(v, "0");
	free(v);
	dbpool_free(p);
}

/* The pool's statement timeout holds on every connection, reconnected too. */
static void
dbpool__statements_past_the_timeout_are_canceled_after_a_reconnect_too(
    void **state)
{
	struct testdb *t = *state;
	struct dbpool *p = dbpool_new(t->url, 1, 100);
	struct db *a = NULL;
	struct db_res *res = NULL;
	struct err err;
	char sql[128];

	dbpool_set_statement_timeout(p, 200);
	assert_int_equal(dbpool_acquire(p, &a, &err), 0);
	assert_int_equal(db_exec(a, "SELECT pg_sleep(3)", NULL, NULL, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "statement timeout"));
	/* the backend goes away; the next statement reconnects */
	(void)snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 5000)",
	    backend_pid(a));
	assert_int_equal(testdb_sql(t, sql), 0);
	assert_int_equal(db_exec(a, "SHOW statement_timeout", NULL, &res,
	    &err), 0);
	assert_string_equal(db_res_text(res, 0, 0), "200ms");
	db_res_free(res);
	assert_int_equal(db_exec(a, "SELECT pg_sleep(3)", NULL, NULL, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "statement timeout"));
	dbpool_release(p, a);
	dbpool_free(p);
}

int
main(void)
{
#define T(name) \
    cmocka_unit_test_setup_teardown(name, testdb_setup, testdb_teardown)
	const struct CMUnitTest tests[] = {
		T(dbpool__connections_are_reused_and_capped),
		T(dbpool__a_waiter_gets_the_connection_given_back),
		T(dbpool__a_failed_connect_frees_its_slot),
		T(dbpool__a_connection_given_back_in_a_transaction_is_rolled_back),
		T(dbpool__statements_past_the_timeout_are_canceled_after_a_reconnect_too),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
