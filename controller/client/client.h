/*
 * client.h - the `sluice` command-line client: the subcommands that talk
 * to a controller over its REST API (docs/cli.md), in the same binary as
 * the server's subcommands.
 *
 *	runs list|get|logs|cancel|retry, run, approvals list|approve|reject,
 *	rollouts promote-full|abort|pause|resume, models list|promote|rollback,
 *	completion bash
 *
 * Exit status: 0 ok, 1 a failed run or a refused action (an answer 4xx),
 * 2 a usage error or no usable answer (server unreachable, token refused,
 * 5xx).
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stdio.h>

/* Whether name (argv[1]) is one of the client's commands. */
int	client_has(const char *name);

/*
 * Run the client command argv[0] with its arguments (argv[argc] is NULL);
 * returns the exit status.  Blocks on the network.
 */
int	client_main(int argc, char **argv);

/* One usage line per client command, each prefixed by indent, into f. */
void	client_usage(FILE *f, const char *indent);

/*
 * The help of a client command (with a subcommand or not) on f: 0, or -1
 * when name is none of the client's.
 */
int	client_help(FILE *f, const char *name, const char *sub);

#endif
