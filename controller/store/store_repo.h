/*
 * store_repo.h - watched repositories, their poll state and the branch
 * heads the poller has processed (tables repositories, branch_heads).
 *
 * Repositories come from sluice.yaml (source 'config', synchronised at
 * start-up) or from the API (source 'api').  Credentials are never stored:
 * only the names of the environment variable or files holding them.
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_REPO_H
#define SLUICE_STORE_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"

struct db;
struct cfg_repo;

struct repo {
	int64_t	 id;
	char	*name;
	char	*url;
	char	**branches;		/* nbranches strings */
	size_t	 nbranches;
	char	*path;
	int64_t	 interval_ms;		/* 0 = the config's poll_interval */
	char	*token_env;		/* NULL when unset */
	char	*ssh_key_file;
	char	*known_hosts_file;
	char	*source;		/* "config" | "api" */
	/* poll state */
	char	*poll_status;		/* pending | ok | failing */
	char	*last_poll_at;		/* RFC 3339 or NULL */
	char	*last_success_at;
	char	*last_error;
	char	*next_poll_at;
	int	 consecutive_failures;
	int	 refresh_requested;	/* a refresh is waiting */
	int64_t	 due_in_ms;		/* until next_poll_at; 0 = due */
};

/* Free the contents of r (NULL-safe fields). */
void	repo_release(struct repo *r);
void	repo_list_free(struct repo *list, size_t n);

/*
 * Make the 'config' repositories match cfg: insert new ones, update
 * changed ones (url, branches, path, interval, auth names), soft-delete
 * config repositories no longer listed.  API repositories are untouched;
 * a config repository whose name an API repository already uses is an
 * ERR_CONFLICT.  One transaction; events record each change.  Replicas
 * syncing at the same moment take turns.
 */
int	store_repo_sync_config(struct db *db, const struct cfg_repo *repos,
	    size_t n, struct err *err) __attribute__((warn_unused_result));

/* Every live repository, by name.  *out is caller-owned (repo_list_free). */
int	store_repo_list(struct db *db, struct repo **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));

/* One live repository by name.  ERR_NOTFOUND. */
int	store_repo_get(struct db *db, const char *name, struct repo *out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Add a repository through the API (source 'api').  ERR_CONFLICT when the
 * name is taken or when max live repositories exist already (the
 * configuration's max_repositories).  *id receives its id.
 */
int	store_repo_add(struct db *db, const struct cfg_repo *r,
	    const char *actor, int max, int64_t *id, struct err *err)
	    __attribute__((warn_unused_result));

/* Soft-delete a repository; its history stays.  ERR_NOTFOUND. */
int	store_repo_delete(struct db *db, const char *name, const char *actor,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Record the outcome of a poll: error NULL for success.  Sets
 * last_poll_at, last_success_at or last_error, consecutive_failures,
 * poll_status and next_poll_at = now + next_ms, and clears a refresh
 * request made before the poll started (started_ms, unix ms), keeping one
 * made during it.
 */
int	store_repo_polled(struct db *db, int64_t id, int64_t started_ms,
	    const char *error, int64_t next_ms, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Ask for a poll now: sets refresh_requested_at and sends NOTIFY
 * sluice_refresh with the name, so the poller of any process wakes.
 * ERR_NOTFOUND for an unknown name.
 */
int	store_repo_request_refresh(struct db *db, const char *name,
	    struct err *err) __attribute__((warn_unused_result));

/* A processed branch head. */
struct branch_head {
	char	branch[256];
	char	sha[65];
};

/* The processed heads of a repository.  *out caller-owned (free). */
int	store_branch_heads(struct db *db, int64_t repo_id,
	    struct branch_head **out, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Set (sha non-NULL) or delete (sha NULL) the processed head of a branch.
 * Meant to run inside the poller's transaction for that head.
 */
int	store_branch_head_set(struct db *db, int64_t repo_id,
	    const char *branch, const char *sha, struct err *err)
	    __attribute__((warn_unused_result));

/* A live repository, as a push hook matches pushes against it. */
struct repo_watch {
	int64_t	 id;
	char	 name[LIM_NAME + 1];
	char	*url;			/* owned */
	int	 watches_branch;	/* branch is among its branches */
};

/* The most URL keys store_repo_watching takes at once. */
#define STORE_REPO_WATCH_KEYS	5

/*
 * The live repositories (not deleted) whose URL has one of the nkeys keys
 * (at most STORE_REPO_WATCH_KEYS; a key as webhook_url_key makes it, which
 * the database's repo_url_key makes the same), by name, with whether each
 * watches branch, into a new array *out of *n (free with
 * repo_watch_free).  One index lookup per key, however many repositories
 * there are.
 */
int	store_repo_watching(struct db *db, const char *branch,
	    const char *const *keys, size_t nkeys, struct repo_watch **out,
	    size_t *n, struct err *err)
	    __attribute__((warn_unused_result));
void	repo_watch_free(struct repo_watch *r, size_t n);

/* Its statement ($1 branch, $2..$6 keys or NULL), for EXPLAIN in tests. */
extern const char store_repo_watching_sql[];

/*
 * store_repo_request_refresh by id (NOTIFY delivered at commit when
 * inside a transaction).  ERR_NOTFOUND when it is gone.
 */
int	store_repo_request_refresh_id(struct db *db, int64_t id,
	    struct err *err) __attribute__((warn_unused_result));

#endif
