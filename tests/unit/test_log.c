/* test_log.c - one line per event, key=value or JSON, level threshold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/log.h"

static char * __attribute__((noinline))
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
	    "pipeline=demo error=\"a \\\"quoted\\\" thing\"\n"));
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

/* What a client controls: a path with a newline, spaces, quotes, keys. */
static const char hostile[] =
    "/x\nts=2026-01-01T00:00:00.000Z level=error msg=\"forged\" a=b "
    "\"q\" \\ =\t\x01\x7f\xff\xc3\xa9";

static void
emit_hostile(void)
{
	log_info("request", "method=%s path=%s status=%d", "GET", hostile,
	    404);
	log_warn("file", "name=\"%s\" size=%zu", hostile, (size_t)3);
}

/* The lines of out, which must end in a newline; n of them. */
static int
count_lines(const char *out)
{
	int n = 0;

	for (const char *p = out; *p != '\0'; p++)
		n += *p == '\n';
	assert_int_equal(out[strlen(out) - 1], '\n');
	return n;
}

static void
log__text_values_cannot_forge_lines_or_keys(void **state)
{
	char *out = capture(LOG_INFO, LOG_TEXT, emit_hostile);

	(void)state;
	assert_int_equal(count_lines(out), 2);
	assert_null(strstr(out, "\nts=2026-01-01"));	/* no forged line */
	assert_non_null(strstr(out, " path=\"/x\\nts=2026-01-01T00:00:00.000Z "
	    "level=error msg=\\\"forged\\\" a=b \\\"q\\\" \\\\ =\\t"
	    "\\x01\\x7f\\xff\xc3\xa9\" status=404\n"));
	assert_non_null(strstr(out, " level=warn msg=\"file\" name=\"/x\\n"));
	assert_non_null(strstr(out, "\" size=3\n"));
	/* plain values stay bare, an empty one is "" */
	assert_non_null(strstr(out, "method=GET path="));
	free(out);
}

static void
emit_json(void)
{
	log_info("request", "path=%s note=\"two words\" n=%lld empty=%s",
	    hostile, -7LL, "");
}

static void
log__json_values_are_json_strings(void **state)
{
	char *out = capture(LOG_INFO, LOG_JSON, emit_json);

	(void)state;
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, ",\"path\":\"/x\\nts=2026-01-01T00:00:00"
	    ".000Z level=error msg=\\\"forged\\\" a=b \\\"q\\\" \\\\ ="
	    "\\t\\u0001\\u007f\\ufffd\xc3\xa9\",\"note\":\"two words\","
	    "\"n\":\"-7\",\"empty\":\"\"}\n"));
	free(out);
}

static void
emit_long(void)
{
	static char big[3 * 4096];

	memset(big, '\n', sizeof(big) - 1);
	log_info("long", "a=%s b=%.3s c=%d", big, "xyzzy", 5);
}

/* A value past the cap is cut, and the line still ends well-formed. */
static void
log__long_values_are_cut_and_the_line_stays_whole(void **state)
{
	char *text = capture(LOG_INFO, LOG_TEXT, emit_long);
	char *json = capture(LOG_INFO, LOG_JSON, emit_long);

	(void)state;
	assert_int_equal(count_lines(text), 1);
	assert_int_equal(count_lines(json), 1);
	assert_true(strlen(text) <= 2 * 4096);
	assert_non_null(strstr(text, " truncated=1\n"));
	assert_non_null(strstr(json, ",\"truncated\":\"1\"}\n"));
	free(text);
	free(json);
}

static void
log__escape_quotes_only_what_needs_it(void **state)
{
	static const struct { const char *in, *text, *json; } cases[] = {
		{ "demo", "demo", "\"demo\"" },
		{ "", "\"\"", "\"\"" },
		{ "a b", "\"a b\"", "\"a b\"" },
		{ "k=v", "\"k=v\"", "\"k=v\"" },
		{ "\r\n", "\"\\r\\n\"", "\"\\r\\n\"" },
		{ "caf\xc3\xa9", "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
		{ "\xed\xa0\x80", "\"\\xed\\xa0\\x80\"",
		  "\"\\ufffd\\ufffd\\ufffd\"" },
	};
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 256);
		assert_int_equal(log_escape(&b, LOG_TEXT, cases[i].in,
		    strlen(cases[i].in)), 0);
		assert_string_equal(b.data, cases[i].text);
		buf_reset(&b);
		assert_int_equal(log_escape(&b, LOG_JSON, cases[i].in,
		    strlen(cases[i].in)), 0);
		assert_string_equal(b.data, cases[i].json);
		buf_release(&b);
	}
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
		cmocka_unit_test(log__text_values_cannot_forge_lines_or_keys),
		cmocka_unit_test(log__json_values_are_json_strings),
		cmocka_unit_test(log__long_values_are_cut_and_the_line_stays_whole),
		cmocka_unit_test(log__escape_quotes_only_what_needs_it),
		cmocka_unit_test(log__levels_parse_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
