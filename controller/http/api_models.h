/*
 * api_models.h - /api/v1/models: the model registry (viewer).
 *
 *	GET /api/v1/models?limit=&cursor=
 *		models by name, each with its number of versions, the latest
 *		one and {TARGET: VERSION} of what is in production
 *	GET /api/v1/models/{name}/versions?status=&limit=&cursor=
 *		its versions, newest first; 404 for a model with none
 *	POST /api/v1/models/{name}/versions/{v}/promote  (approver)
 *	POST /api/v1/models/{name}/rollback  (approver)
 *		body {"target", "comment"}: put version v in production on
 *		target, or go back to the previous production version of the
 *		model there (store_model_manual); answers the target's new
 *		history entry.  409 while a rollout holds the target.
 *	GET /api/v1/targets/{target}/history?at=&limit=&cursor=
 *		what served target, newest first; with at (RFC 3339), what
 *		served it at that instant.  400 for a malformed at, 404 for
 *		an unknown target or an instant before its history.
 *
 * Shapes in store_query_models.h and store_query_history.h.
 */
#ifndef SLUICE_API_MODELS_H
#define SLUICE_API_MODELS_H

struct http_request;
struct http_response;

void	api_models_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_models_versions(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_models_promote(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_models_rollback(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_targets_history(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
