/*
 * test_stage_log.c - the cut of each read of a log: whole lines only,
 * everything at the end, a line longer than a read, the cap, and the
 * marker lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/stage_log.h"

#define CAP	(16 * 1024 * 1024)

static void
cut__a_read_is_taken_up_to_its_last_newline(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;
	const char *s = "one\ntwo\nthr";

	(void)state;
	stage_log_cut(&p, CAP, s, strlen(s), 0, 0, &c);
	assert_int_equal(c.take, 8);
	assert_int_equal(c.keep, 8);
	assert_false(c.mid_line);
	assert_int_equal(p.kept, 8);
	assert_int_equal(p.dropped, 0);
	/* the partial line is read again with what follows */
	stage_log_cut(&p, CAP, "thr", 3, 0, 0, &c);
	assert_int_equal(c.take, 0);
	assert_int_equal(c.keep, 0);
	assert_int_equal(p.kept, 8);
	stage_log_cut(&p, CAP, "three\n", 6, 0, 0, &c);
	assert_int_equal(c.take, 6);
	assert_int_equal(p.kept, 14);
}

static void
cut__the_last_read_takes_a_line_without_newline(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;

	(void)state;
	stage_log_cut(&p, CAP, "a\nlast", 6, 1, 0, &c);
	assert_int_equal(c.take, 6);
	assert_int_equal(c.keep, 6);
	assert_true(c.mid_line);
	assert_true(p.open_line);
	/* an empty last read takes nothing */
	stage_log_cut(&p, CAP, "", 0, 1, 0, &c);
	assert_int_equal(c.take, 0);
}

static void
cut__a_full_read_without_newline_is_cut_where_it_ends(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;

	(void)state;
	stage_log_cut(&p, CAP, "xxxxxxxx", 8, 0, 1, &c);
	assert_int_equal(c.take, 8);
	assert_int_equal(c.keep, 8);
	assert_true(c.mid_line);
	/* a full read with a newline still stops after it */
	stage_log_cut(&p, CAP, "xx\nyyyyy", 8, 0, 1, &c);
	assert_int_equal(c.take, 3);
	assert_false(c.mid_line);
	assert_false(p.open_line);
}

static void
cut__past_the_cap_whole_lines_are_kept_then_nothing(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;
	char m[128];

	(void)state;
	stage_log_cut(&p, 10, "1234\n5678\nabc\n", 14, 0, 0, &c);
	assert_int_equal(c.take, 14);
	assert_int_equal(c.keep, 10);
	assert_int_equal(p.kept, 10);
	assert_int_equal(p.dropped, 4);
	/* a short line that would fit is not kept either: the log has ended */
	p.kept = 8;
	stage_log_cut(&p, 10, "z\n", 2, 0, 0, &c);
	assert_int_equal(c.take, 2);
	assert_int_equal(c.keep, 0);
	assert_int_equal(p.dropped, 6);
	assert_int_equal(stage_log_truncated(&p, 10, m, sizeof(m)),
	    strlen("[sluice] log truncated at 10B: 6 more bytes not "
	    "kept\n"));
	assert_string_equal(m, "[sluice] log truncated at 10B: 6 more "
	    "bytes not kept\n");
}

static void
cut__a_line_crossing_the_cap_is_not_kept(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;
	char m[128];

	(void)state;
	stage_log_cut(&p, 4, "123456\n", 7, 0, 0, &c);
	assert_int_equal(c.take, 7);
	assert_int_equal(c.keep, 0);
	assert_int_equal(p.dropped, 7);
	(void)stage_log_truncated(&p, 16 * 1024 * 1024, m, sizeof(m));
	assert_string_equal(m, "[sluice] log truncated at 16MiB: 7 more bytes "
	    "not kept\n");
}

static void
cut__markers_start_their_own_line(void **state)
{
	struct stage_log_pos p = { 0, 0, 0 };
	struct stage_log_cut c;
	char m[128];

	(void)state;
	assert_int_equal(stage_log_truncated(&p, 4, m, sizeof(m)), 0);
	stage_log_cut(&p, 4, "ab", 2, 0, 1, &c);	/* a cut long line */
	assert_true(p.open_line);
	stage_log_cut(&p, 4, "cdef\n", 5, 0, 0, &c);
	assert_int_equal(c.keep, 0);
	(void)stage_log_truncated(&p, 4, m, sizeof(m));
	assert_string_equal(m, "\n[sluice] log truncated at 4B: 5 more "
	    "bytes not kept\n");
	(void)stage_log_source_changed(&p, "job-abc12", m, sizeof(m));
	assert_string_equal(m, "\n[sluice] now reading pod job-abc12\n");
	p.open_line = 0;
	(void)stage_log_source_changed(&p, "job-abc12", m, sizeof(m));
	assert_string_equal(m, "[sluice] now reading pod job-abc12\n");
	/* a small buffer is cut, never overrun */
	assert_int_equal(stage_log_source_changed(&p, "job-abc12", m, 8), 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cut__a_read_is_taken_up_to_its_last_newline),
		cmocka_unit_test(cut__the_last_read_takes_a_line_without_newline),
		cmocka_unit_test(
		    cut__a_full_read_without_newline_is_cut_where_it_ends),
		cmocka_unit_test(
		    cut__past_the_cap_whole_lines_are_kept_then_nothing),
		cmocka_unit_test(cut__a_line_crossing_the_cap_is_not_kept),
		cmocka_unit_test(cut__markers_start_their_own_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
