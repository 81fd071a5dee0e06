/*
 * api_models.h - /api/v1/models: the model registry (viewer).
 *
 *	GET /api/v1/models?limit=&cursor=
 *		models by name, each with its number of versions, the latest
 *		one and {TARGET: VERSION} of what is in production
 *	GET /api/v1/models/{name}/versions?status=&limit=&cursor=
 *		its versions, newest first; 404 for a model with none
 *
 * Shapes in store_query_models.h.
 */
#ifndef SLUICE_API_MODELS_H
#define SLUICE_API_MODELS_H

struct http_request;
struct http_response;

void	api_models_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_models_versions(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
