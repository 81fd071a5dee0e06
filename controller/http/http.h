/*
 * http.h - the HTTP edge: a libmicrohttpd server, a route table, requests
 * and responses in our own types.
 *
 * A gate (gate.h) accepts connections and holds each until its request
 * head is complete and well-formed, within a deadline and per-address
 * caps; then libmicrohttpd serves it on a thread of its own, so a handler
 * may block on the database or on a stream without holding up other
 * clients.  A connection carries one request ("Connection: close")
 * unless that request was authenticated: then it is kept, and its thread
 * checks the next head as the gate would before libmicrohttpd reads it.
 * The number of connections, their memory, their heads and bodies are
 * capped (caps.h).  Handlers never see libmicrohttpd
 * types.  Every response carries the security headers (CSP without inline
 * script, nosniff, frame-ancestors 'none', no-referrer).  Request bodies
 * are read up to LIM_HTTP_BODY; a larger Content-Length is answered 413
 * before the body is read.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define HTTP_MAX_PATH_PARAMS	4
#define HTTP_MAX_RESP_HEADERS	16

struct http_request {
	const char	*method;	/* borrowed, valid during the call */
	const char	*path;		/* without the query string */
	const char	*route;		/* the matched pattern, for metrics */
	char		*params[HTTP_MAX_PATH_PARAMS];	/* {x} values, owned */
	size_t		 nparams;
	struct buf	 body;		/* the raw body, capped */
	char		 client[64];	/* client address, text */
	void		*conn;		/* private to http.c */
	void		*user;		/* for the route layer (auth) */
	void		(*user_free)(void *user);	/* run at the end, if set */
};

/*
 * A streamed body: fill up to max bytes of out and return the count, 0 when
 * nothing is ready yet (called again after a short wait), or -1 at the end
 * of the stream or when the client should be dropped.  Runs on the
 * connection's own thread and may block briefly.
 */
typedef long (*http_stream_fn)(void *arg, char *out, size_t max);

struct http_response {
	int		 status;
	char		 content_type[64];
	struct buf	 body;
	struct {
		char	*name;
		char	*value;
	} headers[HTTP_MAX_RESP_HEADERS];
	size_t		 nheaders;
	http_stream_fn	 stream;	/* when set, body is ignored */
	void		*stream_arg;
	void		(*stream_free)(void *arg);
};

/* Request accessors: NULL when absent.  Borrowed for the call. */
const char *http_header(const struct http_request *rq, const char *name);
const char *http_query(const struct http_request *rq, const char *key);
const char *http_cookie(const struct http_request *rq, const char *name);

/*
 * Visit every query parameter (for strict validation of unknown keys).
 * fn returns 0 to go on, non-zero to stop; that value is returned.
 */
int	http_query_each(const struct http_request *rq,
	    int (*fn)(void *arg, const char *key, const char *value), void *arg);

/* Add a response header (copied).  ERR_TOOBIG past the limit. */
int	http_set_header(struct http_response *rs, const char *name,
	    const char *value) __attribute__((warn_unused_result));

/* Set status, content type and body (copied).  Return 0 or ERR_TOOBIG. */
int	http_reply(struct http_response *rs, int status, const char *ctype,
	    const char *body, size_t len) __attribute__((warn_unused_result));

/*
 * Answer with the error shape of docs/api.yaml:
 *	{"error":{"code":"not_found","message":"run 42 not found"}}
 * code is a short stable name; message is JSON-escaped here.
 */
void	http_error(struct http_response *rs, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Append rs as raw HTTP/1.1 (status line, Content-Type, Content-Length,
 * the security headers, rs's headers, body) to out, for answers written
 * straight to a socket (gate.c).  rs must not stream.  0 or ERR_TOOBIG.
 */
int	http_format_raw(struct buf *out, const struct http_response *rs)
	    __attribute__((warn_unused_result));

/* Free what rs holds (body, headers, stream argument). */
void	http_response_release(struct http_response *rs);

/*
 * Map an err code to an HTTP status and answer with http_error.  An
 * outage or failure of the database (a 503 or 500 whose message comes
 * from the store layer, "database ...") is answered with a fixed message
 * ("database unavailable", "database busy", "database error") and the
 * detail, which may hold libpq's text with host names and socket paths,
 * goes to the log only.
 */
void	http_error_from(struct http_response *rs, const struct err *err);

/*
 * The text a client may see for an error of code with message msg: msg
 * itself, or for the database errors above the fixed message.  Borrowed:
 * msg or a constant.
 */
const char *http_client_message(int code, const char *msg);

/* Stream the body through fn (see http_stream_fn); arg freed by free_fn. */
void	http_stream(struct http_response *rs, const char *ctype,
	    http_stream_fn fn, void *arg, void (*free_fn)(void *));

/*
 * A route handler.  ctx is the server's context pointer given to
 * http_start.  Fill rs; the return value is ignored (errors are answered
 * through rs).
 */
typedef void (*http_handler_fn)(void *ctx, struct http_request *rq,
    struct http_response *rs);

/*
 * Before the handler: decide whether the request may go on (authentication,
 * roles, CSRF, rate limits).  Return 0 to go on, or fill rs and return
 * non-zero to stop.
 */
struct route;
typedef int (*http_guard_fn)(void *ctx, const struct route *r,
    struct http_request *rq, struct http_response *rs);

/* Route flags */
#define ROUTE_STREAM	0x01	/* long-lived response (SSE, log follow) */
#define ROUTE_RAW_BODY	0x02	/* body kept byte-exact (HMAC webhooks) */
#define ROUTE_NO_AUTH	0x04	/* no token needed (health, hooks, session) */

struct route {
	const char	*method;	/* "GET", "POST", "DELETE" */
	const char	*pattern;	/* "/api/v1/runs/{id}" */
	http_handler_fn	 handler;
	int		 role;		/* minimum role (auth.h), 0 = none */
	int		 flags;
	const char	*summary;	/* one line, for docs and tests */
};

struct http_server;

/*
 * Start serving on listen ("host:port") with the given route table (ends
 * with a zero entry), static files from web_dir for GET paths no route
 * matches (NULL = none), guard before every handler (NULL = none).
 * A port still in use (a previous controller still exiting) is tried
 * again for up to LIM_HTTP_BIND_RETRY_MS, logging each try.  Raises the
 * soft limit on file descriptors towards what the caps need.
 * Errors: ERR_INVALID for a bad address, ERR_GENERIC when the port cannot
 * be bound.  Returns once listening; the server runs on its own threads.
 */
int	http_start(struct http_server **out, const char *listen,
	    const struct route *routes, const char *web_dir, http_guard_fn guard,
	    void *ctx, struct err *err) __attribute__((warn_unused_result));

/*
 * Called once per request just before its response is sent (for streams:
 * before the stream starts), with the matched route pattern in rq->route
 * ("static", "unmatched" otherwise), the status and the seconds since the
 * request's headers arrived.  Runs on the connection's thread; must not
 * block.  For metrics and access logs.
 */
typedef void (*http_observe_fn)(void *ctx, const struct http_request *rq,
    int status, double seconds);

/* Everything http_start_opts takes; zero what you do not need. */
struct http_options {
	const char		*listen;	/* "host:port" */
	const struct route	*routes;
	const char		*web_dir;	/* NULL = no static files */
	http_guard_fn		 guard;		/* NULL = none */
	http_observe_fn		 observe;	/* NULL = none */
	void			*ctx;
};

/* http_start with an observer; same errors. */
int	http_start_opts(struct http_server **out, const struct http_options *o,
	    struct err *err) __attribute__((warn_unused_result));

/* The port actually bound (useful with port 0 in tests). */
int	http_port(const struct http_server *s);

/* Stop accepting, close connections, free; NULL is a no-op.  Blocks. */
void	http_stop(struct http_server *s);

/*
 * Match a path against a pattern with {x} segments; on a match fill params
 * (owned by the caller, free each) and return 1, else 0.  Exposed for tests.
 */
int	http_match(const char *pattern, const char *path,
	    char **params, size_t *nparams);

/* Percent-decode a query value or path segment in place; -1 if invalid. */
int	http_unescape(char *s);

#endif
