/*
 * gate.h - the front door of the HTTP server: accepts connections, holds
 * each until its whole request head has arrived, checks the head, and only
 * then hands the connection to libmicrohttpd (http.c).
 *
 * Why: libmicrohttpd gives every connection a thread and resets its idle
 * timer on every byte, so clients that trickle a header byte at a time
 * used to fill every slot.  The gate holds waiting connections in one
 * epoll thread, with no thread each, and enforces (numbers in caps.h):
 *
 *  - a deadline for the whole head (LIM_HTTP_HEAD_MS) that trickled bytes
 *    do not reset, and a size cap (LIM_HTTP_HEAD, 431 past it);
 *  - at most LIM_HTTP_PER_ADDRESS waiting-or-anonymous connections per
 *    client address (an IPv6 /64 counts as one address);
 *  - at most LIM_HTTP_PENDING waiting connections in all: the oldest
 *    waiting one is closed to admit a new one;
 *  - at most LIM_HTTP_ANON_ACTIVE anonymous requests handed on, so the
 *    rest of LIM_HTTP_CONNECTIONS stays free for requests that carry
 *    credentials (Authorization or Cookie) and for /healthz and /readyz;
 *  - a deadline for a request body (LIM_HTTP_BODY_MS), with http.c
 *    reporting when a body starts and ends.
 *
 * A head is refused, with the JSON error shape, when it holds a NUL byte
 * (raw or %00 in the target), a malformed request line or header line,
 * folded header lines, an HTTP/1.1 request without exactly one Host, two
 * Content-Length headers or one that is not a number, or Content-Length
 * with Transfer-Encoding.  Only HTTP/1.0 and HTTP/1.1 are taken (505).
 * So libmicrohttpd never sees a head it would answer itself.
 */
#ifndef SLUICE_GATE_H
#define SLUICE_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

/* What a checked head asks for. */
enum gate_class {
	GATE_ANON = 0,		/* no credentials */
	GATE_CRED,		/* Authorization or Cookie header present */
	GATE_HEALTH,		/* GET /healthz or /readyz */
};

/* The verdict of gate_head_check. */
struct gate_verdict {
	int		 status;	/* 0 = fine, else the HTTP status */
	const char	*code;		/* error code, static */
	const char	*message;	/* error message, static */
	enum gate_class	 cls;
};

/*
 * Check a request head (len bytes, through the empty line that ends it).
 * Fills v; returns v->status.  Pure, for tests too.
 */
int	gate_head_check(const char *head, size_t len, struct gate_verdict *v);

/*
 * Hand a connection on; 0 when taken (the callee owns fd from then on,
 * even on failure, as MHD_add_connection does).
 */
typedef int (*gate_handoff_fn)(void *arg, int fd, const struct sockaddr *sa,
    socklen_t salen);

struct gate;

/*
 * Start the gate's thread on listen_fd (borrowed: the caller closes it
 * after gate_stop).  slots is the highest file descriptor number + 1 the
 * process may use (its RLIMIT_NOFILE).  Errors: ERR_GENERIC.
 */
int	gate_start(struct gate **out, int listen_fd, size_t slots,
	    gate_handoff_fn fn, void *arg, struct err *err)
	    __attribute__((warn_unused_result));

/* Stop the thread and close the waiting connections.  NULL is a no-op. */
void	gate_stop(struct gate *g);

/*
 * On a kept-alive connection (libmicrohttpd's; fd is neither read nor
 * closed here), wait on the calling thread for the next request head and
 * check it as the gate checks a first one: the whole head must arrive by
 * deadline_ms (sys_now_ms) however its bytes trickle in, within
 * LIM_HTTP_HEAD, and pass gate_head_check.  Returns 0 when it did (its
 * length in *head_len; the bytes stay in the socket), GATE_NEXT_CLOSE when
 * the client closed or sent nothing in time, or the HTTP status it was
 * refused with after answering it (the JSON error shape).  Past 0 the
 * caller ends the connection.  Blocks.
 */
#define GATE_NEXT_CLOSE	1
int	gate_next_head(int fd, int64_t deadline_ms, size_t *head_len);

/* Free after gate_stop, once no connection can report any more. */
void	gate_free(struct gate *g);

/*
 * Reports from http.c, from any thread, about a connection handed on:
 * it started (libmicrohttpd took it), a body began, its request is being
 * answered (the body deadline ends), it closed (before its descriptor is
 * closed).  Unknown descriptors are ignored.
 */
void	gate_conn_started(struct gate *g, int fd);
void	gate_body_started(struct gate *g, int fd);
void	gate_body_done(struct gate *g, int fd);
void	gate_conn_closed(struct gate *g, int fd);

#endif
