/* test_buf.c - bounded buffers and error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"

static void
buf__appends_up_to_its_cap_then_refuses(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "abcd"), 0);
	assert_int_equal(buf_printf(&b, "%d", 123), 0);
	assert_string_equal(b.data, "abcd123");
	assert_int_equal(buf_puts(&b, "xy"), ERR_TOOBIG);
	assert_string_equal(b.data, "abcd123");
	assert_int_equal(buf_putc(&b, 'z'), 0);
	assert_int_equal(b.len, 8);
	buf_release(&b);
}

static void
buf__detach_transfers_ownership(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b, 100);
	s = buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	s = buf_detach(&b);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	free(s);
}

static void
str_copy__truncates_and_reports(void **state)
{
	char small[4];

	(void)state;
	assert_int_equal(str_copy(small, sizeof(small), "abc"), 0);
	assert_int_equal(str_copy(small, sizeof(small), "abcdef"), ERR_TOOBIG);
	assert_string_equal(small, "abc");
}

static void
err__prefix_keeps_code_and_adds_context(void **state)
{
	struct err err;

	(void)state;
	err_clear(&err);
	assert_int_equal(err_set(&err, ERR_NOTFOUND, "pipeline '%s' not found",
	    "demo"), ERR_NOTFOUND);
	assert_int_equal(err_prefix(&err, "repository '%s'", "r"), ERR_NOTFOUND);
	assert_string_equal(err.msg,
	    "repository 'r': pipeline 'demo' not found");
	assert_string_equal(err_code_name(ERR_NOTFOUND), "not_found");
}

static void
buf__a_secret_buffer_grows_and_keeps_its_contents(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init_secret(&b, 4096);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 300);
	assert_int_equal(b.data[0], 'a');
	assert_int_equal(b.data[299], 'a' + 299 % 26);
	assert_int_equal(b.data[300], '\0');
	assert_int_equal(buf_append(&b, "x", 4096), ERR_TOOBIG);
	assert_int_equal(b.len, 300);
	s = buf_detach(&b);
	assert_int_equal(strlen(s), 300);
	free(s);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf__appends_up_to_its_cap_then_refuses),
		cmocka_unit_test(buf__detach_transfers_ownership),
		cmocka_unit_test(buf__a_secret_buffer_grows_and_keeps_its_contents),
		cmocka_unit_test(str_copy__truncates_and_reports),
		cmocka_unit_test(err__prefix_keeps_code_and_adds_context),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
