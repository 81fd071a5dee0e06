/* spec_build.c - what an attempt runs, from its stage; see spec_build.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "engine/spec_build.h"
#include "pipeline/pipeline.h"
#include "store/store_output.h"

struct subst {
	const struct snap_run		*r;
	json_t				*params;
	const struct output_values	*vals;
};

static int
lookup(void *arg, const struct pipeline_ref *ref, struct buf *out,
    struct err *err)
{
	struct subst *c = arg;
	const struct snap_run *r = c->r;
	int n = (int)ref->name_len, sn = (int)ref->stage_len;

	switch (ref->kind) {
	case PIPELINE_REF_PARAM: {
		json_t *v = c->params != NULL ? json_object_getn(c->params,
		    ref->name, ref->name_len) : NULL;
		char *text;
		int rc;

		if (v == NULL)
			return err_set(err, ERR_INVALID,
			    "param '%.*s' has no value", n, ref->name);
		if (json_is_string(v))
			return buf_append(out, json_string_value(v),
			    json_string_length(v));
		if ((text = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		rc = buf_puts(out, text);
		free(text);
		return rc;
	}
	case PIPELINE_REF_RUN:
		if (ref->name_len == 2 && memcmp(ref->name, "id", 2) == 0)
			return buf_printf(out, "%lld", (long long)r->id);
		if (ref->name_len == 6 && memcmp(ref->name, "commit", 6) == 0)
			return buf_puts(out, r->commit);
		if (ref->name_len == 6 && memcmp(ref->name, "branch", 6) == 0)
			return buf_puts(out, r->branch != NULL ? r->branch : "");
		if (ref->name_len == 7 && memcmp(ref->name, "trigger", 7) == 0)
			return buf_puts(out, r->trigger);
		if (ref->name_len == 8 && memcmp(ref->name, "pipeline", 8) == 0)
			return buf_puts(out, r->pipeline);
		return err_set(err, ERR_INVALID, "run has no field '%.*s'", n,
		    ref->name);
	case PIPELINE_REF_ARTIFACT:
	case PIPELINE_REF_METRIC: {
		int metric = ref->kind == PIPELINE_REF_METRIC;

		for (size_t i = 0; c->vals != NULL && i < c->vals->n; i++) {
			const struct output_value *v = &c->vals->v[i];

			if (v->metric == metric && v->stage != NULL &&
			    strlen(v->stage) == ref->stage_len &&
			    memcmp(v->stage, ref->stage, ref->stage_len) == 0 &&
			    strlen(v->name) == ref->name_len &&
			    memcmp(v->name, ref->name, ref->name_len) == 0)
				return buf_puts(out, v->value);
		}
		return err_set(err, ERR_INVALID, "stage '%.*s' reported no "
		    "%s '%.*s'", sn, ref->stage, metric ? "metric" : "artifact",
		    n, ref->name);
	}
	}
	return err_set(err, ERR_INVALID, "unknown reference");
}

static int
mentions_stages(const char *s)
{
	return s != NULL && strstr(s, "${stages.") != NULL;
}

static int
subst_one(struct subst *c, const char *tmpl, struct buf *b, struct err *err)
{
	int rc;

	buf_reset(b);
	if ((rc = pipeline_substitute(tmpl, lookup, c, b, err)) < 0)
		return rc;
	if (b->data == NULL && (rc = buf_puts(b, "")) < 0)
		return err_set(err, rc, "out of memory");
	return 0;
}

static void
env_int(struct attempt_spec *s, const char *name, int64_t v)
{
	char text[32];

	(void)snprintf(text, sizeof(text), "%lld", (long long)v);
	attempt_spec_env(s, name, text);
}

int
spec_build(struct eng_pass *ps, struct eng_run *er, size_t idx,
    enum attempt_kind kind, int attempt, int step, int weight,
    const char *prev_uri, struct attempt_spec *spec, struct err *err)
{
	const struct pipeline_stage *pst = &er->p->stages[idx];
	const struct pipeline_strs *cmd = kind == ATTEMPT_ROLLBACK ?
	    &pst->canary->rollback_command : &pst->command;
	struct output_values vals = { NULL, 0 };
	struct subst c = { er->r, NULL, &vals };
	int need = mentions_stages(pst->image), rc = 0;
	const char *key;
	json_t *v;
	struct buf b;

	attempt_spec_init(spec);
	buf_init(&b, LIM_EXEC_SPEC);
	for (size_t i = 0; i < cmd->n; i++)
		need |= mentions_stages(cmd->v[i]);
	for (size_t i = 0; i < pst->env.n; i++)
		need |= mentions_stages(pst->env.v[i].value);
	if (need && (rc = store_output_run_values(pass_db(ps), er->r->id, &vals,
	    err)) < 0)
		goto out;
	c.params = json_loads(er->r->params != NULL ? er->r->params : "{}", 0,
	    NULL);
	if (pst->image != NULL) {
		if ((rc = subst_one(&c, pst->image, &b, err)) < 0)
			goto out;
		spec->image = xstrdup(b.data);
	}
	for (size_t i = 0; i < cmd->n; i++) {
		if ((rc = subst_one(&c, cmd->v[i], &b, err)) < 0)
			goto out;
		attempt_spec_arg(spec, b.data);
	}
	env_int(spec, "SLUICE_RUN_ID", er->r->id);
	attempt_spec_env(spec, "SLUICE_STAGE", pst->name);
	env_int(spec, "SLUICE_ATTEMPT", attempt);
	attempt_spec_env(spec, "SLUICE_COMMIT", er->r->commit);
	attempt_spec_env(spec, "SLUICE_PIPELINE", er->r->pipeline);
	if (json_is_object(c.params)) {
		json_object_foreach(c.params, key, v) {
			char name[300];
			size_t n = strlen(key);
			int w;

			if (n > 255)
				continue;
			w = snprintf(name, sizeof(name), "SLUICE_PARAM_%s", key);
			for (int i = 13; i < w; i++)
				if (name[i] >= 'a' && name[i] <= 'z')
					name[i] = (char)(name[i] - 'a' + 'A');
			if (json_is_string(v)) {
				attempt_spec_env(spec, name,
				    json_string_value(v));
			} else {
				char *text = json_dumps(v, JSON_ENCODE_ANY);

				attempt_spec_env(spec, name,
				    text != NULL ? text : "");
				free(text);
			}
		}
	}
	if (kind != ATTEMPT_JOB) {
		attempt_spec_env(spec, "SLUICE_CANARY_TARGET",
		    pst->canary->target);
		env_int(spec, "SLUICE_CANARY_WEIGHT", weight);
		env_int(spec, "SLUICE_CANARY_STEP", step);
		attempt_spec_env(spec, "SLUICE_PREVIOUS_MODEL",
		    prev_uri != NULL ? prev_uri : "");
	}
	for (size_t i = 0; i < pst->env.n; i++) {
		if ((rc = subst_one(&c, pst->env.v[i].value, &b, err)) < 0)
			goto out;
		attempt_spec_env(spec, pst->env.v[i].key, b.data);
	}
	attempt_spec_schedule(spec, pst);
	spec->checkout = er->p->checkout;
	if (er->p->checkout && ps->cfg->executor == EXECUTOR_LOCAL) {
		char dir[LIM_PATH];

		if (snprintf(dir, sizeof(dir), "%s/%lld", ps->workroot,
		    (long long)er->r->id) >= (int)sizeof(dir)) {
			rc = err_set(err, ERR_INVALID, "state_dir path too long");
			goto out;
		}
		spec->workdir = xstrdup(dir);
	}
out:
	if (rc == ERR_TOOBIG)
		rc = err_set(err, ERR_INVALID, "command or env longer than %d "
		    "bytes after substitution", LIM_EXEC_SPEC);
	if (rc < 0)
		attempt_spec_release(spec);
	json_decref(c.params);
	output_values_release(&vals);
	buf_release(&b);
	return rc;
}
