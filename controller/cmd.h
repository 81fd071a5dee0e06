/*
 * cmd.h - the subcommands of bin/sluice (docs/operations.md lists them).
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
int	cmd_gc(int argc, char **argv);

/*
 * Load the configuration for a command: --config FILE and any number of
 * --set KEY=VALUE (dotted key paths, winning over file and environment)
 * from argv (removed from argv, argc updated), SLUICE_* from the
 * environment.  Sets up logging from it.  Prints the error to stderr and
 * returns NULL on failure.
 */
struct cfg;
struct cfg *cli_load_config(int *argc, char **argv);

/*
 * The HTTP edge of `sluice serve` (cmd_serve.c), shared with the tests
 * that start a real server.
 *
 * serve_edge_init creates the parts of the edge from ctl->cfg: the
 * database pool (api.db_connections connections, opened lazily, each
 * statement capped at api.statement_timeout), the metrics
 * registry with the edge's families, the rate limiters, a copy of
 * webhook_secret (NULL or "" = hooks answer 503), the events hub (its
 * listener starts with the first client) and ctl->retrain.  Opens no
 * connection; cannot fail.  serve_edge_release frees them after the HTTP
 * server stopped.
 */
struct ctl;
struct err;
void	serve_edge_init(struct ctl *ctl, const char *webhook_secret);
void	serve_edge_release(struct ctl *ctl);

/*
 * Start the HTTP server on ctl->cfg->listen with the route table, the
 * guard (http/auth.h) and the metrics observer.  Errors as http_start.
 */
int	serve_http_start(struct ctl *ctl, struct err *err)
	    __attribute__((warn_unused_result));

#endif
