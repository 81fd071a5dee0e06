/* test_role.c - role names and their order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/role.h"

static void
role__parses_the_four_names_and_nothing_else(void **state)
{
	static const char *const names[] = { "viewer", "operator", "approver",
	    "admin" };
	enum role r = ROLE_NONE;
	struct err err;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(role_parse(names[i], &r, &err), 0);
		assert_int_equal(r, ROLE_VIEWER + i);
		assert_string_equal(role_name(r), names[i]);
	}
	r = ROLE_VIEWER;
	assert_int_equal(role_parse("Admin", &r, &err), ERR_INVALID);
	assert_string_equal(err.msg, "role 'Admin' is not one of viewer, "
	    "operator, approver, admin");
	assert_int_equal(role_parse("none", &r, &err), ERR_INVALID);
	assert_int_equal(role_parse("", &r, &err), ERR_INVALID);
	assert_int_equal(role_parse(NULL, &r, &err), ERR_INVALID);
	assert_int_equal(r, ROLE_VIEWER);	/* untouched on error */
	assert_string_equal(role_name(ROLE_NONE), "none");
}

static void
role__each_role_outranks_the_ones_before(void **state)
{
	(void)state;
	assert_true(ROLE_NONE < ROLE_VIEWER);
	assert_true(ROLE_VIEWER < ROLE_OPERATOR);
	assert_true(ROLE_OPERATOR < ROLE_APPROVER);
	assert_true(ROLE_APPROVER < ROLE_ADMIN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(role__parses_the_four_names_and_nothing_else),
		cmocka_unit_test(role__each_role_outranks_the_ones_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
