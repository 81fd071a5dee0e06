/*
 * test_promql.c - the references of analysis queries: where each may
 * stand, and values kept inside their string literal whatever they hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "pipeline/pipeline.h"

static const char *
subst(const char *query, const struct promql_vars *v, struct buf *b)
{
	struct err err;

	buf_reset(b);
	if (pipeline_promql_substitute(query, v, b, &err) < 0)
		fail_msg("substitute: %s", err.msg);
	if (buf_putc(b, '\0') < 0)
		fail();
	return b->data;
}

static void
promql__substitutes_each_reference_in_its_place(void **state)
{
	struct promql_vars v = { "fraud-api", 10, 7, "s3://m/7" };
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_string_equal(subst("sum(x{t=\"${canary.target}\",u='${model.uri}'"
	    ",v=\"v${model.version}\"}) * ${canary.weight} # $${not.ours}", &v,
	    &b), "sum(x{t=\"fraud-api\",u='s3://m/7',v=\"v7\"}) * 10 # ${not.ours}");
	buf_release(&b);
}

static void
promql__escapes_quotes_backslashes_and_control_characters(void **state)
{
	struct promql_vars v = { "a\"b\\c'd\ne\x01", 5, 1, "x'y\"z" };
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_string_equal(subst("{t=\"${canary.target}\"}", &v, &b),
	    "{t=\"a\\\"b\\\\c'd\\ne\\x01\"}");
	assert_string_equal(subst("{u='${model.uri}'}", &v, &b),
	    "{u='x\\'y\"z'}");
	/* a quote escaped by the query itself does not end the string */
	assert_string_equal(subst("{t=\"q\\\"${canary.target}\"}", &v, &b),
	    "{t=\"q\\\"a\\\"b\\\\c'd\\ne\\x01\"}");
	buf_release(&b);
}

static void
promql__refuses_what_cannot_be_quoted_safely(void **state)
{
	static const struct {
		const char *query, *why;
	} bad[] = {
		{ "x{t=${canary.target}}", "${canary.target} must be inside a "
		    "quoted string, e.g. service=\"${canary.target}\"" },
		{ "x{u=`${model.uri}`}", "${model.uri} cannot be escaped inside "
		    "a `raw string`; use \"...\"" },
		{ "x # ${model.uri}", "${model.uri} must be inside a quoted "
		    "string, e.g. service=\"${model.uri}\"" },
		{ "x{a=\"${params.x}\"}", "unknown reference \"${params.x}\" (a "
		    "query may use ${canary.target}, ${canary.weight}, "
		    "${model.version} and ${model.uri}; for a literal \"${\", "
		    "write \"$${\")" },
		{ "x{a=\"${canary.target\"}", NULL },
	};
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pipeline_promql_check(bad[i].query, &err),
		    ERR_INVALID);
		if (bad[i].why != NULL)
			assert_string_equal(err.msg, bad[i].why);
	}
	assert_int_equal(pipeline_promql_check("x{u=`${canary.weight}`} > "
	    "${model.version}", &err), 0);
}

static void
promql__model_references_need_a_candidate(void **state)
{
	struct promql_vars v = { "api", 10, 0, NULL };
	struct buf b;
	struct err err;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(pipeline_promql_substitute("x{u=\"${model.uri}\"}", &v,
	    &b, &err), ERR_INVALID);
	assert_string_equal(err.msg, "${model.uri}: the rollout has no "
	    "candidate model version");
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(promql__substitutes_each_reference_in_its_place),
		cmocka_unit_test(
		    promql__escapes_quotes_backslashes_and_control_characters),
		cmocka_unit_test(promql__refuses_what_cannot_be_quoted_safely),
		cmocka_unit_test(promql__model_references_need_a_candidate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
