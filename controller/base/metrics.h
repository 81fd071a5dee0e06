/*
 * metrics.h - a small thread-safe metrics registry and its Prometheus text
 * exposition (format 0.0.4), for GET /metrics.
 *
 * A module registers its families once, at start-up, and keeps the
 * returned handles; the handles live as long as the registry:
 *
 *	struct metric *req = metrics_add(m, METRIC_COUNTER,
 *	    "sluice_http_requests_total", "HTTP requests answered",
 *	    "route,method,code", NULL, 0);
 *	...
 *	metric_inc(req, METRIC_LABELS(route, method, code));
 *
 * Label values are copied.  Every family holds at most LIM_METRIC_SERIES
 * label value sets: past that, new sets are dropped (counted in
 * sluice_metrics_dropped_series_total) rather than growing without bound,
 * so label values must come from a bounded set (route patterns, never raw
 * paths).
 *
 * Values computed at scrape time (queue depth, GPUs in use) register a
 * collector with metrics_on_scrape(): it runs before each exposition,
 * outside the registry lock, and sets its gauges with metric_set() (after
 * metric_clear() when the set of series may shrink).
 *
 * Names and label names are constants of the program: an invalid one, a
 * name registered twice, or a call with the wrong number of label values
 * is a programmer error and aborts.  Nothing here blocks beyond a mutex.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>

struct buf;
struct metrics;
struct metric;

enum metric_type { METRIC_COUNTER = 1, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Label values for a call, counted: metric_inc(f, METRIC_LABELS(a, b)). */
#define METRIC_LABELS(...)                                                  \
	((const char *const[]){ __VA_ARGS__ }),                             \
	(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* Default buckets of request durations, in seconds. */
extern const double metrics_duration_buckets[];
extern const size_t metrics_duration_nbuckets;

/* A new, empty registry; free with metrics_free (NULL is a no-op). */
struct metrics *metrics_new(void);
void	metrics_free(struct metrics *m);

/*
 * Register a family.  name matches [a-zA-Z_:][a-zA-Z0-9_:]*; help is one
 * line of text (escaped on output); labels is a comma-separated list of
 * label names ("route,method,code"), or NULL or "" for none.  Histograms
 * take ascending bucket upper bounds (+Inf is implied, and "le" may not be
 * a label); other types pass NULL, 0.  Returns the family, owned by the
 * registry.
 */
struct metric *metrics_add(struct metrics *m, enum metric_type type,
	    const char *name, const char *help, const char *labels,
	    const double *buckets, size_t nbuckets);

/*
 * Update one series, created at zero on first use.  values holds one
 * value per label name, in order (n must match).  metric_inc/metric_add on
 * counters only, with v >= 0; metric_set on gauges; metric_observe on
 * histograms.
 */
void	metric_inc(struct metric *f, const char *const *values, size_t n);
void	metric_add(struct metric *f, const char *const *values, size_t n,
	    double v);
void	metric_set(struct metric *f, const char *const *values, size_t n,
	    double v);
void	metric_observe(struct metric *f, const char *const *values,
	    size_t n, double v);

/* Forget every series of a family (for gauges rebuilt at each scrape). */
void	metric_clear(struct metric *f);

/*
 * The current value of a series (a counter or gauge; a histogram's count),
 * or 0 when it does not exist.  For tests and for modules that read back.
 */
double	metric_value(struct metric *f, const char *const *values, size_t n);

/* Run fn(arg) before each exposition (at most LIM_METRIC_COLLECTORS). */
void	metrics_on_scrape(struct metrics *m, void (*fn)(void *arg),
	    void *arg);

/*
 * Append the exposition of every family, in registration order, to out:
 *
 *	# HELP sluice_http_requests_total HTTP requests answered
 *	# TYPE sluice_http_requests_total counter
 *	sluice_http_requests_total{route="/healthz",method="GET",code="200"} 3
 *
 * Label values are escaped (\\, \", \n).  Families without series print
 * only their HELP and TYPE lines.  Returns 0 or ERR_TOOBIG at out's cap.
 */
int	metrics_render(struct metrics *m, struct buf *out)
	    __attribute__((warn_unused_result));

/* The Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

#endif
