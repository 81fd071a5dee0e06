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

/* Kubernetes */
#define LIM_KUBECONFIG_FILE	(1024 * 1024)	/* one kubeconfig file */
#define LIM_KUBECONFIG_FILES	16		/* entries of $KUBECONFIG */
#define LIM_KUBE_PEM		(256 * 1024)	/* a CA bundle, cert or key */
#define LIM_KUBE_TOKEN		(64 * 1024)	/* a bearer token */
#define LIM_KUBE_RESPONSE	(32 * 1024 * 1024)	/* one API answer */
#define LIM_KUBE_OBJECT		(4 * 1024 * 1024)	/* one watch event */
#define LIM_KUBE_SELECTOR	1024		/* a label or field selector */
#define LIM_KUBE_LIST_ITEMS	100000		/* objects of one list */

#endif
