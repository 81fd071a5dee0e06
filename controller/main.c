/*
 * main.c - command dispatch: the server's commands (serve, migrate,
 * validate, token, gc, version) and the client's (client/client.h: runs,
 * run, approvals, rollouts, models, completion), and `sluice help CMD`.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cfg.h"
#include "base/log.h"
#include "client/client.h"
#include "exec/exec_local.h"
#include "cmd.h"

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} commands[] = {
	{ "serve", cmd_serve,
	    "serve [--config FILE] [--set KEY=VALUE]... [--migrate]" },
	{ "migrate", cmd_migrate,
	    "migrate [--config FILE] [--set KEY=VALUE]... [--status]" },
	{ "validate", cmd_validate, "validate [--json] FILE..." },
	{ "token", cmd_token,
	    "token create --name NAME --role viewer|operator|approver|admin" },
	{ "gc", cmd_gc, "gc [--config FILE] [--set KEY=VALUE]... [--dry-run]" },
	{ "version", cmd_version, "version" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  sluice %s\n", commands[i].usage);
	fprintf(f, "talking to a controller (sluice help CMD for more):\n");
	client_usage(f, "  ");
	fprintf(f, "  sluice help [CMD [SUBCOMMAND]]\n");
}

/* `sluice help [CMD [SUB]]` */
static int
help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			printf("usage: sluice %s\n(docs/operations.md)\n",
			    commands[i].usage);
			return 0;
		}
	}
	if (client_help(stdout, argv[1], argc > 2 ? argv[2] : NULL) == 0)
		return 0;
	fprintf(stderr, "sluice help: no command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0)
		return help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	/* hidden: the local executor's per-attempt supervisor */
	if (strcmp(argv[1], EXEC_LOCAL_SUPERVISE_CMD) == 0)
		return exec_local_supervise(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	if (client_has(argv[1]))
		return client_main(argc - 1, argv + 1);
	fprintf(stderr, "sluice: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
