/*
 * kube_traffic.c - InferenceServices and HTTPRoutes read and merge-patched
 * for a canary's traffic (see kube_traffic.h).  Like kube_decode.c, a
 * jansson user: no jansson type leaves this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"
#include "kube/kube_traffic.h"

#define ISVC_PREFIX	"/apis/serving.kserve.io/v1beta1"
#define ROUTE_PREFIX	"/apis/gateway.networking.k8s.io/v1"
#define MERGE_PATCH	"application/merge-patch+json"
#define ROUTE_TRIES	3	/* a stale resourceVersion: read again */

/* PREFIX/namespaces/NS/PLURAL/NAME into out. */
static int
object_path(struct kube_api *k, const char *prefix, const char *plural,
    const char *what, const char *ns, const char *name, struct buf *out,
    struct err *err)
{
	int rc;

	ns = kube_api_ns(k, ns);
	if ((rc = kube_check_name("namespace", ns, err)) < 0 ||
	    (rc = kube_check_name(what, name, err)) < 0)
		return rc;
	if (buf_printf(out, "%s/namespaces/%s/%s/%s", prefix, ns, plural,
	    name) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

/* GET path as a JSON object into *out (owned: json_decref). */
static int
get_json(struct kube_api *k, const char *path, enum kube_resource res,
    const char *what, json_t **out, struct err *err)
{
	struct buf resp;
	struct kreq r;
	json_error_t je;
	int rc;

	*out = NULL;
	buf_init(&resp, LIM_KUBE_OBJECT);
	kube_api_req_init(&r, "GET", KUBE_VERB_GET, res, path, &resp);
	r.optional = 1;		/* a grant of deploy/optional: see kube_traffic.h */
	(void)snprintf(r.what, sizeof(r.what), "%s", what);
	if ((rc = kube_api_do(k, &r, err)) < 0)
		goto out;
	*out = json_loadb(resp.data != NULL ? resp.data : "", resp.len, 0, &je);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = err_set(err, ERR_INVALID, "%s: the answer is not a JSON "
		    "object", what);
	}
out:
	buf_release(&resp);
	return rc;
}

/* PATCH path with the merge patch doc. */
static int
merge_patch(struct kube_api *k, const char *path, enum kube_resource res,
    const char *what, const json_t *doc, struct err *err)
{
	struct buf resp;
	struct kreq r;
	char *body;
	int rc;

	if ((body = json_dumps(doc, JSON_COMPACT)) == NULL)
		return err_set(err, ERR_GENERIC, "%s: out of memory", what);
	buf_init(&resp, LIM_KUBE_OBJECT);
	kube_api_req_init(&r, "PATCH", KUBE_VERB_PATCH, res, path, &resp);
	r.body = body;
	r.body_len = strlen(body);
	r.content_type = MERGE_PATCH;
	r.optional = 1;
	(void)snprintf(r.what, sizeof(r.what), "%s", what);
	rc = kube_api_do(k, &r, err);
	buf_release(&resp);
	free(body);
	return rc;
}

/* o[a][b]... as an object, or NULL. */
static json_t *
dig(json_t *o, const char *a, const char *b, const char *c)
{
	if (a != NULL)
		o = json_object_get(o, a);
	if (b != NULL)
		o = json_object_get(o, b);
	if (c != NULL)
		o = json_object_get(o, c);
	return json_is_object(o) ? o : NULL;
}

static void
copy_str(char *dst, size_t n, json_t *v)
{
	kube_fld(dst, n, json_is_string(v) ? json_string_value(v) : "");
}

/* The conditions of isvc's status into out (Ready, then the first not True). */
static void
isvc_conditions(json_t *status, struct kube_isvc *out)
{
	json_t *conds = json_object_get(status, "conditions"), *c;
	size_t i;
	int other = 0;

	out->ready = -1;
	json_array_foreach(conds, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *st = json_string_value(json_object_get(c, "status"));
		int ready = type != NULL && strcmp(type, "Ready") == 0;

		if (type == NULL || st == NULL)
			continue;
		const char *why = json_string_value(json_object_get(c,
		    "reason"));
		int failed = strcmp(st, "False") == 0 && why != NULL &&
		    strcmp(why, "RevisionFailed") == 0;

		if (ready)
			out->ready = strcmp(st, "True") == 0;
		if (strcmp(st, "True") == 0 || out->failed ||
		    (other && !ready && !failed))
			continue;
		out->failed = failed;
		copy_str(out->reason, sizeof(out->reason),
		    json_object_get(c, "reason"));
		copy_str(out->message, sizeof(out->message),
		    json_object_get(c, "message"));
		other = 1;
	}
}

int
kube_isvc_get(struct kube_api *k, const char *ns, const char *name,
    struct kube_isvc *out, struct err *err)
{
	struct buf path;
	json_t *o = NULL, *md, *spec, *model, *status, *pred, *v;
	char what[300];
	int rc;

	memset(out, 0, sizeof(*out));
	out->canary_percent = -1;
	out->ready = -1;
	buf_init(&path, LIM_URL);
	if ((rc = object_path(k, ISVC_PREFIX, "inferenceservices",
	    "inferenceservice", ns, name, &path, err)) < 0)
		goto out;
	(void)snprintf(what, sizeof(what), "get inferenceservice '%.63s' in "
	    "namespace '%s'", name, kube_api_ns(k, ns));
	if ((rc = get_json(k, path.data, KUBE_RES_INFERENCESERVICES, what, &o,
	    err)) < 0)
		goto out;
	if ((md = dig(o, "metadata", NULL, NULL)) != NULL) {
		copy_str(out->resource_version, sizeof(out->resource_version),
		    json_object_get(md, "resourceVersion"));
		out->generation = json_integer_value(json_object_get(md,
		    "generation"));
	}
	spec = dig(o, "spec", "predictor", NULL);
	if ((model = dig(spec, "model", NULL, NULL)) != NULL) {
		out->has_model = 1;
		copy_str(out->storage_uri, sizeof(out->storage_uri),
		    json_object_get(model, "storageUri"));
	}
	v = json_object_get(spec, "canaryTrafficPercent");
	if (json_is_integer(v))
		out->canary_percent = (int)json_integer_value(v);
	if ((status = dig(o, "status", NULL, NULL)) != NULL) {
		out->observed_generation = json_integer_value(
		    json_object_get(status, "observedGeneration"));
		isvc_conditions(status, out);
		if ((pred = dig(status, "components", "predictor",
		    NULL)) != NULL) {
			copy_str(out->latest_created,
			    sizeof(out->latest_created),
			    json_object_get(pred, "latestCreatedRevision"));
			copy_str(out->latest_ready, sizeof(out->latest_ready),
			    json_object_get(pred, "latestReadyRevision"));
		}
	}
out:
	json_decref(o);
	buf_release(&path);
	return rc;
}

int
kube_isvc_serving(const struct kube_isvc *isvc, const char *name, char *why,
    size_t len)
{
	if (isvc->failed && isvc->observed_generation >= isvc->generation) {
		(void)snprintf(why, len, "inferenceservice %s: %s: %s", name,
		    isvc->reason, isvc->message);
		return -1;
	}
	if (isvc->generation > 0 && isvc->observed_generation <
	    isvc->generation) {
		(void)snprintf(why, len, "inferenceservice %s: generation %lld "
		    "not observed yet (status is of %lld)%s%s%s%s", name,
		    (long long)isvc->generation,
		    (long long)isvc->observed_generation,
		    isvc->reason[0] ? ": " : "", isvc->reason,
		    isvc->message[0] ? ": " : "", isvc->message);
		return 0;
	}
	if (isvc->ready != 1) {
		(void)snprintf(why, len, "inferenceservice %s not ready: %s%s%s",
		    name, isvc->reason[0] ? isvc->reason : (isvc->ready < 0 ?
		    "no Ready condition yet" : "Ready is not True"),
		    isvc->message[0] ? ": " : "", isvc->message);
		return 0;
	}
	if (isvc->latest_created[0] != '\0' &&
	    strcmp(isvc->latest_created, isvc->latest_ready) != 0) {
		(void)snprintf(why, len, "inferenceservice %s: revision %s not "
		    "ready yet (latest ready: %s)", name, isvc->latest_created,
		    isvc->latest_ready[0] ? isvc->latest_ready : "none");
		return 0;
	}
	return 1;
}

int
kube_isvc_set(struct kube_api *k, const char *ns, const char *name,
    const char *storage_uri, int percent, struct err *err)
{
	struct buf path;
	json_t *doc = NULL, *pred;
	char what[300];
	int rc;

	buf_init(&path, LIM_URL);
	if ((rc = object_path(k, ISVC_PREFIX, "inferenceservices",
	    "inferenceservice", ns, name, &path, err)) < 0)
		goto out;
	(void)snprintf(what, sizeof(what), "patch inferenceservice '%.63s' in "
	    "namespace '%s'", name, kube_api_ns(k, ns));
	doc = json_pack("{s:{s:{s:o}}}", "spec", "predictor",
	    "canaryTrafficPercent", percent < 0 ? json_null() :
	    json_integer(percent));
	pred = dig(doc, "spec", "predictor", NULL);
	if (doc == NULL || pred == NULL || (storage_uri != NULL &&
	    json_object_set_new(pred, "model", json_pack("{s:s}",
	    "storageUri", storage_uri)) < 0)) {
		rc = err_set(err, ERR_GENERIC, "%s: out of memory", what);
		goto out;
	}
	rc = merge_patch(k, path.data, KUBE_RES_INFERENCESERVICES, what, doc,
	    err);
out:
	json_decref(doc);
	buf_release(&path);
	return rc;
}

/* backendRef named name in refs, or NULL. */
static json_t *
backend_ref(json_t *refs, const char *name)
{
	json_t *b;
	size_t i;

	json_array_foreach(refs, i, b) {
		const char *n = json_string_value(json_object_get(b, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return b;
	}
	return NULL;
}

/* The rule of rules sel chooses, or NULL with err set. */
static json_t *
route_rule(json_t *rules, const struct kube_route_sel *sel, struct err *err)
{
	json_t *r, *refs;
	size_t i;

	if (!json_is_array(rules) || json_array_size(rules) == 0) {
		err_set(err, ERR_INVALID, "httproute %s has no rules",
		    sel->route);
		return NULL;
	}
	if (sel->rule_index >= 0) {
		if ((size_t)sel->rule_index >= json_array_size(rules)) {
			err_set(err, ERR_INVALID, "httproute %s has no rule %d "
			    "(it has %zu)", sel->route, sel->rule_index,
			    json_array_size(rules));
			return NULL;
		}
		return json_array_get(rules, (size_t)sel->rule_index);
	}
	json_array_foreach(rules, i, r) {
		const char *n = json_string_value(json_object_get(r, "name"));

		refs = json_object_get(r, "backendRefs");
		if (sel->rule_name != NULL ? (n != NULL &&
		    strcmp(n, sel->rule_name) == 0) :
		    (backend_ref(refs, sel->stable_backend) != NULL &&
		    backend_ref(refs, sel->canary_backend) != NULL))
			return r;
	}
	if (sel->rule_name != NULL)
		err_set(err, ERR_INVALID, "httproute %s has no rule named %s",
		    sel->route, sel->rule_name);
	else
		err_set(err, ERR_INVALID, "httproute %s has no rule with both "
		    "backendRefs %s (stable) and %s (canary)", sel->route,
		    sel->stable_backend, sel->canary_backend);
	return NULL;
}

/* One read-modify-patch of the weights (ERR_CONFLICT: read again). */
static int
route_try(struct kube_api *k, const char *path, const char *what,
    const struct kube_route_sel *sel, int ws, int wc, int *changed,
    struct err *err)
{
	json_t *o = NULL, *rules, *rule, *s, *c, *doc = NULL, *rv;
	int rc;

	if ((rc = get_json(k, path, KUBE_RES_HTTPROUTES, what, &o, err)) < 0)
		goto out;
	rules = json_object_get(dig(o, "spec", NULL, NULL), "rules");
	if ((rule = route_rule(rules, sel, err)) == NULL) {
		rc = err->code;
		goto out;
	}
	s = backend_ref(json_object_get(rule, "backendRefs"),
	    sel->stable_backend);
	c = backend_ref(json_object_get(rule, "backendRefs"),
	    sel->canary_backend);
	if (s == NULL || c == NULL) {
		rc = err_set(err, ERR_INVALID, "httproute %s: the rule has no "
		    "backendRef %s (%s backend)", sel->route,
		    s == NULL ? sel->stable_backend : sel->canary_backend,
		    s == NULL ? "stable" : "canary");
		goto out;
	}
	if (json_integer_value(json_object_get(s, "weight")) == ws &&
	    json_integer_value(json_object_get(c, "weight")) == wc &&
	    json_is_integer(json_object_get(s, "weight")) &&
	    json_is_integer(json_object_get(c, "weight")))
		goto out;	/* already so: nothing to write */
	rv = json_object_get(dig(o, "metadata", NULL, NULL), "resourceVersion");
	if (json_object_set_new(s, "weight", json_integer(ws)) < 0 ||
	    json_object_set_new(c, "weight", json_integer(wc)) < 0 ||
	    (doc = json_pack("{s:{s:O?},s:{s:O}}", "metadata",
	    "resourceVersion", rv, "spec", "rules", rules)) == NULL) {
		rc = err_set(err, ERR_GENERIC, "%s: out of memory", what);
		goto out;
	}
	if ((rc = merge_patch(k, path, KUBE_RES_HTTPROUTES, what, doc,
	    err)) == 0 && changed != NULL)
		*changed = 1;
out:
	json_decref(doc);
	json_decref(o);
	return rc;
}

int
kube_route_set_weights(struct kube_api *k, const char *ns,
    const struct kube_route_sel *sel, int stable_weight, int canary_weight,
    int *changed, struct err *err)
{
	struct buf path;
	char what[300];
	int rc;

	if (changed != NULL)
		*changed = 0;
	buf_init(&path, LIM_URL);
	if ((rc = object_path(k, ROUTE_PREFIX, "httproutes", "httproute", ns,
	    sel->route, &path, err)) < 0)
		goto out;
	(void)snprintf(what, sizeof(what), "httproute '%.63s' in namespace "
	    "'%s'", sel->route, kube_api_ns(k, ns));
	for (int i = 0; i < ROUTE_TRIES; i++)
		if ((rc = route_try(k, path.data, what, sel, stable_weight,
		    canary_weight, changed, err)) != ERR_CONFLICT)
			break;
out:
	buf_release(&path);
	return rc;
}
