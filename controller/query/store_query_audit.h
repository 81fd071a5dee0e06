/*
 * store_query_audit.h - the audit export (GET /api/v1/audit): decisions
 * and administrative changes read from the events table, oldest first.
 * Which events count is the SQL function event_audit_kind() of the
 * migrations (approvals decided, promotions, rollbacks, rollout actions,
 * token and repository changes).  One row per event:
 *	{"id", "time", "kind", "action", "actor", "object_type",
 *	 "object_id", "object", "run", "target", "comment"}
 * and the same as one CSV record (RFC 4180, every cell quoted, a cell a
 * spreadsheet would take for a formula prefixed with a single quote), in
 * the column order of store_query_audit_csv_header.
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_AUDIT_H
#define SLUICE_STORE_QUERY_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* The window asked for: Unix milliseconds, [since, until). */
struct audit_window {
	int64_t	since_ms;	/* 0: from the start */
	int64_t	until_ms;	/* INT64_MAX: up to now */
};

/* The CSV header line, CRLF-terminated. */
extern const char store_query_audit_csv_header[];

/*
 * A JSON page: {"entries": [...], "next_cursor"}; pg->after is the id of
 * the last entry seen (decimal text) or NULL.
 */
int	store_query_audit_page(struct db *db, const struct audit_window *w,
	    const struct page_in *pg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Up to limit CSV records after event id *after, each ending in CRLF,
 * appended to out; *after moves to the last id read, *rows gets the
 * count (fewer than limit: the end).  ERR_TOOBIG when out is full.
 */
int	store_query_audit_csv(struct db *db, const struct audit_window *w,
	    int64_t *after, int64_t limit, struct buf *out, size_t *rows,
	    struct err *err) __attribute__((warn_unused_result));

/* The statement ($1 after, $2 limit, $3 since ms, $4 until ms), for EXPLAIN. */
extern const char store_query_audit_sql[];

#endif
