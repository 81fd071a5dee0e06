/*
 * test_ratelimit.c - token buckets per key with an explicit clock: burst,
 * refill, Retry-After seconds, keys apart, and a bounded table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "base/ratelimit.h"

static void
ratelimit__burst_then_refusal_with_seconds_to_wait(void **state)
{
	/* 10 per 60 s: one token every 6 s */
	struct ratelimit *rl = ratelimit_new(10, 60, 16);

	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_take(rl, "1.2.3.4", 1000), 0);
	assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 1000), 6);
	assert_int_equal(ratelimit_take(rl, "1.2.3.4", 1000), 6);
	assert_int_equal(ratelimit_take(rl, "1.2.3.4", 4000), 3);
	/* refilled: one more */
	assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 7000), 0);
	assert_int_equal(ratelimit_take(rl, "1.2.3.4", 7000), 0);
	assert_int_equal(ratelimit_take(rl, "1.2.3.4", 7000), 6);
	/* never above the burst */
	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_take(rl, "1.2.3.4", 1000000), 0);
	assert_true(ratelimit_take(rl, "1.2.3.4", 1000000) > 0);
	ratelimit_free(rl);
}

static void
ratelimit__keys_have_their_own_buckets(void **state)
{
	struct ratelimit *rl = ratelimit_new(1, 60, 16);

	(void)state;
	assert_int_equal(ratelimit_take(rl, "a", 0), 0);
	assert_true(ratelimit_take(rl, "a", 0) > 0);
	assert_int_equal(ratelimit_take(rl, "b", 0), 0);
	assert_int_equal(ratelimit_blocked(rl, "never-seen", 0), 0);
	ratelimit_free(rl);
}

static void
ratelimit__a_full_table_reuses_slots_and_stays_bounded(void **state)
{
	struct ratelimit *rl = ratelimit_new(2, 3600, 4);
	char key[32];

	(void)state;
	/* "hot" is empty; four others push the table past its size */
	assert_int_equal(ratelimit_take(rl, "hot", 0), 0);
	assert_int_equal(ratelimit_take(rl, "hot", 0), 0);
	for (int i = 0; i < 3; i++) {
		(void)snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ratelimit_take(rl, key, 10 + i), 0);
	}
	assert_true(ratelimit_blocked(rl, "hot", 20) > 0);
	/* a fifth key evicts the least recently used, not "hot" (used at 20) */
	assert_int_equal(ratelimit_take(rl, "new", 30), 0);
	assert_true(ratelimit_blocked(rl, "hot", 40) > 0);
	for (int i = 0; i < 1000; i++) {
		(void)snprintf(key, sizeof(key), "flood%d", i);
		assert_int_equal(ratelimit_take(rl, key, 100 + i), 0);
	}
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    ratelimit__burst_then_refusal_with_seconds_to_wait),
		cmocka_unit_test(ratelimit__keys_have_their_own_buckets),
		cmocka_unit_test(
		    ratelimit__a_full_table_reuses_slots_and_stays_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
