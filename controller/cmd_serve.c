/* cmd_serve.c - `sluice serve`.  Placeholder until its module lands. */
#include <stdio.h>

#include "cmd.h"

int
cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice: 'serve' is not implemented yet\n");
	return 1;
}
