/* test_table.c - the client's aligned tables: alignment, cutting to the
 * terminal's width, colour that keeps the alignment, hostile cells. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "client/table.h"

static const char *const head[] = { "ID", "PIPELINE", "STATUS", "MESSAGE" };
static const unsigned flags[] = { TABLE_RIGHT, 0, 0, TABLE_SHRINK };

static void
add(struct table *t, const char *a, const char *b, const char *c,
    const char *d)
{
	const char *cells[] = { a, b, c, d };

	assert_int_equal(table_add(t, cells, NULL), 0);
}

static char *
render(const struct table *t, size_t width, int color)
{
	struct buf out;

	buf_init(&out, 1 << 20);
	assert_int_equal(table_render(t, width, color, &out), 0);
	return buf_detach(&out);
}

static void
table__columns_are_aligned_without_trailing_blanks(void **state)
{
	struct table t;
	char *s;

	(void)state;
	table_init(&t, 4, head, flags);
	add(&t, "7", "demo", "succeeded", "");
	add(&t, "12", "fraud-detector", "failed", "gate auc >= 0.75 failed");
	s = render(&t, 0, 0);
	assert_string_equal(s,
	    "ID  PIPELINE        STATUS     MESSAGE\n"
	    " 7  demo            succeeded\n"
	    "12  fraud-detector  failed     gate auc >= 0.75 failed\n");
	free(s);
	table_release(&t);
}

static void
table__a_narrow_terminal_cuts_the_shrinkable_column_only(void **state)
{
	struct table t;
	char *s, *line;

	(void)state;
	table_init(&t, 4, head, flags);
	add(&t, "12", "fraud-detector", "failed",
	    "gate auc >= 0.75 failed: 0.71 on the holdout set");
	s = render(&t, 40, 0);
	line = strchr(s, '\n') + 1;
	/* 40 characters exactly: the message cut with an ellipsis */
	assert_int_equal(table_text_width(line) - 1, 40);
	assert_non_null(strstr(line, "fraud-detector  failed  gate auc"));
	assert_non_null(strstr(line, "\xe2\x80\xa6\n"));
	free(s);
	table_release(&t);
}

static void
table__too_narrow_to_cut_more_keeps_the_minimum(void **state)
{
	struct table t;
	char *s;

	(void)state;
	table_init(&t, 4, head, flags);
	add(&t, "1", "demo", "running", "a long message here");
	s = render(&t, 10, 0);
	/* MESSAGE keeps 4 characters, its heading cut too; the rest are
	 * whole (the line is wider than 10: it wraps) */
	assert_string_equal(s, "ID  PIPELINE  STATUS   MES\xe2\x80\xa6\n"
	    " 1  demo      running  a l\xe2\x80\xa6\n");
	free(s);
	table_release(&t);
}

static void
table__colour_wraps_the_cell_and_keeps_the_alignment(void **state)
{
	static const char *const h[] = { "STATUS", "AGE" };
	const char *cells[] = { "failed", "5m" };
	enum table_color colors[] = { TC_RED, TC_NONE };
	struct table t;
	char *s;

	(void)state;
	table_init(&t, 2, h, NULL);
	assert_int_equal(table_add(&t, cells, colors), 0);
	s = render(&t, 0, 1);
	assert_string_equal(s, "\033[1mSTATUS\033[0m  \033[1mAGE\033[0m\n"
	    "\033[31mfailed\033[0m  5m\n");
	free(s);
	table_release(&t);
}

static void
table__control_characters_from_the_server_are_shown_as_question_marks(
    void **state)
{
	struct table t;
	char *s;

	(void)state;
	table_init(&t, 4, head, flags);
	add(&t, "1", NULL, "failed", "\033[2Jcleared\nnext line");
	s = render(&t, 0, 0);
	assert_null(strchr(s, '\033'));
	assert_non_null(strstr(s, " 1  -         failed  ?[2Jcleared?next line\n"));
	free(s);
	table_release(&t);
}

static void
table__widths_count_characters_not_bytes(void **state)
{
	static const char *const h[] = { "NAME", "X" };
	struct table t;
	char *s;

	(void)state;
	table_init(&t, 2, h, NULL);
	{
		const char *a[] = { "\xc3\xa9t\xc3\xa9", "1" };
		const char *b[] = { "abcd", "2" };

		assert_int_equal(table_add(&t, a, NULL), 0);
		assert_int_equal(table_add(&t, b, NULL), 0);
	}
	s = render(&t, 0, 0);
	assert_string_equal(s, "NAME  X\n\xc3\xa9t\xc3\xa9   1\nabcd  2\n");
	free(s);
	table_release(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table__columns_are_aligned_without_trailing_blanks),
		cmocka_unit_test(table__a_narrow_terminal_cuts_the_shrinkable_column_only),
		cmocka_unit_test(table__too_narrow_to_cut_more_keeps_the_minimum),
		cmocka_unit_test(table__colour_wraps_the_cell_and_keeps_the_alignment),
		cmocka_unit_test(table__control_characters_from_the_server_are_shown_as_question_marks),
		cmocka_unit_test(table__widths_count_characters_not_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
