/* api_health.h - /healthz and /readyz. */
#ifndef SLUICE_API_HEALTH_H
#define SLUICE_API_HEALTH_H

struct http_request;
struct http_response;

/* 200 "ok" while the process serves HTTP. */
void	api_healthz(void *ctx, struct http_request *rq,
	    struct http_response *rs);

/*
 * 200 when the database is reachable, migrations are applied and the
 * executor is ready; else 503 with a JSON body naming what is not.
 */
void	api_readyz(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
