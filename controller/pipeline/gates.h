/*
 * gates.h - evaluating a stage's gates and a canary step's analysis gates
 * (docs/pipeline-reference.md, "gates") and saying why one failed.  Pure: the engine fetches the
 * values (the stage's metrics, the baseline) and this decides.
 *
 * A gate with `value` holds when observed OP value.  A gate with
 * `baseline: production` compares with the baseline value the engine
 * found (see docs/engine.md: the production model's run for the
 * pipeline's canary target, else the last successful run of the
 * pipeline); with nothing to compare with it holds.  Tolerance as in
 * pipeline_gate_holds().  A metric that was not reported fails the gate.
 */
#ifndef SLUICE_GATES_H
#define SLUICE_GATES_H

#include <stddef.h>

#include "pipeline/pipeline.h"

struct gate_baseline {
	int	 found;		/* 0: nothing to compare with */
	double	 value;
	char	 source[160];	/* for messages: "production run 12" */
};

/*
 * Check one gate.  have is 0 when the metric was not reported.  Returns 1
 * when the gate holds, 0 when it does not, with msg (size msglen) saying
 * why, e.g.
 *	auc = 0.71 is not >= 0.75
 *	auc = 0.8 is not >= 0.85 (baseline 0.87 from production run 12,
 *	    tolerance 0.02)
 *	metric 'auc' was not reported
 * b may be NULL for a gate with a value.
 */
int	gate_check(const struct pipeline_gate *g, int have, double observed,
	    const struct gate_baseline *b, char *msg, size_t msglen);

/*
 * Format a number the shortest way that reads back the same ("0.934",
 * "42", "1e-07").  out holds at least 32 bytes.
 */
void	gate_format_number(double v, char *out, size_t outlen);

#endif
