/*
 * testchild.c - fixture servers as child processes; see testchild.h.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testchild.h"

int
testchild_spawn(struct testchild *c, const char *const argv[], int read_port)
{
	int in[2], out[2];

	if (pipe(in) < 0)
		return -1;
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((c->pid = fork()) < 0)
		return -1;
	if (c->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(read_port ? out[1] : null, 1);
		dup2(null, 2);
		close(in[1]);
		close(out[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	if (read_port) {
		char line[32];
		FILE *fp = fdopen(out[0], "r");

		if (fp == NULL)
			return -1;
		if (fgets(line, sizeof(line), fp) == NULL) {
			fprintf(stderr, "%s did not print its port\n", argv[0]);
			fclose(fp);
			return -1;
		}
		c->port = (int)strtol(line, NULL, 10);
		fclose(fp);
	} else
		close(out[0]);
	return c->port > 0 ? 0 : -1;
}

void
testchild_stop(struct testchild *c)
{
	int status;

	close(c->in);
	kill(c->pid, SIGTERM);
	waitpid(c->pid, &status, 0);
}

const char *
test_fixture(char *out, size_t len, const char *name)
{
	const char *top = getenv("SLUICE_TOP");

	(void)snprintf(out, len, "%s/tests/fixtures/%s", top != NULL ? top :
	    ".", name);
	return out;
}

int
test_file_has(const char *path, const char *needle)
{
	char buf[65536];
	size_t n;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}
