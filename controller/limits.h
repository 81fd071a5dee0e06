/*
 * limits.h - every cap in Sluice, in one place.
 *
 * A bounded buffer that would grow past its cap fails with ERR_TOOBIG.
 * Change a number here, never inline.
 */
#ifndef SLUICE_LIMITS_H
#define SLUICE_LIMITS_H

/* Configuration */
#define LIM_CONFIG_FILE		(1024 * 1024)	/* sluice.yaml */
#define LIM_CONFIG_REPOS	256		/* repositories: entries */
#define LIM_NAME		63		/* DNS-1123 label */
#define LIM_PATH		4096		/* a file system path */
#define LIM_URL			2048

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

/* HTTP */
#define LIM_HTTP_BODY		(1024 * 1024)	/* request bodies, 413 past it */
#define LIM_HTTP_CONNECTIONS	512
#define LIM_HTTP_CONN_MEMORY	(256 * 1024)
#define LIM_HTTP_TIMEOUT_S	30

/* Stage logs */
#define LIM_STAGE_LOG		(64 * 1024 * 1024)

/* Pipeline definitions: more caps (pipeline.c) */
#define LIM_PIPELINE_EXPANDED	(4 * 1024 * 1024) /* scalar bytes after aliases
						     and defaults are expanded */
#define LIM_PIPELINE_JSON	(32 * 1024 * 1024) /* canonical JSON of one */
#define LIM_PIPELINE_ERROR_MSG	1024		/* one error message */
#define LIM_CANARY_STEPS	100

#endif
