/*
 * cfg_yaml.c - the configuration's YAML, read with libyaml's document API
 * and walked against a key table.  The walk descends only into keys the
 * table knows, so its depth is bounded by the table even when aliases
 * make the node graph cyclic.
 */
#include <stddef.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg_int.h"

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* ---- walking YAML ---- */

int
cfg_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
	    !strcmp(v, "Null") || !strcmp(v, "NULL");
}

int
cfg_wrong_type(struct ld *ld, const yaml_node_t *n, const char *label,
    const char *want)
{
	return cfg_fail(ld, &n->start_mark, label, "expected %s, found %s",
	    want, node_kind(n));
}

/* The row of tab for key (keylen bytes) inside the mapping at rel. */
static const struct key *
find_key(const struct key *tab, size_t ntab, const char *rel,
    const char *key, size_t keylen)
{
	size_t rl = strlen(rel);

	if (keylen == 0 || memchr(key, '.', keylen) != NULL ||
	    memchr(key, '\0', keylen) != NULL)
		return NULL;
	for (size_t i = 0; i < ntab; i++) {
		const char *p = tab[i].path;

		if (rl > 0) {
			if (strncmp(p, rel, rl) != 0 || p[rl] != '.')
				continue;
			p += rl + 1;
		}
		if (strlen(p) == keylen && memcmp(p, key, keylen) == 0)
			return &tab[i];
	}
	return NULL;
}

static int
walk_list(struct ld *ld, const struct key *k, void *base, const char *label,
    yaml_node_t *seq)
{
	char ilabel[LABEL_MAX], q[QUOTE_MAX];
	size_t n = 0, i = 0;
	char **l = NULL;
	int rc = 0;

	if (!cfg_is_null(seq))
		n = (size_t)(seq->data.sequence.items.top -
		    seq->data.sequence.items.start);
	if (n == 0 && (k->flags & CFG_EMPTYLIST)) {
		cfg_list_store(k, base, xcalloc(1, sizeof(char *)), 0);
		return 0;
	}
	if (n == 0)
		return cfg_fail(ld, &seq->start_mark, label,
		    "must be a non-empty list");
	if (n > (size_t)k->max)
		return cfg_fail(ld, &seq->start_mark, label,
		    "has more than %lld entries", (long long)k->max);
	l = xcalloc(n + 1, sizeof(*l));
	for (i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(ld->doc,
		    seq->data.sequence.items.start[i]);
		const char *v;
		size_t len;

		cfg_labelf(ilabel, sizeof(ilabel), "%s[%zu]", label, i);
		if (it->type != YAML_SCALAR_NODE) {
			rc = cfg_wrong_type(ld, it, ilabel, "a scalar");
			goto out;
		}
		v = cfg_is_null(it) ? "" : (const char *)it->data.scalar.value;
		len = cfg_is_null(it) ? 0 : it->data.scalar.length;
		cfg_quote(q, sizeof(q), v, len);
		if (len == 0) {
			rc = cfg_fail(ld, &it->start_mark, ilabel,
			    "must not be empty");
			goto out;
		}
		if (memchr(v, '\0', len) != NULL) {
			rc = cfg_fail(ld, &it->start_mark, ilabel,
			    "%s contains a NUL byte", q);
			goto out;
		}
		if (k->check != NULL && k->check(v) != NULL) {
			rc = cfg_fail(ld, &it->start_mark, ilabel, "%s %s", q,
			    k->check(v));
			goto out;
		}
		l[i] = xstrdup(v);
	}
	cfg_list_store(k, base, l, n);
	l = NULL;
out:
	cfg_list_free(l);
	return rc;
}

/* Set key k of base from node n, whatever k's type. */
static int
walk_value(struct ld *ld, const struct key *k, const struct key *tab,
    size_t ntab, void *base, const char *lprefix, unsigned char *seen,
    yaml_node_t *n)
{
	char label[LABEL_MAX];

	cfg_label_of(label, sizeof(label), lprefix, k->path, strlen(k->path));
	switch (k->type) {
	case K_MAP:
		if (cfg_is_null(n))
			return 0;
		if (n->type != YAML_MAPPING_NODE)
			return cfg_wrong_type(ld, n, label, "a mapping");
		return cfg_walk_map(ld, n, tab, ntab, k->path, base, lprefix,
		    seen);
	case K_REPOS:
		if (n->type != YAML_SEQUENCE_NODE && !cfg_is_null(n))
			return cfg_wrong_type(ld, n, label, "a sequence");
		return cfg_walk_repos(ld, n, base);
	case K_NOTIFS:
		if (n->type != YAML_SEQUENCE_NODE && !cfg_is_null(n))
			return cfg_wrong_type(ld, n, label, "a sequence");
		return cfg_walk_notifications(ld, n, base);
	case K_LIST:
		if (n->type != YAML_SEQUENCE_NODE && !cfg_is_null(n))
			return cfg_wrong_type(ld, n, label, "a sequence");
		return walk_list(ld, k, base, label, n);
	default:
		if (n->type != YAML_SCALAR_NODE)
			return cfg_wrong_type(ld, n, label, "a scalar");
		if (cfg_is_null(n))
			return cfg_set_text(ld, k, base, label, "", 0,
			    &n->start_mark);
		return cfg_set_text(ld, k, base, label,
		    (const char *)n->data.scalar.value, n->data.scalar.length,
		    &n->start_mark);
	}
}

/*
 * Walk a mapping whose keys are the rows of tab under rel ("" for the
 * table's root).  lprefix comes before key paths in messages; seen[i] is
 * set for each row i given (seen may be NULL).
 */
int
cfg_walk_map(struct ld *ld, yaml_node_t *map, const struct key *tab,
    size_t ntab, const char *rel, void *base, const char *lprefix,
    unsigned char *seen)
{
	yaml_node_pair_t *pair;
	char label[LABEL_MAX], prefix[LABEL_MAX];
	int rc;

	if (rel[0] != '\0')
		cfg_labelf(prefix, sizeof(prefix), "%s%s.", lprefix, rel);
	else
		cfg_labelf(prefix, sizeof(prefix), "%s", lprefix);
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(ld->doc, pair->value);
		const struct key *k;
		const char *name;
		size_t len;

		if (kn->type != YAML_SCALAR_NODE) {
			len = strlen(prefix);
			if (len > 0)	/* "kubernetes." names "kubernetes" */
				prefix[len - 1] = '\0';
			return cfg_fail(ld, &kn->start_mark,
			    len > 0 ? prefix : NULL,
			    "a key must be a scalar, found %s", node_kind(kn));
		}
		name = (const char *)kn->data.scalar.value;
		len = kn->data.scalar.length;
		cfg_label_of(label, sizeof(label), prefix, name, len);
		for (yaml_node_pair_t *prev = map->data.mapping.pairs.start;
		    prev < pair; prev++) {
			yaml_node_t *pn = yaml_document_get_node(ld->doc,
			    prev->key);

			if (pn->data.scalar.length == len &&
			    memcmp(pn->data.scalar.value, name, len) == 0)
				return cfg_fail(ld, &kn->start_mark, label,
				    "duplicate key");
		}
		if ((k = find_key(tab, ntab, rel, name, len)) == NULL)
			return cfg_fail(ld, &kn->start_mark, label,
			    "unknown key");
		if (seen != NULL)
			seen[k - tab] = 1;
		if ((rc = walk_value(ld, k, tab, ntab, base, lprefix, seen,
		    vn)) < 0)
			return rc;
	}
	return 0;
}

/* The value of key name in mapping map, or NULL. */
yaml_node_t *
cfg_map_get(struct ld *ld, yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);

		if (kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, name) == 0)
			return yaml_document_get_node(ld->doc, p->value);
	}
	return NULL;
}

/* libyaml's error as ours, with its position. */
static int
yaml_fail(struct ld *ld, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	case YAML_READER_ERROR:
		return cfg_fail(ld, NULL, NULL, "invalid YAML: %s at byte %zu",
		    problem, p->problem_offset);
	default:
		if (p->context != NULL)
			return cfg_fail(ld, &p->problem_mark, NULL,
			    "invalid YAML: %s %s", problem, p->context);
		return cfg_fail(ld, &p->problem_mark, NULL, "invalid YAML: %s",
		    problem);
	}
}

/*
 * A first pass over the events, before the document is built: libyaml's
 * scanner is quadratic in the nesting depth and the document API holds
 * every node, so depth and node count are capped here (LIM_YAML_DEPTH,
 * LIM_YAML_NODES), which also stops the scan early on hostile input.
 */
static int
yaml_precheck(struct ld *ld, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	long depth = 0, nodes = 0;
	int rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_fail(ld, &parser);
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > LIM_YAML_DEPTH)
				rc = cfg_fail(ld, &ev.start_mark, NULL,
				    "YAML nested deeper than %d levels",
				    LIM_YAML_DEPTH);
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
		    ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = 1;
		}
		if (rc == 0 && (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SCALAR_EVENT ||
		    ev.type == YAML_ALIAS_EVENT) && ++nodes > LIM_YAML_NODES)
			rc = cfg_fail(ld, &ev.start_mark, NULL,
			    "more than %d YAML nodes", LIM_YAML_NODES);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/*
 * Parse text as one YAML document and apply it: as the whole
 * configuration when as is NULL, else as the value of key as.
 */
int
cfg_load_yaml(struct ld *ld, struct cfg *c, const char *text, size_t len,
    const struct key *as)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	int have_doc = 0, rc = 0;
	yaml_node_t *root;

	if ((rc = yaml_precheck(ld, text, len)) < 0)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = yaml_fail(ld, &parser);
		goto out;
	}
	have_doc = 1;
	if (!yaml_parser_load(&parser, &extra)) {
		rc = yaml_fail(ld, &parser);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		rc = cfg_fail(ld, &root->start_mark, NULL,
		    "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (rc < 0)
		goto out;
	ld->doc = &doc;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		if (as != NULL && as->type == K_REPOS)	/* an empty list */
			cfg_repos_store(c, NULL, 0);
		else if (as != NULL && as->type == K_NOTIFS)
			cfg_notifications_store(c, NULL, 0);
		else if (as != NULL)
			rc = cfg_fail(ld, NULL, as->path, "expected a sequence "
			    "such as [A, B] or []");
	} else if (as != NULL) {
		rc = walk_value(ld, as, cfg_top_keys, cfg_ntop_keys, c, "",
		    NULL, root);
	} else if (root->type == YAML_MAPPING_NODE) {
		rc = cfg_walk_map(ld, root, cfg_top_keys, cfg_ntop_keys, "", c,
		    "", NULL);
	} else if (!cfg_is_null(root)) {
		rc = cfg_fail(ld, &root->start_mark, NULL,
		    "expected a mapping at the top level, found %s",
		    node_kind(root));
	}
out:
	ld->doc = NULL;
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}
