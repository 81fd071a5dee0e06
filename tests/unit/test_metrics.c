/*
 * test_metrics.c - the metrics registry and its Prometheus text
 * exposition: exact output for counters, gauges and histograms, escaping,
 * number formatting, the series cap and scrape-time collectors.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/metrics.h"

/* Render m, skipping the registry's own dropped-series family. */
static char *
render(struct metrics *m)
{
	struct buf b;
	char *s, *own;

	buf_init(&b, LIM_METRICS_TEXT);
	assert_int_equal(metrics_render(m, &b), 0);
	s = buf_detach(&b);
	own = strstr(s, "# HELP sluice_metrics_dropped_series_total");
	assert_ptr_equal(own, s);
	own = strstr(s, "counter\n");
	assert_non_null(own);
	own += strlen("counter\n");
	memmove(s, own, strlen(own) + 1);
	return s;
}

static void
metrics__counters_and_gauges_render_with_labels_in_order(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *c, *g;
	char *out;

	(void)state;
	c = metrics_add(m, METRIC_COUNTER, "app_requests_total",
	    "Requests answered", "route,code", NULL, 0);
	g = metrics_add(m, METRIC_GAUGE, "app_queue_depth", "Queued items",
	    NULL, NULL, 0);
	metric_inc(c, METRIC_LABELS("/a", "200"));
	metric_inc(c, METRIC_LABELS("/a", "200"));
	metric_add(c, METRIC_LABELS("/b", "500"), 3);
	metric_set(g, NULL, 0, 7);
	metric_set(g, NULL, 0, 4.5);
	out = render(m);
	assert_string_equal(out,
	    "# HELP app_requests_total Requests answered\n"
	    "# TYPE app_requests_total counter\n"
	    "app_requests_total{route=\"/a\",code=\"200\"} 2\n"
	    "app_requests_total{route=\"/b\",code=\"500\"} 3\n"
	    "# HELP app_queue_depth Queued items\n"
	    "# TYPE app_queue_depth gauge\n"
	    "app_queue_depth 4.5\n");
	assert_true(metric_value(c, METRIC_LABELS("/a", "200")) == 2);
	assert_true(metric_value(c, METRIC_LABELS("/none", "200")) == 0);
	free(out);
	metrics_free(m);
}

static void
metrics__histograms_render_cumulative_buckets_sum_and_count(void **state)
{
	static const double b[] = { 0.1, 0.5, 1 };
	struct metrics *m = metrics_new();
	struct metric *h;
	char *out;

	(void)state;
	h = metrics_add(m, METRIC_HISTOGRAM, "app_seconds", "Durations",
	    "route", b, 3);
	metric_observe(h, METRIC_LABELS("/x"), 0.05);
	metric_observe(h, METRIC_LABELS("/x"), 0.1);
	metric_observe(h, METRIC_LABELS("/x"), 0.7);
	metric_observe(h, METRIC_LABELS("/x"), 3);
	out = render(m);
	assert_string_equal(out,
	    "# HELP app_seconds Durations\n"
	    "# TYPE app_seconds histogram\n"
	    "app_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
	    "app_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
	    "app_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
	    "app_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
	    "app_seconds_sum{route=\"/x\"} 3.85\n"
	    "app_seconds_count{route=\"/x\"} 4\n");
	assert_true(metric_value(h, METRIC_LABELS("/x")) == 4);
	free(out);
	metrics_free(m);
}

static void
metrics__label_values_and_help_are_escaped(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *g;
	char *out;

	(void)state;
	g = metrics_add(m, METRIC_GAUGE, "app_info", "Back\\slash and\nnewline",
	    "v", NULL, 0);
	metric_set(g, METRIC_LABELS("a\"b\\c\nd"), 1);
	out = render(m);
	assert_string_equal(out,
	    "# HELP app_info Back\\\\slash and\\nnewline\n"
	    "# TYPE app_info gauge\n"
	    "app_info{v=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(out);
	metrics_free(m);
}

static void
metrics__numbers_print_as_prometheus_reads_them(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *g;
	char *out;

	(void)state;
	g = metrics_add(m, METRIC_GAUGE, "app_n", "n", "k", NULL, 0);
	metric_set(g, METRIC_LABELS("int"), 1234567);
	metric_set(g, METRIC_LABELS("frac"), 0.1);
	metric_set(g, METRIC_LABELS("neg"), -2.5);
	metric_set(g, METRIC_LABELS("inf"), INFINITY);
	metric_set(g, METRIC_LABELS("nan"), NAN);
	metric_set(g, METRIC_LABELS("big"), 1e300);
	out = render(m);
	assert_non_null(strstr(out, "app_n{k=\"int\"} 1234567\n"));
	assert_non_null(strstr(out, "app_n{k=\"frac\"} 0.1\n"));
	assert_non_null(strstr(out, "app_n{k=\"neg\"} -2.5\n"));
	assert_non_null(strstr(out, "app_n{k=\"inf\"} +Inf\n"));
	assert_non_null(strstr(out, "app_n{k=\"nan\"} NaN\n"));
	assert_non_null(strstr(out, "app_n{k=\"big\"} 1e+300\n"));
	free(out);
	metrics_free(m);
}

static void
metrics__series_past_the_cap_are_dropped_and_counted(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *c;
	struct buf b;
	char v[32];

	(void)state;
	c = metrics_add(m, METRIC_COUNTER, "app_total", "t", "id", NULL, 0);
	for (int i = 0; i < LIM_METRIC_SERIES + 5; i++) {
		(void)snprintf(v, sizeof(v), "%d", i);
		metric_inc(c, METRIC_LABELS(v));
	}
	assert_true(metric_value(c, METRIC_LABELS("0")) == 1);
	(void)snprintf(v, sizeof(v), "%d", LIM_METRIC_SERIES);
	assert_true(metric_value(c, METRIC_LABELS(v)) == 0);
	buf_init(&b, LIM_METRICS_TEXT);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_non_null(strstr(b.data, "sluice_metrics_dropped_series_total"
	    "{metric=\"app_total\"} 5\n"));
	buf_release(&b);
	metrics_free(m);
}

static void
collect(void *arg)
{
	struct metric *g = arg;

	metric_clear(g);
	metric_set(g, METRIC_LABELS("now"), 42);
}

static void
metrics__collectors_run_before_each_exposition(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *g;
	char *out;

	(void)state;
	g = metrics_add(m, METRIC_GAUGE, "app_depth", "d", "when", NULL, 0);
	metric_set(g, METRIC_LABELS("stale"), 1);
	metrics_on_scrape(m, collect, g);
	out = render(m);
	assert_string_equal(out, "# HELP app_depth d\n# TYPE app_depth gauge\n"
	    "app_depth{when=\"now\"} 42\n");
	free(out);
	metrics_free(m);
}

static void
metrics__output_past_the_buffer_cap_is_toobig(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *c;
	struct buf b;

	(void)state;
	c = metrics_add(m, METRIC_COUNTER, "app_total", "t", "id", NULL, 0);
	metric_inc(c, METRIC_LABELS("x"));
	buf_init(&b, 64);
	assert_int_equal(metrics_render(m, &b), ERR_TOOBIG);
	buf_release(&b);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    metrics__counters_and_gauges_render_with_labels_in_order),
		cmocka_unit_test(
		    metrics__histograms_render_cumulative_buckets_sum_and_count),
		cmocka_unit_test(metrics__label_values_and_help_are_escaped),
		cmocka_unit_test(metrics__numbers_print_as_prometheus_reads_them),
		cmocka_unit_test(
		    metrics__series_past_the_cap_are_dropped_and_counted),
		cmocka_unit_test(metrics__collectors_run_before_each_exposition),
		cmocka_unit_test(metrics__output_past_the_buffer_cap_is_toobig),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
