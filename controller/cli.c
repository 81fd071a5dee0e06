/*
 * cli.c - what every subcommand shares: loading the configuration.  Kept
 * out of main.c so that the cmd_*.c files link into the test binaries,
 * which have their own main().
 */
#include <stdio.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "cmd.h"

extern char **environ;

/* "KEY=VALUE" of --set into o, split in place; -1 when malformed. */
static int
parse_set(char *arg, struct cfg_override *o)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg) {
		fprintf(stderr, "sluice: --set wants KEY=VALUE, got '%s'\n",
		    arg);
		return -1;
	}
	*eq = '\0';
	o->key = arg;
	o->value = eq + 1;
	return 0;
}

struct cfg *
cli_load_config(int *argc, char **argv)
{
	struct cfg_override ov[LIM_CONFIG_OVERRIDES];
	const char *path = NULL;
	struct cfg *c = NULL;
	struct err err;
	size_t nov = 0;
	char *set;
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
		set = NULL;
		if (strcmp(argv[i], "--set") == 0 && i + 1 < *argc)
			set = argv[++i];
		else if (strncmp(argv[i], "--set=", 6) == 0)
			set = argv[i] + 6;
		if (set != NULL) {
			if (nov == LIM_CONFIG_OVERRIDES) {
				fprintf(stderr, "sluice: more than %d --set "
				    "flags\n", LIM_CONFIG_OVERRIDES);
				return NULL;
			}
			if (parse_set(set, &ov[nov++]) < 0)
				return NULL;
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	if (cfg_load(&c, path, environ, ov, nov, &err) < 0) {
		fprintf(stderr, "sluice: config: %s\n", err.msg);
		return NULL;
	}
	log_setup(c->log_level, c->log_format, stderr);
	return c;
}
