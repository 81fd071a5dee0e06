/*
 * kube_api.c - the calls of the Kubernetes API client (Jobs, pods, pod
 * logs, events); see kube_api.h.
 *
 * Each call builds its path, hands a request to the transport
 * (kube_transport.c: rate limit, credentials, retries, answer mapping) and
 * the answer to the decoder (kube_decode.c).  Every list goes through one
 * paged listing, kube_api_pages, that follows continue tokens and keeps
 * the list's resourceVersion.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/sys.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

/* ---- names ---------------------------------------------------------- */

static const char *const verb_names[KUBE_VERB_N] = {
	"get", "list", "watch", "create", "delete", "patch"
};
static const char *const res_names[KUBE_RES_N] = {
	"jobs", "pods", "pods/log", "events", "nodes", "secrets", "workloads",
	"services", "inferenceservices", "httproutes"
};

const char *
kube_verb_name(enum kube_verb v)
{
	return (unsigned)v < KUBE_VERB_N ? verb_names[v] : "unknown";
}

const char *
kube_resource_name(enum kube_resource r)
{
	return (unsigned)r < KUBE_RES_N ? res_names[r] : "unknown";
}

const char *
kube_job_state_name(enum kube_job_state s)
{
	switch (s) {
	case KUBE_JOB_PENDING:
		return "pending";
	case KUBE_JOB_SUSPENDED:
		return "suspended";
	case KUBE_JOB_RUNNING:
		return "running";
	case KUBE_JOB_SUCCEEDED:
		return "succeeded";
	case KUBE_JOB_FAILED:
		return "failed";
	}
	return "unknown";
}

const char *
kube_job_label(const struct kube_job *j, const char *key)
{
	size_t i;

	for (i = 0; i < j->nlabels; i++) {
		if (strcmp(j->labels[i].key, key) == 0)
			return j->labels[i].value;
	}
	return NULL;
}

const char *
kube_api_namespace(const struct kube_api *k)
{
	return k->namespace;
}

int
kube_check_name(const char *what, const char *s, struct err *err)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 253)
		return err_set(err, ERR_INVALID, "%s '%s' is not a valid name",
		    what, s != NULL ? s : "");
	for (i = 0; i < n; i++) {
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return err_set(err, ERR_INVALID,
			    "%s '%s' is not a valid name", what, s);
	}
	return 0;
}

int
kube_api_query_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			rc = buf_putc(out, (char)c);
		else if ((rc = buf_putc(out, '%')) == 0 &&
		    (rc = buf_putc(out, hex[c >> 4])) == 0)
			rc = buf_putc(out, hex[c & 15]);
	}
	return rc;
}

const char *
kube_api_ns(struct kube_api *k, const char *ns)
{
	return ns != NULL && ns[0] != '\0' ? ns : k->namespace;
}

int
kube_api_jobs_path(struct kube_api *k, const char *ns, struct buf *out,
    struct err *err)
{
	int rc;

	ns = kube_api_ns(k, ns);
	if ((rc = kube_check_name("namespace", ns, err)) < 0)
		return rc;
	if (buf_printf(out, "/apis/batch/v1/namespaces/%s/jobs", ns) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

int
kube_api_pods_path(struct kube_api *k, const char *ns, struct buf *out,
    struct err *err)
{
	int rc;

	ns = kube_api_ns(k, ns);
	if ((rc = kube_check_name("namespace", ns, err)) < 0)
		return rc;
	if (buf_printf(out, "/api/v1/namespaces/%s/pods", ns) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

/* The version discovery found, as a path segment; NULL for none (yet). */
static const char *
kueue_version(struct kube_api *k)
{
	switch (atomic_load(&k->kueue_api)) {
	case KUBE_KUEUE_V1BETA2:
		return "v1beta2";
	case KUBE_KUEUE_V1BETA1:
		return "v1beta1";
	default:
		return NULL;
	}
}

int
kube_api_workloads_path(struct kube_api *k, const char *ns, struct buf *out,
    struct err *err)
{
	const char *v = kueue_version(k);
	int rc;

	if (v == NULL)
		return err_set(err, ERR_NOTFOUND, "the cluster serves no Kueue "
		    "API (kueue.x-k8s.io v1beta2 or v1beta1)");
	ns = kube_api_ns(k, ns);
	if ((rc = kube_check_name("namespace", ns, err)) < 0)
		return rc;
	if (buf_printf(out, "/apis/kueue.x-k8s.io/%s/namespaces/%s/workloads",
	    v, ns) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

int
kube_api_kueue_discover(struct kube_api *k, char *version, size_t len,
    struct err *err)
{
	enum kube_kueue_api found = KUBE_KUEUE_NONE;
	struct buf resp;
	struct kreq r;
	const char *v;
	int rc;

	if (len > 0)
		version[0] = '\0';
	buf_init(&resp, LIM_KUBE_RESPONSE);
	kube_api_req_init(&r, "GET", KUBE_VERB_GET, KUBE_RES_WORKLOADS,
	    "/apis/kueue.x-k8s.io", &resp);
	kube_fld(r.what, sizeof(r.what), "discover the kueue.x-k8s.io API");
	rc = kube_api_do(k, &r, err);
	if (rc == ERR_NOTFOUND)
		rc = 0;		/* no such group: no Kueue */
	else if (rc == 0)
		rc = kube_decode_kueue_group(resp.data, resp.len, &found, err);
	buf_release(&resp);
	if (rc < 0)
		return rc;
	atomic_store(&k->kueue_api, (int)found);
	v = kueue_version(k);
	if (v == NULL)
		return 0;
	kube_fld(version, len, v);
	return 1;
}

/* ---- calls ---------------------------------------------------------- */

/* /api/v1/namespaces/NS/services into out. */
static int
services_path(const char *ns, struct buf *out, struct err *err)
{
	int rc;

	if ((rc = kube_check_name("namespace", ns, err)) < 0)
		return rc;
	if (buf_printf(out, "/api/v1/namespaces/%s/services", ns) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

/*
 * POST a Job's or a Service's manifest (json, len bytes) to its collection
 * in ns; the answer into resp, the request's description into r->what.
 */
static int
create_from(struct kube_api *k, const char *ns, enum kube_resource res,
    const char *json, size_t len, struct kreq *r, struct buf *resp,
    struct err *err)
{
	const char *kind = res == KUBE_RES_JOBS ? "job" : "service";
	struct buf path;
	char name[64];
	int rc;

	buf_init(&path, LIM_URL);
	if ((rc = res == KUBE_RES_JOBS ? kube_api_jobs_path(k, ns, &path, err) :
	    services_path(ns, &path, err)) < 0)
		goto out;
	kube_api_req_init(r, "POST", KUBE_VERB_CREATE, res, path.data, resp);
	r->body = json;
	r->body_len = len;
	/* name the object in messages when the manifest says it */
	kube_decode_manifest_name(json, len, name, sizeof(name));
	if (name[0] != '\0')
		snprintf(r->what, sizeof(r->what),
		    "create %s '%s' in namespace '%s'", kind, name, ns);
	else
		snprintf(r->what, sizeof(r->what), "create %s in namespace "
		    "'%s'", kind, ns);
	rc = kube_api_do(k, r, err);
out:
	buf_release(&path);
	return rc;
}

int
kube_api_job_create(struct kube_api *k, const char *ns, const char *json,
    size_t len, struct kube_job *out, struct err *err)
{
	struct buf resp;
	struct kreq r;
	union kube_object *o = NULL;
	int rc;

	ns = kube_api_ns(k, ns);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = create_from(k, ns, KUBE_RES_JOBS, json, len, &r, &resp,
	    err)) < 0 || out == NULL)
		goto out;
	o = xcalloc(1, sizeof(*o));
	if ((rc = kube_decode_object(resp.data, resp.len, KUBE_RES_JOBS,
	    r.what, o, err)) == 0)
		*out = o->job;
out:
	free(o);
	buf_release(&resp);
	return rc;
}

/*
 * GET path (a resource of kind res), decoded into *o (the caller's,
 * large: not on the stack); what names it in messages.
 */
static int
get_object(struct kube_api *k, const char *path, enum kube_resource res,
    const char *what, union kube_object *o, struct err *err)
{
	struct buf resp;
	struct kreq r;
	int rc;

	buf_init(&resp, LIM_KUBE_OBJECT);
	kube_api_req_init(&r, "GET", KUBE_VERB_GET, res, path, &resp);
	r.optional = res == KUBE_RES_NODES;
	snprintf(r.what, sizeof(r.what), "%s", what);
	if ((rc = kube_api_do(k, &r, err)) == 0)
		rc = kube_decode_object(resp.data, resp.len, res, what, o, err);
	buf_release(&resp);
	return rc;
}

int
kube_api_job_get(struct kube_api *k, const char *ns, const char *name,
    struct kube_job *out, struct err *err)
{
	struct buf path;
	union kube_object *o = NULL;
	char what[300];
	int rc;

	ns = kube_api_ns(k, ns);
	buf_init(&path, LIM_URL);
	if ((rc = kube_check_name("job", name, err)) < 0 ||
	    (rc = kube_api_jobs_path(k, ns, &path, err)) < 0)
		goto out;
	if (buf_printf(&path, "/%s", name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	snprintf(what, sizeof(what), "get job '%.63s' in namespace '%s'",
	    name, ns);
	o = xcalloc(1, sizeof(*o));
	if ((rc = get_object(k, path.data, KUBE_RES_JOBS, what, o, err)) == 0)
		*out = o->job;
out:
	free(o);
	buf_release(&path);
	return rc;
}

int
kube_api_node_get(struct kube_api *k, const char *name,
    struct kube_node *out, struct err *err)
{
	struct buf path;
	union kube_object *o = NULL;
	char what[300];
	int rc;

	buf_init(&path, LIM_URL);
	if ((rc = kube_check_name("node", name, err)) < 0)
		goto out;
	if (buf_printf(&path, "/api/v1/nodes/%s", name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	snprintf(what, sizeof(what), "get node '%.200s'", name);
	o = xcalloc(1, sizeof(*o));
	if ((rc = get_object(k, path.data, KUBE_RES_NODES, what, o, err)) == 0)
		*out = o->node;
out:
	free(o);
	buf_release(&path);
	return rc;
}

int
kube_api_secret_exists(struct kube_api *k, const char *ns, const char *name,
    struct err *err)
{
	struct buf path, resp;
	struct kreq r;
	int rc;

	ns = kube_api_ns(k, ns);
	buf_init(&path, LIM_URL);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = kube_check_name("secret", name, err)) < 0 ||
	    (rc = kube_check_name("namespace", ns, err)) < 0)
		goto out;
	if (buf_printf(&path, "/api/v1/namespaces/%s/secrets/%s", ns,
	    name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	kube_api_req_init(&r, "GET", KUBE_VERB_GET, KUBE_RES_SECRETS,
	    path.data, &resp);
	r.accept = "application/json;as=PartialObjectMetadata;"
	    "g=meta.k8s.io;v=v1,application/json";
	r.optional = 1;
	snprintf(r.what, sizeof(r.what), "get secret '%.200s' in namespace "
	    "'%.63s'", name, ns);
	rc = kube_api_do(k, &r, err);
out:
	/* a server that ignores the Accept may have sent the data: wipe it */
	if (resp.data != NULL)
		explicit_bzero(resp.data, resp.alloc);
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

/*
 * DELETE the Job or Service called name, with propagationPolicy
 * Background (a Job's pods go too).
 */
static int
delete_named(struct kube_api *k, const char *ns, enum kube_resource res,
    const char *name, struct err *err)
{
	static const char body[] = "{\"kind\":\"DeleteOptions\","
	    "\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}";
	const char *kind = res == KUBE_RES_JOBS ? "job" : "service";
	struct buf path, resp;
	struct kreq r;
	int rc;

	ns = kube_api_ns(k, ns);
	buf_init(&path, LIM_URL);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = kube_check_name(kind, name, err)) < 0 ||
	    (rc = res == KUBE_RES_JOBS ? kube_api_jobs_path(k, ns, &path, err) :
	    services_path(ns, &path, err)) < 0)
		goto out;
	if (buf_printf(&path, "/%s", name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	kube_api_req_init(&r, "DELETE", KUBE_VERB_DELETE, res, path.data,
	    &resp);
	r.body = body;
	r.body_len = sizeof(body) - 1;
	snprintf(r.what, sizeof(r.what),
	    "delete %s '%.63s' in namespace '%s'", kind, name, ns);
	rc = kube_api_do(k, &r, err);
out:
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

int
kube_api_job_delete(struct kube_api *k, const char *ns, const char *name,
    struct err *err)
{
	return delete_named(k, ns, KUBE_RES_JOBS, name, err);
}

int
kube_api_service_create(struct kube_api *k, const char *ns, const char *json,
    size_t len, struct err *err)
{
	struct buf resp;
	struct kreq r;
	int rc;

	ns = kube_api_ns(k, ns);
	buf_init(&resp, LIM_KUBE_OBJECT);
	rc = create_from(k, ns, KUBE_RES_SERVICES, json, len, &r, &resp, err);
	buf_release(&resp);
	return rc;
}

int
kube_api_service_delete(struct kube_api *k, const char *ns, const char *name,
    struct err *err)
{
	return delete_named(k, ns, KUBE_RES_SERVICES, name, err);
}


/* ---- lists ------------------------------------------------------------ */

/* Where objects of res live and what a listing of them is called. */
static int
list_base(struct kube_api *k, enum kube_resource res, const char *ns,
    const char *selector, const char *fields, struct buf *out,
    struct err *err)
{
	static const char *const prefix[KUBE_RES_N] = {
		[KUBE_RES_JOBS] = "/apis/batch/v1",
		[KUBE_RES_PODS] = "/api/v1",
		[KUBE_RES_EVENTS] = "/api/v1",
		[KUBE_RES_SERVICES] = "/api/v1",
	};
	int rc;

	if (res != KUBE_RES_WORKLOADS &&
	    ((unsigned)res >= KUBE_RES_N || prefix[res] == NULL))
		return err_set(err, ERR_INVALID, "cannot list %s",
		    kube_resource_name(res));
	ns = kube_api_ns(k, ns);
	if ((rc = kube_check_name("namespace", ns, err)) < 0)
		return rc;
	if ((selector != NULL && strlen(selector) > LIM_KUBE_SELECTOR) ||
	    (fields != NULL && strlen(fields) > LIM_KUBE_SELECTOR))
		return err_set(err, ERR_TOOBIG, "selector too long");
	if (res == KUBE_RES_WORKLOADS) {
		if ((rc = kube_api_workloads_path(k, ns, out, err)) < 0)
			return rc;
		if (buf_putc(out, '?') < 0)
			goto toobig;
	} else if (buf_printf(out, "%s/namespaces/%s/%s?", prefix[res], ns,
	    kube_resource_name(res)) < 0) {
		goto toobig;
	}
	if (selector != NULL && selector[0] != '\0' &&
	    (buf_puts(out, "labelSelector=") < 0 ||
	    kube_api_query_escape(out, selector) < 0 || buf_putc(out, '&') < 0))
		goto toobig;
	if (fields != NULL && fields[0] != '\0' &&
	    (buf_puts(out, "fieldSelector=") < 0 ||
	    kube_api_query_escape(out, fields) < 0 || buf_putc(out, '&') < 0))
		goto toobig;
	return 0;
toobig:
	return err_set(err, ERR_TOOBIG, "request path too long");
}

int
kube_api_pages(struct kube_api *k, enum kube_resource res, const char *ns,
    const char *selector, const char *fields,
    int (*item)(void *arg, const void *obj), void *arg, char *rv,
    size_t rvlen, struct err *err)
{
	struct buf base, path, resp, cont;
	struct kreq r;
	char what[200];
	size_t total = 0;
	int rc;

	buf_init(&base, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&path, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&resp, LIM_KUBE_RESPONSE);
	buf_init(&cont, LIM_URL);
	if (rv != NULL && rvlen > 0)
		rv[0] = '\0';
	if ((rc = list_base(k, res, ns, selector, fields, &base, err)) < 0)
		goto out;
	snprintf(what, sizeof(what), "list %s in namespace '%s'",
	    kube_resource_name(res), kube_api_ns(k, ns));
	do {
		buf_reset(&path);
		buf_reset(&resp);
		if (buf_printf(&path, "%slimit=%d", base.data,
		    k->opts.list_page_size) < 0 ||
		    (cont.len > 0 && (buf_puts(&path, "&continue=") < 0 ||
		    kube_api_query_escape(&path, cont.data) < 0))) {
			rc = err_set(err, ERR_TOOBIG, "request path too long");
			goto out;
		}
		kube_api_req_init(&r, "GET", KUBE_VERB_LIST, res, path.data,
		    &resp);
		kube_fld(r.what, sizeof(r.what), what);
		if ((rc = kube_api_do(k, &r, err)) < 0 ||
		    (rc = kube_decode_page(resp.data, resp.len, res, what, item,
		    arg, &total, rv, rvlen, &cont, err)) != 0)
			goto out;
	} while (cont.len > 0);
out:
	buf_release(&base);
	buf_release(&path);
	buf_release(&resp);
	buf_release(&cont);
	return rc;
}

/* A listing into an array of objects of one size. */
struct collect {
	void		**items;
	size_t		 *n;
	size_t		  cap;
	size_t		  size;
	struct err	 *err;
	const char	 *what;
};

static int
collect_item(void *arg, const void *obj)
{
	struct collect *c = arg;
	int rc;

	if ((rc = sys_grow(c->items, *c->n, &c->cap, c->size,
	    LIM_KUBE_LIST_ITEMS)) < 0)
		return err_set(c->err, rc, "list %s: %s", c->what,
		    rc == ERR_NOMEM ? "out of memory" : "too many");
	memcpy((char *)*c->items + *c->n * c->size, obj, c->size);
	(*c->n)++;
	return 0;
}

/* kube_api_pages into *items (realloc'd, of elements of size bytes). */
static int
collect(struct kube_api *k, enum kube_resource res, const char *ns,
    const char *selector, const char *fields, void **items, size_t *n,
    size_t size, char *rv, size_t rvlen, struct err *err)
{
	struct collect c = { items, n, 0, size, err,
	    kube_resource_name(res) };

	return kube_api_pages(k, res, ns, selector, fields, collect_item, &c,
	    rv, rvlen, err);
}

/* Jobs, or Services decoded as far as a Job's metadata goes. */
static int
job_list_of(struct kube_api *k, enum kube_resource res, const char *ns,
    const char *selector, struct kube_job_list *out, struct err *err)
{
	void *items = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = collect(k, res, ns, selector, NULL, &items, &out->n,
	    sizeof(*out->items), out->resource_version,
	    sizeof(out->resource_version), err);
	out->items = items;
	if (rc < 0)
		kube_job_list_release(out);
	return rc;
}

int
kube_api_job_list(struct kube_api *k, const char *ns, const char *selector,
    struct kube_job_list *out, struct err *err)
{
	return job_list_of(k, KUBE_RES_JOBS, ns, selector, out, err);
}

int
kube_api_service_list(struct kube_api *k, const char *ns,
    const char *selector, struct kube_job_list *out, struct err *err)
{
	return job_list_of(k, KUBE_RES_SERVICES, ns, selector, out, err);
}

int
kube_api_pod_list(struct kube_api *k, const char *ns, const char *selector,
    struct kube_pod_list *out, struct err *err)
{
	void *items = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = collect(k, KUBE_RES_PODS, ns, selector, NULL, &items, &out->n,
	    sizeof(*out->items), out->resource_version,
	    sizeof(out->resource_version), err);
	out->items = items;
	if (rc < 0)
		kube_pod_list_release(out);
	return rc;
}

void
kube_job_list_release(struct kube_job_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void
kube_pod_list_release(struct kube_pod_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void
kube_event_list_release(struct kube_event_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static int
event_cmp(const void *a, const void *b)
{
	const struct kube_event *x = a, *y = b;

	return (x->last_ms > y->last_ms) - (x->last_ms < y->last_ms);
}

int
kube_api_event_list(struct kube_api *k, const char *ns, const char *kind,
    const char *name, struct kube_event_list *out, struct err *err)
{
	struct buf fields;
	void *items = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&fields, LIM_KUBE_SELECTOR);
	if ((rc = kube_check_name("object", name, err)) < 0)
		goto out;
	if (buf_printf(&fields, "involvedObject.name=%s", name) < 0 ||
	    (kind != NULL && buf_printf(&fields, ",involvedObject.kind=%s",
	    kind) < 0)) {
		rc = err_set(err, ERR_TOOBIG, "selector too long");
		goto out;
	}
	rc = collect(k, KUBE_RES_EVENTS, ns, NULL, fields.data, &items,
	    &out->n, sizeof(*out->items), NULL, 0, err);
	out->items = items;
	if (rc == 0 && out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), event_cmp);
out:
	if (rc < 0)
		kube_event_list_release(out);
	buf_release(&fields);
	return rc;
}

/* ---- logs and pending reasons ------------------------------------------ */

int
kube_api_log_path(const char *ns, const char *pod, const char *container,
    int follow, size_t limit, struct buf *out, struct err *err)
{
	int rc;

	if ((rc = kube_check_name("namespace", ns, err)) < 0 ||
	    (rc = kube_check_name("pod", pod, err)) < 0 ||
	    (container != NULL && (rc = kube_check_name("container",
	    container, err)) < 0))
		return rc;
	if (buf_printf(out, "/api/v1/namespaces/%s/pods/%s/log?", ns, pod) < 0 ||
	    (container != NULL && buf_printf(out, "container=%s&",
	    container) < 0) ||
	    (follow && buf_puts(out, "follow=true&") < 0) ||
	    (limit > 0 && buf_printf(out, "limitBytes=%zu&", limit) < 0))
		return err_set(err, ERR_TOOBIG, "request path too long");
	out->data[--out->len] = '\0';	/* the last '&' or '?' */
	return 0;
}

int
kube_api_pod_log(struct kube_api *k, const char *ns, const char *pod,
    const char *container, struct buf *out, struct err *err)
{
	struct buf path;
	struct kreq r;
	size_t room = out->max > out->len ? out->max - out->len : 0;
	int rc;

	ns = kube_api_ns(k, ns);
	if (room > LIM_STAGE_LOG)
		room = LIM_STAGE_LOG;
	if (room == 0)
		return 0;
	buf_init(&path, LIM_URL);
	if ((rc = kube_api_log_path(ns, pod, container, 0, room, &path,
	    err)) < 0)
		goto out;
	kube_api_req_init(&r, "GET", KUBE_VERB_GET, KUBE_RES_PODS_LOG,
	    path.data, out);
	/* a log may be large: more time than a small answer gets */
	r.timeout_ms = 10 * k->opts.request_timeout_ms;
	snprintf(r.what, sizeof(r.what), "get log of pod '%.63s' in namespace "
	    "'%s'", pod, ns);
	rc = kube_api_do(k, &r, err);
out:
	buf_release(&path);
	return rc;
}

int
kube_api_job_pending_reason(struct kube_api *k, const char *ns,
    const char *job, char *out, size_t outlen, struct err *err)
{
	struct kube_pod_list pods;
	struct kube_event_list evs;
	const struct kube_pod *p = NULL;
	char sel[300];
	const char *kind = "Job", *name = job;
	size_t i;
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	memset(&evs, 0, sizeof(evs));
	if ((rc = kube_check_name("job", job, err)) < 0)
		return rc;
	snprintf(sel, sizeof(sel), "job-name=%s", job);
	if ((rc = kube_api_pod_list(k, ns, sel, &pods, err)) < 0)
		return rc;
	/* the newest pod that has not finished */
	for (i = 0; i < pods.n; i++) {
		const struct kube_pod *q = &pods.items[i];

		if (q->phase == KUBE_POD_SUCCEEDED || q->phase == KUBE_POD_FAILED ||
		    q->deleting)
			continue;
		if (p == NULL || q->created_ms >= p->created_ms)
			p = q;
	}
	if (p != NULL && p->scheduled == 0 && p->sched_message[0] != '\0') {
		kube_fld(out, outlen, p->sched_message);
		goto out;
	}
	if (p != NULL && p->waiting_reason[0] != '\0' &&
	    strcmp(p->waiting_reason, "ContainerCreating") != 0 &&
	    strcmp(p->waiting_reason, "PodInitializing") != 0) {
		snprintf(out, outlen, "%s%s%s", p->waiting_reason,
		    p->waiting_message[0] ? ": " : "", p->waiting_message);
		goto out;
	}
	if (p != NULL) {
		kind = "Pod";
		name = p->name;
	}
	if ((rc = kube_api_event_list(k, ns, kind, name, &evs, err)) < 0)
		goto out;
	for (i = evs.n; i > 0; i--) {
		if (strcmp(evs.items[i - 1].type, "Warning") == 0) {
			snprintf(out, outlen, "%s: %s", evs.items[i - 1].reason,
			    evs.items[i - 1].message);
			break;
		}
	}
out:
	kube_event_list_release(&evs);
	kube_pod_list_release(&pods);
	return rc;
}
