/*
 * test_jsonin.c - strict JSON bodies into C values: every kind of field,
 * and errors that name the field by its path; nothing leaks on error.
 */
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
#include "http/jsonin.h"

struct body {
	char			*name;
	int64_t			 count;
	double			 ratio;
	int			 dry_run;
	struct jsonin_map	 params;
	char			*commit;
	int			 count_given;
};

/* {name!, count (1..10), ratio, dry_run, params{}, source{commit?}} */
static int
parse(const char *text, struct body *b, struct err *err)
{
	const struct jsonin_field source[] = {
		{ .name = "commit", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &b->commit, .maxlen = 40 },
		{ .name = NULL },
	};
	const struct jsonin_field fields[] = {
		{ .name = "name", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &b->name, .maxlen = 8 },
		{ .name = "count", .type = JSONIN_INT, .out = &b->count,
		  .present = &b->count_given, .min = 1, .max = 10 },
		{ .name = "ratio", .type = JSONIN_NUMBER, .out = &b->ratio },
		{ .name = "dry_run", .type = JSONIN_BOOL, .out = &b->dry_run },
		{ .name = "params", .type = JSONIN_STRMAP, .out = &b->params,
		  .maxn = 2, .maxlen = 4 },
		{ .name = "source", .type = JSONIN_OBJECT, .fields = source },
		{ .name = NULL },
	};

	memset(b, 0, sizeof(*b));
	return jsonin_parse(text, strlen(text), fields, 0, err);
}

static void
release(struct body *b)
{
	free(b->name);
	free(b->commit);
	jsonin_map_release(&b->params);
}

static void
jsonin__fields_of_every_type_come_back_as_c_values(void **state)
{
	struct body b;
	struct err err;

	(void)state;
	assert_int_equal(parse("{\"name\":\"demo\",\"count\":3,\"ratio\":0.5,"
	    "\"dry_run\":true,\"params\":{\"lr\":\"0.1\",\"ep\":\"5\"},"
	    "\"source\":{\"commit\":\"abc\"}}", &b, &err), 0);
	assert_string_equal(b.name, "demo");
	assert_int_equal(b.count, 3);
	assert_int_equal(b.count_given, 1);
	assert_true(b.ratio == 0.5);
	assert_int_equal(b.dry_run, 1);
	assert_int_equal(b.params.n, 2);
	assert_string_equal(b.params.keys[0], "lr");
	assert_string_equal(b.params.values[0], "0.1");
	assert_string_equal(b.params.keys[1], "ep");
	assert_string_equal(b.params.values[1], "5");
	assert_string_equal(b.commit, "abc");
	release(&b);
	/* optional fields may be absent; null where nullable; ints as numbers */
	assert_int_equal(parse("{\"name\":\"x\",\"ratio\":2,"
	    "\"source\":{\"commit\":null}}", &b, &err), 0);
	assert_int_equal(b.count_given, 0);
	assert_null(b.commit);
	assert_true(b.ratio == 2);
	assert_int_equal(b.params.n, 0);
	release(&b);
}

static void
jsonin__errors_name_the_field(void **state)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "{\"name\":5}", "field \"name\": expected a string" },
		{ "{\"nmae\":\"x\"}", "unknown field \"nmae\"" },
		{ "{\"name\":\"x\",\"name\":\"y\"}", "duplicate key \"name\"" },
		{ "{}", "missing field \"name\"" },
		{ "{\"name\":\"123456789\"}",
		  "field \"name\": longer than 8 bytes" },
		{ "{\"name\":\"x\",\"count\":11}",
		  "field \"count\": expected an integer from 1 to 10" },
		{ "{\"name\":\"x\",\"count\":1.5}",
		  "field \"count\": expected an integer" },
		{ "{\"name\":\"x\",\"count\":\"3\"}",
		  "field \"count\": expected an integer" },
		{ "{\"name\":\"x\",\"dry_run\":1}",
		  "field \"dry_run\": expected true or false" },
		{ "{\"name\":\"x\",\"ratio\":\"1\"}",
		  "field \"ratio\": expected a number" },
		{ "{\"name\":null}", "field \"name\": expected a string" },
		{ "{\"name\":\"x\",\"params\":{\"epochs\":5}}",
		  "field \"params.epochs\": expected a string" },
		{ "{\"name\":\"x\",\"params\":{\"a\":\"1\",\"b\":\"2\","
		  "\"c\":\"3\"}}", "field \"params\": more than 2 entries" },
		{ "{\"name\":\"x\",\"params\":{\"a\":\"12345\"}}",
		  "field \"params.a\": longer than 4 bytes" },
		{ "{\"name\":\"x\",\"source\":{\"comit\":\"a\"}}",
		  "unknown field \"source.comit\"" },
		{ "{\"name\":\"x\",\"source\":[]}",
		  "field \"source\": expected an object" },
		{ "{\"name\":\"x\",\"source\":{\"commit\":\"a\","
		  "\"commit\":\"b\"}}", "duplicate key \"commit\"" },
		{ "[]", "body: expected a JSON object" },
		{ "", "empty body: expected a JSON object" },
		{ "{\"name\":\"a\\u0000b\"}", "invalid JSON at line 1" },
		{ "{\"name\":\"x\"} {}", "invalid JSON at line 1, column" },
		{ "{\"name\":\"x\",\"count\":99999999999999999999}",
		  "invalid JSON" },
	};
	struct body b;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err_clear(&err);
		assert_int_equal(parse(cases[i].text, &b, &err), ERR_INVALID);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("%s: got '%s'", cases[i].text, err.msg);
		/* nothing to free on error */
		assert_null(b.name);
		assert_null(b.commit);
		assert_int_equal(b.params.n, 0);
		assert_null(b.params.keys);
	}
}

static void
jsonin__open_objects_accept_unknown_fields(void **state)
{
	char *ref = NULL;
	const struct jsonin_field fields[] = {
		{ .name = "ref", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &ref },
		{ .name = NULL },
	};
	const char *text = "{\"ref\":\"refs/heads/main\",\"other\":[1,{}]}";
	struct err err;

	(void)state;
	assert_int_equal(jsonin_parse(text, strlen(text), fields, JSONIN_OPEN,
	    &err), 0);
	assert_string_equal(ref, "refs/heads/main");
	free(ref);
	assert_int_equal(jsonin_parse(text, strlen(text), fields, 0, &err),
	    ERR_INVALID);
	assert_string_equal(err.msg, "unknown field \"other\"");
}

static void
jsonin__quote_escapes_a_string_for_json(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(jsonin_quote(&b, "a\"b\\c\n"), 0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\"");
	buf_release(&b);
}

static void
jsonin__string_lists_come_back_in_order_and_are_checked(void **state)
{
	struct jsonin_list l;
	struct err err;
	const struct jsonin_field fields[] = {
		{ .name = "branches", .type = JSONIN_STRLIST, .out = &l,
		  .maxn = 3, .maxlen = 5 },
		{ .name = NULL },
	};
	static const struct { const char *body, *want; } bad[] = {
		{ "{\"branches\":\"main\"}",
		  "field \"branches\": expected an array of strings" },
		{ "{\"branches\":[\"a\",7]}",
		  "field \"branches[1]\": expected a string" },
		{ "{\"branches\":[\"a\",\"b\",\"c\",\"d\"]}",
		  "field \"branches\": more than 3 items" },
		{ "{\"branches\":[\"toolong\"]}",
		  "field \"branches[0]\": longer than 5 bytes" },
	};

	(void)state;
	assert_int_equal(jsonin_parse("{\"branches\":[\"main\",\"dev\"]}", 27,
	    fields, 0, &err), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0], "main");
	assert_string_equal(l.items[1], "dev");
	assert_null(l.items[2]);
	jsonin_list_release(&l);
	assert_int_equal(jsonin_parse("{\"branches\":[]}", 15, fields, 0,
	    &err), 0);
	assert_int_equal(l.n, 0);
	jsonin_list_release(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(jsonin_parse(bad[i].body, strlen(bad[i].body),
		    fields, 0, &err), ERR_INVALID);
		assert_string_equal(err.msg, bad[i].want);
		assert_int_equal(l.n, 0);
		assert_null(l.items);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    jsonin__fields_of_every_type_come_back_as_c_values),
		cmocka_unit_test(jsonin__errors_name_the_field),
		cmocka_unit_test(jsonin__open_objects_accept_unknown_fields),
		cmocka_unit_test(jsonin__quote_escapes_a_string_for_json),
		cmocka_unit_test(
		    jsonin__string_lists_come_back_in_order_and_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
