/*
 * testchild.h - fixture servers as child processes: started with a stdin
 * pipe the test holds (closing it stops the servers of tests/fixtures/),
 * optionally reading the port they print on their first line.
 */
#ifndef SLUICE_TESTCHILD_H
#define SLUICE_TESTCHILD_H

#include <stddef.h>
#include <sys/types.h>

struct testchild {
	pid_t	pid;
	int	in;		/* its stdin: closing it stops fixture servers */
	int	port;
};

/*
 * Start argv (argv[0] looked up in PATH) with stdin a pipe we hold,
 * stderr to /dev/null; when read_port, stdout is read for the port the
 * child prints on its first line (else it goes to /dev/null and c->port
 * is left as the caller set it).  0, or -1 when it cannot start or
 * prints no port.
 */
int	testchild_spawn(struct testchild *c, const char *const argv[],
	    int read_port);

/* Close its stdin, SIGTERM it and wait for it. */
void	testchild_stop(struct testchild *c);

/* Whether the file at path (its first 64 KiB) contains needle. */
int	test_file_has(const char *path, const char *needle);

/* The path of tests/fixtures/name under $SLUICE_TOP (or "."), into out. */
const char *test_fixture(char *out, size_t len, const char *name);

#endif
