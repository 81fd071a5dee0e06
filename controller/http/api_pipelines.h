/*
 * api_pipelines.h - /api/v1/pipelines: pipelines, their definitions and
 * errors, and starting a run.
 *
 *	GET  /api/v1/pipelines?repository=&deleted=&limit=&cursor=  (viewer)
 *	GET  /api/v1/pipelines/{name}?repository=                   (viewer)
 *	POST /api/v1/pipelines/{name}/runs?repository=              (operator)
 *
 * Shapes in store_query_pipelines.h.  A pipeline name is unique per
 * repository only: when two live repositories use it, {name} needs
 * ?repository=, else 409 "ambiguous" naming them.
 *
 * POST .../runs takes strict JSON
 *	{"params": {NAME: "value"}, "ref": "main" | "commit": "3f2a9c1",
 *	 "reason": "..."}
 * (all optional; ref and commit exclusive; commit 7 to 64 hex digits) and
 * answers 201 with the run as GET /api/v1/runs/{id} shows it, and a
 * Location header.  Why a run cannot start is 422 (see run_request.h).
 * With an Idempotency-Key header (1 to 200 of [A-Za-z0-9._:-]), a
 * repeated request answers 200 with the run the first one made.
 */
#ifndef SLUICE_API_PIPELINES_H
#define SLUICE_API_PIPELINES_H

struct http_request;
struct http_response;

void	api_pipelines_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_pipelines_get(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_pipelines_run(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
