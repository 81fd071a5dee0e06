/* api_metrics.c - GET /metrics and the edge's metrics; see api_metrics.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_metrics.h"
#include "buf.h"
#include "caps.h"
#include "ctl.h"
#include "http.h"
#include "metrics.h"
#include "version.h"

void
api_metrics_register(struct ctl *ctl)
{
	struct metric *info, *start;

	info = metrics_add(ctl->metrics, METRIC_GAUGE, "sluice_build_info",
	    "Build information; the value is always 1", "version", NULL, 0);
	metric_set(info, METRIC_LABELS(SLUICE_VERSION), 1);
	start = metrics_add(ctl->metrics, METRIC_GAUGE,
	    "sluice_start_time_seconds",
	    "Start time of the process since the Unix epoch, in seconds",
	    NULL, NULL, 0);
	metric_set(start, NULL, 0, (double)(ctl->started_at != 0 ?
	    ctl->started_at : time(NULL)));
	ctl->m_http_requests = metrics_add(ctl->metrics, METRIC_COUNTER,
	    "sluice_http_requests_total",
	    "HTTP requests answered, by route pattern, method and status",
	    "route,method,code", NULL, 0);
	ctl->m_http_duration = metrics_add(ctl->metrics, METRIC_HISTOGRAM,
	    "sluice_http_request_duration_seconds",
	    "Time from request headers to the response, by route "
	    "pattern", "route", metrics_duration_buckets,
	    metrics_duration_nbuckets);
	ctl->m_webhook_deliveries = metrics_add(ctl->metrics, METRIC_COUNTER,
	    "sluice_webhook_deliveries_total",
	    "Webhook calls by source (github, sluice) and result (accepted, "
	    "duplicate, ignored, bad_signature, unauthorized, rejected, error)",
	    "source,result", NULL, 0);
}

void
api_metrics(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;

	(void)rq;
	rs->status = 200;
	(void)str_copy(rs->content_type, sizeof(rs->content_type),
	    METRICS_CONTENT_TYPE);
	buf_reset(&rs->body);
	rs->body.max = LIM_METRICS_TEXT;
	if (metrics_render(ctl->metrics, &rs->body) < 0)
		http_error(rs, 500, "internal", "metrics exposition over %d "
		    "bytes", LIM_METRICS_TEXT);
}

/* One of the methods we know, else "other": a bounded label. */
static const char *
method_label(const char *m)
{
	static const char *const known[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

void
api_observe(void *ctx, const struct http_request *rq, int status,
    double seconds)
{
	struct ctl *ctl = ctx;
	const char *route = rq->route != NULL ? rq->route : "unmatched";
	char code[16];

	if (ctl->m_http_requests == NULL)
		return;
	(void)snprintf(code, sizeof(code), "%d", status);
	metric_inc(ctl->m_http_requests,
	    METRIC_LABELS(route, method_label(rq->method), code));
	metric_observe(ctl->m_http_duration, METRIC_LABELS(route), seconds);
	if (status == 413 && strncmp(route, "/api/v1/hooks/", 14) == 0)
		metric_inc(ctl->m_webhook_deliveries, METRIC_LABELS(
		    strstr(route, "/github") != NULL ? "github" : "sluice",
		    "rejected"));
}
