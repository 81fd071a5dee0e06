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

/*
 * Whether canary stage idx of er (pending, its needs met) may start: 1
 * when nobody else holds its target.  Else 0, and the stage waits with
 * waiting_reason "target T is being rolled out by run N"; with
 * on_conflict: supersede, the holder's rollout is first asked to abort
 * (it rolls back, its pending approval expires "superseded by run M"),
 * and the target is free once its rollback has ended.  The release of a
 * lease wakes the engine (NOTIFY), so no one polls for it.
 */
int	canary_may_start(struct eng_pass *ps, struct eng_run *er, size_t idx);

/* The rollout of canary stage st was asked to abort (or superseded). */
int	canary_aborting(const struct snap_stage *st);

#endif
