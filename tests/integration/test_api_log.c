/*
 * test_api_log.c - what a client puts in a request cannot forge a log
 * line: a path with %0A, spaces, quotes and "key=" pieces, sent without
 * valid credentials, is logged as exactly one well-formed line, in text
 * and in JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../support/testapi.h"
#include "base/log.h"

#define FORGED	"/api/v1/runs/1%0Ats=2026-01-01T00:00:00.000Z%20level=error" \
		"%20msg=%22forged%22%20x=%22y%20z%22%09w"

static int
setup(void **state)
{
	struct testapi *a = testapi_start(NULL, NULL, NULL);

	*state = a;
	return a == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	testapi_stop(*state);
	return 0;
}

/* The log of one unauthenticated request for FORGED, in format f. */
static char *
log_of_request(struct testapi *a, enum log_format f)
{
	const char *h[] = { "Authorization: Bearer slc_nope", NULL };
	struct testreply rp;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	log_setup(LOG_INFO, f, out);
	testapi_request(a, &rp, "GET", FORGED, NULL, 0, h);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	log_setup(LOG_INFO, LOG_TEXT, NULL);
	fclose(out);
	return text;
}

/*
 * Read one text line as ts=... level=... msg="..." and key=value pairs
 * (bare, or quoted with backslash escapes); return the number of pairs,
 * or -1 when the line is not of that shape.
 */
static int
parse_text_line(const char *p, const char *end)
{
	int n = 0;

	while (p < end) {
		const char *k = p;

		while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
			p++;
		if (p == k || p == end || *p != '=')
			return -1;
		p++;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\')
					p++;
			}
			if (p >= end)
				return -1;
			p++;
		} else {
			while (p < end && *p != ' ' && *p != '"' && *p != '=')
				p++;
		}
		n++;
		if (p < end && *p++ != ' ')
			return -1;
	}
	return n;
}

static void
log__a_forged_path_is_one_well_formed_text_line(void **state)
{
	char *out = log_of_request(*state, LOG_TEXT), *line, *nl;
	int lines = 0, forged = 0;

	for (line = out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		lines++;
		if (strncmp(line, "ts=", 3) != 0 ||
		    parse_text_line(line, nl) < 3)
			fail_msg("not a log line: %.*s", (int)(nl - line), line);
		if (strstr(line, "forged") != NULL && strstr(line, "forged") <
		    nl) {
			forged++;
			assert_non_null(strstr(line, " level=info msg="
			    "\"authentication failed\""));
			assert_non_null(strstr(line, " path=\"/api/v1/runs/1\\n"
			    "ts=2026-01-01T00:00:00.000Z level=error msg=\\\""
			    "forged\\\" x=\\\"y z\\\"\\tw\""));
		}
	}
	assert_string_equal(line, "");		/* ends with a newline */
	assert_int_equal(forged, 1);
	assert_true(lines >= 1);
	free(out);
}

static void
log__a_forged_path_is_one_json_object(void **state)
{
	char *out = log_of_request(*state, LOG_JSON), *line, *nl;
	int forged = 0;

	for (line = out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		json_error_t e;
		json_t *j = json_loadb(line, (size_t)(nl - line), 0, &e);
		const char *path;

		if (j == NULL || !json_is_object(j))
			fail_msg("not a JSON object (%s): %.*s", e.text,
			    (int)(nl - line), line);
		path = json_string_value(json_object_get(j, "path"));
		if (path != NULL && strstr(path, "forged") != NULL) {
			forged++;
			assert_string_equal(json_string_value(json_object_get(
			    j, "level")), "info");
			assert_string_equal(path, "/api/v1/runs/1\nts=2026-01-01"
			    "T00:00:00.000Z level=error msg=\"forged\" "
			    "x=\"y z\"\tw");
			assert_null(json_object_get(j, "x"));
		}
		json_decref(j);
	}
	assert_string_equal(line, "");
	assert_int_equal(forged, 1);
	free(out);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(log__a_forged_path_is_one_well_formed_text_line),
		T(log__a_forged_path_is_one_json_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
