/* test_cursor.c - opaque list cursors: round trips, kinds, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/cursor.h"
#include "base/err.h"

static void
cursor__ids_round_trip_and_are_url_safe(void **state)
{
	static const int64_t ids[] = { 1, 9, 42, 1000, 999999,
	    INT64_C(9223372036854775807) };
	char c[256], key[64];
	int64_t id;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		(void)snprintf(key, sizeof(key), "%lld", (long long)ids[i]);
		assert_int_equal(cursor_encode("r1", key, c, sizeof(c)), 0);
		assert_null(strpbrk(c, "+/= "));
		assert_int_equal(cursor_decode_id(c, "r1", &id, &err), 0);
		assert_true(id == ids[i]);
	}
}

static void
cursor__names_round_trip(void **state)
{
	static const char *const keys[] = { "a", "fraud-detector",
	    "models/x?y&z", "\xc3\xa9t\xc3\xa9" };
	char c[256], key[200];
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(cursor_encode("m1", keys[i], c, sizeof(c)), 0);
		assert_int_equal(cursor_decode(c, "m1", key, sizeof(key), &err),
		    0);
		assert_string_equal(key, keys[i]);
	}
}

static void
cursor__other_lists_and_garbage_are_refused(void **state)
{
	static const char *const bad[] = { "", "x", "!!!!", "cjEuNDI=",
	    "r1.42", "cjEuMA", "cjEuLTE", "cjEuYWJj", "cjEu",
	    "cjEuMDQy", "cjE", "cjEuOTk5OTk5OTk5OTk5OTk5OTk5OTk5" };
	char c[256];
	int64_t id = 7;
	struct err err;

	(void)state;
	assert_int_equal(cursor_encode("a1", "42", c, sizeof(c)), 0);
	assert_int_equal(cursor_decode_id(c, "r1", &id, &err), ERR_INVALID);
	assert_string_equal(err.msg, "query parameter \"cursor\": not a "
	    "cursor of this list");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cursor_decode_id(bad[i], "r1", &id, &err) != ERR_INVALID)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_true(id == 7);
	/* too long for the buffer or the cap */
	assert_int_equal(cursor_encode("r1", "42", c, 4), ERR_TOOBIG);
	memset(c, 'a', 200);
	c[200] = '\0';
	{
		char out[512];

		assert_int_equal(cursor_encode("r1", c, out, sizeof(out)),
		    ERR_TOOBIG);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cursor__ids_round_trip_and_are_url_safe),
		cmocka_unit_test(cursor__names_round_trip),
		cmocka_unit_test(cursor__other_lists_and_garbage_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
