/*
 * fuzz_pipeline.c - libFuzzer target for the pipeline parser (`make fuzz`,
 * scripts/fuzz.sh; not part of `make test`).
 *
 * Besides crashes, leaks and timeouts it checks what must always hold:
 * an invalid file reports at least one error, every error has a position
 * and serializes to JSON, and a valid pipeline's canonical JSON parses
 * back to the same JSON, lists every stage in its order and substitutes
 * every reference of its commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "pipeline/pipeline.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
lookup(void *arg, const struct pipeline_ref *ref, struct buf *out,
    struct err *err)
{
	(void)arg;
	(void)ref;
	(void)err;
	return buf_puts(out, "v");
}

static void
check_valid(const struct pipeline *p)
{
	struct pipeline_errors errs;
	struct pipeline *q = NULL;
	char *j = NULL, *j2 = NULL;
	unsigned char *seen;
	struct err err;
	struct buf b;
	const char *changed[] = { "models/x.py", "README.md" };

	if (p->nstages == 0 || p->nstages > LIM_STAGES || p->name == NULL)
		abort();
	seen = calloc(p->nstages, 1);
	for (size_t i = 0; i < p->nstages; i++) {
		const struct pipeline_stage *st = &p->stages[p->order[i]];

		if (seen[p->order[i]]++ || st->name == NULL ||
		    st->image == NULL || st->command.n == 0)
			abort();
		for (size_t k = 0; k < st->needs.n; k++) {
			if (!pipeline_depends_on(p, p->order[i],
			    st->need_index[k]) || !seen[st->need_index[k]])
				abort();
		}
		buf_init(&b, 4 * LIM_PIPELINE_FILE);
		for (size_t k = 0; k < st->command.n; k++) {
			if (pipeline_substitute(st->command.v[k], lookup, NULL,
			    &b, &err) != 0)
				abort();
		}
		buf_release(&b);
	}
	free(seen);
	(void)pipeline_push_matches(p, "main", changed, 2, "p.yaml");

	pipeline_errors_init(&errs);
	if (pipeline_to_json(p, &j, &err) == 0 &&
	    strlen(j) <= LIM_PIPELINE_FILE) {
		if (pipeline_parse(&q, &errs, j, strlen(j), "json", &err) != 0) {
			fprintf(stderr, "canonical JSON does not parse: %s\n%s\n",
			    err.msg, j);
			abort();
		}
		if (pipeline_to_json(q, &j2, &err) != 0 || strcmp(j, j2) != 0) {
			fprintf(stderr, "canonical JSON changed:\n%s\n%s\n", j,
			    j2 != NULL ? j2 : "(null)");
			abort();
		}
	}
	free(j);
	free(j2);
	pipeline_free(q);
	pipeline_errors_release(&errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	char *ej = NULL;
	struct err err;
	int rc;

	pipeline_errors_init(&errs);
	rc = pipeline_parse(&p, &errs, (const char *)data, size, "fuzz.yaml",
	    &err);
	if (rc == 0) {
		if (errs.n != 0)
			abort();
		check_valid(p);
	} else if (rc != ERR_INVALID || errs.n == 0 ||
	    errs.n > LIM_PIPELINE_ERRORS) {
		abort();
	}
	for (size_t i = 0; i < errs.n; i++) {
		if (errs.v[i].line < 1 || errs.v[i].column < 1 ||
		    errs.v[i].message[0] == '\0')
			abort();
	}
	if (pipeline_errors_to_json(&errs, &ej, &err) != 0)
		abort();
	free(ej);
	pipeline_free(p);
	pipeline_errors_release(&errs);
	return 0;
}
