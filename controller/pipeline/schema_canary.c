/*
 * schema_canary.c - the schema walkers of a canary stage and of gates:
 * the rollout's steps, their analysis queries and provider, the traffic
 * provider, and the metric gates any stage may have.  Errors are
 * reported with the node's path, as in schema.c.
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
#include "pipeline/pipeline_int.h"
#include "pipeline/schema_int.h"

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
	if (sch_get_fields(c, n, path, f, G_N) < 0)
		return;
	if (f[G_METRIC].val == NULL) {
		sch_missing(c, n, path, "metric");
	} else {
		PKEY(p, path, "metric");
		if (sch_get_str(c, f[G_METRIC].val, &p, &s) == 0) {
			if ((why = sch_check_output_name(s)) != NULL)
				verr(c, f[G_METRIC].val, &p, "invalid metric "
				    "name %s: %s", QS(c, s), why);
			g->metric = s;
		}
	}
	if (f[G_OP].val == NULL) {
		sch_missing(c, n, path, "op");
	} else {
		PKEY(p, path, "op");
		if (sch_get_enum(c, f[G_OP].val, &p, "operator", ops, NELEM(ops),
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
		(void)sch_get_number(c, f[G_VALUE].val, &p, &g->value);
	}
	if (f[G_BASELINE].val != NULL) {
		PKEY(p, path, "baseline");
		if (sch_get_str(c, f[G_BASELINE].val, &p, &s) == 0) {
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
		else if (sch_get_number(c, f[G_TOLERANCE].val, &p,
		    &g->tolerance) == 0 && !(g->tolerance >= 0))
			verr(c, f[G_TOLERANCE].val, &p, "must not be negative "
			    "(got %s)", D(f[G_TOLERANCE].val)->s);
	}
}

void
sch_walk_gates(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_gate **out, size_t *nout)
{
	const struct ynode *d = D(n);

	*out = NULL;
	*nout = 0;
	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return;
	}
	*out = arena_array(c->pa, d->n, sizeof(**out));
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_gate(c, d->kids[i], &ip, &(*out)[i]);
	}
	*nout = d->n;
}

/* One of analysis.queries: name, query, op, value. */
static void
walk_query(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_query *qr)
{
	static const char *const ops[] = { ">=", ">", "<=", "<", "==", "!=" };
	enum { Q_NAME, Q_QUERY, Q_OP, Q_VALUE, Q_N };
	struct field f[Q_N] = {
		{ "name", NULL, NULL }, { "query", NULL, NULL },
		{ "op", NULL, NULL }, { "value", NULL, NULL },
	};
	const char *why;
	struct err e;
	char *s;
	int op;

	qr->pos = pos_of(n);
	if (sch_get_fields(c, n, path, f, Q_N) < 0)
		return;
	for (int i = 0; i < Q_N; i++)
		if (f[i].val == NULL)
			sch_missing(c, n, path, f[i].name);
	if (f[Q_NAME].val != NULL) {
		PKEY(p, path, "name");
		if (sch_get_str(c, f[Q_NAME].val, &p, &s) == 0) {
			if ((why = sch_check_output_name(s)) != NULL)
				verr(c, f[Q_NAME].val, &p, "invalid query name "
				    "%s: %s", QS(c, s), why);
			qr->name = s;
		}
	}
	if (f[Q_QUERY].val != NULL) {
		PKEY(p, path, "query");
		if (sch_get_str(c, f[Q_QUERY].val, &p, &s) == 0) {
			if (*s == '\0')
				verr(c, f[Q_QUERY].val, &p, "must not be empty");
			else if (strlen(s) > LIM_PROMQL_QUERY)
				verr(c, f[Q_QUERY].val, &p, "too long (%zu "
				    "bytes; the limit is %d)", strlen(s),
				    LIM_PROMQL_QUERY);
			else if (pipeline_promql_check(s, &e) < 0)
				verr(c, f[Q_QUERY].val, &p, "%s", e.msg);
			qr->query = s;
		}
	}
	if (f[Q_OP].val != NULL) {
		PKEY(p, path, "op");
		if (sch_get_enum(c, f[Q_OP].val, &p, "operator", ops, NELEM(ops),
		    &op) == 0)
			qr->op = (enum pipeline_op)op;
	}
	if (f[Q_VALUE].val != NULL) {
		PKEY(p, path, "value");
		(void)sch_get_number(c, f[Q_VALUE].val, &p, &qr->value);
	}
}

static void
walk_queries(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_step *s)
{
	const struct ynode *d = D(n);

	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return;
	}
	if (d->n == 0 || d->n > LIM_ANALYSIS_QUERIES) {
		verr(c, n, path, "must have 1 to %d queries (got %zu)",
		    LIM_ANALYSIS_QUERIES, d->n);
		return;
	}
	s->queries = arena_array(c->pa, d->n, sizeof(*s->queries));
	s->nqueries = d->n;
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_query(c, d->kids[i], &ip, &s->queries[i]);
		for (size_t j = 0; j < i && s->queries[i].name != NULL; j++) {
			if (s->queries[j].name != NULL &&
			    strcmp(s->queries[j].name, s->queries[i].name) == 0) {
				verr(c, d->kids[i], &ip, "query name %s is "
				    "already used by queries[%zu]",
				    QS(c, s->queries[i].name), j);
				break;
			}
		}
	}
}

/*
 * The query part of a step's analysis: queries, interval, failure_limit,
 * inconclusive (a[] are those fields of the analysis mapping at path).
 */
static void
walk_step_queries(struct vctx *c, const struct vpath *path,
    const struct field *a, struct pipeline_step *s)
{
	static const char *const inconclusive[] = { "fail", "ignore" };
	long long v;
	int e;

	if (a[0].val == NULL) {
		for (int i = 1; i < 4; i++)
			if (a[i].val != NULL)
				verr(c, a[i].key, path, "%s applies to "
				    "queries; this analysis has none",
				    a[i].name);
		return;
	}
	PKEY(qp, path, "queries");
	walk_queries(c, a[0].val, &qp, s);
	s->interval_ms = s->analysis_ms;
	if (a[1].val != NULL) {
		PKEY(ip, path, "interval");
		if (sch_get_duration(c, a[1].val, &ip, 1000,
		    &s->interval_ms) == 0 && s->analysis_ms > 0) {
			if (s->interval_ms > s->analysis_ms)
				verr(c, a[1].val, &ip, "must not be longer "
				    "than duration");
			else if (s->analysis_ms / s->interval_ms >
			    LIM_ANALYSIS_MEASUREMENTS)
				verr(c, a[1].val, &ip, "too short: more than "
				    "%d measurements per query in duration",
				    LIM_ANALYSIS_MEASUREMENTS);
		}
	}
	if (a[2].val != NULL) {
		PKEY(fp, path, "failure_limit");
		if (sch_get_int(c, a[2].val, &fp, 0, LIM_ANALYSIS_MEASUREMENTS,
		    &v) == 0)
			s->failure_limit = (int)v;
	}
	if (a[3].val != NULL) {
		PKEY(np, path, "inconclusive");
		if (sch_get_enum(c, a[3].val, &np, "inconclusive",
		    inconclusive, NELEM(inconclusive), &e) == 0)
			s->inconclusive = (enum pipeline_inconclusive)e;
	}
}

static void
walk_step(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_step *s, const struct ynode **weight)
{
	static const char *const approvals[] = { "none", "required" };
	enum { S_WEIGHT, S_APPROVAL, S_ANALYSIS, S_N };
	enum { A_QUERIES, A_INTERVAL, A_FAILURE_LIMIT, A_INCONCLUSIVE,
	    A_DURATION, A_GATES, A_N };
	struct field f[S_N] = {
		{ "weight", NULL, NULL }, { "approval", NULL, NULL },
		{ "analysis", NULL, NULL },
	};
	struct field a[A_N] = {
		{ "queries", NULL, NULL }, { "interval", NULL, NULL },
		{ "failure_limit", NULL, NULL }, { "inconclusive", NULL, NULL },
		{ "duration", NULL, NULL }, { "gates", NULL, NULL },
	};
	long long v;

	s->pos = pos_of(n);
	*weight = NULL;
	if (sch_get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_WEIGHT].val == NULL) {
		sch_missing(c, n, path, "weight");
	} else {
		PKEY(p, path, "weight");
		if (sch_get_int(c, f[S_WEIGHT].val, &p, 1, 100, &v) == 0) {
			s->weight = (int)v;
			*weight = f[S_WEIGHT].val;
		}
	}
	if (f[S_APPROVAL].val != NULL) {
		PKEY(p, path, "approval");
		(void)sch_get_enum(c, f[S_APPROVAL].val, &p, "approval", approvals,
		    NELEM(approvals), &s->approval);
	}
	if (f[S_ANALYSIS].val != NULL) {
		PKEY(p, path, "analysis");
		s->analysis = 1;
		if (sch_get_fields(c, f[S_ANALYSIS].val, &p, a, A_N) < 0)
			return;
		if (a[A_DURATION].val == NULL) {
			sch_missing(c, f[S_ANALYSIS].val, &p, "duration");
		} else {
			PKEY(dp, &p, "duration");
			(void)sch_get_duration(c, a[A_DURATION].val, &dp, 1000,
			    &s->analysis_ms);
		}
		if (a[A_GATES].val != NULL) {
			PKEY(gp, &p, "gates");
			sch_walk_gates(c, a[A_GATES].val, &gp, &s->gates,
			    &s->ngates);
		}
		walk_step_queries(c, &p, a, s);
	}
}

/*
 * canary.analysis_provider: {prometheus: {address, timeout, token_env,
 * insecure_skip_verify, ca_file}}.
 */
static void
walk_analysis_provider(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_prometheus *pr)
{
	enum { P_ADDRESS, P_TIMEOUT, P_TOKEN_ENV, P_INSECURE, P_CA_FILE, P_N };
	struct field top[1] = { { "prometheus", NULL, NULL } };
	struct field f[P_N] = {
		{ "address", NULL, NULL }, { "timeout", NULL, NULL },
		{ "token_env", NULL, NULL },
		{ "insecure_skip_verify", NULL, NULL },
		{ "ca_file", NULL, NULL },
	};
	const char *why;
	char *s;

	if (sch_get_fields(c, n, path, top, 1) < 0)
		return;
	if (top[0].val == NULL) {
		sch_missing(c, n, path, "prometheus");
		return;
	}
	PKEY(pp, path, "prometheus");
	if (sch_get_fields(c, top[0].val, &pp, f, P_N) < 0)
		return;
	pr->timeout_ms = PIPELINE_PROMETHEUS_TIMEOUT_MS;
	if (f[P_ADDRESS].val == NULL) {
		sch_missing(c, top[0].val, &pp, "address");
	} else {
		PKEY(p, &pp, "address");
		if (sch_get_str(c, f[P_ADDRESS].val, &p, &s) == 0) {
			if (strncmp(s, "http://", 7) != 0 &&
			    strncmp(s, "https://", 8) != 0)
				verr(c, f[P_ADDRESS].val, &p, "invalid address "
				    "%s: expected an http:// or https:// URL",
				    QS(c, s));
			else if (strlen(s) > LIM_PROMETHEUS_ADDRESS ||
			    strpbrk(s, " \t\r\n?#") != NULL)
				verr(c, f[P_ADDRESS].val, &p, "invalid address "
				    "%s: too long, or it holds a space, '?' or "
				    "'#'", QS(c, s));
			else
				pr->address = s;
		}
	}
	if (f[P_TIMEOUT].val != NULL) {
		PKEY(p, &pp, "timeout");
		(void)sch_get_duration(c, f[P_TIMEOUT].val, &p, 1000,
		    &pr->timeout_ms);
	}
	if (f[P_TOKEN_ENV].val != NULL) {
		PKEY(p, &pp, "token_env");
		if (sch_get_str(c, f[P_TOKEN_ENV].val, &p, &s) == 0) {
			if ((why = sch_check_env_key(s)) != NULL)
				verr(c, f[P_TOKEN_ENV].val, &p, "invalid "
				    "variable name %s: %s", QS(c, s), why);
			else
				pr->token_env = s;
		}
	}
	if (f[P_INSECURE].val != NULL) {
		PKEY(p, &pp, "insecure_skip_verify");
		(void)sch_get_bool(c, f[P_INSECURE].val, &p,
		    &pr->insecure_skip_verify);
	}
	if (f[P_CA_FILE].val != NULL) {
		PKEY(p, &pp, "ca_file");
		if (sch_get_str(c, f[P_CA_FILE].val, &p, &s) == 0) {
			if (*s != '/')
				verr(c, f[P_CA_FILE].val, &p, "must be an "
				    "absolute path (got %s)", QS(c, s));
			else
				pr->ca_file = s;
		}
	}
}

/* Steps with analysis.queries need a provider (none given). */
static void
check_analysis_provider(struct vctx *c, const struct ynode *n,
    const struct vpath *path, const struct pipeline_canary *cn)
{
	for (size_t i = 0; i < cn->nsteps; i++) {
		if (cn->steps[i].nqueries == 0)
			continue;
		verr(c, n, path, "steps[%zu].analysis.queries need "
		    "analysis_provider.prometheus", i);
		return;
	}
}

/* A Kubernetes object's name in a traffic field (a DNS-1123 subdomain). */
static void
traffic_name(struct vctx *c, const struct field *f, const struct vpath *path,
    char **out)
{
	const char *why;
	char *s;

	PKEY(p, path, f->name);
	if (sch_get_str(c, f->val, &p, &s) < 0)
		return;
	if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
		verr(c, f->val, &p, "invalid %s %s: %s", f->name, QS(c, s), why);
	else
		*out = s;
}

/*
 * canary.traffic: the provider and the fields it needs, each required
 * for its provider and refused for the others.
 */
static void
walk_traffic(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_traffic *t)
{
	static const char *const providers[] = { "command", "kserve",
	    "gateway" };
	enum { T_PROVIDER, T_ISVC, T_GATEWAY, T_N };
	enum { G_ROUTE, G_STABLE, G_CANARY, G_RULE, G_RULE_NAME, G_N };
	struct field f[T_N] = {
		{ "provider", NULL, NULL }, { "inference_service", NULL, NULL },
		{ "gateway", NULL, NULL },
	};
	struct field g[G_N] = {
		{ "route", NULL, NULL }, { "stable_backend", NULL, NULL },
		{ "canary_backend", NULL, NULL }, { "rule", NULL, NULL },
		{ "rule_name", NULL, NULL },
	};
	long long v;
	int e;

	if (sch_get_fields(c, n, path, f, T_N) < 0)
		return;
	if (f[T_PROVIDER].val != NULL) {
		PKEY(p, path, "provider");
		if (sch_get_enum(c, f[T_PROVIDER].val, &p, "provider",
		    providers, NELEM(providers), &e) < 0)
			return;
		t->provider = (enum pipeline_traffic_provider)e;
	}
	if (f[T_ISVC].val != NULL && t->provider != PIPELINE_TRAFFIC_KSERVE) {
		PKEY(p, path, "inference_service");
		verr(c, f[T_ISVC].key, &p, "only for provider kserve (the "
		    "provider is %s)", providers[t->provider]);
	} else if (f[T_ISVC].val != NULL) {
		traffic_name(c, &f[T_ISVC], path, &t->inference_service);
	} else if (t->provider == PIPELINE_TRAFFIC_KSERVE) {
		sch_missing(c, n, path, "inference_service");
	}
	if (f[T_GATEWAY].val != NULL && t->provider != PIPELINE_TRAFFIC_GATEWAY) {
		PKEY(p, path, "gateway");
		verr(c, f[T_GATEWAY].key, &p, "only for provider gateway (the "
		    "provider is %s)", providers[t->provider]);
		return;
	}
	if (f[T_GATEWAY].val == NULL) {
		if (t->provider == PIPELINE_TRAFFIC_GATEWAY)
			sch_missing(c, n, path, "gateway");
		return;
	}
	PKEY(gp, path, "gateway");
	if (sch_get_fields(c, f[T_GATEWAY].val, &gp, g, G_N) < 0)
		return;
	if (g[G_ROUTE].val == NULL)
		sch_missing(c, f[T_GATEWAY].val, &gp, "route");
	else
		traffic_name(c, &g[G_ROUTE], &gp, &t->route);
	if (g[G_STABLE].val == NULL)
		sch_missing(c, f[T_GATEWAY].val, &gp, "stable_backend");
	else
		traffic_name(c, &g[G_STABLE], &gp, &t->stable_backend);
	if (g[G_CANARY].val == NULL)
		sch_missing(c, f[T_GATEWAY].val, &gp, "canary_backend");
	else
		traffic_name(c, &g[G_CANARY], &gp, &t->canary_backend);
	if (t->stable_backend != NULL && t->canary_backend != NULL &&
	    strcmp(t->stable_backend, t->canary_backend) == 0) {
		PKEY(p, &gp, "canary_backend");
		verr(c, g[G_CANARY].val, &p, "must differ from stable_backend "
		    "(both are %s)", QS(c, t->canary_backend));
	}
	if (g[G_RULE].val != NULL && g[G_RULE_NAME].val != NULL) {
		PKEY(p, &gp, "rule_name");
		verr(c, g[G_RULE_NAME].key, &p, "give rule (an index) or "
		    "rule_name, not both");
	} else if (g[G_RULE].val != NULL) {
		PKEY(p, &gp, "rule");
		if (sch_get_int(c, g[G_RULE].val, &p, 0, 15, &v) == 0)
			t->rule_index = (int)v;
	} else if (g[G_RULE_NAME].val != NULL) {
		PKEY(p, &gp, "rule_name");
		if (sch_get_str(c, g[G_RULE_NAME].val, &p, &t->rule_name) == 0 &&
		    k8s_check_dns1123_label(t->rule_name) != NULL) {
			verr(c, g[G_RULE_NAME].val, &p, "invalid rule_name %s: %s",
			    QS(c, t->rule_name),
			    k8s_check_dns1123_label(t->rule_name));
			t->rule_name = NULL;
		}
	}
}

void
sch_walk_canary(struct vctx *c, const struct ynode *n,
    const struct vpath *path, size_t idx, struct pipeline_stage *st)
{
	static const char *const conflicts[] = { "queue", "supersede" };
	enum { C_TARGET, C_STEPS, C_TIMEOUT, C_ROLLBACK, C_CONFLICT,
	    C_PROVIDER, C_TRAFFIC, C_N };
	struct field f[C_N] = {
		{ "target", NULL, NULL }, { "steps", NULL, NULL },
		{ "approval_timeout", NULL, NULL },
		{ "rollback_command", NULL, NULL },
		{ "on_conflict", NULL, NULL },
		{ "analysis_provider", NULL, NULL },
		{ "traffic", NULL, NULL },
	};
	int e;
	struct pipeline_canary *cn = arena_alloc(c->pa, sizeof(*cn));
	const char *why;
	char *s;

	st->canary = cn;
	cn->approval_timeout_ms = PIPELINE_APPROVAL_TIMEOUT_MS;
	cn->traffic.rule_index = -1;
	if (sch_get_fields(c, n, path, f, C_N) < 0)
		return;
	if (f[C_TARGET].val == NULL) {
		sch_missing(c, n, path, "target");
	} else {
		PKEY(p, path, "target");
		if (D(f[C_TARGET].val)->kind == Y_SEQ) {
			verr(c, f[C_TARGET].val, &p, "expected exactly one "
			    "target, got a sequence");
		} else if (sch_get_str(c, f[C_TARGET].val, &p, &s) == 0) {
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
		sch_missing(c, n, path, "steps");
	} else {
		PKEY(p, path, "steps");
		const struct ynode *d = D(f[C_STEPS].val);
		const struct ynode **w;
		int prev = 0;

		if (d->kind != Y_SEQ) {
			sch_type_err(c, f[C_STEPS].val, &p, "a sequence");
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
		(void)sch_get_duration(c, f[C_TIMEOUT].val, &p, 1000,
		    &cn->approval_timeout_ms);
	}
	if (f[C_ROLLBACK].val != NULL) {
		PKEY(p, path, "rollback_command");
		struct item_rule rule = { "argument", NULL, (long)idx };

		if (sch_get_str_list(c, f[C_ROLLBACK].val, &p, &rule,
		    &cn->rollback_command) == 0 &&
		    D(f[C_ROLLBACK].val)->n == 0)
			verr(c, f[C_ROLLBACK].val, &p, "must not be empty");
	}
	if (f[C_CONFLICT].val != NULL) {
		PKEY(p, path, "on_conflict");
		if (sch_get_enum(c, f[C_CONFLICT].val, &p, "on_conflict",
		    conflicts, NELEM(conflicts), &e) == 0)
			cn->on_conflict = (enum pipeline_on_conflict)e;
	}
	if (f[C_PROVIDER].val != NULL) {
		PKEY(p, path, "analysis_provider");
		walk_analysis_provider(c, f[C_PROVIDER].val, &p,
		    &cn->prometheus);
	} else {
		check_analysis_provider(c, n, path, cn);
	}
	if (f[C_TRAFFIC].val != NULL) {
		PKEY(p, path, "traffic");
		walk_traffic(c, f[C_TRAFFIC].val, &p, &cn->traffic);
	}
}
