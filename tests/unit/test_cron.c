/* test_cron.c - cron expressions, time zones and next fire times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base/err.h"
#include "pipeline/cron.h"

/* A UTC instant from its parts. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm);
}

static int64_t
next_of(const char *expr, const struct cron_zone *z, int64_t t)
{
	struct cron c;
	struct err err;
	int64_t n = 0;

	assert_int_equal(cron_parse(&c, expr, &err), 0);
	assert_int_equal(cron_next(&c, z, t, &n), 0);
	return n;
}

static void
cron__bad_expressions_name_the_field(void **state)
{
	static const struct { const char *in, *msg; } bad[] = {
		{ "61 * * * *", "minute: 61 is out of range 0-59" },
		{ "* 24 * * *", "hour: 24 is out of range 0-23" },
		{ "* * 0 * *", "day-of-month: 0 is out of range 1-31" },
		{ "* * * 13 *", "month: 13 is out of range 1-12" },
		{ "* * * * 8", "day-of-week: 8 is out of range 0-7" },
		{ "* * * foo *", "month: unknown name \"foo\"" },
		{ "* * * * mon-sunday", "day-of-week: unknown name \"sunday\"" },
		{ "*/0 * * * *", "minute: step 0 is out of range 1-60" },
		{ "5-1 * * * *", "minute: range 5-1 goes backwards" },
		{ "* * * *", "expected 5 fields (minute hour day-of-month month "
		    "day-of-week), got 4" },
		{ "* * * * * *", "expected 5 fields (minute hour day-of-month "
		    "month day-of-week), got more" },
		{ "1,,2 * * * *", "minute: expected a number at \",2\"" },
		{ "* * 30 feb *", "day-of-month: \"30\" never occurs in month "
		    "\"feb\"" },
		{ "", "expected 5 fields (minute hour day-of-month month "
		    "day-of-week), got 0" },
		{ "1/ * * * *", "minute: expected a step after '/'" },
		{ "1x * * * *", "minute: unexpected 'x' in \"1x\"" },
	};
	struct cron c;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cron_parse(&c, bad[i].in, &err), ERR_INVALID);
		assert_string_equal(err.msg, bad[i].msg);
	}
}

static void
cron__fields_steps_ranges_and_names(void **state)
{
	struct cron c;
	struct err err;

	(void)state;
	assert_int_equal(cron_parse(&c, "*/15 1-10/3 * jan,MAR-may sun", &err),
	    0);
	assert_true(c.minutes == (1ULL << 0 | 1ULL << 15 | 1ULL << 30 |
	    1ULL << 45));
	assert_int_equal(c.hours, 1u << 1 | 1u << 4 | 1u << 7 | 1u << 10);
	assert_int_equal(c.months, 1u << 1 | 1u << 3 | 1u << 4 | 1u << 5);
	assert_int_equal(c.wdays, 1u);
	assert_int_equal(cron_parse(&c, "5/20 * * * 7", &err), 0);
	assert_true(c.minutes == (1ULL << 5 | 1ULL << 25 | 1ULL << 45));
	assert_int_equal(c.wdays, 1u);	/* 7 is Sunday */
	assert_int_equal(cron_parse(&c, "  0\t3 * *  1-5 ", &err), 0);
	assert_int_equal(c.wdays, 0x3eu);
}

static void
cron__next_in_utc(void **state)
{
	int64_t t = utc(2026, 12, 7, 19, 7);	/* a Monday */

	(void)state;
	assert_int_equal(next_of("*/1 * * * *", NULL, t), t + 60);
	assert_int_equal(next_of("*/1 * * * *", NULL, t + 1), t + 60);
	assert_int_equal(next_of("*/5 * * * *", NULL, t), utc(2026, 12, 7,
	    19, 10));
	assert_int_equal(next_of("0 3 * * 1-5", NULL, t), utc(2026, 12, 8, 3,
	    0));
	/* Friday 19:07 -> Monday 03:00 */
	assert_int_equal(next_of("0 3 * * mon-fri", NULL, utc(2026, 12, 11,
	    19, 7)), utc(2026, 12, 14, 3, 0));
	/* both days restricted: the 1st OR a Sunday */
	assert_int_equal(next_of("0 0 1 * sun", NULL, t), utc(2026, 12, 13, 0,
	    0));
	assert_int_equal(next_of("0 0 1 * sun", NULL, utc(2026, 12, 27, 0,
	    0)), utc(2027, 1, 1, 0, 0));
	/* day-of-week '*': only the day of month */
	assert_int_equal(next_of("0 0 1 * *", NULL, t), utc(2027, 1, 1, 0, 0));
	/* leap day */
	assert_int_equal(next_of("0 0 29 2 *", NULL, t), utc(2028, 2, 29, 0,
	    0));
	assert_int_equal(next_of("59 23 31 12 *", NULL, t), utc(2026, 12, 31,
	    23, 59));
}

static void
load(struct cron_zone *z, const char *name)
{
	struct err err;

	if (cron_zone_load(z, name, &err) < 0)
		fail_msg("%s", err.msg);
}

static void
cron__berlin_dst_gap_fires_at_its_end_once(void **state)
{
	struct cron_zone z;
	struct cron c;
	struct err err;
	int64_t n;

	(void)state;
	load(&z, "Europe/Berlin");
	/* winter: UTC+1, summer: UTC+2 */
	assert_int_equal(cron_zone_offset(&z, utc(2026, 1, 15, 12, 0)), 3600);
	assert_int_equal(cron_zone_offset(&z, utc(2026, 7, 15, 12, 0)), 7200);
	/* 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00 UTC) */
	assert_int_equal(next_of("30 2 * * *", &z, utc(2026, 3, 28, 12, 0)),
	    utc(2026, 3, 29, 1, 0));
	assert_int_equal(next_of("30 2 * * *", &z, utc(2026, 3, 29, 1, 0)),
	    utc(2026, 3, 30, 0, 30));
	/* every minute: 01:59 CET, then 03:00 CEST, the skipped hour once */
	assert_int_equal(next_of("*/1 * * * *", &z, utc(2026, 3, 29, 0, 58)),
	    utc(2026, 3, 29, 0, 59));
	assert_int_equal(next_of("*/1 * * * *", &z, utc(2026, 3, 29, 0, 59)),
	    utc(2026, 3, 29, 1, 0));
	assert_int_equal(next_of("*/1 * * * *", &z, utc(2026, 3, 29, 1, 0)),
	    utc(2026, 3, 29, 1, 1));
	assert_int_equal(cron_parse(&c, "30 2 * * *", &err), 0);
	assert_int_equal(cron_last(&c, &z, utc(2026, 3, 28, 12, 0),
	    utc(2026, 3, 29, 1, 5), &n), 0);
	assert_int_equal(n, utc(2026, 3, 29, 1, 0));
	cron_zone_release(&z);
}

static void
cron__berlin_dst_overlap_fires_the_first_time_only(void **state)
{
	struct cron_zone z;

	(void)state;
	load(&z, "Europe/Berlin");
	/* 2026-10-25 03:00 CEST goes back to 02:00 CET (01:00 UTC) */
	assert_int_equal(next_of("30 2 * * *", &z, utc(2026, 10, 24, 12, 0)),
	    utc(2026, 10, 25, 0, 30));
	assert_int_equal(next_of("30 2 * * *", &z, utc(2026, 10, 25, 0, 30)),
	    utc(2026, 10, 26, 1, 30));
	/* from inside the repeated hour: its slots are past */
	assert_int_equal(next_of("15 * * * *", &z, utc(2026, 10, 25, 1, 20)),
	    utc(2026, 10, 25, 2, 15));
	cron_zone_release(&z);
}

static void
cron__zones_far_future_and_south(void **state)
{
	struct cron_zone z;

	(void)state;
	/* 2100 is past the zone file's transitions: its TZ rule applies */
	load(&z, "Europe/Berlin");
	assert_int_equal(next_of("0 12 1 7 *", &z, utc(2100, 1, 1, 0, 0)),
	    utc(2100, 7, 1, 10, 0));
	assert_int_equal(next_of("0 12 1 12 *", &z, utc(2100, 1, 1, 0, 0)),
	    utc(2100, 12, 1, 11, 0));
	cron_zone_release(&z);
	/* southern hemisphere: daylight time over new year */
	load(&z, "Australia/Sydney");
	assert_int_equal(next_of("0 9 1 1 *", &z, utc(2030, 6, 1, 0, 0)),
	    utc(2030, 12, 31, 22, 0));
	assert_int_equal(next_of("0 9 1 7 *", &z, utc(2030, 6, 1, 0, 0)),
	    utc(2030, 6, 30, 23, 0));
	cron_zone_release(&z);
	load(&z, "America/New_York");
	assert_int_equal(next_of("0 9 * * 1-5", &z, utc(2026, 12, 7, 19, 7)),
	    utc(2026, 12, 8, 14, 0));
	cron_zone_release(&z);
	load(&z, "UTC");
	assert_int_equal(next_of("0 9 * * *", &z, utc(2026, 12, 7, 19, 7)),
	    utc(2026, 12, 8, 9, 0));
	cron_zone_release(&z);
}

static void
cron__zone_names_are_checked_before_any_file(void **state)
{
	static const char *bad[] = { "../../etc/passwd", "/etc/localtime",
	    "Europe/../../etc/shadow", "Europe//Berlin", "Europe/Berlin/",
	    "Europe/Ber lin", "", "." };
	struct cron_zone z;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(cron_zone_name_check(bad[i]));
		assert_int_equal(cron_zone_load(&z, bad[i], &err), ERR_INVALID);
	}
	assert_null(cron_zone_name_check("America/Argentina/Buenos_Aires"));
	assert_null(cron_zone_name_check("Etc/GMT+5"));
	assert_int_equal(cron_zone_load(&z, "Europe/Nowhere", &err),
	    ERR_NOTFOUND);
	assert_string_equal(err.msg, "unknown time zone \"Europe/Nowhere\" (no "
	    "such zone in /usr/share/zoneinfo)");
	/* a directory, and a file of the tzdata that is not a zone */
	assert_int_equal(cron_zone_load(&z, "Europe", &err), ERR_NOTFOUND);
	assert_int_equal(cron_zone_load(&z, "zone.tab", &err), ERR_INVALID);
	assert_int_equal(cron_zone_parse(&z, (const unsigned char *)"TZif2",
	    5, &err), ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cron__bad_expressions_name_the_field),
		cmocka_unit_test(cron__fields_steps_ranges_and_names),
		cmocka_unit_test(cron__next_in_utc),
		cmocka_unit_test(cron__berlin_dst_gap_fires_at_its_end_once),
		cmocka_unit_test(
		    cron__berlin_dst_overlap_fires_the_first_time_only),
		cmocka_unit_test(cron__zones_far_future_and_south),
		cmocka_unit_test(cron__zone_names_are_checked_before_any_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
