/* test_gates.c - gate checks and their messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pipeline/gates.h"

static void
gates__a_threshold_gate_names_metric_value_operator_and_threshold(
    void **state)
{
	struct pipeline_gate g = { .metric = (char *)"auc",
	    .op = PIPELINE_OP_GE, .value = 0.9 };
	char msg[256];

	(void)state;
	assert_int_equal(gate_check(&g, 1, 0.93, NULL, msg, sizeof(msg)), 1);
	assert_int_equal(gate_check(&g, 1, 0.9, NULL, msg, sizeof(msg)), 1);
	assert_int_equal(gate_check(&g, 1, 0.71, NULL, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "auc = 0.71 is not >= 0.9");
	g.op = PIPELINE_OP_LT;
	g.metric = (char *)"error_rate";
	g.value = 0.01;
	assert_int_equal(gate_check(&g, 1, 0.2, NULL, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "error_rate = 0.2 is not < 0.01");
}

static void
gates__a_missing_metric_fails(void **state)
{
	struct pipeline_gate g = { .metric = (char *)"auc",
	    .op = PIPELINE_OP_GE, .value = 0.9 };
	char msg[256];

	(void)state;
	assert_int_equal(gate_check(&g, 0, 0, NULL, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "metric 'auc' was not reported");
}

static void
gates__a_baseline_gate_applies_the_tolerance(void **state)
{
	struct pipeline_gate g = { .metric = (char *)"auc",
	    .op = PIPELINE_OP_GE, .baseline = 1, .tolerance = 0.01 };
	struct gate_baseline b = { .found = 1, .value = 0.95 };
	char msg[256];

	(void)state;
	(void)snprintf(b.source, sizeof(b.source), "%s",
	    "production model fraud v3 (run 12)");
	assert_int_equal(gate_check(&g, 1, 0.945, &b, msg, sizeof(msg)), 1);
	assert_int_equal(gate_check(&g, 1, 0.92, &b, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "auc = 0.92 is not >= 0.94 (baseline 0.95 "
	    "from production model fraud v3 (run 12), tolerance 0.01)");
	g.op = PIPELINE_OP_LE;
	g.metric = (char *)"latency";
	g.tolerance = 2;
	b.value = 40;
	assert_int_equal(gate_check(&g, 1, 41.5, &b, msg, sizeof(msg)), 1);
	assert_int_equal(gate_check(&g, 1, 43, &b, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "latency = 43 is not <= 42 (baseline 40 "
	    "from production model fraud v3 (run 12), tolerance 2)");
}

static void
gates__nothing_to_compare_with_holds(void **state)
{
	struct pipeline_gate g = { .metric = (char *)"auc",
	    .op = PIPELINE_OP_GE, .baseline = 1 };
	struct gate_baseline none = { .found = 0 };
	char msg[256];

	(void)state;
	assert_int_equal(gate_check(&g, 1, 0.1, &none, msg, sizeof(msg)), 1);
	assert_int_equal(gate_check(&g, 1, 0.1, NULL, msg, sizeof(msg)), 1);
}

static void
gates__numbers_are_written_the_shortest_exact_way(void **state)
{
	char out[40];

	(void)state;
	gate_format_number(0.1, out, sizeof(out));
	assert_string_equal(out, "0.1");
	gate_format_number(42, out, sizeof(out));
	assert_string_equal(out, "42");
	gate_format_number(1e-7, out, sizeof(out));
	assert_string_equal(out, "1e-07");
	gate_format_number(0.1 + 0.2, out, sizeof(out));
	assert_string_equal(out, "0.30000000000000004");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
	    gates__a_threshold_gate_names_metric_value_operator_and_threshold),
		cmocka_unit_test(gates__a_missing_metric_fails),
		cmocka_unit_test(gates__a_baseline_gate_applies_the_tolerance),
		cmocka_unit_test(gates__nothing_to_compare_with_holds),
		cmocka_unit_test(gates__numbers_are_written_the_shortest_exact_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
