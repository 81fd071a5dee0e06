/*
 * fuzz_stage_output.c - libFuzzer target for the ::metric and ::artifact
 * lines of stage logs (pipeline/stage_output.c; `make fuzz`,
 * scripts/fuzz.sh).  The input is a log, read once whole and once in
 * chunks whose sizes come from the input itself, as a log that grows
 * while it is read.
 *
 * Besides crashes, leaks and timeouts it checks what must always hold:
 * both readings find the same metrics and artifacts on the same lines;
 * every metric name is non-empty and valid, its value finite, its line
 * within the log; every artifact has a valid name, a URI of 1 to LIM_URL
 * printable bytes, a model name of at most 253; the caps hold.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_stage_output: %s\n", what);
	abort();
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void
check(const struct stage_output *o, int64_t lines)
{
	if (o->nmetrics > LIM_OUTPUT_METRICS ||
	    o->nartifacts > LIM_OUTPUT_ARTIFACTS)
		fail("past a cap");
	for (size_t i = 0; i < o->nmetrics; i++) {
		const struct output_metric *m = &o->metrics[i];
		size_t n = strnlen(m->name, sizeof(m->name));

		if (n == 0 || n >= sizeof(m->name) ||
		    !pipeline_output_name_valid(m->name, n))
			fail("a metric name empty or invalid");
		if (!isfinite(m->value))
			fail("a metric value not finite");
		if (m->line < 0 || m->line >= lines ||
		    (i > 0 && m->line < o->metrics[i - 1].line))
			fail("a metric line outside the log or out of order");
	}
	for (size_t i = 0; i < o->nartifacts; i++) {
		const struct output_artifact *a = &o->artifacts[i];
		size_t n = strnlen(a->name, sizeof(a->name));

		if (n == 0 || n >= sizeof(a->name) ||
		    !pipeline_output_name_valid(a->name, n))
			fail("an artifact name empty or invalid");
		if (a->uri == NULL || a->uri[0] == '\0' ||
		    strlen(a->uri) > LIM_URL || !printable(a->uri))
			fail("an artifact URI empty, too long or unprintable");
		if (a->model_name != NULL && (a->model_name[0] == '\0' ||
		    strlen(a->model_name) > 253 || !printable(a->model_name)))
			fail("a model name empty, too long or unprintable");
		if (a->line < 0 || a->line >= lines)
			fail("an artifact line outside the log");
		for (size_t k = 0; k < i; k++)
			if (strcmp(o->artifacts[k].name, a->name) == 0)
				fail("an artifact name twice");
	}
}

static void
same(const struct stage_output *a, const struct stage_output *b)
{
	if (a->nmetrics != b->nmetrics || a->nartifacts != b->nartifacts ||
	    a->ignored != b->ignored || a->line != b->line)
		fail("whole and chunked readings differ in counts");
	for (size_t i = 0; i < a->nmetrics; i++) {
		const struct output_metric *x = &a->metrics[i];
		const struct output_metric *y = &b->metrics[i];

		if (strcmp(x->name, y->name) != 0 || x->line != y->line ||
		    memcmp(&x->value, &y->value, sizeof(x->value)) != 0)
			fail("whole and chunked readings differ in a metric");
	}
	for (size_t i = 0; i < a->nartifacts; i++) {
		const struct output_artifact *x = &a->artifacts[i];
		const struct output_artifact *y = &b->artifacts[i];

		if (strcmp(x->name, y->name) != 0 || x->line != y->line ||
		    strcmp(x->uri, y->uri) != 0 ||
		    (x->model_name == NULL) != (y->model_name == NULL) ||
		    (x->model_name != NULL &&
		    strcmp(x->model_name, y->model_name) != 0))
			fail("whole and chunked readings differ in an artifact");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stage_output whole, chunked;
	const char *log = (const char *)data;
	uint32_t seed = 2166136261u;
	int64_t lines = 1;

	for (size_t i = 0; i < size; i++) {
		seed = (seed ^ data[i]) * 16777619u;
		if (data[i] == '\n')
			lines++;
	}
	stage_output_init(&whole);
	stage_output_feed(&whole, log, size);
	stage_output_finish(&whole);
	check(&whole, lines);

	stage_output_init(&chunked);
	for (size_t off = 0; off < size;) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % (seed & 0x100 ? 17 : 4096);
		if (n > size - off)
			n = size - off;
		stage_output_feed(&chunked, log + off, n);
		off += n;
	}
	stage_output_finish(&chunked);
	check(&chunked, lines);
	same(&whole, &chunked);

	stage_output_release(&whole);
	stage_output_release(&chunked);
	return 0;
}
