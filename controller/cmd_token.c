/* cmd_token.c - `sluice token`.  Placeholder until its module lands. */
#include <stdio.h>

#include "cmd.h"

int
cmd_token(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice: 'token' is not implemented yet\n");
	return 1;
}
