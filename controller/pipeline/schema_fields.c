/*
 * schema_fields.c - the schema's typed readers (strings, numbers,
 * durations, enums, lists, maps) and the value checks its walkers share.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"
#include "base/units.h"
#include "pipeline/k8s_names.h"
#include "pipeline/schema_int.h"
/* "expected WHAT, got ..." for n. */
void
sch_type_err(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *what)
{
	const struct ynode *d = D(n);

	if (d->kind != Y_SCALAR || is_null(d))
		verr(c, n, path, "expected %s, got %s", what, kind_name(d));
	else if (d->plain)
		verr(c, n, path, "expected %s, got %s", what, QN(c, d));
	else
		verr(c, n, path, "expected %s, got the string %s", what,
		    QN(c, d));
}



/*
 * Sort the pairs of mapping n into f by name; report unknown keys.
 * Return -1 when n is not a mapping (reported).
 */
int
sch_get_fields(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct field *f, size_t nf)
{
	const struct ynode *m = D(n);
	const char *names[32];

	BUG_ON(nf > NELEM(names));
	if (m->kind != Y_MAP) {
		sch_type_err(c, n, path, "a mapping");
		return -1;
	}
	for (size_t j = 0; j < nf; j++)
		names[j] = f[j].name;
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *k = m->kids[i], *kd = D(k);
		size_t j;

		if (k->skip)
			continue;
		for (j = 0; j < nf; j++) {
			if (strlen(f[j].name) == kd->len &&
			    memcmp(f[j].name, kd->s, kd->len) == 0)
				break;
		}
		if (j < nf) {
			f[j].key = k;
			f[j].val = m->kids[i + 1];
		} else if (kd->plain && strcmp(kd->s, "<<") == 0) {
			verr(c, k, path, "merge keys (\"<<\") are not supported");
		} else {
			verr(c, k, path, "unknown field %s%s", QN(c, kd),
			    suggest(c, kd->s, kd->len, names, nf));
		}
	}
	return 0;
}

void
sch_missing(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *name)
{
	verr(c, n, path, "missing required field \"%s\"", name);
}

/* Count bytes that end up in the pipeline against LIM_PIPELINE_EXPANDED. */
int
sch_add_bytes(struct vctx *c, size_t n, const struct ynode *at)
{
	if (c->bytes + n > LIM_PIPELINE_EXPANDED || c->bytes + n < c->bytes) {
		if (!c->toobig)
			verr(c, at, NULL, "the pipeline is larger than %d bytes "
			    "once aliases and defaults are expanded",
			    LIM_PIPELINE_EXPANDED);
		c->toobig = 1;
		return -1;
	}
	c->bytes += n;
	return 0;
}

/* A string: any scalar but null, taken as written, without NUL. */
int
sch_get_str(struct vctx *c, const struct ynode *n, const struct vpath *path,
    char **out)
{
	const struct ynode *d = D(n);

	*out = NULL;
	if (d->kind != Y_SCALAR || is_null(d)) {
		sch_type_err(c, n, path, "a string");
		return -1;
	}
	if (memchr(d->s, '\0', d->len) != NULL) {
		verr(c, n, path, "must not contain a NUL character");
		return -1;
	}
	if (sch_add_bytes(c, d->len, n) < 0)
		return -1;
	*out = arena_strndup(c->pa, d->s, d->len);
	return 0;
}

int
sch_get_int(struct vctx *c, const struct ynode *n, const struct vpath *path,
    long long lo, long long hi, long long *out)
{
	const struct ynode *d = D(n);
	const char *s = d->s;
	long long v = 0;
	int neg = 0;

	if (d->kind != Y_SCALAR || !d->plain || is_null(d))
		goto bad;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (*s == '\0')
		goto bad;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *s - '0', &v))
			goto range;
	}
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		goto range;
	*out = v;
	return 0;
range:
	verr(c, n, path, "must be between %lld and %lld (got %s)", lo, hi,
	    d->s);
	return -1;
bad:
	sch_type_err(c, n, path, "an integer");
	return -1;
}

int
sch_get_bool(struct vctx *c, const struct ynode *n, const struct vpath *path,
    int *out)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	const struct ynode *d = D(n);

	if (d->kind == Y_SCALAR && d->plain) {
		for (size_t i = 0; i < NELEM(yes); i++) {
			if (strcmp(d->s, yes[i]) == 0) {
				*out = 1;
				return 0;
			}
			if (strcmp(d->s, no[i]) == 0) {
				*out = 0;
				return 0;
			}
		}
	}
	sch_type_err(c, n, path, "true or false");
	return -1;
}

/* A YAML 1.2 core float: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? */
int
sch_get_number(struct vctx *c, const struct ynode *n, const struct vpath *path,
    double *out)
{
	const struct ynode *d = D(n);
	const char *s = d->s;
	char tmp[64];
	size_t digits = 0;
	double v;

	if (d->kind != Y_SCALAR || !d->plain || is_null(d) || d->len > 40)
		goto bad;
	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, digits++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, digits++;
	}
	if (digits == 0)
		goto bad;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			goto bad;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s != '\0')
		goto bad;
	v = strtod(d->s, NULL);
	if (!isfinite(v)) {
		verr(c, n, path, "number out of range (got %s)", d->s);
		return -1;
	}
	/* 15 significant digits, so that canonical JSON is exact */
	(void)snprintf(tmp, sizeof(tmp), "%.15g", v);
	*out = strtod(tmp, NULL);
	return 0;
bad:
	sch_type_err(c, n, path, "a number");
	return -1;
}

int
sch_get_duration(struct vctx *c, const struct ynode *n, const struct vpath *path,
    int64_t min_ms, int64_t *out)
{
	const struct ynode *d = D(n);
	char min[32];
	int64_t ms;

	if (d->kind != Y_SCALAR || is_null(d)) {
		sch_type_err(c, n, path, "a duration");
		return -1;
	}
	if (memchr(d->s, '\0', d->len) != NULL ||
	    units_parse_duration(d->s, &ms) < 0) {
		verr(c, n, path, "invalid duration %s (expected e.g. \"30s\", "
		    "\"5m\", \"2h\" or \"1h30m\")", QN(c, d));
		return -1;
	}
	if (ms < min_ms) {
		units_format_duration(min_ms, min, sizeof(min));
		verr(c, n, path, "must be at least %s (got %s)", min, QN(c, d));
		return -1;
	}
	*out = ms;
	return 0;
}

/* One of names; *out is its index. */
int
sch_get_enum(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *what, const char *const *names, size_t nn, int *out)
{
	const struct ynode *d = D(n);
	char list[256];
	size_t o = 0;

	if (d->kind == Y_SCALAR && !is_null(d)) {
		for (size_t i = 0; i < nn; i++) {
			if (strlen(names[i]) == d->len &&
			    memcmp(names[i], d->s, d->len) == 0) {
				*out = (int)i;
				return 0;
			}
		}
	}
	list[0] = '\0';
	for (size_t i = 0; i < nn && o < sizeof(list); i++) {
		int k = snprintf(list + o, sizeof(list) - o, "%s%s",
		    i > 0 ? ", " : "", names[i]);

		if (k < 0)
			break;
		o += (size_t)k;
	}
	if (d->kind != Y_SCALAR || is_null(d))
		verr(c, n, path, "invalid %s: expected one of %s, got %s", what,
		    list, kind_name(d));
	else
		verr(c, n, path, "invalid %s %s (expected one of %s)", what,
		    QN(c, d), list);
	return -1;
}

void
sch_record_tmpl(struct vctx *c, long stage, const struct ynode *n,
    const struct vpath *path, const char *s, int image)
{
	char p[512];
	struct tmpl *t;

	if (strstr(s, "${") == NULL)
		return;
	vpath_render(path, p, sizeof(p));
	if (sys_grow((void **)&c->tmpls, c->ntmpls, &c->atmpls,
	    sizeof(*c->tmpls), 0) < 0)
		abort();	/* out of memory, as xcalloc() */
	t = &c->tmpls[c->ntmpls++];
	t->stage = stage;
	t->node = n;
	t->path = arena_strndup(&c->t->a, p, strlen(p));
	t->s = s;
	t->image = image;
}



int
sch_get_str_list(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const struct item_rule *rule, struct pipeline_strs *out)
{
	const struct ynode *d = D(n);

	memset(out, 0, sizeof(*out));
	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return -1;
	}
	out->v = arena_array(c->pa, d->n, sizeof(*out->v));
	out->pos = arena_array(c->pa, d->n, sizeof(*out->pos));
	for (size_t i = 0; i < d->n; i++) {
		const struct ynode *it = d->kids[i];
		const char *why;
		char *s;

		PIDX(ip, path, i);
		if (sch_get_str(c, it, &ip, &s) < 0)
			continue;
		if (rule != NULL && rule->check != NULL &&
		    (why = rule->check(s)) != NULL) {
			verr(c, it, &ip, "invalid %s %s: %s", rule->noun,
			    QS(c, s), why);
			continue;
		}
		if (rule != NULL && rule->tmpl_stage != NO_TMPL)
			sch_record_tmpl(c, rule->tmpl_stage, it, &ip, s, 0);
		out->v[out->n] = s;
		out->pos[out->n] = pos_of(it);
		out->n++;
	}
	return 0;
}


int
sch_get_str_map(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const struct map_rule *rule, struct pipeline_map *out)
{
	const struct ynode *d = D(n);

	memset(out, 0, sizeof(*out));
	if (d->kind != Y_MAP) {
		sch_type_err(c, n, path, "a mapping");
		return -1;
	}
	out->v = arena_array(c->pa, d->n / 2, sizeof(*out->v));
	for (size_t i = 0; i + 1 < d->n; i += 2) {
		const struct ynode *k = d->kids[i], *kd = D(k);
		const struct ynode *v = d->kids[i + 1];
		const char *why;
		char *ks, *vs;

		if (k->skip)
			continue;
		PKEY(kp, path, "");
		kp.seg.key = kd->s;
		kp.seg.keylen = kd->len;
		if (memchr(kd->s, '\0', kd->len) != NULL) {
			verr(c, k, path, "invalid %s %s: must not contain a NUL "
			    "character", rule->key_noun, QN(c, kd));
			continue;
		}
		if ((why = rule->key_check(kd->s)) != NULL) {
			verr(c, k, path, "invalid %s %s: %s", rule->key_noun,
			    QN(c, kd), why);
			continue;
		}
		if (sch_get_str(c, v, &kp, &vs) < 0)
			continue;
		if (rule->value_check != NULL &&
		    (why = rule->value_check(vs)) != NULL) {
			verr(c, v, &kp, "invalid value %s: %s", QS(c, vs), why);
			continue;
		}
		if (sch_add_bytes(c, kd->len, k) < 0)
			continue;
		ks = arena_strndup(c->pa, kd->s, kd->len);
		if (rule->tmpl_stage != NO_TMPL)
			sch_record_tmpl(c, rule->tmpl_stage, v, &kp, vs, 0);
		out->v[out->n].key = ks;
		out->v[out->n].value = vs;
		out->v[out->n].pos = pos_of(v);
		out->n++;
	}
	return 0;
}

const char *
sch_check_env_key(const char *s)
{
	const char *why = k8s_check_env_name(s);

	if (why != NULL)
		return why;
	if (strncmp(s, "SLUICE_", 7) == 0)
		return "the SLUICE_ prefix is reserved for the variables the "
		    "controller sets";
	return NULL;
}

const char *
sch_check_param_name(const char *s)
{
	return k8s_check_env_name(s);
}

/* Glob patterns of branches and paths. */
const char *
sch_check_glob(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (s[0] == '/')
		return "must be relative (no leading \"/\")";
	if (s[n - 1] == '/')
		return "must not end with \"/\"";
	if (strstr(s, "//") != NULL)
		return "must not contain an empty segment (\"//\")";
	for (const char *p = s; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if ((p[0] == '.' && (p[1] == '/' || p[1] == '\0')) ||
		    (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')))
			return "must not contain \".\" or \"..\" segments";
	}
	return NULL;
}

const char *
sch_check_quantity(const char *s)
{
	if (s[0] == '-')
		return "must not be negative";
	return k8s_check_quantity(s);
}

const char *
sch_check_gpu_resource(const char *s)
{
	const char *why = k8s_check_qualified_name(s);

	if (why != NULL)
		return why;
	if (strchr(s, '/') == NULL)
		return "must have a domain prefix, such as nvidia.com/gpu";
	return NULL;
}

const char *
sch_check_mount(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '/')
		return "must be an absolute path";
	if (n == 1)
		return "must not be \"/\"";
	if (n >= LIM_PATH)
		return "is too long";
	if (strchr(s, ':') != NULL)
		return "must not contain ':'";
	for (const char *p = s; p != NULL; p = strchr(p + 1, '/')) {
		if (strncmp(p, "/..", 3) == 0 && (p[3] == '/' || p[3] == '\0'))
			return "must not contain \"..\"";
	}
	return NULL;
}

const char *
sch_check_output_name(const char *s)
{
	if (!pipeline_output_name_valid(s, strlen(s)))
		return "must be 1 to 63 characters of letters, digits, '_', "
		    "'.', '-' or '/', starting with a letter or '_'";
	return NULL;
}
