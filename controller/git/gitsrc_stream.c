/*
 * gitsrc_stream.c - the socket stream gitsrc registers with libgit2 in
 * place of its own, so that every connect, read and write of a network
 * call obeys the call's deadline and gitsrc_interrupt(); see
 * gitsrc_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sys.h"
#include "git/gitsrc_int.h"

/*
 * Our replacement for libgit2's socket stream.  The first four fields
 * must stay as they are: libgit2 1.5's ssh transport takes the socket
 * out of the stream it gets by casting to its private git_socket_stream
 * { git_stream parent; char *host; char *port; GIT_SOCKET s; }.
 */
struct sock_stream {
	git_stream	 parent;
	char		*host;
	char		*port;
	int		 s;
	struct gitsrc	*src;		/* borrowed; NULL outside a call */
};

static void
stream_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
stream_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is fine */
	va_end(ap);
	git_error_set_str(GIT_ERROR_NET, msg);
}

static void
socks_add(struct gitsrc *src, int s)
{
	if (src == NULL)
		return;
	pthread_mutex_lock(&src->mu);
	if (src->nsocks < GITSRC_MAX_SOCKS)
		src->socks[src->nsocks++] = s;
	pthread_mutex_unlock(&src->mu);
}

static void
socks_remove(struct gitsrc *src, int s)
{
	size_t i;

	if (src == NULL)
		return;
	pthread_mutex_lock(&src->mu);
	for (i = 0; i < src->nsocks; i++) {
		if (src->socks[i] == s) {
			src->socks[i] = src->socks[--src->nsocks];
			break;
		}
	}
	pthread_mutex_unlock(&src->mu);
}

void
gitsrc_socks_shutdown_locked(struct gitsrc *src)
{
	size_t i;

	for (i = 0; i < src->nsocks; i++)
		(void)shutdown(src->socks[i], SHUT_RDWR);
}

/*
 * Wait until s is ready for events or the call's deadline passes.
 * 0 when ready, -1 with a libgit2 error set otherwise.
 */
static int
sock_wait(struct sock_stream *st, int s, short events)
{
	struct gitsrc *src = st->src;

	for (;;) {
		struct pollfd pfd = { .fd = s, .events = events };
		int64_t left = gitsrc_remaining_ms(src);
		int rc, slice;

		if (src != NULL && atomic_load(&src->interrupted)) {
			stream_error("interrupted");
			return -1;
		}
		if (left == 0) {
			atomic_store(&src->timed_out, 1);
			stream_error("timed out talking to %s", st->host);
			return -1;
		}
		slice = left < 0 || left > WAIT_SLICE_MS ? WAIT_SLICE_MS :
		    (int)left;
		rc = poll(&pfd, 1, slice);
		if (rc < 0 && errno != EINTR) {
			stream_error("poll: %s", strerror(errno));
			return -1;
		}
		if (rc > 0)
			return 0;
	}
}

static int
sock_connect(git_stream *stream)
{
	struct sock_stream *st = (struct sock_stream *)stream;
	struct addrinfo hints, *res = NULL, *ai;
	int rc, s = -1, saved = 0, flags;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((rc = getaddrinfo(st->host, st->port, &hints, &res)) != 0) {
		stream_error("failed to resolve address for %s: %s", st->host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		if (st->src != NULL)
			st->src->net_failed = 1;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t len = sizeof(saved);

		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (s < 0) {
			saved = errno;
			continue;
		}
		socks_add(st->src, s);
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			if (sock_wait(st, s, POLLOUT) < 0)
				goto fail;	/* timed out or interrupted */
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &saved,
			    &len) == 0 && saved == 0)
				break;
		} else
			saved = errno;
		socks_remove(st->src, s);
		close(s);
		s = -1;
	}
	if (s < 0) {
		stream_error("failed to connect to %s port %s: %s", st->host,
		    st->port, strerror(saved != 0 ? saved : ECONNREFUSED));
		if (st->src != NULL)
			st->src->net_failed = 1;
		goto fail;
	}
	/* Blocking again: libssh2 reads this socket itself. */
	if ((flags = fcntl(s, F_GETFL)) < 0 ||
	    fcntl(s, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		stream_error("fcntl: %s", strerror(errno));
		goto fail;
	}
	flags = 1;
	(void)setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &flags, sizeof(flags));
	st->s = s;
	freeaddrinfo(res);
	return 0;
fail:
	if (s >= 0) {
		socks_remove(st->src, s);
		close(s);
	}
	freeaddrinfo(res);
	return -1;
}

static ssize_t
sock_read(git_stream *stream, void *data, size_t len)
{
	struct sock_stream *st = (struct sock_stream *)stream;

	for (;;) {
		ssize_t n;

		if (sock_wait(st, st->s, POLLIN) < 0)
			return -1;
		n = recv(st->s, data, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			stream_error("error receiving data from %s: %s",
			    st->host, strerror(errno));
			return -1;
		}
	}
}

static ssize_t
sock_write(git_stream *stream, const char *data, size_t len, int flags)
{
	struct sock_stream *st = (struct sock_stream *)stream;

	(void)flags;
	for (;;) {
		ssize_t n;

		if (sock_wait(st, st->s, POLLOUT) < 0)
			return -1;
		n = send(st->s, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			stream_error("error sending data to %s: %s", st->host,
			    strerror(errno));
			return -1;
		}
	}
}

static int
sock_close(git_stream *stream)
{
	struct sock_stream *st = (struct sock_stream *)stream;

	if (st->s >= 0) {
		socks_remove(st->src, st->s);
		close(st->s);
		st->s = -1;
	}
	return 0;
}

static void
sock_free(git_stream *stream)
{
	struct sock_stream *st = (struct sock_stream *)stream;

	(void)sock_close(stream);
	free(st->host);
	free(st->port);
	free(st);
}

int
gitsrc_stream_new(git_stream **out, const char *host, const char *port)
{
	struct sock_stream *st;

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->host = strdup(host)) == NULL ||
	    (st->port = strdup(port != NULL ? port : "0")) == NULL) {
		if (st != NULL) {
			free(st->host);
			free(st);
		}
		git_error_set_oom();
		return -1;
	}
	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = sock_connect;
	st->parent.read = sock_read;
	st->parent.write = sock_write;
	st->parent.close = sock_close;
	st->parent.free = sock_free;
	st->s = -1;
	st->src = gitsrc_tls;
	*out = &st->parent;
	return 0;
}
