/*
 * pipeline.c - pipeline definitions; see pipeline.h.  This file drives the
 * parse (pipeline_parse, pipeline_free) and holds what every pass shares:
 * the arenas, UTF-8 decoding, the error list and how messages are quoted
 * and placed.  The passes themselves are described in pipeline_int.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"

/*
 * Arenas
 */

#define ARENA_BLOCK	(64 * 1024)

struct arena_block {
	struct arena_block	*next;
	size_t			 used;
	size_t			 size;
	max_align_t		 data[];
};

void *
arena_alloc(struct pipeline_arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct arena_block *b = a->head;
	size_t size;
	void *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - align)
		abort();
	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		b = calloc(1, sizeof(*b) + size);
		if (b == NULL)
			abort();
		b->size = size;
		if (n > ARENA_BLOCK / 4 && a->head != NULL) {
			/* a big one goes behind, keeping the head's room */
			b->next = a->head->next;
			a->head->next = b;
			b->used = n;
			return b->data;
		}
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* n elements of size, zeroed, with overflow checked. */
void *
arena_array(struct pipeline_arena *a, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		abort();
	return arena_alloc(a, total);
}

char *
arena_strndup(struct pipeline_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
arena_release(struct pipeline_arena *a)
{
	struct arena_block *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}
/*
 * UTF-8
 */

/*
 * Decode one UTF-8 sequence at s (n bytes left).  Return its length and
 * the code point in *cp, or 0 when it is not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included).
 */
size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/* Cut s (NUL-terminated) back so that it does not end inside a sequence. */
static void
utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;
	uint32_t cp;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0) {
		if (utf8_decode((unsigned char *)s + i - 1, n - i + 1, &cp) !=
		    n - i + 1)
			s[i - 1] = '\0';
	}
}

/* Append s[0..n) to b with invalid bytes replaced by U+FFFD. */
static int
utf8_sanitize(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;
	int rc;

	while (i < n) {
		if ((k = utf8_decode(p + i, n - i, &cp)) == 0) {
			if ((rc = buf_puts(b, "\xef\xbf\xbd")) < 0)
				return rc;
			i++;
			continue;
		}
		if ((rc = buf_append(b, p + i, k)) < 0)
			return rc;
		i += k;
	}
	return 0;
}

/*
 * Errors
 */

void
pipeline_errors_init(struct pipeline_errors *e)
{
	e->v = NULL;
	e->n = 0;
	e->alloc = 0;
}

void
pipeline_errors_release(struct pipeline_errors *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].file);
		free(e->v[i].message);
	}
	free(e->v);
	pipeline_errors_init(e);
}

static int
errors_push(struct pipeline_errors *e, const char *file, int line,
    int column, const char *msg)
{
	struct pipeline_error *x;

	if (sys_grow((void **)&e->v, e->n, &e->alloc, sizeof(*e->v), 0) < 0)
		return ERR_NOMEM;
	x = &e->v[e->n];
	x->file = strdup(file != NULL ? file : "");
	x->message = strdup(msg);
	if (x->file == NULL || x->message == NULL) {
		free(x->file);
		free(x->message);
		return ERR_NOMEM;
	}
	x->line = line;
	x->column = column;
	e->n++;
	return 0;
}

int
pipeline_errors_add(struct pipeline_errors *e, const char *file, int line,
    int column, const char *fmt, ...)
{
	char msg[LIM_PIPELINE_ERROR_MSG];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);	/* may truncate */
	va_end(ap);
	utf8_trim(msg);
	return errors_push(e, file, line, column, msg);
}

static json_t *
json_text(const char *s)
{
	struct buf b;
	json_t *j;

	buf_init(&b, 4 * LIM_PIPELINE_ERROR_MSG + LIM_PATH * 4);
	if (utf8_sanitize(&b, s, strlen(s)) < 0) {
		buf_release(&b);
		return NULL;
	}
	j = json_string(b.data != NULL ? b.data : "");
	buf_release(&b);
	return j;
}

int
pipeline_errors_to_json(const struct pipeline_errors *e, char **out,
    struct err *err)
{
	json_t *a = NULL, *o;
	int rc = ERR_NOMEM;

	*out = NULL;
	if ((a = json_array()) == NULL)
		goto out;
	for (size_t i = 0; i < e->n; i++) {
		o = json_pack("{s:o?,s:i,s:i,s:o?}",
		    "file", json_text(e->v[i].file),
		    "line", e->v[i].line, "column", e->v[i].column,
		    "message", json_text(e->v[i].message));
		if (o == NULL || json_array_append_new(a, o) < 0)
			goto out;
	}
	if ((*out = json_dumps(a, JSON_COMPACT)) == NULL)
		goto out;
	rc = 0;
out:
	json_decref(a);
	if (rc < 0)
		err_set(err, rc, "cannot serialize errors: out of memory");
	return rc;
}
/*
 * Quote s[0..n) for a message into out (at least QUOTE_MAX bytes): double
 * quotes, escapes for quotes, backslashes and control characters, cut
 * after 64 bytes (on a character boundary) with "...".
 */
const char *
quote_into(char *out, const char *s, size_t n)
{
	size_t o = 0, i = 0, k;
	uint32_t cp;

	out[o++] = '"';
	while (i < n) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= 64) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
			i++;
		} else if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
			i++;
		} else if (ch == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
			i++;
		} else if (ch < 0x80 && ch >= 0x20 && ch != 0x7f) {
			out[o++] = (char)ch;
			i++;
		} else if (ch >= 0x80 && (k = utf8_decode(
		    (const unsigned char *)s + i, n - i, &cp)) > 0) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			(void)snprintf(out + o, 5, "\\x%02x", ch);
			o += 4;
			i++;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* quote_into() a buffer of c that lives until four more calls */
const char *
Q(struct vctx *c, const char *s, size_t n)
{
	char *out = c->q[c->qi];

	c->qi = (c->qi + 1) % 4;
	return quote_into(out, s, n);
}

#define QS(c, s)	Q((c), (s), strlen(s))
#define QN(c, n)	Q((c), (n)->s, (n)->len)

static int
key_is_simple(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/*
 * Write segs as spec.stages[1].env.NAME or node_selector["a.b/c"].  Keys
 * are quoted into a local buffer: the caller's message arguments may be
 * in c->q.
 */
void
render_path(char *out, size_t outlen, const struct seg *segs, size_t n)
{
	char q[QUOTE_MAX];
	size_t o = 0;
	int k;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < outlen; i++) {
		if (segs[i].key == NULL)
			k = snprintf(out + o, outlen - o, "[%zu]", segs[i].index);
		else if (key_is_simple(segs[i].key, segs[i].keylen))
			k = snprintf(out + o, outlen - o, "%s%.*s",
			    i > 0 ? "." : "", (int)segs[i].keylen, segs[i].key);
		else
			k = snprintf(out + o, outlen - o, "[%s]",
			    quote_into(q, segs[i].key, segs[i].keylen));
		if (k < 0)
			break;
		o += (size_t)k;
	}
	if (o >= outlen)
		out[outlen - 1] = '\0';
}

void
vpath_render(const struct vpath *path, char *out, size_t outlen)
{
	struct seg segs[LIM_YAML_DEPTH + 8];
	size_t n = 0, i;
	const struct vpath *p;

	for (p = path; p != NULL; p = p->up)
		n++;
	if (n > NELEM(segs)) {
		out[0] = '\0';
		return;
	}
	i = n;
	for (p = path; p != NULL; p = p->up)
		segs[--i] = p->seg;
	render_path(out, outlen, segs, n);
}

/*
 * Record an error at line:col, with "path: " before the message when the
 * path is not empty.
 */
void
verr_at(struct vctx *c, int line, int col, const char *path,
    const char *fmt, va_list ap)
{
	char msg[LIM_PIPELINE_ERROR_MSG];
	size_t o = 0;

	if (c->nomem)
		return;
	if (c->nerr >= LIM_PIPELINE_ERRORS) {
		c->nerr++;
		return;
	}
	msg[0] = '\0';
	if (path != NULL && path[0] != '\0') {
		int k = snprintf(msg, sizeof(msg), "%s: ", path);

		o = k > 0 && (size_t)k < sizeof(msg) ? (size_t)k : 0;
	}
	(void)vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
	utf8_trim(msg);
	if (c->nerr + 1 == LIM_PIPELINE_ERRORS)
		(void)snprintf(msg, sizeof(msg), "too many errors; only the "
		    "first %d are shown", LIM_PIPELINE_ERRORS - 1);
	if (errors_push(c->errs, c->file, line, col, msg) < 0)
		c->nomem = 1;
	c->nerr++;
}

void
verr(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void
verr(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *fmt, ...)
{
	char p[512];
	va_list ap;

	vpath_render(path, p, sizeof(p));
	va_start(ap, fmt);
	verr_at(c, n != NULL ? n->line : 1, n != NULL ? n->col : 1, p, fmt, ap);
	va_end(ap);
}

void
verr_raw(struct vctx *c, int line, int col, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void
verr_raw(struct vctx *c, int line, int col, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(c, line, col, path, fmt, ap);
	va_end(ap);
}
/*
 * Optimal string alignment distance between a and b, or 3 when it is more
 * than 2 (all we need for suggestions).
 */
static int
osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
	int rows[3][66];
	int *pp, *p, *cur, best;

	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	pp = rows[0];
	p = rows[1];
	cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		p[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int *tmp;

		cur[0] = (int)i;
		best = cur[0];
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = p[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
			if (v < best)
				best = v;
		}
		if (best > 2)
			return 3;
		tmp = pp;
		pp = p;
		p = cur;
		cur = tmp;
	}
	return p[lb] > 2 ? 3 : p[lb];
}

/*
 * " (did you mean "x"?)" for the closest of names to s, or "".  Bounded
 * per file so that hostile input cannot make it quadratic.
 */
const char *
suggest(struct vctx *c, const char *s, size_t len, const char *const *names,
    size_t n)
{
	const char *best = NULL;
	int bestd = 3, maxd = len <= 4 ? 1 : 2;
	char *out;

	if (c->suggestions >= 50)
		return "";
	c->suggestions++;
	for (size_t i = 0; i < n; i++) {
		int d;

		if (names[i] == NULL)
			continue;
		d = osa_distance(s, len, names[i], strlen(names[i]));
		if (d <= maxd && d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	if (best == NULL)
		return "";
	out = c->q[c->qi];
	c->qi = (c->qi + 1) % 4;
	(void)snprintf(out, sizeof(c->q[0]), " (did you mean %s?)",
	    QS(c, best));
	return out;
}
/*
 * pipeline_parse
 */

struct errsort {
	struct pipeline_error	e;
	size_t			i;
};

static int
errsort_cmp(const void *a, const void *b)
{
	const struct errsort *x = a, *y = b;

	if (x->e.line != y->e.line)
		return x->e.line < y->e.line ? -1 : 1;
	if (x->e.column != y->e.column)
		return x->e.column < y->e.column ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static void
sort_errors(struct pipeline_errors *errs, size_t first)
{
	size_t n = errs->n - first;
	struct errsort *v;

	if (n < 2)
		return;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].e = errs->v[first + i];
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), errsort_cmp);
	for (size_t i = 0; i < n; i++)
		errs->v[first + i] = v[i].e;
	free(v);
}
int
pipeline_parse(struct pipeline **out, struct pipeline_errors *errs,
    const char *data, size_t len, const char *file, struct err *err)
{
	struct pipeline *p = NULL;
	struct vctx c;
	int rc = 0;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	podsec_init(&c.default_security_context);
	c.file = file;
	c.data = data;
	c.len = len;
	c.errs = errs;
	c.first = errs->n;
	if (len > LIM_PIPELINE_FILE) {
		verr_raw(&c, 1, 1, NULL, "file is too large (%zu bytes; the "
		    "limit is %d)", len, LIM_PIPELINE_FILE);
		goto done;
	}
	/* libyaml, told the encoding, would take a BOM for text */
	if (c.len >= 3 && memcmp(c.data, "\xef\xbb\xbf", 3) == 0) {
		c.data += 3;
		c.len -= 3;
	}
	if (check_bytes(&c) < 0)
		goto done;
	c.t = xcalloc(1, sizeof(*c.t));
	p = xcalloc(1, sizeof(*p));
	p->arena = xcalloc(1, sizeof(*p->arena));
	p->triggers.push = 1;
	p->concurrency = 1;
	p->retention.keep_runs = -1;
	p->retention.max_age_ms = -1;
	c.p = p;
	c.pa = p->arena;
	if (ytree_build(&c) < 0 || c.nomem)
		goto done;
	walk_root(&c, c.t->root);
	if (!c.nomem)
		cross_checks(&c);
done:
	if (c.nerr >= LIM_PIPELINE_ERRORS) {
		/* the cap message goes last, whatever its position */
		struct pipeline_error last;

		if (errs->n > c.first) {
			last = errs->v[errs->n - 1];
			errs->n--;
			sort_errors(errs, c.first);
			errs->v[errs->n++] = last;
		}
	} else {
		sort_errors(errs, c.first);
	}
	if (c.nomem) {
		rc = err_set(err, ERR_NOMEM, "%s: out of memory", file);
	} else if (c.nerr > 0) {
		const struct pipeline_error *e = &errs->v[c.first];

		if (c.nerr > 1)
			rc = err_set(err, ERR_INVALID, "%s:%d:%d: %s (and %zu "
			    "more errors)", e->file, e->line, e->column,
			    e->message, c.nerr - 1);
		else
			rc = err_set(err, ERR_INVALID, "%s:%d:%d: %s", e->file,
			    e->line, e->column, e->message);
	} else {
		*out = p;
		p = NULL;
	}
	ytree_free(c.t);
	free(c.tmpls);
	pipeline_free(p);
	return rc;
}

void
pipeline_free(struct pipeline *p)
{
	if (p == NULL)
		return;
	if (p->arena != NULL) {
		arena_release(p->arena);
		free(p->arena);
	}
	free(p);
}
/*
 * Stages and gates
 */

const struct pipeline_stage *
pipeline_stage_find(const struct pipeline *p, const char *name)
{
	long i = pipeline_stage_index(p, name);

	return i < 0 ? NULL : &p->stages[i];
}

long
pipeline_stage_index(const struct pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->nstages; i++) {
		if (p->stages[i].name != NULL &&
		    strcmp(p->stages[i].name, name) == 0)
			return (long)i;
	}
	return -1;
}

int
pipeline_depends_on(const struct pipeline *p, size_t a, size_t b)
{
	size_t words = (p->nstages + 63) / 64;

	if (a >= p->nstages || b >= p->nstages || p->closure == NULL)
		return 0;
	return (p->closure[a * words + b / 64] >> (b % 64)) & 1;
}

const char *
pipeline_op_name(enum pipeline_op op)
{
	static const char *const names[] = { ">=", ">", "<=", "<", "==",
	    "!=" };

	return (size_t)op < NELEM(names) ? names[op] : "?";
}

const char *
pipeline_traffic_provider_name(enum pipeline_traffic_provider p)
{
	static const char *const names[] = { "command", "kserve", "gateway" };

	return (size_t)p < NELEM(names) ? names[p] : "?";
}

int
pipeline_gate_holds(const struct pipeline_gate *g, double observed,
    double production)
{
	double ref = g->value, tol = g->baseline ? g->tolerance : 0;

	if (g->baseline)
		ref = production;
	if (isnan(observed) || isnan(ref))
		return 0;
	switch (g->op) {
	case PIPELINE_OP_GE:
		return observed >= ref - tol;
	case PIPELINE_OP_GT:
		return observed > ref - tol;
	case PIPELINE_OP_LE:
		return observed <= ref + tol;
	case PIPELINE_OP_LT:
		return observed < ref + tol;
	case PIPELINE_OP_EQ:
		return fabs(observed - ref) <= tol;
	case PIPELINE_OP_NE:
		return fabs(observed - ref) > tol;
	}
	return 0;
}
