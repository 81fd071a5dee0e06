/*
 * metrics.c - metrics registry and Prometheus text exposition; see
 * metrics.h.
 *
 * One mutex guards the whole registry: updates are a hash, a short scan and
 * an addition, so contention stays far below the cost of the HTTP request
 * that caused them.  Series of a family live in a flat array, found by a
 * hash of their label values and then compared exactly.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/sys.h"

const double metrics_duration_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t metrics_duration_nbuckets =
    sizeof(metrics_duration_buckets) / sizeof(metrics_duration_buckets[0]);

struct series {
	uint64_t	 hash;
	char		**values;	/* owned, nlabels of them */
	double		 value;		/* counter, gauge; histogram sum */
	uint64_t	 count;		/* histogram observations */
	uint64_t	*buckets;	/* histogram, per bucket (not cumulative) */
};

struct metric {
	struct metrics	*owner;
	enum metric_type type;
	char		*name;
	char		*help;
	char		*labels[LIM_METRIC_LABELS];
	size_t		 nlabels;
	double		 bounds[LIM_METRIC_BUCKETS];
	size_t		 nbounds;
	struct series	*series;
	size_t		 nseries;
	size_t		 alloc;
	int		 warned;	/* the series cap was reported */
};

struct collector {
	void	(*fn)(void *);
	void	*arg;
};

struct metrics {
	pthread_mutex_t	 lock;
	struct metric	*families[LIM_METRIC_FAMILIES];
	size_t		 nfamilies;
	struct collector collectors[LIM_METRIC_COLLECTORS];
	size_t		 ncollectors;
	struct metric	*dropped;	/* sluice_metrics_dropped_series_total */
};

static int
valid_name(const char *s, int colon_ok)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (size_t i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon_ok && c == ':') ||
		    (i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return 0;
	}
	return 1;
}

static struct metric *
add_locked(struct metrics *m, enum metric_type type, const char *name,
    const char *help, const char *labels, const double *buckets,
    size_t nbuckets)
{
	struct metric *f;

	BUG_ON(!valid_name(name, 1));
	BUG_ON(m->nfamilies >= LIM_METRIC_FAMILIES);
	for (size_t i = 0; i < m->nfamilies; i++)
		BUG_ON(strcmp(m->families[i]->name, name) == 0);
	BUG_ON(type == METRIC_HISTOGRAM ? nbuckets == 0 ||
	    nbuckets > LIM_METRIC_BUCKETS : nbuckets != 0);
	f = xcalloc(1, sizeof(*f));
	f->owner = m;
	f->type = type;
	f->name = xstrdup(name);
	f->help = xstrdup(help != NULL ? help : "");
	if (labels != NULL && *labels != '\0') {
		const char *p = labels;

		for (;;) {
			size_t len = strcspn(p, ",");
			char *l;

			BUG_ON(f->nlabels >= LIM_METRIC_LABELS);
			l = strndup(p, len);
			BUG_ON(l == NULL);
			BUG_ON(!valid_name(l, 0) || strncmp(l, "__", 2) == 0);
			BUG_ON(type == METRIC_HISTOGRAM && strcmp(l, "le") == 0);
			f->labels[f->nlabels++] = l;
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
	}
	for (size_t i = 0; i < nbuckets; i++) {
		BUG_ON(i > 0 && !(buckets[i] > buckets[i - 1]));
		f->bounds[i] = buckets[i];
	}
	f->nbounds = nbuckets;
	m->families[m->nfamilies++] = f;
	return f;
}

struct metrics *
metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	BUG_ON(pthread_mutex_init(&m->lock, NULL) != 0);
	m->dropped = add_locked(m, METRIC_COUNTER,
	    "sluice_metrics_dropped_series_total",
	    "Label value sets not recorded because a family reached its cap",
	    "metric", NULL, 0);
	return m;
}

static void
series_release(struct series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
}

void
metric_clear(struct metric *f)
{
	struct metrics *m = f->owner;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < f->nseries; i++)
		series_release(&f->series[i], f->nlabels);
	f->nseries = 0;
	pthread_mutex_unlock(&m->lock);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfamilies; i++) {
		struct metric *f = m->families[i];

		for (size_t j = 0; j < f->nseries; j++)
			series_release(&f->series[j], f->nlabels);
		free(f->series);
		for (size_t j = 0; j < f->nlabels; j++)
			free(f->labels[j]);
		free(f->name);
		free(f->help);
		free(f);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct metric *
metrics_add(struct metrics *m, enum metric_type type, const char *name,
    const char *help, const char *labels, const double *buckets,
    size_t nbuckets)
{
	struct metric *f;

	pthread_mutex_lock(&m->lock);
	f = add_locked(m, type, name, help, labels, buckets, nbuckets);
	pthread_mutex_unlock(&m->lock);
	return f;
}

void
metrics_on_scrape(struct metrics *m, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&m->lock);
	BUG_ON(m->ncollectors >= LIM_METRIC_COLLECTORS);
	m->collectors[m->ncollectors].fn = fn;
	m->collectors[m->ncollectors].arg = arg;
	m->ncollectors++;
	pthread_mutex_unlock(&m->lock);
}

/* FNV-1a over the values, each followed by a NUL. */
static uint64_t
hash_values(const char *const *values, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		for (const char *p = values[i]; *p != '\0'; p++) {
			h ^= (unsigned char)*p;
			h *= UINT64_C(1099511628211);
		}
		h ^= 0xff;	/* separator */
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/*
 * The series of f for values, created when create is set; NULL when it
 * does not exist (or the family is full).  Called with the lock held.
 */
static struct series *
find_series(struct metric *f, const char *const *values, size_t n,
    int create)
{
	uint64_t h;
	struct series *s;
	int grown;

	BUG_ON(n != f->nlabels);
	for (size_t i = 0; i < n; i++)
		BUG_ON(values[i] == NULL);
	h = hash_values(values, n);
	for (size_t i = 0; i < f->nseries; i++) {
		size_t j;

		s = &f->series[i];
		if (s->hash != h)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(s->values[j], values[j]) != 0)
				break;
		if (j == n)
			return s;
	}
	if (!create)
		return NULL;
	if (f->nseries >= LIM_METRIC_SERIES) {
		if (f != f->owner->dropped) {
			const char *name = f->name;
			struct series *d = find_series(f->owner->dropped,
			    &name, 1, 1);

			if (d != NULL)
				d->value += 1;
		}
		if (!f->warned)
			log_warn("metric series cap reached", "metric=%s "
			    "cap=%d", f->name, LIM_METRIC_SERIES);
		f->warned = 1;
		return NULL;
	}
	/* Within the series cap checked above, only memory can run out. */
	grown = sys_grow((void **)&f->series, f->nseries, &f->alloc,
	    sizeof(*f->series), 0);
	BUG_ON(grown < 0);
	s = &f->series[f->nseries++];
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->values = xcalloc(n > 0 ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		/* Values are capped so one odd value cannot bloat a scrape. */
		s->values[i] = strndup(values[i], LIM_METRIC_LABEL_VALUE);
		BUG_ON(s->values[i] == NULL);
	}
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = xcalloc(f->nbounds, sizeof(uint64_t));
	return s;
}

static void
update(struct metric *f, const char *const *values, size_t n, double v,
    enum metric_type want, int set)
{
	struct metrics *m = f->owner;
	struct series *s;

	BUG_ON(f->type != want);
	pthread_mutex_lock(&m->lock);
	if ((s = find_series(f, values, n, 1)) != NULL) {
		if (want == METRIC_HISTOGRAM) {
			for (size_t i = 0; i < f->nbounds; i++) {
				if (v <= f->bounds[i]) {
					s->buckets[i]++;
					break;
				}
			}
			s->count++;
			s->value += v;
		} else if (set) {
			s->value = v;
		} else {
			s->value += v;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

void
metric_inc(struct metric *f, const char *const *values, size_t n)
{
	update(f, values, n, 1, METRIC_COUNTER, 0);
}

void
metric_add(struct metric *f, const char *const *values, size_t n, double v)
{
	BUG_ON(!(v >= 0));
	update(f, values, n, v, METRIC_COUNTER, 0);
}

void
metric_set(struct metric *f, const char *const *values, size_t n, double v)
{
	update(f, values, n, v, METRIC_GAUGE, 1);
}

void
metric_observe(struct metric *f, const char *const *values, size_t n,
    double v)
{
	update(f, values, n, v, METRIC_HISTOGRAM, 0);
}

double
metric_value(struct metric *f, const char *const *values, size_t n)
{
	struct metrics *m = f->owner;
	struct series *s;
	double v = 0;

	pthread_mutex_lock(&m->lock);
	if ((s = find_series(f, values, n, 0)) != NULL)
		v = f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&m->lock);
	return v;
}

/* --- exposition ------------------------------------------------------- */

/*
 * A float as Prometheus reads it: integers without a fraction, others
 * with the shortest precision that reads back the same, and +Inf, -Inf,
 * NaN by name.
 */
static int
put_number(struct buf *b, double v)
{
	char tmp[64];

	if (isnan(v))
		return buf_puts(b, "NaN");
	if (isinf(v))
		return buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e15)
		return buf_printf(b, "%.0f", v);
	for (int prec = 15; prec <= 17; prec++) {
		(void)snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return buf_puts(b, tmp);
}

static int
put_escaped(struct buf *b, const char *s, int quote)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_puts(b, "\\\\");
		else if (*s == '\n')
			rc = buf_puts(b, "\\n");
		else if (quote && *s == '"')
			rc = buf_puts(b, "\\\"");
		else
			rc = buf_putc(b, *s);
	}
	return rc;
}

/* name{a="x",b="y"[,le="0.5"]} */
static int
put_series_name(struct buf *b, const struct metric *f, const char *suffix,
    const struct series *s, const char *le)
{
	int rc;

	if ((rc = buf_puts(b, f->name)) < 0 || (rc = buf_puts(b, suffix)) < 0)
		return rc;
	if (f->nlabels == 0 && le == NULL)
		return 0;
	if ((rc = buf_putc(b, '{')) < 0)
		return rc;
	for (size_t i = 0; i < f->nlabels; i++) {
		if ((rc = buf_printf(b, "%s%s=\"", i ? "," : "",
		    f->labels[i])) < 0 ||
		    (rc = put_escaped(b, s->values[i], 1)) < 0 ||
		    (rc = buf_putc(b, '"')) < 0)
			return rc;
	}
	if (le != NULL && (rc = buf_printf(b, "%sle=\"%s\"",
	    f->nlabels ? "," : "", le)) < 0)
		return rc;
	return buf_putc(b, '}');
}

static int
render_family(struct buf *b, const struct metric *f)
{
	static const char *const types[] = {
		[METRIC_COUNTER] = "counter",
		[METRIC_GAUGE] = "gauge",
		[METRIC_HISTOGRAM] = "histogram",
	};
	int rc;

	if ((rc = buf_printf(b, "# HELP %s ", f->name)) < 0 ||
	    (rc = put_escaped(b, f->help, 0)) < 0 ||
	    (rc = buf_printf(b, "\n# TYPE %s %s\n", f->name,
	    types[f->type])) < 0)
		return rc;
	for (size_t i = 0; i < f->nseries; i++) {
		const struct series *s = &f->series[i];

		if (f->type != METRIC_HISTOGRAM) {
			if ((rc = put_series_name(b, f, "", s, NULL)) < 0 ||
			    (rc = buf_putc(b, ' ')) < 0 ||
			    (rc = put_number(b, s->value)) < 0 ||
			    (rc = buf_putc(b, '\n')) < 0)
				return rc;
			continue;
		}
		uint64_t cum = 0;

		for (size_t j = 0; j <= f->nbounds; j++) {
			struct buf le;

			buf_init(&le, 64);
			if (j < f->nbounds) {
				cum += s->buckets[j];
				rc = put_number(&le, f->bounds[j]);
			} else {
				cum = s->count;
				rc = buf_puts(&le, "+Inf");
			}
			if (rc == 0)
				rc = put_series_name(b, f, "_bucket", s,
				    le.data);
			buf_release(&le);
			if (rc < 0 || (rc = buf_printf(b, " %llu\n",
			    (unsigned long long)cum)) < 0)
				return rc;
		}
		if ((rc = put_series_name(b, f, "_sum", s, NULL)) < 0 ||
		    (rc = buf_putc(b, ' ')) < 0 ||
		    (rc = put_number(b, s->value)) < 0 ||
		    (rc = buf_putc(b, '\n')) < 0 ||
		    (rc = put_series_name(b, f, "_count", s, NULL)) < 0 ||
		    (rc = buf_printf(b, " %llu\n",
		    (unsigned long long)s->count)) < 0)
			return rc;
	}
	return 0;
}

int
metrics_render(struct metrics *m, struct buf *out)
{
	struct collector cs[LIM_METRIC_COLLECTORS];
	size_t n;
	int rc = 0;

	/* Collectors update gauges, which takes the lock: run them first. */
	pthread_mutex_lock(&m->lock);
	n = m->ncollectors;
	memcpy(cs, m->collectors, n * sizeof(cs[0]));
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n; i++)
		cs[i].fn(cs[i].arg);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nfamilies && rc == 0; i++)
		rc = render_family(out, m->families[i]);
	pthread_mutex_unlock(&m->lock);
	return rc;
}
