/*
 * kube_api.c - the Kubernetes API client; see kube_api.h.
 *
 * One request goes: rate limit (token bucket) -> a curl handle from the
 * pool -> credentials (token re-read if its file changed) -> perform ->
 * classify the answer -> maybe back off and go again.  Handles are kept
 * (never curl_easy_cleanup'd until the client is freed) because a curl easy
 * handle keeps its connection alive between transfers; sharing one
 * connection cache between threads is not supported by libcurl, so a pool
 * of handles is the pool of connections.  DNS and TLS sessions are shared
 * through a share handle with locks.
 *
 * Streams (watches, followed logs) use a multi handle of their own so that
 * another thread can wake them with curl_multi_wakeup and stop them at
 * once, mid-stream.
 *
 * jansson is used here only: answers are decoded into struct kube_job,
 * kube_pod and kube_event, and error answers (Status objects) into a
 * message.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/version.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

#define DEF_RETRY_BUDGET_MS	30000
#define DEF_TIMEOUT_MS		30000
#define DEF_CONNECT_MS		10000
#define DEF_CONNECTIONS		8
#define MAX_CONNECTIONS		64
#define BACKOFF_BASE_MS		250
#define BACKOFF_MAX_MS		8000
#define RETRY_AFTER_MAX_MS	(3600 * 1000)
#define TOKEN_REREAD_MS		60000
#define LIST_PAGE		500
#define ERRBODY_MAX		(64 * 1024)

struct kube_api {
	/* credentials, copied from the kube_auth */
	char		*server;
	char		*namespace;
	char		*user;		/* for messages */
	char		*ca, *cert, *key;
	size_t		 ca_len, cert_len, key_len;
	char		*static_token;
	char		*token_file;
	char		*proxy;
	int		 insecure;

	struct kube_api_opts	 opts;
	struct kube_clock	 real_clock;
	const struct kube_clock	*clock;

	CURLSH		*share;
	pthread_mutex_t	 share_mu[CURL_LOCK_DATA_LAST];

	pthread_mutex_t	 pool_mu;
	pthread_cond_t	 pool_cv;
	CURL		*pool[MAX_CONNECTIONS];
	int		 npool;		/* idle handles in pool[] */
	int		 nhandles;	/* handles made */

	pthread_mutex_t	 bucket_mu;
	double		 tokens;
	int64_t		 bucket_ms;
	int		 writers_waiting;

	pthread_mutex_t	 token_mu;
	struct buf	 token;		/* current bearer token */
	int		 token_loaded;
	struct timespec	 token_mtime;
	off_t		 token_size;
	ino_t		 token_ino;
	int64_t		 token_read_ms;

	pthread_mutex_t	 stats_mu;
	struct kube_api_stats stats;
	int		 auth_code;	/* 0 or ERR_UNAUTHORIZED/FORBIDDEN/.. */
	char		 auth_msg[512];
	uint64_t	 rng;
};

/* One request and its answer. */
struct kreq {
	const char	*method;	/* GET POST DELETE */
	enum kube_verb	 verb;
	enum kube_resource res;
	const char	*path;		/* from the server root, with query */
	const char	*body;
	size_t		 body_len;
	int64_t		 timeout_ms;	/* 0: opts.request_timeout_ms */
	char		 what[300];	/* "create job 'x' in namespace 'y'" */

	struct buf	*resp;		/* a 2xx answer's body goes here */
	size_t		 resp_start;	/* resp->len before the request */
	struct buf	 errbody;	/* any other answer's body */
	int		 toobig;
	long		 status;
	int64_t		 retry_after_ms;	/* -1: none */
	char		 errbuf[CURL_ERROR_SIZE];

	/* streams */
	CURL		*easy;
	int		(*data)(void *arg, const char *p, size_t n);
	void		*data_arg;
	int		 cb_stopped;
	int		 got_data;
	int64_t		 last_data_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- names, clock, small helpers ----------------------------------- */

static const char *const verb_names[KUBE_VERB_N] = {
	"get", "list", "watch", "create", "delete"
};
static const char *const res_names[KUBE_RES_N] = {
	"jobs", "pods", "pods/log", "events"
};

static const char *const answer_names[KUBE_ANSWER_N] = {
	"0", "200", "201", "400", "401", "403", "404", "409", "410", "422",
	"429", "500", "502", "503", "504", "2xx", "3xx", "4xx", "5xx"
};

const char *
kube_answer_name(int i)
{
	return i >= 0 && i < KUBE_ANSWER_N ? answer_names[i] : "unknown";
}

/* The bucket of an HTTP status (0: no answer); see kube_api.h. */
static int
answer_index(long status)
{
	int i;

	for (i = 0; i < KUBE_ANSWER_N - 4; i++) {
		if (strtol(answer_names[i], NULL, 10) == status)
			return i;
	}
	if (status >= 200 && status < 600)
		return KUBE_ANSWER_N - 4 + (int)(status / 100 - 2);
	return 0;
}

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

static int64_t
real_now_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
real_sleep_ms(void *arg, int64_t ms)
{
	struct timespec ts;

	(void)arg;
	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int64_t
kube_api_now_ms(struct kube_api *k)
{
	return k->clock->now_ms(k->clock->arg);
}

void
kube_api_sleep_ms(struct kube_api *k, int64_t ms)
{
	k->clock->sleep_ms(k->clock->arg, ms);
}

int
kube_api_has_clock(const struct kube_api *k)
{
	return k->clock != &k->real_clock;
}

const char *
kube_api_namespace(const struct kube_api *k)
{
	return k->namespace;
}

/* Copy src into a fixed field; truncation is acceptable for display. */
static void
fld(char *dst, size_t n, const char *src)
{
	if (str_copy(dst, n, src != NULL ? src : "") < 0) {
		/* truncated: fine for names we only show */
	}
}

static uint64_t
rand_next(struct kube_api *k)
{
	uint64_t x;

	pthread_mutex_lock(&k->stats_mu);
	x = k->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	k->rng = x;
	pthread_mutex_unlock(&k->stats_mu);
	return x;
}

/* Full jitter in [base/2, base] for attempt n (1, 2, ...). */
static int64_t
backoff_ms(struct kube_api *k, int attempt)
{
	int64_t base = BACKOFF_BASE_MS;
	int i;

	for (i = 1; i < attempt && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	return base / 2 + (int64_t)(rand_next(k) % (uint64_t)(base / 2 + 1));
}

/* A DNS-1123 name or namespace: nothing that could bend a URL path. */
static int
check_name(const char *what, const char *s, struct err *err)
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

static const char *
ns_or_default(struct kube_api *k, const char *ns)
{
	return ns != NULL && ns[0] != '\0' ? ns : k->namespace;
}

int
kube_api_jobs_path(struct kube_api *k, const char *ns, struct buf *out,
    struct err *err)
{
	int rc;

	ns = ns_or_default(k, ns);
	if ((rc = check_name("namespace", ns, err)) < 0)
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

	ns = ns_or_default(k, ns);
	if ((rc = check_name("namespace", ns, err)) < 0)
		return rc;
	if (buf_printf(out, "/api/v1/namespaces/%s/pods", ns) < 0)
		return err_set(err, ERR_TOOBIG, "request path too long");
	return 0;
}

/* ---- time ------------------------------------------------------------ */

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

/* ---- JSON decoding ---------------------------------------------------- */

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
			fld(l->key, sizeof(l->key), key);
			fld(l->value, sizeof(l->value), json_string_value(v));
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
	fld(j->name, sizeof(j->name), name);
	fld(j->namespace, sizeof(j->namespace), jstr(md, "namespace"));
	fld(j->uid, sizeof(j->uid), jstr(md, "uid"));
	fld(j->resource_version, sizeof(j->resource_version),
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
		fld(j->reason, sizeof(j->reason), jstr(c, "reason"));
		fld(j->message, sizeof(j->message), jstr(c, "message"));
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
		fld(j->reason, sizeof(j->reason), "Suspended");
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
	fld(p->name, sizeof(p->name), name);
	fld(p->namespace, sizeof(p->namespace), jstr(md, "namespace"));
	fld(p->resource_version, sizeof(p->resource_version),
	    jstr(md, "resourceVersion"));
	labels = jobj(md, "labels");
	jn = jstr(labels, "batch.kubernetes.io/job-name");
	fld(p->job_name, sizeof(p->job_name),
	    jn != NULL ? jn : jstr(labels, "job-name"));
	fld(p->node, sizeof(p->node), jstr(jobj(o, "spec"), "nodeName"));
	p->created_ms = parse_time(jstr(md, "creationTimestamp"));
	p->deleting = jstr(md, "deletionTimestamp") != NULL;
	p->started_ms = parse_time(jstr(st, "startTime"));
	fld(p->reason, sizeof(p->reason), jstr(st, "reason"));
	fld(p->message, sizeof(p->message), jstr(st, "message"));
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
		fld(p->sched_reason, sizeof(p->sched_reason), jstr(c, "reason"));
		fld(p->sched_message, sizeof(p->sched_message),
		    jstr(c, "message"));
	}
	cs = json_object_get(st, "containerStatuses");
	if (json_is_array(cs) && json_array_size(cs) > 0) {
		json_t *s0 = json_array_get(cs, 0), *t;

		state = jobj(s0, "state");
		if ((t = jobj(state, "waiting")) != NULL) {
			fld(p->waiting_reason, sizeof(p->waiting_reason),
			    jstr(t, "reason"));
			fld(p->waiting_message, sizeof(p->waiting_message),
			    jstr(t, "message"));
		}
		if ((t = jobj(state, "terminated")) != NULL) {
			json_t *ec = json_object_get(t, "exitCode");

			if (json_is_integer(ec))
				p->exit_code = (int)json_integer_value(ec);
			fld(p->term_reason, sizeof(p->term_reason),
			    jstr(t, "reason"));
			fld(p->term_message, sizeof(p->term_message),
			    jstr(t, "message"));
			p->finished_ms = parse_time(jstr(t, "finishedAt"));
		}
	}
	return 0;
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
	fld(e->type, sizeof(e->type), jstr(o, "type"));
	fld(e->reason, sizeof(e->reason), jstr(o, "reason"));
	fld(e->message, sizeof(e->message), jstr(o, "message"));
	fld(e->object_kind, sizeof(e->object_kind), jstr(io, "kind"));
	fld(e->object_name, sizeof(e->object_name), jstr(io, "name"));
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

/*
 * The message of an error answer: a Status object's causes joined
 * ("field: message; ..."), else its message, else the start of the body.
 */
static void
answer_message(const char *body, size_t len, char *reason, size_t rlen,
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
		fld(reason, rlen, jstr(o, "reason"));
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
			fld(msg, mlen, b.data);
		else
			fld(msg, mlen, jstr(o, "message"));
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

/* ---- the token bucket -------------------------------------------------- */

static void
bucket_take(struct kube_api *k, int write)
{
	double need, deficit, reserve;
	int64_t now, wait, waited = 0;
	int registered = 0;

	if (k->opts.qps <= 0)
		return;
	reserve = k->opts.burst >= 4 ? (double)(k->opts.burst / 4) : 0;
	pthread_mutex_lock(&k->bucket_mu);
	for (;;) {
		now = kube_api_now_ms(k);
		if (now > k->bucket_ms) {
			k->tokens += (double)(now - k->bucket_ms) * k->opts.qps /
			    1000.0;
			if (k->tokens > k->opts.burst)
				k->tokens = k->opts.burst;
			k->bucket_ms = now;
		}
		need = write ? 1.0 : 1.0 + reserve;
		if (k->tokens >= need - 1e-9 &&
		    (write || k->writers_waiting == 0)) {
			k->tokens -= 1.0;
			break;
		}
		if (write && !registered) {
			k->writers_waiting++;
			registered = 1;
		}
		deficit = need - k->tokens;
		if (deficit < 1.0)
			deficit = 1.0;	/* a reader behind a writer */
		wait = (int64_t)ceil(deficit * 1000.0 / k->opts.qps - 1e-6);
		if (wait < 1)
			wait = 1;
		pthread_mutex_unlock(&k->bucket_mu);
		kube_api_sleep_ms(k, wait);
		waited += wait;
		pthread_mutex_lock(&k->bucket_mu);
	}
	if (registered)
		k->writers_waiting--;
	pthread_mutex_unlock(&k->bucket_mu);
	if (waited > 0) {
		pthread_mutex_lock(&k->stats_mu);
		k->stats.throttled++;
		k->stats.throttled_ms += waited;
		pthread_mutex_unlock(&k->stats_mu);
	}
}

/* ---- credentials -------------------------------------------------------- */

/*
 * Copy the bearer token to use now into out (empty: none).  A token file
 * is re-read when it changed on disk, after TOKEN_REREAD_MS, or when
 * force is set (after a 401); a failed re-read keeps the last token.
 */
static int
token_get(struct kube_api *k, struct buf *out, int force, struct err *err)
{
	struct stat st;
	int64_t now;
	int changed, rc = 0;

	buf_reset(out);
	if (k->token_file == NULL) {
		if (k->static_token != NULL &&
		    buf_puts(out, k->static_token) < 0)
			return err_set(err, ERR_TOOBIG, "token too long");
		return 0;
	}
	pthread_mutex_lock(&k->token_mu);
	now = real_now_ms(NULL);
	changed = stat(k->token_file, &st) == 0 &&
	    (st.st_mtim.tv_sec != k->token_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != k->token_mtime.tv_nsec ||
	    st.st_size != k->token_size || st.st_ino != k->token_ino);
	if (!k->token_loaded || force || changed ||
	    now - k->token_read_ms >= TOKEN_REREAD_MS) {
		struct err e2;

		err_clear(&e2);
		rc = kube_auth_read_token(k->token_file, &k->token, &e2);
		if (rc == 0) {
			if (k->token_loaded) {
				pthread_mutex_lock(&k->stats_mu);
				k->stats.token_reloads++;
				pthread_mutex_unlock(&k->stats_mu);
			}
			k->token_loaded = 1;
			k->token_read_ms = now;
			if (stat(k->token_file, &st) == 0) {
				k->token_mtime = st.st_mtim;
				k->token_size = st.st_size;
				k->token_ino = st.st_ino;
			}
		} else if (k->token_loaded) {
			log_warn("kubernetes token file unreadable, keeping the "
			    "last token", "file=%s error=\"%s\"", k->token_file,
			    e2.msg);
			rc = 0;
		} else {
			rc = err_set(err, rc, "%s", e2.msg);
		}
	}
	if (rc == 0 && k->token_loaded && buf_append(out, k->token.data,
	    k->token.len) < 0)
		rc = err_set(err, ERR_TOOBIG, "token too long");
	pthread_mutex_unlock(&k->token_mu);
	return rc;
}

/* ---- curl plumbing -------------------------------------------------------- */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct kube_api *k = arg;

	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&k->share_mu[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct kube_api *k = arg;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&k->share_mu[data]);
}

static CURL *
pool_get(struct kube_api *k)
{
	CURL *h = NULL;

	pthread_mutex_lock(&k->pool_mu);
	for (;;) {
		if (k->npool > 0) {
			h = k->pool[--k->npool];
			break;
		}
		if (k->nhandles < k->opts.max_connections) {
			if ((h = curl_easy_init()) != NULL)
				k->nhandles++;
			break;
		}
		pthread_cond_wait(&k->pool_cv, &k->pool_mu);
	}
	pthread_mutex_unlock(&k->pool_mu);
	return h;
}

static void
pool_put(struct kube_api *k, CURL *h)
{
	pthread_mutex_lock(&k->pool_mu);
	k->pool[k->npool++] = h;
	pthread_cond_signal(&k->pool_cv);
	pthread_mutex_unlock(&k->pool_mu);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	char num[32];
	size_t i = sizeof(name) - 1, j = 0;
	long long v;

	if (len > i && strncasecmp(p, name, i) == 0) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && j < sizeof(num) - 1 &&
		    isdigit((unsigned char)p[i]))
			num[j++] = p[i++];
		num[j] = '\0';
		if (j > 0 && j < 10) {	/* seconds; an HTTP-date is ignored */
			v = strtoll(num, NULL, 10) * 1000;
			r->retry_after_ms = v > RETRY_AFTER_MAX_MS ?
			    RETRY_AFTER_MAX_MS : v;
		}
	}
	return len;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	long code = 0;

	if (r->status == 0) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->status = code;
	}
	/* error answers never count against the caller's buffer */
	if (r->status < 200 || r->status > 299) {
		if (buf_append(&r->errbody, p, len) < 0) {
			/* past the cap: the start is message enough */
		}
		return len;
	}
	if (r->resp == NULL)
		return len;
	if (buf_append(r->resp, p, len) < 0) {
		r->toobig = 1;
		return 0;
	}
	return len;
}

/*
 * Set up h for r: reset, TLS and credentials, method, body, callbacks.
 * *hdrs receives the header list the caller frees after the transfer.
 */
static int
setup(struct kube_api *k, CURL *h, struct kreq *r, int64_t timeout_ms,
    const struct buf *token, struct curl_slist **hdrs, struct err *err)
{
	struct curl_blob blob;
	struct curl_slist *l = NULL, *t;
	struct buf line, url;
	int rc = 0;

	*hdrs = NULL;
	curl_easy_reset(h);
	buf_init(&url, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&line, LIM_KUBE_TOKEN + 64);
	if (buf_printf(&url, "%s%s", k->server, r->path) < 0) {
		rc = err_set(err, ERR_TOOBIG, "%s: request URL too long",
		    r->what);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, k->share);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)k->opts.connect_timeout_ms);
	if (timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (k->ca != NULL) {
		/* only this CA: not the system store as well */
		blob.data = k->ca;
		blob.len = k->ca_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	if (k->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (k->cert != NULL) {
		blob.data = k->cert;
		blob.len = k->cert_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = k->key;
		blob.len = k->key_len;
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (k->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, k->proxy);
	if ((t = curl_slist_append(l, "Accept: application/json")) == NULL)
		goto nomem;
	l = t;
	if ((t = curl_slist_append(l, "Expect:")) == NULL)
		goto nomem;
	l = t;
	if (token->len > 0) {
		if (buf_printf(&line, "Authorization: Bearer %s",
		    token->data) < 0) {
			rc = err_set(err, ERR_TOOBIG, "token too long");
			goto out;
		}
		t = curl_slist_append(l, line.data);
		explicit_bzero(line.data, line.alloc);
		if (t == NULL)
			goto nomem;
		l = t;
	}
	if (r->body != NULL) {
		if ((t = curl_slist_append(l,
		    "Content-Type: application/json")) == NULL)
			goto nomem;
		l = t;
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	}
	if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	*hdrs = l;
	l = NULL;
	goto out;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	curl_slist_free_all(l);
	if (line.data != NULL)
		explicit_bzero(line.data, line.alloc);
	buf_release(&line);
	buf_release(&url);
	return rc;
}

static void
count_request(struct kube_api *k, const struct kreq *r)
{
	pthread_mutex_lock(&k->stats_mu);
	k->stats.requests[r->verb][r->res]++;
	pthread_mutex_unlock(&k->stats_mu);
}

/* Count the status a request got (0: none came). */
static void
count_answer(struct kube_api *k, enum kube_verb verb, enum kube_resource res,
    long status)
{
	pthread_mutex_lock(&k->stats_mu);
	k->stats.answers[verb][res][answer_index(status)]++;
	pthread_mutex_unlock(&k->stats_mu);
}

static void
set_ready(struct kube_api *k, int code, const char *msg)
{
	int was;

	pthread_mutex_lock(&k->stats_mu);
	was = k->auth_code;
	k->auth_code = code;
	fld(k->auth_msg, sizeof(k->auth_msg), msg != NULL ? msg : "");
	pthread_mutex_unlock(&k->stats_mu);
	if (code != 0 && was != code)
		log_error("kubernetes API refused sluice", "server=%s error=\"%s\"",
		    k->server, msg);
	else if (code == 0 && was != 0)
		log_info("kubernetes API accepts sluice again", "server=%s",
		    k->server);
}

int
kube_api_ready(struct kube_api *k, struct err *err)
{
	int code;

	pthread_mutex_lock(&k->stats_mu);
	code = k->auth_code;
	if (code != 0)
		err_set(err, code, "%s", k->auth_msg);
	pthread_mutex_unlock(&k->stats_mu);
	return code;
}

void
kube_api_stats(struct kube_api *k, struct kube_api_stats *out)
{
	pthread_mutex_lock(&k->stats_mu);
	*out = k->stats;
	pthread_mutex_unlock(&k->stats_mu);
}

static int
tls_verify_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	    cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	    cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_CRL_BADFILE;
}

enum verdict { V_OK, V_RETRY, V_FAIL, V_REAUTH };

/*
 * Turn a finished request into a verdict and, unless V_OK, a message in
 * err: transport errors and answers by status.
 */
static enum verdict
classify(struct kube_api *k, struct kreq *r, CURLcode cc, struct err *err)
{
	char reason[64], msg[ERR_MSG_MAX - 400];
	const char *body = r->errbody.data ? r->errbody.data : "";
	size_t blen = r->errbody.len;
	int code;

	if (cc != CURLE_OK) {
		const char *detail = r->errbuf[0] ? r->errbuf :
		    curl_easy_strerror(cc);

		if (r->toobig) {
			err_set(err, ERR_TOOBIG, "%s: the answer is larger than "
			    "%zu bytes", r->what, r->resp ? r->resp->max : 0);
			return V_FAIL;
		}
		if (tls_verify_error(cc)) {
			err_set(err, ERR_GENERIC, "%s: TLS with the kubernetes "
			    "API at '%s' failed: %s (check the %s)", r->what,
			    k->server, detail, cc == CURLE_SSL_CERTPROBLEM ?
			    "client certificate and key" :
			    "cluster's certificate-authority");
			set_ready(k, ERR_GENERIC, err->msg);
			return V_FAIL;
		}
		if (cc == CURLE_SSL_CONNECT_ERROR)
			err_set(err, ERR_TRANSIENT, "%s: TLS handshake with the "
			    "kubernetes API at '%s' failed: %s", r->what,
			    k->server, detail);
		else
			err_set(err, ERR_TRANSIENT, "%s: cannot reach the "
			    "kubernetes API at '%s': %s", r->what, k->server,
			    detail);
		return V_RETRY;
	}
	if (r->status >= 200 && r->status < 300) {
		set_ready(k, 0, NULL);
		return V_OK;
	}
	answer_message(body, blen, reason, sizeof(reason), msg, sizeof(msg));
	if (reason[0] == '\0')
		fld(reason, sizeof(reason), "error");
	switch (r->status) {
	case 401:
		err_set(err, ERR_UNAUTHORIZED, "%s: the kubernetes API at '%s' "
		    "refused the credentials (401 %s): check the token or "
		    "client certificate%s%s%s", r->what, k->server, msg,
		    k->user ? " of user '" : "", k->user ? k->user : "",
		    k->user ? "'" : "");
		return V_REAUTH;
	case 403:
		err_set(err, ERR_FORBIDDEN, "%s: forbidden (403): %s; grant "
		    "sluice's service account the Role in deploy/", r->what,
		    msg);
		set_ready(k, ERR_FORBIDDEN, err->msg);
		return V_FAIL;
	default:
		break;
	}
	set_ready(k, 0, NULL);
	switch (r->status) {
	case 400:
	case 422:
		code = ERR_INVALID;
		break;
	case 404:
		code = ERR_NOTFOUND;
		break;
	case 409:
		code = ERR_CONFLICT;
		break;
	case 410:
		code = ERR_TRANSIENT;
		break;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		err_set(err, ERR_TRANSIENT, "%s: %ld %s: %s", r->what,
		    r->status, reason, msg);
		return V_RETRY;
	default:
		code = ERR_GENERIC;
		break;
	}
	err_set(err, code, "%s: %ld %s: %s", r->what, r->status, reason, msg);
	return V_FAIL;
}

/* Perform r with rate limiting and retries; see kube_api.h. */
static int
do_request(struct kube_api *k, struct kreq *r, struct err *err)
{
	struct buf token;
	struct curl_slist *hdrs = NULL;
	struct err le;
	int64_t start = kube_api_now_ms(k), wait, elapsed;
	int attempt = 0, reauthed = 0, force_token = 0, rc = 0;
	enum verdict v;
	CURLcode cc;
	CURL *h;
	long status;
	int write = r->verb == KUBE_VERB_CREATE || r->verb == KUBE_VERB_DELETE;

	buf_init(&token, LIM_KUBE_TOKEN);
	err_clear(&le);
	r->resp_start = r->resp->len;
	for (;;) {
		attempt++;
		bucket_take(k, write);
		if ((rc = token_get(k, &token, force_token, &le)) < 0)
			break;
		force_token = 0;
		if ((h = pool_get(k)) == NULL) {
			rc = err_set(&le, ERR_GENERIC, "cannot make a curl handle");
			break;
		}
		r->status = 0;
		r->retry_after_ms = -1;
		r->toobig = 0;
		r->errbuf[0] = '\0';
		r->easy = h;
		buf_reset(&r->errbody);
		r->resp->len = r->resp_start;
		if (r->resp->data != NULL)
			r->resp->data[r->resp_start] = '\0';
		if ((rc = setup(k, h, r, r->timeout_ms > 0 ? r->timeout_ms :
		    k->opts.request_timeout_ms, &token, &hdrs, &le)) < 0) {
			pool_put(k, h);
			break;
		}
		count_request(k, r);
		cc = curl_easy_perform(h);
		status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
		count_answer(k, r->verb, r->res, status);
		/* the handle keeps the connection; the request's data goes */
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		pool_put(k, h);

		v = classify(k, r, cc, &le);
		if (v == V_OK) {
			rc = 0;
			break;
		}
		rc = le.code ? le.code : ERR_GENERIC;
		if (v == V_REAUTH) {
			if (k->token_file != NULL && !reauthed) {
				/* the token may have just rotated */
				reauthed = 1;
				force_token = 1;
				continue;
			}
			set_ready(k, ERR_UNAUTHORIZED, le.msg);
			break;
		}
		if (v == V_FAIL)
			break;
		/* V_RETRY */
		wait = r->retry_after_ms >= 0 ? r->retry_after_ms :
		    backoff_ms(k, attempt);
		elapsed = kube_api_now_ms(k) - start;
		if (elapsed + wait > k->opts.retry_budget_ms) {
			if (r->retry_after_ms >= 0 && attempt == 1)
				err_prefix(&le, "the kubernetes API asked to "
				    "retry after %llds, past the retry budget",
				    (long long)(r->retry_after_ms / 1000));
			else
				err_prefix(&le, "gave up after %d attempts "
				    "in %llds", attempt,
				    (long long)(elapsed / 1000));
			rc = ERR_TRANSIENT;
			break;
		}
		log_debug("kubernetes API retry", "what=\"%s\" attempt=%d "
		    "wait_ms=%lld error=\"%s\"", r->what, attempt,
		    (long long)wait, le.msg);
		pthread_mutex_lock(&k->stats_mu);
		k->stats.retries++;
		pthread_mutex_unlock(&k->stats_mu);
		kube_api_sleep_ms(k, wait);
	}
	if (rc < 0) {
		err_set(err, rc, "%s", le.msg);
		pthread_mutex_lock(&k->stats_mu);
		k->stats.failures[r->verb][r->res]++;
		pthread_mutex_unlock(&k->stats_mu);
		/* leave the caller's buffer as it was */
		r->resp->len = r->resp_start;
		if (r->resp->data != NULL)
			r->resp->data[r->resp_start] = '\0';
	}
	if (token.data != NULL)
		explicit_bzero(token.data, token.alloc);
	buf_release(&token);
	buf_release(&r->errbody);
	return rc;
}

/* ---- the client ------------------------------------------------------------ */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static char *
dup_mem(const char *p, size_t n)
{
	char *s;

	if (p == NULL)
		return NULL;
	s = xcalloc(1, n + 1);
	memcpy(s, p, n);
	return s;
}

static void
wipe(char *s, size_t n)
{
	if (s != NULL) {
		explicit_bzero(s, n);
		free(s);
	}
}

void
kube_api_free(struct kube_api *k)
{
	int i;

	if (k == NULL)
		return;
	for (i = 0; i < k->npool; i++)
		curl_easy_cleanup(k->pool[i]);
	if (k->share != NULL)
		curl_share_cleanup(k->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&k->share_mu[i]);
	pthread_mutex_destroy(&k->pool_mu);
	pthread_cond_destroy(&k->pool_cv);
	pthread_mutex_destroy(&k->bucket_mu);
	pthread_mutex_destroy(&k->token_mu);
	pthread_mutex_destroy(&k->stats_mu);
	free(k->server);
	free(k->namespace);
	free(k->user);
	free(k->ca);
	free(k->cert);
	wipe(k->key, k->key_len);
	if (k->static_token != NULL)
		wipe(k->static_token, strlen(k->static_token));
	free(k->token_file);
	free(k->proxy);
	if (k->token.data != NULL)
		explicit_bzero(k->token.data, k->token.alloc);
	buf_release(&k->token);
	free(k);
}

int
kube_api_new(struct kube_api **out, const struct kube_auth *auth,
    const struct kube_api_opts *opts, struct err *err)
{
	struct kube_api *k;
	int i;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(err, ERR_GENERIC, "libcurl: %s",
		    curl_easy_strerror(curl_init_rc));
	if (auth == NULL || auth->server == NULL || auth->namespace == NULL)
		return err_set(err, ERR_INVALID, "kubernetes access incomplete");
	k = xcalloc(1, sizeof(*k));
	if (opts != NULL)
		k->opts = *opts;
	if (k->opts.burst < 1)
		k->opts.burst = 1;
	if (k->opts.retry_budget_ms <= 0)
		k->opts.retry_budget_ms = DEF_RETRY_BUDGET_MS;
	if (k->opts.request_timeout_ms <= 0)
		k->opts.request_timeout_ms = DEF_TIMEOUT_MS;
	if (k->opts.connect_timeout_ms <= 0)
		k->opts.connect_timeout_ms = DEF_CONNECT_MS;
	if (k->opts.max_connections <= 0)
		k->opts.max_connections = DEF_CONNECTIONS;
	if (k->opts.list_page_size <= 0)
		k->opts.list_page_size = LIST_PAGE;
	if (k->opts.max_connections > MAX_CONNECTIONS)
		k->opts.max_connections = MAX_CONNECTIONS;
	k->real_clock.now_ms = real_now_ms;
	k->real_clock.sleep_ms = real_sleep_ms;
	k->clock = k->opts.clock != NULL ? k->opts.clock : &k->real_clock;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&k->share_mu[i], NULL);
	pthread_mutex_init(&k->pool_mu, NULL);
	pthread_cond_init(&k->pool_cv, NULL);
	pthread_mutex_init(&k->bucket_mu, NULL);
	pthread_mutex_init(&k->token_mu, NULL);
	pthread_mutex_init(&k->stats_mu, NULL);
	buf_init(&k->token, LIM_KUBE_TOKEN);
	k->server = xstrdup(auth->server);
	k->namespace = xstrdup(auth->namespace);
	k->user = dup_or_null(auth->user);
	k->ca = dup_mem(auth->ca.data, auth->ca.len);
	k->ca_len = auth->ca.len;
	k->cert = dup_mem(auth->cert.data, auth->cert.len);
	k->cert_len = auth->cert.len;
	k->key = dup_mem(auth->key.data, auth->key.len);
	k->key_len = auth->key.len;
	k->static_token = dup_or_null(auth->token);
	k->token_file = dup_or_null(auth->token_file);
	k->proxy = dup_or_null(auth->proxy);
	k->insecure = auth->insecure;
	k->tokens = k->opts.burst;
	k->bucket_ms = kube_api_now_ms(k);
	k->rng = (uint64_t)real_now_ms(NULL) * 2654435761u ^
	    (uint64_t)getpid() ^ (uint64_t)(uintptr_t)k;
	if (k->rng == 0)
		k->rng = 88172645463325252ull;
	if ((k->share = curl_share_init()) == NULL) {
		kube_api_free(k);
		return err_set(err, ERR_GENERIC, "libcurl: no share handle");
	}
	curl_share_setopt(k->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(k->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(k->share, CURLSHOPT_USERDATA, k);
	curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (k->insecure)
		log_warn("kubernetes TLS verification disabled", "server=%s "
		    "reason=insecure-skip-tls-verify", k->server);
	*out = k;
	return 0;
}

/* ---- calls ------------------------------------------------------------------ */

static void
req_init(struct kreq *r, const char *method, enum kube_verb verb,
    enum kube_resource res, const char *path, struct buf *resp)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->verb = verb;
	r->res = res;
	r->path = path;
	r->resp = resp;
	r->retry_after_ms = -1;
	buf_init(&r->errbody, ERRBODY_MAX);
}

static int
load_answer(struct kreq *r, json_t **out, struct err *err)
{
	json_error_t je;

	*out = json_loadb(r->resp->data + r->resp_start,
	    r->resp->len - r->resp_start, 0, &je);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return err_set(err, ERR_INVALID,
		    "%s: the kubernetes API answered something that is not a "
		    "JSON object: %s", r->what, je.text);
	}
	return 0;
}

int
kube_api_job_create(struct kube_api *k, const char *ns, const char *json,
    size_t len, struct kube_job *out, struct err *err)
{
	struct buf path, resp;
	struct kreq r;
	json_t *o = NULL;
	int rc;

	ns = ns_or_default(k, ns);
	buf_init(&path, LIM_URL);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = kube_api_jobs_path(k, ns, &path, err)) < 0)
		goto out;
	req_init(&r, "POST", KUBE_VERB_CREATE, KUBE_RES_JOBS, path.data,
	    &resp);
	r.body = json;
	r.body_len = len;
	snprintf(r.what, sizeof(r.what), "create job in namespace '%s'", ns);
	{
		/* name the Job in messages when the manifest says it */
		json_error_t je;
		json_t *m = json_loadb(json, len, 0, &je);
		const char *name = jstr(jobj(m, "metadata"), "name");

		if (name != NULL)
			snprintf(r.what, sizeof(r.what),
			    "create job '%.63s' in namespace '%s'", name, ns);
		json_decref(m);
	}
	if ((rc = do_request(k, &r, err)) < 0)
		goto out;
	if (out != NULL) {
		if ((rc = load_answer(&r, &o, err)) < 0)
			goto out;
		rc = decode_job(o, out, err);
	}
out:
	json_decref(o);
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

int
kube_api_job_get(struct kube_api *k, const char *ns, const char *name,
    struct kube_job *out, struct err *err)
{
	struct buf path, resp;
	struct kreq r;
	json_t *o = NULL;
	int rc;

	ns = ns_or_default(k, ns);
	buf_init(&path, LIM_URL);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = check_name("job", name, err)) < 0 ||
	    (rc = kube_api_jobs_path(k, ns, &path, err)) < 0)
		goto out;
	if (buf_printf(&path, "/%s", name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	req_init(&r, "GET", KUBE_VERB_GET, KUBE_RES_JOBS, path.data, &resp);
	snprintf(r.what, sizeof(r.what), "get job '%.63s' in namespace '%s'",
	    name, ns);
	if ((rc = do_request(k, &r, err)) < 0 ||
	    (rc = load_answer(&r, &o, err)) < 0)
		goto out;
	rc = decode_job(o, out, err);
out:
	json_decref(o);
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

int
kube_api_job_delete(struct kube_api *k, const char *ns, const char *name,
    struct err *err)
{
	static const char body[] = "{\"kind\":\"DeleteOptions\","
	    "\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}";
	struct buf path, resp;
	struct kreq r;
	int rc;

	ns = ns_or_default(k, ns);
	buf_init(&path, LIM_URL);
	buf_init(&resp, LIM_KUBE_OBJECT);
	if ((rc = check_name("job", name, err)) < 0 ||
	    (rc = kube_api_jobs_path(k, ns, &path, err)) < 0)
		goto out;
	if (buf_printf(&path, "/%s", name) < 0) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	req_init(&r, "DELETE", KUBE_VERB_DELETE, KUBE_RES_JOBS, path.data,
	    &resp);
	r.body = body;
	r.body_len = sizeof(body) - 1;
	snprintf(r.what, sizeof(r.what),
	    "delete job '%.63s' in namespace '%s'", name, ns);
	rc = do_request(k, &r, err);
out:
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

/*
 * GET a list (path already has its query, ending in '?' or '&'), page by
 * page, calling item for each element of items.
 */
static int
list_pages(struct kube_api *k, const char *base, enum kube_resource res,
    const char *what, int (*item)(void *arg, json_t *o), void *arg,
    char *rv, size_t rvlen, struct err *err)
{
	struct buf path, resp;
	struct kreq r;
	json_t *o = NULL, *items;
	char *cont = NULL;
	size_t i, total = 0;
	int rc = 0;

	buf_init(&path, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&resp, LIM_KUBE_RESPONSE);
	if (rv != NULL && rvlen > 0)
		rv[0] = '\0';
	do {
		buf_reset(&path);
		buf_reset(&resp);
		if (buf_printf(&path, "%slimit=%d", base,
		    k->opts.list_page_size) < 0 ||
		    (cont != NULL && (buf_puts(&path, "&continue=") < 0 ||
		    kube_api_query_escape(&path, cont) < 0))) {
			rc = err_set(err, ERR_TOOBIG, "request path too long");
			break;
		}
		free(cont);
		cont = NULL;
		req_init(&r, "GET", KUBE_VERB_LIST, res, path.data, &resp);
		fld(r.what, sizeof(r.what), what);
		if ((rc = do_request(k, &r, err)) < 0 ||
		    (rc = load_answer(&r, &o, err)) < 0)
			break;
		items = json_object_get(o, "items");
		if (!json_is_array(items) && !json_is_null(items) &&
		    items != NULL) {
			rc = err_set(err, ERR_INVALID, "%s: items is not a list",
			    what);
			break;
		}
		for (i = 0; json_is_array(items) && i < json_array_size(items);
		    i++) {
			if (++total > LIM_KUBE_LIST_ITEMS) {
				rc = err_set(err, ERR_TOOBIG,
				    "%s: more than %d items", what,
				    LIM_KUBE_LIST_ITEMS);
				break;
			}
			if ((rc = item(arg, json_array_get(items, i))) != 0)
				break;
		}
		if (rc != 0)
			break;
		if (rv != NULL && jstr(jobj(o, "metadata"), "resourceVersion"))
			fld(rv, rvlen, jstr(jobj(o, "metadata"),
			    "resourceVersion"));
		if (jstr(jobj(o, "metadata"), "continue") != NULL &&
		    jstr(jobj(o, "metadata"), "continue")[0] != '\0')
			cont = xstrdup(jstr(jobj(o, "metadata"), "continue"));
		json_decref(o);
		o = NULL;
	} while (cont != NULL);
	json_decref(o);
	free(cont);
	buf_release(&path);
	buf_release(&resp);
	return rc;
}

static int
list_base(struct kube_api *k, const char *prefix, const char *ns,
    const char *plural, const char *selector, const char *fields,
    struct buf *out, struct err *err)
{
	int rc;

	ns = ns_or_default(k, ns);
	if ((rc = check_name("namespace", ns, err)) < 0)
		return rc;
	if ((selector != NULL && strlen(selector) > LIM_KUBE_SELECTOR) ||
	    (fields != NULL && strlen(fields) > LIM_KUBE_SELECTOR))
		return err_set(err, ERR_TOOBIG, "selector too long");
	if (buf_printf(out, "%s/namespaces/%s/%s?", prefix, ns, plural) < 0)
		goto toobig;
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

struct job_pages_ctx {
	int		(*item)(void *arg, const struct kube_job *j);
	void		*arg;
	struct err	*err;
	struct kube_job	 job;
};

static int
job_page_item(void *arg, json_t *o)
{
	struct job_pages_ctx *c = arg;
	int rc;

	if ((rc = decode_job(o, &c->job, c->err)) < 0)
		return rc;
	return c->item(c->arg, &c->job);
}

int
kube_api_job_pages(struct kube_api *k, const char *ns, const char *selector,
    int (*item)(void *arg, const struct kube_job *j), void *arg, char *rv,
    size_t rvlen, struct err *err)
{
	struct job_pages_ctx *c;
	struct buf base;
	char what[200];
	int rc;

	buf_init(&base, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	c = xcalloc(1, sizeof(*c));	/* struct kube_job is large */
	c->item = item;
	c->arg = arg;
	c->err = err;
	if ((rc = list_base(k, "/apis/batch/v1", ns, "jobs", selector, NULL,
	    &base, err)) == 0) {
		snprintf(what, sizeof(what), "list jobs in namespace '%s'",
		    ns_or_default(k, ns));
		rc = list_pages(k, base.data, KUBE_RES_JOBS, what, job_page_item,
		    c, rv, rvlen, err);
	}
	free(c);
	buf_release(&base);
	return rc;
}

struct pod_pages_ctx {
	int		(*item)(void *arg, const struct kube_pod *p);
	void		*arg;
	struct err	*err;
	struct kube_pod	 pod;
};

static int
pod_page_item(void *arg, json_t *o)
{
	struct pod_pages_ctx *c = arg;
	int rc;

	if ((rc = decode_pod(o, &c->pod, c->err)) < 0)
		return rc;
	return c->item(c->arg, &c->pod);
}

int
kube_api_pod_pages(struct kube_api *k, const char *ns, const char *selector,
    int (*item)(void *arg, const struct kube_pod *p), void *arg, char *rv,
    size_t rvlen, struct err *err)
{
	struct pod_pages_ctx *c;
	struct buf base;
	char what[200];
	int rc;

	buf_init(&base, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	c = xcalloc(1, sizeof(*c));
	c->item = item;
	c->arg = arg;
	c->err = err;
	if ((rc = list_base(k, "/api/v1", ns, "pods", selector, NULL,
	    &base, err)) == 0) {
		snprintf(what, sizeof(what), "list pods in namespace '%s'",
		    ns_or_default(k, ns));
		rc = list_pages(k, base.data, KUBE_RES_PODS, what, pod_page_item,
		    c, rv, rvlen, err);
	}
	free(c);
	buf_release(&base);
	return rc;
}

static int
grow(void **items, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (__builtin_mul_overflow(ncap, size, &(size_t){ 0 }))
		return ERR_TOOBIG;
	if ((p = realloc(*items, ncap * size)) == NULL)
		return ERR_NOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

struct job_list_ctx {
	struct kube_job_list	*l;
	size_t			 cap;
};

static int
job_list_item(void *arg, const struct kube_job *j)
{
	struct job_list_ctx *c = arg;
	void *items = c->l->items;
	int rc;

	if ((rc = grow(&items, c->l->n, &c->cap, sizeof(*j))) < 0)
		return rc;
	c->l->items = items;
	c->l->items[c->l->n++] = *j;
	return 0;
}

int
kube_api_job_list(struct kube_api *k, const char *ns, const char *selector,
    struct kube_job_list *out, struct err *err)
{
	struct job_list_ctx c;
	int rc;

	memset(out, 0, sizeof(*out));
	c.l = out;
	c.cap = 0;
	rc = kube_api_job_pages(k, ns, selector, job_list_item, &c,
	    out->resource_version, sizeof(out->resource_version), err);
	if (rc == ERR_NOMEM || rc == ERR_TOOBIG)
		err_set(err, rc, "list jobs: %s", rc == ERR_NOMEM ?
		    "out of memory" : "too many");
	if (rc < 0)
		kube_job_list_release(out);
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

struct pod_list_ctx {
	struct kube_pod_list	*l;
	size_t			 cap;
	struct err		*err;
};

static int
pod_list_item(void *arg, json_t *o)
{
	struct pod_list_ctx *c = arg;
	void *items = c->l->items;
	int rc;

	if ((rc = grow(&items, c->l->n, &c->cap, sizeof(struct kube_pod))) < 0)
		return err_set(c->err, rc, "list pods: too many");
	c->l->items = items;
	if ((rc = decode_pod(o, &c->l->items[c->l->n], c->err)) < 0)
		return rc;
	c->l->n++;
	return 0;
}

int
kube_api_pod_list(struct kube_api *k, const char *ns, const char *selector,
    struct kube_pod_list *out, struct err *err)
{
	struct pod_list_ctx c;
	struct buf base;
	char what[200];
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&base, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	c.l = out;
	c.cap = 0;
	c.err = err;
	if ((rc = list_base(k, "/api/v1", ns, "pods", selector, NULL, &base,
	    err)) == 0) {
		snprintf(what, sizeof(what), "list pods in namespace '%s'",
		    ns_or_default(k, ns));
		rc = list_pages(k, base.data, KUBE_RES_PODS, what,
		    pod_list_item, &c, out->resource_version,
		    sizeof(out->resource_version), err);
	}
	if (rc < 0)
		kube_pod_list_release(out);
	buf_release(&base);
	return rc;
}

struct event_list_ctx {
	struct kube_event_list	*l;
	size_t			 cap;
	struct err		*err;
};

static int
event_list_item(void *arg, json_t *o)
{
	struct event_list_ctx *c = arg;
	void *items = c->l->items;
	int rc;

	if ((rc = grow(&items, c->l->n, &c->cap, sizeof(struct kube_event))) <
	    0)
		return err_set(c->err, rc, "list events: too many");
	c->l->items = items;
	if (decode_event(o, &c->l->items[c->l->n]) == 0)
		c->l->n++;
	return 0;
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
	struct event_list_ctx c;
	struct buf base, fields;
	char what[200];
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&base, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&fields, LIM_KUBE_SELECTOR);
	c.l = out;
	c.cap = 0;
	c.err = err;
	if ((rc = check_name("object", name, err)) < 0)
		goto out;
	if (buf_printf(&fields, "involvedObject.name=%s", name) < 0 ||
	    (kind != NULL && buf_printf(&fields, ",involvedObject.kind=%s",
	    kind) < 0)) {
		rc = err_set(err, ERR_TOOBIG, "selector too long");
		goto out;
	}
	if ((rc = list_base(k, "/api/v1", ns, "events", NULL, fields.data,
	    &base, err)) < 0)
		goto out;
	snprintf(what, sizeof(what), "list events of '%.63s' in namespace '%s'",
	    name, ns_or_default(k, ns));
	rc = list_pages(k, base.data, KUBE_RES_EVENTS, what, event_list_item,
	    &c, NULL, 0, err);
	if (rc == 0 && out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), event_cmp);
out:
	if (rc < 0)
		kube_event_list_release(out);
	buf_release(&base);
	buf_release(&fields);
	return rc;
}

static int
log_path(struct kube_api *k, const char *ns, const char *pod,
    const char *container, int follow, size_t limit, struct buf *out,
    struct err *err)
{
	int rc;

	if ((rc = check_name("namespace", ns, err)) < 0 ||
	    (rc = check_name("pod", pod, err)) < 0 ||
	    (container != NULL && (rc = check_name("container", container,
	    err)) < 0))
		return rc;
	(void)k;
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

	ns = ns_or_default(k, ns);
	if (room > LIM_STAGE_LOG)
		room = LIM_STAGE_LOG;
	if (room == 0)
		return 0;
	buf_init(&path, LIM_URL);
	if ((rc = log_path(k, ns, pod, container, 0, room, &path, err)) < 0)
		goto out;
	req_init(&r, "GET", KUBE_VERB_GET, KUBE_RES_PODS_LOG, path.data, out);
	/* a log may be large: more time than a small answer gets */
	r.timeout_ms = 10 * k->opts.request_timeout_ms;
	snprintf(r.what, sizeof(r.what), "get log of pod '%.63s' in namespace "
	    "'%s'", pod, ns);
	rc = do_request(k, &r, err);
out:
	buf_release(&path);
	return rc;
}

/* ---- streams ------------------------------------------------------------------- */

struct kube_stream {
	struct kube_api	*k;
	CURLM		*multi;
	CURL		*easy;
	atomic_int	 stop;
};

int
kube_stream_new(struct kube_stream **out, struct kube_api *k,
    struct err *err)
{
	struct kube_stream *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	s->k = k;
	atomic_init(&s->stop, 0);
	if ((s->multi = curl_multi_init()) == NULL ||
	    (s->easy = curl_easy_init()) == NULL) {
		kube_stream_free(s);
		return err_set(err, ERR_GENERIC, "libcurl: no stream handle");
	}
	*out = s;
	return 0;
}

void
kube_stream_free(struct kube_stream *s)
{
	if (s == NULL)
		return;
	if (s->easy != NULL)
		curl_easy_cleanup(s->easy);
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	free(s);
}

void
kube_stream_stop(struct kube_stream *s)
{
	atomic_store(&s->stop, 1);
	curl_multi_wakeup(s->multi);
}

int
kube_stream_stopped(struct kube_stream *s)
{
	return atomic_load(&s->stop);
}

static size_t
on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	long code = 0;

	if (r->status == 0) {
		/* the first bytes of the body: is it the stream or an error? */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->status = code;
	}
	if (r->status != 200)
		return on_body(p, size, n, r);
	r->got_data = 1;
	r->last_data_ms = real_now_ms(NULL);
	if (r->data(r->data_arg, p, len) != 0) {
		r->cb_stopped = 1;
		return 0;
	}
	return len;
}

int
kube_stream_get(struct kube_stream *s, enum kube_verb verb,
    enum kube_resource res, const char *path, int64_t timeout_ms,
    int (*data)(void *arg, const char *p, size_t n), int (*idle)(void *arg),
    void *arg, long *status, int *got_data, struct err *err)
{
	struct kube_api *k = s->k;
	struct buf token;
	struct curl_slist *hdrs = NULL;
	struct kreq r;
	struct err le;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	int running = 1, left, rc = 0, stopped = 0;
	long code = 0;

	*status = 0;
	*got_data = 0;
	if (atomic_load(&s->stop))
		return 0;
	buf_init(&token, LIM_KUBE_TOKEN);
	req_init(&r, "GET", verb, res, path, NULL);
	snprintf(r.what, sizeof(r.what), "%s %s", kube_verb_name(verb),
	    kube_resource_name(res));
	err_clear(&le);
	r.easy = s->easy;
	r.data = data;
	r.data_arg = arg;
	r.last_data_ms = real_now_ms(NULL);
	bucket_take(k, 0);
	if ((rc = token_get(k, &token, 0, &le)) < 0 ||
	    (rc = setup(k, s->easy, &r, timeout_ms, &token, &hdrs, &le)) < 0)
		goto out;
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &r);
	count_request(k, &r);
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
		rc = err_set(&le, ERR_GENERIC, "libcurl: cannot add a stream");
		goto out;
	}
	while (running) {
		if (curl_multi_perform(s->multi, &running) != CURLM_OK)
			break;
		if (!running)
			break;
		if (atomic_load(&s->stop)) {
			stopped = 1;
			break;
		}
		if (curl_multi_poll(s->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		if (atomic_load(&s->stop)) {
			stopped = 1;
			break;
		}
		if (idle != NULL &&
		    real_now_ms(NULL) - r.last_data_ms >= 1000) {
			r.last_data_ms = real_now_ms(NULL);
			if (idle(arg) != 0) {
				stopped = 1;
				break;
			}
		}
	}
	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			cc = msg->data.result;
	}
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(s->multi, s->easy);
	count_answer(k, verb, res, code);
	*status = code;
	*got_data = r.got_data;
	r.status = code;
	if (stopped || r.cb_stopped) {
		rc = 0;
		goto out;
	}
	if (cc == CURLE_OK && code == 200) {
		rc = 0;	/* the server ended the stream */
		goto out;
	}
	switch (classify(k, &r, cc, &le)) {
	case V_OK:
		rc = 0;
		break;
	case V_REAUTH:
		set_ready(k, ERR_UNAUTHORIZED, le.msg);
		rc = ERR_UNAUTHORIZED;
		break;
	default:
		rc = le.code ? le.code : ERR_GENERIC;
		if (cc != CURLE_OK && r.got_data)
			rc = err_set(&le, ERR_TRANSIENT, "%s: the stream broke: "
			    "%s", r.what, r.errbuf[0] ? r.errbuf :
			    curl_easy_strerror(cc));
		break;
	}
out:
	if (rc < 0) {
		err_set(err, rc, "%s", le.msg);
		pthread_mutex_lock(&k->stats_mu);
		k->stats.failures[verb][res]++;
		pthread_mutex_unlock(&k->stats_mu);
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	if (token.data != NULL)
		explicit_bzero(token.data, token.alloc);
	buf_release(&token);
	buf_release(&r.errbody);
	return rc;
}

struct follow_ctx {
	int	(*cb)(void *arg, const char *data, size_t len);
	void	*arg;
};

static int
follow_data(void *arg, const char *p, size_t n)
{
	struct follow_ctx *c = arg;

	return c->cb(c->arg, p, n);
}

static int
follow_idle(void *arg)
{
	struct follow_ctx *c = arg;

	return c->cb(c->arg, NULL, 0);
}

int
kube_api_pod_log_follow(struct kube_api *k, const char *ns, const char *pod,
    const char *container, int (*cb)(void *arg, const char *data,
    size_t len), void *arg, struct err *err)
{
	struct kube_stream *s = NULL;
	struct follow_ctx c = { cb, arg };
	struct buf path;
	int64_t start, wait;
	int rc, attempt = 0, got;
	long status;

	ns = ns_or_default(k, ns);
	buf_init(&path, LIM_URL);
	if ((rc = log_path(k, ns, pod, container, 1, 0, &path, err)) < 0 ||
	    (rc = kube_stream_new(&s, k, err)) < 0)
		goto out;
	start = kube_api_now_ms(k);
	for (;;) {
		attempt++;
		rc = kube_stream_get(s, KUBE_VERB_GET, KUBE_RES_PODS_LOG,
		    path.data, 0, follow_data, follow_idle, &c, &status, &got,
		    err);
		/* retry only what failed before any log arrived */
		if (rc != ERR_TRANSIENT || got || status == 410)
			break;
		wait = backoff_ms(k, attempt);
		if (kube_api_now_ms(k) - start + wait >
		    k->opts.retry_budget_ms)
			break;
		kube_api_sleep_ms(k, wait);
	}
	if (rc < 0)
		err_prefix(err, "follow log of pod '%.63s' in namespace '%s'",
		    pod, ns);
out:
	kube_stream_free(s);
	buf_release(&path);
	return rc;
}

/* ---- pending reasons and watch decoding ---------------------------------------- */

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
	if ((rc = check_name("job", job, err)) < 0)
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
		fld(out, outlen, p->sched_message);
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
	fld(m->resource_version, sizeof(m->resource_version),
	    jstr(jobj(obj, "metadata"), "resourceVersion"));
	if (strcmp(type, "ERROR") == 0) {
		m->type = KUBE_MSG_ERROR;
		m->code = jint(obj, "code", 0);
		fld(m->message, sizeof(m->message), jstr(obj, "message"));
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
	else
		rc = decode_job(obj, &m->job, err);
out:
	json_decref(o);
	return rc;
}
