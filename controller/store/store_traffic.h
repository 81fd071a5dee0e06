/*
 * store_traffic.h - what a rollout's traffic provider keeps (table
 * rollouts, column traffic_stable_uri) and reads (the candidate model
 * version's URI).  Blocks on the database.
 */
#ifndef SLUICE_STORE_TRAFFIC_H
#define SLUICE_STORE_TRAFFIC_H

#include <stdint.h>

#include "base/err.h"

struct db;

/*
 * Of rollout rollout_id: the stable storageUri kept (*stable, NULL when
 * none yet) and its candidate model version's URI (*candidate, NULL when
 * the run registered no model).  Both owned by the caller (free()).
 * ERR_NOTFOUND for no such rollout.
 */
int	store_traffic_get(struct db *db, int64_t rollout_id, char **stable,
	    char **candidate, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Keep uri as the rollout's stable storageUri unless one is kept
 * already (the first read wins: later reads see the candidate).
 */
int	store_traffic_keep_stable(struct db *db, int64_t rollout_id,
	    const char *uri, struct err *err)
	    __attribute__((warn_unused_result));

#endif
