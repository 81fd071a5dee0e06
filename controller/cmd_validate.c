/* cmd_validate.c - `sluice validate`.  Placeholder until its module lands. */
#include <stdio.h>

#include "cmd.h"

int
cmd_validate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice: 'validate' is not implemented yet\n");
	return 1;
}
