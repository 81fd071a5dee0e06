/*
 * cfg_int.h - what the pieces of the configuration loader share: the key
 * table (struct key and its rows), the state of one load (struct ld), the
 * messages, the value setter and the YAML walk.  Not for other modules:
 * their API is cfg.h.
 *
 *	cfg.c		the top-level keys (cfg_top_keys[]), the sources
 *			(defaults, file, SLUICE_* environment, flags),
 *			messages, cfg_load() and cfg_free()
 *	cfg_check.c	checks of string values, parsing a value as its
 *			key's type and storing it (cfg_set_text())
 *	cfg_yaml.c	the YAML document (libyaml) walked against a table
 *	cfg_repos.c	one "repositories" entry (cfg_repo_keys[]) and the
 *			list of them
 *	cfg_notify.c	one "notifications" entry (cfg_notify_keys[]) and
 *			the list of them
 *	cfg_dump.c	cfg_dump() and the masking of secrets
 */
#ifndef SLUICE_CFG_INT_H
#define SLUICE_CFG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "base/err.h"

enum ktype {
	K_MAP,		/* a mapping of further keys, no storage */
	K_STR,		/* char *, owned; max = longest length (0: LIM_PATH) */
	K_BOOL,		/* int, true or false */
	K_INT,		/* int within [min, max] */
	K_NUM,		/* double within (min, max] */
	K_DUR,		/* int64_t ms within [min, max] */
	K_SIZE,		/* int64_t bytes within [min, max] */
	K_ENUM,		/* int, the index of the value in names[] */
	K_LIST,		/* char **, NULL-terminated, size_t count at off2 */
	K_REPOS,	/* the repositories list of struct cfg */
	K_NOTIFS,	/* the notifications list of struct cfg */
};

#define CFG_SECRET	0x01	/* masked by cfg_dump and in errors */
#define CFG_NONEMPTY	0x02	/* "" is an error */
#define CFG_NULLABLE	0x04	/* "" (or null) is stored as NULL */
#define CFG_REQUIRED	0x08	/* must be given (inside a repository) */
#define CFG_EMPTYLIST	0x10	/* K_LIST: [] is allowed */
#define CFG_DUMP_SET	0x20	/* K_BOOL: in the dump only when true */
#define CFG_DUMP_CHANGED 0x40	/* K_INT, K_BOOL: in the dump only when
				   not the default */
#define CFG_DAYS	0x80	/* K_DUR: days too ("90d", units_parse_age) */

struct key {
	const char	*path;		/* dotted, relative to the table */
	enum ktype	 type;
	size_t		 off;		/* of the field */
	size_t		 off2;		/* K_LIST: of its count */
	const char	*def;		/* default as text; NULL: none */
	int64_t		 min, max;
	const char *const *names;	/* K_ENUM, NULL-terminated */
	const char	*(*check)(const char *v);	/* NULL or why v is bad */
	int		(*mask)(const char *v, struct buf *out);  /* secrets */
	unsigned	 flags;
};

#define SEC		((int64_t)1000)
#define DUR_MAX		((int64_t)366 * 24 * 3600 * SEC)
#define QUOTE_MAX	(64 * 4 + 8)	/* a quoted value in a message */
#define LABEL_MAX	256		/* a key path in a message */

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))

/* The state of one load: where values come from, for messages. */
struct ld {
	yaml_document_t	*doc;	/* the document being walked, or NULL */
	const char	*src;	/* " (SRC:LINE:COL)" in messages, or NULL */
	struct err	*err;
};

#define FIELD(base, k, type)	((type *)(void *)((char *)(base) + (k)->off))

static inline int
is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static inline int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* The tables (cfg.c, cfg_repos.c): every key of a struct cfg, of one
 * struct cfg_repo. */
extern const struct key	 cfg_top_keys[];
extern const size_t	 cfg_ntop_keys;
extern const struct key	 cfg_repo_keys[];
extern const size_t	 cfg_nrepo_keys;
extern const struct key	 cfg_notify_keys[];
extern const size_t	 cfg_nnotify_keys;

/*
 * Messages (cfg.c).  cfg_fail() sets ERR_INVALID in ld->err with
 * "LABEL: MESSAGE (SRC:LINE:COL)" and returns it; at and label may be NULL.
 */
int	 cfg_fail(struct ld *ld, const yaml_mark_t *at, const char *label,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* v (len bytes) double-quoted and escaped; outlen >= QUOTE_MAX. */
void	 cfg_quote(char *out, size_t outlen, const char *v, size_t len);
/* prefix + name (namelen bytes) made printable, cut with "..." to fit. */
void	 cfg_label_of(char *out, size_t outlen, const char *prefix,
	    const char *name, size_t namelen);
void	 cfg_labelf(char *out, size_t outlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Checks of a string value (cfg_check.c): NULL when v is fine, else why
 * it is not. */
const char *cfg_check_listen(const char *v);
const char *cfg_check_text(const char *v);
const char *cfg_check_namespace(const char *v);
const char *cfg_check_image(const char *v);
const char *cfg_check_envname(const char *v);
const char *cfg_check_envpattern(const char *v);
const char *cfg_check_label(const char *v);
const char *cfg_check_subdomain(const char *v);
const char *cfg_check_url(const char *v);
const char *cfg_check_branch(const char *v);
const char *cfg_check_relpath(const char *v);
const char *cfg_check_http_url(const char *v);

/* Values (cfg_check.c). */
/* k's bounds as text for "out of range (...)". */
void	 cfg_range_text(const struct key *k, char *out, size_t outlen);
/* A string value v (len bytes, quoted as q) against k: length, emptiness,
 * k->check. */
int	 cfg_check_str(struct ld *ld, const struct key *k, const char *label,
	    const char *v, size_t len, const char *q, const yaml_mark_t *at);
/* Parse v (len bytes, NUL-terminated) as k's type, check it and store it
 * into base; label names the key (or the variable) in errors. */
int	 cfg_set_text(struct ld *ld, const struct key *k, void *base,
	    const char *label, const char *v, size_t len,
	    const yaml_mark_t *at);
/* Set k of base to its default, if it has one (a list: one entry). */
void	 cfg_set_default(struct ld *ld, const struct key *k, void *base,
	    const char *label);
/* A NULL-terminated list and its strings; NULL is a no-op. */
void	 cfg_list_free(char **l);
/* Replace a K_LIST field with l (n strings), which it now owns. */
void	 cfg_list_store(const struct key *k, void *base, char **l, size_t n);
/* Free the K_STR and K_LIST fields of base, a struct tab describes. */
void	 cfg_fields_free(const struct key *tab, size_t ntab, void *base);

/* The YAML walk (cfg_yaml.c). */
/* Whether n is a plain null scalar ("", ~, null). */
int	 cfg_is_null(const yaml_node_t *n);
/* "LABEL: expected WANT, found ..." at n. */
int	 cfg_wrong_type(struct ld *ld, const yaml_node_t *n, const char *label,
	    const char *want);
/*
 * Walk a mapping whose keys are the rows of tab under rel ("" for the
 * table's root).  lprefix comes before key paths in messages; seen[i] is
 * set for each row i given (seen may be NULL).
 */
int	 cfg_walk_map(struct ld *ld, yaml_node_t *map, const struct key *tab,
	    size_t ntab, const char *rel, void *base, const char *lprefix,
	    unsigned char *seen);
/* The value of key name in mapping map, or NULL. */
yaml_node_t *cfg_map_get(struct ld *ld, yaml_node_t *map, const char *name);
/* Parse text as one YAML document and apply it: as the whole
 * configuration when as is NULL, else as the value of key as. */
int	 cfg_load_yaml(struct ld *ld, struct cfg *c, const char *text,
	    size_t len, const struct key *as);

/* Repositories (cfg_repos.c). */
/* Replace c's repositories with the sequence seq (none for a null). */
int	 cfg_walk_repos(struct ld *ld, yaml_node_t *seq, struct cfg *c);
/* Replace c's repositories with repos (n of them), which it now owns. */
void	 cfg_repos_store(struct cfg *c, struct cfg_repo *repos, size_t n);

/* Notifications (cfg_notify.c), like the repositories. */
int	 cfg_walk_notifications(struct ld *ld, yaml_node_t *seq,
	    struct cfg *c);
void	 cfg_notifications_store(struct cfg *c, struct cfg_notification *l,
	    size_t n);

/* Masks for the dump (cfg_dump.c): v with its password as ***. */
int	 cfg_mask_dburl(const char *v, struct buf *out);
int	 cfg_mask_repo_url(const char *v, struct buf *out);

#endif
