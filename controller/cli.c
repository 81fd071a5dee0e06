/*
 * cli.c - what every subcommand shares: loading the configuration.  Kept
 * out of main.c so that the cmd_*.c files link into the test binaries,
 * which have their own main().
 */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "cmd.h"
#include "log.h"

extern char **environ;

struct cfg *
cli_load_config(int *argc, char **argv)
{
	const char *path = NULL;
	struct cfg *c = NULL;
	struct err err;
	int i, j;

	err_clear(&err);
	for (i = 1, j = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
			path = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	if (cfg_load(&c, path, environ, NULL, 0, &err) < 0) {
		fprintf(stderr, "sluice: config: %s\n", err.msg);
		return NULL;
	}
	log_setup(c->log_level, c->log_format, stderr);
	return c;
}
