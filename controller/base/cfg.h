/*
 * cfg.h - configuration (docs/configuration.md).
 *
 * Sources, later ones winning: built-in defaults, the YAML file
 * (--config FILE, else ./sluice.yaml when present), SLUICE_* environment
 * variables (SLUICE_DATABASE_URL, SLUICE_KUBERNETES_NAMESPACE, ...), then
 * command-line flags.  Everything is validated before the result is
 * returned: unknown keys and bad values fail with the key's path, e.g.
 *
 *	repositories[1].interval: "5x" is not a duration
 *
 * All strings in struct cfg are owned by it and freed by cfg_free().
 */
#ifndef SLUICE_CFG_H
#define SLUICE_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/log.h"
#include "base/podsec.h"

enum cfg_executor { EXECUTOR_LOCAL = 0, EXECUTOR_KUBERNETES };

struct cfg_repo {
	char	*name;			/* DNS-1123 label, unique */
	char	*url;			/* file://, https://, ssh://, git:// */
	char	**branches;		/* NULL-terminated; default {"main"} */
	size_t	 nbranches;
	char	*path;			/* folder scanned, default "pipelines" */
	int64_t	 interval_ms;		/* default: cfg.poll_interval_ms */
	char	*token_env;		/* auth.token_env or NULL */
	char	*ssh_key_file;		/* auth.ssh_key_file or NULL */
	char	*known_hosts_file;	/* auth.known_hosts_file or NULL */
	int	 allow_insecure_http;	/* auth.allow_insecure_http: send
					   credentials over http:// (0) */
	char	*kubernetes_secret;	/* Secret with the credentials the
					   checkout init container uses, or
					   NULL (docs/kubernetes.md) */
	/* commit_status: statuses posted to the Git host (all NULL: none) */
	char	*cs_provider;		/* "github" | "gitlab" */
	char	*cs_api_url;		/* NULL: the provider's public API */
	char	*cs_token_env;		/* the variable holding the token */
	char	*cs_repo;		/* github: owner/name */
	char	*cs_project;		/* gitlab: id or group/name */
};

/*
 * One entry of "notifications": where events are posted.  The URL is
 * read from the environment variable url_env when a delivery is sent, so
 * it never sits in the file, the dump or the database.
 */
struct cfg_notification {
	char	*name;			/* DNS-1123 label, unique */
	char	*url_env;
	char	*format;		/* "slack" | "json" */
	char	**events;		/* NULL-terminated, at least one of
					   CFG_NOTIFY_EVENTS */
	size_t	 nevents;
	char	*secret_env;		/* json: the HMAC key's variable */
};

/* The events a notification may subscribe to. */
#define CFG_NOTIFY_EVENTS \
	"approval_requested, run_failed, model_promoted, rollout_rolled_back"

struct cfg_kube {
	char	*kubeconfig;		/* "" = $KUBECONFIG, else in-cluster */
	char	*context;
	char	*namespace;
	double	 qps;			/* 20 */
	int	 burst;			/* 40 */
	int	 max_gpus;		/* 0 = no cap */
	int64_t	 ttl_after_finished_ms;	/* 1h */
	char	*checkout_image;	/* alpine/git:2.45.2 */
	/* security_context: the identity of stage pods that set none
	   (-1 = left unset) */
	int	 sc_run_as_user;	/* 65532 */
	int	 sc_run_as_group;	/* -1 */
	int	 sc_fs_group;		/* 65532 */
	int	 sc_run_as_non_root;	/* 1 */
};

struct cfg {
	char		*file;		/* the file read, or NULL */
	char		*listen;	/* 127.0.0.1:8080 */
	char		*database_url;	/* postgresql:///sluice (CFG_SECRET) */
	char		*state_dir;	/* ./var */
	enum log_level	 log_level;
	enum log_format	 log_format;
	enum cfg_executor executor;
	int		 max_parallel_stages;	/* 32 */
	int		 max_nodes;		/* 16: nodes of one stage */
	struct cfg_kube	 kubernetes;
	int64_t		 poll_interval_ms;	/* 30s */
	int64_t		 logs_max_bytes;	/* logs.max_bytes: 16MiB of each
						   attempt's (node's) log kept */
	int		 poll_workers;		/* 4 */
	int		 max_repositories;	/* 10000: polled at most */
	int64_t		 session_ttl_ms;	/* 12h */
	struct cfg_repo	*repositories;
	size_t		 nrepositories;
	char		*webhook_secret_env;	/* SLUICE_WEBHOOK_SECRET */
	char		**api_env_allowlist;	/* patterns; [SLUICE_GIT_*] */
	size_t		 napi_env_allowlist;
	int		 anonymous_read;	/* 0 */
	char		*web_dir;		/* console files, default "web" */
	/*
	 * retention.*: the default of every pipeline's spec.retention (0: no
	 * limit) and how often the active controller sweeps.
	 */
	int		 retention_keep_runs;	/* 0 */
	int64_t		 retention_max_age_ms;	/* 0 */
	int64_t		 retention_interval_ms;	/* 1h */
	char		*public_url;		/* the console as people reach it,
						   for links; NULL: http://listen */
	/*
	 * api.*: the database connections the API's requests share (the
	 * engine, the poller and the event stream have their own), and the
	 * longest one of their statements may run.
	 */
	int		 api_db_connections;	/* 8 */
	int64_t		 api_statement_timeout_ms;	/* 5s */
	struct cfg_notification *notifications;
	size_t		 nnotifications;
};

/*
 * One override from the command line (`--set KEY=VALUE`): a dotted key
 * path ("listen", "kubernetes.namespace") and its value as text, read like
 * an environment value: as the key's type ("30s", "8", "true"), and for
 * "repositories" as a YAML/JSON flow sequence.  Both strings are borrowed
 * for the duration of cfg_load().
 */
struct cfg_override {
	const char	*key;
	const char	*value;
};

/*
 * Load the configuration.  path is the --config argument or NULL (then
 * ./sluice.yaml when it exists, else defaults only).  envp is the
 * environment to read SLUICE_* from (pass environ; tests pass their own);
 * getenv() is never used.  Variables are SLUICE_ followed by the key path
 * upper-cased with '.' turned into '_' (SLUICE_KUBERNETES_MAX_GPUS);
 * SLUICE_REPOSITORIES holds a flow sequence that replaces the list.  Other
 * SLUICE_* variables are ignored.  overrides (n of them) come from flags
 * and win over everything.
 *
 * On success *out is a new struct cfg owned by the caller (cfg_free); on
 * error *out is NULL and nothing was kept (validate all, then swap).
 * Errors: ERR_INVALID with the key path in the message for unknown keys,
 * bad values and invalid YAML, with " (FILE:LINE:COL)" appended when the
 * value came from a file; for an environment value the message names the
 * variable instead.  ERR_NOTFOUND when an explicit path does not exist,
 * ERR_TOOBIG for a file over LIM_CONFIG_FILE, ERR_GENERIC when the file
 * cannot be read.  Does not block beyond reading a file.
 */
int	cfg_load(struct cfg **out, const char *path, char *const *envp,
	    const struct cfg_override *overrides, size_t n, struct err *err)
	    __attribute__((warn_unused_result));

/* kubernetes.security_context as a podsec (set 1, -1 keys unset). */
void	cfg_kube_podsec(const struct cfg_kube *k, struct podsec *out);

/* Free a configuration; NULL is a no-op. */
void	cfg_free(struct cfg *c);

/* Free the contents of one notification entry (not n itself); NULL is ok. */
void	cfg_notification_release(struct cfg_notification *n);

/* The repository entry named name, or NULL (borrowed from c). */
const struct cfg_repo *cfg_repo_find(const struct cfg *c, const char *name);

/* Free the contents of one repository entry (not r itself); NULL is ok. */
void	cfg_repo_release(struct cfg_repo *r);

/*
 * Check one repository entry built elsewhere (POST /api/v1/repositories)
 * by the rules the loader applies: name a DNS-1123 label, a supported URL,
 * a non-empty list of valid branch names, a relative path, interval at
 * least 1s (0 = the default), token_env or ssh_key_file but not both.
 * Return 0 or ERR_INVALID with a message naming the field
 * (url: "ftp://x" has an unsupported scheme ...).
 */
int	cfg_repo_check(const struct cfg_repo *r, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Whether the API may name the environment variable name (auth.token_env
 * of POST /api/v1/repositories): it matches one pattern of
 * api_env_allowlist, where '*' stands for any run of characters.  1 or 0.
 */
int	cfg_api_env_allowed(const struct cfg *c, const char *name);

/*
 * The allowlist as text for messages ("SLUICE_GIT_*, X_*", or "none")
 * into out (outlen bytes, truncated with "..." when longer).
 */
void	cfg_api_env_allowlist_text(const struct cfg *c, char *out,
	    size_t outlen);

/* Durations and sizes are parsed by units.h. */

/*
 * Append the effective configuration to out as YAML ("key: value" lines,
 * nested keys indented), durations written back as "30s", secrets masked:
 * the password of database_url (URI "postgresql://u:***@h/db" or conninfo
 * "password=***") is printed as ***.  Used by `sluice serve
 * --print-config` and in logs.  Return 0, or ERR_TOOBIG when out's cap
 * was reached (out then holds a prefix).
 */
struct buf;
int	cfg_dump(const struct cfg *c, struct buf *out);

#endif
