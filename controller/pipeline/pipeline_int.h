/*
 * pipeline_int.h - what the pieces of the pipeline parser share: the
 * arenas, the YAML tree (struct ynode, with positions), the validation
 * context (struct vctx) and the error reporting every pass uses.  Not for
 * other modules: their API is pipeline.h.
 *
 * The parse runs in three passes (pipeline.c drives them):
 *
 * 1. The bytes (parse.c): size cap, UTF-8 and the characters YAML forbids,
 *    so that those errors get an exact position and a plain message.
 * 2. libyaml's event parser builds our own tree of nodes (parse.c), each
 *    with its position.  Building it ourselves, rather than with
 *    yaml_parser_load(), is what lets us bound nesting and alias expansion
 *    while parsing, find duplicate keys, and keep positions for aliases.
 * 3. Schema walkers (schema.c, schema_canary.c) check every field against
 *    docs/pipeline-reference.md, report every error with the path of the
 *    node, and fill struct pipeline; a last pass (checks.c) checks what
 *    spans stages (names, needs, cycles, references, canary targets).
 *
 * Memory comes from arenas: one for the tree, dropped at the end of the
 * parse, and one owned by the pipeline.  Allocation failure aborts, as
 * xcalloc() does; inputs are capped, so memory is bounded.
 */
#ifndef SLUICE_PIPELINE_INT_H
#define SLUICE_PIPELINE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/caps.h"
#include "pipeline/pipeline.h"

struct buf;

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define QUOTE_MAX	280	/* 64 bytes quoted, escaped, with "..." */

/*
 * Arenas (pipeline.c): zeroed memory that lives until arena_release();
 * allocation failure aborts.
 */

struct arena_block;

struct pipeline_arena {
	struct arena_block	*head;
};

void	*arena_alloc(struct pipeline_arena *a, size_t n);
/* n elements of size, zeroed, with overflow checked. */
void	*arena_array(struct pipeline_arena *a, size_t n, size_t size);
char	*arena_strndup(struct pipeline_arena *a, const char *s, size_t n);
void	 arena_release(struct pipeline_arena *a);

/*
 * Decode one UTF-8 sequence at s (n bytes left).  Return its length and
 * set *cp, or 0 when it is not valid UTF-8 (pipeline.c).
 */
size_t	 utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);


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
	const char		*default_service_account;
	struct podsec		 default_security_context;
	struct tmpl		*tmpls;
	size_t			 ntmpls;
	size_t			 atmpls;
};

/*
 * Messages (pipeline.c)
 */

/*
 * Quote s[0..n) for a message into out (at least QUOTE_MAX bytes): double
 * quotes, escapes for quotes, backslashes and control characters, cut
 * after 64 bytes (on a character boundary) with "...".  Returns out.
 */
const char *quote_into(char *out, const char *s, size_t n);

/* quote_into() a buffer of c that lives until four more calls */
const char *Q(struct vctx *c, const char *s, size_t n);

#define QS(c, s)	Q((c), (s), strlen(s))
#define QN(c, n)	Q((c), (n)->s, (n)->len)

/* Write segs as spec.stages[1].env.NAME or node_selector["a.b/c"]. */
void	 render_path(char *out, size_t outlen, const struct seg *segs,
	    size_t n);
void	 vpath_render(const struct vpath *path, char *out, size_t outlen);

/*
 * Record an error at line:col, with "path: " before the message when the
 * path is not empty.
 */
void	 verr_at(struct vctx *c, int line, int col, const char *path,
	    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* An error at node n (line 1 col 1 when NULL) under path. */
void	 verr(struct vctx *c, const struct ynode *n, const struct vpath *path,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 verr_raw(struct vctx *c, int line, int col, const char *path,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * " (did you mean "x"?)" for the closest of names to s, or "".  Bounded
 * per file so that hostile input cannot make it quadratic.
 */
const char *suggest(struct vctx *c, const char *s, size_t len,
	    const char *const *names, size_t n);

/*
 * The tree (parse.c)
 */

/* The node an alias stands for; n itself otherwise. */
static inline const struct ynode *
D(const struct ynode *n)
{
	return n->kind == Y_ALIAS ? n->target : n;
}

static inline int
is_null(const struct ynode *n)
{
	return n->kind == Y_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->s, "~") == 0 ||
	    strcmp(n->s, "null") == 0 || strcmp(n->s, "Null") == 0 ||
	    strcmp(n->s, "NULL") == 0);
}

static inline struct pipeline_pos
pos_of(const struct ynode *n)
{
	return (struct pipeline_pos){ n->line, n->col };
}

/* "a mapping", "a sequence", "null" or "a string". */
const char *kind_name(const struct ynode *n);

/* Pass 1: the bytes; ERR_INVALID (reported) on the first bad one. */
int	 check_bytes(struct vctx *c);
/* Pass 2: c->data to c->t->root; ERR_INVALID when reported. */
int	 ytree_build(struct vctx *c);
void	 ytree_free(struct ytree *t);

/*
 * Pass 3: the schema (schema.c, schema_canary.c) and the checks across stages (checks.c).
 * They report into c and fill c->p.
 */

#define PKEY(name, up, k)						\
	struct vpath name = { (up), { (k), strlen(k), 0 } }
#define PIDX(name, up, i)						\
	struct vpath name = { (up), { NULL, 0, (i) } }

/* A name and the index it came from, sorted by name then index. */
struct nameref {
	const char	*name;
	size_t		 i;
};

/* qsort() order of struct nameref (checks.c). */
int	 nameref_cmp(const void *a, const void *b);

void	 walk_root(struct vctx *c, const struct ynode *root);
void	 cross_checks(struct vctx *c);

#endif
