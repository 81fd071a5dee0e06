/*
 * http.c - libmicrohttpd server, routing, static files; see http.h.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers (we allocate the request state and refuse an oversized
 * Content-Length at once), once per chunk of body (we append up to the
 * cap, then discard), and once more with no data (we dispatch).  All MHD
 * types stay in this file.
 *
 * libmicrohttpd does not listen itself: the gate (gate.c) accepts, waits
 * for a complete, well-formed head and hands the connection over with
 * MHD_add_connection; connection and body events are reported back to
 * it for its caps and the body deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "http/gate.h"
#include "http/http.h"

#define SECURITY_CSP                                                        \
	"default-src 'self'; script-src 'self'; style-src 'self'; "         \
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; "       \
	"object-src 'none'; base-uri 'none'; form-action 'self'; "          \
	"frame-ancestors 'none'"

/* On every response. */
static const char *const fixed_headers[][2] = {
	{ "Content-Security-Policy", SECURITY_CSP },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
};

struct http_server {
	struct MHD_Daemon	*mhd;
	const struct route	*routes;
	char			*web_dir;	/* realpath, or NULL */
	http_guard_fn		 guard;
	http_observe_fn		 observe;
	void			*ctx;
	int			 port;
	int			 listen_fd;
	struct gate		*gate;		/* the front door */
};

/*
 * Per-connection state (libmicrohttpd's socket context).  A connection
 * carries one request, "Connection: close", unless that request was
 * authenticated (the guard attached a principal): then it is kept for the
 * next one, whose head its own thread waits for and checks as the gate
 * checks a first head (gate_next_head: the deadline, the size cap, the
 * checks), before libmicrohttpd reads it.  So every head passes the
 * gate's checks, and only a client holding valid credentials keeps a
 * thread between requests (LIM_HTTP_KEEPALIVE_MS at most).
 */
struct connstate {
	unsigned	 requests;	/* started on this connection */
	size_t		 checked_len;	/* of the next head, checked */
};

/* Per-request state between the calls of the access handler. */
struct reqstate {
	struct http_request	 rq;
	int			 too_big;
	int			 observed;	/* the observer saw it */
	int			 keep;		/* keep the connection after */
	int64_t			 started_us;	/* headers arrived (sys_now_us) */
};

/* --- request accessors ------------------------------------------------ */

const char *
http_header(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(const struct http_request *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
	    key);
}

const char *
http_cookie(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, name);
}

struct each_arg {
	int	(*fn)(void *, const char *, const char *);
	void	*arg;
	int	 rc;
};

static enum MHD_Result
each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct each_arg *ea = cls;

	(void)kind;
	ea->rc = ea->fn(ea->arg, key, value ? value : "");
	return ea->rc == 0 ? MHD_YES : MHD_NO;
}

int
http_query_each(const struct http_request *rq,
    int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	struct each_arg ea = { fn, arg, 0 };

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, each_cb,
	    &ea);
	return ea.rc;
}

/* --- responses -------------------------------------------------------- */

static void
response_init(struct http_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 500;
	buf_init(&rs->body, LIM_HTTP_RESPONSE);
}

void
http_response_release(struct http_response *rs)
{
	buf_release(&rs->body);
	for (size_t i = 0; i < rs->nheaders; i++) {
		free(rs->headers[i].name);
		free(rs->headers[i].value);
	}
	rs->nheaders = 0;
	if (rs->stream_free != NULL && rs->stream_arg != NULL)
		rs->stream_free(rs->stream_arg);
	rs->stream_arg = NULL;
}

int
http_set_header(struct http_response *rs, const char *name,
    const char *value)
{
	if (rs->nheaders >= HTTP_MAX_RESP_HEADERS)
		return ERR_TOOBIG;
	rs->headers[rs->nheaders].name = xstrdup(name);
	rs->headers[rs->nheaders].value = xstrdup(value);
	rs->nheaders++;
	return 0;
}

int
http_reply(struct http_response *rs, int status, const char *ctype,
    const char *body, size_t len)
{
	rs->status = status;
	(void)str_copy(rs->content_type, sizeof(rs->content_type), ctype);
	buf_reset(&rs->body);
	return buf_append(&rs->body, body, len);
}

static void
json_escape(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_printf(b, "\\u%04x", c);
		else
			rc = buf_putc(b, (char)c);
	}
}

void
http_error(struct http_response *rs, int status, const char *code,
    const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs->status = status;
	(void)str_copy(rs->content_type, sizeof(rs->content_type),
	    "application/json");
	rs->stream = NULL;
	buf_reset(&rs->body);
	/* The message is short and the cap is large: these cannot fail. */
	if (buf_printf(&rs->body, "{\"error\":{\"code\":\"%s\",\"message\":\"",
	    code) == 0) {
		json_escape(&rs->body, msg);
		if (buf_puts(&rs->body, "\"}}\n") < 0)
			buf_reset(&rs->body);
	}
}

void
http_error_from(struct http_response *rs, const struct err *err)
{
	const char *msg;
	int status;

	switch (err->code) {
	case ERR_NOTFOUND:	status = 404; break;
	case ERR_CONFLICT:	status = 409; break;
	case ERR_INVALID:	status = 400; break;
	case ERR_TRANSIENT:	status = 503; break;
	case ERR_TOOBIG:	status = 413; break;
	case ERR_FORBIDDEN:	status = 403; break;
	case ERR_UNAUTHORIZED:	status = 401; break;
	case ERR_UNPROCESSABLE:	status = 422; break;
	default:		status = 500; break;
	}
	msg = http_client_message(err->code, err->msg);
	if (msg != err->msg)
		log_warn("database error", "status=%d error=%s", status,
		    err->msg);
	http_error(rs, status, err_code_name(err->code), "%s", msg);
}

/*
 * The store layer words every error of its own as "database: ...",
 * "database unavailable: ..." or "database busy: ..."; after the colon
 * comes libpq's or the server's text.
 */
const char *
http_client_message(int code, const char *msg)
{
	if (strncmp(msg, "database", 8) != 0 ||
	    (msg[8] != ':' && msg[8] != ' '))
		return msg;
	if (code == ERR_TRANSIENT)
		return strncmp(msg, "database busy", 13) == 0 ?
		    "database busy" : "database unavailable";
	if (code == ERR_GENERIC || code == ERR_NOMEM)
		return "database error";
	return msg;
}

void
http_stream(struct http_response *rs, const char *ctype, http_stream_fn fn,
    void *arg, void (*free_fn)(void *))
{
	rs->status = 200;
	(void)str_copy(rs->content_type, sizeof(rs->content_type), ctype);
	rs->stream = fn;
	rs->stream_arg = arg;
	rs->stream_free = free_fn;
}

/* --- routing ---------------------------------------------------------- */

int
http_unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			int hi, lo;

			if (s[1] == '\0' || s[2] == '\0')
				return -1;
			hi = s[1] >= 'a' ? s[1] - 'a' + 10 :
			    s[1] >= 'A' ? s[1] - 'A' + 10 : s[1] - '0';
			lo = s[2] >= 'a' ? s[2] - 'a' + 10 :
			    s[2] >= 'A' ? s[2] - 'A' + 10 : s[2] - '0';
			if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
				return -1;
			if (hi == 0 && lo == 0)
				return -1;	/* no NUL inside values */
			*w++ = (char)(hi * 16 + lo);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

int
http_match(const char *pattern, const char *path, char **params,
    size_t *nparams)
{
	const char *p = pattern, *q = path;
	size_t n = 0;

	*nparams = 0;
	while (*p != '\0' && *q != '\0') {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			size_t len = strcspn(q, "/");
			char *v;

			BUG_ON(end == NULL);
			if (len == 0 || n >= HTTP_MAX_PATH_PARAMS)
				goto nomatch;
			v = strndup(q, len);
			if (v == NULL || http_unescape(v) < 0 || v[0] == '\0') {
				free(v);
				goto nomatch;
			}
			params[n++] = v;
			p = end + 1;
			q += len;
			continue;
		}
		if (*p != *q)
			goto nomatch;
		p++;
		q++;
	}
	if (*p != '\0' || *q != '\0')
		goto nomatch;
	*nparams = n;
	return 1;
nomatch:
	while (n > 0)
		free(params[--n]);
	return 0;
}

/* --- static files ----------------------------------------------------- */

static const char *
content_type_for(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/*
 * Serve web_dir/path.  Paths with "..", backslashes, empty or hidden
 * segments are refused before touching the file system, and the resolved
 * file must still lie under web_dir (no symlink escape).
 */
static void
serve_static(struct http_server *s, struct http_request *rq,
    struct http_response *rs)
{
	char rel[LIM_PATH], full[LIM_PATH], real[PATH_MAX], etag[64];
	const char *path = rq->path, *inm;
	struct stat st;
	size_t wlen;
	int fd = -1;

	if (s->web_dir == NULL)
		goto notfound;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	if (strstr(path, "/.") != NULL || strchr(path, '\\') != NULL ||
	    strstr(path, "//") != NULL || strlen(path) >= sizeof(rel))
		goto notfound;
	(void)str_copy(rel, sizeof(rel), path + 1);
	if (snprintf(full, sizeof(full), "%s/%s", s->web_dir, rel) >=
	    (int)sizeof(full))
		goto notfound;
	if (realpath(full, real) == NULL)
		goto notfound;
	wlen = strlen(s->web_dir);
	if (strncmp(real, s->web_dir, wlen) != 0 || real[wlen] != '/')
		goto notfound;
	if ((fd = open(real, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > LIM_HTTP_RESPONSE)
		goto notfound;
	(void)snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"",
	    (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec,
	    (unsigned long)st.st_mtim.tv_nsec);
	if (http_set_header(rs, "ETag", etag) < 0 ||
	    http_set_header(rs, "Cache-Control", "no-cache") < 0)
		goto fail;
	inm = http_header(rq, "If-None-Match");
	if (inm != NULL && strcmp(inm, etag) == 0) {
		rs->status = 304;
		goto out;
	}
	rs->status = 200;
	(void)str_copy(rs->content_type, sizeof(rs->content_type),
	    content_type_for(real));
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (buf_append(&rs->body, chunk, (size_t)n) < 0)
			goto fail;
	}
	goto out;
notfound:
	http_error(rs, 404, "not_found", "no such page '%s'", rq->path);
	goto out;
fail:
	http_error(rs, 500, "internal", "cannot read '%s'", rq->path);
out:
	if (fd >= 0)
		close(fd);
}

/* --- dispatch --------------------------------------------------------- */

static void
dispatch(struct http_server *s, struct http_request *rq,
    struct http_response *rs)
{
	const struct route *r, *found = NULL;
	int path_known = 0;
	char allow[128] = "";

	for (r = s->routes; r->method != NULL; r++) {
		char *params[HTTP_MAX_PATH_PARAMS];
		size_t n;

		if (!http_match(r->pattern, rq->path, params, &n))
			continue;
		path_known = 1;
		if (strcmp(r->method, rq->method) == 0 ||
		    (strcmp(rq->method, "HEAD") == 0 &&
		    strcmp(r->method, "GET") == 0)) {
			memcpy(rq->params, params, sizeof(params[0]) * n);
			rq->nparams = n;
			found = r;
			break;
		}
		size_t al = strlen(allow);
		(void)snprintf(allow + al, sizeof(allow) - al, "%s%s",
		    al ? ", " : "", r->method);
		while (n > 0)
			free(params[--n]);
	}
	if (found == NULL) {
		if (path_known) {
			http_error(rs, 405, "method_not_allowed",
			    "method %s not allowed on '%s'", rq->method,
			    rq->path);
			if (http_set_header(rs, "Allow", allow) < 0)
				log_warn("too many headers", "path=%s",
				    rq->path);
		} else if (strncmp(rq->path, "/api/", 5) == 0) {
			http_error(rs, 404, "not_found", "no route for '%s'",
			    rq->path);
		} else if (strcmp(rq->method, "GET") == 0 ||
		    strcmp(rq->method, "HEAD") == 0) {
			rq->route = "static";
			serve_static(s, rq, rs);
		} else {
			http_error(rs, 404, "not_found", "no route for '%s'",
			    rq->path);
		}
		if (rq->route == NULL)
			rq->route = "unmatched";
		return;
	}
	rq->route = found->pattern;
	if (s->guard != NULL && s->guard(s->ctx, found, rq, rs) != 0)
		return;
	found->handler(s->ctx, rq, rs);
}

struct stream_ctx {
	http_stream_fn	 fn;
	void		*arg;
	void		(*free_fn)(void *);
	int		 fd;		/* the client's socket, -1 unknown */
};

/*
 * Whether the client hung up.  A stream that has nothing to send would
 * otherwise learn it only at its next write (an SSE ping, a log line),
 * holding its thread and connection slot until then.
 */
static int
client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP, .revents = 0 };

	return fd >= 0 && poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* The socket of a connection, -1 if unknown. */
static int
connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci != NULL ? ci->connect_fd : -1;
}

static ssize_t
stream_cb(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream_ctx *sc = cls;
	long n;

	(void)pos;
	n = sc->fn(sc->arg, out, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == 0 && client_gone(sc->fd))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0) {
		/* Nothing yet: wait a little on this connection's thread. */
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return (ssize_t)n;
}

static void
stream_free_cb(void *cls)
{
	struct stream_ctx *sc = cls;

	if (sc->free_fn != NULL)
		sc->free_fn(sc->arg);
	free(sc);
}

static enum MHD_Result
send_response(struct MHD_Connection *conn, struct http_response *rs,
    int head, int keep)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (rs->stream != NULL && !head) {
		struct stream_ctx *sc = xcalloc(1, sizeof(*sc));

		sc->fd = connection_fd(conn);
		sc->fn = rs->stream;
		sc->arg = rs->stream_arg;
		sc->free_fn = rs->stream_free;
		rs->stream_arg = NULL;	/* owned by the MHD response now */
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
		    stream_cb, sc, stream_free_cb);
		if (mr == NULL) {
			stream_free_cb(sc);
			return MHD_NO;
		}
		/*
		 * A stream may rightly stay silent longer than an idle
		 * connection may (a quiet training log); it ends itself.
		 */
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		    (unsigned int)LIM_HTTP_STREAM_IDLE_S);
	} else {
		mr = MHD_create_response_from_buffer(rs->body.len,
		    rs->body.data ? rs->body.data : (char *)"",
		    MHD_RESPMEM_MUST_COPY);
		if (mr == NULL)
			return MHD_NO;
	}
	if (rs->content_type[0] != '\0')
		MHD_add_response_header(mr, "Content-Type", rs->content_type);
	for (size_t i = 0; i < sizeof(fixed_headers) / sizeof(fixed_headers[0]);
	    i++)
		MHD_add_response_header(mr, fixed_headers[i][0],
		    fixed_headers[i][1]);
	for (size_t i = 0; i < rs->nheaders; i++)
		MHD_add_response_header(mr, rs->headers[i].name,
		    rs->headers[i].value);
	if (!keep)
		MHD_add_response_header(mr, "Connection", "close");
	ret = MHD_queue_response(conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

int
http_format_raw(struct buf *out, const struct http_response *rs)
{
	int rc;

	if ((rc = buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n", rs->status, reason_phrase(rs->status),
	    rs->content_type, rs->body.len)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(fixed_headers) / sizeof(fixed_headers[0]);
	    i++)
		if ((rc = buf_printf(out, "%s: %s\r\n", fixed_headers[i][0],
		    fixed_headers[i][1])) < 0)
			return rc;
	for (size_t i = 0; i < rs->nheaders; i++)
		if ((rc = buf_printf(out, "%s: %s\r\n", rs->headers[i].name,
		    rs->headers[i].value)) < 0)
			return rc;
	if ((rc = buf_puts(out, "Connection: close\r\n\r\n")) < 0)
		return rc;
	return buf_append(out, rs->body.data ? rs->body.data : "",
	    rs->body.len);
}

static void
request_free(struct reqstate *st)
{
	if (st == NULL)
		return;
	if (st->rq.user_free != NULL)
		st->rq.user_free(st->rq.user);
	for (size_t i = 0; i < st->rq.nparams; i++)
		free(st->rq.params[i]);
	buf_release(&st->rq.body);
	free(st);
}

static void
client_address(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	(void)str_copy(out, len, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    out, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    out, (socklen_t)len);
}

/* The pattern of the first route whose path matches (for metrics). */
static const char *
route_for_path(const struct http_server *s, const char *path)
{
	for (const struct route *r = s->routes; r->method != NULL; r++) {
		char *params[HTTP_MAX_PATH_PARAMS];
		size_t n;

		if (http_match(r->pattern, path, params, &n)) {
			while (n > 0)
				free(params[--n]);
			return r->pattern;
		}
	}
	return "unmatched";
}

static void
observe(const struct http_server *s, struct reqstate *st, int status)
{
	double secs;

	if (s->observe == NULL || st->observed)
		return;
	st->observed = 1;
	secs = (double)(sys_now_us() - st->started_us) / 1e6;
	s->observe(s->ctx, &st->rq, status, secs < 0 ? 0 : secs);
}

static struct connstate *
conn_state(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* The length of the request head libmicrohttpd read, 0 if unknown. */
static size_t
head_size(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	return ci != NULL ? ci->header_size : 0;
}

/*
 * Whether the connection is kept for another request after this answer:
 * the request was authenticated, is HTTP/1.1, did not ask to close, had
 * its body read whole, and the answer is not a stream (which ends the
 * connection).  At most LIM_HTTP_KEEPALIVE_REQUESTS on one connection.
 */
static int
keep_alive(struct MHD_Connection *conn, const struct reqstate *st,
    const struct http_response *rs, const char *version)
{
	const struct connstate *cs = conn_state(conn);
	const char *c;

	if (st->rq.user == NULL || st->too_big || rs->stream != NULL ||
	    cs == NULL || cs->requests >= LIM_HTTP_KEEPALIVE_REQUESTS ||
	    version == NULL || strcmp(version, "HTTP/1.1") != 0)
		return 0;
	c = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection");
	return c == NULL || strcasestr(c, "close") == NULL;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct reqstate *st = *con_cls;
	struct http_response rs;
	enum MHD_Result ret;

	if (st == NULL) {
		struct connstate *cs = conn_state(conn);
		const char *cl;

		st = xcalloc(1, sizeof(*st));
		st->rq.method = method;
		st->rq.path = url;
		st->rq.conn = conn;
		buf_init(&st->rq.body, LIM_HTTP_BODY);
		st->started_us = sys_now_us();
		client_address(conn, st->rq.client, sizeof(st->rq.client));
		*con_cls = st;
		if (cs != NULL && cs->requests++ > 0 &&
		    head_size(conn) != cs->checked_len) {
			/*
			 * Not the head checked for it: one libmicrohttpd
			 * had read with the previous request (sent before
			 * its answer).  Not served: the client sends it
			 * again on a new connection.
			 */
			response_init(&rs);
			http_error(&rs, 400, "invalid", "a request sent before "
			    "the previous answer is not accepted");
			st->rq.route = route_for_path(s, url);
			observe(s, st, rs.status);
			ret = send_response(conn, &rs, 0, 0);
			http_response_release(&rs);
			return ret;
		}
		if (cs != NULL)
			cs->checked_len = 0;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    "Content-Length");
		if (cl != NULL) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(cl, &end, 10);
			if (errno != 0 || *end != '\0' || v > LIM_HTTP_BODY)
				st->too_big = 1;
		}
		if (!st->too_big) {
			/* The body, if any, has LIM_HTTP_BODY_MS from now. */
			gate_body_started(s->gate, connection_fd(conn));
			return MHD_YES;
		}
		/* Refuse before reading the body. */
		response_init(&rs);
		http_error(&rs, 413, "too_big",
		    "request body over %d bytes", LIM_HTTP_BODY);
		st->rq.route = route_for_path(s, url);
		observe(s, st, rs.status);
		ret = send_response(conn, &rs, 0, 0);
		http_response_release(&rs);
		return ret;
	}
	if (*upload_data_size > 0) {
		if (!st->too_big && buf_append(&st->rq.body, upload_data,
		    *upload_data_size) < 0)
			st->too_big = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	gate_body_done(s->gate, connection_fd(conn));
	response_init(&rs);
	if (st->too_big) {
		http_error(&rs, 413, "too_big", "request body over %d bytes",
		    LIM_HTTP_BODY);
		st->rq.route = route_for_path(s, url);
	} else {
		dispatch(s, &st->rq, &rs);
	}
	st->keep = keep_alive(conn, st, &rs, version);
	/* Counted before it is sent, so a client never sees it uncounted. */
	observe(s, st, rs.status);
	ret = send_response(conn, &rs, strcmp(method, "HEAD") == 0, st->keep);
	log_debug("http request", "method=%s path=%s route=%s status=%d "
	    "client=%s", method, url, st->rq.route ? st->rq.route : "-",
	    rs.status, st->rq.client);
	http_response_release(&rs);
	return ret;
}

/*
 * A request ended.  On a kept connection, wait here (its own thread) for
 * the next head and check it before libmicrohttpd reads it; when it does
 * not come whole in time, or fails the checks (answered), shut the socket
 * down so that libmicrohttpd closes the connection.
 */
static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct reqstate *st = *con_cls;
	struct connstate *cs;
	int keep = st != NULL && st->keep, fd;

	(void)cls;
	request_free(st);
	*con_cls = NULL;
	if (!keep || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ||
	    (cs = conn_state(conn)) == NULL || (fd = connection_fd(conn)) < 0)
		return;
	if (gate_next_head(fd, sys_now_ms() + LIM_HTTP_KEEPALIVE_MS,
	    &cs->checked_len) != 0)
		(void)shutdown(fd, SHUT_RDWR);
}

static int
parse_listen(const char *listen, struct sockaddr_storage *ss,
    socklen_t *sslen, struct err *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints, *res = NULL;
	size_t hl;
	int rc;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		return err_set(err, ERR_INVALID,
		    "listen address '%s' is not host:port", listen);
	hl = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return err_set(err, ERR_INVALID, "listen host too long");
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		return err_set(err, ERR_INVALID, "listen address '%s': %s",
		    host, gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
http_start(struct http_server **out, const char *listen,
    const struct route *routes, const char *web_dir, http_guard_fn guard,
    void *ctx, struct err *err)
{
	struct http_options o;

	memset(&o, 0, sizeof(o));
	o.listen = listen;
	o.routes = routes;
	o.web_dir = web_dir;
	o.guard = guard;
	o.ctx = ctx;
	return http_start_opts(out, &o, err);
}

/*
 * Let the process hold every connection the caps allow: raise the soft
 * limit on descriptors towards what they need (never past the hard one).
 * Returns the limit in force.
 */
static size_t
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)LIM_HTTP_CONNECTIONS + LIM_HTTP_PENDING +
	    LIM_HTTP_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = old;
		if (rl.rlim_cur < want)
			log_warn("http: fewer file descriptors than the caps "
			    "need", "limit=%llu want=%llu",
			    (unsigned long long)rl.rlim_cur,
			    (unsigned long long)want);
	}
	/* The gate's table: descriptors are numbered lowest free first. */
	return rl.rlim_cur > 65536 ? 65536 : (size_t)rl.rlim_cur;
}

/*
 * Bind and listen on ss.  A port still held (a controller still exiting)
 * is tried again every LIM_HTTP_BIND_RETRY_STEP_MS for up to
 * LIM_HTTP_BIND_RETRY_MS, with a log line per try.
 */
static int
listen_on(const char *addr, const struct sockaddr_storage *ss,
    socklen_t sslen, int *out, struct err *err)
{
	int64_t deadline = sys_now_ms() + LIM_HTTP_BIND_RETRY_MS;
	int fd = -1, one = 1, tries = 0, rc = 0;

	*out = -1;
	for (;;) {
		fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, (const struct sockaddr *)ss, sslen) == 0 &&
		    listen(fd, LIM_HTTP_BACKLOG) == 0) {
			*out = fd;
			goto out;
		}
		if (errno != EADDRINUSE || sys_now_ms() >= deadline)
			break;
		tries++;
		log_warn("http: address in use, trying again", "listen=%s "
		    "try=%d", addr, tries);
		close(fd);
		fd = -1;
		(void)poll(NULL, 0, LIM_HTTP_BIND_RETRY_STEP_MS);
	}
	rc = err_set(err, ERR_GENERIC, "cannot listen on '%s': %s", addr,
	    strerror(errno));
out:
	if (rc < 0 && fd >= 0)
		close(fd);
	return rc;
}

static void
notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = xcalloc(1, sizeof(struct connstate));
		gate_conn_started(s->gate, connection_fd(conn));
	} else {
		gate_conn_closed(s->gate, connection_fd(conn));
		free(*socket_context);
		*socket_context = NULL;
	}
}

static int
handoff(void *arg, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct http_server *s = arg;

	return MHD_add_connection(s->mhd, fd, sa, salen) == MHD_YES ? 0 : -1;
}

int
http_start_opts(struct http_server **out, const struct http_options *o,
    struct err *err)
{
	const char *listen = o->listen, *web_dir = o->web_dir;
	struct http_server *s = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	size_t nfd;
	int rc;

	*out = NULL;
	if ((rc = parse_listen(listen, &ss, &sslen, err)) < 0)
		return rc;
	s = xcalloc(1, sizeof(*s));
	s->listen_fd = -1;
	s->routes = o->routes;
	s->guard = o->guard;
	s->observe = o->observe;
	s->ctx = o->ctx;
	if (web_dir != NULL) {
		char real[PATH_MAX];

		if (realpath(web_dir, real) != NULL)
			s->web_dir = xstrdup(real);
		else
			log_warn("console files not found", "web_dir=%s",
			    web_dir);
	}
	nfd = raise_fd_limit();
	if ((rc = listen_on(listen, &ss, sslen, &s->listen_fd, err)) < 0)
		goto out;
	/*
	 * One thread per connection (handlers block on the database and on
	 * streams), poll() rather than select() (descriptors above 1023),
	 * and connections come only from the gate.
	 */
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    access_cb, s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)LIM_HTTP_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)LIM_HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LIM_HTTP_CONN_MEMORY,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)LIM_HTTP_THREAD_STACK,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_cb, s,
	    MHD_OPTION_END);
	if (s->mhd == NULL) {
		rc = err_set(err, ERR_GENERIC, "cannot start the HTTP server "
		    "on '%s'", listen);
		goto out;
	}
	if ((rc = gate_start(&s->gate, s->listen_fd, nfd, handoff, s,
	    err)) < 0)
		goto out;
	sslen = sizeof(ss);
	if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sslen) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)(void *)&ss)->sin6_port :
		    ((struct sockaddr_in *)(void *)&ss)->sin_port);
	*out = s;
	s = NULL;
out:
	http_stop(s);
	return rc;
}

int
http_port(const struct http_server *s)
{
	return s->port;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* No new connections, then stop the ones libmicrohttpd has. */
	gate_stop(s->gate);
	if (s->mhd != NULL)
		MHD_stop_daemon(s->mhd);
	gate_free(s->gate);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->web_dir);
	free(s);
}
