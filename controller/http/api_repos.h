/*
 * api_repos.h - /api/v1/repositories: the watched Git repositories.
 *
 *	GET    /api/v1/repositories                 list (viewer)
 *	GET    /api/v1/repositories/{name}          one (viewer)
 *	POST   /api/v1/repositories                 add (admin) → 201
 *	DELETE /api/v1/repositories/{name}          soft-delete (admin) → 204
 *	POST   /api/v1/repositories/{name}/refresh  poll now (operator) → 202
 *
 * Shapes in store_query_repos.h.  POST takes the configuration's entry as
 * strict JSON:
 *
 *	{"name": "demo", "url": "https://git.example/x.git",
 *	 "branches": ["main"], "path": "pipelines", "interval": "30s",
 *	 "auth": {"token_env": "GIT_TOKEN"}}
 *
 * checked by the rules of sluice.yaml (cfg_repo_check): 400 naming the
 * field; a URL holding a password or an http(s) user is refused (put the
 * token in the variable named by auth.token_env).  409 when the name is
 * taken.  A repository of sluice.yaml cannot be deleted through the API
 * (409: it would come back at the next start); remove it from the file.
 * Adding or refreshing sends NOTIFY sluice_refresh so the poller looks at
 * once.  Every change appends an event with the caller as actor.
 */
#ifndef SLUICE_API_REPOS_H
#define SLUICE_API_REPOS_H

struct http_request;
struct http_response;

void	api_repos_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_repos_get(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_repos_add(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_repos_delete(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_repos_refresh(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
