/*
 * store_run.h - runs and their stages (tables runs, stages).
 *
 * Creating a run writes the run, one pending stage per stage of its
 * pipeline version (read from the version's canonical JSON in SQL), an
 * event, and a NOTIFY sluice_runs in one statement, so the engine of any
 * process wakes at once.  Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_RUN_H
#define SLUICE_STORE_RUN_H

#include <stdint.h>

#include "err.h"

struct db;

struct run_new {
	int64_t		 version_id;	/* a valid pipeline version */
	const char	*branch;	/* or NULL */
	const char	*trigger;	/* push | webhook | api | retry */
	const char	*params;	/* JSON object of overrides, or NULL */
	int64_t		 parent_run_id;	/* retry only, else 0 */
	const char	*created_by;	/* token name, "poller", ... */
	const char	*reason;	/* or NULL */
	const char	*idempotency_key; /* or NULL */
};

/*
 * Queue a run.  *run_id receives its id; *created is 1 when this call
 * created it, 0 when a run with the same idempotency key existed (then
 * *run_id is that run).  ERR_INVALID when the version is not valid.
 */
int	store_run_create(struct db *db, const struct run_new *rn,
	    int64_t *run_id, int *created, struct err *err)
	    __attribute__((warn_unused_result));

#endif
