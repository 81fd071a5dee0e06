/* test_units.c - duration and size parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/units.h"

static void
units__durations_parse_strictly(void **state)
{
	static const struct { const char *in; int64_t ms; } good[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 },
		{ "2h", 7200000 }, { "1h30m", 5400000 }, { "0s", 0 },
		{ "1m30s250ms", 90250 },
	};
	static const char *bad[] = { "", "5", "5x", "-5s", "1.5h", " 5s",
	    "5s ", "5S", "s", "30m1h", "1s1s", "99999999999999999999h",
	    "9223372036854775807h", "5 m" };
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(units_parse_duration(good[i].in, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(units_parse_duration(bad[i], &ms), ERR_INVALID);
}

static void
units__sizes_parse_strictly(void **state)
{
	int64_t b;

	(void)state;
	assert_int_equal(units_parse_size("1MiB", &b), 0);
	assert_int_equal(b, 1048576);
	assert_int_equal(units_parse_size("10kB", &b), 0);
	assert_int_equal(b, 10000);
	assert_int_equal(units_parse_size("42", &b), 0);
	assert_int_equal(b, 42);
	assert_int_equal(units_parse_size("1mib", &b), ERR_INVALID);
	assert_int_equal(units_parse_size("1.5GiB", &b), ERR_INVALID);
	assert_int_equal(units_parse_size("99999999999TiB", &b), ERR_INVALID);
}

static void
units__durations_format_back(void **state)
{
	char out[32];
	int64_t ms;

	(void)state;
	units_format_duration(5400000, out, sizeof(out));
	assert_string_equal(out, "1h30m");
	units_format_duration(90250, out, sizeof(out));
	assert_string_equal(out, "1m30s250ms");
	assert_int_equal(units_parse_duration(out, &ms), 0);
	assert_int_equal(ms, 90250);
	units_format_duration(0, out, sizeof(out));
	assert_string_equal(out, "0s");
}

static void
units__ages_take_days(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(units_parse_age("90d", &ms), 0);
	assert_int_equal(ms, INT64_C(90) * 86400000);
	assert_int_equal(units_parse_age("1d12h", &ms), 0);
	assert_int_equal(ms, INT64_C(36) * 3600000);
	assert_int_equal(units_parse_age("12h", &ms), 0);
	assert_int_equal(ms, INT64_C(12) * 3600000);
	assert_int_equal(units_parse_age("0s", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(units_parse_age("d", &ms), ERR_INVALID);
	assert_int_equal(units_parse_age("1dd", &ms), ERR_INVALID);
	assert_int_equal(units_parse_age("1h1d", &ms), ERR_INVALID);
	assert_int_equal(units_parse_age("99999999999999999d", &ms),
	    ERR_INVALID);
	/* durations elsewhere stay without days */
	assert_int_equal(units_parse_duration("1d", &ms), ERR_INVALID);
}

static void
units__rfc3339_instants_parse_strictly(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(units_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(units_parse_rfc3339("2026-11-21T21:50:00.123Z", &ms),
	    0);
	assert_int_equal(ms, INT64_C(1795297800123));
	assert_int_equal(units_parse_rfc3339("2026-11-21T22:50:00.1+01:00",
	    &ms), 0);
	assert_int_equal(ms, INT64_C(1795297800100));
	assert_int_equal(units_parse_rfc3339("2026-11-21T21:50:00Z", &ms), 0);
	assert_int_equal(units_parse_rfc3339("2026-11-21", &ms), ERR_INVALID);
	assert_int_equal(units_parse_rfc3339("2026-11-21T21:50:00", &ms),
	    ERR_INVALID);
	assert_int_equal(units_parse_rfc3339("2026-02-30T00:00:00Z", &ms),
	    ERR_INVALID);
	assert_int_equal(units_parse_rfc3339("2026-11-21T24:00:00Z", &ms),
	    ERR_INVALID);
	assert_int_equal(units_parse_rfc3339("2026-11-21T21:50:00Zx", &ms),
	    ERR_INVALID);
	assert_int_equal(units_parse_rfc3339("yesterday", &ms), ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(units__durations_parse_strictly),
		cmocka_unit_test(units__sizes_parse_strictly),
		cmocka_unit_test(units__durations_format_back),
		cmocka_unit_test(units__ages_take_days),
		cmocka_unit_test(units__rfc3339_instants_parse_strictly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
