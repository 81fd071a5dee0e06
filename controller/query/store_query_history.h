/*
 * store_query_history.h - the production history of a target (table
 * production_history) as the REST API shows it, as JSON text.
 *
 * An entry: {"id", "target", "model", "version", "uri", "previous":
 *            {"model", "version"} or null, "changed_at", "actor",
 *            "source": "rollout" | "promote" | "rollback", "reason",
 *            "run", "rollout"}
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_HISTORY_H
#define SLUICE_STORE_QUERY_HISTORY_H

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/*
 * The entries of target, newest first: {"history": [...],
 * "next_cursor"}; pg->after is the last id seen.  ERR_NOTFOUND "target
 * 'T' not found" for a target nothing names (see target_known() in the
 * migrations).
 */
int	store_query_history_list(struct db *db, const char *target,
	    const struct page_in *pg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * What served target at instant at (RFC 3339, checked by the caller):
 * {"target", "at", "entry": ENTRY} into *json (caller frees).
 * ERR_NOTFOUND for an unknown target, or when at is before the target's
 * history begins (the message says when it begins).
 */
int	store_query_history_at(struct db *db, const char *target,
	    const char *at, char **json, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The newest entry of target into *json (caller frees), as the answer of
 * a promotion or rollback by hand.  ERR_NOTFOUND when there is none.
 */
int	store_query_history_latest(struct db *db, const char *target,
	    char **json, struct err *err) __attribute__((warn_unused_result));

#endif
