/*
 * promql.c - the references of an analysis query (${canary.target},
 * ${canary.weight}, ${model.version}, ${model.uri}): where each stands
 * in the PromQL text (in a string literal, a raw string, a comment or
 * the expression), and the substitution that keeps a value inside its
 * string literal whatever it holds.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "pipeline/pipeline_int.h"

enum where { W_EXPR, W_DQ, W_SQ, W_RAW };

enum var { V_TARGET, V_WEIGHT, V_VERSION, V_URI };

static const char *const var_names[] = {
	[V_TARGET] = "canary.target", [V_WEIGHT] = "canary.weight",
	[V_VERSION] = "model.version", [V_URI] = "model.uri",
};

/*
 * Call each(arg, text, n) for the literal pieces of q and ref(arg, var,
 * where) for each reference, in order.  Either may stop the walk with a
 * negative code.  ERR_INVALID for a malformed or misplaced reference.
 */
static int
walk(const char *q,
    int (*text)(void *arg, const char *s, size_t n, struct err *err),
    int (*ref)(void *arg, enum var v, enum where w, struct err *err),
    void *arg, struct err *err)
{
	enum where w = W_EXPR;
	int comment = 0, rc;
	size_t i = 0, last = 0;

	while (q[i] != '\0') {
		char ch = q[i];

		if (ch == '$' && q[i + 1] == '$' && q[i + 2] == '{') {
			/* "$${": a literal "${", one '$' dropped */
			if ((rc = text(arg, q + last, i - last, err)) < 0)
				return rc;
			last = i + 1;
			i += 3;
			continue;
		}
		if (ch == '$' && q[i + 1] == '{') {
			const char *close = strchr(q + i + 2, '}');
			size_t n;
			int v = -1;

			if (close == NULL)
				return err_set(err, ERR_INVALID, "unterminated "
				    "reference at offset %zu (a \"}\" is "
				    "missing)", i);
			n = (size_t)(close - (q + i + 2));
			for (size_t k = 0; k < NELEM(var_names); k++)
				if (strlen(var_names[k]) == n &&
				    memcmp(var_names[k], q + i + 2, n) == 0)
					v = (int)k;
			if (v < 0)
				return err_set(err, ERR_INVALID, "unknown "
				    "reference \"${%.*s}\" (a query may use "
				    "${canary.target}, ${canary.weight}, "
				    "${model.version} and ${model.uri}; for a "
				    "literal \"${\", write \"$${\")",
				    n > 60 ? 60 : (int)n, q + i + 2);
			if ((v == V_TARGET || v == V_URI) &&
			    (w == W_EXPR || comment))
				return err_set(err, ERR_INVALID, "${%s} must be "
				    "inside a quoted string, e.g. "
				    "service=\"${%s}\"", var_names[v],
				    var_names[v]);
			if (w == W_RAW && (v == V_TARGET || v == V_URI))
				return err_set(err, ERR_INVALID, "${%s} cannot "
				    "be escaped inside a `raw string`; use "
				    "\"...\"", var_names[v]);
			if ((rc = text(arg, q + last, i - last, err)) < 0 ||
			    (rc = ref(arg, (enum var)v, w, err)) < 0)
				return rc;
			i = (size_t)(close - q) + 1;
			last = i;
			continue;
		}
		if (comment) {
			if (ch == '\n')
				comment = 0;
		} else if (w == W_EXPR) {
			if (ch == '"')
				w = W_DQ;
			else if (ch == '\'')
				w = W_SQ;
			else if (ch == '`')
				w = W_RAW;
			else if (ch == '#')
				comment = 1;
		} else if (w != W_RAW && ch == '\\' && q[i + 1] != '\0') {
			i += 2;
			continue;
		} else if ((w == W_DQ && ch == '"') || (w == W_SQ && ch == '\'') ||
		    (w == W_RAW && ch == '`')) {
			w = W_EXPR;
		}
		i++;
	}
	return text(arg, q + last, i - last, err);
}

static int
check_text(void *arg, const char *s, size_t n, struct err *err)
{
	(void)arg;
	(void)s;
	(void)n;
	(void)err;
	return 0;
}

static int
check_ref(void *arg, enum var v, enum where w, struct err *err)
{
	(void)arg;
	(void)v;
	(void)w;
	(void)err;
	return 0;
}

int
pipeline_promql_check(const char *query, struct err *err)
{
	return walk(query, check_text, check_ref, NULL, err);
}

struct subst {
	const struct promql_vars	*v;
	struct buf			*out;
};

static int
subst_text(void *arg, const char *s, size_t n, struct err *err)
{
	struct subst *c = arg;

	if (buf_append(c->out, s, n) < 0)
		return err_set(err, ERR_TOOBIG, "the query is too long once "
		    "substituted");
	return 0;
}

/* s inside a string literal opened by quote, as PromQL reads it back. */
static int
append_quoted(struct buf *out, const char *s, char quote)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\' || ch == (unsigned char)quote)
			rc = buf_printf(out, "\\%c", ch);
		else if (ch == '\n')
			rc = buf_puts(out, "\\n");
		else if (ch < 0x20 || ch == 0x7f)
			rc = buf_printf(out, "\\x%02x", ch);
		else
			rc = buf_putc(out, (char)ch);
	}
	return rc;
}

static int
subst_ref(void *arg, enum var v, enum where w, struct err *err)
{
	struct subst *c = arg;
	const char *s = NULL;
	int rc = 0;

	switch (v) {
	case V_WEIGHT:
		rc = buf_printf(c->out, "%d", c->v->weight);
		break;
	case V_VERSION:
		if (c->v->version <= 0)
			return err_set(err, ERR_INVALID, "${model.version}: "
			    "the rollout has no candidate model version");
		rc = buf_printf(c->out, "%lld", (long long)c->v->version);
		break;
	case V_TARGET:
	case V_URI:
		s = v == V_TARGET ? c->v->target : c->v->uri;
		if (s == NULL)
			return err_set(err, ERR_INVALID, "${%s}: the rollout "
			    "has no candidate model version", var_names[v]);
		rc = append_quoted(c->out, s, w == W_DQ ? '"' : '\'');
		break;
	}
	if (rc < 0)
		return err_set(err, ERR_TOOBIG, "the query is too long once "
		    "substituted");
	return 0;
}

int
pipeline_promql_substitute(const char *query, const struct promql_vars *v,
    struct buf *out, struct err *err)
{
	struct subst c = { v, out };

	return walk(query, subst_text, subst_ref, &c, err);
}
