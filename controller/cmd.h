/*
 * cmd.h - the subcommands of bin/sluice (SPEC section 2).
 *
 * Each takes the arguments after its name (argv[0] is the command name)
 * and returns the process exit status.  Global flags (--config FILE) are
 * parsed by each command through cli_config_path().
 */
#ifndef SLUICE_CMD_H
#define SLUICE_CMD_H

int	cmd_serve(int argc, char **argv);
int	cmd_migrate(int argc, char **argv);
int	cmd_validate(int argc, char **argv);
int	cmd_token(int argc, char **argv);
int	cmd_version(int argc, char **argv);

/*
 * Load the configuration for a command: --config FILE and any number of
 * --set KEY=VALUE (dotted key paths, winning over file and environment)
 * from argv (removed from argv, argc updated), SLUICE_* from the
 * environment.  Sets up logging from it.  Prints the error to stderr and
 * returns NULL on failure.
 */
struct cfg;
struct cfg *cli_load_config(int *argc, char **argv);

#endif
