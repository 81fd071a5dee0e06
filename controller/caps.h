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
#define LIM_CONFIG_REPOS	256		/* repositories: entries */
#define LIM_NAME		63		/* DNS-1123 label */
#define LIM_PATH		4096		/* a file system path */
#define LIM_URL			2048
#define LIM_CONFIG_BRANCHES	64		/* branches: of one repository */
#define LIM_CONFIG_OVERRIDES	64		/* --set KEY=VALUE flags */

/* Pipeline definitions */
#define LIM_PIPELINE_FILE	(1024 * 1024)	/* one pipeline YAML file */
#define LIM_YAML_DEPTH		64		/* nesting of mappings/sequences */
#define LIM_YAML_ALIASES	1000		/* alias expansions per file */
#define LIM_YAML_NODES		200000		/* nodes per document */
#define LIM_STAGES		1000
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
#define LIM_HTTP_CONNECTIONS	512
#define LIM_HTTP_CONN_MEMORY	(256 * 1024)
#define LIM_HTTP_TIMEOUT_S	30		/* idle connection */
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
#define LIM_POLL_SLOTS		LIM_CONFIG_REPOS /* repositories polled */

/* Pipeline definitions: more caps (pipeline.c) */
#define LIM_PIPELINE_EXPANDED	(4 * 1024 * 1024) /* scalar bytes after aliases
						     and defaults are expanded */
#define LIM_PIPELINE_JSON	(32 * 1024 * 1024) /* canonical JSON of one */
#define LIM_PIPELINE_ERROR_MSG	1024		/* one error message */
#define LIM_CANARY_STEPS	100
/* Local executor */
#define LIM_EXEC_SPEC		(1024 * 1024)	/* an attempt's spec.json */
#define LIM_EXEC_ARGS		4096		/* argv or env entries of an attempt */

/* Engine (stage output, reconcile loop) */
#define LIM_OUTPUT_LINE		16384		/* a ::metric/::artifact line */
#define LIM_OUTPUT_METRICS	100000		/* metric values kept per attempt */
#define LIM_OUTPUT_ARTIFACTS	1000		/* artifacts per attempt */
#define LIM_LOG_CHUNK		(1024 * 1024)	/* log bytes read at once */
#define LIM_ENGINE_PIPELINES	64		/* parsed definitions cached */
#define LIM_ENGINE_TAILS	4096		/* running attempts' log offsets */

#endif
