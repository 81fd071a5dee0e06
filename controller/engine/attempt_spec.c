/* attempt_spec.c - an attempt's spec and its JSON; see attempt_spec.h. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/sys.h"
#include "engine/attempt_spec.h"
#include "pipeline/pipeline.h"

/*
 * Room for one more element in the array a holding n of cap; out of
 * memory aborts, as xstrdup() does for the strings that go in.
 */
#define GROW(a, n, cap)							\
	do {								\
		if (sys_grow((void **)&(a), (n), &(cap), sizeof(*(a)), 0) < 0) \
			abort();					\
	} while (0)

void
attempt_spec_init(struct attempt_spec *s)
{
	memset(s, 0, sizeof(*s));
	podsec_init(&s->security_context);
}

void
attempt_spec_release(struct attempt_spec *s)
{
	free(s->image);
	for (size_t i = 0; i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
	for (size_t i = 0; i < s->nenv; i++) {
		free((char *)s->env[i].name);
		free((char *)s->env[i].value);
	}
	free(s->env);
	free(s->cpu);
	free(s->memory);
	free(s->gpu_resource);
	for (size_t i = 0; i < s->nnode_selector; i++) {
		free((char *)s->node_selector[i].key);
		free((char *)s->node_selector[i].value);
	}
	free(s->node_selector);
	for (size_t i = 0; i < s->ntolerations; i++) {
		free((char *)s->tolerations[i].key);
		free((char *)s->tolerations[i].op);
		free((char *)s->tolerations[i].value);
		free((char *)s->tolerations[i].effect);
	}
	free(s->tolerations);
	free(s->queue);
	free(s->priority_class);
	for (size_t i = 0; i < s->nvolumes; i++) {
		free((char *)s->volumes[i].claim);
		free((char *)s->volumes[i].mount);
	}
	free(s->volumes);
	free(s->workdir);
	free(s->service_account);
	attempt_spec_init(s);
}

void
attempt_spec_arg(struct attempt_spec *s, const char *arg)
{
	GROW(s->argv, s->argc, s->argv_cap);
	s->argv[s->argc++] = xstrdup(arg);
}

void
attempt_spec_env(struct attempt_spec *s, const char *name, const char *value)
{
	GROW(s->env, s->nenv, s->env_cap);
	s->env[s->nenv].name = xstrdup(name);
	s->env[s->nenv].value = xstrdup(value);
	s->nenv++;
}

static void
add_kv(struct attempt_spec *s, const char *k, const char *v)
{
	GROW(s->node_selector, s->nnode_selector, s->node_selector_cap);
	s->node_selector[s->nnode_selector].key = xstrdup(k);
	s->node_selector[s->nnode_selector].value = xstrdup(v);
	s->nnode_selector++;
}

static void
add_toleration(struct attempt_spec *s, const char *key, const char *op,
    const char *value, const char *effect, int64_t seconds)
{
	struct exec_toleration *t;

	GROW(s->tolerations, s->ntolerations, s->tolerations_cap);
	t = &s->tolerations[s->ntolerations++];
	t->key = xstrdup(key != NULL ? key : "");
	t->op = xstrdup(op);
	t->value = sys_strdup_or_null(value);
	t->effect = sys_strdup_or_null(effect);
	t->seconds = seconds;
}

static void
add_volume(struct attempt_spec *s, const char *claim, const char *mount,
    int ro)
{
	GROW(s->volumes, s->nvolumes, s->volumes_cap);
	s->volumes[s->nvolumes].claim = xstrdup(claim);
	s->volumes[s->nvolumes].mount = xstrdup(mount);
	s->volumes[s->nvolumes].read_only = ro;
	s->nvolumes++;
}

void
attempt_spec_schedule(struct attempt_spec *s, const struct pipeline_stage *ps)
{
	s->timeout_ms = ps->timeout_ms;
	s->cpu = sys_strdup_or_null(ps->resources.cpu);
	s->memory = sys_strdup_or_null(ps->resources.memory);
	s->gpus = ps->resources.gpu;
	s->nodes = ps->nodes > 1 ? ps->nodes : 1;
	s->gpu_resource = sys_strdup_or_null(ps->resources.gpu_resource);
	for (size_t i = 0; i < ps->node_selector.n; i++)
		add_kv(s, ps->node_selector.v[i].key,
		    ps->node_selector.v[i].value);
	for (size_t i = 0; i < ps->ntolerations; i++) {
		const struct pipeline_toleration *t = &ps->tolerations[i];
		int exists = t->op == PIPELINE_TOLERATION_EXISTS;

		add_toleration(s, t->key, exists ? "Exists" : "Equal",
		    exists ? NULL : t->value,
		    t->effect != NULL && t->effect[0] != '\0' ? t->effect : NULL,
		    t->has_seconds ? t->seconds : -1);
	}
	s->queue = sys_strdup_or_null(ps->queue);
	s->priority_class = sys_strdup_or_null(ps->priority_class);
	for (size_t i = 0; i < ps->nvolumes; i++)
		add_volume(s, ps->volumes[i].claim, ps->volumes[i].mount,
		    ps->volumes[i].read_only);
	s->service_account = sys_strdup_or_null(ps->service_account);
	s->security_context = ps->security_context;
}

/* The security context as JSON: null when none was given. */
static json_t *
podsec_json(const struct podsec *sc)
{
	json_t *o;

	if (!sc->set)
		return json_null();
	o = json_object();
	for (size_t i = 0; i < PODSEC_RUN_AS_NON_ROOT; i++) {
		if (sc->id[i] >= 0)
			json_object_set_new(o, podsec_keys[i],
			    json_integer(sc->id[i]));
	}
	if (sc->run_as_non_root >= 0)
		json_object_set_new(o, "run_as_non_root",
		    json_boolean(sc->run_as_non_root));
	return o;
}

/* Read podsec_json()'s output (absent: none given); -1 when malformed. */
static int
podsec_from_json(json_t *v, struct podsec *sc)
{
	json_t *x;

	podsec_init(sc);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -1;
	sc->set = 1;
	for (size_t i = 0; i < PODSEC_RUN_AS_NON_ROOT; i++) {
		if ((x = json_object_get(v, podsec_keys[i])) == NULL)
			continue;
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > PODSEC_ID_MAX)
			return -1;
		sc->id[i] = json_integer_value(x);
	}
	if ((x = json_object_get(v, "run_as_non_root")) != NULL) {
		if (!json_is_boolean(x))
			return -1;
		sc->run_as_non_root = json_is_true(x);
	}
	return 0;
}

/* json_object_set_new with NULL for a NULL string. */
static int
set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, v != NULL ? json_string(v) :
	    json_null());
}

int
attempt_spec_to_json(const struct attempt_spec *s, char **out,
    struct err *err)
{
	json_t *root, *a, *o;
	int bad = 0;

	*out = NULL;
	if ((root = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	bad |= set_str(root, "image", s->image);
	a = json_array();
	for (size_t i = 0; i < s->argc; i++)
		bad |= json_array_append_new(a, json_string(s->argv[i]));
	bad |= json_object_set_new(root, "command", a);
	a = json_array();
	for (size_t i = 0; i < s->nenv; i++)
		bad |= json_array_append_new(a, json_pack("[ss]",
		    s->env[i].name, s->env[i].value));
	bad |= json_object_set_new(root, "env", a);
	bad |= json_object_set_new(root, "timeout_ms",
	    json_integer(s->timeout_ms));
	o = json_object();
	bad |= set_str(o, "cpu", s->cpu);
	bad |= set_str(o, "memory", s->memory);
	bad |= json_object_set_new(o, "gpu", json_integer(s->gpus));
	bad |= set_str(o, "gpu_resource", s->gpu_resource);
	bad |= json_object_set_new(root, "resources", o);
	a = json_array();
	for (size_t i = 0; i < s->nnode_selector; i++)
		bad |= json_array_append_new(a, json_pack("[ss]",
		    s->node_selector[i].key, s->node_selector[i].value));
	bad |= json_object_set_new(root, "node_selector", a);
	a = json_array();
	for (size_t i = 0; i < s->ntolerations; i++) {
		const struct exec_toleration *t = &s->tolerations[i];

		o = json_object();
		bad |= set_str(o, "key", t->key);
		bad |= set_str(o, "operator", t->op);
		bad |= set_str(o, "value", t->value);
		bad |= set_str(o, "effect", t->effect);
		bad |= json_object_set_new(o, "seconds",
		    json_integer(t->seconds));
		bad |= json_array_append_new(a, o);
	}
	bad |= json_object_set_new(root, "tolerations", a);
	bad |= set_str(root, "queue", s->queue);
	bad |= set_str(root, "priority_class", s->priority_class);
	a = json_array();
	for (size_t i = 0; i < s->nvolumes; i++)
		bad |= json_array_append_new(a, json_pack("{sssssb}",
		    "claim", s->volumes[i].claim, "mount",
		    s->volumes[i].mount, "read_only", s->volumes[i].read_only));
	bad |= json_object_set_new(root, "volumes", a);
	bad |= set_str(root, "workdir", s->workdir);
	bad |= json_object_set_new(root, "checkout",
	    json_boolean(s->checkout));
	bad |= set_str(root, "service_account", s->service_account);
	bad |= json_object_set_new(root, "security_context",
	    podsec_json(&s->security_context));
	if (s->nodes > 1)
		bad |= json_object_set_new(root, "nodes",
		    json_integer(s->nodes));
	if (!bad)
		*out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (*out == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (strlen(*out) > LIM_EXEC_SPEC) {
		free(*out);
		*out = NULL;
		return err_set(err, ERR_TOOBIG, "attempt spec larger than %d "
		    "bytes", LIM_EXEC_SPEC);
	}
	return 0;
}

/* A string member, or NULL when absent or null; -1 for another type. */
static int
get_str(json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
pair(json_t *v, const char **a, const char **b)
{
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_string(json_array_get(v, 0)) ||
	    !json_is_string(json_array_get(v, 1)))
		return -1;
	*a = json_string_value(json_array_get(v, 0));
	*b = json_string_value(json_array_get(v, 1));
	return 0;
}

int
attempt_spec_from_json(struct attempt_spec *s, const char *json,
    struct err *err)
{
	json_error_t je;
	json_t *root, *a, *v, *res;
	const char *x, *y, *z, *w;
	size_t i;
	int bad = 0;

	attempt_spec_init(s);
	if ((root = json_loads(json, 0, &je)) == NULL || !json_is_object(root))
		goto invalid;
	if (get_str(root, "image", &x) < 0)
		goto invalid;
	s->image = sys_strdup_or_null(x);
	if (!json_is_array(a = json_object_get(root, "command")))
		goto invalid;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			goto invalid;
		attempt_spec_arg(s, json_string_value(v));
	}
	if (!json_is_array(a = json_object_get(root, "env")))
		goto invalid;
	json_array_foreach(a, i, v) {
		if (pair(v, &x, &y) < 0)
			goto invalid;
		attempt_spec_env(s, x, y);
	}
	if (!json_is_integer(v = json_object_get(root, "timeout_ms")))
		goto invalid;
	s->timeout_ms = json_integer_value(v);
	if (!json_is_object(res = json_object_get(root, "resources")))
		goto invalid;
	bad |= get_str(res, "cpu", &x);
	s->cpu = sys_strdup_or_null(x);
	bad |= get_str(res, "memory", &x);
	s->memory = sys_strdup_or_null(x);
	bad |= get_str(res, "gpu_resource", &x);
	s->gpu_resource = sys_strdup_or_null(x);
	if (bad || !json_is_integer(v = json_object_get(res, "gpu")))
		goto invalid;
	s->gpus = (int)json_integer_value(v);
	if (!json_is_array(a = json_object_get(root, "node_selector")))
		goto invalid;
	json_array_foreach(a, i, v) {
		if (pair(v, &x, &y) < 0)
			goto invalid;
		add_kv(s, x, y);
	}
	if (!json_is_array(a = json_object_get(root, "tolerations")))
		goto invalid;
	json_array_foreach(a, i, v) {
		json_t *sec = json_object_get(v, "seconds");

		if (!json_is_object(v) || get_str(v, "key", &x) < 0 ||
		    get_str(v, "operator", &y) < 0 || y == NULL ||
		    get_str(v, "value", &z) < 0 ||
		    get_str(v, "effect", &w) < 0 || !json_is_integer(sec))
			goto invalid;
		add_toleration(s, x, y, z, w, json_integer_value(sec));
	}
	if (get_str(root, "queue", &x) < 0)
		goto invalid;
	s->queue = sys_strdup_or_null(x);
	if (get_str(root, "priority_class", &x) < 0)
		goto invalid;
	s->priority_class = sys_strdup_or_null(x);
	if (!json_is_array(a = json_object_get(root, "volumes")))
		goto invalid;
	json_array_foreach(a, i, v) {
		json_t *ro = json_object_get(v, "read_only");

		if (!json_is_object(v) || get_str(v, "claim", &x) < 0 ||
		    get_str(v, "mount", &y) < 0 || x == NULL || y == NULL ||
		    !json_is_boolean(ro))
			goto invalid;
		add_volume(s, x, y, json_is_true(ro));
	}
	if (get_str(root, "workdir", &x) < 0)
		goto invalid;
	s->workdir = sys_strdup_or_null(x);
	s->checkout = json_is_true(json_object_get(root, "checkout"));
	/* both absent in the specs of older controllers: none given */
	if (get_str(root, "service_account", &x) < 0)
		goto invalid;
	s->service_account = sys_strdup_or_null(x);
	if (podsec_from_json(json_object_get(root, "security_context"),
	    &s->security_context) < 0)
		goto invalid;
	/* absent in specs written before multi-node stages: one node */
	v = json_object_get(root, "nodes");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > LIM_STAGE_NODES))
		goto invalid;
	s->nodes = v != NULL ? (int)json_integer_value(v) : 1;
	json_decref(root);
	return 0;
invalid:
	json_decref(root);
	attempt_spec_release(s);
	return err_set(err, ERR_INVALID, "malformed attempt spec");
}

void
attempt_spec_to_exec(const struct attempt_spec *s, struct exec_attempt *a)
{
	a->image = s->image;
	a->argv = (const char *const *)s->argv;
	a->argc = s->argc;
	a->env = s->env;
	a->nenv = s->nenv;
	a->timeout_ms = s->timeout_ms;
	a->cpu = s->cpu;
	a->memory = s->memory;
	a->gpus = s->gpus;
	a->gpu_resource = s->gpu_resource;
	a->node_selector = s->node_selector;
	a->nnode_selector = s->nnode_selector;
	a->tolerations = s->tolerations;
	a->ntolerations = s->ntolerations;
	a->queue = s->queue;
	a->priority_class = s->priority_class;
	a->volumes = s->volumes;
	a->nvolumes = s->nvolumes;
	a->workdir = s->workdir;
	a->checkout = s->checkout;
	a->service_account = s->service_account;
	a->security_context = s->security_context.set ? &s->security_context :
	    NULL;
	a->nodes = s->nodes > 1 ? s->nodes : 1;
}
