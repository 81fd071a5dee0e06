/*
 * ctl.h - struct ctl, the one context of a running controller: the
 * configuration and the edges (database, HTTP server, executor, poller,
 * engine).  Passed explicitly; there is no global.  Only the type lives
 * here: `sluice serve` (cmd_serve.c) fills it in and wires the edges.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <signal.h>
#include <time.h>


struct cfg;
struct db;
struct dbpool;
struct err;
struct events_hub;
struct auth_cache;
struct engine;
struct http_server;
struct poller;
struct metric;
struct metrics;
struct ratelimit;
struct retrain_request;
struct retrain_result;

struct ctl {
	struct cfg		*cfg;		/* owned */
	struct http_server	*http;		/* owned */
	struct poller		*poller;	/* owned */
	struct engine		*engine;	/* owned; engine_wake() from any
						   thread (REST API) */
	time_t			 started_at;
	/*
	 * The HTTP edge (all owned; each thread-safe): database connections
	 * of the HTTP threads, the metrics registry, rate limits per client
	 * address of failed authentications and of webhook calls.
	 */
	struct dbpool		*dbpool;
	struct metrics		*metrics;
	struct ratelimit	*auth_failures;
	struct ratelimit	*hook_calls;
	/* Handles of the edge's metrics (api_metrics_register). */
	struct metric		*m_http_requests;
	struct metric		*m_http_duration;
	struct metric		*m_webhook_deliveries;
	struct metric		*m_poll_errors;	/* the poller counts */
	void			*lineage;	/* api_metrics.c's collector */
	/*
	 * The HMAC secret of the webhooks, read once at start from the
	 * variable named by cfg->webhook_secret_env; NULL when unset (hooks
	 * then answer 503).  Owned.
	 */
	char			*webhook_secret;
	/*
	 * Run creation for POST /api/v1/hooks/retrain/{pipeline}:
	 * run_request_retrain, set by serve_edge_init (tests may replace it).
	 * Called inside the transaction that records the delivery, on db;
	 * see webhook.h.
	 */
	int			(*retrain)(struct ctl *ctl, struct db *db,
				    const struct retrain_request *rq,
				    struct retrain_result *out,
				    struct err *err);
	/*
	 * Live run, stage and approval events for Server-Sent Events
	 * clients (events.h): one LISTEN connection fanned out.  Owned;
	 * made by serve_edge_init, its thread started by the first client.
	 */
	struct events_hub	*events;
	/*
	 * Tokens and sessions looked up lately (auth_cache.h), emptied by
	 * NOTIFY sluice_auth.  Owned; made by serve_edge_init; NULL: none.
	 */
	struct auth_cache	*auth_cache;
	/*
	 * Readiness parts, set by the loop that owns each edge and read by
	 * /readyz from HTTP threads (plain ints written whole).
	 */
	volatile int		 db_ready;
	volatile int		 migrations_ready;
	volatile int		 executor_ready;
	char			 not_ready_reason[256];
};

#endif
