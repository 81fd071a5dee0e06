/*
 * test_token.c - API tokens through the store and `sluice token`: created
 * once and stored as a hash, looked up by the text a client presents,
 * refused when unknown, revoked or malformed, audited.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testdb.h"
#include "base/role.h"
#include "store/db.h"
#include "store/store_token.h"

struct fixture {
	struct testdb	 t;
	struct db	*db;
	char		 url_env[2100];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || testdb_create_migrated(&f->t) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	(void)snprintf(f->url_env, sizeof(f->url_env),
	    "SLUICE_DATABASE_URL=%s", f->t.url);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	db_free(f->db);
	testdb_drop(&f->t);
	free(f);
	return 0;
}

static void
assert_value(struct fixture *f, const char *sql, const char *want)
{
	char *v = testdb_value(&f->t, sql);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

/* Whether s looks like a token: slc_ and 43 base64url characters. */
static int
is_token(const char *s)
{
	if (strlen(s) != TOKEN_LEN || strncmp(s, "slc_", 4) != 0)
		return 0;
	for (s += 4; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	}
	return 1;
}

static void
token__created_token_finds_its_name_and_role(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], other[TOKEN_LEN + 1];
	struct token_info info;
	struct err err;

	assert_int_equal(store_token_create(f->db, "ci", ROLE_OPERATOR,
	    "cli", token, sizeof(token), &err), 0);
	assert_true(is_token(token));
	assert_int_equal(store_token_create(f->db, "alice@example", ROLE_ADMIN,
	    "cli", other, sizeof(other), &err), 0);
	assert_string_not_equal(token, other);

	assert_int_equal(store_token_lookup(f->db, token, &info, &err), 0);
	assert_string_equal(info.name, "ci");
	assert_int_equal(info.role, ROLE_OPERATOR);
	assert_string_equal(info.last_used_at, "");	/* first use */
	assert_int_equal(store_token_lookup(f->db, other, &info, &err), 0);
	assert_string_equal(info.name, "alice@example");
	assert_int_equal(info.role, ROLE_ADMIN);
	assert_true(info.role > ROLE_APPROVER);
	/* the use was recorded */
	assert_value(f, "SELECT last_used_at IS NOT NULL FROM api_tokens "
	    "WHERE name = 'ci'", "t");
	assert_int_equal(store_token_lookup(f->db, token, &info, &err), 0);
	assert_memory_equal(info.last_used_at, "20", 2);
}

static void
token__is_stored_only_as_its_sha256(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], sql[256];
	struct err err;

	assert_int_equal(store_token_create(f->db, "ci", ROLE_VIEWER, "cli",
	    token, sizeof(token), &err), 0);
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM api_tokens t "
	    "WHERE t::text LIKE '%%%s%%'", token + 4);
	assert_value(f, sql, "0");
	(void)snprintf(sql, sizeof(sql), "SELECT token_hash = sha256('%s') "
	    "FROM api_tokens", token);
	assert_value(f, sql, "t");
	/* the creation is audited, without the token */
	assert_value(f, "SELECT actor || ' ' || action || ' ' || "
	    "(data->>'name') || ' ' || (data->>'role') FROM events "
	    "WHERE entity_type = 'token'", "cli created ci viewer");
	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM events e "
	    "WHERE e::text LIKE '%%%s%%'", token + 4);
	assert_value(f, sql, "0");
}

static void
token__lookup_refuses_unknown_malformed_and_revoked(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], again[TOKEN_LEN + 1], forged[64];
	static const char *const junk[] = {
		"", "slc_", "Bearer x", "slc_short",
		"slc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	struct token_info info;
	struct err err;

	assert_int_equal(store_token_create(f->db, "ci", ROLE_APPROVER, "cli",
	    token, sizeof(token), &err), 0);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		assert_int_equal(store_token_lookup(f->db, junk[i], &info,
		    &err), ERR_UNAUTHORIZED);
		assert_string_equal(err.msg, "invalid or revoked token");
		assert_string_equal(info.name, "");
	}
	/* one character off */
	memcpy(forged, token, sizeof(token));
	forged[10] = forged[10] == 'A' ? 'B' : 'A';
	assert_int_equal(store_token_lookup(f->db, forged, &info, &err),
	    ERR_UNAUTHORIZED);

	assert_int_equal(store_token_revoke(f->db, "ci", "admin", &err), 0);
	assert_int_equal(store_token_lookup(f->db, token, &info, &err),
	    ERR_UNAUTHORIZED);
	assert_int_equal(store_token_revoke(f->db, "ci", "admin", &err),
	    ERR_NOTFOUND);
	assert_string_equal(err.msg, "token 'ci' not found");
	assert_value(f, "SELECT actor FROM events WHERE action = 'revoked'",
	    "admin");

	/* the name is free again, for a new token */
	assert_int_equal(store_token_create(f->db, "ci", ROLE_VIEWER, "cli",
	    again, sizeof(again), &err), 0);
	assert_int_equal(store_token_lookup(f->db, again, &info, &err), 0);
	assert_int_equal(info.role, ROLE_VIEWER);
}

static void
token__duplicate_or_bad_names_are_refused(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1];
	struct token_info *list = NULL;
	size_t n = 0;
	struct err err;

	assert_int_equal(store_token_create(f->db, "ci", ROLE_VIEWER, "cli",
	    token, sizeof(token), &err), 0);
	assert_int_equal(store_token_create(f->db, "ci", ROLE_ADMIN, "cli",
	    token, sizeof(token), &err), ERR_CONFLICT);
	assert_string_equal(err.msg, "token 'ci' already exists");
	assert_string_equal(token, "");
	assert_int_equal(store_token_create(f->db, "has space", ROLE_ADMIN,
	    "cli", token, sizeof(token), &err), ERR_INVALID);
	assert_int_equal(store_token_create(f->db, "-dash", ROLE_ADMIN, "cli",
	    token, sizeof(token), &err), ERR_INVALID);
	assert_int_equal(store_token_create(f->db, "", ROLE_ADMIN, "cli",
	    token, sizeof(token), &err), ERR_INVALID);
	assert_int_equal(store_token_create(f->db, "x", ROLE_NONE, "cli",
	    token, sizeof(token), &err), ERR_INVALID);

	assert_int_equal(store_token_list(f->db, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "ci");
	assert_int_equal(list[0].role, ROLE_VIEWER);
	assert_string_equal(list[0].revoked_at, "");
	free(list);
}

static void
token__cli_create_prints_the_token_alone(void **state)
{
	struct fixture *f = *state;
	const char *env[] = { f->url_env, NULL };
	const char *create[] = { test_env("SLUICE_BIN"), "token", "create",
	    "--name", "demo-admin", "--role", "admin", NULL };
	const char *bad_role[] = { test_env("SLUICE_BIN"), "token", "create",
	    "--name", "x", "--role", "root", NULL };
	const char *no_role[] = { test_env("SLUICE_BIN"), "token", "create",
	    "--name", "x", NULL };
	struct token_info info;
	struct testproc p;
	struct err err;
	size_t len;

	assert_int_equal(testproc_run(&p, create, env), 0);
	assert_int_equal(p.status, 0);
	len = strlen(p.out);
	assert_int_equal(len, TOKEN_LEN + 1);
	assert_int_equal(p.out[TOKEN_LEN], '\n');
	p.out[TOKEN_LEN] = '\0';
	assert_true(is_token(p.out));
	assert_int_equal(store_token_lookup(f->db, p.out, &info, &err), 0);
	assert_string_equal(info.name, "demo-admin");
	assert_int_equal(info.role, ROLE_ADMIN);
	testproc_release(&p);

	assert_int_equal(testproc_run(&p, create, env), 0);
	assert_int_equal(p.status, 1);
	assert_string_equal(p.out, "");
	assert_string_equal(p.err,
	    "sluice token: token 'demo-admin' already exists\n");
	testproc_release(&p);

	assert_int_equal(testproc_run(&p, bad_role, env), 0);
	assert_int_equal(p.status, 2);
	assert_string_equal(p.out, "");
	assert_string_equal(p.err, "sluice token: role 'root' is not one of "
	    "viewer, operator, approver, admin\n");
	testproc_release(&p);

	assert_int_equal(testproc_run(&p, no_role, env), 0);
	assert_int_equal(p.status, 2);
	assert_non_null(strstr(p.err, "--role is required"));
	testproc_release(&p);
	assert_value(f, "SELECT count(*) FROM api_tokens", "1");
}

static void
token__cli_reports_an_unreachable_database(void **state)
{
	const char *env[] = { "SLUICE_DATABASE_URL=host=/nonexistent port=1",
	    NULL };
	const char *create[] = { test_env("SLUICE_BIN"), "token", "create",
	    "--name", "x", "--role", "viewer", NULL };
	struct testproc p;

	(void)state;
	assert_int_equal(testproc_run(&p, create, env), 0);
	assert_int_equal(p.status, 1);
	assert_string_equal(p.out, "");
	assert_memory_equal(p.err, "sluice token: database unavailable: ", 36);
	testproc_release(&p);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(token__created_token_finds_its_name_and_role),
		T(token__is_stored_only_as_its_sha256),
		T(token__lookup_refuses_unknown_malformed_and_revoked),
		T(token__duplicate_or_bad_names_are_refused),
		T(token__cli_create_prints_the_token_alone),
		cmocka_unit_test(token__cli_reports_an_unreachable_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
