/*
 * test_api_metrics.c - GET /metrics over real HTTP: every line of the
 * exposition is a comment, blank, or a valid sample of a family declared
 * by a TYPE line; request and webhook counters go up after requests; the
 * route label is the pattern, never the raw path.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../support/testapi.h"
#include "base/version.h"

static int
setup(void **state)
{
	struct testapi *a = testapi_start(NULL, NULL, "secret");

	*state = a;
	return a != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	testapi_stop(*state);
	return 0;
}

static int
name_char(char c, int first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	    (!first && isdigit((unsigned char)c));
}

/* Length of a metric name at p (0 when there is none). */
static size_t
name_len(const char *p)
{
	size_t n = 0;

	while (name_char(p[n], n == 0))
		n++;
	return n;
}

/*
 * Check one sample line "name{l="v",...} value" against the exposition
 * format; fill its name (without _bucket/_sum/_count for histograms).
 * Returns 0 or fails the test with the line.
 */
static void
check_sample(const char *line, char *name, size_t namelen, double *value)
{
	const char *p = line;
	size_t n = name_len(p);
	char *end;

	if (n == 0)
		fail_msg("bad metric name: %s", line);
	(void)snprintf(name, namelen, "%.*s", (int)n, p);
	p += n;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = 0;

			while (isalnum((unsigned char)p[ln]) || p[ln] == '_')
				ln++;
			if (ln == 0 || isdigit((unsigned char)p[0]) ||
			    p[ln] != '=' || p[ln + 1] != '"')
				fail_msg("bad label in: %s", line);
			p += ln + 2;
			while (*p != '"') {
				if (*p == '\0' || *p == '\n')
					fail_msg("unterminated value: %s", line);
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' &&
					    p[1] != 'n')
						fail_msg("bad escape: %s", line);
					p++;
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				fail_msg("bad label list: %s", line);
		}
		p++;
	}
	if (*p != ' ')
		fail_msg("no space before the value: %s", line);
	p++;
	if (strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0) {
		*value = strcmp(p, "+Inf") == 0 ? INFINITY : -INFINITY;
		return;
	}
	if (strcmp(p, "NaN") == 0) {
		*value = NAN;
		return;
	}
	*value = strtod(p, &end);
	if (end == p || (*end != '\0' && *end != ' '))
		fail_msg("bad value: %s", line);
}

/* The value of the sample whose text before the value is exactly key. */
static double
sample(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[kl] == ' ')
			return strtod(p + kl + 1, NULL);
		p += kl;
	}
	return -1;
}

/*
 * Parse the whole exposition line by line; every sample's family must
 * have been declared by a TYPE line before it.
 */
static void
check_exposition(const char *text)
{
	char types[256][128];
	size_t ntypes = 0;
	char *copy = strdup(text), *save = NULL, *line;

	assert_non_null(copy);
	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		double v;
		size_t i;

		if (line[0] == '\0')
			continue;
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(name_len(line + 7) > 0);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t n = name_len(line + 7);
			const char *t = line + 7 + n;

			assert_true(n > 0 && n < sizeof(types[0]));
			if (strcmp(t, " counter") != 0 &&
			    strcmp(t, " gauge") != 0 &&
			    strcmp(t, " histogram") != 0)
				fail_msg("bad TYPE line: %s", line);
			assert_true(ntypes < 256);
			(void)snprintf(types[ntypes++], sizeof(types[0]),
			    "%.*s", (int)n, line + 7);
			continue;
		}
		if (line[0] == '#')
			continue;	/* other comments are allowed */
		check_sample(line, name, sizeof(name), &v);
		for (i = 0; i < ntypes; i++) {
			size_t tl = strlen(types[i]);

			if (strncmp(name, types[i], tl) == 0 &&
			    (name[tl] == '\0' || strcmp(name + tl, "_bucket") ==
			    0 || strcmp(name + tl, "_sum") == 0 ||
			    strcmp(name + tl, "_count") == 0))
				break;
		}
		if (i == ntypes)
			fail_msg("sample without a TYPE line: %s", line);
	}
	free(copy);
}

static char *
scrape(struct testapi *a)
{
	struct testreply rp;
	char ct[128];

	testapi_request(a, &rp, "GET", "/metrics", NULL, 0, NULL);
	assert_int_equal(rp.status, 200);
	assert_int_equal(testreply_header(&rp, "Content-Type", ct, sizeof(ct)),
	    0);
	assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
	check_exposition(rp.body);
	return rp.body;
}

static void
metrics__exposition_parses_line_by_line_and_counters_increase(void **state)
{
	struct testapi *a = *state;
	struct testreply rp;
	char *before, *after, key[256];
	double hz0, hz1;

	before = scrape(a);
	(void)snprintf(key, sizeof(key),
	    "sluice_build_info{version=\"%s\"}", SLUICE_VERSION);
	assert_true(sample(before, key) == 1);
	assert_non_null(strstr(before, "# TYPE sluice_http_requests_total "
	    "counter\n"));
	assert_non_null(strstr(before, "# TYPE "
	    "sluice_http_request_duration_seconds histogram\n"));
	assert_non_null(strstr(before, "# TYPE sluice_webhook_deliveries_total "
	    "counter\n"));
	hz0 = sample(before, "sluice_http_requests_total{route=\"/healthz\","
	    "method=\"GET\",code=\"200\"}");
	if (hz0 < 0)
		hz0 = 0;
	for (int i = 0; i < 3; i++) {
		testapi_request(a, &rp, "GET", "/healthz", NULL, 0, NULL);
		assert_int_equal(rp.status, 200);
		testreply_free(&rp);
	}
	/* a 401 on a route with a path parameter, a 404, a bad hook */
	testapi_request(a, &rp, "GET", "/api/v1/session", NULL, 0, NULL);
	assert_int_equal(rp.status, 401);
	testreply_free(&rp);
	testapi_request(a, &rp, "GET", "/api/v1/no/such/thing", NULL, 0, NULL);
	assert_int_equal(rp.status, 404);
	testreply_free(&rp);
	{
		const char *h[] = { "X-Sluice-Signature-256: sha256=00",
		    "X-Sluice-Delivery: m-1", NULL };

		testapi_request(a, &rp, "POST",
		    "/api/v1/hooks/retrain/secret-pipeline-name", "{}", 2, h);
		assert_int_equal(rp.status, 401);
		testreply_free(&rp);
	}
	after = scrape(a);
	hz1 = sample(after, "sluice_http_requests_total{route=\"/healthz\","
	    "method=\"GET\",code=\"200\"}");
	assert_true(hz1 == hz0 + 3);
	assert_true(sample(after, "sluice_http_requests_total{route="
	    "\"/api/v1/session\",method=\"GET\",code=\"401\"}") == 1);
	assert_true(sample(after, "sluice_http_requests_total{route="
	    "\"unmatched\",method=\"GET\",code=\"404\"}") == 1);
	assert_true(sample(after, "sluice_http_requests_total{route="
	    "\"/api/v1/hooks/retrain/{pipeline}\",method=\"POST\","
	    "code=\"401\"}") == 1);
	assert_true(sample(after, "sluice_webhook_deliveries_total{source="
	    "\"sluice\",result=\"unauthorized\"}") == 1);
	assert_true(sample(after, "sluice_http_request_duration_seconds_count{"
	    "route=\"/healthz\"}") >= 3);
	assert_true(sample(after, "sluice_http_request_duration_seconds_bucket{"
	    "route=\"/healthz\",le=\"+Inf\"}") >= 3);
	/* raw paths never become labels */
	assert_null(strstr(after, "secret-pipeline-name"));
	assert_null(strstr(after, "/api/v1/no/such/thing"));
	/* the previous scrape counted too */
	assert_true(sample(after, "sluice_http_requests_total{route="
	    "\"/metrics\",method=\"GET\",code=\"200\"}") >= 1);
	free(before);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    metrics__exposition_parses_line_by_line_and_counters_increase,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
