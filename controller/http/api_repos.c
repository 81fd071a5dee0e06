/* api_repos.c - /api/v1/repositories; see api_repos.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/units.h"
#include "http/api_common.h"
#include "http/api_repos.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_repos.h"
#include "store/store_repo.h"

static int
repos_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	(void)arg;
	return store_query_repos_list(db, in, out, err);
}

void
api_repos_list(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE);
	api_list_reply(ctx, rq, rs, params, &pg, "g1", 0, repos_query, NULL);
}

/* Answer status with the repository called name, as the list shows it. */
static void
reply_repo(struct db *db, struct http_response *rs, int status,
    const char *name)
{
	struct err err;
	char *json = NULL;

	if (store_query_repo_get(db, name, &json, &err) < 0)
		http_error_from(rs, &err);
	else
		api_reply_json(rs, status, json, strlen(json));
	free(json);
}

void
api_repos_get(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct db *db;
	struct err err;

	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	reply_repo(db, rs, 200, rq->params[0]);
	api_db_done(ctl, db);
}

/*
 * Credentials do not belong in a stored URL: refuse a password anywhere
 * and any user of an http(s) URL (tokens are sent as user names).
 */
static int
url_without_credentials(const char *url, struct err *err)
{
	const char *p = strstr(url, "://"), *end, *at;

	if (p == NULL)
		return 0;	/* file paths and scp-like user@host:path */
	p += 3;
	end = p + strcspn(p, "/?#");
	if ((at = memchr(p, '@', (size_t)(end - p))) == NULL)
		return 0;
	if (memchr(p, ':', (size_t)(at - p)) != NULL ||
	    strncasecmp(url, "http", 4) == 0)
		return err_set(err, ERR_INVALID, "url: must not hold "
		    "credentials; name the variable holding a token in "
		    "auth.token_env");
	return 0;
}

/*
 * The controller's environment holds its own secrets (the webhook secret,
 * PGPASSWORD): the API may name only variables the configuration allows,
 * else an admin could have any of them sent to a URL of their choosing.
 */
static int
env_allowed(const struct cfg *c, const char *field, const char *name,
    struct err *err)
{
	char list[256];

	if (name == NULL || cfg_api_env_allowed(c, name))
		return 0;
	cfg_api_env_allowlist_text(c, list, sizeof(list));
	return err_set(err, ERR_INVALID, "%s: \"%s\" is not allowed: the API "
	    "may name only variables matching api_env_allowlist (%s)", field,
	    name, list);
}

void
api_repos_add(void *ctx, struct http_request *rq, struct http_response *rs)
{
	static char *const default_branches[] = { (char *)"main", NULL };
	struct ctl *ctl = ctx;
	struct cfg_repo r;
	struct jsonin_list branches;
	char *name = NULL, *url = NULL, *path = NULL, *interval = NULL;
	char *token_env = NULL, *ssh_key = NULL, *known_hosts = NULL;
	struct db *db = NULL;
	struct err err;
	int64_t id = 0;
	int branches_given = 0;
	const struct jsonin_field auth[] = {
		{ .name = "token_env", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &token_env, .maxlen = 256 },
		{ .name = "ssh_key_file", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &ssh_key,
		  .maxlen = LIM_PATH },
		{ .name = "known_hosts_file", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &known_hosts,
		  .maxlen = LIM_PATH },
		{ .name = NULL },
	};
	const struct jsonin_field fields[] = {
		{ .name = "name", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &name, .maxlen = LIM_NAME },
		{ .name = "url", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &url, .maxlen = LIM_URL },
		{ .name = "branches", .type = JSONIN_STRLIST,
		  .out = &branches, .present = &branches_given,
		  .maxn = LIM_CONFIG_BRANCHES, .maxlen = 255 },
		{ .name = "path", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &path, .maxlen = LIM_PATH },
		{ .name = "interval", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &interval, .maxlen = 32 },
		{ .name = "auth", .type = JSONIN_OBJECT,
		  .flags = JSONIN_NULLABLE, .fields = auth },
		{ .name = NULL },
	};

	err_clear(&err);
	memset(&r, 0, sizeof(r));
	memset(&branches, 0, sizeof(branches));
	if (api_no_query(rq, rs) < 0)
		goto out;
	if (jsonin_parse(rq->body.data, rq->body.len, fields, 0, &err) < 0)
		goto fail;
	r.name = name;
	r.url = url;
	if (branches_given) {
		r.branches = branches.items;
		r.nbranches = branches.n;
	} else {
		r.branches = (char **)default_branches;
		r.nbranches = 1;
	}
	r.path = path != NULL ? path : (char *)"pipelines";
	if (interval != NULL && (units_parse_duration(interval,
	    &r.interval_ms) < 0 || r.interval_ms == 0)) {
		err_set(&err, ERR_INVALID, "interval: \"%s\" is not a "
		    "duration such as 30s or 5m", interval);
		goto fail;
	}
	r.token_env = token_env;
	r.ssh_key_file = ssh_key;
	r.known_hosts_file = known_hosts;
	if (cfg_repo_check(&r, &err) < 0 ||
	    url_without_credentials(url, &err) < 0 ||
	    env_allowed(ctl->cfg, "auth.token_env", token_env, &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_repo_add(db, &r, auth_actor(rq),
	    ctl->cfg->max_repositories, &id, &err) < 0)
		goto fail;
	log_info("repository added", "repository=%s actor=%s", name,
	    auth_actor(rq));
	if (store_repo_request_refresh(db, name, &err) < 0)
		log_warn("cannot wake the poller", "repository=%s error=\"%s\"",
		    name, err.msg);
	reply_repo(db, rs, 201, name);
	if (rs->status == 201) {
		char loc[128];

		(void)snprintf(loc, sizeof(loc), "/api/v1/repositories/%s",
		    name);
		if (http_set_header(rs, "Location", loc) < 0)
			http_error(rs, 500, "internal", "too many headers");
	}
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	free(name);
	free(url);
	free(path);
	free(interval);
	free(token_env);
	free(ssh_key);
	free(known_hosts);
	jsonin_list_release(&branches);
}

void
api_repos_delete(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *name = rq->params[0];
	struct repo r;
	struct db *db = NULL;
	struct err err;

	err_clear(&err);
	memset(&r, 0, sizeof(r));
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_repo_get(db, name, &r, &err) < 0)
		goto fail;
	if (strcmp(r.source, "config") == 0) {
		http_error(rs, 409, "conflict", "repository '%s' comes from "
		    "the configuration file; remove it there (it would come "
		    "back at the next start)", name);
		goto out;
	}
	if (store_repo_delete(db, name, auth_actor(rq), &err) < 0)
		goto fail;
	log_info("repository deleted", "repository=%s actor=%s", name,
	    auth_actor(rq));
	if (http_reply(rs, 204, "", "", 0) < 0)
		http_error(rs, 500, "internal", "cannot answer");
	goto out;
fail:
	http_error_from(rs, &err);
out:
	repo_release(&r);
	api_db_done(ctl, db);
}

void
api_repos_refresh(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *name = rq->params[0];
	struct db *db = NULL;
	struct err err;

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_no_body(rq, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (store_repo_request_refresh(db, name, &err) < 0) {
		http_error_from(rs, &err);
	} else {
		log_info("refresh requested", "repository=%s actor=%s", name,
		    auth_actor(rq));
		(void)jsonin_reply(rs, 202, "{s:s}", "refresh_requested", name);
	}
	api_db_done(ctl, db);
}
