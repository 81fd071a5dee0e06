/*
 * traffic.c - canary traffic moved by the controller (see traffic.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "engine/traffic.h"
#include "kube/kube_traffic.h"
#include "pipeline/pipeline.h"
#include "store/store_traffic.h"

int
traffic_by_controller(const struct pipeline_canary *c)
{
	return c->traffic.provider != PIPELINE_TRAFFIC_COMMAND;
}

/* The engine's client, or ERR_INVALID naming what is missing. */
static int
client(struct eng_pass *ps, const struct pipeline_canary *c,
    struct kube_api **k, const char **ns, struct err *err)
{
	*k = ps->e->kube;
	*ns = ps->e->kube_ns;
	if (*k == NULL)
		return err_set(err, ERR_INVALID, "canary.traffic provider %s "
		    "needs executor: kubernetes (the controller moves the "
		    "traffic through the Kubernetes API)",
		    pipeline_traffic_provider_name(c->traffic.provider));
	return 0;
}

static void
route_sel(const struct pipeline_traffic *t, struct kube_route_sel *sel)
{
	sel->route = t->route;
	sel->stable_backend = t->stable_backend;
	sel->canary_backend = t->canary_backend;
	sel->rule_index = t->rule_index;
	sel->rule_name = t->rule_name;
}

/* A transient error's message as the reason to wait. */
static int
transient(int rc, const struct err *err, char *why, size_t len)
{
	if (rc == ERR_TRANSIENT)
		(void)snprintf(why, len, "cannot move traffic yet: %s",
		    err->msg);
	return rc;
}

static int
kserve_set(struct eng_pass *ps, const struct snap_stage *st,
    const struct pipeline_canary *c, int weight, int final, char *why,
    size_t len, struct err *err)
{
	const char *name = c->traffic.inference_service, *ns;
	struct kube_isvc *isvc = xcalloc(1, sizeof(*isvc));
	char *stable = NULL, *cand = NULL;
	struct kube_api *k;
	int want = final ? -1 : weight, rc;

	if ((rc = client(ps, c, &k, &ns, err)) < 0 ||
	    (rc = store_traffic_get(pass_db(ps), st->ro.id, &stable, &cand,
	    err)) < 0)
		goto out;
	if (cand == NULL) {
		rc = err_set(err, ERR_INVALID, "no model version to roll out "
		    "(no stage of this run registered a model artifact)");
		goto out;
	}
	if ((rc = kube_isvc_get(k, ns, name, isvc, err)) < 0)
		goto out;
	if (!isvc->has_model) {
		rc = err_set(err, ERR_INVALID, "inferenceservice %s has no "
		    "spec.predictor.model (its storageUri is what a rollout "
		    "changes)", name);
		goto out;
	}
	if (stable == NULL) {
		/* kept before the first change: a rollback goes back to it */
		const char *was = isvc->storage_uri[0] != '\0' &&
		    strcmp(isvc->storage_uri, cand) != 0 ? isvc->storage_uri :
		    st->ro.prev_uri;

		if (was == NULL || was[0] == '\0') {
			rc = err_set(err, ERR_INVALID, "inferenceservice %s "
			    "serves no other model to return to (its "
			    "storageUri is %s)", name, isvc->storage_uri[0] ?
			    isvc->storage_uri : "empty");
			goto out;
		}
		if ((rc = store_traffic_keep_stable(pass_db(ps), st->ro.id,
		    was, err)) < 0)
			goto out;
	}
	if (strcmp(isvc->storage_uri, cand) != 0 ||
	    isvc->canary_percent != want) {
		log_info("traffic: patching inferenceservice", "stage=%s "
		    "inferenceservice=%s storage_uri=%s canary_percent=%d",
		    st->name, name, cand, want);
		if ((rc = kube_isvc_set(k, ns, name, cand, want, err)) < 0 ||
		    (rc = kube_isvc_get(k, ns, name, isvc, err)) < 0)
			goto out;
	}
	if ((rc = kube_isvc_serving(isvc, name, why, len)) < 0)
		rc = err_set(err, ERR_INVALID, "%s", why);
out:
	free(isvc);
	free(stable);
	free(cand);
	return transient(rc, err, why, len);
}

static int
gateway_set(struct eng_pass *ps, const struct snap_stage *st,
    const struct pipeline_canary *c, int weight, char *why, size_t len,
    struct err *err)
{
	struct kube_route_sel sel;
	struct kube_api *k;
	const char *ns;
	int changed = 0, rc;

	route_sel(&c->traffic, &sel);
	if ((rc = client(ps, c, &k, &ns, err)) < 0 ||
	    (rc = kube_route_set_weights(k, ns, &sel, 100 - weight, weight,
	    &changed, err)) < 0)
		return transient(rc, err, why, len);
	if (changed)
		log_info("traffic: httproute weights set", "stage=%s "
		    "httproute=%s stable=%d canary=%d", st->name, sel.route,
		    100 - weight, weight);
	return 1;
}

int
traffic_set(struct eng_pass *ps, const struct snap_stage *st,
    const struct pipeline_canary *c, int weight, int final, char *why,
    size_t len, struct err *err)
{
	why[0] = '\0';
	switch (c->traffic.provider) {
	case PIPELINE_TRAFFIC_KSERVE:
		return kserve_set(ps, st, c, weight, final, why, len, err);
	case PIPELINE_TRAFFIC_GATEWAY:
		return gateway_set(ps, st, c, weight, why, len, err);
	case PIPELINE_TRAFFIC_COMMAND:
		break;
	}
	return 1;
}

int
traffic_restore(struct eng_pass *ps, const struct snap_stage *st,
    const struct pipeline_canary *c, struct err *err)
{
	struct kube_route_sel sel;
	struct kube_api *k;
	char *stable = NULL, *cand = NULL;
	const char *ns;
	int rc = 0;

	if (!traffic_by_controller(c))
		return 0;
	if ((rc = client(ps, c, &k, &ns, err)) < 0)
		return rc;
	if (c->traffic.provider == PIPELINE_TRAFFIC_GATEWAY) {
		route_sel(&c->traffic, &sel);
		rc = kube_route_set_weights(k, ns, &sel, 100, 0, NULL, err);
		/*
		 * A route without the rule or the backends has no weight of
		 * ours to put back: only those backendRefs are ever changed.
		 */
		if (rc == ERR_INVALID) {
			log_warn("traffic: nothing to restore", "stage=%s "
			    "error=\"%s\"", st->name, err->msg);
			rc = 0;
		}
		return rc;
	}
	if ((rc = store_traffic_get(pass_db(ps), st->ro.id, &stable, &cand,
	    err)) == 0 && stable != NULL) {
		log_info("traffic: restoring inferenceservice", "stage=%s "
		    "inferenceservice=%s storage_uri=%s", st->name,
		    c->traffic.inference_service, stable);
		rc = kube_isvc_set(k, ns, c->traffic.inference_service, stable,
		    0, err);
	}
	free(stable);
	free(cand);
	return rc;
}

void
engine_set_kube(struct engine *e, struct kube_api *k, const char *ns)
{
	e->kube = k;
	e->kube_ns = ns;
}
