/*
 * json.c - the canonical JSON form of a parsed pipeline
 * (pipeline_to_json): what the controller stores and serves.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/units.h"
#include "pipeline/pipeline_int.h"

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

/* The query part of a step's analysis, into its object an; -1 on failure. */
static int
janalysis_queries(json_t *an, const struct pipeline_step *st)
{
	json_t *a, *o;

	if (st->nqueries == 0)
		return 0;
	if (jset(an, "interval", jduration(st->interval_ms)) < 0 ||
	    jset(an, "failure_limit", json_integer(st->failure_limit)) < 0 ||
	    jset(an, "inconclusive", json_string(st->inconclusive ==
	    PIPELINE_INCONCLUSIVE_IGNORE ? "ignore" : "fail")) < 0 ||
	    jset(an, "queries", a = json_array()) < 0)
		return -1;
	for (size_t i = 0; i < st->nqueries; i++) {
		const struct pipeline_query *qr = &st->queries[i];

		if ((o = json_object()) == NULL ||
		    json_array_append_new(a, o) < 0 ||
		    jset(o, "name", json_string(qr->name)) < 0 ||
		    jset(o, "query", json_string(qr->query)) < 0 ||
		    jset(o, "op", json_string(pipeline_op_name(qr->op))) < 0 ||
		    jset(o, "value", json_real(qr->value)) < 0)
			return -1;
	}
	return 0;
}

/* canary.analysis_provider, into the canary's object o; -1 on failure. */
static int
janalysis_provider(json_t *o, const struct pipeline_prometheus *pr)
{
	json_t *ap, *p;

	if (pr->address == NULL)
		return 0;
	if (jset(o, "analysis_provider", ap = json_object()) < 0 ||
	    jset(ap, "prometheus", p = json_object()) < 0 ||
	    jset(p, "address", json_string(pr->address)) < 0 ||
	    jset(p, "timeout", jduration(pr->timeout_ms)) < 0 ||
	    (pr->token_env != NULL &&
	    jset(p, "token_env", json_string(pr->token_env)) < 0) ||
	    (pr->insecure_skip_verify &&
	    jset(p, "insecure_skip_verify", json_true()) < 0) ||
	    (pr->ca_file != NULL &&
	    jset(p, "ca_file", json_string(pr->ca_file)) < 0))
		return -1;
	return 0;
}

/* canary.traffic, written only for a provider other than command. */
static json_t *
jtraffic(const struct pipeline_traffic *t)
{
	json_t *o = json_object(), *g;

	if (o == NULL || jset(o, "provider", json_string(
	    pipeline_traffic_provider_name(t->provider))) < 0)
		goto fail;
	if (t->inference_service != NULL && jset(o, "inference_service",
	    json_string(t->inference_service)) < 0)
		goto fail;
	if (t->route != NULL) {
		if (jset(o, "gateway", g = json_object()) < 0 ||
		    jset(g, "route", json_string(t->route)) < 0 ||
		    jset(g, "stable_backend", json_string(t->stable_backend)) < 0 ||
		    jset(g, "canary_backend", json_string(t->canary_backend)) < 0 ||
		    (t->rule_index >= 0 && jset(g, "rule",
		    json_integer(t->rule_index)) < 0) ||
		    (t->rule_name != NULL && jset(g, "rule_name",
		    json_string(t->rule_name)) < 0))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
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
	    (cn->on_conflict == PIPELINE_ON_CONFLICT_SUPERSEDE &&
	    jset(o, "on_conflict", json_string("supersede")) < 0) ||
	    janalysis_provider(o, &cn->prometheus) < 0 ||
	    (cn->traffic.provider != PIPELINE_TRAFFIC_COMMAND &&
	    jset(o, "traffic", jtraffic(&cn->traffic)) < 0) ||
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
		    jset(an, "gates", jgates(st->gates, st->ngates)) < 0 ||
		    janalysis_queries(an, st) < 0))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* A security_context with the keys that were given, or NULL on no memory. */
static json_t *
jpodsec(const struct podsec *sc)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < PODSEC_RUN_AS_NON_ROOT; i++) {
		if (sc->id[i] >= 0 && jset(o, podsec_keys[i],
		    json_integer(sc->id[i])) < 0)
			goto fail;
	}
	if (sc->run_as_non_root >= 0 && jset(o, "run_as_non_root",
	    json_boolean(sc->run_as_non_root)) < 0)
		goto fail;
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
	    (st->nodes > 1 &&
	    jset(o, "nodes", json_integer(st->nodes)) < 0) ||
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
	    (st->service_account != NULL && jset(o, "service_account",
	    json_string(st->service_account)) < 0) ||
	    (st->security_context.set && jset(o, "security_context",
	    jpodsec(&st->security_context)) < 0) ||
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

/* triggers.schedule and catch_up into tr; -1 when out of memory. */
static int
jschedules(const struct pipeline_triggers *t, json_t *tr)
{
	json_t *a;

	if (jset(tr, "schedule", a = json_array()) < 0 ||
	    jset(tr, "catch_up", json_string(t->catch_up_last ? "last" :
	    "none")) < 0)
		return -1;
	for (size_t i = 0; i < t->nschedules; i++) {
		const struct pipeline_schedule *sc = &t->schedules[i];
		json_t *o;

		if ((o = json_object()) == NULL ||
		    json_array_append_new(a, o) < 0 ||
		    jset(o, "cron", json_string(sc->cron)) < 0 ||
		    jset(o, "timezone", json_string(sc->timezone)) < 0 ||
		    (sc->branch != NULL && jset(o, "branch",
		    json_string(sc->branch)) < 0) ||
		    jset(o, "params", jmap(&sc->params)) < 0)
			return -1;
	}
	return 0;
}

/*
 * spec.retention as {"keep_runs": N, "max_age_ms": M}, the fields given
 * only (the retention sweep reads them from the stored definition).
 */
static int
jretention(json_t *spec, const struct pipeline_retention *r)
{
	json_t *o;

	if (jset(spec, "retention", o = json_object()) < 0 ||
	    (r->keep_runs >= 0 &&
	    jset(o, "keep_runs", json_integer(r->keep_runs)) < 0) ||
	    (r->max_age_ms >= 0 &&
	    jset(o, "max_age_ms", json_integer(r->max_age_ms)) < 0))
		return -1;
	return 0;
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
	if ((p->retention.keep_runs >= 0 || p->retention.max_age_ms >= 0) &&
	    jretention(spec, &p->retention) < 0)
		goto out;
	if (p->triggers.push) {
		if (jset(tr, "push", push = json_object()) < 0 ||
		    (p->triggers.branches.n > 0 && jset(push, "branches",
		    jstrs(&p->triggers.branches)) < 0) ||
		    (p->triggers.paths.n > 0 && jset(push, "paths",
		    jstrs(&p->triggers.paths)) < 0))
			goto out;
	}
	if (p->triggers.nschedules > 0 && jschedules(&p->triggers, tr) < 0)
		goto out;
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
