/* store_query_repos.c - repositories as JSON; see store_query_repos.h. */
#include <stdio.h>

#include "query/store_query_repos.h"
#include "store/db.h"

/* Credentials out of a URL (see the header). */
#define SCRUBBED_URL(u)                                                     \
	"regexp_replace(regexp_replace(" u ","                              \
	"  '^(https?://)[^/?#@]*@', '\\1', 'i'),"                           \
	"  '^([a-z][a-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@', '\\1:***@', 'i')"

#define REPO_JSON                                                           \
	"json_build_object('name', r.name, 'url', " SCRUBBED_URL("r.url") "," \
	" 'branches', to_json(r.branches), 'path', r.path,"                 \
	" 'interval_ms', r.poll_interval_ms,"                               \
	" 'auth', json_strip_nulls(json_build_object("                      \
	"   'token_env', r.auth_token_env,"                                 \
	"   'ssh_key_file', r.auth_ssh_key_file,"                           \
	"   'known_hosts_file', r.auth_known_hosts_file)),"                 \
	" 'source', r.source, 'poll_status', r.poll_status,"                \
	" 'last_poll_at', rfc3339(r.last_poll_at),"                         \
	" 'last_success_at', rfc3339(r.last_success_at),"                   \
	" 'last_error', r.last_error,"                                      \
	" 'next_poll_at', rfc3339(r.next_poll_at),"                         \
	" 'consecutive_failures', r.consecutive_failures,"                  \
	" 'refresh_requested_at', rfc3339(r.refresh_requested_at),"         \
	" 'heads', coalesce((SELECT json_object_agg(h.branch, h.sha"         \
	"   ORDER BY h.branch) FROM branch_heads h"                         \
	"   WHERE h.repository_id = r.id), '{}'),"                          \
	" 'pipelines', (SELECT count(*) FROM pipelines p"                   \
	"   WHERE p.repository_id = r.id AND p.deleted_at IS NULL),"        \
	" 'created_at', rfc3339(r.created_at))::text"

static const char sql_list[] =
    "SELECT r.name, " REPO_JSON " FROM repositories r"
    " WHERE r.deleted_at IS NULL AND r.name > coalesce($1, '')"
    " ORDER BY r.name LIMIT $2::bigint + 1";

static const char sql_get[] =
    "SELECT " REPO_JSON " FROM repositories r"
    " WHERE r.deleted_at IS NULL AND r.name = $1";

int
store_query_repos_list(struct db *db, const struct page_in *pg,
    struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_str(&a, pg->after);
	db_args_int64(&a, pg->limit);
	return store_query_page(db, sql_list, &a, "repositories", pg->limit,
	    "g1", out, NULL, err);
}

int
store_query_repo_get(struct db *db, const char *name, char **json,
    struct err *err)
{
	struct db_args a;
	char what[128];

	db_args_init(&a);
	db_args_str(&a, name);
	(void)snprintf(what, sizeof(what), "repository '%.64s' not found",
	    name);
	return store_query_json(db, sql_get, &a, what, json, err);
}
