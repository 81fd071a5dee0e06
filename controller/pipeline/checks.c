/*
 * checks.c - the checks across stages once the schema is walked: unique
 * names, needs that exist, no cycles, the order and transitive closure of
 * the DAG, ${...} references that resolve, one canary stage per target.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "pipeline/pipeline_int.h"

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

int
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

void
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
