/*
 * pipeline.c - pipeline definitions; see pipeline.h.
 *
 * Three passes over one file:
 *
 * 1. The bytes: size cap, UTF-8 and the characters YAML forbids, so that
 *    those errors get an exact position and a plain message.
 * 2. libyaml's event parser builds our own tree of nodes (struct ynode),
 *    each with its position.  Building it ourselves, rather than with
 *    yaml_parser_load(), is what lets us bound nesting and alias expansion
 *    while parsing, find duplicate keys, and keep positions for aliases.
 * 3. Schema walkers check every field against docs/pipeline-reference.md, report every
 *    error with the path of the node, and fill struct pipeline; a last
 *    pass checks what spans stages (names, needs, cycles, references,
 *    canary targets).
 *
 * Memory comes from arenas: one for the tree, dropped at the end of the
 * parse, and one owned by the pipeline.  Allocation failure aborts, as
 * xcalloc() does; inputs are capped, so memory is bounded.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/units.h"
#include "pipeline/k8s_names.h"
#include "pipeline/pipeline.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define QUOTE_MAX	280	/* 64 bytes quoted, escaped, with "..." */

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

struct pipeline_arena {
	struct arena_block	*head;
};

static void *
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
static void *
arena_array(struct pipeline_arena *a, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		abort();
	return arena_alloc(a, total);
}

static char *
arena_strndup(struct pipeline_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
arena_release(struct pipeline_arena *a)
{
	struct arena_block *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

/* realloc that aborts, for the growing arrays outside arenas */
static void *
xgrow(void *p, size_t *alloc, size_t need, size_t size)
{
	size_t n = *alloc ? *alloc : 16, bytes;

	if (need <= *alloc)
		return p;
	while (n < need) {
		if (__builtin_mul_overflow(n, 2, &n))
			abort();
	}
	if (__builtin_mul_overflow(n, size, &bytes))
		abort();
	if ((p = realloc(p, bytes)) == NULL)
		abort();
	*alloc = n;
	return p;
}

/*
 * UTF-8
 */

/*
 * Decode one UTF-8 sequence at s (n bytes left).  Return its length and
 * the code point in *cp, or 0 when it is not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included).
 */
static size_t
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

	if (e->n == e->alloc) {
		size_t n = e->alloc ? e->alloc * 2 : 16;

		if ((x = realloc(e->v, n * sizeof(*x))) == NULL)
			return ERR_NOMEM;
		e->v = x;
		e->alloc = n;
	}
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
 * The YAML tree
 */

enum ykind { Y_SCALAR = 0, Y_SEQ, Y_MAP, Y_ALIAS };

struct ynode {
	enum ykind	 kind;
	unsigned char	 plain;		/* scalar typed by its text */
	unsigned char	 skip;		/* a key whose pair is ignored */
	int		 line;
	int		 col;
	const char	*s;		/* scalar text, NUL-terminated */
	size_t		 len;
	struct ynode	**kids;		/* seq items; map key, value, ... */
	size_t		 n;
	struct ynode	*target;	/* alias */
	size_t		 size;		/* nodes, aliases expanded */
	size_t		 bytes;		/* scalar bytes, aliases expanded */
};

/* A segment of a path: a key, or an index when key is NULL. */
struct seg {
	const char	*key;
	size_t		 keylen;
	size_t		 index;
};

/* A path while walking the schema: a chain up to the root. */
struct vpath {
	const struct vpath	*up;
	struct seg		 seg;
};

struct yframe {
	struct ynode	*node;
	size_t		 kids0;		/* its first child in ytree.stk */
	const char	*anchor;
};

#define ANCHOR_BUCKETS	1024

struct yanchor {
	struct yanchor	*next;
	const char	*name;
	struct ynode	*node;
};

struct ytree {
	struct pipeline_arena	 a;
	struct ynode		*root;
	struct ynode		**stk;	/* children of the open containers */
	size_t			 nstk;
	size_t			 astk;
	struct yframe		 frames[LIM_YAML_DEPTH + 1];
	int			 depth;
	struct yanchor		*anchors[ANCHOR_BUCKETS];
	size_t			 nodes;
	size_t			 aliases;
	size_t			 bytes;
	int			 docs;
};

/* What a validation holds while it runs. */
struct tmpl {
	long			 stage;	/* index, -1 for spec.defaults */
	const struct ynode	*node;
	const char		*path;	/* rendered */
	const char		*s;
	int			 image;
};

struct vctx {
	const char		*file;
	const char		*data;
	size_t			 len;
	struct pipeline_errors	*errs;
	size_t			 first;		/* this file's first error */
	size_t			 nerr;
	int			 nomem;
	struct ytree		*t;
	struct pipeline		*p;
	struct pipeline_arena	*pa;		/* the pipeline's */
	size_t			 bytes;		/* resolved scalar bytes */
	int			 toobig;
	char			 q[4][QUOTE_MAX];	/* quoted strings */
	int			 qi;
	size_t			 suggestions;	/* did-you-mean computed */
	/* per stage, for the checks across stages */
	const struct ynode	**stage_node;
	const struct ynode	**name_node;
	const struct ynode	***need_node;
	const struct ynode	**target_node;
	const char		*default_image;
	struct pipeline_map	 default_env;
	size_t			 default_env_cost;	/* to inherit it */
	struct tmpl		*tmpls;
	size_t			 ntmpls;
	size_t			 atmpls;
};

/*
 * Quote s[0..n) for a message into out (at least QUOTE_MAX bytes): double
 * quotes, escapes for quotes, backslashes and control characters, cut
 * after 64 bytes (on a character boundary) with "...".
 */
static const char *
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
static const char *
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
static void
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

static void
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
static void
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

static void
verr(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
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

static void
verr_raw(struct vctx *c, int line, int col, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
verr_raw(struct vctx *c, int line, int col, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(c, line, col, path, fmt, ap);
	va_end(ap);
}

/*
 * Positions.  libyaml counts lines at \n, \r\n, \r, U+0085, U+2028 and
 * U+2029, and columns in characters; these do the same on valid UTF-8.
 */
static void
offset_to_pos(const char *data, size_t off, int *line, int *col)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t i = 0, k;
	uint32_t cp;
	int l = 1, co = 1;

	while (i < off) {
		if (s[i] == '\r' && i + 1 < off && s[i + 1] == '\n') {
			i += 2;
			l++;
			co = 1;
			continue;
		}
		if ((k = utf8_decode(s + i, off - i, &cp)) == 0)
			k = 1, cp = 0xfffd;
		i += k;
		if (cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 ||
		    cp == 0x2029) {
			l++;
			co = 1;
		} else {
			co++;
		}
	}
	*line = l;
	*col = co;
}

/* The byte offset of 0-based line:col, or len when past the end. */
static size_t
pos_to_offset(const char *data, size_t len, size_t line, size_t col)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t i = 0, l = 0, co = 0, k;
	uint32_t cp;

	while (i < len && (l < line || co < col)) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			i += 2;
			l++;
			co = 0;
			continue;
		}
		if ((k = utf8_decode(s + i, len - i, &cp)) == 0)
			k = 1, cp = 0xfffd;
		if (l == line && (cp == '\n' || cp == '\r' || cp == 0x85 ||
		    cp == 0x2028 || cp == 0x2029))
			break;
		i += k;
		if (cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 ||
		    cp == 0x2029) {
			l++;
			co = 0;
		} else {
			co++;
		}
	}
	return i;
}

/*
 * Pass 1: the bytes.  Valid UTF-8, and only the characters YAML allows
 * (libyaml's reader rule): tab, line breaks, printable ASCII, U+0085,
 * U+00A0 and up except surrogates, U+FFFE and U+FFFF.
 */
static int
check_bytes(struct vctx *c)
{
	const unsigned char *s = (const unsigned char *)c->data;
	size_t i = 0, k;
	uint32_t cp;
	int line, col;

	while (i < c->len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		k = utf8_decode(s + i, c->len - i, &cp);
		if (k == 0) {
			offset_to_pos(c->data, i, &line, &col);
			verr_raw(c, line, col, NULL, "invalid UTF-8 (byte 0x%02x); "
			    "pipeline files must be UTF-8", s[i]);
			return ERR_INVALID;
		}
		if (!(cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x85 ||
		    (cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xfffd) ||
		    cp >= 0x10000)) {
			offset_to_pos(c->data, i, &line, &col);
			verr_raw(c, line, col, NULL, "control character U+%04X is "
			    "not allowed (write it as an escape in a "
			    "double-quoted string)", (unsigned)cp);
			return ERR_INVALID;
		}
		i += k;
	}
	return 0;
}

/*
 * Pass 2: events to tree.
 */

static unsigned
anchor_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % ANCHOR_BUCKETS;
}

static struct ynode *
anchor_find(struct ytree *t, const char *name)
{
	for (struct yanchor *a = t->anchors[anchor_hash(name)]; a != NULL;
	    a = a->next) {
		if (strcmp(a->name, name) == 0)
			return a->node;
	}
	return NULL;
}

static void
anchor_add(struct ytree *t, const char *name, struct ynode *n)
{
	struct yanchor *a = arena_alloc(&t->a, sizeof(*a));
	unsigned h = anchor_hash(name);

	a->name = name;
	a->node = n;
	a->next = t->anchors[h];	/* the latest definition wins */
	t->anchors[h] = a;
}

/* The segments of the path to the innermost open container's child. */
static size_t
ytree_segs(struct ytree *t, struct seg *segs, size_t max, int to_child)
{
	size_t n = 0;
	int last = to_child ? t->depth : t->depth - 1;

	for (int f = 1; f <= last && n < max; f++) {
		const struct yframe *pf = &t->frames[f - 1];
		size_t end = f < t->depth ? t->frames[f].kids0 : t->nstk;
		size_t count = end - pf->kids0;

		if (pf->node->kind == Y_MAP) {
			const struct ynode *k;

			if (count == 0 || count % 2 == 0)
				break;
			k = t->stk[end - 1];
			if (k->kind == Y_ALIAS)
				k = k->target;
			if (k->kind != Y_SCALAR)
				segs[n++] = (struct seg){ "?", 1, 0 };
			else
				segs[n++] = (struct seg){ k->s, k->len, 0 };
		} else {
			segs[n++] = (struct seg){ NULL, 0, count };
		}
	}
	return n;
}

static void
yerr(struct vctx *c, int line, int col, int to_child, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
yerr(struct vctx *c, int line, int col, int to_child, const char *fmt, ...)
{
	struct seg segs[LIM_YAML_DEPTH + 2];
	char path[512];
	va_list ap;
	size_t n;

	n = ytree_segs(c->t, segs, NELEM(segs), to_child);
	render_path(path, sizeof(path), segs, n);
	va_start(ap, fmt);
	verr_at(c, line, col, path, fmt, ap);
	va_end(ap);
}

static int
is_null(const struct ynode *n)
{
	return n->kind == Y_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->s, "~") == 0 ||
	    strcmp(n->s, "null") == 0 || strcmp(n->s, "Null") == 0 ||
	    strcmp(n->s, "NULL") == 0);
}

static const char *
kind_name(const struct ynode *n)
{
	if (n->kind == Y_ALIAS)
		n = n->target;
	if (n->kind == Y_MAP)
		return "a mapping";
	if (n->kind == Y_SEQ)
		return "a sequence";
	return is_null(n) ? "null" : "a string";
}

/* Count a new node (or an alias's expansion) against the caps. */
static int
ytree_count(struct vctx *c, size_t nodes, size_t bytes, int line, int col)
{
	struct ytree *t = c->t;

	t->nodes += nodes;
	t->bytes += bytes;
	if (t->nodes > LIM_YAML_NODES) {
		yerr(c, line, col, 1, "more than %d YAML nodes once aliases are "
		    "expanded", LIM_YAML_NODES);
		return ERR_INVALID;
	}
	if (t->bytes > LIM_PIPELINE_EXPANDED) {
		yerr(c, line, col, 1, "more than %d bytes of text once aliases "
		    "are expanded", LIM_PIPELINE_EXPANDED);
		return ERR_INVALID;
	}
	return 0;
}

static void
ytree_push(struct ytree *t, struct ynode *n)
{
	if (t->depth == 0) {
		t->root = n;
		return;
	}
	t->stk = xgrow(t->stk, &t->astk, t->nstk + 1, sizeof(*t->stk));
	t->stk[t->nstk++] = n;
}

/* Report a tag other than the core schema's. */
static void
check_tag(struct vctx *c, const char *tag, enum ykind kind, int line, int col)
{
	static const char core[] = "tag:yaml.org,2002:";

	if (tag == NULL || strcmp(tag, "!") == 0)
		return;
	if (strncmp(tag, core, sizeof(core) - 1) == 0) {
		const char *t = tag + sizeof(core) - 1;

		if (kind == Y_SCALAR && (strcmp(t, "str") == 0 ||
		    strcmp(t, "null") == 0 || strcmp(t, "bool") == 0 ||
		    strcmp(t, "int") == 0 || strcmp(t, "float") == 0))
			return;
		if ((kind == Y_MAP && strcmp(t, "map") == 0) ||
		    (kind == Y_SEQ && strcmp(t, "seq") == 0))
			return;
		yerr(c, line, col, 1, "unsupported tag \"!!%s\"", t);
		return;
	}
	yerr(c, line, col, 1, "unsupported tag %s", QS(c, tag));
}

struct keyref {
	const struct ynode	*k;
	size_t			 i;
};

static int
keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int r;

	if (x->k->len != y->k->len)
		return x->k->len < y->k->len ? -1 : 1;
	if ((r = memcmp(x->k->s, y->k->s, x->k->len)) != 0)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Check the keys of a finished mapping: scalars only, no duplicates.
 * Bad pairs are marked skip, keeping the first of duplicates.  The
 * mapping's frame is still open, so paths name the mapping.  Sorting
 * keeps this O(n log n) on hostile maps with many keys.
 */
static void
check_keys(struct vctx *c, struct ynode *m)
{
	size_t np = m->n / 2, nk = 0;
	struct keyref *ks;
	size_t *first;

	if (np == 0)
		return;
	ks = xcalloc(np, sizeof(*ks));
	first = xcalloc(np, sizeof(*first));
	for (size_t i = 0; i < np; i++) {
		struct ynode *k = m->kids[2 * i];
		const struct ynode *d = k->kind == Y_ALIAS ? k->target : k;

		first[i] = SIZE_MAX;
		if (d->kind != Y_SCALAR) {
			yerr(c, k->line, k->col, 0, "mapping keys must be "
			    "strings, got %s", kind_name(d));
			k->skip = 1;
			continue;
		}
		ks[nk].k = d;
		ks[nk].i = i;
		nk++;
	}
	if (nk > 1)
		qsort(ks, nk, sizeof(*ks), keyref_cmp);
	for (size_t i = 1; i < nk; i++) {
		if (ks[i].k->len != ks[i - 1].k->len ||
		    memcmp(ks[i].k->s, ks[i - 1].k->s, ks[i].k->len) != 0)
			continue;
		first[ks[i].i] = first[ks[i - 1].i] != SIZE_MAX ?
		    first[ks[i - 1].i] : ks[i - 1].i;
	}
	for (size_t i = 0; i < np; i++) {
		struct ynode *k, *f;

		if (first[i] == SIZE_MAX)
			continue;
		k = m->kids[2 * i];
		f = m->kids[2 * first[i]];
		k->skip = 1;
		yerr(c, k->line, k->col, 0, "duplicate key %s (first at %d:%d)",
		    QN(c, k->kind == Y_ALIAS ? k->target : k), f->line, f->col);
	}
	free(ks);
	free(first);
}

static void
report_yaml_error(struct vctx *c, const yaml_parser_t *yp)
{
	const char *problem = yp->problem != NULL ? yp->problem : "syntax error";
	size_t off, ls, i;
	int line, col;

	if (yp->error == YAML_MEMORY_ERROR) {
		c->nomem = 1;
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		off = yp->problem_offset < c->len ? yp->problem_offset : c->len;
		offset_to_pos(c->data, off, &line, &col);
		verr_raw(c, line, col, NULL, "invalid YAML: %s", problem);
		return;
	}
	line = (int)yp->problem_mark.line + 1;
	col = (int)yp->problem_mark.column + 1;
	off = pos_to_offset(c->data, c->len, yp->problem_mark.line,
	    yp->problem_mark.column);
	/* a tab in the indentation of that line, or at the mark itself */
	for (ls = off; ls > 0 && c->data[ls - 1] != '\n' &&
	    c->data[ls - 1] != '\r'; ls--)
		;
	for (i = ls; i < c->len && (c->data[i] == ' ' || c->data[i] == '\t');
	    i++) {
		if (c->data[i] == '\t') {
			verr_raw(c, line, (int)(i - ls) + 1, NULL, "tab character "
			    "used for indentation (YAML allows only spaces)");
			return;
		}
	}
	if (off < c->len && c->data[off] == '\t') {
		verr_raw(c, line, col, NULL, "tab character where YAML allows "
		    "only spaces");
		return;
	}
	if (yp->context != NULL && (yp->context_mark.line !=
	    yp->problem_mark.line || yp->context_mark.column !=
	    yp->problem_mark.column))
		verr_raw(c, line, col, NULL, "invalid YAML: %s (%s at %d:%d)",
		    problem, yp->context, (int)yp->context_mark.line + 1,
		    (int)yp->context_mark.column + 1);
	else
		verr_raw(c, line, col, NULL, "invalid YAML: %s", problem);
}

static struct ynode *
ynode_new(struct ytree *t, enum ykind kind, int line, int col)
{
	struct ynode *n = arena_alloc(&t->a, sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->col = col;
	n->s = "";
	n->size = 1;
	return n;
}

static const char *
anchor_copy(struct ytree *t, const yaml_char_t *anchor)
{
	if (anchor == NULL)
		return NULL;
	return arena_strndup(&t->a, (const char *)anchor,
	    strlen((const char *)anchor));
}

static int
on_start(struct vctx *c, enum ykind kind, const yaml_char_t *anchor,
    const yaml_char_t *tag, int line, int col)
{
	struct ytree *t = c->t;
	struct ynode *n;

	if (t->depth >= LIM_YAML_DEPTH) {
		yerr(c, line, col, 1, "nesting deeper than %d levels",
		    LIM_YAML_DEPTH);
		return ERR_INVALID;
	}
	if (ytree_count(c, 1, 0, line, col) < 0)
		return ERR_INVALID;
	n = ynode_new(t, kind, line, col);
	check_tag(c, (const char *)tag, kind, line, col);
	t->frames[t->depth].node = n;
	t->frames[t->depth].kids0 = t->nstk;
	t->frames[t->depth].anchor = anchor_copy(t, anchor);
	t->depth++;
	return 0;
}

static int
on_end(struct vctx *c)
{
	struct ytree *t = c->t;
	struct yframe *f;
	struct ynode *n;

	BUG_ON(t->depth == 0);
	f = &t->frames[t->depth - 1];
	n = f->node;
	n->n = t->nstk - f->kids0;
	n->kids = arena_array(&t->a, n->n, sizeof(*n->kids));
	if (n->n > 0)
		memcpy(n->kids, t->stk + f->kids0, n->n * sizeof(*n->kids));
	for (size_t i = 0; i < n->n; i++) {
		n->size += n->kids[i]->size;
		n->bytes += n->kids[i]->bytes;
	}
	if (n->kind == Y_MAP)
		check_keys(c, n);
	t->nstk = f->kids0;
	t->depth--;
	if (f->anchor != NULL)
		anchor_add(t, f->anchor, n);
	ytree_push(t, n);
	return 0;
}

static int
on_scalar(struct vctx *c, const yaml_event_t *ev, int line, int col)
{
	static const char core[] = "tag:yaml.org,2002:";
	struct ytree *t = c->t;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	struct ynode *n;

	if (ytree_count(c, 1, len, line, col) < 0)
		return ERR_INVALID;
	n = ynode_new(t, Y_SCALAR, line, col);
	n->s = arena_strndup(&t->a, (const char *)ev->data.scalar.value, len);
	n->len = len;
	n->bytes = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (tag != NULL) {
		if (strcmp(tag, "!") == 0 ||
		    strcmp(tag, "tag:yaml.org,2002:str") == 0)
			n->plain = 0;
		else if (strncmp(tag, core, sizeof(core) - 1) == 0)
			n->plain = 1;
		check_tag(c, tag, Y_SCALAR, line, col);
	}
	if (ev->data.scalar.anchor != NULL)
		anchor_add(t, anchor_copy(t, ev->data.scalar.anchor), n);
	ytree_push(t, n);
	return 0;
}

static int
on_alias(struct vctx *c, const yaml_event_t *ev, int line, int col)
{
	struct ytree *t = c->t;
	const char *name = (const char *)ev->data.alias.anchor;
	struct ynode *target, *n;

	if (++t->aliases > LIM_YAML_ALIASES) {
		yerr(c, line, col, 1, "more than %d aliases", LIM_YAML_ALIASES);
		return ERR_INVALID;
	}
	if ((target = anchor_find(t, name)) == NULL) {
		yerr(c, line, col, 1, "unknown alias %s", QS(c, name));
		return ERR_INVALID;
	}
	if (ytree_count(c, target->size, target->bytes, line, col) < 0)
		return ERR_INVALID;
	n = ynode_new(t, Y_ALIAS, line, col);
	n->target = target;
	n->size = target->size;
	n->bytes = target->bytes;
	ytree_push(t, n);
	return 0;
}

static int
ytree_build(struct vctx *c)
{
	struct ytree *t = c->t;
	yaml_parser_t yp;
	yaml_event_t ev;
	int rc = 0, done = 0, line, col;

	if (!yaml_parser_initialize(&yp))
		abort();
	yaml_parser_set_input_string(&yp, (const unsigned char *)c->data,
	    c->len);
	yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&yp, &ev)) {
			report_yaml_error(c, &yp);
			rc = ERR_INVALID;
			break;
		}
		line = (int)ev.start_mark.line + 1;
		col = (int)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++t->docs > 1) {
				verr_raw(c, line, col, NULL, "several YAML "
				    "documents in one file; put each pipeline "
				    "in its own file");
				rc = ERR_INVALID;
			}
			break;
		case YAML_ALIAS_EVENT:
			rc = on_alias(c, &ev, line, col);
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(c, &ev, line, col);
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = on_start(c, Y_SEQ, ev.data.sequence_start.anchor,
			    ev.data.sequence_start.tag, line, col);
			break;
		case YAML_MAPPING_START_EVENT:
			rc = on_start(c, Y_MAP, ev.data.mapping_start.anchor,
			    ev.data.mapping_start.tag, line, col);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			rc = on_end(c);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	if (rc == 0 && t->root == NULL) {
		verr_raw(c, 1, 1, NULL, "empty file: expected a pipeline "
		    "definition");
		rc = ERR_INVALID;
	}
	return rc;
}

/*
 * Pass 3: the schema.  Walkers report errors and go on; "reported" results
 * are -1 (the error is already recorded), never an err code.
 */

static const struct ynode *
D(const struct ynode *n)
{
	return n->kind == Y_ALIAS ? n->target : n;
}

#define PKEY(name, up, k)						\
	struct vpath name = { (up), { (k), strlen(k), 0 } }
#define PIDX(name, up, i)						\
	struct vpath name = { (up), { NULL, 0, (i) } }

static struct pipeline_pos
pos_of(const struct ynode *n)
{
	return (struct pipeline_pos){ n->line, n->col };
}

/* "expected WHAT, got ..." for n. */
static void
type_err(struct vctx *c, const struct ynode *n, const struct vpath *path,
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
static const char *
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

struct field {
	const char		*name;
	const struct ynode	*key;
	const struct ynode	*val;
};

/*
 * Sort the pairs of mapping n into f by name; report unknown keys.
 * Return -1 when n is not a mapping (reported).
 */
static int
get_fields(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct field *f, size_t nf)
{
	const struct ynode *m = D(n);
	const char *names[32];

	BUG_ON(nf > NELEM(names));
	if (m->kind != Y_MAP) {
		type_err(c, n, path, "a mapping");
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

static void
missing(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const char *name)
{
	verr(c, n, path, "missing required field \"%s\"", name);
}

/* Count bytes that end up in the pipeline against LIM_PIPELINE_EXPANDED. */
static int
add_bytes(struct vctx *c, size_t n, const struct ynode *at)
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
static int
get_str(struct vctx *c, const struct ynode *n, const struct vpath *path,
    char **out)
{
	const struct ynode *d = D(n);

	*out = NULL;
	if (d->kind != Y_SCALAR || is_null(d)) {
		type_err(c, n, path, "a string");
		return -1;
	}
	if (memchr(d->s, '\0', d->len) != NULL) {
		verr(c, n, path, "must not contain a NUL character");
		return -1;
	}
	if (add_bytes(c, d->len, n) < 0)
		return -1;
	*out = arena_strndup(c->pa, d->s, d->len);
	return 0;
}

static int
get_int(struct vctx *c, const struct ynode *n, const struct vpath *path,
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
	type_err(c, n, path, "an integer");
	return -1;
}

static int
get_bool(struct vctx *c, const struct ynode *n, const struct vpath *path,
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
	type_err(c, n, path, "true or false");
	return -1;
}

/* A YAML 1.2 core float: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
get_number(struct vctx *c, const struct ynode *n, const struct vpath *path,
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
	type_err(c, n, path, "a number");
	return -1;
}

static int
get_duration(struct vctx *c, const struct ynode *n, const struct vpath *path,
    int64_t min_ms, int64_t *out)
{
	const struct ynode *d = D(n);
	char min[32];
	int64_t ms;

	if (d->kind != Y_SCALAR || is_null(d)) {
		type_err(c, n, path, "a duration");
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
static int
get_enum(struct vctx *c, const struct ynode *n, const struct vpath *path,
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

static void
record_tmpl(struct vctx *c, long stage, const struct ynode *n,
    const struct vpath *path, const char *s, int image)
{
	char p[512];
	struct tmpl *t;

	if (strstr(s, "${") == NULL)
		return;
	vpath_render(path, p, sizeof(p));
	c->tmpls = xgrow(c->tmpls, &c->atmpls, c->ntmpls + 1,
	    sizeof(*c->tmpls));
	t = &c->tmpls[c->ntmpls++];
	t->stage = stage;
	t->node = n;
	t->path = arena_strndup(&c->t->a, p, strlen(p));
	t->s = s;
	t->image = image;
}

/* What a string list's items must be. */
struct item_rule {
	const char	*noun;			/* "invalid NOUN "x": why" */
	const char	*(*check)(const char *s);
	long		 tmpl_stage;		/* LONG_MIN: no references */
};

#define NO_TMPL	(-2L)

static int
get_str_list(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const struct item_rule *rule, struct pipeline_strs *out)
{
	const struct ynode *d = D(n);

	memset(out, 0, sizeof(*out));
	if (d->kind != Y_SEQ) {
		type_err(c, n, path, "a sequence");
		return -1;
	}
	out->v = arena_array(c->pa, d->n, sizeof(*out->v));
	out->pos = arena_array(c->pa, d->n, sizeof(*out->pos));
	for (size_t i = 0; i < d->n; i++) {
		const struct ynode *it = d->kids[i];
		const char *why;
		char *s;

		PIDX(ip, path, i);
		if (get_str(c, it, &ip, &s) < 0)
			continue;
		if (rule != NULL && rule->check != NULL &&
		    (why = rule->check(s)) != NULL) {
			verr(c, it, &ip, "invalid %s %s: %s", rule->noun,
			    QS(c, s), why);
			continue;
		}
		if (rule != NULL && rule->tmpl_stage != NO_TMPL)
			record_tmpl(c, rule->tmpl_stage, it, &ip, s, 0);
		out->v[out->n] = s;
		out->pos[out->n] = pos_of(it);
		out->n++;
	}
	return 0;
}

/* What a string map's keys and values must be. */
struct map_rule {
	const char	*key_noun;
	const char	*(*key_check)(const char *s);
	const char	*(*value_check)(const char *s);
	long		 tmpl_stage;
};

static int
get_str_map(struct vctx *c, const struct ynode *n, const struct vpath *path,
    const struct map_rule *rule, struct pipeline_map *out)
{
	const struct ynode *d = D(n);

	memset(out, 0, sizeof(*out));
	if (d->kind != Y_MAP) {
		type_err(c, n, path, "a mapping");
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
		if (get_str(c, v, &kp, &vs) < 0)
			continue;
		if (rule->value_check != NULL &&
		    (why = rule->value_check(vs)) != NULL) {
			verr(c, v, &kp, "invalid value %s: %s", QS(c, vs), why);
			continue;
		}
		if (add_bytes(c, kd->len, k) < 0)
			continue;
		ks = arena_strndup(c->pa, kd->s, kd->len);
		if (rule->tmpl_stage != NO_TMPL)
			record_tmpl(c, rule->tmpl_stage, v, &kp, vs, 0);
		out->v[out->n].key = ks;
		out->v[out->n].value = vs;
		out->v[out->n].pos = pos_of(v);
		out->n++;
	}
	return 0;
}

static const char *
check_env_key(const char *s)
{
	const char *why = k8s_check_env_name(s);

	if (why != NULL)
		return why;
	if (strncmp(s, "SLUICE_", 7) == 0)
		return "the SLUICE_ prefix is reserved for the variables the "
		    "controller sets";
	return NULL;
}

static const char *
check_param_name(const char *s)
{
	return k8s_check_env_name(s);
}

/* Glob patterns of branches and paths. */
static const char *
check_glob(const char *s)
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

static const char *
check_quantity(const char *s)
{
	if (s[0] == '-')
		return "must not be negative";
	return k8s_check_quantity(s);
}

static const char *
check_gpu_resource(const char *s)
{
	const char *why = k8s_check_qualified_name(s);

	if (why != NULL)
		return why;
	if (strchr(s, '/') == NULL)
		return "must have a domain prefix, such as nvidia.com/gpu";
	return NULL;
}

static const char *
check_mount(const char *s)
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

static const char *
check_output_name(const char *s)
{
	if (!pipeline_output_name_valid(s, strlen(s)))
		return "must be 1 to 63 characters of letters, digits, '_', "
		    "'.', '-' or '/', starting with a letter or '_'";
	return NULL;
}

static void
walk_gate(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_gate *g)
{
	static const char *const ops[] = { ">=", ">", "<=", "<", "==", "!=" };
	enum { G_METRIC, G_OP, G_VALUE, G_BASELINE, G_TOLERANCE, G_N };
	struct field f[G_N] = {
		{ "metric", NULL, NULL }, { "op", NULL, NULL },
		{ "value", NULL, NULL }, { "baseline", NULL, NULL },
		{ "tolerance", NULL, NULL },
	};
	const char *why;
	char *s;
	int op;

	g->pos = pos_of(n);
	if (get_fields(c, n, path, f, G_N) < 0)
		return;
	if (f[G_METRIC].val == NULL) {
		missing(c, n, path, "metric");
	} else {
		PKEY(p, path, "metric");
		if (get_str(c, f[G_METRIC].val, &p, &s) == 0) {
			if ((why = check_output_name(s)) != NULL)
				verr(c, f[G_METRIC].val, &p, "invalid metric "
				    "name %s: %s", QS(c, s), why);
			g->metric = s;
		}
	}
	if (f[G_OP].val == NULL) {
		missing(c, n, path, "op");
	} else {
		PKEY(p, path, "op");
		if (get_enum(c, f[G_OP].val, &p, "operator", ops, NELEM(ops),
		    &op) == 0)
			g->op = (enum pipeline_op)op;
	}
	if (f[G_VALUE].val != NULL && f[G_BASELINE].val != NULL) {
		verr(c, f[G_BASELINE].key, path, "value and baseline are "
		    "mutually exclusive");
	} else if (f[G_VALUE].val == NULL && f[G_BASELINE].val == NULL) {
		verr(c, n, path, "missing required field \"value\" (or "
		    "\"baseline: production\")");
	}
	if (f[G_VALUE].val != NULL) {
		PKEY(p, path, "value");
		(void)get_number(c, f[G_VALUE].val, &p, &g->value);
	}
	if (f[G_BASELINE].val != NULL) {
		PKEY(p, path, "baseline");
		if (get_str(c, f[G_BASELINE].val, &p, &s) == 0) {
			if (strcmp(s, "production") != 0)
				verr(c, f[G_BASELINE].val, &p, "invalid baseline "
				    "%s (only \"production\" is supported)",
				    QS(c, s));
			g->baseline = f[G_VALUE].val == NULL;
		}
	}
	if (f[G_TOLERANCE].val != NULL) {
		PKEY(p, path, "tolerance");
		if (f[G_BASELINE].val == NULL)
			verr(c, f[G_TOLERANCE].key, path, "tolerance needs "
			    "\"baseline: production\"");
		else if (get_number(c, f[G_TOLERANCE].val, &p,
		    &g->tolerance) == 0 && !(g->tolerance >= 0))
			verr(c, f[G_TOLERANCE].val, &p, "must not be negative "
			    "(got %s)", D(f[G_TOLERANCE].val)->s);
	}
}

static void
walk_gates(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_gate **out, size_t *nout)
{
	const struct ynode *d = D(n);

	*out = NULL;
	*nout = 0;
	if (d->kind != Y_SEQ) {
		type_err(c, n, path, "a sequence");
		return;
	}
	*out = arena_array(c->pa, d->n, sizeof(**out));
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_gate(c, d->kids[i], &ip, &(*out)[i]);
	}
	*nout = d->n;
}

static void
walk_resources(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_resources *r)
{
	enum { R_GPU, R_GPU_RESOURCE, R_CPU, R_MEMORY, R_N };
	struct field f[R_N] = {
		{ "gpu", NULL, NULL }, { "gpu_resource", NULL, NULL },
		{ "cpu", NULL, NULL }, { "memory", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;

	if (get_fields(c, n, path, f, R_N) < 0)
		return;
	if (f[R_GPU].val != NULL) {
		PKEY(p, path, "gpu");
		if (get_int(c, f[R_GPU].val, &p, 0, 1000, &v) == 0)
			r->gpu = (int)v;
	}
	if (f[R_GPU_RESOURCE].val != NULL) {
		PKEY(p, path, "gpu_resource");
		if (get_str(c, f[R_GPU_RESOURCE].val, &p, &s) == 0) {
			if ((why = check_gpu_resource(s)) != NULL)
				verr(c, f[R_GPU_RESOURCE].val, &p, "invalid "
				    "resource name %s: %s", QS(c, s), why);
			else
				r->gpu_resource = s;
		}
	}
	for (int i = R_CPU; i <= R_MEMORY; i++) {
		PKEY(p, path, f[i].name);
		if (f[i].val == NULL || get_str(c, f[i].val, &p, &s) < 0)
			continue;
		if ((why = check_quantity(s)) != NULL) {
			verr(c, f[i].val, &p, "invalid quantity %s: %s", QS(c, s),
			    why);
			continue;
		}
		if (i == R_CPU)
			r->cpu = s;
		else
			r->memory = s;
	}
}

static void
walk_toleration(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_toleration *t)
{
	static const char *const ops[] = { "Equal", "Exists" };
	static const char *const effects[] = { "NoSchedule",
	    "PreferNoSchedule", "NoExecute" };
	enum { T_KEY, T_OP, T_VALUE, T_EFFECT, T_SECONDS, T_N };
	struct field f[T_N] = {
		{ "key", NULL, NULL }, { "operator", NULL, NULL },
		{ "value", NULL, NULL }, { "effect", NULL, NULL },
		{ "toleration_seconds", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;
	int e;

	t->pos = pos_of(n);
	t->key = t->value = t->effect = (char *)"";
	if (get_fields(c, n, path, f, T_N) < 0)
		return;
	if (f[T_KEY].val != NULL) {
		PKEY(p, path, "key");
		if (get_str(c, f[T_KEY].val, &p, &s) == 0) {
			if (*s != '\0' &&
			    (why = k8s_check_qualified_name(s)) != NULL)
				verr(c, f[T_KEY].val, &p, "invalid key %s: %s",
				    QS(c, s), why);
			t->key = s;
		}
	}
	if (f[T_OP].val != NULL) {
		PKEY(p, path, "operator");
		if (get_enum(c, f[T_OP].val, &p, "operator", ops, NELEM(ops),
		    &e) == 0)
			t->op = (enum pipeline_toleration_op)e;
	}
	if (f[T_VALUE].val != NULL) {
		PKEY(p, path, "value");
		if (get_str(c, f[T_VALUE].val, &p, &s) == 0) {
			if ((why = k8s_check_label_value(s)) != NULL)
				verr(c, f[T_VALUE].val, &p, "invalid value %s: "
				    "%s", QS(c, s), why);
			else if (*s != '\0' &&
			    t->op == PIPELINE_TOLERATION_EXISTS)
				verr(c, f[T_VALUE].val, &p, "must be empty when "
				    "operator is Exists");
			t->value = s;
		}
	}
	if (f[T_EFFECT].val != NULL) {
		PKEY(p, path, "effect");
		const struct ynode *d = D(f[T_EFFECT].val);

		if (d->kind == Y_SCALAR && !d->plain && d->len == 0)
			t->effect = (char *)"";
		else if (get_enum(c, f[T_EFFECT].val, &p, "effect", effects,
		    NELEM(effects), &e) == 0)
			t->effect = (char *)effects[e];
	}
	if (f[T_SECONDS].val != NULL) {
		PKEY(p, path, "toleration_seconds");
		if (get_int(c, f[T_SECONDS].val, &p, 0, INT64_MAX / 1000,
		    &v) == 0) {
			t->has_seconds = 1;
			t->seconds = v;
			if (strcmp(t->effect, "NoExecute") != 0)
				verr(c, f[T_SECONDS].key, path,
				    "toleration_seconds needs effect NoExecute");
		}
	}
	if (*t->key == '\0' && t->op == PIPELINE_TOLERATION_EQUAL)
		verr(c, n, path, "key is required when operator is Equal");
}

static void
walk_volume(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_volume *v)
{
	enum { V_CLAIM, V_MOUNT, V_READ_ONLY, V_N };
	struct field f[V_N] = {
		{ "claim", NULL, NULL }, { "mount", NULL, NULL },
		{ "read_only", NULL, NULL },
	};
	const char *why;
	char *s;

	v->pos = pos_of(n);
	if (get_fields(c, n, path, f, V_N) < 0)
		return;
	if (f[V_CLAIM].val == NULL) {
		missing(c, n, path, "claim");
	} else {
		PKEY(p, path, "claim");
		if (get_str(c, f[V_CLAIM].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
				verr(c, f[V_CLAIM].val, &p, "invalid claim name "
				    "%s: %s", QS(c, s), why);
			v->claim = s;
		}
	}
	if (f[V_MOUNT].val == NULL) {
		missing(c, n, path, "mount");
	} else {
		PKEY(p, path, "mount");
		if (get_str(c, f[V_MOUNT].val, &p, &s) == 0) {
			if ((why = check_mount(s)) != NULL) {
				verr(c, f[V_MOUNT].val, &p, "invalid mount path "
				    "%s: %s", QS(c, s), why);
			} else if (c->p->checkout &&
			    (strcmp(s, "/workspace") == 0 ||
			    strncmp(s, "/workspace/", 11) == 0)) {
				verr(c, f[V_MOUNT].val, &p, "mount path %s "
				    "conflicts with checkout, which uses "
				    "/workspace", QS(c, s));
			} else {
				/* /data/ and /data are the same */
				size_t l = strlen(s);

				while (l > 1 && s[l - 1] == '/')
					s[--l] = '\0';
				v->mount = s;
			}
		}
	}
	if (f[V_READ_ONLY].val != NULL) {
		PKEY(p, path, "read_only");
		(void)get_bool(c, f[V_READ_ONLY].val, &p, &v->read_only);
	}
}

struct mountref {
	const char	*mount;
	size_t		 i;
};

static int
mountref_cmp(const void *a, const void *b)
{
	const struct mountref *x = a, *y = b;
	int r = strcmp(x->mount, y->mount);

	if (r != 0)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

static void
walk_volumes(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_stage *st)
{
	const struct ynode *d = D(n);
	struct mountref *m;
	size_t nm = 0;

	if (d->kind != Y_SEQ) {
		type_err(c, n, path, "a sequence");
		return;
	}
	st->volumes = arena_array(c->pa, d->n, sizeof(*st->volumes));
	st->nvolumes = d->n;
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_volume(c, d->kids[i], &ip, &st->volumes[i]);
	}
	/* one mount path once */
	m = xcalloc(d->n, sizeof(*m));
	for (size_t i = 0; i < d->n; i++) {
		if (st->volumes[i].mount != NULL) {
			m[nm].mount = st->volumes[i].mount;
			m[nm].i = i;
			nm++;
		}
	}
	qsort(m, nm, sizeof(*m), mountref_cmp);
	for (size_t i = 1; i < nm; i++) {
		size_t j = i;

		if (strcmp(m[i].mount, m[i - 1].mount) != 0)
			continue;
		while (j > 0 && strcmp(m[j - 1].mount, m[i].mount) == 0)
			j--;
		PIDX(ip, path, m[i].i);
		PKEY(mp, &ip, "mount");
		const struct ynode *vn = D(d->kids[m[i].i]);

		for (size_t k = 0; k + 1 < vn->n; k += 2) {
			const struct ynode *kd = D(vn->kids[k]);

			if (!vn->kids[k]->skip && strcmp(kd->s, "mount") == 0) {
				verr(c, vn->kids[k + 1], &mp, "mount path %s is "
				    "already used by volumes[%zu]",
				    QS(c, m[i].mount), m[j].i);
				break;
			}
		}
	}
	free(m);
}

static void
walk_step(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_step *s, const struct ynode **weight)
{
	static const char *const approvals[] = { "none", "required" };
	enum { S_WEIGHT, S_APPROVAL, S_ANALYSIS, S_N };
	enum { A_DURATION, A_GATES, A_N };
	struct field f[S_N] = {
		{ "weight", NULL, NULL }, { "approval", NULL, NULL },
		{ "analysis", NULL, NULL },
	};
	struct field a[A_N] = {
		{ "duration", NULL, NULL }, { "gates", NULL, NULL },
	};
	long long v;

	s->pos = pos_of(n);
	*weight = NULL;
	if (get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_WEIGHT].val == NULL) {
		missing(c, n, path, "weight");
	} else {
		PKEY(p, path, "weight");
		if (get_int(c, f[S_WEIGHT].val, &p, 1, 100, &v) == 0) {
			s->weight = (int)v;
			*weight = f[S_WEIGHT].val;
		}
	}
	if (f[S_APPROVAL].val != NULL) {
		PKEY(p, path, "approval");
		(void)get_enum(c, f[S_APPROVAL].val, &p, "approval", approvals,
		    NELEM(approvals), &s->approval);
	}
	if (f[S_ANALYSIS].val != NULL) {
		PKEY(p, path, "analysis");
		s->analysis = 1;
		if (get_fields(c, f[S_ANALYSIS].val, &p, a, A_N) < 0)
			return;
		if (a[A_DURATION].val == NULL) {
			missing(c, f[S_ANALYSIS].val, &p, "duration");
		} else {
			PKEY(dp, &p, "duration");
			(void)get_duration(c, a[A_DURATION].val, &dp, 1000,
			    &s->analysis_ms);
		}
		if (a[A_GATES].val != NULL) {
			PKEY(gp, &p, "gates");
			walk_gates(c, a[A_GATES].val, &gp, &s->gates,
			    &s->ngates);
		}
	}
}

static void
walk_canary(struct vctx *c, const struct ynode *n, const struct vpath *path,
    size_t idx, struct pipeline_stage *st)
{
	enum { C_TARGET, C_STEPS, C_TIMEOUT, C_ROLLBACK, C_N };
	struct field f[C_N] = {
		{ "target", NULL, NULL }, { "steps", NULL, NULL },
		{ "approval_timeout", NULL, NULL },
		{ "rollback_command", NULL, NULL },
	};
	struct pipeline_canary *cn = arena_alloc(c->pa, sizeof(*cn));
	const char *why;
	char *s;

	st->canary = cn;
	cn->approval_timeout_ms = PIPELINE_APPROVAL_TIMEOUT_MS;
	if (get_fields(c, n, path, f, C_N) < 0)
		return;
	if (f[C_TARGET].val == NULL) {
		missing(c, n, path, "target");
	} else {
		PKEY(p, path, "target");
		if (D(f[C_TARGET].val)->kind == Y_SEQ) {
			verr(c, f[C_TARGET].val, &p, "expected exactly one "
			    "target, got a sequence");
		} else if (get_str(c, f[C_TARGET].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_subdomain(s)) != NULL) {
				verr(c, f[C_TARGET].val, &p, "invalid target %s: "
				    "%s", QS(c, s), why);
			} else {
				cn->target = s;
				c->target_node[idx] = f[C_TARGET].val;
			}
		}
	}
	if (f[C_STEPS].val == NULL) {
		missing(c, n, path, "steps");
	} else {
		PKEY(p, path, "steps");
		const struct ynode *d = D(f[C_STEPS].val);
		const struct ynode **w;
		int prev = 0;

		if (d->kind != Y_SEQ) {
			type_err(c, f[C_STEPS].val, &p, "a sequence");
		} else if (d->n == 0) {
			verr(c, f[C_STEPS].val, &p, "must have at least one "
			    "step");
		} else if (d->n > LIM_CANARY_STEPS) {
			verr(c, f[C_STEPS].val, &p, "too many steps (%zu; the "
			    "limit is %d)", d->n, LIM_CANARY_STEPS);
		} else {
			cn->steps = arena_array(c->pa, d->n, sizeof(*cn->steps));
			cn->nsteps = d->n;
			w = xcalloc(d->n, sizeof(*w));
			for (size_t i = 0; i < d->n; i++) {
				PIDX(ip, &p, i);
				walk_step(c, d->kids[i], &ip, &cn->steps[i],
				    &w[i]);
			}
			for (size_t i = 0; i < d->n; i++) {
				PIDX(ip, &p, i);
				PKEY(wp, &ip, "weight");
				int wt = cn->steps[i].weight;

				if (w[i] == NULL)
					continue;
				if (wt <= prev)
					verr(c, w[i], &wp, "weights must increase "
					    "strictly (%d after %d)", wt, prev);
				else
					prev = wt;
				if (i + 1 == d->n && wt != 100)
					verr(c, w[i], &wp, "the last step must "
					    "have weight 100 (got %d)", wt);
			}
			free(w);
		}
	}
	if (f[C_TIMEOUT].val != NULL) {
		PKEY(p, path, "approval_timeout");
		(void)get_duration(c, f[C_TIMEOUT].val, &p, 1000,
		    &cn->approval_timeout_ms);
	}
	if (f[C_ROLLBACK].val != NULL) {
		PKEY(p, path, "rollback_command");
		struct item_rule rule = { "argument", NULL, (long)idx };

		if (get_str_list(c, f[C_ROLLBACK].val, &p, &rule,
		    &cn->rollback_command) == 0 &&
		    D(f[C_ROLLBACK].val)->n == 0)
			verr(c, f[C_ROLLBACK].val, &p, "must not be empty");
	}
}

static int
kv_cmp(const void *a, const void *b)
{
	const struct pipeline_kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/*
 * env = spec.defaults.env merged with the stage's (which wins), sorted by
 * name.  Both inputs have unique keys.
 */
static void
merge_env(struct vctx *c, const struct ynode *at, struct pipeline_map *env)
{
	const struct pipeline_map *def = &c->default_env;
	struct pipeline_kv *v, *s;
	size_t n = 0, i = 0, j = 0;

	if (env->n > 1)
		qsort(env->v, env->n, sizeof(*env->v), kv_cmp);
	/* what inheriting costs is counted before it is paid */
	if (def->n == 0 || add_bytes(c, c->default_env_cost, at) < 0)
		return;
	v = arena_array(c->pa, def->n + env->n, sizeof(*v));
	s = env->v;
	while (i < def->n || j < env->n) {
		int r = i == def->n ? 1 : j == env->n ? -1 :
		    strcmp(def->v[i].key, s[j].key);

		if (r < 0) {
			v[n++] = def->v[i++];
		} else if (r > 0) {
			v[n++] = s[j++];
		} else {
			v[n++] = s[j++];
			i++;
		}
	}
	env->v = v;
	env->n = n;
}

static void
walk_stage(struct vctx *c, const struct ynode *n, const struct vpath *path,
    size_t idx, struct pipeline_stage *st)
{
	static const char *const types[] = { "job", "canary" };
	enum { S_NAME, S_TYPE, S_NEEDS, S_IMAGE, S_COMMAND, S_ENV,
	    S_RESOURCES, S_NODE_SELECTOR, S_TOLERATIONS, S_QUEUE,
	    S_PRIORITY_CLASS, S_VOLUMES, S_TIMEOUT, S_RETRIES, S_GATES,
	    S_CANARY, S_N };
	struct field f[S_N] = {
		{ "name", NULL, NULL }, { "type", NULL, NULL },
		{ "needs", NULL, NULL }, { "image", NULL, NULL },
		{ "command", NULL, NULL }, { "env", NULL, NULL },
		{ "resources", NULL, NULL }, { "node_selector", NULL, NULL },
		{ "tolerations", NULL, NULL }, { "queue", NULL, NULL },
		{ "priority_class", NULL, NULL }, { "volumes", NULL, NULL },
		{ "timeout", NULL, NULL }, { "retries", NULL, NULL },
		{ "gates", NULL, NULL }, { "canary", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;
	int e;

	st->pos = pos_of(n);
	st->resources.gpu_resource = (char *)PIPELINE_GPU_RESOURCE;
	c->stage_node[idx] = n;
	if (get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_NAME].val == NULL) {
		missing(c, n, path, "name");
	} else {
		PKEY(p, path, "name");
		if (get_str(c, f[S_NAME].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_label(s)) != NULL)
				verr(c, f[S_NAME].val, &p, "invalid stage name "
				    "%s: %s", QS(c, s), why);
			st->name = s;
			c->name_node[idx] = f[S_NAME].val;
		}
	}
	if (f[S_TYPE].val != NULL) {
		PKEY(p, path, "type");
		if (get_enum(c, f[S_TYPE].val, &p, "stage type", types,
		    NELEM(types), &e) == 0)
			st->type = (enum pipeline_stage_type)e;
	}
	if (f[S_NEEDS].val != NULL) {
		PKEY(p, path, "needs");
		(void)get_str_list(c, f[S_NEEDS].val, &p, NULL, &st->needs);
	}
	if (f[S_IMAGE].val != NULL) {
		PKEY(p, path, "image");
		if (get_str(c, f[S_IMAGE].val, &p, &s) == 0) {
			if (strstr(s, "${") != NULL)
				record_tmpl(c, (long)idx, f[S_IMAGE].val, &p, s,
				    1);
			else if ((why = k8s_check_image_ref(s)) != NULL)
				verr(c, f[S_IMAGE].val, &p, "invalid image "
				    "reference %s: %s", QS(c, s), why);
			st->image = s;
		}
	} else if (c->default_image != NULL) {
		(void)add_bytes(c, strlen(c->default_image), n);
		st->image = (char *)c->default_image;
	}
	if (f[S_COMMAND].val == NULL) {
		missing(c, n, path, "command");
	} else {
		PKEY(p, path, "command");
		struct item_rule rule = { "argument", NULL, (long)idx };

		if (get_str_list(c, f[S_COMMAND].val, &p, &rule,
		    &st->command) == 0 && D(f[S_COMMAND].val)->n == 0)
			verr(c, f[S_COMMAND].val, &p, "must not be empty");
	}
	if (f[S_ENV].val != NULL) {
		PKEY(p, path, "env");
		struct map_rule rule = { "variable name", check_env_key, NULL,
		    (long)idx };

		(void)get_str_map(c, f[S_ENV].val, &p, &rule, &st->env);
	}
	merge_env(c, n, &st->env);
	if (f[S_RESOURCES].val != NULL) {
		PKEY(p, path, "resources");
		walk_resources(c, f[S_RESOURCES].val, &p, &st->resources);
	}
	if (f[S_NODE_SELECTOR].val != NULL) {
		PKEY(p, path, "node_selector");
		struct map_rule rule = { "label key", k8s_check_qualified_name,
		    k8s_check_label_value, NO_TMPL };

		(void)get_str_map(c, f[S_NODE_SELECTOR].val, &p, &rule,
		    &st->node_selector);
	}
	if (f[S_TOLERATIONS].val != NULL) {
		PKEY(p, path, "tolerations");
		const struct ynode *d = D(f[S_TOLERATIONS].val);

		if (d->kind != Y_SEQ) {
			type_err(c, f[S_TOLERATIONS].val, &p, "a sequence");
		} else {
			st->tolerations = arena_array(c->pa, d->n,
			    sizeof(*st->tolerations));
			st->ntolerations = d->n;
			for (size_t i = 0; i < d->n; i++) {
				PIDX(ip, &p, i);
				walk_toleration(c, d->kids[i], &ip,
				    &st->tolerations[i]);
			}
		}
	}
	if (f[S_QUEUE].val != NULL) {
		PKEY(p, path, "queue");
		if (get_str(c, f[S_QUEUE].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_label(s)) != NULL)
				verr(c, f[S_QUEUE].val, &p, "invalid queue name "
				    "%s: %s", QS(c, s), why);
			st->queue = s;
		}
	}
	if (f[S_PRIORITY_CLASS].val != NULL) {
		PKEY(p, path, "priority_class");
		if (get_str(c, f[S_PRIORITY_CLASS].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
				verr(c, f[S_PRIORITY_CLASS].val, &p, "invalid "
				    "priority class name %s: %s", QS(c, s), why);
			st->priority_class = s;
		}
	}
	if (f[S_VOLUMES].val != NULL) {
		PKEY(p, path, "volumes");
		walk_volumes(c, f[S_VOLUMES].val, &p, st);
	}
	if (f[S_TIMEOUT].val != NULL) {
		PKEY(p, path, "timeout");
		(void)get_duration(c, f[S_TIMEOUT].val, &p, 1000,
		    &st->timeout_ms);
	}
	if (f[S_RETRIES].val != NULL) {
		PKEY(p, path, "retries");
		if (get_int(c, f[S_RETRIES].val, &p, 0, 100, &v) == 0)
			st->retries = (int)v;
	}
	if (f[S_GATES].val != NULL) {
		PKEY(p, path, "gates");
		walk_gates(c, f[S_GATES].val, &p, &st->gates, &st->ngates);
	}
	if (f[S_CANARY].val != NULL) {
		PKEY(p, path, "canary");
		if (st->type != PIPELINE_STAGE_CANARY)
			verr(c, f[S_CANARY].key, path, "canary is only allowed "
			    "in stages of type canary (add \"type: canary\")");
		else
			walk_canary(c, f[S_CANARY].val, &p, idx, st);
	} else if (st->type == PIPELINE_STAGE_CANARY) {
		missing(c, n, path, "canary");
	}
	if (st->image == NULL)
		verr(c, n, path, "missing required field \"image\" (set it here "
		    "or in spec.defaults)");
}

static void
walk_stages(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	const struct ynode *d = D(n);
	struct pipeline *p = c->p;
	size_t count;

	if (d->kind != Y_SEQ) {
		type_err(c, n, path, "a sequence");
		return;
	}
	if (d->n == 0) {
		verr(c, n, path, "must have at least one stage");
		return;
	}
	count = d->n;
	if (count > LIM_STAGES) {
		PIDX(ip, path, (size_t)LIM_STAGES);
		verr(c, d->kids[LIM_STAGES], &ip, "too many stages (%zu; the "
		    "limit is %d)", d->n, LIM_STAGES);
		count = LIM_STAGES;
	}
	p->stages = arena_array(c->pa, count, sizeof(*p->stages));
	p->nstages = count;
	c->stage_node = arena_array(&c->t->a, count, sizeof(*c->stage_node));
	c->name_node = arena_array(&c->t->a, count, sizeof(*c->name_node));
	c->target_node = arena_array(&c->t->a, count,
	    sizeof(*c->target_node));
	for (size_t i = 0; i < count; i++) {
		PIDX(ip, path, i);
		walk_stage(c, d->kids[i], &ip, i, &p->stages[i]);
	}
}

static void
walk_defaults(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	enum { D_IMAGE, D_ENV, D_N };
	struct field f[D_N] = {
		{ "image", NULL, NULL }, { "env", NULL, NULL },
	};
	const char *why;
	char *s;

	if (get_fields(c, n, path, f, D_N) < 0)
		return;
	if (f[D_IMAGE].val != NULL) {
		PKEY(p, path, "image");
		if (get_str(c, f[D_IMAGE].val, &p, &s) == 0) {
			if (strstr(s, "${") != NULL)
				record_tmpl(c, -1, f[D_IMAGE].val, &p, s, 1);
			else if ((why = k8s_check_image_ref(s)) != NULL)
				verr(c, f[D_IMAGE].val, &p, "invalid image "
				    "reference %s: %s", QS(c, s), why);
			c->default_image = s;
		}
	}
	if (f[D_ENV].val != NULL) {
		PKEY(p, path, "env");
		struct map_rule rule = { "variable name", check_env_key, NULL,
		    -1 };

		if (get_str_map(c, f[D_ENV].val, &p, &rule,
		    &c->default_env) == 0 && c->default_env.n > 1)
			qsort(c->default_env.v, c->default_env.n,
			    sizeof(*c->default_env.v), kv_cmp);
		for (size_t i = 0; i < c->default_env.n; i++)
			c->default_env_cost += strlen(c->default_env.v[i].key) +
			    strlen(c->default_env.v[i].value) +
			    sizeof(struct pipeline_kv);
	}
}

static void
walk_triggers(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	enum { T_PUSH, T_WEBHOOK, T_N };
	enum { P_BRANCHES, P_PATHS, P_N };
	struct field f[T_N] = {
		{ "push", NULL, NULL }, { "webhook", NULL, NULL },
	};
	struct field pf[P_N] = {
		{ "branches", NULL, NULL }, { "paths", NULL, NULL },
	};
	struct pipeline_triggers *t = &c->p->triggers;

	t->push = 0;
	if (get_fields(c, n, path, f, T_N) < 0)
		return;
	if (f[T_PUSH].val != NULL) {
		PKEY(p, path, "push");
		t->push = 1;
		/* "push:" alone turns it on without filters */
		if (!is_null(D(f[T_PUSH].val)) &&
		    get_fields(c, f[T_PUSH].val, &p, pf, P_N) == 0) {
			if (pf[P_BRANCHES].val != NULL) {
				PKEY(bp, &p, "branches");
				struct item_rule rule = { "branch pattern",
				    check_glob, NO_TMPL };

				(void)get_str_list(c, pf[P_BRANCHES].val, &bp,
				    &rule, &t->branches);
			}
			if (pf[P_PATHS].val != NULL) {
				PKEY(pp, &p, "paths");
				struct item_rule rule = { "path pattern",
				    check_glob, NO_TMPL };

				(void)get_str_list(c, pf[P_PATHS].val, &pp, &rule,
				    &t->paths);
			}
		}
	}
	if (f[T_WEBHOOK].val != NULL) {
		PKEY(p, path, "webhook");
		(void)get_bool(c, f[T_WEBHOOK].val, &p, &t->webhook);
	}
}

static void
walk_spec(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	enum { S_TRIGGERS, S_PARAMS, S_DEFAULTS, S_CONCURRENCY, S_CHECKOUT,
	    S_STAGES, S_N };
	struct field f[S_N] = {
		{ "triggers", NULL, NULL }, { "params", NULL, NULL },
		{ "defaults", NULL, NULL }, { "concurrency", NULL, NULL },
		{ "checkout", NULL, NULL }, { "stages", NULL, NULL },
	};
	struct pipeline *p = c->p;
	long long v;

	if (get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_TRIGGERS].val != NULL) {
		PKEY(tp, path, "triggers");
		walk_triggers(c, f[S_TRIGGERS].val, &tp);
	}
	if (f[S_PARAMS].val != NULL) {
		PKEY(pp, path, "params");
		struct map_rule rule = { "parameter name", check_param_name,
		    NULL, NO_TMPL };

		(void)get_str_map(c, f[S_PARAMS].val, &pp, &rule, &p->params);
	}
	if (f[S_DEFAULTS].val != NULL) {
		PKEY(dp, path, "defaults");
		walk_defaults(c, f[S_DEFAULTS].val, &dp);
	}
	if (f[S_CONCURRENCY].val != NULL) {
		PKEY(cp, path, "concurrency");
		if (get_int(c, f[S_CONCURRENCY].val, &cp, 0, 1000, &v) == 0)
			p->concurrency = (int)v;
	}
	if (f[S_CHECKOUT].val != NULL) {
		PKEY(cp, path, "checkout");
		(void)get_bool(c, f[S_CHECKOUT].val, &cp, &p->checkout);
	}
	if (f[S_STAGES].val == NULL) {
		missing(c, n, path, "stages");
	} else {
		PKEY(sp, path, "stages");
		walk_stages(c, f[S_STAGES].val, &sp);
	}
}

static void
walk_root(struct vctx *c, const struct ynode *root)
{
	enum { R_API, R_KIND, R_META, R_SPEC, R_N };
	struct field f[R_N] = {
		{ "apiVersion", NULL, NULL }, { "kind", NULL, NULL },
		{ "metadata", NULL, NULL }, { "spec", NULL, NULL },
	};
	enum { M_NAME, M_N };
	struct field mf[M_N] = { { "name", NULL, NULL } };
	struct pipeline *p = c->p;
	const char *why;
	char *s;

	if (get_fields(c, root, NULL, f, R_N) < 0)
		return;
	if (f[R_API].val == NULL) {
		missing(c, root, NULL, "apiVersion");
	} else {
		PKEY(ap, NULL, "apiVersion");
		if (get_str(c, f[R_API].val, &ap, &s) == 0 &&
		    strcmp(s, PIPELINE_API_VERSION) != 0)
			verr(c, f[R_API].val, &ap, "must be \"%s\" (got %s)",
			    PIPELINE_API_VERSION, QS(c, s));
	}
	if (f[R_KIND].val == NULL) {
		missing(c, root, NULL, "kind");
	} else {
		PKEY(kp, NULL, "kind");
		if (get_str(c, f[R_KIND].val, &kp, &s) == 0 &&
		    strcmp(s, PIPELINE_KIND) != 0)
			verr(c, f[R_KIND].val, &kp, "must be \"%s\" (got %s)",
			    PIPELINE_KIND, QS(c, s));
	}
	if (f[R_META].val == NULL) {
		missing(c, root, NULL, "metadata");
	} else {
		PKEY(mp, NULL, "metadata");
		if (get_fields(c, f[R_META].val, &mp, mf, M_N) == 0) {
			if (mf[M_NAME].val == NULL) {
				missing(c, f[R_META].val, &mp, "name");
			} else {
				PKEY(np, &mp, "name");
				if (get_str(c, mf[M_NAME].val, &np, &s) == 0) {
					if ((why = k8s_check_dns1123_label(s)) !=
					    NULL)
						verr(c, mf[M_NAME].val, &np,
						    "invalid name %s: %s",
						    QS(c, s), why);
					p->name = s;
				}
			}
		}
	}
	if (f[R_SPEC].val == NULL) {
		missing(c, root, NULL, "spec");
	} else {
		PKEY(sp, NULL, "spec");
		walk_spec(c, f[R_SPEC].val, &sp);
	}
}

/*
 * Checks across stages
 */

static void
verrp(struct vctx *c, struct pipeline_pos pos, const struct vpath *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
verrp(struct vctx *c, struct pipeline_pos pos, const struct vpath *path,
    const char *fmt, ...)
{
	char p[512];
	va_list ap;

	vpath_render(path, p, sizeof(p));
	va_start(ap, fmt);
	verr_at(c, pos.line, pos.column, p, fmt, ap);
	va_end(ap);
}

struct nameref {
	const char	*name;
	size_t		 i;
};

static int
nameref_cmp(const void *a, const void *b)
{
	const struct nameref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The index of the first entry called name[0..len) in sorted v, or -1. */
static long
name_lookup(const struct nameref *v, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strncmp(v[mid].name, name, len);

		if (r == 0 && v[mid].name[len] != '\0')
			r = 1;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && strncmp(v[lo].name, name, len) == 0 &&
	    v[lo].name[len] == '\0')
		return (long)v[lo].i;
	return -1;
}

struct cross {
	struct nameref	*names;		/* stages by name */
	size_t		 nnames;
	const char	**plain;	/* stage names by index, for suggest */
	struct nameref	*params;
	size_t		 nparams;
	const char	**param_names;
	unsigned char	*ordered;	/* stage is in the topological order */
};

static void
check_names(struct vctx *c, struct cross *x)
{
	struct pipeline *p = c->p;

	x->names = xcalloc(p->nstages, sizeof(*x->names));
	x->plain = xcalloc(p->nstages, sizeof(*x->plain));
	for (size_t i = 0; i < p->nstages; i++) {
		x->plain[i] = p->stages[i].name;
		if (p->stages[i].name != NULL) {
			x->names[x->nnames].name = p->stages[i].name;
			x->names[x->nnames].i = i;
			x->nnames++;
		}
	}
	qsort(x->names, x->nnames, sizeof(*x->names), nameref_cmp);
	for (size_t i = 1; i < x->nnames; i++) {
		size_t j = i, s;
		const struct ynode *first;

		if (strcmp(x->names[i].name, x->names[i - 1].name) != 0)
			continue;
		while (j > 0 && strcmp(x->names[j - 1].name,
		    x->names[i].name) == 0)
			j--;
		s = x->names[i].i;
		first = c->name_node[x->names[j].i];
		PKEY(sp, NULL, "spec");
		PKEY(stp, &sp, "stages");
		PIDX(ip, &stp, s);
		PKEY(np, &ip, "name");
		verr(c, c->name_node[s], &np, "duplicate stage name %s (first "
		    "at %d:%d)", QS(c, x->names[i].name), first->line,
		    first->col);
	}
}

static void
check_needs(struct vctx *c, struct cross *x)
{
	struct pipeline *p = c->p;
	size_t *seen = xcalloc(p->nstages, sizeof(*seen));

	for (size_t i = 0; i < p->nstages; i++) {
		struct pipeline_stage *st = &p->stages[i];

		st->need_index = arena_array(c->pa, st->needs.n,
		    sizeof(*st->need_index));
		for (size_t k = 0; k < st->needs.n; k++) {
			const char *nm = st->needs.v[k];
			long j = name_lookup(x->names, x->nnames, nm,
			    strlen(nm));

			PKEY(sp, NULL, "spec");
			PKEY(stp, &sp, "stages");
			PIDX(ip, &stp, i);
			PKEY(np, &ip, "needs");
			PIDX(kp, &np, k);
			st->need_index[k] = SIZE_MAX;
			if (j < 0) {
				verrp(c, st->needs.pos[k], &kp, "unknown stage "
				    "%s%s", QS(c, nm), suggest(c, nm, strlen(nm),
				    x->plain, p->nstages));
			} else if ((size_t)j == i) {
				verrp(c, st->needs.pos[k], &kp, "stage %s needs "
				    "itself", QS(c, nm));
			} else if (seen[j] == i + 1) {
				verrp(c, st->needs.pos[k], &kp, "duplicate entry "
				    "%s", QS(c, nm));
			} else {
				seen[j] = i + 1;
				st->need_index[k] = (size_t)j;
			}
		}
	}
	free(seen);
}

/* cyc[0] needs cyc[1] ... needs cyc[len - 1] needs cyc[0]. */
static void
report_cycle(struct vctx *c, const size_t *cyc, size_t len)
{
	struct pipeline *p = c->p;
	char msg[LIM_PIPELINE_ERROR_MSG - 128];
	size_t m = 0, a, b, o = 0, k;
	int n;

	if (c->nerr >= LIM_PIPELINE_ERRORS)
		return;
	for (size_t i = 1; i < len; i++) {
		if (cyc[i] < cyc[m])
			m = i;
	}
	for (size_t t = 0; t <= len; t++) {
		const char *nm = p->stages[cyc[(m + t) % len]].name;

		n = snprintf(msg + o, sizeof(msg) - o, "%s%s",
		    t > 0 ? " -> " : "", nm);
		if (n < 0 || (size_t)n >= sizeof(msg) - o) {
			/* too long for one message: cut it */
			memcpy(msg + sizeof(msg) - 8, " -> ...", 8);
			break;
		}
		o += (size_t)n;
	}
	a = cyc[m];
	b = cyc[(m + 1) % len];
	for (k = 0; k < p->stages[a].needs.n; k++) {
		if (p->stages[a].need_index[k] == b)
			break;
	}
	BUG_ON(k == p->stages[a].needs.n);
	PKEY(sp, NULL, "spec");
	PKEY(stp, &sp, "stages");
	PIDX(ip, &stp, a);
	PKEY(np, &ip, "needs");
	PIDX(kp, &np, k);
	verrp(c, p->stages[a].needs.pos[k], &kp, "cycle in needs: %s", msg);
}

/* Iterative depth-first search: each back edge closes one cycle. */
static void
check_cycles(struct vctx *c)
{
	struct pipeline *p = c->p;
	size_t n = p->nstages;
	unsigned char *color = xcalloc(n, 1);
	size_t *stack = xcalloc(n, sizeof(*stack));
	size_t *edge = xcalloc(n, sizeof(*edge));
	size_t *spos = xcalloc(n, sizeof(*spos));

	for (size_t r = 0; r < n; r++) {
		size_t top = 1;

		if (color[r] != 0)
			continue;
		stack[0] = r;
		edge[0] = 0;
		spos[r] = 0;
		color[r] = 1;
		while (top > 0) {
			size_t u = stack[top - 1], v;
			const struct pipeline_stage *st = &p->stages[u];

			if (edge[top - 1] == st->needs.n) {
				color[u] = 2;
				top--;
				continue;
			}
			v = st->need_index[edge[top - 1]++];
			if (v == SIZE_MAX)
				continue;
			if (color[v] == 0) {
				color[v] = 1;
				spos[v] = top;
				stack[top] = v;
				edge[top] = 0;
				top++;
			} else if (color[v] == 1) {
				report_cycle(c, stack + spos[v], top - spos[v]);
			}
		}
	}
	free(color);
	free(stack);
	free(edge);
	free(spos);
}

/*
 * Topological order (Kahn's algorithm, the lowest index first) and the
 * transitive closure of needs as one bit set per stage.  Stages in or
 * behind a cycle stay out of the order.
 */
static void
order_stages(struct vctx *c, struct cross *x)
{
	struct pipeline *p = c->p;
	size_t n = p->nstages, words = (n + 63) / 64, done = 0;
	size_t *left = xcalloc(n, sizeof(*left));
	size_t *cnt = xcalloc(n + 1, sizeof(*cnt));
	size_t *rev, *fill = xcalloc(n, sizeof(*fill));
	size_t edges = 0, i, k;

	/* the stages that need each stage, as one array with offsets */
	for (i = 0; i < n; i++) {
		for (k = 0; k < p->stages[i].needs.n; k++) {
			size_t j = p->stages[i].need_index[k];

			if (j != SIZE_MAX) {
				left[i]++;
				cnt[j + 1]++;
				edges++;
			}
		}
	}
	for (i = 0; i < n; i++)
		cnt[i + 1] += cnt[i];
	rev = xcalloc(edges, sizeof(*rev));
	for (i = 0; i < n; i++) {
		for (k = 0; k < p->stages[i].needs.n; k++) {
			size_t j = p->stages[i].need_index[k];

			if (j != SIZE_MAX)
				rev[cnt[j] + fill[j]++] = i;
		}
	}
	p->order = arena_array(c->pa, n, sizeof(*p->order));
	p->closure = arena_array(c->pa, n * words, sizeof(*p->closure));
	x->ordered = xcalloc(n, 1);
	/* a quadratic pick keeps ties in source order; n <= LIM_STAGES */
	for (;;) {
		for (i = 0; i < n; i++) {
			if (!x->ordered[i] && left[i] == 0)
				break;
		}
		if (i == n)
			break;
		x->ordered[i] = 1;
		p->order[done++] = i;
		for (k = 0; k < p->stages[i].needs.n; k++) {
			size_t j = p->stages[i].need_index[k];

			if (j == SIZE_MAX)
				continue;
			for (size_t w = 0; w < words; w++)
				p->closure[i * words + w] |=
				    p->closure[j * words + w];
			p->closure[i * words + j / 64] |= 1ULL << (j % 64);
		}
		for (k = cnt[i]; k < cnt[i + 1]; k++)
			left[rev[k]]--;
	}
	free(left);
	free(cnt);
	free(rev);
	free(fill);
}

static void
check_refs(struct vctx *c, struct cross *x)
{
	struct pipeline *p = c->p;
	struct err e;

	x->params = xcalloc(p->params.n, sizeof(*x->params));
	x->param_names = xcalloc(p->params.n, sizeof(*x->param_names));
	for (size_t i = 0; i < p->params.n; i++) {
		x->params[i].name = p->params.v[i].key;
		x->params[i].i = i;
		x->param_names[i] = p->params.v[i].key;
	}
	x->nparams = p->params.n;
	qsort(x->params, x->nparams, sizeof(*x->params), nameref_cmp);
	for (size_t t = 0; t < c->ntmpls; t++) {
		const struct tmpl *tm = &c->tmpls[t];
		const struct ynode *at = tm->node;
		struct pipeline_ref r;
		size_t pos = 0;
		int rc;

		while ((rc = pipeline_refs_next(tm->s, &pos, &r, &e)) != 0) {
			int len = (int)r.len;
			const char *txt = tm->s + r.off;
			const char *self;
			long s;

			if (c->nerr >= LIM_PIPELINE_ERRORS)
				return;
			if (rc < 0) {
				verr_raw(c, at->line, at->col, tm->path, "%s",
				    e.msg);
				continue;
			}
			switch (r.kind) {
			case PIPELINE_REF_PARAM:
				if (name_lookup(x->params, x->nparams, r.name,
				    r.name_len) < 0)
					verr_raw(c, at->line, at->col, tm->path,
					    "unknown parameter %s in %.*s%s",
					    Q(c, r.name, r.name_len), len, txt,
					    suggest(c, r.name, r.name_len,
					    x->param_names, x->nparams));
				break;
			case PIPELINE_REF_RUN: {
				size_t i;

				for (i = 0; pipeline_run_fields[i] != NULL; i++) {
					if (strlen(pipeline_run_fields[i]) ==
					    r.name_len &&
					    memcmp(pipeline_run_fields[i], r.name,
					    r.name_len) == 0)
						break;
				}
				if (pipeline_run_fields[i] == NULL)
					verr_raw(c, at->line, at->col, tm->path,
					    "unknown run field %s in %.*s "
					    "(expected one of id, commit, branch, "
					    "trigger, pipeline)",
					    Q(c, r.name, r.name_len), len, txt);
				break;
			}
			case PIPELINE_REF_ARTIFACT:
			case PIPELINE_REF_METRIC:
				s = name_lookup(x->names, x->nnames, r.stage,
				    r.stage_len);
				if (s < 0) {
					verr_raw(c, at->line, at->col, tm->path,
					    "unknown stage %s in %.*s%s",
					    Q(c, r.stage, r.stage_len), len, txt,
					    suggest(c, r.stage, r.stage_len,
					    x->plain, p->nstages));
					break;
				}
				if (tm->stage < 0) {
					verr_raw(c, at->line, at->col, tm->path,
					    "defaults cannot read stage outputs "
					    "(%.*s); set this value in the stage "
					    "that needs it", len, txt);
					break;
				}
				self = p->stages[tm->stage].name;
				if (self == NULL)
					self = "";
				if (s == tm->stage) {
					verr_raw(c, at->line, at->col, tm->path,
					    "stage %s cannot read its own outputs "
					    "(%.*s)", QS(c, self), len, txt);
				} else if (x->ordered[tm->stage] &&
				    !pipeline_depends_on(p, (size_t)tm->stage,
				    (size_t)s)) {
					verr_raw(c, at->line, at->col, tm->path,
					    "stage %s does not depend on stage "
					    "%s (%.*s); add %s to its needs",
					    QS(c, self), Q(c, r.stage,
					    r.stage_len), len, txt, Q(c, r.stage,
					    r.stage_len));
				}
				break;
			}
		}
	}
}

/* One production model per target: two canary stages may not share one. */
static void
check_targets(struct vctx *c)
{
	struct pipeline *p = c->p;

	for (size_t i = 0; i < p->nstages; i++) {
		const char *t = p->stages[i].canary != NULL ?
		    p->stages[i].canary->target : NULL;

		if (t == NULL || c->target_node[i] == NULL)
			continue;
		for (size_t j = 0; j < i; j++) {
			const char *u = p->stages[j].canary != NULL ?
			    p->stages[j].canary->target : NULL;

			if (u == NULL || c->target_node[j] == NULL ||
			    strcmp(t, u) != 0)
				continue;
			PKEY(sp, NULL, "spec");
			PKEY(stp, &sp, "stages");
			PIDX(ip, &stp, i);
			PKEY(cp, &ip, "canary");
			PKEY(tp, &cp, "target");
			verr(c, c->target_node[i], &tp, "canary target %s is "
			    "already rolled out by stage %s", QS(c, t),
			    QS(c, p->stages[j].name != NULL ?
			    p->stages[j].name : ""));
			break;
		}
	}
}

static void
cross_checks(struct vctx *c)
{
	struct cross x;

	memset(&x, 0, sizeof(x));
	if (c->p->nstages == 0)
		return;
	check_names(c, &x);
	check_needs(c, &x);
	check_cycles(c);
	order_stages(c, &x);
	check_refs(c, &x);
	check_targets(c);
	free(x.names);
	free(x.plain);
	free(x.params);
	free(x.param_names);
	free(x.ordered);
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

static void
ytree_free(struct ytree *t)
{
	if (t == NULL)
		return;
	arena_release(&t->a);
	free(t->stk);
	free(t);
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
 * Canonical JSON
 */

static json_t *
jstrs(const struct pipeline_strs *s)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		if (json_array_append_new(a, json_string(s->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
jmap(const struct pipeline_map *m)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		if (json_object_set_new(o, m->v[i].key,
		    json_string(m->v[i].value)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *
jduration(int64_t ms)
{
	char s[32];

	units_format_duration(ms, s, sizeof(s));
	return json_string(s);
}

/* Set key of o to v (stolen, NULL allowed); -1 on any failure. */
static int
jset(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v);
}

static json_t *
jgates(const struct pipeline_gate *g, size_t n)
{
	json_t *a = json_array(), *o;

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((o = json_object()) == NULL ||
		    json_array_append_new(a, o) < 0 ||
		    jset(o, "metric", json_string(g[i].metric)) < 0 ||
		    jset(o, "op", json_string(pipeline_op_name(g[i].op))) < 0)
			goto fail;
		if (g[i].baseline) {
			if (jset(o, "baseline", json_string("production")) < 0 ||
			    jset(o, "tolerance", json_real(g[i].tolerance)) < 0)
				goto fail;
		} else if (jset(o, "value", json_real(g[i].value)) < 0) {
			goto fail;
		}
	}
	return a;
fail:
	json_decref(a);
	return NULL;
}

static json_t *
jcanary(const struct pipeline_canary *cn)
{
	json_t *o = json_object(), *steps, *s, *an;

	if (o == NULL)
		return NULL;
	if (jset(o, "target", json_string(cn->target)) < 0 ||
	    jset(o, "approval_timeout",
	    jduration(cn->approval_timeout_ms)) < 0 ||
	    (cn->rollback_command.n > 0 && jset(o, "rollback_command",
	    jstrs(&cn->rollback_command)) < 0) ||
	    jset(o, "steps", steps = json_array()) < 0)
		goto fail;
	for (size_t i = 0; i < cn->nsteps; i++) {
		const struct pipeline_step *st = &cn->steps[i];

		if ((s = json_object()) == NULL ||
		    json_array_append_new(steps, s) < 0 ||
		    jset(s, "weight", json_integer(st->weight)) < 0 ||
		    jset(s, "approval", json_string(st->approval ?
		    "required" : "none")) < 0)
			goto fail;
		if (st->analysis &&
		    (jset(s, "analysis", an = json_object()) < 0 ||
		    jset(an, "duration", jduration(st->analysis_ms)) < 0 ||
		    jset(an, "gates", jgates(st->gates, st->ngates)) < 0))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *
jstage(const struct pipeline_stage *st)
{
	json_t *o = json_object(), *r, *a, *t;

	if (o == NULL)
		return NULL;
	if (jset(o, "name", json_string(st->name)) < 0 ||
	    jset(o, "type", json_string(st->type == PIPELINE_STAGE_CANARY ?
	    "canary" : "job")) < 0 ||
	    jset(o, "needs", jstrs(&st->needs)) < 0 ||
	    jset(o, "image", json_string(st->image)) < 0 ||
	    jset(o, "command", jstrs(&st->command)) < 0 ||
	    jset(o, "env", jmap(&st->env)) < 0 ||
	    jset(o, "node_selector", jmap(&st->node_selector)) < 0 ||
	    jset(o, "retries", json_integer(st->retries)) < 0 ||
	    jset(o, "gates", jgates(st->gates, st->ngates)) < 0 ||
	    jset(o, "resources", r = json_object()) < 0 ||
	    jset(r, "gpu", json_integer(st->resources.gpu)) < 0 ||
	    jset(r, "gpu_resource",
	    json_string(st->resources.gpu_resource)) < 0 ||
	    (st->resources.cpu != NULL &&
	    jset(r, "cpu", json_string(st->resources.cpu)) < 0) ||
	    (st->resources.memory != NULL &&
	    jset(r, "memory", json_string(st->resources.memory)) < 0) ||
	    (st->queue != NULL &&
	    jset(o, "queue", json_string(st->queue)) < 0) ||
	    (st->priority_class != NULL &&
	    jset(o, "priority_class", json_string(st->priority_class)) < 0) ||
	    (st->timeout_ms > 0 &&
	    jset(o, "timeout", jduration(st->timeout_ms)) < 0) ||
	    (st->canary != NULL &&
	    jset(o, "canary", jcanary(st->canary)) < 0) ||
	    jset(o, "tolerations", a = json_array()) < 0)
		goto fail;
	for (size_t i = 0; i < st->ntolerations; i++) {
		const struct pipeline_toleration *x = &st->tolerations[i];

		if ((t = json_object()) == NULL ||
		    json_array_append_new(a, t) < 0 ||
		    jset(t, "key", json_string(x->key)) < 0 ||
		    jset(t, "operator", json_string(x->op ==
		    PIPELINE_TOLERATION_EXISTS ? "Exists" : "Equal")) < 0 ||
		    jset(t, "value", json_string(x->value)) < 0 ||
		    jset(t, "effect", json_string(x->effect)) < 0 ||
		    (x->has_seconds && jset(t, "toleration_seconds",
		    json_integer(x->seconds)) < 0))
			goto fail;
	}
	if (jset(o, "volumes", a = json_array()) < 0)
		goto fail;
	for (size_t i = 0; i < st->nvolumes; i++) {
		const struct pipeline_volume *v = &st->volumes[i];

		if ((t = json_object()) == NULL ||
		    json_array_append_new(a, t) < 0 ||
		    jset(t, "claim", json_string(v->claim)) < 0 ||
		    jset(t, "mount", json_string(v->mount)) < 0 ||
		    jset(t, "read_only", json_boolean(v->read_only)) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int
json_to_buf(const char *s, size_t n, void *arg)
{
	return buf_append(arg, s, n) < 0 ? -1 : 0;
}

/*
 * jansson leaves characters unescaped that YAML reads differently or not
 * at all: U+0085, U+2028 and U+2029 are line breaks to YAML 1.1, and DEL,
 * the C1 controls, U+FFFE and U+FFFF are not printable.  Escape them, so
 * that the JSON parses back through libyaml to the same pipeline.  They
 * only occur inside strings.
 */
static int
json_yaml_safe(const struct buf *in, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in->data;
	size_t i = 0, start = 0, k;
	uint32_t cp;
	int rc;

	while (i < in->len) {
		if (s[i] < 0x7f) {
			i++;
			continue;
		}
		if ((k = utf8_decode(s + i, in->len - i, &cp)) == 0)
			return ERR_INVALID;	/* jansson writes valid UTF-8 */
		if (cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0xfffe || cp == 0xffff) {
			if ((rc = buf_append(out, s + start, i - start)) < 0 ||
			    (rc = buf_printf(out, "\\u%04x", (unsigned)cp)) < 0)
				return rc;
			start = i + k;
		}
		i += k;
	}
	return buf_append(out, s + start, in->len - start);
}

int
pipeline_to_json(const struct pipeline *p, char **out, struct err *err)
{
	json_t *o = NULL, *m, *spec, *tr, *push, *stages;
	struct buf b, safe;
	int rc = ERR_NOMEM;

	*out = NULL;
	buf_init(&b, LIM_PIPELINE_JSON);
	buf_init(&safe, LIM_PIPELINE_JSON);
	if ((o = json_object()) == NULL ||
	    jset(o, "apiVersion", json_string(PIPELINE_API_VERSION)) < 0 ||
	    jset(o, "kind", json_string(PIPELINE_KIND)) < 0 ||
	    jset(o, "metadata", m = json_object()) < 0 ||
	    jset(m, "name", json_string(p->name)) < 0 ||
	    jset(o, "spec", spec = json_object()) < 0 ||
	    jset(spec, "concurrency", json_integer(p->concurrency)) < 0 ||
	    jset(spec, "checkout", json_boolean(p->checkout)) < 0 ||
	    jset(spec, "params", jmap(&p->params)) < 0 ||
	    jset(spec, "triggers", tr = json_object()) < 0 ||
	    jset(tr, "webhook", json_boolean(p->triggers.webhook)) < 0 ||
	    jset(spec, "stages", stages = json_array()) < 0)
		goto out;
	if (p->triggers.push) {
		if (jset(tr, "push", push = json_object()) < 0 ||
		    (p->triggers.branches.n > 0 && jset(push, "branches",
		    jstrs(&p->triggers.branches)) < 0) ||
		    (p->triggers.paths.n > 0 && jset(push, "paths",
		    jstrs(&p->triggers.paths)) < 0))
			goto out;
	}
	for (size_t i = 0; i < p->nstages; i++) {
		if (json_array_append_new(stages, jstage(&p->stages[i])) < 0)
			goto out;
	}
	if (json_dump_callback(o, json_to_buf, &b, JSON_COMPACT |
	    JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) < 0) {
		if (b.len + 4096 > b.max)
			rc = ERR_TOOBIG;
		goto out;
	}
	if ((rc = json_yaml_safe(&b, &safe)) < 0)
		goto out;
	rc = ERR_NOMEM;
	if ((*out = buf_detach(&safe)) == NULL)
		goto out;
	rc = 0;
out:
	json_decref(o);
	buf_release(&b);
	buf_release(&safe);
	if (rc == ERR_TOOBIG)
		err_set(err, rc, "pipeline '%s': canonical JSON is larger than "
		    "%d bytes", p->name, LIM_PIPELINE_JSON);
	else if (rc < 0)
		err_set(err, rc, "pipeline '%s': cannot serialize: out of "
		    "memory", p->name);
	return rc;
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

/*
 * References and substitution
 */

const char *const pipeline_run_fields[] = {
	"id", "commit", "branch", "trigger", "pipeline", NULL,
};

static int
ident_ok(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

int
pipeline_output_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-' || s[i] == '/'))
			return 0;
	}
	return 1;
}

/* Parse the inside of "${...}" into ref; 0 or -1. */
static int
ref_parse(const char *s, size_t n, struct pipeline_ref *ref)
{
	const char *dot;

	if (n > 7 && memcmp(s, "params.", 7) == 0) {
		ref->kind = PIPELINE_REF_PARAM;
		ref->name = s + 7;
		ref->name_len = n - 7;
		return ident_ok(ref->name, ref->name_len) ? 0 : -1;
	}
	if (n > 4 && memcmp(s, "run.", 4) == 0) {
		ref->kind = PIPELINE_REF_RUN;
		ref->name = s + 4;
		ref->name_len = n - 4;
		for (size_t i = 0; i < ref->name_len; i++) {
			if (!(ref->name[i] >= 'a' && ref->name[i] <= 'z') &&
			    ref->name[i] != '_')
				return -1;
		}
		return 0;
	}
	if (n > 7 && memcmp(s, "stages.", 7) == 0) {
		const char *rest;
		size_t rn;

		ref->stage = s + 7;
		if ((dot = memchr(ref->stage, '.', n - 7)) == NULL)
			return -1;
		ref->stage_len = (size_t)(dot - ref->stage);
		if (ref->stage_len == 0 || ref->stage_len > 63)
			return -1;
		for (size_t i = 0; i < ref->stage_len; i++) {
			char ch = ref->stage[i];

			if (!((ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9') || ch == '-'))
				return -1;
		}
		rest = dot + 1;
		rn = n - (size_t)(rest - s);
		if (rn > 10 && memcmp(rest, "artifacts.", 10) == 0) {
			ref->kind = PIPELINE_REF_ARTIFACT;
			ref->name = rest + 10;
			ref->name_len = rn - 10;
		} else if (rn > 8 && memcmp(rest, "metrics.", 8) == 0) {
			ref->kind = PIPELINE_REF_METRIC;
			ref->name = rest + 8;
			ref->name_len = rn - 8;
		} else {
			return -1;
		}
		return pipeline_output_name_valid(ref->name, ref->name_len) ?
		    0 : -1;
	}
	return -1;
}

int
pipeline_refs_next(const char *s, size_t *pos, struct pipeline_ref *ref,
    struct err *err)
{
	char q[QUOTE_MAX];
	const char *close;
	size_t i = *pos;

	for (; s[i] != '\0'; i++) {
		if (s[i] != '$')
			continue;
		if (s[i + 1] == '$' && s[i + 2] == '{') {
			i += 2;		/* "$${" is a literal "${" */
			continue;
		}
		if (s[i + 1] == '{')
			break;
	}
	if (s[i] == '\0') {
		*pos = i;
		return 0;
	}
	memset(ref, 0, sizeof(*ref));
	ref->off = i;
	if ((close = strchr(s + i + 2, '}')) == NULL) {
		ref->len = strlen(s + i);
		*pos = i + ref->len;
		return err_set(err, ERR_INVALID, "unterminated reference %s "
		    "(a \"}\" is missing)", quote_into(q, s + i, ref->len));
	}
	ref->len = (size_t)(close - (s + i)) + 1;
	*pos = i + ref->len;
	if (ref_parse(s + i + 2, ref->len - 3, ref) < 0) {
		ref->stage = ref->name = NULL;
		ref->stage_len = ref->name_len = 0;
		return err_set(err, ERR_INVALID, "invalid reference %s "
		    "(expected ${params.NAME}, ${run.FIELD}, "
		    "${stages.STAGE.artifacts.NAME} or "
		    "${stages.STAGE.metrics.NAME})",
		    quote_into(q, s + i, ref->len));
	}
	return 1;
}

/* Append s[0..n) with "$${" turned into "${". */
static int
append_literal(struct buf *out, const char *s, size_t n)
{
	size_t i = 0, start = 0;
	int rc;

	while (i < n) {
		if (s[i] == '$' && i + 2 < n + 0 && s[i + 1] == '$' &&
		    s[i + 2] == '{') {
			if ((rc = buf_append(out, s + start, i - start)) < 0)
				return rc;
			start = i + 1;	/* drop one '$' */
			i += 3;
			continue;
		}
		i++;
	}
	return buf_append(out, s + start, n - start);
}

int
pipeline_substitute(const char *tmpl,
    int (*lookup)(void *arg, const struct pipeline_ref *ref, struct buf *out,
	struct err *err),
    void *arg, struct buf *out, struct err *err)
{
	struct pipeline_ref ref;
	size_t pos = 0, last = 0;
	char q[QUOTE_MAX];
	int r, rc;

	for (;;) {
		if ((r = pipeline_refs_next(tmpl, &pos, &ref, err)) < 0)
			return r;
		if (r == 0)
			break;
		if ((rc = append_literal(out, tmpl + last, ref.off - last)) < 0)
			return err_set(err, rc, "substituted text is too long");
		if ((rc = lookup(arg, &ref, out, err)) < 0) {
			if (rc == ERR_NOTFOUND)
				return err_set(err, rc, "no value for %s",
				    quote_into(q, tmpl + ref.off, ref.len));
			if (rc == ERR_TOOBIG)
				return err_set(err, rc, "substituted text is "
				    "too long");
			return rc;
		}
		last = pos;
	}
	if ((rc = append_literal(out, tmpl + last, strlen(tmpl + last))) < 0)
		return err_set(err, rc, "substituted text is too long");
	return 0;
}

/*
 * Globs
 */

/* One segment: '*' any run, '?' one character, others literal. */
static int
seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
	uint32_t cp;

	while (si < sn) {
		size_t k = utf8_decode((const unsigned char *)s + si, sn - si,
		    &cp);

		if (k == 0)
			k = 1;
		if (pi < pn && p[pi] == '?') {
			pi++;
			si += k;
		} else if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			size_t mk = utf8_decode((const unsigned char *)s +
			    mark, sn - mark, &cp);

			pi = star + 1;
			mark += mk ? mk : 1;
			si = mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

struct span {
	const char	*s;
	size_t		 n;
};

static size_t
split(const char *s, struct span *v)
{
	size_t n = 0;
	const char *p = s, *q;

	for (;;) {
		q = strchr(p, '/');
		v[n].s = p;
		v[n].n = q != NULL ? (size_t)(q - p) : strlen(p);
		n++;
		if (q == NULL)
			return n;
		p = q + 1;
	}
}

static size_t
count_segs(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == '/';
	return n;
}

/*
 * Segment-wise dynamic programming, O(segments^2): '**' segments cannot
 * make it exponential.  With prefix set, a match of leading segments is
 * enough (a pattern matching a directory matches what is in it).
 */
static int
glob_match(const char *pattern, const char *path, int prefix)
{
	size_t m = count_segs(pattern), n = count_segs(path);
	struct span *ps = xcalloc(m, sizeof(*ps));
	struct span *ss = xcalloc(n, sizeof(*ss));
	unsigned char *dp = xcalloc(n + 1, 1), *nx = xcalloc(n + 1, 1), *t;
	int r;

	(void)split(pattern, ps);
	(void)split(path, ss);
	for (size_t j = 0; j <= n; j++)
		dp[j] = prefix ? 1 : j == n;
	for (size_t i = m; i-- > 0;) {
		if (ps[i].n == 2 && memcmp(ps[i].s, "**", 2) == 0) {
			nx[n] = dp[n];
			for (size_t j = n; j-- > 0;)
				nx[j] = dp[j] || nx[j + 1];
		} else {
			nx[n] = 0;
			for (size_t j = 0; j < n; j++)
				nx[j] = dp[j + 1] && seg_match(ps[i].s, ps[i].n,
				    ss[j].s, ss[j].n);
		}
		t = dp;
		dp = nx;
		nx = t;
	}
	r = dp[0];
	free(ps);
	free(ss);
	free(dp);
	free(nx);
	return r;
}

int
pipeline_glob_match(const char *pattern, const char *path)
{
	return glob_match(pattern, path, 1);
}

int
pipeline_push_matches(const struct pipeline *p, const char *branch,
    const char *const *changed, size_t n, const char *pipeline_file)
{
	size_t i, j;

	if (!p->triggers.push)
		return 0;
	if (p->triggers.branches.n > 0) {
		for (i = 0; i < p->triggers.branches.n; i++) {
			if (glob_match(p->triggers.branches.v[i], branch, 0))
				break;
		}
		if (i == p->triggers.branches.n)
			return 0;
	}
	if (p->triggers.paths.n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (pipeline_file != NULL && strcmp(changed[i],
		    pipeline_file) == 0)
			return 1;
		for (j = 0; j < p->triggers.paths.n; j++) {
			if (glob_match(p->triggers.paths.v[j], changed[i], 1))
				return 1;
		}
	}
	return 0;
}
