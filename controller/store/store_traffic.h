/*
 * store_traffic.h - what the controller keeps about the traffic it moves:
 * a rollout's (table rollouts, column traffic_stable_uri; the candidate
 * model version's URI), and the traffic that follows a production change
 * made by hand (table production_traffic, migration
 * 0014_production_traffic.sql).  Blocks on the database.
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

/*
 * The payload of the NOTIFY sluice_runs that store_traffic_follow_record
 * sends: the engine looks at production_traffic when it hears it.
 */
#define STORE_TRAFFIC_NOTIFY	"traffic"

/*
 * Within the caller's transaction, right after a manual promotion or
 * rollback put model version model_version_id in production on target
 * (its production history row written): when the target's pipeline's
 * canary stage has traffic provider kserve or gateway (the stage naming
 * the target in the newest valid definition of a live pipeline, the
 * pipeline of the target's last rollout first), record the traffic to
 * move, pending, and NOTIFY sluice_runs with STORE_TRAFFIC_NOTIFY so the
 * active engine wakes and looks.
 * *recorded (may be NULL): 1 when a row was written, 0 when the target
 * has no such provider (the traffic is not the controller's to move).
 */
int	store_traffic_follow_record(struct db *db, const char *target,
	    int64_t model_version_id, int *recorded, struct err *err)
	    __attribute__((warn_unused_result));

/* What the traffic of one manual production change still needs. */
struct traffic_follow {
	int64_t	 history_id;
	char	*target;
	char	*provider;		/* "kserve" or "gateway" */
	int64_t	 pipeline_version_id;	/* whose canary stage ... */
	char	*stage;			/* ... says how */
	char	*uri;			/* the version now in production */
	int	 due;			/* next_at has come */
	int64_t	 wait_ms;		/* until next_at, when not due */
};

/*
 * The open rows (pending or failed), oldest first, at most
 * LIM_TRAFFIC_FOLLOW, after marking superseded those a later production
 * change of their target or a rollout holding it has overtaken
 * (*superseded, may be NULL, receives how many).  *out is owned by the
 * caller (store_traffic_follow_free).
 */
int	store_traffic_follow_open(struct db *db, struct traffic_follow **out,
	    size_t *n, int64_t *superseded, struct err *err)
	    __attribute__((warn_unused_result));

void	store_traffic_follow_free(struct traffic_follow *rows, size_t n);

/* The states of a production_traffic row. */
enum traffic_follow_state {
	TRAFFIC_FOLLOW_PENDING = 0,
	TRAFFIC_FOLLOW_DONE,
	TRAFFIC_FOLLOW_FAILED,
};

/*
 * Record what the engine found for row history_id, if it is still open:
 * state, message (may be NULL) and, when not done, when to look again
 * (retry_ms from now).  A row superseded meanwhile is left as it is.
 */
int	store_traffic_follow_set(struct db *db, int64_t history_id,
	    enum traffic_follow_state state, const char *message,
	    int64_t retry_ms, struct err *err)
	    __attribute__((warn_unused_result));

#endif
