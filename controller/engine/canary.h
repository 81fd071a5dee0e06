/*
 * canary.h - the canary stage machine (docs/engine.md, "Canary
 * stages"), driven by engine.c inside a pass.  Not for other modules.
 */
#ifndef SLUICE_CANARY_H
#define SLUICE_CANARY_H

#include <stddef.h>

#include "engine/pass.h"

/*
 * A canary stage idx of er with no active attempt takes its next step:
 * it writes what the rollout's status calls for (analysis, approval,
 * promotion, end) or asks for the next attempt (pass_request).  Errors
 * are logged; the next pass tries again.
 */
void	canary_advance(struct eng_pass *ps, struct eng_run *er, size_t idx);

#endif
