/*
 * spec_build.h - what an attempt of a stage runs, built inside a pass
 * from the pipeline stage, the run and the outputs of earlier stages
 * (docs/engine.md, "Stages and attempts").  Not for other modules.
 */
#ifndef SLUICE_SPEC_BUILD_H
#define SLUICE_SPEC_BUILD_H

#include <stddef.h>

#include "base/err.h"
#include "engine/attempt_spec.h"
#include "engine/pass.h"

/*
 * Fill the empty spec with what attempt `attempt` (kind, canary step and
 * weight; prev_uri: the production model a canary replaces, or NULL) of
 * stage idx of er runs: the command (the rollback command for a rollback)
 * and env with ${...} substituted, the stage protocol's SLUICE_*
 * environment, the stage's scheduling fields and, for the local executor,
 * the run's checkout.  ERR_INVALID when a reference has no value or the
 * result is too long (the stage cannot start; the message says why);
 * database errors (ERR_TRANSIENT: try again).  On error spec is empty.
 */
int	spec_build(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    enum attempt_kind kind, int attempt, int step, int weight,
	    const char *prev_uri, struct attempt_spec *spec, struct err *err)
	    __attribute__((warn_unused_result));

#endif
