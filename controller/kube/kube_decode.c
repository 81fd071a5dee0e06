/*
 * kube_decode.c - the Kubernetes API's JSON answers into our own structs:
 * Jobs, pods, events, Kueue Workloads and API groups, list pages (items,
 * resourceVersion, continue token), watch event lines and error answers
 * (Status objects); see kube_api_int.h.
 *
 * jansson is used here only; nothing else in kube/ sees a json_t.
 * Anything the API answers is checked: a missing or mistyped field is
 * left empty or becomes ERR_INVALID, never a crash.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/caps.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

/* ---- time ----------------------------------------------------------- */

static int
digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339 ("2024-05-01T10:00:00Z", fractions, offsets) to unix ms. */
static int64_t
parse_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se, oh, om, ms = 0, scale = 100;
	const char *p;
	int64_t t;

	if (s == NULL || strlen(s) < 19 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return 0;
	if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 ||
	    digits(s + 8, 2, &d) < 0 || digits(s + 11, 2, &h) < 0 ||
	    digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &se) < 0)
		return 0;
	p = s + 19;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = (int64_t)timegm(&tm);
	if (*p == '+' || *p == '-') {
		if (strlen(p) < 6 || digits(p + 1, 2, &oh) < 0 ||
		    digits(p + 4, 2, &om) < 0)
			return 0;
		t += (*p == '+' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
	} else if (*p != 'Z' && *p != 'z') {
		return 0;
	}
	return t * 1000 + ms;
}

/* ---- objects -------------------------------------------------------- */

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *
jobj(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_object(v) ? v : NULL;
}

static int
jint(json_t *o, const char *key, int def)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return def;
	if (json_integer_value(v) > INT32_MAX || json_integer_value(v) < 0)
		return def;
	return (int)json_integer_value(v);
}

static int
label_first(const char *key)
{
	return strncmp(key, "sluice/", 7) == 0 ||
	    strncmp(key, "app.kubernetes.io/", 18) == 0 ||
	    strncmp(key, "kueue.x-k8s.io/", 15) == 0;
}

static void
decode_labels(json_t *labels, struct kube_job *j)
{
	const char *key;
	json_t *v;
	int pass;

	j->nlabels = 0;
	if (!json_is_object(labels))
		return;
	/* ours first, so that many foreign labels never push them out */
	for (pass = 0; pass < 2; pass++) {
		json_object_foreach(labels, key, v) {
			struct kube_label *l;

			if (label_first(key) != (pass == 0) || !json_is_string(v))
				continue;
			if (j->nlabels >= KUBE_LABELS_MAX ||
			    strlen(key) >= sizeof(l->key) ||
			    strlen(json_string_value(v)) >= sizeof(l->value))
				continue;
			l = &j->labels[j->nlabels++];
			kube_fld(l->key, sizeof(l->key), key);
			kube_fld(l->value, sizeof(l->value), json_string_value(v));
		}
	}
}

static int
decode_job(json_t *o, struct kube_job *j, struct err *err)
{
	json_t *md, *spec, *st, *conds, *c, *ready;
	const char *winner = NULL, *name;
	static const char *const order[] = { "Failed", "Complete",
		"FailureTarget", "SuccessCriteriaMet", "Suspended" };
	json_t *found[5] = { NULL, NULL, NULL, NULL, NULL };
	size_t i, w;

	memset(j, 0, sizeof(*j));
	if (!json_is_object(o) || (md = jobj(o, "metadata")) == NULL ||
	    (name = jstr(md, "name")) == NULL)
		return err_set(err, ERR_INVALID,
		    "kubernetes API answered a Job without metadata.name");
	spec = jobj(o, "spec");
	st = jobj(o, "status");
	kube_fld(j->name, sizeof(j->name), name);
	kube_fld(j->namespace, sizeof(j->namespace), jstr(md, "namespace"));
	kube_fld(j->uid, sizeof(j->uid), jstr(md, "uid"));
	kube_fld(j->resource_version, sizeof(j->resource_version),
	    jstr(md, "resourceVersion"));
	decode_labels(json_object_get(md, "labels"), j);
	j->created_ms = parse_time(jstr(md, "creationTimestamp"));
	j->deleting = jstr(md, "deletionTimestamp") != NULL;
	j->suspend = json_is_true(json_object_get(spec, "suspend"));
	j->active = jint(st, "active", 0);
	j->succeeded = jint(st, "succeeded", 0);
	j->failed = jint(st, "failed", 0);
	ready = json_object_get(st, "ready");
	j->ready = jint(st, "ready", 0);
	j->started_ms = parse_time(jstr(st, "startTime"));
	j->finished_ms = parse_time(jstr(st, "completionTime"));
	if (json_is_integer(json_object_get(spec, "activeDeadlineSeconds")))
		j->active_deadline_s = json_integer_value(json_object_get(spec,
		    "activeDeadlineSeconds"));

	conds = json_object_get(st, "conditions");
	for (i = 0; json_is_array(conds) && i < json_array_size(conds); i++) {
		const char *type, *status;

		c = json_array_get(conds, i);
		type = jstr(c, "type");
		status = jstr(c, "status");
		if (type == NULL || status == NULL || strcmp(status, "True"))
			continue;
		for (w = 0; w < 5; w++) {
			if (strcmp(type, order[w]) == 0)
				found[w] = c;
		}
	}
	for (w = 0; w < 5 && winner == NULL; w++) {
		if (found[w] != NULL)
			winner = order[w];
	}
	if (winner != NULL) {
		c = found[w - 1];
		kube_fld(j->reason, sizeof(j->reason), jstr(c, "reason"));
		kube_fld(j->message, sizeof(j->message), jstr(c, "message"));
		if (w - 1 <= 3 && j->finished_ms == 0)	/* not Suspended */
			j->finished_ms = parse_time(jstr(c,
			    "lastTransitionTime"));
		if (strcmp(winner, "Failed") == 0 ||
		    strcmp(winner, "FailureTarget") == 0)
			j->state = KUBE_JOB_FAILED;
		else if (strcmp(winner, "Suspended") == 0)
			j->state = KUBE_JOB_SUSPENDED;
		else
			j->state = KUBE_JOB_SUCCEEDED;
	} else if (j->suspend) {
		j->state = KUBE_JOB_SUSPENDED;
		kube_fld(j->reason, sizeof(j->reason), "Suspended");
	} else if (j->ready > 0 || (ready == NULL && j->active > 0)) {
		/* without status.ready (old clusters) active is all we have */
		j->state = KUBE_JOB_RUNNING;
	} else {
		j->state = KUBE_JOB_PENDING;
	}
	if (j->state != KUBE_JOB_SUCCEEDED && j->state != KUBE_JOB_FAILED)
		j->finished_ms = 0;
	return 0;
}

/* Whether container c limits an nvidia.com/ resource (a GPU or MIG slice). */
static int
wants_nvidia(json_t *c)
{
	json_t *lim = jobj(jobj(c, "resources"), "limits"), *v;
	const char *key;

	json_object_foreach(lim, key, v) {
		if (strncmp(key, "nvidia.com/", 11) == 0 &&
		    !(json_is_string(v) && strcmp(json_string_value(v),
		    "0") == 0) &&
		    !(json_is_integer(v) && json_integer_value(v) == 0))
			return 1;
	}
	return 0;
}

static int
decode_node(json_t *o, struct kube_node *n, struct err *err)
{
	json_t *md;
	const char *name;

	memset(n, 0, sizeof(*n));
	if (!json_is_object(o) || (md = jobj(o, "metadata")) == NULL ||
	    (name = jstr(md, "name")) == NULL)
		return err_set(err, ERR_INVALID,
		    "kubernetes API answered a Node without metadata.name");
	kube_fld(n->name, sizeof(n->name), name);
	kube_fld(n->gpu_product, sizeof(n->gpu_product),
	    jstr(jobj(md, "labels"), "nvidia.com/gpu.product"));
	return 0;
}

/*
 * The completion index of an Indexed Job's pod: the annotation the Job
 * controller always sets, else the label of newer clusters; -1 when
 * neither holds a small decimal number.
 */
static int
completion_index(json_t *md)
{
	static const char key[] = "batch.kubernetes.io/job-completion-index";
	const char *s = jstr(jobj(md, "annotations"), key);
	long v = 0;
	size_t i;

	if (s == NULL)
		s = jstr(jobj(md, "labels"), key);
	if (s == NULL || s[0] == '\0' || strlen(s) > 9)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return (int)v;
}

static int
decode_pod(json_t *o, struct kube_pod *p, struct err *err)
{
	json_t *md, *st, *conds, *c, *cs, *state, *labels;
	const char *phase, *name, *jn;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->exit_code = -1;
	p->scheduled = -1;
	if (!json_is_object(o) || (md = jobj(o, "metadata")) == NULL ||
	    (name = jstr(md, "name")) == NULL)
		return err_set(err, ERR_INVALID,
		    "kubernetes API answered a Pod without metadata.name");
	st = jobj(o, "status");
	kube_fld(p->name, sizeof(p->name), name);
	kube_fld(p->namespace, sizeof(p->namespace), jstr(md, "namespace"));
	kube_fld(p->resource_version, sizeof(p->resource_version),
	    jstr(md, "resourceVersion"));
	labels = jobj(md, "labels");
	jn = jstr(labels, "batch.kubernetes.io/job-name");
	kube_fld(p->job_name, sizeof(p->job_name),
	    jn != NULL ? jn : jstr(labels, "job-name"));
	kube_fld(p->node, sizeof(p->node), jstr(jobj(o, "spec"), "nodeName"));
	p->completion_index = completion_index(md);
	p->created_ms = parse_time(jstr(md, "creationTimestamp"));
	p->deleting = jstr(md, "deletionTimestamp") != NULL;
	p->started_ms = parse_time(jstr(st, "startTime"));
	kube_fld(p->reason, sizeof(p->reason), jstr(st, "reason"));
	kube_fld(p->message, sizeof(p->message), jstr(st, "message"));
	phase = jstr(st, "phase");
	if (phase == NULL || strcmp(phase, "Pending") == 0)
		p->phase = KUBE_POD_PENDING;
	else if (strcmp(phase, "Running") == 0)
		p->phase = KUBE_POD_RUNNING;
	else if (strcmp(phase, "Succeeded") == 0)
		p->phase = KUBE_POD_SUCCEEDED;
	else if (strcmp(phase, "Failed") == 0)
		p->phase = KUBE_POD_FAILED;
	else
		p->phase = KUBE_POD_UNKNOWN;
	conds = json_object_get(st, "conditions");
	for (i = 0; json_is_array(conds) && i < json_array_size(conds); i++) {
		const char *type, *status;

		c = json_array_get(conds, i);
		type = jstr(c, "type");
		status = jstr(c, "status");
		if (type == NULL || strcmp(type, "PodScheduled") != 0)
			continue;
		p->scheduled = status != NULL && strcmp(status, "True") == 0;
		kube_fld(p->sched_reason, sizeof(p->sched_reason), jstr(c, "reason"));
		kube_fld(p->sched_message, sizeof(p->sched_message),
		    jstr(c, "message"));
	}
	p->nvidia = wants_nvidia(json_array_get(json_object_get(jobj(o,
	    "spec"), "containers"), 0));
	cs = json_object_get(st, "containerStatuses");
	if (json_is_array(cs) && json_array_size(cs) > 0) {
		json_t *s0 = json_array_get(cs, 0), *t;

		kube_fld(p->image_id, sizeof(p->image_id), jstr(s0, "imageID"));
		state = jobj(s0, "state");
		if ((t = jobj(state, "running")) != NULL)
			p->c_started_ms = parse_time(jstr(t, "startedAt"));
		if ((t = jobj(state, "waiting")) != NULL) {
			kube_fld(p->waiting_reason, sizeof(p->waiting_reason),
			    jstr(t, "reason"));
			kube_fld(p->waiting_message, sizeof(p->waiting_message),
			    jstr(t, "message"));
		}
		if ((t = jobj(state, "terminated")) != NULL) {
			json_t *ec = json_object_get(t, "exitCode");

			if (json_is_integer(ec))
				p->exit_code = (int)json_integer_value(ec);
			kube_fld(p->term_reason, sizeof(p->term_reason),
			    jstr(t, "reason"));
			kube_fld(p->term_message, sizeof(p->term_message),
			    jstr(t, "message"));
			p->finished_ms = parse_time(jstr(t, "finishedAt"));
			p->c_started_ms = parse_time(jstr(t, "startedAt"));
		}
	}
	return 0;
}

/* Add name to a ","-joined list unless it is there; cut when full. */
static void
add_unique(char *list, size_t len, const char *name)
{
	size_t n = strlen(name), at = 0, l = strlen(list);

	while (at < l) {
		const char *end = strchr(list + at, ',');
		size_t w = end != NULL ? (size_t)(end - list - at) : l - at;

		if (w == n && strncmp(list + at, name, n) == 0)
			return;
		at += w + 1;
	}
	if (l + (l > 0) + n + 1 > len)
		return;
	if (l > 0)
		list[l++] = ',';
	memcpy(list + l, name, n + 1);
}

static int
decode_workload(json_t *o, struct kube_workload *w, struct err *err)
{
	json_t *md, *st, *arr, *c, *v, *flavors;
	const char *name, *type, *status, *f;
	size_t i, j;

	memset(w, 0, sizeof(*w));
	w->quota_reserved = w->admitted = w->evicted = w->finished = -1;
	if (!json_is_object(o) || (md = jobj(o, "metadata")) == NULL ||
	    (name = jstr(md, "name")) == NULL)
		return err_set(err, ERR_INVALID, "kubernetes API answered a "
		    "Workload without metadata.name");
	st = jobj(o, "status");
	kube_fld(w->name, sizeof(w->name), name);
	kube_fld(w->namespace, sizeof(w->namespace), jstr(md, "namespace"));
	kube_fld(w->uid, sizeof(w->uid), jstr(md, "uid"));
	kube_fld(w->resource_version, sizeof(w->resource_version),
	    jstr(md, "resourceVersion"));
	kube_fld(w->queue, sizeof(w->queue), jstr(jobj(o, "spec"),
	    "queueName"));
	arr = json_object_get(md, "ownerReferences");
	for (i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
		c = json_array_get(arr, i);
		if ((type = jstr(c, "kind")) == NULL ||
		    strcmp(type, "Job") != 0)
			continue;
		kube_fld(w->job, sizeof(w->job), jstr(c, "name"));
		kube_fld(w->job_uid, sizeof(w->job_uid), jstr(c, "uid"));
		if (json_is_true(json_object_get(c, "controller")))
			break;
	}
	arr = json_object_get(st, "conditions");
	for (i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
		int *flag = NULL;
		int is_true;

		c = json_array_get(arr, i);
		type = jstr(c, "type");
		status = jstr(c, "status");
		if (type == NULL || status == NULL)
			continue;
		is_true = strcmp(status, "True") == 0;
		if (strcmp(type, "QuotaReserved") == 0) {
			flag = &w->quota_reserved;
			kube_fld(w->reserve_reason, sizeof(w->reserve_reason),
			    jstr(c, "reason"));
			kube_fld(w->reserve_message,
			    sizeof(w->reserve_message), jstr(c, "message"));
		} else if (strcmp(type, "Admitted") == 0) {
			flag = &w->admitted;
			if (is_true)
				w->admitted_ms = parse_time(jstr(c,
				    "lastTransitionTime"));
		} else if (strcmp(type, "Evicted") == 0) {
			flag = &w->evicted;
			kube_fld(w->evict_reason, sizeof(w->evict_reason),
			    jstr(c, "reason"));
			kube_fld(w->evict_message, sizeof(w->evict_message),
			    jstr(c, "message"));
		} else if (strcmp(type, "Finished") == 0) {
			flag = &w->finished;
		}
		if (flag != NULL)
			*flag = is_true;
	}
	v = jobj(st, "admission");
	kube_fld(w->cluster_queue, sizeof(w->cluster_queue),
	    jstr(v, "clusterQueue"));
	arr = json_object_get(v, "podSetAssignments");
	for (i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
		const char *res;

		flavors = jobj(json_array_get(arr, i), "flavors");
		json_object_foreach(flavors, res, v) {
			if ((f = json_string_value(v)) != NULL)
				add_unique(w->flavor, sizeof(w->flavor), f);
		}
	}
	arr = json_object_get(jobj(st, "schedulingStats"), "evictions");
	for (j = 0; json_is_array(arr) && j < json_array_size(arr); j++) {
		int n = jint(json_array_get(arr, j), "count", 0);

		if (w->evictions <= INT32_MAX - n)
			w->evictions += n;
	}
	return 0;
}

int
kube_decode_kueue_group(const char *body, size_t len,
    enum kube_kueue_api *out, struct err *err)
{
	json_error_t je;
	json_t *o, *vs;
	const char *v;
	size_t i;
	int rc = 0;

	*out = KUBE_KUEUE_NONE;
	o = json_loadb(body != NULL ? body : "", len, 0, &je);
	vs = json_object_get(o, "versions");
	if (!json_is_object(o) || !json_is_array(vs)) {
		rc = err_set(err, ERR_INVALID, "discovery of kueue.x-k8s.io: "
		    "the kubernetes API answered no APIGroup");
		goto out;
	}
	for (i = 0; i < json_array_size(vs); i++) {
		if ((v = jstr(json_array_get(vs, i), "version")) == NULL)
			continue;
		if (strcmp(v, "v1beta2") == 0)
			*out = KUBE_KUEUE_V1BETA2;
		else if (strcmp(v, "v1beta1") == 0 && *out == KUBE_KUEUE_NONE)
			*out = KUBE_KUEUE_V1BETA1;
	}
out:
	json_decref(o);
	return rc;
}

static int
decode_event(json_t *o, struct kube_event *e)
{
	json_t *io, *series;
	const char *t;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o))
		return ERR_INVALID;
	io = jobj(o, "involvedObject");
	kube_fld(e->type, sizeof(e->type), jstr(o, "type"));
	kube_fld(e->reason, sizeof(e->reason), jstr(o, "reason"));
	kube_fld(e->message, sizeof(e->message), jstr(o, "message"));
	kube_fld(e->object_kind, sizeof(e->object_kind), jstr(io, "kind"));
	kube_fld(e->object_name, sizeof(e->object_name), jstr(io, "name"));
	e->count = jint(o, "count", 0);
	if ((series = jobj(o, "series")) != NULL)
		e->count = jint(series, "count", e->count);
	if (e->count == 0)
		e->count = 1;
	t = jstr(o, "lastTimestamp");
	if (t == NULL)
		t = jstr(o, "eventTime");
	if (t == NULL)
		t = jstr(o, "firstTimestamp");
	if (t == NULL)
		t = jstr(jobj(o, "metadata"), "creationTimestamp");
	e->last_ms = parse_time(t);
	return 0;
}

void
kube_decode_status(const char *body, size_t len, char *reason, size_t rlen,
    char *msg, size_t mlen)
{
	json_t *o, *causes, *c;
	json_error_t je;
	struct buf b;
	size_t i;

	reason[0] = '\0';
	msg[0] = '\0';
	o = json_loadb(body, len, 0, &je);
	if (json_is_object(o)) {
		kube_fld(reason, rlen, jstr(o, "reason"));
		causes = json_object_get(jobj(o, "details"), "causes");
		buf_init(&b, mlen - 1);
		for (i = 0; json_is_array(causes) && i < json_array_size(causes);
		    i++) {
			const char *f, *m;

			c = json_array_get(causes, i);
			f = jstr(c, "field");
			m = jstr(c, "message");
			if (m == NULL)
				continue;
			if ((b.len > 0 && buf_puts(&b, "; ") < 0) ||
			    (f != NULL && f[0] != '\0' &&
			    buf_printf(&b, "%s: ", f) < 0) ||
			    buf_puts(&b, m) < 0)
				break;
		}
		if (b.len > 0)
			kube_fld(msg, mlen, b.data);
		else
			kube_fld(msg, mlen, jstr(o, "message"));
		buf_release(&b);
	}
	json_decref(o);
	if (msg[0] == '\0' && len > 0) {
		/* not a Status: the body's start, on one line */
		size_t n = len < mlen - 1 ? len : mlen - 1;

		for (i = 0; i < n; i++)
			msg[i] = isprint((unsigned char)body[i]) ? body[i] : ' ';
		msg[n] = '\0';
	}
}

/* The JSON object of res into out; see kube_api_int.h. */
static int
decode_any(json_t *o, enum kube_resource res, union kube_object *out,
    struct err *err)
{
	switch (res) {
	case KUBE_RES_JOBS:
	case KUBE_RES_SERVICES:	/* its metadata: a Job's without status */
		return decode_job(o, &out->job, err);
	case KUBE_RES_PODS:
		return decode_pod(o, &out->pod, err);
	case KUBE_RES_NODES:
		return decode_node(o, &out->node, err);
	case KUBE_RES_WORKLOADS:
		return decode_workload(o, &out->workload, err);
	case KUBE_RES_EVENTS:
		if (decode_event(o, &out->event) < 0)
			return err_set(err, ERR_INVALID, "kubernetes API "
			    "answered an event that is not an object");
		return 0;
	default:
		break;
	}
	return err_set(err, ERR_INVALID, "cannot decode %s",
	    kube_resource_name(res));
}

/* body[0..len) as a JSON object, or ERR_INVALID naming what. */
static int
load_object(json_t **out, const char *body, size_t len, const char *what,
    struct err *err)
{
	json_error_t je;

	*out = json_loadb(body != NULL ? body : "", len, 0, &je);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return err_set(err, ERR_INVALID,
		    "%s: the kubernetes API answered something that is not a "
		    "JSON object: %s", what, je.text);
	}
	return 0;
}

int
kube_decode_object(const char *body, size_t len, enum kube_resource res,
    const char *what, union kube_object *out, struct err *err)
{
	json_t *o = NULL;
	int rc;

	if ((rc = load_object(&o, body, len, what, err)) == 0)
		rc = decode_any(o, res, out, err);
	json_decref(o);
	return rc;
}

int
kube_decode_page(const char *body, size_t len, enum kube_resource res,
    const char *what, int (*item)(void *arg, const void *obj), void *arg,
    size_t *total, char *rv, size_t rvlen, struct buf *cont,
    struct err *err)
{
	union kube_object *obj = NULL;
	json_t *o = NULL, *items;
	const char *s;
	size_t i;
	int rc;

	buf_reset(cont);
	if ((rc = load_object(&o, body, len, what, err)) < 0)
		goto out;
	items = json_object_get(o, "items");
	if (items != NULL && !json_is_array(items) && !json_is_null(items)) {
		rc = err_set(err, ERR_INVALID, "%s: items is not a list", what);
		goto out;
	}
	obj = xcalloc(1, sizeof(*obj));		/* large: not on the stack */
	for (i = 0; json_is_array(items) && i < json_array_size(items); i++) {
		if (++*total > LIM_KUBE_LIST_ITEMS) {
			rc = err_set(err, ERR_TOOBIG, "%s: more than %d items",
			    what, LIM_KUBE_LIST_ITEMS);
			goto out;
		}
		if ((rc = decode_any(json_array_get(items, i), res, obj,
		    err)) < 0) {
			if (res != KUBE_RES_EVENTS)
				goto out;
			rc = 0;		/* an odd event is only left out */
			continue;
		}
		if ((rc = item(arg, obj)) != 0)
			goto out;
	}
	if (rv != NULL && (s = jstr(jobj(o, "metadata"),
	    "resourceVersion")) != NULL)
		kube_fld(rv, rvlen, s);
	if ((s = jstr(jobj(o, "metadata"), "continue")) != NULL &&
	    buf_puts(cont, s) < 0)
		rc = err_set(err, ERR_TOOBIG, "%s: continue token too long",
		    what);
out:
	free(obj);
	json_decref(o);
	return rc;
}

void
kube_decode_manifest_name(const char *json, size_t len, char *out,
    size_t outlen)
{
	json_error_t je;
	json_t *m = json_loadb(json, len, 0, &je);

	kube_fld(out, outlen, jstr(jobj(m, "metadata"), "name"));
	json_decref(m);
}

/* ---- watch events ---------------------------------------------------- */

int
kube_api_decode_watch(const char *line, size_t len, struct kube_watch_msg *m,
    struct err *err)
{
	return kube_api_decode_watch_of(line, len, KUBE_RES_JOBS, m, err);
}

int
kube_api_decode_watch_of(const char *line, size_t len, enum kube_resource res,
    struct kube_watch_msg *m, struct err *err)
{
	json_error_t je;
	json_t *o, *obj;
	const char *type;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	o = json_loadb(line, len, 0, &je);
	if (!json_is_object(o)) {
		rc = err_set(err, ERR_INVALID, "watch event is not JSON: %s",
		    je.text);
		goto out;
	}
	type = jstr(o, "type");
	obj = jobj(o, "object");
	if (type == NULL || obj == NULL) {
		rc = err_set(err, ERR_INVALID, "watch event without type or "
		    "object");
		goto out;
	}
	kube_fld(m->resource_version, sizeof(m->resource_version),
	    jstr(jobj(obj, "metadata"), "resourceVersion"));
	if (strcmp(type, "ERROR") == 0) {
		m->type = KUBE_MSG_ERROR;
		m->code = jint(obj, "code", 0);
		kube_fld(m->message, sizeof(m->message), jstr(obj, "message"));
		goto out;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		m->type = KUBE_MSG_BOOKMARK;
		goto out;
	}
	if (strcmp(type, "ADDED") == 0)
		m->type = KUBE_MSG_ADDED;
	else if (strcmp(type, "MODIFIED") == 0)
		m->type = KUBE_MSG_MODIFIED;
	else if (strcmp(type, "DELETED") == 0)
		m->type = KUBE_MSG_DELETED;
	else {
		rc = err_set(err, ERR_INVALID, "watch event of unknown type "
		    "'%.32s'", type);
		goto out;
	}
	if (res == KUBE_RES_PODS)
		rc = decode_pod(obj, &m->pod, err);
	else if (res == KUBE_RES_WORKLOADS)
		rc = decode_workload(obj, &m->workload, err);
	else
		rc = decode_job(obj, &m->job, err);
out:
	json_decref(o);
	return rc;
}
