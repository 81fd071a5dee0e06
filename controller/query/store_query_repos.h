/*
 * store_query_repos.h - repositories as the REST API shows them, with
 * their poll state and processed branch heads, as JSON text.
 *
 * A repository:
 *	{"name", "url", "branches": [...], "path", "interval_ms" (null: the
 *	 configuration's poll_interval), "auth": {"token_env" | "ssh_key_file",
 *	 "known_hosts_file"} (names only), "source": "config"|"api",
 *	 "poll_status": "pending"|"ok"|"failing", "last_poll_at",
 *	 "last_success_at", "last_error", "next_poll_at",
 *	 "consecutive_failures", "refresh_requested_at",
 *	 "heads": {BRANCH: SHA}, "pipelines": N, "created_at"}
 *
 * The URL is shown without credentials: an http(s) URL loses its user
 * information entirely (a token is often sent as the user name), any
 * other loses the password ("ssh://git:***@host/x").
 */
#ifndef SLUICE_STORE_QUERY_REPOS_H
#define SLUICE_STORE_QUERY_REPOS_H

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* Live repositories by name: {"repositories": [...], "next_cursor"}. */
int	store_query_repos_list(struct db *db, const struct page_in *pg,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/* One live repository (new string in *json).  ERR_NOTFOUND. */
int	store_query_repo_get(struct db *db, const char *name, char **json,
	    struct err *err) __attribute__((warn_unused_result));

#endif
