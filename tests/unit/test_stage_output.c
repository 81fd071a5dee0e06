/* test_stage_output.c - ::metric and ::artifact lines out of a log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "pipeline/stage_output.h"

static void
feed(struct stage_output *o, const char *s)
{
	stage_output_feed(o, s, strlen(s));
}

static void
stage_output__reads_metrics_with_their_lines(void **state)
{
	struct stage_output o;
	double v;

	(void)state;
	stage_output_init(&o);
	feed(&o, "hello\n::metric auc=0.934 loss=0.21\n::metric loss=-1.5e-3\n");
	stage_output_finish(&o);
	assert_int_equal(o.nmetrics, 3);
	assert_string_equal(o.metrics[0].name, "auc");
	assert_true(o.metrics[0].value == 0.934);
	assert_int_equal(o.metrics[0].line, 1);
	assert_int_equal(o.metrics[2].line, 2);
	assert_int_equal(stage_output_metric(&o, "loss", &v), 1);
	assert_true(v == -1.5e-3);
	assert_int_equal(stage_output_metric(&o, "nope", &v), 0);
	assert_int_equal(o.ignored, 0);
	stage_output_release(&o);
}

static void
stage_output__reads_artifacts_and_model_names(void **state)
{
	struct stage_output o;
	const struct output_artifact *a;

	(void)state;
	stage_output_init(&o);
	feed(&o, "::artifact model=s3://m/1\n"
	    "::artifact data=file:///d.csv\r\n"
	    "::artifact model=s3://m/2 name=fraud-detector\n");
	stage_output_finish(&o);
	assert_int_equal(o.nartifacts, 2);
	a = stage_output_artifact(&o, "model");
	assert_non_null(a);
	assert_string_equal(a->uri, "s3://m/2");
	assert_string_equal(a->model_name, "fraud-detector");
	assert_int_equal(a->line, 2);
	a = stage_output_artifact(&o, "data");
	assert_string_equal(a->uri, "file:///d.csv");
	assert_null(a->model_name);
	stage_output_release(&o);
}

static void
stage_output__skips_malformed_items(void **state)
{
	struct stage_output o;

	(void)state;
	stage_output_init(&o);
	feed(&o, "::metric a=1 b=x c= =2 d=inf e=nan f=0x10 g=1.5 h=.5 i=5.\n"
	    " ::metric indented=1\n"
	    "::metrics x=1\n"
	    "::metric\n"
	    "::artifact nouri\n"
	    "::artifact 9bad=s3://x\n"
	    "x ::metric inline=1\n");
	stage_output_finish(&o);
	assert_int_equal(o.nmetrics, 4);	/* a, g, h, i */
	assert_string_equal(o.metrics[0].name, "a");
	assert_string_equal(o.metrics[1].name, "g");
	assert_string_equal(o.metrics[2].name, "h");
	assert_string_equal(o.metrics[3].name, "i");
	assert_int_equal(o.nartifacts, 0);
	assert_int_equal(o.ignored, 8);
	stage_output_release(&o);
}

static void
stage_output__joins_lines_split_across_chunks(void **state)
{
	static const char log[] = "step 1\n::metric loss=0.5\n::metric "
	    "auc=0.9\n::artifact model=s3://m/7\n";
	struct stage_output o;

	(void)state;
	/* every split point gives the same result */
	for (size_t cut = 0; cut <= sizeof(log) - 1; cut++) {
		stage_output_init(&o);
		stage_output_feed(&o, log, cut);
		stage_output_feed(&o, log + cut, sizeof(log) - 1 - cut);
		stage_output_finish(&o);
		assert_int_equal(o.nmetrics, 2);
		assert_int_equal(o.metrics[1].line, 2);
		assert_int_equal(o.nartifacts, 1);
		assert_int_equal(o.artifacts[0].line, 3);
		stage_output_release(&o);
	}
}

static void
stage_output__a_line_without_newline_waits_for_the_end(void **state)
{
	struct stage_output o;

	(void)state;
	stage_output_init(&o);
	feed(&o, "::metric a=1\n::metric b=2");
	assert_int_equal(o.nmetrics, 1);
	/* the caller stored what it had; the line count goes on */
	stage_output_clear(&o);
	assert_int_equal(o.nmetrics, 0);
	feed(&o, "5\n::metric c=3");
	assert_int_equal(o.nmetrics, 1);
	assert_true(o.metrics[0].value == 25);
	assert_int_equal(o.metrics[0].line, 1);
	stage_output_finish(&o);
	assert_int_equal(o.nmetrics, 2);
	assert_int_equal(o.metrics[1].line, 2);
	stage_output_release(&o);
}

static void
stage_output__an_overlong_line_is_not_a_protocol_line(void **state)
{
	struct stage_output o;
	size_t n = LIM_OUTPUT_LINE + 100;
	char *big = malloc(n + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, "::metric a=1 ", 13);
	big[n] = '\0';
	stage_output_init(&o);
	stage_output_feed(&o, big, 1000);
	stage_output_feed(&o, big + 1000, n - 1000);
	feed(&o, "\n::metric b=2\n");
	stage_output_finish(&o);
	assert_int_equal(o.nmetrics, 1);
	assert_string_equal(o.metrics[0].name, "b");
	assert_int_equal(o.metrics[0].line, 1);
	stage_output_release(&o);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stage_output__reads_metrics_with_their_lines),
		cmocka_unit_test(stage_output__reads_artifacts_and_model_names),
		cmocka_unit_test(stage_output__skips_malformed_items),
		cmocka_unit_test(stage_output__joins_lines_split_across_chunks),
		cmocka_unit_test(
		    stage_output__a_line_without_newline_waits_for_the_end),
		cmocka_unit_test(
		    stage_output__an_overlong_line_is_not_a_protocol_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
