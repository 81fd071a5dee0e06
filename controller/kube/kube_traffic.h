/*
 * kube_traffic.h - the objects a canary's traffic provider moves
 * (docs/pipeline-reference.md, canary.traffic): KServe InferenceServices
 * (serving.kserve.io/v1beta1) and Gateway API HTTPRoutes
 * (gateway.networking.k8s.io/v1), read with a GET and changed with a
 * JSON merge patch (Content-Type application/merge-patch+json), through
 * the client of kube_api.h (its rate limit, retries and error codes:
 * ERR_NOTFOUND for no such object, ERR_CONFLICT for a stale
 * resourceVersion, ERR_FORBIDDEN without the grant, ...).
 *
 * A 403 (no grant of deploy/optional/rbac-traffic.yaml) fails the call
 * without making the client not ready (kube_api_ready).
 *
 * Every change is idempotent: it sets values, never adds to them, so the
 * controller may repeat it after a crash.  Calls block (network I/O).
 */
#ifndef SLUICE_KUBE_TRAFFIC_H
#define SLUICE_KUBE_TRAFFIC_H

#include <stdint.h>

#include "base/err.h"
#include "kube/kube_api.h"

#define KUBE_URI_MAX	2049	/* a storageUri (model URIs are <= 2048) */

/* An InferenceService as a rollout needs it. */
struct kube_isvc {
	char	 resource_version[KUBE_RV_MAX];
	int64_t	 generation;		/* metadata.generation, 0: none */
	int64_t	 observed_generation;	/* status.observedGeneration */
	int	 has_model;		/* spec.predictor.model is there */
	char	 storage_uri[KUBE_URI_MAX];	/* spec.predictor.model.storageUri */
	int	 canary_percent;	/* spec.predictor.canaryTrafficPercent,
					   -1: absent */
	int	 ready;			/* condition Ready: 1 True, 0 False or
					   Unknown, -1 absent */
	int	 failed;		/* a condition False for reason
					   RevisionFailed: the new revision
					   will not become ready */
	char	 reason[128];		/* of the first condition not True */
	char	 message[512];		/* (Ready's when several) */
	char	 latest_created[KUBE_NAME_MAX];	/* status.components.predictor */
	char	 latest_ready[KUBE_NAME_MAX];
};

/*
 * Whether isvc serves its spec: 1 when Ready True, the status observed
 * the current generation, and the latest revision created is the latest
 * ready; 0 when not yet, why (at most len bytes, never empty) saying
 * what it waits for (the not-Ready condition's reason and message); -1
 * when its revision failed (RevisionFailed, for the current generation),
 * why saying how.
 */
int	kube_isvc_serving(const struct kube_isvc *isvc, const char *name,
	    char *why, size_t len);

/* Get InferenceService name in ns (NULL: the client's namespace). */
int	kube_isvc_get(struct kube_api *k, const char *ns, const char *name,
	    struct kube_isvc *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Merge-patch spec.predictor.model.storageUri to storage_uri (NULL: left
 * as it is) and spec.predictor.canaryTrafficPercent to percent (< 0: the
 * field removed, which sends every request to the latest revision).
 */
int	kube_isvc_set(struct kube_api *k, const char *ns, const char *name,
	    const char *storage_uri, int percent, struct err *err)
	    __attribute__((warn_unused_result));

/* Which rule of a route, and which of its backendRefs. */
struct kube_route_sel {
	const char	*route;
	const char	*stable_backend;
	const char	*canary_backend;
	int		 rule_index;	/* -1: by name, else the first rule
					   naming both backends */
	const char	*rule_name;	/* NULL: see rule_index */
};

/*
 * Set the weights of the stable and canary backendRefs of the selected
 * rule of HTTPRoute sel->route in ns: read it, and when either weight
 * differs, merge-patch spec.rules (a list is replaced as a whole) with
 * the resourceVersion read, so a concurrent writer makes it
 * ERR_CONFLICT instead of being overwritten; a conflict is tried again
 * (a few times).  *changed (may be NULL) says whether it patched.
 * ERR_NOTFOUND for no such route, ERR_INVALID (message naming what
 * lacks) for a route without that rule or those backendRefs.
 */
int	kube_route_set_weights(struct kube_api *k, const char *ns,
	    const struct kube_route_sel *sel, int stable_weight,
	    int canary_weight, int *changed, struct err *err)
	    __attribute__((warn_unused_result));

#endif
