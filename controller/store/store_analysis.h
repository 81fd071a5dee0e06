/*
 * store_analysis.h - the measurements of canary analysis queries (table
 * analysis_measurements, migrations/0006_analysis_measurements.sql): one
 * row per rollout, step, query and slot, written before the engine acts
 * on it.  Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_ANALYSIS_H
#define SLUICE_STORE_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;

enum measure_result { MEASURE_PASS = 0, MEASURE_FAIL, MEASURE_INCONCLUSIVE };

/* The result's name: "pass", "fail", "inconclusive". */
const char *measure_result_name(enum measure_result r);

/* One measurement (strings borrowed for the call). */
struct measure_new {
	int64_t			 rollout_id;
	int64_t			 run_id;
	int			 step;
	const char		*query;		/* the query's name */
	int			 slot;		/* >= 1 */
	enum measure_result	 result;
	int			 has_value;
	double			 value;		/* when has_value, finite or not */
	const char		*message;	/* or NULL; cut to 2048 bytes */
	const char		*op;		/* ">=", ... */
	double			 threshold;
};

/*
 * Record m; a second write of the same rollout, step, query and slot is
 * a no-op (the first one stands).
 */
int	store_measure_add(struct db *db, const struct measure_new *m,
	    struct err *err) __attribute__((warn_unused_result));

/* What a step's measurements of one query add up to. */
struct measure_tally {
	char			 query[64];
	int			 last_slot;	/* 0: none yet */
	int			 pass, fail, inconclusive;
	enum measure_result	 last;		/* of last_slot */
	int			 last_has_value;
	double			 last_value;
	char			 last_message[512]; /* "" when none */
};

/*
 * The tallies of step `step` of rollout_id, one per query measured so far,
 * into out (at most cap; *n receives the count).
 */
int	store_measure_tally(struct db *db, int64_t rollout_id, int step,
	    struct measure_tally *out, size_t cap, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The version and URI of model version model_id (the candidate) into
 * *version and uri (uri_len bytes; cut when longer).  ERR_NOTFOUND when
 * there is no such row.
 */
int	store_measure_candidate(struct db *db, int64_t model_id,
	    int64_t *version, char *uri, size_t uri_len, struct err *err)
	    __attribute__((warn_unused_result));

#endif
