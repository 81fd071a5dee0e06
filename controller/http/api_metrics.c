/* api_metrics.c - GET /metrics and the edge's metrics; see api_metrics.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/version.h"
#include "http/api_metrics.h"
#include "http/ctl.h"
#include "http/http.h"
#include "store/dbpool.h"
#include "store/store_retention.h"
#include "store/store_stats.h"

/*
 * The lineage numbers of /metrics, read from the database at each scrape
 * (so every process reports the same values, whoever changed them).
 */
struct lineage {
	struct ctl	*ctl;
	pthread_mutex_t	 mu;		/* one scrape at a time */
	struct metric	*runs, *runs_total, *queue, *gpus, *approvals;
	struct metric	*failures, *last_success, *stage_duration;
	struct metric	*invalid;
	struct metric	*retention;	/* what retention deleted, ever */
	int64_t		 since_us;	/* stages observed up to here */
};

static const double stage_buckets[] = { 1, 5, 15, 30, 60, 300, 900, 1800,
    3600, 7200, 14400, 43200, 86400 };

static int
terminal(const char *status)
{
	return strcmp(status, "succeeded") == 0 ||
	    strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0;
}

/* The totals retention keeps in the database (they only grow). */
static void
collect_retention(struct lineage *l, struct db *db)
{
	struct retention_counts c;
	struct err err;
	const struct { const char *what; const int64_t *v; } kinds[] = {
		{ "runs", &c.runs }, { "stages", &c.stages },
		{ "attempts", &c.attempts },
		{ "model_versions", &c.model_versions },
		{ "events", &c.events }, { "log_bytes", &c.log_bytes },
	};

	if (store_retention_totals(db, &c, &err) < 0)
		return;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *lv[1] = { kinds[i].what };
		double have = metric_value(l->retention, lv, 1);

		/* a counter: add what the database has counted since */
		if ((double)*kinds[i].v > have)
			metric_add(l->retention, lv, 1,
			    (double)*kinds[i].v - have);
	}
}

static void
collect_lineage(void *arg)
{
	struct lineage *l = arg;
	struct stats_row *rows = NULL;
	struct stats_totals t;
	struct db *db = NULL;
	struct err err;
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	if (l->ctl->dbpool == NULL ||
	    dbpool_acquire(l->ctl->dbpool, &db, &err) < 0)
		goto out;
	if (store_stats_runs(db, &rows, &n, &err) == 0) {
		metric_clear(l->runs);
		for (size_t i = 0; i < n; i++) {
			const char *lv[2] = { rows[i].a, rows[i].b };
			double have;

			if (!terminal(rows[i].b)) {
				metric_set(l->runs, lv, 2, rows[i].v);
				continue;
			}
			/* the database count only grows: add the difference */
			have = metric_value(l->runs_total, lv, 2);
			if (rows[i].v > have)
				metric_add(l->runs_total, lv, 2,
				    rows[i].v - have);
		}
	}
	free(rows);
	rows = NULL;
	if (store_stats_totals(db, &t, &err) == 0) {
		metric_set(l->queue, NULL, 0, t.queue_depth);
		metric_set(l->gpus, NULL, 0, t.gpus_in_use);
		metric_set(l->approvals, NULL, 0, t.approvals_pending);
	}
	collect_retention(l, db);
	if (store_stats_repos(db, &rows, &n, &err) == 0) {
		metric_clear(l->failures);
		metric_clear(l->last_success);
		for (size_t i = 0; i < n; i++) {
			metric_set(l->failures, METRIC_LABELS(rows[i].a),
			    rows[i].v);
			if (rows[i].w > 0)
				metric_set(l->last_success,
				    METRIC_LABELS(rows[i].a), rows[i].w);
		}
	}
	free(rows);
	rows = NULL;
	if (store_stats_invalid_pipelines(db, &rows, &n, &err) == 0) {
		metric_clear(l->invalid);
		for (size_t i = 0; i < n; i++)
			metric_set(l->invalid, METRIC_LABELS(rows[i].a),
			    rows[i].v);
	}
	free(rows);
	rows = NULL;
	if (store_stats_stage_durations(db, &l->since_us, 10000, &rows, &n,
	    &err) == 0) {
		for (size_t i = 0; i < n; i++)
			metric_observe(l->stage_duration,
			    METRIC_LABELS(rows[i].a, rows[i].b), rows[i].v);
	}
	free(rows);
	if (err.code != 0 && err.msg[0] != '\0')
		log_debug("metrics: lineage", "error=\"%s\"", err.msg);
out:
	if (db != NULL)
		dbpool_release(l->ctl->dbpool, db);
	pthread_mutex_unlock(&l->mu);
}

void
api_metrics_lineage_free(struct ctl *ctl)
{
	struct lineage *l = ctl->lineage;

	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l);
	ctl->lineage = NULL;
}

static void
register_lineage(struct ctl *ctl)
{
	struct lineage *l = xcalloc(1, sizeof(*l));
	struct metrics *m = ctl->metrics;

	l->ctl = ctl;
	pthread_mutex_init(&l->mu, NULL);
	l->runs = metrics_add(m, METRIC_GAUGE, "sluice_runs",
	    "Runs not finished, by pipeline and status", "pipeline,status",
	    NULL, 0);
	l->runs_total = metrics_add(m, METRIC_COUNTER, "sluice_runs_total",
	    "Finished runs, by pipeline and final status", "pipeline,status",
	    NULL, 0);
	l->queue = metrics_add(m, METRIC_GAUGE, "sluice_queue_depth",
	    "Runs queued, waiting to start", NULL, NULL, 0);
	l->gpus = metrics_add(m, METRIC_GAUGE, "sluice_gpus_in_use",
	    "GPUs requested by stage attempts submitted or running", NULL,
	    NULL, 0);
	l->approvals = metrics_add(m, METRIC_GAUGE, "sluice_approvals_pending",
	    "Canary promotion steps waiting for a decision", NULL, NULL, 0);
	l->failures = metrics_add(m, METRIC_GAUGE,
	    "sluice_poll_consecutive_failures",
	    "Failed polls in a row, by repository", "repository", NULL, 0);
	l->last_success = metrics_add(m, METRIC_GAUGE,
	    "sluice_poll_last_success_timestamp_seconds",
	    "Last successful poll of a repository, Unix seconds", "repository",
	    NULL, 0);
	l->stage_duration = metrics_add(m, METRIC_HISTOGRAM,
	    "sluice_stage_duration_seconds",
	    "Stage durations from start to finish, observed as stages end",
	    "pipeline,stage", stage_buckets,
	    sizeof(stage_buckets) / sizeof(stage_buckets[0]));
	l->invalid = metrics_add(m, METRIC_GAUGE, "sluice_pipelines_invalid",
	    "Pipelines whose newest version is invalid, and invalid pipeline "
	    "files without a readable name, by repository", "repository",
	    NULL, 0);
	l->retention = metrics_add(m, METRIC_COUNTER,
	    "sluice_retention_deleted_total",
	    "What retention deleted, by kind (runs, stages, attempts, "
	    "model_versions, events, log_bytes)", "what", NULL, 0);
	metrics_on_scrape(m, collect_lineage, l);
	ctl->lineage = l;
}

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
	ctl->m_poll_errors = metrics_add(ctl->metrics, METRIC_COUNTER,
	    "sluice_poll_errors_total", "Failed polls, by repository",
	    "repository", NULL, 0);
	register_lineage(ctl);
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
