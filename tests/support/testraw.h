/*
 * testraw.h - raw HTTP over TCP for tests that need what libcurl will not
 * send (NUL bytes, two Host headers, no Host, broken request lines) or a
 * chosen source address on 127/8 (every 127.x.y.z is loopback on Linux).
 */
#ifndef SLUICE_TESTRAW_H
#define SLUICE_TESTRAW_H

#include <stddef.h>

/* A blocking TCP connection from src (e.g. "127.0.0.2") to 127.0.0.1:port. */
int	testraw_connect(const char *src, int port);

/*
 * Send len bytes of req from src and read the answer until the server
 * closes or the whole answer (its Content-Length) has come, at most
 * timeout_ms, into out (NUL-terminated).  Returns the
 * bytes read, or -1 (connect or send failed, or nothing came back).
 */
long	testraw_exchange(const char *src, int port, const char *req,
	    size_t len, char *out, size_t outlen, int timeout_ms);

/* The status code of a raw answer, or -1. */
int	testraw_status(const char *answer);

/* The body of a raw answer (after the empty line), or "". */
const char *testraw_body(const char *answer);

/* Raise the soft limit on open files to at least n (up to the hard one). */
void	testraw_fd_limit(unsigned long n);

#endif
