/* testraw.c - raw HTTP over TCP for tests; see testraw.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/sys.h"
#include "testraw.h"

int
testraw_connect(const char *src, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (src != NULL) {
		if (inet_pton(AF_INET, src, &a.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	}
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Whether out holds a whole answer: its head and Content-Length bytes. */
static int
answer_whole(const char *out)
{
	const char *end = strstr(out, "\r\n\r\n"), *cl;
	long want;

	if (end == NULL)
		return 0;
	cl = strcasestr(out, "\r\nContent-Length:");
	if (cl == NULL || cl > end)
		return 0;	/* read until the server closes */
	want = strtol(cl + 17, NULL, 10);
	return (long)strlen(end + 4) >= want;
}

long
testraw_exchange(const char *src, int port, const char *req, size_t len,
    char *out, size_t outlen, int timeout_ms)
{
	long deadline = (long)sys_now_ms() + timeout_ms, got = 0;
	int fd = testraw_connect(src, port);

	out[0] = '\0';
	if (fd < 0)
		return -1;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto out;
	while ((size_t)got + 1 < outlen) {
		struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
		long left = deadline - (long)sys_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, out + got, outlen - 1 - (size_t)got, 0);
		if (n <= 0)
			break;
		got += n;
		out[got] = '\0';
		if (answer_whole(out))
			break;	/* a kept connection stays open after it */
	}
out:
	out[got] = '\0';
	close(fd);
	return got > 0 ? got : -1;
}

int
testraw_status(const char *answer)
{
	int st = -1;

	if (strncmp(answer, "HTTP/1.", 7) == 0 && strlen(answer) >= 12)
		st = (int)strtol(answer + 9, NULL, 10);
	return st;
}

const char *
testraw_body(const char *answer)
{
	const char *b = strstr(answer, "\r\n\r\n");

	return b != NULL ? b + 4 : "";
}

void
testraw_fd_limit(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= n)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n ?
	    rl.rlim_max : n;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}
