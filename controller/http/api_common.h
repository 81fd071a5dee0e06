/*
 * api_common.h - what the resource handlers of the REST API (api_*.c)
 * share: a database connection per request, JSON answers, path ids and
 * the paging parameters every list takes.
 */
#ifndef SLUICE_API_COMMON_H
#define SLUICE_API_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/cursor.h"
#include "base/err.h"

struct ctl;
struct db;
struct http_request;
struct http_response;

/*
 * Borrow a connection from ctl->dbpool for this request.  On failure rs is
 * answered (503 "database busy" or unavailable) and NULL returned.  Give it
 * back with api_db_done (NULL is a no-op).  Blocks up to the pool's wait.
 */
struct db *api_db(struct ctl *ctl, struct http_response *rs);
void	api_db_done(struct ctl *ctl, struct db *db);

/*
 * Answer status with len bytes of JSON text (as the database wrote it)
 * and a newline, Content-Type application/json.  500 past the response
 * cap.
 */
void	api_reply_json(struct http_response *rs, int status, const char *json,
	    size_t len);

/*
 * For routes that take no query parameters: answer 400 naming the first
 * one given and return -1, else return 0.
 */
int	api_no_query(const struct http_request *rq, struct http_response *rs)
	    __attribute__((warn_unused_result));

/*
 * For routes whose body takes no fields: an empty body or {} is 0, any
 * other body ERR_INVALID naming the problem (invalid JSON, unknown field
 * "x", expected a JSON object), as jsonin_parse() words it.
 */
int	api_no_body(const struct http_request *rq, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * A decimal id from a path segment into *id: 1 to INT64_MAX, digits only.
 * Anything else is ERR_NOTFOUND "<what> '<s>' not found", since no such
 * resource can exist.
 */
int	api_path_id(const char *s, const char *what, int64_t *id,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The paging parameters of a list: ?limit= (1..LIM_API_PAGE, default
 * given) and ?cursor= (of kind).  api_page_params() fills the two
 * jsonin_qparam entries a handler puts in its table; api_page_after()
 * decodes the cursor after jsonin_query() into key (the last key seen)
 * and returns 0, 1 when there is no cursor, or ERR_INVALID.
 */
struct api_page {
	int64_t		 limit;
	const char	*cursor;	/* borrowed from the request, or NULL */
	char		 after[CURSOR_KEY_MAX + 1];
};

void	api_page_init(struct api_page *p, int64_t default_limit);
int	api_page_after(struct api_page *p, const char *kind, int numeric,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Answer a paged list: check the query against params (which include
 * API_PAGE_QPARAMS(p), with p initialized by api_page_init), decode the
 * cursor of kind, borrow a connection and answer 200 with what query
 * writes as JSON into out (arg is the handler's, read only once the query
 * string was checked), or the error.  The shape every list route shares.
 */
struct page_in;
struct buf;
struct jsonin_qparam;
typedef int (*api_list_fn)(struct db *db, void *arg,
    const struct page_in *in, struct buf *out, struct err *err);
void	api_list_reply(struct ctl *ctl, struct http_request *rq,
	    struct http_response *rs, const struct jsonin_qparam *params,
	    struct api_page *p, const char *kind, int numeric,
	    api_list_fn query, void *arg);

/* The query parameter entries for p (limit, cursor), for a table. */
#define API_PAGE_QPARAMS(p)                                                 \
	{ .name = "limit", .type = JSONIN_Q_INT, .out = &(p)->limit,        \
	  .min = 1, .max = LIM_API_PAGE },                                  \
	{ .name = "cursor", .type = JSONIN_Q_STRING, .out = &(p)->cursor,   \
	  .max = LIM_API_CURSOR }

#endif
