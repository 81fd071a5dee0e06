/*
 * store_query_approvals.h - the approval inbox as JSON: approvals newest
 * first, each with what a person needs to decide it.
 *
 * An approval (the shape of docs/api.yaml, plus context):
 *	{"id", "run", "pipeline", "stage", "step", "weight", "target",
 *	 "status", "requested_at", "expires_at", "decided_by", "decided_at",
 *	 "comment",
 *	 "run_status",
 *	 "rollout": {"id", "status", "steps", "current_step",
 *	   "current_weight", "analysis_started_at", "message", "action",
 *	   "paused_by"},
 *	 "canary_steps": [the canary's steps as the pipeline defines them:
 *	   {"weight", "analysis": {"duration", "gates"}, "approval"}],
 *	 "canary_metrics": {NAME: latest value reported by the canary's
 *	   steps},
 *	 "candidate": {"name", "version", "uri", "metrics"} | null,
 *	 "production": {"name", "version", "uri", "metrics"} | null  (what
 *	   serves the target now)}
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_APPROVALS_H
#define SLUICE_STORE_QUERY_APPROVALS_H

#include <stdint.h>

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* The statuses an approval can have, NULL-terminated. */
extern const char *const store_approval_statuses[];

/*
 * Approvals newest first (by id, keyset), of one status or all:
 * {"approvals": [...], "next_cursor"}.  With a status the list reads
 * approvals_status_newest.
 */
int	store_query_approvals_list(struct db *db, const char *status,
	    const struct page_in *pg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/* One approval as the list shows it (new string in *json).  ERR_NOTFOUND. */
int	store_query_approval_get(struct db *db, int64_t id, char **json,
	    struct err *err) __attribute__((warn_unused_result));

/* The statement of the list for status (NULL: all); $1 last id, $2 limit,
 * $3 status.  For EXPLAIN in tests. */
const char *store_query_approvals_sql(const char *status);

#endif
