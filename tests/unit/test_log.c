/* test_log.c - one line per event, key=value or JSON, level threshold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/log.h"

static char *
capture(enum log_level level, enum log_format fmt, void (*emit)(void))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	log_setup(level, fmt, f);
	emit();
	fflush(f);
	log_setup(LOG_INFO, LOG_TEXT, NULL);
	fclose(f);
	return text;
}

static void
emit_two(void)
{
	log_debug("hidden", "run=%d", 1);
	log_info("run queued", "run=%d pipeline=%s error=\"%s\"", 42, "demo",
	    "a \"quoted\" thing");
}

static void
log__text_lines_carry_level_message_and_pairs(void **state)
{
	char *out = capture(LOG_INFO, LOG_TEXT, emit_two);

	(void)state;
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, " level=info msg=\"run queued\" run=42 "
	    "pipeline=demo error=\"a \"quoted\" thing\"\n"));
	assert_int_equal(strncmp(out, "ts=", 3), 0);
	assert_non_null(strchr(out, '\n'));
	assert_null(strchr(strchr(out, '\n') + 1, '\n'));	/* one line */
	free(out);
}

static void
log__json_lines_are_objects_with_the_same_fields(void **state)
{
	char *out = capture(LOG_DEBUG, LOG_JSON, emit_two);
	char *second;

	(void)state;
	assert_non_null(strstr(out, "\"level\":\"debug\",\"msg\":\"hidden\","
	    "\"run\":\"1\"}"));
	second = strchr(out, '\n');
	assert_non_null(second);
	assert_non_null(strstr(second, "\"msg\":\"run queued\",\"run\":\"42\","
	    "\"pipeline\":\"demo\""));
	assert_int_equal(out[0], '{');
	free(out);
}

static void
log__levels_parse_by_name(void **state)
{
	enum log_level l;

	(void)state;
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("verbose", &l), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(log__text_lines_carry_level_message_and_pairs),
		cmocka_unit_test(log__json_lines_are_objects_with_the_same_fields),
		cmocka_unit_test(log__levels_parse_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
