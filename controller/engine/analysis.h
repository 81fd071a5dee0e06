/*
 * analysis.h - the analysis queries of a canary step (analysis.queries
 * with canary.analysis_provider.prometheus; docs/engine.md, "Analysis
 * queries"), driven by canary.c while its rollout is analyzing.  Not for
 * other modules.
 */
#ifndef SLUICE_ANALYSIS_H
#define SLUICE_ANALYSIS_H

#include <stddef.h>

#include "engine/pass.h"

enum analysis_verdict {
	ANALYSIS_WAIT = 0,	/* measuring: msg is the waiting reason */
	ANALYSIS_PASSED,	/* every slot measured, every query held */
	ANALYSIS_FAILED,	/* msg says which query and why */
};

/*
 * The queries of the current step of canary stage idx of er: measure
 * each query whose next slot is due (the step's analysis clock, stopped
 * while paused, reaching slot * interval), store the measurement, then
 * judge from what is stored.  Sets the pass's wake-up for the next slot.
 * Returns a verdict (msg filled), or a negative code when the database
 * failed (err; the next pass tries again).  A query that cannot be
 * measured (Prometheus unreachable, an error answer, no sample) is an
 * inconclusive measurement, never a passed one.  Blocks on the database
 * and on Prometheus (at most the provider's timeout per due query).
 */
int	analysis_queries(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    char *msg, size_t msglen, struct err *err)
	    __attribute__((warn_unused_result));

#endif
