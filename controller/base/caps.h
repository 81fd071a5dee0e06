/*
 * caps.h - every cap in Sluice, in one place.
 *
 * A bounded buffer that would grow past its cap fails with ERR_TOOBIG.
 * Change a number here, never inline.  (Named caps.h, not limits.h, so
 * that it can never shadow the C library's <limits.h>.)
 */
#ifndef SLUICE_CAPS_H
#define SLUICE_CAPS_H

/* Configuration */
#define LIM_CONFIG_FILE		(1024 * 1024)	/* sluice.yaml */
#define LIM_CONFIG_REPOS	100000		/* repositories: entries, hard cap
					   (max_repositories is the
					   configured one) */
#define LIM_NAME		63		/* DNS-1123 label */
#define LIM_PATH		4096		/* a file system path */
#define LIM_URL			2048
#define LIM_CONFIG_BRANCHES	64		/* branches: of one repository */
#define LIM_CONFIG_OVERRIDES	64		/* --set KEY=VALUE flags */
#define LIM_CONFIG_ENV_PATTERNS	64		/* api_env_allowlist: entries */
#define LIM_CONFIG_NOTIFICATIONS 64		/* notifications: entries */
#define LIM_NOTIFY_BODY		(64 * 1024)	/* a notification's text */
#define LIM_NOTIFY_ATTEMPTS	20		/* a delivery's tries */
#define LIM_NOTIFY_BACKOFF_MS	1000		/* first retry; doubles */
#define LIM_NOTIFY_BACKOFF_MAX_MS (30 * 1000)	/* ... up to this */
#define LIM_NOTIFY_TIMEOUT_MS	(10 * 1000)	/* one POST */
#define LIM_NOTIFY_BATCH	32		/* outbox rows per fan-out */

/* Pipeline definitions */
#define LIM_PIPELINE_FILE	(1024 * 1024)	/* one pipeline YAML file */
#define LIM_YAML_DEPTH		64		/* nesting of mappings/sequences */
#define LIM_YAML_ALIASES	1000		/* alias expansions per file */
#define LIM_YAML_NODES		200000		/* nodes per document */
#define LIM_STAGES		1000
#define LIM_SCHEDULES		32		/* triggers.schedule entries */
#define LIM_PIPELINE_ERRORS	1000		/* errors reported per file */

/* Logging */
#define LIM_LOG_LINE		4096

/* Database */
#define LIM_DB_URL		4096
#define LIM_MIGRATIONS		1000
#define LIM_MIGRATION_FILE	(4 * 1024 * 1024)
#define LIM_MIGRATION_NAME	128		/* NNNN_description.sql */
#define LIM_DB_PARAMS		32		/* $n parameters of one statement */
#define LIM_TOKEN		128		/* a presented API token */

/* HTTP */
#define LIM_HTTP_BODY		(1024 * 1024)	/* request bodies, 413 past it */
#define LIM_HTTP_CONNECTIONS	1024		/* requests being served (a
						   thread each) */
#define LIM_HTTP_ANON_ACTIVE	256		/* of those, without
						   credentials; the rest is
						   kept for requests with a
						   token or cookie and for
						   /healthz and /readyz */
#define LIM_HTTP_PENDING	4096		/* connections still sending
						   their head (no thread);
						   the oldest gives way */
#define LIM_HTTP_PER_ADDRESS	64		/* open
						   connections of one client
						   address (IPv6: one /64) */
#define LIM_HTTP_HEAD		(16 * 1024)	/* a request head, 431 past it */
#define LIM_HTTP_HEAD_MS	(10 * 1000)	/* the whole head, 408 past it */
#define LIM_HTTP_BODY_MS	(60 * 1000)	/* the whole body, closed past it */
#define LIM_HTTP_FD_SPARE	256		/* descriptors kept for the rest
						   of the process */
#define LIM_HTTP_BACKLOG	1024		/* listen(2) queue */
#define LIM_HTTP_THREAD_STACK	(1024 * 1024)	/* a connection thread's stack */
#define LIM_HTTP_BIND_RETRY_MS	(10 * 1000)	/* port still held at start-up */
#define LIM_HTTP_BIND_RETRY_STEP_MS 500
#define LIM_HTTP_CONN_MEMORY	(256 * 1024)
#define LIM_HTTP_TIMEOUT_S	30		/* idle connection */
#define LIM_HTTP_KEEPALIVE_MS	(5 * 1000)	/* the next request head on a
						   kept connection, whole */
#define LIM_HTTP_KEEPALIVE_REQUESTS 1000	/* requests of one connection */
#define LIM_HTTP_RESPONSE	(16 * 1024 * 1024)	/* a buffered response */

/* Stage logs */
#define LIM_STAGE_LOG		(64 * 1024 * 1024)

/* Git sources (gitsrc) */
#define LIM_GIT_REFS		100000		/* refs listed from one remote */
#define LIM_GIT_BRANCHES	256		/* branches per fetch */
#define LIM_GIT_COMMITS		10000		/* new commits returned per push */
#define LIM_GIT_MESSAGE		4096		/* commit message bytes kept */
#define LIM_GIT_DIR_FILES	1000		/* pipeline files in one folder */
#define LIM_GIT_CHANGED_PATHS	100000		/* paths of one tree diff */
#define LIM_GIT_TREE_DEPTH	256		/* folder nesting in an export */
#define LIM_GIT_EXPORT_FILES	1000000		/* entries written by one export */
#define LIM_KNOWN_HOSTS_FILE	(4 * 1024 * 1024)	/* ssh known_hosts */

/* Git polling */
#define LIM_POLL_LS_TIMEOUT_MS	(20 * 1000)	/* listing a remote's refs */
#define LIM_POLL_FETCH_TIMEOUT_MS (120 * 1000)	/* one fetch */
#define LIM_POLL_BACKOFF_MS	(5 * 60 * 1000)	/* longest wait after failures */
#define LIM_POLL_COMMITS	100		/* commits recorded per push */
#define LIM_POLL_SLOTS		LIM_CONFIG_REPOS /* repositories polled, hard cap
					   (max_repositories is the
					   configured one) */
#define LIM_POLL_OPEN_SOURCES	256		/* mirrors kept open between
					   polls (least recently polled
					   closed first) */
#define LIM_POLL_RESCAN_MS	5000		/* longest wait between two
					   reads of the repository list */

/* Pipeline definitions: more caps (pipeline.c) */
#define LIM_PIPELINE_EXPANDED	(4 * 1024 * 1024) /* scalar bytes after aliases
						     and defaults are expanded */
#define LIM_PIPELINE_JSON	(32 * 1024 * 1024) /* canonical JSON of one */
#define LIM_PIPELINE_ERROR_MSG	1024		/* one error message */
#define LIM_CANARY_STEPS	100
#define LIM_ANALYSIS_QUERIES	10		/* analysis.queries of a step */
#define LIM_ANALYSIS_MEASUREMENTS 1000		/* per query and step */
#define LIM_PROMQL_QUERY	4096		/* a query, as written */
#define LIM_PROMQL_SUBST	16384		/* a query, substituted */
#define LIM_PROMETHEUS_ADDRESS	1024		/* analysis_provider address */
#define LIM_PROMETHEUS_ANSWER	(1024 * 1024)	/* one /api/v1/query answer */
/* Local executor */
#define LIM_EXEC_SPEC		(1024 * 1024)	/* an attempt's spec.json */
#define LIM_EXEC_ARGS		4096		/* argv or env entries of an attempt */
/* HTTP edge: database pool, authentication, sessions, rate limits */
#define LIM_DB_POOL_MAX		256		/* api.db_connections at most */
#define LIM_DB_POOL_WAIT_MS	5000		/* wait for one, then 503 */
#define LIM_RATELIMIT_KEYS	4096		/* client addresses per limiter */
#define LIM_AUTH_FAILURES	10		/* failed sign-ins per address ... */
#define LIM_AUTH_FAILURE_PERIOD_S 60		/* ... per this many seconds */
#define LIM_AUTH_CACHE		1024		/* tokens and sessions cached per process */
#define LIM_AUTH_CACHE_TTL_MS	10000		/* how long a cached lookup is trusted */
#define LIM_HOOK_CALLS		120		/* webhook calls per address ... */
#define LIM_HOOK_CALL_PERIOD_S	60		/* ... per this many seconds */
#define LIM_SESSION_ID		128		/* a presented session cookie */
#define LIM_QUERY_PARAMS	32		/* query parameters of a request */

/* JSON request bodies (jsonin.h) */
#define LIM_JSON_STRING		(64 * 1024)	/* a string value, by default */
#define LIM_JSON_MAP		256		/* entries of a string map */

/* Webhooks */
#define LIM_DELIVERY_ID		200		/* X-GitHub-Delivery, X-Sluice-Delivery */
#define LIM_HOOK_PARAMS		64		/* params of a retrain request */
#define LIM_HOOK_REASON		1024		/* reason of a retrain request */

/* Metrics (metrics.h) */
#define LIM_METRIC_FAMILIES	256
#define LIM_METRIC_LABELS	8		/* label names of one family */
#define LIM_METRIC_SERIES	2000		/* label value sets per family */
#define LIM_METRIC_BUCKETS	32		/* histogram buckets */
#define LIM_METRIC_COLLECTORS	32		/* scrape-time callbacks */
#define LIM_METRIC_LABEL_VALUE	256		/* bytes of one label value */
#define LIM_METRICS_TEXT	(8 * 1024 * 1024)	/* one scrape */
/* Kubernetes */
#define LIM_KUBECONFIG_FILE	(1024 * 1024)	/* one kubeconfig file */
#define LIM_KUBECONFIG_FILES	16		/* entries of $KUBECONFIG */
#define LIM_KUBE_PEM		(256 * 1024)	/* a CA bundle, cert or key */
#define LIM_KUBE_TOKEN		(64 * 1024)	/* a bearer token */
#define LIM_KUBE_RESPONSE	(32 * 1024 * 1024)	/* one API answer */
#define LIM_KUBE_OBJECT		(4 * 1024 * 1024)	/* one watch event */
#define LIM_KUBE_SELECTOR	1024		/* a label or field selector */
#define LIM_KUBE_LIST_ITEMS	100000		/* objects of one list */
#define LIM_KUBE_LOG_CACHE	(256 * 1024 * 1024)	/* stage logs kept in
							   memory by the
							   Kubernetes executor */

/* Engine (stage output, reconcile loop) */
#define LIM_OUTPUT_LINE		16384		/* a ::metric/::artifact line */
#define LIM_OUTPUT_METRICS	100000		/* metric values kept per attempt */
#define LIM_OUTPUT_ARTIFACTS	1000		/* artifacts per attempt */
#define LIM_LOG_CHUNK		(1024 * 1024)	/* log bytes read at once */
#define LIM_ENGINE_PIPELINES	64		/* parsed definitions cached */
#define LIM_ENGINE_TAILS	4096		/* running attempts' log offsets */
#define LIM_TRAFFIC_FOLLOW	64		/* manual production changes whose
						   traffic one pass moves */
#define LIM_ENGINE_START_BATCH	256		/* attempts written in one
						   statement, and started by
						   one pass */

/* REST API resources (api_*.c, store_query_*.c, events.c) */
#define LIM_API_PAGE		200		/* items of one page (?limit=) */
#define LIM_API_PAGE_DEFAULT	50
#define LIM_MODEL_TARGET	253		/* a canary target's name */
#define LIM_API_CURSOR		256		/* bytes of a ?cursor= */
#define LIM_API_LIST		10000		/* items of an unpaged list */
#define LIM_RUN_PARAMS		64		/* params of one run request */
#define LIM_RUN_REASON		1024		/* reason of one run request */
#define LIM_LOG_STREAM_CHUNK	(64 * 1024)	/* log bytes sent per read of a follow */
#define LIM_LOG_FOLLOW_S	(24 * 3600)	/* longest ?follow=1 of a log */
#define LIM_LOG_POLL_MS		1000		/* status checks while following */
#define LIM_EVENTS_RING		1024		/* live events kept for SSE clients */
#define LIM_EVENT_PAYLOAD	8000		/* a NOTIFY payload (PostgreSQL's cap) */
#define LIM_EVENTS_REPLAY	1000		/* events replayed after Last-Event-ID */
#define LIM_EVENTS_CLIENTS	256		/* SSE clients at once */
#define LIM_EVENTS_PING_S	15		/* SSE heartbeat */
#define LIM_HTTP_STREAM_IDLE_S	3600		/* a streamed answer sending nothing */
#define LIM_KUBE_NODES_CACHED	8192		/* nodes whose GPU product the
						   Kubernetes executor keeps */

/* Multi-node stages (pipeline `nodes`, config `max_nodes`) */
#define LIM_STAGE_NODES		1024		/* nodes of one stage, hard cap */
#define STAGE_MASTER_PORT	29500		/* SLUICE_MASTER_PORT on Kubernetes */

/* Logs kept by the controller (store_log.c, engine.c, kube/exec_kube*.c) */
#define LIM_LOG_KEEP_CHUNK	(256 * 1024)	/* log bytes the engine reads and
						   stores at once (one chunk) */
#define LIM_LOG_KEEP_MARKER	512		/* a [sluice] marker line */
#define LIM_LOG_KEEP_PASS	(8 * 1024 * 1024)	/* bytes one pass keeps
							   of one attempt */
#define LIM_LOG_SOURCE		253		/* a log source (pod) name */
#define LIM_LOG_MAX_BYTES	(1024LL * 1024 * 1024 * 1024)	/* logs.max_bytes */
#define LIM_LOG_NODES		1024		/* ?node= of a log */
#define LIM_KUBE_LOG_STREAM	(4 * 1024 * 1024)	/* a followed pod log
							   not taken yet */

/* The command-line client (client/) */
#define LIM_CLIENT_CONFIG	(64 * 1024)	/* ~/.config/sluice/client.yaml */
#define LIM_CLIENT_ANSWER	(32 * 1024 * 1024)	/* one JSON answer */
#define LIM_CLIENT_PARAMS	64		/* --param K=V flags */
#define LIM_CLIENT_ARGS		16		/* positional arguments */
#define LIM_CLIENT_COLUMNS	16		/* columns of a table */
#define LIM_CLIENT_ROWS		100000		/* rows of a table */
#define LIM_CLIENT_CONNECT_MS	(10 * 1000)	/* connecting to the server */
#define LIM_CLIENT_TIMEOUT_MS	(60 * 1000)	/* one request (not a stream) */
#define LIM_CLIENT_POLL_MS	1000		/* --wait, --follow: re-reads */
#define LIM_CLIENT_RETRY_MS	(60 * 1000)	/* --wait: server away this long */

#endif
