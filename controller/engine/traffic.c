/*
 * traffic.c - canary traffic moved by the controller (see traffic.h): a
 * rollout's steps, promotion and rollback, and the traffic that follows
 * a production change made by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "engine/traffic.h"
#include "kube/kube_traffic.h"
#include "pipeline/pipeline.h"
#include "store/store_engine.h"
#include "store/store_traffic.h"

int
traffic_by_controller(const struct pipeline_canary *c)
{
	return c->traffic.provider != PIPELINE_TRAFFIC_COMMAND;
}

/* The engine's client, or ERR_INVALID naming what is missing. */
static int
client(struct engine *e, const struct pipeline_canary *c,
    struct kube_api **k, const char **ns, struct err *err)
{
	*k = e->kube;
	*ns = e->kube_ns;
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

/*
 * Read InferenceService name into isvc; ERR_INVALID when it has no
 * spec.predictor.model (nothing of ours to change).
 */
static int
isvc_read(struct kube_api *k, const char *ns, const char *name,
    struct kube_isvc *isvc, struct err *err)
{
	int rc;

	if ((rc = kube_isvc_get(k, ns, name, isvc, err)) < 0)
		return rc;
	if (!isvc->has_model)
		return err_set(err, ERR_INVALID, "inferenceservice %s has no "
		    "spec.predictor.model (its storageUri is what the "
		    "controller changes)", name);
	return 0;
}

/*
 * Make isvc (as read) serve uri with canaryTrafficPercent want (-1: the
 * field removed): patch only what differs, then read it back.  1 when
 * served, 0 when not yet (why says what it waits for), ERR_INVALID
 * when its revision failed; the client's errors.  who says for what in
 * the log ("stage rollout", "target fraud-api").
 */
static int
isvc_put(struct kube_api *k, const char *ns, const char *name,
    struct kube_isvc *isvc, const char *uri, int want, const char *who,
    char *why, size_t len, struct err *err)
{
	int rc;

	if (strcmp(isvc->storage_uri, uri) != 0 ||
	    isvc->canary_percent != want) {
		log_info("traffic: patching inferenceservice", "for=\"%s\" "
		    "inferenceservice=%s storage_uri=%s canary_percent=%d",
		    who, name, uri, want);
		if ((rc = kube_isvc_set(k, ns, name, uri, want, err)) < 0 ||
		    (rc = kube_isvc_get(k, ns, name, isvc, err)) < 0)
			return rc;
	}
	if ((rc = kube_isvc_serving(isvc, name, why, len)) < 0)
		rc = err_set(err, ERR_INVALID, "%s", why);
	return rc;
}

static int
kserve_set(struct eng_pass *ps, const struct snap_stage *st,
    const struct pipeline_canary *c, int weight, int final, char *why,
    size_t len, struct err *err)
{
	const char *name = c->traffic.inference_service, *ns;
	struct kube_isvc *isvc = xcalloc(1, sizeof(*isvc));
	char *stable = NULL, *cand = NULL, who[LIM_NAME + 8];
	struct kube_api *k;
	int want = final ? -1 : weight, rc;

	(void)snprintf(who, sizeof(who), "stage %s", st->name);
	if ((rc = client(ps->e, c, &k, &ns, err)) < 0 ||
	    (rc = store_traffic_get(pass_db(ps), st->ro.id, &stable, &cand,
	    err)) < 0)
		goto out;
	if (cand == NULL) {
		rc = err_set(err, ERR_INVALID, "no model version to roll out "
		    "(no stage of this run registered a model artifact)");
		goto out;
	}
	if ((rc = isvc_read(k, ns, name, isvc, err)) < 0)
		goto out;
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
	rc = isvc_put(k, ns, name, isvc, cand, want, who, why, len, err);
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
	if ((rc = client(ps->e, c, &k, &ns, err)) < 0 ||
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
	if ((rc = client(ps->e, c, &k, &ns, err)) < 0)
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

/* --- traffic that follows a production change made by hand ------------- */

/*
 * The canary of stage `stage` of pipeline version version_id, parsed into
 * *p (owned by the caller); ERR_INVALID when it has no such canary stage.
 */
static int
follow_canary(struct engine *e, const struct traffic_follow *t,
    struct pipeline **p, const struct pipeline_canary **c, struct err *err)
{
	struct pipeline_errors errs;
	char *json = NULL;
	int rc;

	*p = NULL;
	*c = NULL;
	if ((rc = store_version_definition(engine_db(e),
	    t->pipeline_version_id, &json, err)) < 0)
		return rc;
	pipeline_errors_init(&errs);
	rc = pipeline_parse(p, &errs, json, strlen(json), "definition", err);
	pipeline_errors_release(&errs);
	free(json);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < (*p)->nstages; i++) {
		const struct pipeline_stage *s = &(*p)->stages[i];

		if (s->canary != NULL && strcmp(s->name, t->stage) == 0 &&
		    traffic_by_controller(s->canary)) {
			*c = s->canary;
			return 0;
		}
	}
	return err_set(err, ERR_INVALID, "pipeline version %lld has no canary "
	    "stage %s with a traffic provider",
	    (long long)t->pipeline_version_id, t->stage);
}

/*
 * Move t's traffic: kserve serves t->uri with every request (no
 * canaryTrafficPercent), gateway sends every request to the stable
 * backend.  1 in place and served (done says what), 0 not served yet
 * (why says what it waits for); errors as traffic_set.
 */
static int
follow_one(struct engine *e, const struct traffic_follow *t, char *why,
    size_t len, struct err *err)
{
	const struct pipeline_canary *c = NULL;
	struct kube_isvc *isvc = NULL;
	struct pipeline *p = NULL;
	struct kube_route_sel sel;
	struct kube_api *k;
	char who[LIM_MODEL_TARGET + 8];
	const char *ns;
	int changed = 0, rc;

	why[0] = '\0';
	(void)snprintf(who, sizeof(who), "target %s", t->target);
	if ((rc = follow_canary(e, t, &p, &c, err)) < 0 ||
	    (rc = client(e, c, &k, &ns, err)) < 0)
		goto out;
	if (c->traffic.provider == PIPELINE_TRAFFIC_KSERVE) {
		isvc = xcalloc(1, sizeof(*isvc));
		if ((rc = isvc_read(k, ns, c->traffic.inference_service, isvc,
		    err)) < 0 ||
		    (rc = isvc_put(k, ns, c->traffic.inference_service, isvc,
		    t->uri, -1, who, why, len, err)) < 0)
			goto out;
		if (rc == 1)
			(void)snprintf(why, len, "inferenceservice %s serves %s "
			    "to every request", c->traffic.inference_service,
			    t->uri);
		goto out;
	}
	route_sel(&c->traffic, &sel);
	if ((rc = kube_route_set_weights(k, ns, &sel, 100, 0, &changed,
	    err)) < 0)
		goto out;
	if (changed)
		log_info("traffic: httproute weights set", "target=%s "
		    "httproute=%s stable=100 canary=0", t->target, sel.route);
	(void)snprintf(why, len, "httproute %s sends every request to its "
	    "stable backend %s", sel.route, sel.stable_backend);
	rc = 1;
out:
	free(isvc);
	pipeline_free(p);
	return rc;
}

int
traffic_follow(struct engine *e, struct err *err)
{
	struct traffic_follow *rows = NULL;
	int64_t superseded = 0, wait = -1;
	size_t n = 0;
	int rc;

	if ((rc = store_traffic_follow_open(engine_db(e), &rows, &n,
	    &superseded, err)) < 0)
		goto out;
	if (superseded > 0)
		log_info("traffic: manual changes superseded", "count=%lld",
		    (long long)superseded);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct traffic_follow *t = &rows[i];
		enum traffic_follow_state state;
		struct err ferr;
		char why[sizeof(ferr.msg) + 64];
		int64_t retry;
		int got;

		if (!t->due) {
			if (wait < 0 || t->wait_ms < wait)
				wait = t->wait_ms;
			continue;
		}
		err_clear(&ferr);
		got = follow_one(e, t, why, sizeof(why), &ferr);
		if (got == 1) {
			state = TRAFFIC_FOLLOW_DONE;
			retry = 0;
			log_info("traffic: follows the production change",
			    "target=%s history=%lld detail=\"%s\"", t->target,
			    (long long)t->history_id, why);
		} else if (got == 0) {
			state = TRAFFIC_FOLLOW_PENDING;
			retry = e->o.poll_ms;
		} else if (got == ERR_TRANSIENT) {
			state = TRAFFIC_FOLLOW_PENDING;
			retry = e->o.backoff_ms;
			(void)snprintf(why, sizeof(why), "cannot move traffic "
			    "yet: %s", ferr.msg);
		} else {
			/* tried again at the sweep: the object may be fixed */
			state = TRAFFIC_FOLLOW_FAILED;
			retry = e->o.sweep_ms;
			(void)snprintf(why, sizeof(why), "%s", ferr.msg);
			log_warn("traffic: cannot follow the production change",
			    "target=%s history=%lld error=\"%s\"", t->target,
			    (long long)t->history_id, ferr.msg);
		}
		rc = store_traffic_follow_set(engine_db(e), t->history_id,
		    state, why, retry, err);
		if (state != TRAFFIC_FOLLOW_DONE && (wait < 0 || retry < wait))
			wait = retry;
	}
	if (rc == 0 && wait >= 0 && wait < e->next_ms)
		e->next_ms = wait;
	/* unheard, the next look is when a row is due, else the sweep */
	if (n >= LIM_TRAFFIC_FOLLOW)
		wait = 0;
	e->traffic_due_ms = sys_now_ms() + (wait >= 0 && wait <
	    e->o.sweep_ms ? wait : e->o.sweep_ms);
out:
	store_traffic_follow_free(rows, n);
	return rc;
}

void
engine_set_kube(struct engine *e, struct kube_api *k, const char *ns)
{
	e->kube = k;
	e->kube_ns = ns;
}
