/*
 * store_query.h - the read side of the REST API: lists and documents built
 * as JSON by PostgreSQL itself (json_build_object, json_agg), so that a
 * handler answers with text the database wrote, in one round trip, and no
 * row is decoded into C only to be encoded again.
 *
 * The statements live in store_query_<resource>.c, one file per resource
 * (repositories, pipelines, runs, models, approvals, events); this header
 * has what they share: a page of a keyset-paginated list and the
 * parameters of one.
 *
 * The statements are prepared once per connection (db_exec_prepared): a
 * document statement is large, and planning it at every request would
 * cost more than running it.
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_H
#define SLUICE_STORE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct buf;
struct db;
struct db_args;

/* Where a page starts and how long it is (from ?cursor= and ?limit=). */
struct page_in {
	int64_t		 limit;		/* 1..LIM_API_PAGE */
	const char	*after;		/* key of the last row seen, NULL: first page */
};

/*
 * Run sql, which must answer at most limit + 1 rows of (key text, JSON
 * text) in list order, and append the answer's body to out:
 *
 *	{"<list>":[<json>,...],"next_cursor":"..."|null}
 *
 * where next_cursor (cursor.h, of kind) holds the key of the limit-th row
 * when a further row came back.  *rows (when not NULL) receives the
 * number of rows shown.  ERR_TOOBIG when out's cap is reached.
 */
int	store_query_page(struct db *db, const char *sql,
	    const struct db_args *args, const char *list, int64_t limit,
	    const char *kind, struct buf *out, size_t *rows, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Run sql, which must answer one row of one JSON text column (or none),
 * and return that text in *json (caller frees).  No row: ERR_NOTFOUND
 * with the message what (e.g. "run 42 not found").
 */
int	store_query_json(struct db *db, const char *sql,
	    const struct db_args *args, const char *what, char **json,
	    struct err *err) __attribute__((warn_unused_result));

#endif
