/*
 * gate.c - the front door of the HTTP server; see gate.h.
 *
 * One thread: an epoll set with the listening socket and every connection
 * still sending its head.  A head is read with MSG_PEEK, so the bytes stay
 * in the kernel for libmicrohttpd to read once the head is complete and
 * checked; edge-triggered epoll wakes us again only when more arrive.
 * A table indexed by file descriptor keeps what the caps need: state,
 * class, client address and since when.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "http/gate.h"
#include "http/http.h"

enum slot_state {
	SLOT_FREE = 0,
	SLOT_WAITING,		/* in the gate, head incomplete */
	SLOT_HANDED,		/* given to libmicrohttpd, not yet started */
	SLOT_ACTIVE,		/* libmicrohttpd's */
	SLOT_BODY,		/* libmicrohttpd's, reading a body */
};

/* A handed connection that never started was dropped by libmicrohttpd. */
#define HANDED_STALE_MS	5000
/* How often deadlines are checked. */
#define TICK_MS		100

struct slot {
	unsigned char	 state;
	unsigned char	 cls;
	unsigned char	 addr[17];	/* family byte, then the key */
	int64_t		 since_ms;
	int		 prev, next;	/* the waiting list, oldest first */
};

/* How many counted connections one address has (open addressing). */
struct addr_count {
	unsigned char	 key[17];
	unsigned	 n;		/* 0 = empty */
};

struct gate {
	int		 listen_fd;
	int		 epfd;
	int		 wake_fd;
	pthread_t	 thread;
	int		 running;
	pthread_mutex_t	 mu;		/* everything below */
	struct slot	*slots;		/* indexed by descriptor */
	size_t		 nslots;
	struct addr_count *addrs;
	size_t		 naddrs;	/* a power of two */
	size_t		 waiting;	/* slots SLOT_WAITING */
	size_t		 anon_active;	/* anonymous slots past the gate */
	int		 oldest, newest;	/* the waiting list, -1 empty */
	int		 max_fd;	/* the highest accepted */
	int64_t		 emfile_ms;	/* last "out of descriptors" log */
	size_t		 pending_cap;
	gate_handoff_fn	 handoff;
	void		*arg;
	char		 peek[LIM_HTTP_HEAD + 1];
};

/* --- the head ------------------------------------------------------- */

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
verdict(struct gate_verdict *v, int status, const char *code,
    const char *message)
{
	v->status = status;
	v->code = code;
	v->message = message;
	return status;
}

/* The next line of [p, end): its length without CR LF; *next after it. */
static size_t
next_line(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t len;

	if (nl == NULL) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = nl + 1;
	len = (size_t)(nl - p);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return len;
}

static int
name_is(const char *p, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(p, name, len) == 0;
}

static int
check_request_line(const char *p, size_t len, struct gate_verdict *v,
    int *http11)
{
	const char *sp1, *sp2, *t, *end = p + len;
	size_t i, tlen;

	sp1 = memchr(p, ' ', len);
	if (sp1 == NULL || sp1 == p)
		return verdict(v, 400, "invalid", "malformed request line");
	for (t = p; t < sp1; t++)
		if (!is_tchar((unsigned char)*t))
			return verdict(v, 400, "invalid",
			    "malformed request method");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1 ||
	    memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)) != NULL)
		return verdict(v, 400, "invalid", "malformed request line");
	tlen = (size_t)(sp2 - sp1 - 1);
	for (i = 0, t = sp1 + 1; i < tlen; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c < 0x21 || c == 0x7f)
			return verdict(v, 400, "invalid",
			    "control character in the request target");
		if (c == '%' && i + 2 < tlen && t[i + 1] == '0' &&
		    t[i + 2] == '0')
			return verdict(v, 400, "invalid",
			    "NUL (%00) in the request target");
	}
	if ((size_t)(end - sp2 - 1) == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
		*http11 = 1;
	else if ((size_t)(end - sp2 - 1) == 8 &&
	    memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
		*http11 = 0;
	else if ((size_t)(end - sp2 - 1) >= 5 &&
	    memcmp(sp2 + 1, "HTTP/", 5) == 0)
		return verdict(v, 505, "http_version",
		    "only HTTP/1.0 and HTTP/1.1 are served");
	else
		return verdict(v, 400, "invalid", "malformed HTTP version");
	/* The class: health checks by path, credentials by header. */
	if ((tlen == 8 && memcmp(sp1 + 1, "/healthz", 8) == 0) ||
	    (tlen == 7 && memcmp(sp1 + 1, "/readyz", 7) == 0))
		v->cls = GATE_HEALTH;
	return 0;
}

int
gate_head_check(const char *head, size_t len, struct gate_verdict *v)
{
	const char *p = head, *end = head + len, *next, *colon, *t, *eol;
	int http11 = 0, hosts = 0, lengths = 0, chunked = 0, cred = 0;
	size_t ll;

	memset(v, 0, sizeof(*v));
	v->cls = GATE_ANON;
	if (memchr(head, '\0', len) != NULL)
		return verdict(v, 400, "invalid",
		    "NUL byte in the request head");
	/* Empty lines before the request line are allowed (RFC 9112). */
	while (p < end && (ll = next_line(p, end, &next)) == 0 && next < end)
		p = next;
	ll = next_line(p, end, &next);
	if (check_request_line(p, ll, v, &http11) != 0)
		return v->status;
	for (p = next; p < end; p = next) {
		ll = next_line(p, end, &next);
		if (ll == 0)
			break;			/* the end of the head */
		if (*p == ' ' || *p == '\t')
			return verdict(v, 400, "invalid",
			    "folded header lines are not accepted");
		colon = memchr(p, ':', ll);
		if (colon == NULL || colon == p)
			return verdict(v, 400, "invalid",
			    "malformed header line");
		for (t = p; t < colon; t++)
			if (!is_tchar((unsigned char)*t))
				return verdict(v, 400, "invalid",
				    "malformed header name");
		for (t = colon + 1; t < p + ll; t++) {
			unsigned char c = (unsigned char)*t;

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return verdict(v, 400, "invalid",
				    "control character in a header value");
		}
		eol = p + ll;
		ll = (size_t)(colon - p);
		if (name_is(p, ll, "Host")) {
			hosts++;
		} else if (name_is(p, ll, "Content-Length")) {
			size_t digits = 0;

			lengths++;
			t = colon + 1;
			while (t < eol && (*t == ' ' || *t == '\t'))
				t++;
			for (; t < eol && *t >= '0' && *t <= '9'; t++)
				digits++;
			while (t < eol && (*t == ' ' || *t == '\t'))
				t++;
			if (digits == 0 || (t < eol && *t != '\r' && *t != '\n'))
				return verdict(v, 400, "invalid",
				    "Content-Length is not a number");
			if (digits > 18)
				return verdict(v, 413, "too_big",
				    "request body too large");
		} else if (name_is(p, ll, "Transfer-Encoding")) {
			chunked++;
		} else if (name_is(p, ll, "Authorization") ||
		    name_is(p, ll, "Cookie")) {
			cred = 1;
		}
	}
	if (http11 && hosts == 0)
		return verdict(v, 400, "invalid",
		    "an HTTP/1.1 request needs a Host header");
	if (hosts > 1)
		return verdict(v, 400, "invalid",
		    "more than one Host header");
	if (lengths > 1)
		return verdict(v, 400, "invalid",
		    "more than one Content-Length header");
	if (lengths > 0 && chunked > 0)
		return verdict(v, 400, "invalid",
		    "Content-Length and Transfer-Encoding together");
	/*
	 * Request bodies are small JSON; a chunked one would be parsed by
	 * libmicrohttpd, whose errors for it are HTML.  Ask for a length.
	 */
	if (chunked > 0)
		return verdict(v, 411, "length_required",
		    "a request body needs a Content-Length (Transfer-Encoding "
		    "is not accepted)");
	if (cred && v->cls == GATE_ANON)
		v->cls = GATE_CRED;
	return 0;
}

/* Where the head ends (just after its empty line), or 0. */
static size_t
head_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	int seen_line = 0;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t ll = (size_t)(nl - p);

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0 && seen_line)
			return (size_t)(nl + 1 - buf);
		if (ll > 0)
			seen_line = 1;
		p = nl + 1;
	}
	return 0;
}

/* --- replies -------------------------------------------------------- */

/*
 * Answer with the JSON error shape: what is readable now is read first,
 * so that closing does not reset the connection under the answer.  The
 * caller closes (or has libmicrohttpd close) the connection.
 */
static void
reply(int fd, int status, const char *code, const char *message,
    int retry_s)
{
	struct http_response rs;
	struct buf out;
	char sink[4096], v[16];

	memset(&rs, 0, sizeof(rs));
	buf_init(&rs.body, 4096);
	http_error(&rs, status, code, "%s", message);
	if (retry_s > 0) {
		(void)snprintf(v, sizeof(v), "%d", retry_s);
		if (http_set_header(&rs, "Retry-After", v) < 0)
			log_warn("too many headers", "header=%s", "Retry-After");
	}
	buf_init(&out, 16384);
	if (http_format_raw(&out, &rs) == 0) {
		for (int i = 0; i < 8 && recv(fd, sink, sizeof(sink),
		    MSG_DONTWAIT) > 0; i++)
			;
		(void)send(fd, out.data, out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	buf_release(&out);
	http_response_release(&rs);
}

/* Answer with the JSON error shape and close. */
static void
reply_close(int fd, int status, const char *code, const char *message,
    int retry_s)
{
	reply(fd, status, code, message, retry_s);
	(void)shutdown(fd, SHUT_WR);
	close(fd);
}

/* --- the table ------------------------------------------------------ */

static void
addr_key(const struct sockaddr *sa, unsigned char key[17])
{
	memset(key, 0, 17);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		key[0] = 4;
		memcpy(key + 1, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			key[0] = 6;	/* one /64 is one address */
			memcpy(key + 1, in6->sin6_addr.s6_addr, 8);
		}
	}
}

static size_t
addr_hash(const unsigned char key[17])
{
	size_t h = 14695981039346656037ull;

	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return h;
}

/* The entry of key, or the empty one where it would go. */
static size_t
addr_find(const struct gate *g, const unsigned char key[17])
{
	size_t i = addr_hash(key) & (g->naddrs - 1);

	while (g->addrs[i].n != 0 && memcmp(g->addrs[i].key, key, 17) != 0)
		i = (i + 1) & (g->naddrs - 1);
	return i;
}

static void
addr_add(struct gate *g, const unsigned char key[17], int delta)
{
	size_t i = addr_find(g, key), j, k;

	if (delta > 0) {
		memcpy(g->addrs[i].key, key, 17);
		g->addrs[i].n++;
		return;
	}
	BUG_ON(g->addrs[i].n == 0);
	if (--g->addrs[i].n > 0)
		return;
	/* Emptied: shift later entries of the run back (linear probing). */
	for (j = i;;) {
		j = (j + 1) & (g->naddrs - 1);
		if (g->addrs[j].n == 0)
			break;
		k = addr_hash(g->addrs[j].key) & (g->naddrs - 1);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			g->addrs[i] = g->addrs[j];
			g->addrs[j].n = 0;
			i = j;
		}
	}
}

static unsigned
addr_count(const struct gate *g, const unsigned char key[17])
{
	return g->addrs[addr_find(g, key)].n;
}

/* Whether a slot counts against its address's cap. */
static int
counted(const struct slot *sl)
{
	/*
	 * Every connection of the address: a Cookie or Authorization header
	 * is not checked until the guard runs, so it cannot buy more.
	 */
	return sl->state != SLOT_FREE;
}

/*
 * Every state change goes through here (under g->mu), keeping the counts
 * and the waiting list true.
 */
static void
slot_set(struct gate *g, int fd, enum slot_state state, enum gate_class cls)
{
	struct slot *sl = &g->slots[fd];

	if (counted(sl))
		addr_add(g, sl->addr, -1);
	if (sl->state == SLOT_WAITING) {
		g->waiting--;
		if (sl->prev >= 0)
			g->slots[sl->prev].next = sl->next;
		else
			g->oldest = sl->next;
		if (sl->next >= 0)
			g->slots[sl->next].prev = sl->prev;
		else
			g->newest = sl->prev;
	} else if (sl->state != SLOT_FREE && sl->cls == GATE_ANON) {
		g->anon_active--;
	}
	sl->state = (unsigned char)state;
	sl->cls = (unsigned char)cls;
	sl->since_ms = sys_now_ms();
	if (counted(sl))
		addr_add(g, sl->addr, 1);
	if (state == SLOT_WAITING) {
		g->waiting++;
		sl->prev = g->newest;
		sl->next = -1;
		if (g->newest >= 0)
			g->slots[g->newest].next = fd;
		else
			g->oldest = fd;
		g->newest = fd;
	} else if (state != SLOT_FREE && cls == GATE_ANON) {
		g->anon_active++;
	}
}

static void
drop_waiting(struct gate *g, int fd)
{
	(void)epoll_ctl(g->epfd, EPOLL_CTL_DEL, fd, NULL);
	slot_set(g, fd, SLOT_FREE, GATE_ANON);
}

static void
accept_one(struct gate *g, int fd, const struct sockaddr *sa)
{
	struct epoll_event ev;
	int refuse = 0;

	if ((size_t)fd >= g->nslots) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&g->mu);
	if (fd > g->max_fd)
		g->max_fd = fd;
	/* Handed on but dropped before it started: the number is free. */
	if (g->slots[fd].state != SLOT_FREE)
		slot_set(g, fd, SLOT_FREE, GATE_ANON);
	addr_key(sa, g->slots[fd].addr);
	if (addr_count(g, g->slots[fd].addr) >= LIM_HTTP_PER_ADDRESS) {
		refuse = 1;
	} else {
		if (g->waiting >= g->pending_cap && g->oldest >= 0) {
			int victim = g->oldest;

			drop_waiting(g, victim);
			close(victim);
		}
		slot_set(g, fd, SLOT_WAITING, GATE_ANON);
	}
	pthread_mutex_unlock(&g->mu);
	if (refuse) {
		reply_close(fd, 503, "too_many_connections",
		    "too many connections from this address", 1);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	ev.data.fd = fd;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		pthread_mutex_lock(&g->mu);
		slot_set(g, fd, SLOT_FREE, GATE_ANON);
		pthread_mutex_unlock(&g->mu);
		close(fd);
	}
}

static void
accept_all(struct gate *g)
{
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(g->listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/*
				 * The listening socket stays readable: pause
				 * rather than spin, and say so once a second.
				 */
				int64_t now = sys_now_ms();

				if (now - g->emfile_ms >= 1000) {
					log_warn("http: out of file descriptors",
					    "errno=%d", errno);
					g->emfile_ms = now;
				}
				(void)poll(NULL, 0, 10);
			}
			return;
		}
		accept_one(g, fd, (const struct sockaddr *)&ss);
	}
}

/* Data arrived on a waiting connection. */
static void
readable(struct gate *g, int fd)
{
	struct gate_verdict v;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	size_t end;
	ssize_t n;
	int busy;

	n = recv(fd, g->peek, sizeof(g->peek) - 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	pthread_mutex_lock(&g->mu);
	if (g->slots[fd].state != SLOT_WAITING) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	if (n <= 0) {
		drop_waiting(g, fd);
		pthread_mutex_unlock(&g->mu);
		close(fd);
		return;
	}
	end = head_end(g->peek, (size_t)n);
	if (end == 0 && (size_t)n < LIM_HTTP_HEAD) {
		pthread_mutex_unlock(&g->mu);
		return;				/* more to come */
	}
	drop_waiting(g, fd);
	if (end == 0) {
		pthread_mutex_unlock(&g->mu);
		reply_close(fd, 431, "head_too_big", "request head over the "
		    "size limit", 0);
		return;
	}
	if (gate_head_check(g->peek, end, &v) != 0) {
		pthread_mutex_unlock(&g->mu);
		reply_close(fd, v.status, v.code, v.message, 0);
		return;
	}
	busy = v.cls == GATE_ANON && g->anon_active >= LIM_HTTP_ANON_ACTIVE;
	if (!busy)
		slot_set(g, fd, SLOT_HANDED, v.cls);
	pthread_mutex_unlock(&g->mu);
	if (busy) {
		reply_close(fd, 503, "busy", "too many requests without "
		    "credentials at once", 1);
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		pthread_mutex_lock(&g->mu);
		slot_set(g, fd, SLOT_FREE, GATE_ANON);
		pthread_mutex_unlock(&g->mu);
		close(fd);
		return;
	}
	if (g->handoff(g->arg, fd, (struct sockaddr *)&ss, sslen) < 0) {
		/* The callee closed fd; it never started. */
		pthread_mutex_lock(&g->mu);
		if (g->slots[fd].state == SLOT_HANDED)
			slot_set(g, fd, SLOT_FREE, GATE_ANON);
		pthread_mutex_unlock(&g->mu);
		log_warn("http: cannot hand a connection on", "fd=%d", fd);
	}
}

/*
 * The next head of a kept-alive connection.  Unlike the gate's thread,
 * which epoll wakes only when bytes arrive, this peeks with poll(), which
 * reports a socket holding an incomplete head readable at once: between
 * peeks at an incomplete head it sleeps PEEK_STEP_MS (clients write a head
 * at once; only a trickle waits).
 */
#define PEEK_STEP_MS	10

int
gate_next_head(int fd, int64_t deadline_ms, size_t *head_len)
{
	char *peek = xcalloc(1, LIM_HTTP_HEAD + 1);
	struct gate_verdict v;
	ssize_t n = 0;
	size_t end;
	int rc;

	*head_len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP,
		    .revents = 0 };
		int64_t left = deadline_ms - sys_now_ms();

		n = recv(fd, peek, LIM_HTTP_HEAD, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			rc = GATE_NEXT_CLOSE;
			goto out;
		}
		if (n > 0 && (end = head_end(peek, (size_t)n)) > 0)
			break;
		if (n >= LIM_HTTP_HEAD) {
			reply(fd, 431, "head_too_big", "request head over the "
			    "size limit", 0);
			rc = 431;
			goto out;
		}
		if (left <= 0) {
			if (n <= 0) {
				rc = GATE_NEXT_CLOSE;	/* idle: just close */
				goto out;
			}
			reply(fd, 408, "timeout", "the request head did not "
			    "arrive in time", 0);
			rc = 408;
			goto out;
		}
		if (n > 0)
			(void)poll(NULL, 0, left < PEEK_STEP_MS ? (int)left :
			    PEEK_STEP_MS);
		else
			(void)poll(&p, 1, (int)left);
	}
	if (gate_head_check(peek, end, &v) != 0) {
		reply(fd, v.status, v.code, v.message, 0);
		rc = v.status;
		goto out;
	}
	*head_len = end;
	rc = 0;
out:
	free(peek);
	return rc;
}

/* Close what is past its deadline. */
static void
expire(struct gate *g)
{
	int64_t now = sys_now_ms();

	pthread_mutex_lock(&g->mu);
	/* The waiting list is oldest first. */
	while (g->oldest >= 0 &&
	    now - g->slots[g->oldest].since_ms > LIM_HTTP_HEAD_MS) {
		int fd = g->oldest;

		drop_waiting(g, fd);
		reply_close(fd, 408, "timeout", "the request head did not "
		    "arrive in time", 0);
	}
	for (int i = 0; i <= g->max_fd; i++) {
		struct slot *sl = &g->slots[i];

		if (sl->state == SLOT_HANDED &&
		    now - sl->since_ms > HANDED_STALE_MS) {
			/* Dropped by libmicrohttpd before it started. */
			slot_set(g, i, SLOT_FREE, GATE_ANON);
		} else if (sl->state == SLOT_BODY &&
		    now - sl->since_ms > LIM_HTTP_BODY_MS) {
			/*
			 * libmicrohttpd owns it: shutting it down makes its
			 * thread see the end and close; the descriptor stays
			 * open until gate_conn_closed has run.
			 */
			slot_set(g, i, SLOT_ACTIVE, (enum gate_class)sl->cls);
			(void)shutdown(i, SHUT_RDWR);
		}
	}
	pthread_mutex_unlock(&g->mu);
}

static void *
gate_main(void *arg)
{
	struct gate *g = arg;
	struct epoll_event evs[64];
	int64_t next_tick = sys_now_ms() + TICK_MS;

	for (;;) {
		int64_t now = sys_now_ms();
		int n, wait = next_tick > now ? (int)(next_tick - now) : 0;

		n = epoll_wait(g->epfd, evs, 64, wait);
		if (n < 0 && errno != EINTR) {
			log_error("http: epoll_wait failed", "errno=%d", errno);
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == g->wake_fd)
				goto out;
			if (fd == g->listen_fd)
				accept_all(g);
			else
				readable(g, fd);
		}
		if (sys_now_ms() >= next_tick) {
			expire(g);
			next_tick = sys_now_ms() + TICK_MS;
		}
	}
out:
	return NULL;
}

/* --- life ----------------------------------------------------------- */

int
gate_start(struct gate **out, int listen_fd, size_t slots,
    gate_handoff_fn fn, void *arg, struct err *err)
{
	struct gate *g;
	struct epoll_event ev;
	int rc = 0;

	*out = NULL;
	g = xcalloc(1, sizeof(*g));
	g->listen_fd = listen_fd;
	g->epfd = g->wake_fd = -1;
	g->handoff = fn;
	g->arg = arg;
	g->nslots = slots;
	g->slots = xcalloc(slots, sizeof(g->slots[0]));
	g->oldest = g->newest = -1;
	/* Waiting connections take descriptors too: leave room. */
	g->pending_cap = LIM_HTTP_PENDING;
	if (slots < (size_t)LIM_HTTP_CONNECTIONS + LIM_HTTP_FD_SPARE + 64)
		g->pending_cap = 64;
	else if (g->pending_cap > slots - LIM_HTTP_CONNECTIONS -
	    LIM_HTTP_FD_SPARE)
		g->pending_cap = slots - LIM_HTTP_CONNECTIONS -
		    LIM_HTTP_FD_SPARE;
	/* Counted connections stay under half the address table. */
	for (g->naddrs = 1024; g->naddrs < 2 * (g->pending_cap +
	    LIM_HTTP_CONNECTIONS); g->naddrs *= 2)
		;
	g->addrs = xcalloc(g->naddrs, sizeof(g->addrs[0]));
	pthread_mutex_init(&g->mu, NULL);
	if ((g->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = err_set(err, ERR_GENERIC, "http: epoll: %s",
		    strerror(errno));
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = listen_fd;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		goto fail;
	ev.data.fd = g->wake_fd;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->wake_fd, &ev) < 0)
		goto fail;
	if ((errno = pthread_create(&g->thread, NULL, gate_main, g)) != 0)
		goto fail;
	g->running = 1;
	*out = g;
	g = NULL;
	goto out;
fail:
	rc = err_set(err, ERR_GENERIC, "http: cannot start: %s",
	    strerror(errno));
out:
	if (g != NULL) {
		gate_stop(g);
		gate_free(g);
	}
	return rc;
}

void
gate_stop(struct gate *g)
{
	uint64_t one = 1;

	if (g == NULL)
		return;
	if (g->running) {
		if (write(g->wake_fd, &one, sizeof(one)) < 0)
			log_warn("http: cannot wake the gate", "errno=%d",
			    errno);
		pthread_join(g->thread, NULL);
		g->running = 0;
	}
	pthread_mutex_lock(&g->mu);
	while (g->oldest >= 0) {
		int fd = g->oldest;

		drop_waiting(g, fd);
		close(fd);
	}
	pthread_mutex_unlock(&g->mu);
}

void
gate_free(struct gate *g)
{
	if (g == NULL)
		return;
	if (g->epfd >= 0)
		close(g->epfd);
	if (g->wake_fd >= 0)
		close(g->wake_fd);
	pthread_mutex_destroy(&g->mu);
	free(g->addrs);
	free(g->slots);
	free(g);
}

/* Move fd from one of the states in `from` (a bit set) to `to`. */
static void
move(struct gate *g, int fd, unsigned from, enum slot_state to)
{
	if (g == NULL || fd < 0 || (size_t)fd >= g->nslots)
		return;
	pthread_mutex_lock(&g->mu);
	if ((from & (1u << g->slots[fd].state)) != 0)
		slot_set(g, fd, to, (enum gate_class)g->slots[fd].cls);
	pthread_mutex_unlock(&g->mu);
}

void
gate_conn_started(struct gate *g, int fd)
{
	move(g, fd, 1u << SLOT_HANDED, SLOT_ACTIVE);
}

void
gate_body_started(struct gate *g, int fd)
{
	move(g, fd, 1u << SLOT_ACTIVE, SLOT_BODY);
}

void
gate_body_done(struct gate *g, int fd)
{
	move(g, fd, 1u << SLOT_BODY, SLOT_ACTIVE);
}

void
gate_conn_closed(struct gate *g, int fd)
{
	move(g, fd, (1u << SLOT_HANDED) | (1u << SLOT_ACTIVE) |
	    (1u << SLOT_BODY), SLOT_FREE);
}
