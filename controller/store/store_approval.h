/*
 * store_approval.h - canary approvals (table approvals): pending ->
 * approved | rejected | expired (docs/engine.md).  Approvals are created by the
 * engine with the rollout step that needs them (store_rollout_await).
 * Blocks on the database; errors as db_exec() plus those below.
 */
#ifndef SLUICE_STORE_APPROVAL_H
#define SLUICE_STORE_APPROVAL_H

#include <stdint.h>

#include "base/err.h"

struct db;

/*
 * Approve (approve = 1) or reject a pending approval as actor (a token
 * name) with an optional comment: one conditional UPDATE ... WHERE status
 * = 'pending', so of two approvers deciding at once exactly one wins.
 * Appends an event and NOTIFYs sluice_approvals (the engine acts on it)
 * and sluice_events.  ERR_NOTFOUND for an unknown id; ERR_CONFLICT when
 * it was already decided or has expired (message says which).
 */
int	store_approval_decide(struct db *db, int64_t approval_id, int approve,
	    const char *actor, const char *comment, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The engine: a pending approval whose expires_at has passed becomes
 * expired (decided_at = now, no person), with an event.  ERR_CONFLICT
 * when it is not pending or not yet due.  While its rollout is paused an
 * approval is never due (store_rollout_act(): resume moves expires_at by
 * the time paused), for this and for store_approval_decide().
 */
int	store_approval_expire(struct db *db, int64_t approval_id,
	    const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

#endif
