/*
 * test_api_outage.c - a database outage as clients see it: the server's
 * pool points at a socket directory where no PostgreSQL listens, and
 * /readyz, sign-in, bearer requests and hooks answer 503 "database
 * unavailable" without libpq's text (which names the socket path).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "base/err.h"
#include "http/ctl.h"
#include "http/webhook.h"
#include "store/db.h"
#include "store/store_token.h"

#define SECRET	"outage-secret"
#define NOWHERE	"/tmp/sluice-no-such-socket-dir"

static const char *const settings[] = {
	"database_url=host=" NOWHERE " dbname=sluice connect_timeout=2", NULL
};

static int
setup(void **state)
{
	struct testapi *a = testapi_start(NULL, settings, SECRET);

	*state = a;
	return a == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	testapi_stop(*state);
	return 0;
}

/* rp is a 503 "database unavailable" that holds nothing of libpq's. */
static void
assert_clean_outage(const struct testreply *rp, const char *what)
{
	static const char *const leaks[] = {
		NOWHERE, "socket", "connection to server", ".s.PGSQL",
		"No such file", "libpq", "failed:",
	};

	if (rp->status != 503 || strstr(rp->body, "database unavailable") ==
	    NULL)
		fail_msg("%s: %ld %s", what, rp->status, rp->body);
	for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++) {
		if (strstr(rp->body, leaks[i]) != NULL)
			fail_msg("%s leaks '%s': %s", what, leaks[i], rp->body);
	}
}

static void
outage__clients_get_database_unavailable_without_libpq_text(void **state)
{
	struct testapi *a = *state;
	const char *hook = "{\"reason\":\"nightly\"}";
	char token[TOKEN_LEN + 1], body[128], sig[WEBHOOK_SIG_LEN + 1];
	char hs[128];
	const char *h[3] = { NULL, "X-Sluice-Delivery: outage-1", NULL };
	struct testreply rp;

	assert_int_equal(testapi_token(a, "ada-admin", "admin", token), 0);

	testapi_as(a, &rp, token, "GET", "/api/v1/runs", NULL);
	assert_clean_outage(&rp, "bearer request");
	assert_non_null(strstr(rp.body, "\"code\":\"unavailable\""));
	testreply_free(&rp);

	(void)snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
	testapi_request(a, &rp, "POST", "/api/v1/session", body, strlen(body),
	    NULL);
	assert_clean_outage(&rp, "sign-in");
	testreply_free(&rp);

	assert_int_equal(webhook_sign(SECRET, hook, strlen(hook), sig,
	    sizeof(sig)), 0);
	(void)snprintf(hs, sizeof(hs), "X-Sluice-Signature-256: %s", sig);
	h[0] = hs;
	testapi_request(a, &rp, "POST", "/api/v1/hooks/retrain/demo", hook,
	    strlen(hook), h);
	assert_clean_outage(&rp, "hook");
	testreply_free(&rp);
}

/* The serve loop keeps libpq's words in not_ready_reason for the log. */
static void
outage__readyz_says_database_unavailable_and_no_more(void **state)
{
	struct testapi *a = *state;
	struct testreply rp;
	struct db *db = NULL;
	struct err err;

	err_clear(&err);
	assert_int_equal(db_open(&db, "host=" NOWHERE " dbname=sluice", &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, NOWHERE));	/* what would leak */
	(void)snprintf(a->ctl.not_ready_reason,
	    sizeof(a->ctl.not_ready_reason), "%.200s", err.msg);
	a->ctl.db_ready = 0;
	testapi_request(a, &rp, "GET", "/readyz", NULL, 0, NULL);
	assert_clean_outage(&rp, "/readyz");
	assert_non_null(strstr(rp.body, "\"code\":\"not_ready\""));
	testreply_free(&rp);

	/* a migration check that failed on the database: the same */
	a->ctl.db_ready = 1;
	a->ctl.migrations_ready = 0;
	testapi_request(a, &rp, "GET", "/readyz", NULL, 0, NULL);
	assert_int_equal(rp.status, 503);
	assert_null(strstr(rp.body, NOWHERE));
	assert_non_null(strstr(rp.body, "migrations pending: database "
	    "unavailable"));
	testreply_free(&rp);
	a->ctl.migrations_ready = 1;
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(outage__clients_get_database_unavailable_without_libpq_text),
		T(outage__readyz_says_database_unavailable_and_no_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
