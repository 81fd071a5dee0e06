/* stage_output.c - ::metric and ::artifact lines; see stage_output.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/sys.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"

#define MODEL_NAME_MAX	253

void
stage_output_init(struct stage_output *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->partial, LIM_OUTPUT_LINE);
}

static void
free_artifacts(struct stage_output *o)
{
	for (size_t i = 0; i < o->nartifacts; i++) {
		free(o->artifacts[i].uri);
		free(o->artifacts[i].model_name);
	}
	o->nartifacts = 0;
}

void
stage_output_release(struct stage_output *o)
{
	free_artifacts(o);
	free(o->artifacts);
	free(o->metrics);
	buf_release(&o->partial);
	memset(o, 0, sizeof(*o));
}

void
stage_output_clear(struct stage_output *o)
{
	free_artifacts(o);
	o->nmetrics = 0;
	o->ignored = 0;
}

/* A plain decimal number: [+-]digits[.digits][(e|E)[+-]digits], finite. */
static int
parse_number(const char *s, size_t n, double *out)
{
	char tmp[64], *end;
	size_t i = 0, digits = 0;
	double v;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			ed++;
		if (ed == 0)
			return -1;
	}
	if (i != n)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	v = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static void
add_metric(struct stage_output *o, const char *name, size_t nlen, double v)
{
	struct output_metric *m;

	if (o->nmetrics >= LIM_OUTPUT_METRICS) {
		o->ignored++;
		return;
	}
	if (sys_grow((void **)&o->metrics, o->nmetrics, &o->ametrics,
	    sizeof(*o->metrics), LIM_OUTPUT_METRICS) < 0)
		abort();	/* out of memory */
	m = &o->metrics[o->nmetrics++];
	memcpy(m->name, name, nlen);
	m->name[nlen] = '\0';
	m->value = v;
	m->line = o->line;
}

static char *
dup_n(const char *s, size_t n)
{
	char *p = xcalloc(n + 1, 1);

	memcpy(p, s, n);
	return p;
}

static void
add_artifact(struct stage_output *o, const char *name, size_t nlen,
    const char *uri, size_t ulen, const char *model, size_t mlen)
{
	struct output_artifact *a = NULL;

	for (size_t i = 0; i < o->nartifacts; i++) {
		if (strlen(o->artifacts[i].name) == nlen &&
		    memcmp(o->artifacts[i].name, name, nlen) == 0) {
			a = &o->artifacts[i];
			free(a->uri);
			free(a->model_name);
			break;
		}
	}
	if (a == NULL) {
		if (o->nartifacts >= LIM_OUTPUT_ARTIFACTS) {
			o->ignored++;
			return;
		}
		if (sys_grow((void **)&o->artifacts, o->nartifacts,
		    &o->aartifacts, sizeof(*o->artifacts),
		    LIM_OUTPUT_ARTIFACTS) < 0)
			abort();	/* out of memory */
		a = &o->artifacts[o->nartifacts++];
		memcpy(a->name, name, nlen);
		a->name[nlen] = '\0';
	}
	a->uri = dup_n(uri, ulen);
	a->model_name = model != NULL ? dup_n(model, mlen) : NULL;
	a->line = o->line;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Next item of s[*i..n): its start and length; 0 when none is left. */
static int
next_item(const char *s, size_t n, size_t *i, const char **item,
    size_t *len)
{
	while (*i < n && is_space(s[*i]))
		(*i)++;
	if (*i >= n)
		return 0;
	*item = s + *i;
	while (*i < n && !is_space(s[*i]))
		(*i)++;
	*len = (size_t)(s + *i - *item);
	return 1;
}

/* Split NAME=VALUE; -1 without '=' or with an empty side. */
static int
split_kv(const char *item, size_t len, size_t *klen, const char **val,
    size_t *vlen)
{
	const char *eq = memchr(item, '=', len);

	if (eq == NULL || eq == item || eq == item + len - 1)
		return -1;
	*klen = (size_t)(eq - item);
	*val = eq + 1;
	*vlen = len - *klen - 1;
	return 0;
}

static int
printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static void
parse_metrics(struct stage_output *o, const char *s, size_t n)
{
	const char *item, *val;
	size_t i = 0, len, klen, vlen;
	double v;

	while (next_item(s, n, &i, &item, &len)) {
		if (split_kv(item, len, &klen, &val, &vlen) < 0 ||
		    !pipeline_output_name_valid(item, klen) || klen >= 64 ||
		    parse_number(val, vlen, &v) < 0) {
			o->ignored++;
			continue;
		}
		add_metric(o, item, klen, v);
	}
}

static void
parse_artifact(struct stage_output *o, const char *s, size_t n)
{
	const char *item, *name = NULL, *uri = NULL, *model = NULL, *val;
	size_t i = 0, len, klen, vlen, nlen = 0, ulen = 0, mlen = 0;

	while (next_item(s, n, &i, &item, &len)) {
		if (split_kv(item, len, &klen, &val, &vlen) < 0 ||
		    !printable(val, vlen)) {
			o->ignored++;
			continue;
		}
		if (name == NULL) {
			if (!pipeline_output_name_valid(item, klen) ||
			    klen >= 64 || vlen > LIM_URL) {
				o->ignored++;
				return;
			}
			name = item;
			nlen = klen;
			uri = val;
			ulen = vlen;
		} else if (klen == 4 && memcmp(item, "name", 4) == 0 &&
		    vlen <= MODEL_NAME_MAX) {
			model = val;
			mlen = vlen;
		} else {
			o->ignored++;
		}
	}
	if (name != NULL)
		add_artifact(o, name, nlen, uri, ulen, model, mlen);
}

static void
parse_line(struct stage_output *o, const char *s, size_t n)
{
	static const char metric[] = "::metric", artifact[] = "::artifact";

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > sizeof(metric) - 1 && memcmp(s, metric, sizeof(metric) - 1)
	    == 0 && is_space(s[sizeof(metric) - 1]))
		parse_metrics(o, s + sizeof(metric), n - sizeof(metric));
	else if (n > sizeof(artifact) - 1 && memcmp(s, artifact,
	    sizeof(artifact) - 1) == 0 && is_space(s[sizeof(artifact) - 1]))
		parse_artifact(o, s + sizeof(artifact), n - sizeof(artifact));
}

/* The current line (partial + s[0..n)) has ended. */
static void
end_line(struct stage_output *o, const char *s, size_t n)
{
	if (!o->overlong) {
		if (o->partial.len == 0) {
			if (n <= LIM_OUTPUT_LINE)
				parse_line(o, s, n);
		} else if (buf_append(&o->partial, s, n) == 0) {
			parse_line(o, o->partial.data, o->partial.len);
		}
	}
	buf_reset(&o->partial);
	o->overlong = 0;
	o->line++;
}

void
stage_output_feed(struct stage_output *o, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n;

		if (nl == NULL) {
			if (!o->overlong && buf_append(&o->partial, data, len) < 0)
				o->overlong = 1;
			return;
		}
		n = (size_t)(nl - data);
		end_line(o, data, n);
		data += n + 1;
		len -= n + 1;
	}
}

void
stage_output_finish(struct stage_output *o)
{
	if (o->partial.len > 0 || o->overlong)
		end_line(o, "", 0);
}

int
stage_output_metric(const struct stage_output *o, const char *name,
    double *value)
{
	for (size_t i = o->nmetrics; i-- > 0;) {
		if (strcmp(o->metrics[i].name, name) == 0) {
			*value = o->metrics[i].value;
			return 1;
		}
	}
	return 0;
}

const struct output_artifact *
stage_output_artifact(const struct stage_output *o, const char *name)
{
	for (size_t i = 0; i < o->nartifacts; i++)
		if (strcmp(o->artifacts[i].name, name) == 0)
			return &o->artifacts[i];
	return NULL;
}

void
stage_output_resume(struct stage_output *o, int64_t line, int mid_line)
{
	buf_reset(&o->partial);
	o->line = line;
	o->overlong = mid_line;
}

void
stage_output_put_metric(struct stage_output *o, const char *name,
    double value, int64_t line)
{
	int64_t cur = o->line;
	size_t n = strlen(name);

	if (n == 0 || n >= sizeof(o->metrics[0].name)) {
		o->ignored++;
		return;
	}
	o->line = line;
	add_metric(o, name, n, value);
	o->line = cur;
}

void
stage_output_put_artifact(struct stage_output *o, const char *name,
    const char *uri, const char *model_name, int64_t line)
{
	int64_t cur = o->line;
	size_t n = strlen(name);

	if (n == 0 || n >= sizeof(o->artifacts[0].name)) {
		o->ignored++;
		return;
	}
	o->line = line;
	add_artifact(o, name, n, uri, strlen(uri), model_name,
	    model_name != NULL ? strlen(model_name) : 0);
	o->line = cur;
}
