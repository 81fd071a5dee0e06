/* ctl.c - the parts of struct ctl shared by `sluice serve` and tests. */
#include <stdlib.h>
#include <string.h>

#include "api_metrics.h"
#include "auth.h"
#include "buf.h"
#include "caps.h"
#include "cfg.h"
#include "ctl.h"
#include "dbpool.h"
#include "events.h"
#include "http.h"
#include "metrics.h"
#include "ratelimit.h"
#include "run_request.h"

void
ctl_edge_init(struct ctl *ctl, const char *webhook_secret)
{
	ctl->dbpool = dbpool_new(ctl->cfg->database_url, LIM_DB_POOL,
	    LIM_DB_POOL_WAIT_MS);
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
}

void
ctl_edge_release(struct ctl *ctl)
{
	events_hub_free(ctl->events);
	ctl->events = NULL;
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
ctl_http_start(struct ctl *ctl, struct err *err)
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
