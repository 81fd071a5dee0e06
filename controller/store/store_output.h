/*
 * store_output.h - what stages report (tables metrics and artifacts).
 *
 * Saving is idempotent: a metric is unique by (attempt, log line, name)
 * and an artifact by (attempt, name), a later line replacing an earlier
 * one, so reading a log again after a crash adds nothing.  Blocks on the
 * database; errors as db_exec().
 */
#ifndef SLUICE_STORE_OUTPUT_H
#define SLUICE_STORE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;
struct stage_output;

/*
 * Store the metrics and artifacts parsed into o for an attempt.  Metrics
 * get reported_at = now, or reported_ms (unix ms) when it is not 0 and
 * earlier (values read after the attempt ended were printed before it
 * ended).  Nothing is sent when o holds nothing.
 */
int	store_output_save(struct db *db, int64_t attempt_id,
	    const struct stage_output *o, int64_t reported_ms,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Add to out what an attempt reported (its stored metrics and artifacts,
 * in the order of the log's lines): what the engine judges gates on once
 * the attempt has ended.
 */
int	store_output_load(struct db *db, int64_t attempt_id,
	    struct stage_output *out, struct err *err)
	    __attribute__((warn_unused_result));

/* One value: an artifact URI or a metric (as text) of a stage. */
struct output_value {
	char	*stage;		/* NULL for window metrics */
	int	 metric;	/* 1: metric, 0: artifact */
	char	*name;
	char	*value;
};

struct output_values {
	struct output_value	*v;
	size_t			 n;
};

void	output_values_release(struct output_values *vals);

/*
 * The artifacts and metrics (the latest value of each) of the succeeded
 * stages of a run, through reused stages to the run that produced them:
 * what ${stages.S.artifacts.A} and ${stages.S.metrics.M} refer to.
 */
int	store_output_run_values(struct db *db, int64_t run_id,
	    struct output_values *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The metrics (latest value of each name) reported by the attempts of
 * canary step `step` of a stage between from_ms and to_ms (unix ms,
 * inclusive): what an analysis gate looks at.
 */
int	store_output_window(struct db *db, int64_t stage_id, int step,
	    int64_t from_ms, int64_t to_ms, struct output_values *out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
