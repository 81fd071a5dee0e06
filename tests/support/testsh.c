/*
 * testsh.c - shell commands and git repositories for tests; see testsh.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testsh.h"

#define CMD_MAX	8192

static void
format(char *cmd, const char *fmt, va_list ap)
{
	int n = vsnprintf(cmd, CMD_MAX, fmt, ap);

	if (n < 0 || n >= CMD_MAX)
		fail_msg("command too long: %.200s...", cmd);
}

void
test_sh(const char *fmt, ...)
{
	char cmd[CMD_MAX];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	format(cmd, fmt, ap);
	va_end(ap);
	if ((rc = system(cmd)) != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

void
test_capture(char *out, size_t len, const char *fmt, ...)
{
	char cmd[CMD_MAX];
	va_list ap;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	format(cmd, fmt, ap);
	va_end(ap);
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("cannot run: %s", cmd);
	if (fgets(out, (int)len, p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if ((rc = pclose(p)) != 0)
		fail_msg("command failed (%d): %s", rc, cmd);
}

void
test_git_remote(const char *bare, const char *work)
{
	test_sh(TEST_GIT "init -q --bare '%s' && " TEST_GIT "clone -q '%s' "
	    "'%s' 2>/dev/null", bare, bare, work);
}
