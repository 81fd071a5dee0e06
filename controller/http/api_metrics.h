/*
 * api_metrics.h - GET /metrics (Prometheus text format) and the HTTP
 * edge's own metrics.
 *
 * /metrics is ROUTE_NO_AUTH, as Prometheus scrapes expect: it shows counts
 * and timings only, never names of tokens or request paths (routes are
 * reported by pattern).  Keep it off the public network (see
 * docs/operations.md) if that matters.
 *
 * The edge registers:
 *	sluice_build_info{version}				gauge, 1
 *	sluice_start_time_seconds				gauge
 *	sluice_http_requests_total{route,method,code}		counter
 *	sluice_http_request_duration_seconds{route}		histogram
 *	sluice_webhook_deliveries_total{source,result}		counter
 * Other modules register theirs on ctl->metrics when they start.
 */
#ifndef SLUICE_API_METRICS_H
#define SLUICE_API_METRICS_H

struct ctl;
struct http_request;
struct http_response;

/*
 * Create the edge's families on ctl->metrics (which must be set) and
 * store their handles in ctl.  Once, before serving.
 */
void	api_metrics_register(struct ctl *ctl);

/*
 * Free the lineage collector api_metrics_register made (runs by pipeline
 * and status, queue depth, GPUs in use, pending approvals, poll health,
 * stage durations: read from the database through ctl->dbpool at each
 * scrape).  Call after the HTTP server stopped.
 */
void	api_metrics_lineage_free(struct ctl *ctl);

/* GET /metrics; ctx is the struct ctl. */
void	api_metrics(void *ctx, struct http_request *rq,
	    struct http_response *rs);

/*
 * The HTTP observer (http_observe_fn): counts every answered request by
 * route pattern, method and status, and its duration; a webhook refused
 * as too big (413, before any handler ran) counts as a rejected delivery.
 */
void	api_observe(void *ctx, const struct http_request *rq, int status,
	    double seconds);

#endif
