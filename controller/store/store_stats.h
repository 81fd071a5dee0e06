/*
 * store_stats.h - the numbers /metrics derives from the database at scrape
 * time: runs by pipeline and status, queue depth, GPUs requested by
 * running attempts, pending approvals, repository poll health, and the
 * durations of stages finished since a point in time.  One statement per
 * call; blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_STATS_H
#define SLUICE_STORE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;

struct stats_row {
	char	a[254];		/* pipeline or repository */
	char	b[64];		/* status or stage */
	double	v;
	double	w;
};

struct stats_totals {
	double	queue_depth;		/* runs queued */
	double	gpus_in_use;		/* GPUs of attempts submitted/running */
	double	approvals_pending;
};

/* Runs by pipeline and status: a = pipeline, b = status, v = count. */
int	store_stats_runs(struct db *db, struct stats_row **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));

int	store_stats_totals(struct db *db, struct stats_totals *out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Live repositories: a = name, v = consecutive failures, w = last success
 * (Unix seconds, 0 = never).
 */
int	store_stats_repos(struct db *db, struct stats_row **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Live repositories: a = name, v = invalid pipelines (live pipelines whose
 * newest version is invalid, plus invalid files at branch heads that no
 * live pipeline owns, as the pipelines list shows them).
 */
int	store_stats_invalid_pipelines(struct db *db, struct stats_row **out,
	    size_t *n, struct err *err) __attribute__((warn_unused_result));

/*
 * Stages that finished (succeeded or failed) after *since_us (Unix
 * microseconds; 0 = ever), at most limit: a = pipeline, b = stage,
 * v = seconds from start to finish.  *since_us moves to the newest one.
 */
int	store_stats_stage_durations(struct db *db, int64_t *since_us,
	    size_t limit, struct stats_row **out, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));

#endif
