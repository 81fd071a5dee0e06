/*
 * store_retention.h - which runs retention deletes, and deleting them.
 *
 * A pipeline's policy is spec.retention of its latest valid version
 * ({"keep_runs", "max_age_ms"} in the stored definition), each field
 * falling back to the configuration's retention.* (0: no limit).  A run
 * is past the policy when more than keep_runs newer runs of its pipeline
 * exist, or when it was created more than max_age ago.  A run past the
 * policy is still kept when:
 *   - it has not finished;
 *   - a model version it registered is production or candidate, was ever
 *     in production, or is the newest version of its model (version
 *     numbers are never given twice);
 *   - an approval of it is pending or was decided by a person;
 *   - a rollout of it was rolled back, or acted on (promote-full, abort,
 *     pause);
 *   - a kept run needs it: its retry, a run that reuses one of its
 *     stages, a rollout naming one of its model versions (recursively).
 * Everything else past the policy goes: the run, its stages, attempts,
 * metrics, artifacts, kept logs, rollouts, approvals, model versions and
 * its events but the audit ones (event_audit_kind(), kept forever).
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_RETENTION_H
#define SLUICE_STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"

struct db;

/* The configuration's defaults (0: no limit). */
struct retention_defaults {
	int64_t	keep_runs;
	int64_t	max_age_ms;
};

/* One run past its pipeline's policy. */
struct retention_run {
	int64_t	id;
	char	pipeline[LIM_NAME + 1];
	char	status[24];
	char	created_at[32];		/* RFC 3339 */
	char	past[96];		/* "beyond keep_runs 5", "older than max_age" */
	char	kept[256];		/* why it stays; "" when it goes */
};

/*
 * The runs past their policy, oldest first, at most limit of them; with
 * only_deletable, only those that would go.  *out (n rows) is the
 * caller's to free().
 */
int	store_retention_plan(struct db *db, const struct retention_defaults *d,
	    int only_deletable, int64_t limit, struct retention_run **out,
	    size_t *n, struct err *err) __attribute__((warn_unused_result));

/* What a deletion removed (and, in the totals, ever removed). */
struct retention_counts {
	int64_t	runs;
	int64_t	stages;
	int64_t	attempts;
	int64_t	model_versions;
	int64_t	events;
	int64_t	log_bytes;
};

/*
 * Delete the runs of ids (n of them) that are still deletable, in one
 * transaction: the runs, their model versions and approvals are locked,
 * the plan is read again (a run may have gained a reason to stay since),
 * and what goes goes, with retention_totals updated.  *counts receives
 * what was deleted; *jobs (*njobs names, the caller frees each and the
 * array) the job names of the deleted attempts and *runs_out (*nruns) the
 * deleted run ids, for their files.  db must not be in a transaction.
 */
int	store_retention_delete(struct db *db, const struct retention_defaults *d,
	    const int64_t *ids, size_t n, struct retention_counts *counts,
	    char ***jobs, size_t *njobs, int64_t **runs_out, size_t *nruns,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * VACUUM the tables a deletion touched, so the space is reused at once.
 * db must not be in a transaction.
 */
int	store_retention_vacuum(struct db *db, struct err *err)
	    __attribute__((warn_unused_result));

/* What retention deleted ever (for /metrics). */
int	store_retention_totals(struct db *db, struct retention_counts *out,
	    struct err *err) __attribute__((warn_unused_result));

/* The plan's statement ($1 keep_runs, $2 max_age ms, $3 only deletable,
 * $4 limit), for EXPLAIN in tests. */
extern const char store_retention_plan_sql[];

#endif
