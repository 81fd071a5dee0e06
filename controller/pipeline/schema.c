/*
 * schema.c - the schema walkers: every field of a pipeline file checked
 * against docs/pipeline-reference.md, with the node's path in each error,
 * filling struct pipeline.
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
#include "pipeline/cron.h"
#include "pipeline/k8s_names.h"
#include "pipeline/pipeline_int.h"
#include "pipeline/schema_int.h"

/*
 * Pass 3: the schema.  Walkers report errors and go on; "reported" results
 * are -1 (the error is already recorded), never an err code.
 */

static void
walk_resources(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_resources *r)
{
	enum { R_GPU, R_GPU_RESOURCE, R_CPU, R_MEMORY, R_N };
	struct field f[R_N] = {
		{ "gpu", NULL, NULL }, { "gpu_resource", NULL, NULL },
		{ "cpu", NULL, NULL }, { "memory", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;

	if (sch_get_fields(c, n, path, f, R_N) < 0)
		return;
	if (f[R_GPU].val != NULL) {
		PKEY(p, path, "gpu");
		if (sch_get_int(c, f[R_GPU].val, &p, 0, 1000, &v) == 0)
			r->gpu = (int)v;
	}
	if (f[R_GPU_RESOURCE].val != NULL) {
		PKEY(p, path, "gpu_resource");
		if (sch_get_str(c, f[R_GPU_RESOURCE].val, &p, &s) == 0) {
			if ((why = sch_check_gpu_resource(s)) != NULL)
				verr(c, f[R_GPU_RESOURCE].val, &p, "invalid "
				    "resource name %s: %s", QS(c, s), why);
			else
				r->gpu_resource = s;
		}
	}
	for (int i = R_CPU; i <= R_MEMORY; i++) {
		PKEY(p, path, f[i].name);
		if (f[i].val == NULL || sch_get_str(c, f[i].val, &p, &s) < 0)
			continue;
		if ((why = sch_check_quantity(s)) != NULL) {
			verr(c, f[i].val, &p, "invalid quantity %s: %s", QS(c, s),
			    why);
			continue;
		}
		if (i == R_CPU)
			r->cpu = s;
		else
			r->memory = s;
	}
}

static void
walk_toleration(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct pipeline_toleration *t)
{
	static const char *const ops[] = { "Equal", "Exists" };
	static const char *const effects[] = { "NoSchedule",
	    "PreferNoSchedule", "NoExecute" };
	enum { T_KEY, T_OP, T_VALUE, T_EFFECT, T_SECONDS, T_N };
	struct field f[T_N] = {
		{ "key", NULL, NULL }, { "operator", NULL, NULL },
		{ "value", NULL, NULL }, { "effect", NULL, NULL },
		{ "toleration_seconds", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;
	int e;

	t->pos = pos_of(n);
	t->key = t->value = t->effect = (char *)"";
	if (sch_get_fields(c, n, path, f, T_N) < 0)
		return;
	if (f[T_KEY].val != NULL) {
		PKEY(p, path, "key");
		if (sch_get_str(c, f[T_KEY].val, &p, &s) == 0) {
			if (*s != '\0' &&
			    (why = k8s_check_qualified_name(s)) != NULL)
				verr(c, f[T_KEY].val, &p, "invalid key %s: %s",
				    QS(c, s), why);
			t->key = s;
		}
	}
	if (f[T_OP].val != NULL) {
		PKEY(p, path, "operator");
		if (sch_get_enum(c, f[T_OP].val, &p, "operator", ops, NELEM(ops),
		    &e) == 0)
			t->op = (enum pipeline_toleration_op)e;
	}
	if (f[T_VALUE].val != NULL) {
		PKEY(p, path, "value");
		if (sch_get_str(c, f[T_VALUE].val, &p, &s) == 0) {
			if ((why = k8s_check_label_value(s)) != NULL)
				verr(c, f[T_VALUE].val, &p, "invalid value %s: "
				    "%s", QS(c, s), why);
			else if (*s != '\0' &&
			    t->op == PIPELINE_TOLERATION_EXISTS)
				verr(c, f[T_VALUE].val, &p, "must be empty when "
				    "operator is Exists");
			t->value = s;
		}
	}
	if (f[T_EFFECT].val != NULL) {
		PKEY(p, path, "effect");
		const struct ynode *d = D(f[T_EFFECT].val);

		if (d->kind == Y_SCALAR && !d->plain && d->len == 0)
			t->effect = (char *)"";
		else if (sch_get_enum(c, f[T_EFFECT].val, &p, "effect", effects,
		    NELEM(effects), &e) == 0)
			t->effect = (char *)effects[e];
	}
	if (f[T_SECONDS].val != NULL) {
		PKEY(p, path, "toleration_seconds");
		if (sch_get_int(c, f[T_SECONDS].val, &p, 0, INT64_MAX / 1000,
		    &v) == 0) {
			t->has_seconds = 1;
			t->seconds = v;
			if (strcmp(t->effect, "NoExecute") != 0)
				verr(c, f[T_SECONDS].key, path,
				    "toleration_seconds needs effect NoExecute");
		}
	}
	if (*t->key == '\0' && t->op == PIPELINE_TOLERATION_EQUAL)
		verr(c, n, path, "key is required when operator is Equal");
}

static void
walk_volume(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_volume *v)
{
	enum { V_CLAIM, V_MOUNT, V_READ_ONLY, V_N };
	struct field f[V_N] = {
		{ "claim", NULL, NULL }, { "mount", NULL, NULL },
		{ "read_only", NULL, NULL },
	};
	const char *why;
	char *s;

	v->pos = pos_of(n);
	if (sch_get_fields(c, n, path, f, V_N) < 0)
		return;
	if (f[V_CLAIM].val == NULL) {
		sch_missing(c, n, path, "claim");
	} else {
		PKEY(p, path, "claim");
		if (sch_get_str(c, f[V_CLAIM].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
				verr(c, f[V_CLAIM].val, &p, "invalid claim name "
				    "%s: %s", QS(c, s), why);
			v->claim = s;
		}
	}
	if (f[V_MOUNT].val == NULL) {
		sch_missing(c, n, path, "mount");
	} else {
		PKEY(p, path, "mount");
		if (sch_get_str(c, f[V_MOUNT].val, &p, &s) == 0) {
			if ((why = sch_check_mount(s)) != NULL) {
				verr(c, f[V_MOUNT].val, &p, "invalid mount path "
				    "%s: %s", QS(c, s), why);
			} else if (c->p->checkout &&
			    (strcmp(s, "/workspace") == 0 ||
			    strncmp(s, "/workspace/", 11) == 0)) {
				verr(c, f[V_MOUNT].val, &p, "mount path %s "
				    "conflicts with checkout, which uses "
				    "/workspace", QS(c, s));
			} else {
				/* /data/ and /data are the same */
				size_t l = strlen(s);

				while (l > 1 && s[l - 1] == '/')
					s[--l] = '\0';
				v->mount = s;
			}
		}
	}
	if (f[V_READ_ONLY].val != NULL) {
		PKEY(p, path, "read_only");
		(void)sch_get_bool(c, f[V_READ_ONLY].val, &p, &v->read_only);
	}
}

static void
walk_volumes(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_stage *st)
{
	const struct ynode *d = D(n);
	struct nameref *m;
	size_t nm = 0;

	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return;
	}
	st->volumes = arena_array(c->pa, d->n, sizeof(*st->volumes));
	st->nvolumes = d->n;
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_volume(c, d->kids[i], &ip, &st->volumes[i]);
	}
	/* one mount path once */
	m = xcalloc(d->n, sizeof(*m));
	for (size_t i = 0; i < d->n; i++) {
		if (st->volumes[i].mount != NULL) {
			m[nm].name = st->volumes[i].mount;
			m[nm].i = i;
			nm++;
		}
	}
	qsort(m, nm, sizeof(*m), nameref_cmp);
	for (size_t i = 1; i < nm; i++) {
		size_t j = i;

		if (strcmp(m[i].name, m[i - 1].name) != 0)
			continue;
		while (j > 0 && strcmp(m[j - 1].name, m[i].name) == 0)
			j--;
		PIDX(ip, path, m[i].i);
		PKEY(mp, &ip, "mount");
		const struct ynode *vn = D(d->kids[m[i].i]);

		for (size_t k = 0; k + 1 < vn->n; k += 2) {
			const struct ynode *kd = D(vn->kids[k]);

			if (!vn->kids[k]->skip && strcmp(kd->s, "mount") == 0) {
				verr(c, vn->kids[k + 1], &mp, "mount path %s is "
				    "already used by volumes[%zu]",
				    QS(c, m[i].name), m[j].i);
				break;
			}
		}
	}
	free(m);
}

/*
 * security_context: the keys of base/podsec.h, each checked; unknown keys
 * are errors like every other field's.
 */
static void
walk_security_context(struct vctx *c, const struct ynode *n,
    const struct vpath *path, struct podsec *out)
{
	struct field f[PODSEC_NKEYS];
	const char *why;
	long long v;
	int b;

	podsec_init(out);
	for (size_t i = 0; i < PODSEC_NKEYS; i++) {
		f[i].name = podsec_keys[i];
		f[i].key = f[i].val = NULL;
	}
	if (sch_get_fields(c, n, path, f, PODSEC_NKEYS) < 0)
		return;
	out->set = 1;
	for (size_t i = 0; i < PODSEC_RUN_AS_NON_ROOT; i++) {
		if (f[i].val == NULL)
			continue;
		PKEY(p, path, podsec_keys[i]);
		if (sch_get_int(c, f[i].val, &p, 0, PODSEC_ID_MAX, &v) == 0)
			out->id[i] = v;
	}
	if (f[PODSEC_RUN_AS_NON_ROOT].val != NULL) {
		PKEY(p, path, "run_as_non_root");
		if (sch_get_bool(c, f[PODSEC_RUN_AS_NON_ROOT].val, &p, &b) == 0)
			out->run_as_non_root = b;
	}
	if ((why = podsec_contradiction(out)) != NULL)
		verr(c, n, path, "%s", why);
}

/* service_account: a ServiceAccount name (a DNS-1123 subdomain). */
static void
walk_service_account(struct vctx *c, const struct ynode *n,
    const struct vpath *path, char **out)
{
	const char *why;
	char *s;

	if (sch_get_str(c, n, path, &s) < 0)
		return;
	if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
		verr(c, n, path, "invalid service account name %s: %s",
		    QS(c, s), why);
	*out = s;
}

static int
kv_cmp(const void *a, const void *b)
{
	const struct pipeline_kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/*
 * env = spec.defaults.env merged with the stage's (which wins), sorted by
 * name.  Both inputs have unique keys.
 */
static void
merge_env(struct vctx *c, const struct ynode *at, struct pipeline_map *env)
{
	const struct pipeline_map *def = &c->default_env;
	struct pipeline_kv *v, *s;
	size_t n = 0, i = 0, j = 0;

	if (env->n > 1)
		qsort(env->v, env->n, sizeof(*env->v), kv_cmp);
	/* what inheriting costs is counted before it is paid */
	if (def->n == 0 || sch_add_bytes(c, c->default_env_cost, at) < 0)
		return;
	v = arena_array(c->pa, def->n + env->n, sizeof(*v));
	s = env->v;
	while (i < def->n || j < env->n) {
		int r = i == def->n ? 1 : j == env->n ? -1 :
		    strcmp(def->v[i].key, s[j].key);

		if (r < 0) {
			v[n++] = def->v[i++];
		} else if (r > 0) {
			v[n++] = s[j++];
		} else {
			v[n++] = s[j++];
			i++;
		}
	}
	env->v = v;
	env->n = n;
}

/*
 * nodes: how many pods (Kubernetes) or processes (local) run the stage
 * together, 1..LIM_STAGE_NODES; only job stages (a canary step moves
 * traffic, it does not train).
 */
static void
walk_nodes(struct vctx *c, const struct ynode *key, const struct ynode *val,
    const struct vpath *path, struct pipeline_stage *st)
{
	long long v;

	PKEY(p, path, "nodes");
	if (st->type == PIPELINE_STAGE_CANARY) {
		verr(c, key, path, "nodes is only allowed in stages of type "
		    "job (a canary stage runs on one node)");
		return;
	}
	if (sch_get_int(c, val, &p, 1, LIM_STAGE_NODES, &v) == 0) {
		st->nodes = (int)v;
		st->nodes_pos = pos_of(val);
	}
}

static void
walk_stage(struct vctx *c, const struct ynode *n, const struct vpath *path,
    size_t idx, struct pipeline_stage *st)
{
	static const char *const types[] = { "job", "canary" };
	enum { S_NAME, S_TYPE, S_NEEDS, S_IMAGE, S_COMMAND, S_ENV,
	    S_RESOURCES, S_NODE_SELECTOR, S_TOLERATIONS, S_QUEUE,
	    S_PRIORITY_CLASS, S_VOLUMES, S_TIMEOUT, S_RETRIES, S_GATES,
	    S_CANARY, S_SERVICE_ACCOUNT, S_SECURITY_CONTEXT, S_NODES, S_N };
	struct field f[S_N] = {
		{ "name", NULL, NULL }, { "type", NULL, NULL },
		{ "needs", NULL, NULL }, { "image", NULL, NULL },
		{ "command", NULL, NULL }, { "env", NULL, NULL },
		{ "resources", NULL, NULL }, { "node_selector", NULL, NULL },
		{ "tolerations", NULL, NULL }, { "queue", NULL, NULL },
		{ "priority_class", NULL, NULL }, { "volumes", NULL, NULL },
		{ "timeout", NULL, NULL }, { "retries", NULL, NULL },
		{ "gates", NULL, NULL }, { "canary", NULL, NULL },
		{ "service_account", NULL, NULL },
		{ "security_context", NULL, NULL },
		{ "nodes", NULL, NULL },
	};
	const char *why;
	long long v;
	char *s;
	int e;

	st->pos = pos_of(n);
	podsec_init(&st->security_context);
	st->nodes = 1;
	st->resources.gpu_resource = (char *)PIPELINE_GPU_RESOURCE;
	c->stage_node[idx] = n;
	if (sch_get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_NAME].val == NULL) {
		sch_missing(c, n, path, "name");
	} else {
		PKEY(p, path, "name");
		if (sch_get_str(c, f[S_NAME].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_label(s)) != NULL)
				verr(c, f[S_NAME].val, &p, "invalid stage name "
				    "%s: %s", QS(c, s), why);
			st->name = s;
			c->name_node[idx] = f[S_NAME].val;
		}
	}
	if (f[S_TYPE].val != NULL) {
		PKEY(p, path, "type");
		if (sch_get_enum(c, f[S_TYPE].val, &p, "stage type", types,
		    NELEM(types), &e) == 0)
			st->type = (enum pipeline_stage_type)e;
	}
	if (f[S_NEEDS].val != NULL) {
		PKEY(p, path, "needs");
		(void)sch_get_str_list(c, f[S_NEEDS].val, &p, NULL, &st->needs);
	}
	if (f[S_IMAGE].val != NULL) {
		PKEY(p, path, "image");
		if (sch_get_str(c, f[S_IMAGE].val, &p, &s) == 0) {
			if (strstr(s, "${") != NULL)
				sch_record_tmpl(c, (long)idx, f[S_IMAGE].val, &p, s,
				    1);
			else if ((why = k8s_check_image_ref(s)) != NULL)
				verr(c, f[S_IMAGE].val, &p, "invalid image "
				    "reference %s: %s", QS(c, s), why);
			st->image = s;
		}
	} else if (c->default_image != NULL) {
		(void)sch_add_bytes(c, strlen(c->default_image), n);
		st->image = (char *)c->default_image;
	}
	if (f[S_COMMAND].val == NULL) {
		sch_missing(c, n, path, "command");
	} else {
		PKEY(p, path, "command");
		struct item_rule rule = { "argument", NULL, (long)idx };

		if (sch_get_str_list(c, f[S_COMMAND].val, &p, &rule,
		    &st->command) == 0 && D(f[S_COMMAND].val)->n == 0)
			verr(c, f[S_COMMAND].val, &p, "must not be empty");
	}
	if (f[S_ENV].val != NULL) {
		PKEY(p, path, "env");
		struct map_rule rule = { "variable name", sch_check_env_key, NULL,
		    (long)idx };

		(void)sch_get_str_map(c, f[S_ENV].val, &p, &rule, &st->env);
	}
	merge_env(c, n, &st->env);
	if (f[S_RESOURCES].val != NULL) {
		PKEY(p, path, "resources");
		walk_resources(c, f[S_RESOURCES].val, &p, &st->resources);
	}
	if (f[S_NODE_SELECTOR].val != NULL) {
		PKEY(p, path, "node_selector");
		struct map_rule rule = { "label key", k8s_check_qualified_name,
		    k8s_check_label_value, NO_TMPL };

		(void)sch_get_str_map(c, f[S_NODE_SELECTOR].val, &p, &rule,
		    &st->node_selector);
	}
	if (f[S_TOLERATIONS].val != NULL) {
		PKEY(p, path, "tolerations");
		const struct ynode *d = D(f[S_TOLERATIONS].val);

		if (d->kind != Y_SEQ) {
			sch_type_err(c, f[S_TOLERATIONS].val, &p, "a sequence");
		} else {
			st->tolerations = arena_array(c->pa, d->n,
			    sizeof(*st->tolerations));
			st->ntolerations = d->n;
			for (size_t i = 0; i < d->n; i++) {
				PIDX(ip, &p, i);
				walk_toleration(c, d->kids[i], &ip,
				    &st->tolerations[i]);
			}
		}
	}
	if (f[S_QUEUE].val != NULL) {
		PKEY(p, path, "queue");
		if (sch_get_str(c, f[S_QUEUE].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_label(s)) != NULL)
				verr(c, f[S_QUEUE].val, &p, "invalid queue name "
				    "%s: %s", QS(c, s), why);
			st->queue = s;
		}
	}
	if (f[S_PRIORITY_CLASS].val != NULL) {
		PKEY(p, path, "priority_class");
		if (sch_get_str(c, f[S_PRIORITY_CLASS].val, &p, &s) == 0) {
			if ((why = k8s_check_dns1123_subdomain(s)) != NULL)
				verr(c, f[S_PRIORITY_CLASS].val, &p, "invalid "
				    "priority class name %s: %s", QS(c, s), why);
			st->priority_class = s;
		}
	}
	if (f[S_VOLUMES].val != NULL) {
		PKEY(p, path, "volumes");
		walk_volumes(c, f[S_VOLUMES].val, &p, st);
	}
	if (f[S_TIMEOUT].val != NULL) {
		PKEY(p, path, "timeout");
		(void)sch_get_duration(c, f[S_TIMEOUT].val, &p, 1000,
		    &st->timeout_ms);
	}
	if (f[S_RETRIES].val != NULL) {
		PKEY(p, path, "retries");
		if (sch_get_int(c, f[S_RETRIES].val, &p, 0, 100, &v) == 0)
			st->retries = (int)v;
	}
	if (f[S_GATES].val != NULL) {
		PKEY(p, path, "gates");
		sch_walk_gates(c, f[S_GATES].val, &p, &st->gates, &st->ngates);
	}
	if (f[S_CANARY].val != NULL) {
		PKEY(p, path, "canary");
		if (st->type != PIPELINE_STAGE_CANARY)
			verr(c, f[S_CANARY].key, path, "canary is only allowed "
			    "in stages of type canary (add \"type: canary\")");
		else
			sch_walk_canary(c, f[S_CANARY].val, &p, idx, st);
	} else if (st->type == PIPELINE_STAGE_CANARY) {
		sch_missing(c, n, path, "canary");
	}
	if (f[S_SERVICE_ACCOUNT].val != NULL) {
		PKEY(p, path, "service_account");
		walk_service_account(c, f[S_SERVICE_ACCOUNT].val, &p,
		    &st->service_account);
	} else if (c->default_service_account != NULL) {
		(void)sch_add_bytes(c, strlen(c->default_service_account), n);
		st->service_account = (char *)c->default_service_account;
	}
	/* a stage's security_context replaces the defaults' as a whole */
	if (f[S_SECURITY_CONTEXT].val != NULL) {
		PKEY(p, path, "security_context");
		walk_security_context(c, f[S_SECURITY_CONTEXT].val, &p,
		    &st->security_context);
	} else {
		st->security_context = c->default_security_context;
	}
	if (f[S_NODES].val != NULL)
		walk_nodes(c, f[S_NODES].key, f[S_NODES].val, path, st);
	if (st->image == NULL)
		verr(c, n, path, "missing required field \"image\" (set it here "
		    "or in spec.defaults)");
}

static void
walk_stages(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	const struct ynode *d = D(n);
	struct pipeline *p = c->p;
	size_t count;

	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return;
	}
	if (d->n == 0) {
		verr(c, n, path, "must have at least one stage");
		return;
	}
	count = d->n;
	if (count > LIM_STAGES) {
		PIDX(ip, path, (size_t)LIM_STAGES);
		verr(c, d->kids[LIM_STAGES], &ip, "too many stages (%zu; the "
		    "limit is %d)", d->n, LIM_STAGES);
		count = LIM_STAGES;
	}
	p->stages = arena_array(c->pa, count, sizeof(*p->stages));
	p->nstages = count;
	c->stage_node = arena_array(&c->t->a, count, sizeof(*c->stage_node));
	c->name_node = arena_array(&c->t->a, count, sizeof(*c->name_node));
	c->target_node = arena_array(&c->t->a, count,
	    sizeof(*c->target_node));
	for (size_t i = 0; i < count; i++) {
		PIDX(ip, path, i);
		walk_stage(c, d->kids[i], &ip, i, &p->stages[i]);
	}
}

static void
walk_defaults(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	enum { D_IMAGE, D_ENV, D_SERVICE_ACCOUNT, D_SECURITY_CONTEXT, D_N };
	struct field f[D_N] = {
		{ "image", NULL, NULL }, { "env", NULL, NULL },
		{ "service_account", NULL, NULL },
		{ "security_context", NULL, NULL },
	};
	const char *why;
	char *s;

	if (sch_get_fields(c, n, path, f, D_N) < 0)
		return;
	if (f[D_IMAGE].val != NULL) {
		PKEY(p, path, "image");
		if (sch_get_str(c, f[D_IMAGE].val, &p, &s) == 0) {
			if (strstr(s, "${") != NULL)
				sch_record_tmpl(c, -1, f[D_IMAGE].val, &p, s, 1);
			else if ((why = k8s_check_image_ref(s)) != NULL)
				verr(c, f[D_IMAGE].val, &p, "invalid image "
				    "reference %s: %s", QS(c, s), why);
			c->default_image = s;
		}
	}
	if (f[D_ENV].val != NULL) {
		PKEY(p, path, "env");
		struct map_rule rule = { "variable name", sch_check_env_key, NULL,
		    -1 };

		if (sch_get_str_map(c, f[D_ENV].val, &p, &rule,
		    &c->default_env) == 0 && c->default_env.n > 1)
			qsort(c->default_env.v, c->default_env.n,
			    sizeof(*c->default_env.v), kv_cmp);
		for (size_t i = 0; i < c->default_env.n; i++)
			c->default_env_cost += strlen(c->default_env.v[i].key) +
			    strlen(c->default_env.v[i].value) +
			    sizeof(struct pipeline_kv);
	}
	if (f[D_SERVICE_ACCOUNT].val != NULL) {
		PKEY(p, path, "service_account");
		char *sa = NULL;

		walk_service_account(c, f[D_SERVICE_ACCOUNT].val, &p, &sa);
		c->default_service_account = sa;
	}
	if (f[D_SECURITY_CONTEXT].val != NULL) {
		PKEY(p, path, "security_context");
		walk_security_context(c, f[D_SECURITY_CONTEXT].val, &p,
		    &c->default_security_context);
	}
}

/* A branch name as git allows it, roughly: what a schedule runs on. */
static const char *
check_branch(const char *s)
{
	if (*s == '\0')
		return "must not be empty";
	if (*s == '-' || *s == '/' || s[strlen(s) - 1] == '/')
		return "must not start with \"-\" or \"/\" nor end with \"/\"";
	if (strstr(s, "..") != NULL || strstr(s, "//") != NULL ||
	    strstr(s, "@{") != NULL)
		return "must not contain \"..\", \"//\" or \"@{\"";
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || strchr("~^:?*[\\\x7f", *p) !=
		    NULL)
			return "must not contain spaces, control characters or "
			    "any of ~^:?*[\\";
	return NULL;
}

static void
walk_schedule(struct vctx *c, const struct ynode *n, const struct vpath *path,
    struct pipeline_schedule *sc)
{
	enum { C_CRON, C_TZ, C_BRANCH, C_PARAMS, C_N };
	struct field f[C_N] = {
		{ "cron", NULL, NULL }, { "timezone", NULL, NULL },
		{ "branch", NULL, NULL }, { "params", NULL, NULL },
	};
	const char *why;
	struct err err;
	char *s;

	sc->pos = pos_of(n);
	sc->timezone = (char *)"UTC";
	if (sch_get_fields(c, n, path, f, C_N) < 0)
		return;
	if (f[C_CRON].val == NULL) {
		sch_missing(c, n, path, "cron");
	} else {
		PKEY(p, path, "cron");
		struct cron cr;

		if (sch_get_str(c, f[C_CRON].val, &p, &s) == 0) {
			if (cron_parse(&cr, s, &err) < 0)
				verr(c, f[C_CRON].val, &p, "%s", err.msg);
			sc->cron = s;
		}
	}
	if (f[C_TZ].val != NULL) {
		PKEY(p, path, "timezone");
		struct cron_zone z;

		if (sch_get_str(c, f[C_TZ].val, &p, &s) == 0) {
			if (cron_zone_load(&z, s, &err) < 0)
				verr(c, f[C_TZ].val, &p, "%s", err.msg);
			cron_zone_release(&z);
			sc->timezone = s;
		}
	}
	if (f[C_BRANCH].val != NULL) {
		PKEY(p, path, "branch");
		if (sch_get_str(c, f[C_BRANCH].val, &p, &s) == 0) {
			if ((why = check_branch(s)) != NULL)
				verr(c, f[C_BRANCH].val, &p, "invalid branch "
				    "name %s: %s", QS(c, s), why);
			sc->branch = s;
		}
	}
	if (f[C_PARAMS].val != NULL) {
		PKEY(p, path, "params");
		struct map_rule rule = { "parameter name", sch_check_param_name,
		    NULL, NO_TMPL };

		(void)sch_get_str_map(c, f[C_PARAMS].val, &p, &rule,
		    &sc->params);
	}
}

static void
walk_schedules(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	struct pipeline_triggers *t = &c->p->triggers;
	const struct ynode *d = D(n);

	if (d->kind != Y_SEQ) {
		sch_type_err(c, n, path, "a sequence");
		return;
	}
	if (d->n > LIM_SCHEDULES) {
		verr(c, n, path, "too many entries (%zu, at most %d)", d->n,
		    LIM_SCHEDULES);
		return;
	}
	t->schedules = arena_array(c->pa, d->n, sizeof(*t->schedules));
	t->nschedules = d->n;
	for (size_t i = 0; i < d->n; i++) {
		PIDX(ip, path, i);
		walk_schedule(c, d->kids[i], &ip, &t->schedules[i]);
	}
}

/* A schedule's params must be declared in spec.params, as for API runs. */
static void
check_schedule_params(struct vctx *c)
{
	const struct pipeline *p = c->p;
	char at[128];

	for (size_t i = 0; i < p->triggers.nschedules; i++) {
		const struct pipeline_map *m = &p->triggers.schedules[i].params;

		for (size_t k = 0; k < m->n; k++) {
			size_t j;

			for (j = 0; j < p->params.n; j++)
				if (strcmp(p->params.v[j].key, m->v[k].key) == 0)
					break;
			if (j < p->params.n)
				continue;
			(void)snprintf(at, sizeof(at),
			    "spec.triggers.schedule[%zu].params", i);
			verr_raw(c, m->v[k].pos.line, m->v[k].pos.column, at,
			    "parameter %s is not declared in spec.params",
			    QS(c, m->v[k].key));
		}
	}
}

static void
walk_triggers(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	static const char *const catch_ups[] = { "none", "last" };
	enum { T_PUSH, T_WEBHOOK, T_SCHEDULE, T_CATCH_UP, T_N };
	enum { P_BRANCHES, P_PATHS, P_N };
	struct field f[T_N] = {
		{ "push", NULL, NULL }, { "webhook", NULL, NULL },
		{ "schedule", NULL, NULL }, { "catch_up", NULL, NULL },
	};
	int e;
	struct field pf[P_N] = {
		{ "branches", NULL, NULL }, { "paths", NULL, NULL },
	};
	struct pipeline_triggers *t = &c->p->triggers;

	t->push = 0;
	if (sch_get_fields(c, n, path, f, T_N) < 0)
		return;
	if (f[T_PUSH].val != NULL) {
		PKEY(p, path, "push");
		t->push = 1;
		/* "push:" alone turns it on without filters */
		if (!is_null(D(f[T_PUSH].val)) &&
		    sch_get_fields(c, f[T_PUSH].val, &p, pf, P_N) == 0) {
			if (pf[P_BRANCHES].val != NULL) {
				PKEY(bp, &p, "branches");
				struct item_rule rule = { "branch pattern",
				    sch_check_glob, NO_TMPL };

				(void)sch_get_str_list(c, pf[P_BRANCHES].val, &bp,
				    &rule, &t->branches);
			}
			if (pf[P_PATHS].val != NULL) {
				PKEY(pp, &p, "paths");
				struct item_rule rule = { "path pattern",
				    sch_check_glob, NO_TMPL };

				(void)sch_get_str_list(c, pf[P_PATHS].val, &pp, &rule,
				    &t->paths);
			}
		}
	}
	if (f[T_WEBHOOK].val != NULL) {
		PKEY(p, path, "webhook");
		(void)sch_get_bool(c, f[T_WEBHOOK].val, &p, &t->webhook);
	}
	if (f[T_SCHEDULE].val != NULL) {
		PKEY(p, path, "schedule");
		walk_schedules(c, f[T_SCHEDULE].val, &p);
	}
	if (f[T_CATCH_UP].val != NULL) {
		PKEY(p, path, "catch_up");
		if (sch_get_enum(c, f[T_CATCH_UP].val, &p, "catch_up", catch_ups,
		    NELEM(catch_ups), &e) == 0)
			t->catch_up_last = e == 1;
	}
}

/*
 * spec.retention: {keep_runs: N, max_age: DURATION}, each optional; 0 for
 * no limit.  max_age is at least an hour: a shorter one would delete a
 * run's history while people still look at it.
 */
static void
walk_retention(struct vctx *c, const struct ynode *n,
    const struct vpath *path)
{
	enum { R_KEEP, R_AGE, R_N };
	struct field f[R_N] = {
		{ "keep_runs", NULL, NULL }, { "max_age", NULL, NULL },
	};
	struct pipeline_retention *r = &c->p->retention;
	long long v;
	int64_t ms;
	char *s;

	if (sch_get_fields(c, n, path, f, R_N) < 0)
		return;
	if (f[R_KEEP].val != NULL) {
		PKEY(kp, path, "keep_runs");
		if (sch_get_int(c, f[R_KEEP].val, &kp, 0, 100000000, &v) == 0)
			r->keep_runs = v;
	}
	if (f[R_AGE].val != NULL) {
		PKEY(ap, path, "max_age");
		if (sch_get_str(c, f[R_AGE].val, &ap, &s) < 0)
			return;
		if (units_parse_age(s, &ms) < 0)
			verr(c, f[R_AGE].val, &ap, "invalid age \"%.64s\" "
			    "(expected e.g. \"90d\", \"12h\" or \"0s\")", s);
		else if (ms > 0 && ms < 3600000)
			verr(c, f[R_AGE].val, &ap, "must be 0s (no limit) or at "
			    "least 1h (got \"%.64s\")", s);
		else
			r->max_age_ms = ms;
	}
}

static void
walk_spec(struct vctx *c, const struct ynode *n, const struct vpath *path)
{
	enum { S_TRIGGERS, S_PARAMS, S_DEFAULTS, S_CONCURRENCY, S_CHECKOUT,
	    S_STAGES, S_RETENTION, S_N };
	struct field f[S_N] = {
		{ "triggers", NULL, NULL }, { "params", NULL, NULL },
		{ "defaults", NULL, NULL }, { "concurrency", NULL, NULL },
		{ "checkout", NULL, NULL }, { "stages", NULL, NULL },
		{ "retention", NULL, NULL },
	};
	struct pipeline *p = c->p;
	long long v;

	if (sch_get_fields(c, n, path, f, S_N) < 0)
		return;
	if (f[S_TRIGGERS].val != NULL) {
		PKEY(tp, path, "triggers");
		walk_triggers(c, f[S_TRIGGERS].val, &tp);
	}
	if (f[S_PARAMS].val != NULL) {
		PKEY(pp, path, "params");
		struct map_rule rule = { "parameter name", sch_check_param_name,
		    NULL, NO_TMPL };

		(void)sch_get_str_map(c, f[S_PARAMS].val, &pp, &rule, &p->params);
	}
	check_schedule_params(c);
	if (f[S_DEFAULTS].val != NULL) {
		PKEY(dp, path, "defaults");
		walk_defaults(c, f[S_DEFAULTS].val, &dp);
	}
	if (f[S_CONCURRENCY].val != NULL) {
		PKEY(cp, path, "concurrency");
		if (sch_get_int(c, f[S_CONCURRENCY].val, &cp, 0, 1000, &v) == 0)
			p->concurrency = (int)v;
	}
	if (f[S_CHECKOUT].val != NULL) {
		PKEY(cp, path, "checkout");
		(void)sch_get_bool(c, f[S_CHECKOUT].val, &cp, &p->checkout);
	}
	if (f[S_RETENTION].val != NULL) {
		PKEY(rp, path, "retention");
		walk_retention(c, f[S_RETENTION].val, &rp);
	}
	if (f[S_STAGES].val == NULL) {
		sch_missing(c, n, path, "stages");
	} else {
		PKEY(sp, path, "stages");
		walk_stages(c, f[S_STAGES].val, &sp);
	}
}

void
walk_root(struct vctx *c, const struct ynode *root)
{
	enum { R_API, R_KIND, R_META, R_SPEC, R_N };
	struct field f[R_N] = {
		{ "apiVersion", NULL, NULL }, { "kind", NULL, NULL },
		{ "metadata", NULL, NULL }, { "spec", NULL, NULL },
	};
	enum { M_NAME, M_N };
	struct field mf[M_N] = { { "name", NULL, NULL } };
	struct pipeline *p = c->p;
	const char *why;
	char *s;

	if (sch_get_fields(c, root, NULL, f, R_N) < 0)
		return;
	if (f[R_API].val == NULL) {
		sch_missing(c, root, NULL, "apiVersion");
	} else {
		PKEY(ap, NULL, "apiVersion");
		if (sch_get_str(c, f[R_API].val, &ap, &s) == 0 &&
		    strcmp(s, PIPELINE_API_VERSION) != 0)
			verr(c, f[R_API].val, &ap, "must be \"%s\" (got %s)",
			    PIPELINE_API_VERSION, QS(c, s));
	}
	if (f[R_KIND].val == NULL) {
		sch_missing(c, root, NULL, "kind");
	} else {
		PKEY(kp, NULL, "kind");
		if (sch_get_str(c, f[R_KIND].val, &kp, &s) == 0 &&
		    strcmp(s, PIPELINE_KIND) != 0)
			verr(c, f[R_KIND].val, &kp, "must be \"%s\" (got %s)",
			    PIPELINE_KIND, QS(c, s));
	}
	if (f[R_META].val == NULL) {
		sch_missing(c, root, NULL, "metadata");
	} else {
		PKEY(mp, NULL, "metadata");
		if (sch_get_fields(c, f[R_META].val, &mp, mf, M_N) == 0) {
			if (mf[M_NAME].val == NULL) {
				sch_missing(c, f[R_META].val, &mp, "name");
			} else {
				PKEY(np, &mp, "name");
				if (sch_get_str(c, mf[M_NAME].val, &np, &s) == 0) {
					if ((why = k8s_check_dns1123_label(s)) !=
					    NULL)
						verr(c, mf[M_NAME].val, &np,
						    "invalid name %s: %s",
						    QS(c, s), why);
					p->name = s;
				}
			}
		}
	}
	if (f[R_SPEC].val == NULL) {
		sch_missing(c, root, NULL, "spec");
	} else {
		PKEY(sp, NULL, "spec");
		walk_spec(c, f[R_SPEC].val, &sp);
	}
}
