/* cmd_migrate.c - `sluice migrate`.  Placeholder until its module lands. */
#include <stdio.h>

#include "cmd.h"

int
cmd_migrate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice: 'migrate' is not implemented yet\n");
	return 1;
}
