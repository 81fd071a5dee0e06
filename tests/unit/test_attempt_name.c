/* test_attempt_name.c - deterministic attempt (Job) names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/err.h"
#include "engine/attempt_name.h"
#include "pipeline/k8s_names.h"

#define S63 "a12345678901234567890123456789012345678901234567890123456789012"

static void
attempt_name__follows_the_documented_shape(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(attempt_name(out, sizeof(out), 42, "train", 1, "job",
	    0), 0);
	assert_string_equal(out, "sluice-42-train-1");
	assert_int_equal(attempt_name(out, sizeof(out), 42, "rollout", 1,
	    "canary_step", 3), 0);
	assert_string_equal(out, "sluice-42-rollout-1-s3");
	assert_int_equal(attempt_name(out, sizeof(out), 42, "rollout", 1,
	    "rollback", 0), 0);
	assert_string_equal(out, "sluice-42-rollout-1-rb");
	assert_int_equal(attempt_name(out, sizeof(out), 7, "train", 12, "job",
	    0), 0);
	assert_string_equal(out, "sluice-7-train-12");
}

static void
attempt_name__shortens_long_names_with_a_hash(void **state)
{
	char a[64], b[64], c[64], again[64];

	(void)state;
	assert_int_equal(attempt_name(a, sizeof(a), 123456789, S63, 1, "job",
	    0), 0);
	assert_int_equal(attempt_name(b, sizeof(b), 123456789, S63, 2, "job",
	    0), 0);
	assert_int_equal(attempt_name(c, sizeof(c), 123456789, S63, 1,
	    "canary_step", 1), 0);
	assert_int_equal(attempt_name(again, sizeof(again), 123456789, S63, 1,
	    "job", 0), 0);
	assert_int_equal(strlen(a), 63);
	assert_null(k8s_check_dns1123_label(a));
	assert_null(k8s_check_dns1123_label(b));
	assert_null(k8s_check_dns1123_label(c));
	/* deterministic, and distinct for distinct attempts */
	assert_string_equal(a, again);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_memory_equal(a, "sluice-123456789-a1234567890", 28);
	assert_int_equal(a[54], '-');
}

static void
attempt_name__never_ends_the_kept_part_with_a_dash(void **state)
{
	/* the 54th character of the full name is a '-' here */
	static const char stage[] = "abcdefghijklmnopqrstuvwxyz0123456789-x-"
	    "yyyyyyyyyyyyyyyyyy";
	char out[64];

	(void)state;
	assert_int_equal(attempt_name(out, sizeof(out), 1, stage, 1, "job", 0),
	    0);
	assert_null(k8s_check_dns1123_label(out));
	assert_true(strstr(out, "--") == NULL);
}

static void
attempt_name__refuses_bad_input(void **state)
{
	char out[64], small[10];

	(void)state;
	assert_int_equal(attempt_name(out, sizeof(out), 0, "a", 1, "job", 0),
	    ERR_INVALID);
	assert_int_equal(attempt_name(out, sizeof(out), 1, "a", 0, "job", 0),
	    ERR_INVALID);
	assert_int_equal(attempt_name(out, sizeof(out), 1, "Train", 1, "job",
	    0), ERR_INVALID);
	assert_int_equal(attempt_name(out, sizeof(out), 1, "a", 1, "canary_step",
	    0), ERR_INVALID);
	assert_int_equal(attempt_name(out, sizeof(out), 1, "a", 1, "other", 0),
	    ERR_INVALID);
	assert_int_equal(attempt_name(small, sizeof(small), 1, "a", 1, "job",
	    0), ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attempt_name__follows_the_documented_shape),
		cmocka_unit_test(attempt_name__shortens_long_names_with_a_hash),
		cmocka_unit_test(attempt_name__never_ends_the_kept_part_with_a_dash),
		cmocka_unit_test(attempt_name__refuses_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
