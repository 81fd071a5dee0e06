/*
 * cmd_serve.c - `sluice serve`: the controller.
 *
 * Signals set flags; this loop acts on them: SIGTERM/SIGINT
 * stop taking work and exit 0, SIGHUP reloads the configuration and keeps
 * the old one when the new one is invalid.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/ratelimit.h"
#include "base/version.h"
#include "engine/engine.h"
#include "engine/retention.h"
#include "exec/exec_local.h"
#include "exec/executor.h"
#include "git/poller.h"
#include "http/api_metrics.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/events.h"
#include "http/auth_cache.h"
#include "http/http.h"
#include "http/routes.h"
#include "http/run_request.h"
#include "kube/exec_kube.h"
#include "notify/notify.h"
#include "store/db.h"
#include "store/dbpool.h"
#include "store/migrate.h"
#include "store/store_run.h"
#include "cmd.h"

void
serve_edge_init(struct ctl *ctl, const char *webhook_secret)
{
	ctl->dbpool = dbpool_new(ctl->cfg->database_url,
	    ctl->cfg->api_db_connections, LIM_DB_POOL_WAIT_MS);
	dbpool_set_statement_timeout(ctl->dbpool,
	    ctl->cfg->api_statement_timeout_ms);
	ctl->metrics = metrics_new();
	api_metrics_register(ctl);
	ctl->auth_failures = ratelimit_new(LIM_AUTH_FAILURES,
	    LIM_AUTH_FAILURE_PERIOD_S, LIM_RATELIMIT_KEYS);
	ctl->hook_calls = ratelimit_new(LIM_HOOK_CALLS, LIM_HOOK_CALL_PERIOD_S,
	    LIM_RATELIMIT_KEYS);
	ctl->webhook_secret = webhook_secret != NULL &&
	    webhook_secret[0] != '\0' ? xstrdup(webhook_secret) : NULL;
	ctl->retrain = run_request_retrain;
	ctl->events = events_hub_new(ctl->cfg->database_url);
	ctl->auth_cache = auth_cache_new(ctl->cfg->database_url);
}

void
serve_edge_release(struct ctl *ctl)
{
	events_hub_free(ctl->events);
	ctl->events = NULL;
	auth_cache_free(ctl->auth_cache);
	ctl->auth_cache = NULL;
	metrics_free(ctl->metrics);
	ctl->metrics = NULL;
	api_metrics_lineage_free(ctl);
	dbpool_free(ctl->dbpool);
	ratelimit_free(ctl->auth_failures);
	ratelimit_free(ctl->hook_calls);
	if (ctl->webhook_secret != NULL) {
		explicit_bzero(ctl->webhook_secret,
		    strlen(ctl->webhook_secret));
		free(ctl->webhook_secret);
	}
	ctl->dbpool = NULL;
	ctl->metrics = NULL;
	ctl->auth_failures = ctl->hook_calls = NULL;
	ctl->webhook_secret = NULL;
	ctl->m_http_requests = ctl->m_http_duration = NULL;
	ctl->m_webhook_deliveries = ctl->m_poll_errors = NULL;
}

int
serve_http_start(struct ctl *ctl, struct err *err)
{
	struct http_options o;

	memset(&o, 0, sizeof(o));
	o.listen = ctl->cfg->listen;
	o.routes = ctl_routes;
	o.web_dir = ctl->cfg->web_dir;
	o.guard = auth_guard;
	o.observe = api_observe;
	o.ctx = ctl;
	return http_start_opts(&ctl->http, &o, err);
}

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

/* Sleep ms milliseconds unless a stop is requested first. */
static void
pause_ms(int ms)
{
	while (ms > 0 && !stop_requested) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		ms -= 50;
	}
}

/*
 * Connect to the database, waiting for it with backoff (a controller
 * started together with PostgreSQL must not give up), then check or
 * apply migrations.  Returns 0, or -1 when stopped or when migrations are
 * pending without --migrate or cannot be applied.
 */
static int
connect_database(struct ctl *ctl, struct db **db, const char *migdir,
    int migrate)
{
	struct err err;
	int delay = 250;

	err_clear(&err);
	while (!stop_requested) {
		if (db_open(db, ctl->cfg->database_url, &err) == 0)
			break;
		(void)str_copy(ctl->not_ready_reason,
		    sizeof(ctl->not_ready_reason), err.msg);
		log_warn("database unavailable, retrying",
		    "error=\"%s\" retry_ms=%d", err.msg, delay);
		pause_ms(delay);
		if (delay < 5000)
			delay *= 2;
	}
	if (stop_requested)
		return -1;
	ctl->db_ready = 1;
	ctl->not_ready_reason[0] = '\0';
	if (migrate_ensure(*db, migdir, migrate, &err) < 0) {
		log_error("migrations", "dir=%s error=\"%s\"", migdir, err.msg);
		fprintf(stderr, "sluice serve: %s\n", err.msg);
		return -1;
	}
	ctl->migrations_ready = 1;
	return 0;
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

/* exec_kube_reconcile's question: is this Job's run still going? */
static int
run_is_active(void *arg, int64_t run_id, const char *stage, int attempt)
{
	struct err err;
	int active = 0;

	(void)stage;
	(void)attempt;
	if (store_run_is_active(arg, run_id, &active, &err) < 0) {
		log_warn("reconcile: cannot read run", "run=%lld error=\"%s\"",
		    (long long)run_id, err.msg);
		return -1;
	}
	return active;
}

/*
 * The executor of cfg->executor and the engine driving it, started.  With
 * Kubernetes, Jobs of finished runs left by an earlier controller are
 * deleted first and the others are adopted by the engine by name.
 */
static int
start_engine(struct ctl *ctl, struct db *db, struct executor *ex,
    struct err *err)
{
	int rc;

	if (ctl->cfg->executor == EXECUTOR_KUBERNETES) {
		if ((rc = exec_kube_new(ex, ctl->cfg, err)) < 0)
			return rc;
		exec_kube_metrics(ex->impl, ctl->metrics);
		if ((rc = exec_kube_reconcile(ex->impl, run_is_active, db,
		    err)) < 0)
			log_warn("kubernetes reconciliation incomplete",
			    "error=\"%s\"", err->msg);
	} else if ((rc = exec_local_new(ex, ctl->cfg->state_dir, err)) < 0) {
		return rc;
	}
	if ((rc = engine_new(&ctl->engine, ctl->cfg, *ex, err)) < 0)
		return rc;
	if (ctl->cfg->executor == EXECUTOR_KUBERNETES) {
		const char *ns;
		struct kube_api *k = exec_kube_api(ex->impl, &ns);

		engine_set_kube(ctl->engine, k, ns);
	}
	if ((rc = engine_start(ctl->engine, err)) < 0)
		return rc;
	ctl->executor_ready = ctl->cfg->executor != EXECUTOR_KUBERNETES;
	return 0;
}

/* Readiness of the executor, for /readyz (Kubernetes: credentials, watch). */
static void
check_executor(struct ctl *ctl, const struct executor *ex)
{
	struct err err;
	int ok;

	if (ctl->cfg->executor != EXECUTOR_KUBERNETES || ex->impl == NULL)
		return;
	ok = exec_kube_ready(ex->impl, &err) == 0;
	if (ok != ctl->executor_ready)
		log_info(ok ? "kubernetes ready" : "kubernetes not ready",
		    "error=\"%s\"", ok ? "" : err.msg);
	if (!ok && ctl->db_ready)
		(void)str_copy(ctl->not_ready_reason,
		    sizeof(ctl->not_ready_reason), err.msg);
	ctl->executor_ready = ok;
}

int
cmd_serve(int argc, char **argv)
{
	struct ctl ctl;
	struct err err;
	struct db *db = NULL;
	struct executor ex = { NULL, NULL };
	struct retention *retention = NULL;
	struct notify *notifier = NULL;
	char migdir[LIM_PATH];
	int migrate = 0, status = 1;
	time_t last_ping = 0;

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
	install_signals();
	ctl.started_at = time(NULL);
	if (migrate_find_dir(migdir, sizeof(migdir), NULL,
	    getenv("SLUICE_MIGRATIONS_DIR"), &err) < 0) {
		fprintf(stderr, "sluice serve: %s\n", err.msg);
		goto out;
	}
	serve_edge_init(&ctl, ctl.cfg->webhook_secret_env != NULL &&
	    ctl.cfg->webhook_secret_env[0] != '\0' ?
	    getenv(ctl.cfg->webhook_secret_env) : NULL);
	if (ctl.webhook_secret == NULL)
		log_warn("webhook secret not configured", "variable=%s "
		    "effect=\"hooks answer 503\"", ctl.cfg->webhook_secret_env);
	if (serve_http_start(&ctl, &err) < 0) {
		log_error("cannot start http server", "listen=%s error=\"%s\"",
		    ctl.cfg->listen, err.msg);
		goto out;
	}
	/* /healthz answers while the database is awaited; /readyz does not. */
	if (connect_database(&ctl, &db, migdir, migrate) < 0) {
		status = stop_requested ? 0 : 1;
		goto out;
	}
	if (poller_start(&ctl.poller, ctl.cfg, &err) < 0) {
		log_error("cannot start the poller", "error=\"%s\"", err.msg);
		fprintf(stderr, "sluice serve: %s\n", err.msg);
		goto out;
	}
	poller_count_errors(ctl.poller, ctl.m_poll_errors);
	if (start_engine(&ctl, db, &ex, &err) < 0) {
		log_error("cannot start the engine", "error=\"%s\"", err.msg);
		fprintf(stderr, "sluice serve: %s\n", err.msg);
		goto out;
	}
	if (retention_start(&retention, ctl.cfg, ctl.engine, &err) < 0)
		log_warn("no retention sweep", "error=\"%s\"", err.msg);
	if (notify_start(&notifier, ctl.cfg, &err) < 0) {
		log_error("cannot start the notification sender", "error=\"%s\"",
		    err.msg);
		goto out;
	}
	log_info("sluice started", "version=%s listen=%s executor=%s port=%d",
	    SLUICE_VERSION, ctl.cfg->listen,
	    ctl.cfg->executor == EXECUTOR_KUBERNETES ? "kubernetes" : "local",
	    http_port(ctl.http));
	while (!stop_requested) {
		pause_ms(200);
		if (time(NULL) - last_ping >= 2) {
			int ok = db_ping(db, &err) == 0;

			if (ok != ctl.db_ready)
				log_info(ok ? "database reachable" :
				    "database unreachable", "error=\"%s\"",
				    ok ? "" : err.msg);
			if (!ok)
				(void)str_copy(ctl.not_ready_reason,
				    sizeof(ctl.not_ready_reason), err.msg);
			ctl.db_ready = ok;
			check_executor(&ctl, &ex);
			last_ping = time(NULL);
		}
		if (reload_requested) {
			reload_requested = 0;
			log_info("reload requested", "file=%s",
			    ctl.cfg->file ? ctl.cfg->file : "-");
		}
	}
	log_info("sluice stopping", "reason=signal");
	status = 0;
out:
	retention_stop(retention);
	/* HTTP threads borrow the executor: stop them first */
	http_stop(ctl.http);
	notify_stop(notifier);
	/* stage attempts keep running: a restarted engine adopts them */
	engine_free(ctl.engine);
	if (ex.ops != NULL)
		ex.ops->free(ex.impl);
	poller_stop(ctl.poller);
	serve_edge_release(&ctl);
	db_free(db);
	cfg_free(ctl.cfg);
	return status;
}
