/*
 * warnings.c - what `sluice validate` points out in a valid pipeline;
 * see pipeline_warnings() in pipeline.h.
 */
#include "pipeline/pipeline.h"

int
pipeline_warnings(const struct pipeline *p, const char *file,
    struct pipeline_errors *warns)
{
	const struct pipeline_stage *st;
	struct pipeline_pos at;
	size_t i;
	int rc;

	for (i = 0; i < p->nstages; i++) {
		st = &p->stages[i];
		if (st->nodes <= 1 || st->queue != NULL)
			continue;
		/* gang scheduling: only Kueue admits all the pods at once */
		at = st->nodes_pos.line > 0 ? st->nodes_pos : st->pos;
		if ((rc = pipeline_errors_add(warns, file, at.line, at.column,
		    "spec.stages[%zu].nodes: without Kueue the pods of a "
		    "multi-node stage may start one by one; set queue to a "
		    "Kueue LocalQueue to admit them together", i)) < 0)
			return rc;
	}
	return 0;
}
