/*
 * parse.c - YAML to a tree of nodes with positions: pass 1 checks the
 * bytes (UTF-8, characters YAML forbids), pass 2 builds struct ynode from
 * libyaml's events, bounding nesting and alias expansion and reporting
 * duplicate keys and unsupported tags as it goes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"
#include "pipeline/pipeline_int.h"

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
int
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

const char *
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
	if (sys_grow((void **)&t->stk, t->nstk, &t->astk, sizeof(*t->stk),
	    0) < 0)
		abort();	/* out of memory, as xcalloc() */
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

int
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

void
ytree_free(struct ytree *t)
{
	if (t == NULL)
		return;
	arena_release(&t->a);
	free(t->stk);
	free(t);
}
