/*
 * kube_watch.c - list-then-watch of Sluice's Jobs; see kube_api.h.
 *
 * The watch keeps the name, resourceVersion and state of every Job it has
 * delivered (a sorted array), so that a re-list after 410 Gone can tell
 * what changed while it was away and deliver exactly that: ADDED for new
 * Jobs, MODIFIED for changed ones, DELETED for ones that vanished.  Between
 * lists it follows the watch stream from the last resourceVersion it saw
 * (an event's or a bookmark's), so a dropped connection resumes where it
 * broke without a list and without missing an update.
 *
 * The same code watches pods (opts.resource KUBE_RES_PODS) and Kueue's
 * Workloads (KUBE_RES_WORKLOADS): only the list call, the path, the
 * decoding and the callback differ; the state it remembers per object is
 * then the pod's phase or the Workload's admission.  A watch of Workloads
 * first asks discovery which version of kueue.x-k8s.io the cluster serves;
 * where Kueue is not installed it says SYNCED once and asks again every
 * KUEUE_RECHECK_MS.
 *
 * One thread per watch; kube_watch_free stops it at once through
 * kube_stream_stop (a curl_multi_wakeup) and a condition variable for the
 * backoff sleeps.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

#define DEFAULT_SELECTOR	"app.kubernetes.io/managed-by=sluice"
#define DEFAULT_TIMEOUT_S	300
#define BACKOFF_BASE_MS		100
#define BACKOFF_MAX_MS		30000
#define KUEUE_RECHECK_MS	(5 * 60 * 1000)	/* no Kueue: ask again */

struct known {
	char			name[KUBE_NAME_MAX];
	char			rv[KUBE_RV_MAX];
	int			state;	/* kube_job_state, kube_pod_phase or
					   wl_state() */
	int			seen;
};

struct kube_watch {
	struct kube_api		*k;
	char			 ns[64];
	char			 selector[LIM_KUBE_SELECTOR + 1];
	int			 timeout_s;
	enum kube_resource	 res;		/* jobs or pods */
	void			(*cb)(void *arg, enum kube_watch_type type,
				    const struct kube_job *job);
	void			(*pod_cb)(void *arg, enum kube_watch_type type,
				    const struct kube_pod *pod);
	void			(*workload_cb)(void *arg,
				    enum kube_watch_type type,
				    const struct kube_workload *wl);
	void			*arg;

	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	atomic_int		 stop;
	struct kube_stream	*stream;

	/* watch thread only */
	struct known		*known;
	size_t			 nknown, cap;
	struct buf		 line;
	char			 rv[KUBE_RV_MAX];
	int			 gone;		/* 410 seen on the stream */
	int			 bad;		/* an undecodable event */
	char			 bad_msg[256];
	struct kube_watch_msg	 msg;
	int			 absent;	/* discovery: no Kueue */
	uint64_t		 rng;

	/* under mu */
	struct kube_watch_stats	 stats;
};

static int
stopping(struct kube_watch *w)
{
	return atomic_load(&w->stop);
}

static void
note(struct kube_watch *w, const char *what, const char *msg)
{
	pthread_mutex_lock(&w->mu);
	snprintf(w->stats.last_error, sizeof(w->stats.last_error), "%s%s%s",
	    what, msg[0] ? ": " : "", msg);
	pthread_mutex_unlock(&w->mu);
	log_warn("kubernetes watch", "namespace=%s resource=%s what=\"%s\" "
	    "error=\"%s\"", w->ns, kube_resource_name(w->res), what, msg);
}

static void
set_rv(struct kube_watch *w, const char *rv)
{
	if (rv == NULL || rv[0] == '\0')
		return;
	if (str_copy(w->rv, sizeof(w->rv), rv) < 0)
		w->rv[0] = '\0';	/* cannot resume from a cut one */
	pthread_mutex_lock(&w->mu);
	memcpy(w->stats.resource_version, w->rv, sizeof(w->rv));
	pthread_mutex_unlock(&w->mu);
}

/* Sleep ms, or less when the watch is stopped. */
static void
pause_ms(struct kube_watch *w, int64_t ms)
{
	struct timespec ts;

	if (kube_api_has_clock(w->k)) {
		kube_api_sleep_ms(w->k, ms);
		return;
	}
	ts = sys_deadline_in(ms);
	pthread_mutex_lock(&w->mu);
	while (!stopping(w) &&
	    pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&w->mu);
}

static int64_t
backoff(struct kube_watch *w, int failures)
{
	int64_t base = BACKOFF_BASE_MS;
	int i;

	for (i = 1; i < failures && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return base / 2 + (int64_t)(w->rng % (uint64_t)(base / 2 + 1));
}

/* ---- what the watch knows ---------------------------------------------- */

static size_t
find(struct kube_watch *w, const char *name, int *found)
{
	size_t lo = 0, hi = w->nknown, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(w->known[mid].name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Record an object; return 1 when it is new, 0 when known, <0 on error. */
static int
remember(struct kube_watch *w, const char *name, const char *rv, int state,
    int *changed)
{
	struct known *kn;
	size_t at, ncap;
	int found;

	at = find(w, name, &found);
	if (found) {
		kn = &w->known[at];
		*changed = strcmp(kn->rv, rv) != 0;
		(void)str_copy(kn->rv, sizeof(kn->rv), rv);
		kn->state = state;
		kn->seen = 1;
		return 0;
	}
	*changed = 1;
	if (w->nknown >= LIM_KUBE_LIST_ITEMS)
		return ERR_TOOBIG;
	if (w->nknown == w->cap) {
		ncap = w->cap ? w->cap * 2 : 64;
		kn = realloc(w->known, ncap * sizeof(*kn));
		if (kn == NULL)
			return ERR_NOMEM;
		w->known = kn;
		w->cap = ncap;
	}
	memmove(&w->known[at + 1], &w->known[at],
	    (w->nknown - at) * sizeof(*w->known));
	w->nknown++;
	kn = &w->known[at];
	memset(kn, 0, sizeof(*kn));
	(void)str_copy(kn->name, sizeof(kn->name), name);
	(void)str_copy(kn->rv, sizeof(kn->rv), rv);
	kn->state = state;
	kn->seen = 1;
	return 1;
}

static void
forget(struct kube_watch *w, const char *name)
{
	size_t at;
	int found;

	at = find(w, name, &found);
	if (!found)
		return;
	memmove(&w->known[at], &w->known[at + 1],
	    (w->nknown - at - 1) * sizeof(*w->known));
	w->nknown--;
}

/*
 * Deliver a Job (jobs watch), a pod (pods watch) or a Workload (workloads
 * watch) from m, the one its watch is of; m NULL for SYNCED.
 */
static void
deliver(struct kube_watch *w, enum kube_watch_type type,
    const struct kube_watch_msg *m)
{
	if (type != KUBE_WATCH_SYNCED) {
		pthread_mutex_lock(&w->mu);
		w->stats.events++;
		pthread_mutex_unlock(&w->mu);
	}
	if (w->res == KUBE_RES_PODS)
		w->pod_cb(w->arg, type, m != NULL ? &m->pod : NULL);
	else if (w->res == KUBE_RES_WORKLOADS)
		w->workload_cb(w->arg, type, m != NULL ? &m->workload : NULL);
	else
		w->cb(w->arg, type, m != NULL ? &m->job : NULL);
}

/* What the watch remembers of a Workload's state. */
static int
wl_state(const struct kube_workload *wl)
{
	return (wl->admitted == 1) | (wl->evicted == 1) << 1 |
	    (wl->quota_reserved == 1) << 2 | (wl->finished == 1) << 3;
}

/* The name, resourceVersion and state of the object of m. */
static void
identify(const struct kube_watch *w, const struct kube_watch_msg *m,
    const char **name, const char **rv, int *state)
{
	switch (w->res) {
	case KUBE_RES_PODS:
		*name = m->pod.name;
		*rv = m->pod.resource_version;
		*state = (int)m->pod.phase;
		break;
	case KUBE_RES_WORKLOADS:
		*name = m->workload.name;
		*rv = m->workload.resource_version;
		*state = wl_state(&m->workload);
		break;
	default:
		*name = m->job.name;
		*rv = m->job.resource_version;
		*state = (int)m->job.state;
		break;
	}
}

/* ---- list ------------------------------------------------------------------ */

static int
list_item(void *arg, const void *obj)
{
	struct kube_watch *w = arg;
	struct kube_watch_msg *m = &w->msg;
	const char *name, *rv;
	int rc, changed, state;

	if (stopping(w))
		return 1;
	/* the list's object, where the watch's messages carry it */
	if (w->res == KUBE_RES_PODS)
		m->pod = *(const struct kube_pod *)obj;
	else if (w->res == KUBE_RES_WORKLOADS)
		m->workload = *(const struct kube_workload *)obj;
	else
		m->job = *(const struct kube_job *)obj;
	identify(w, m, &name, &rv, &state);
	if ((rc = remember(w, name, rv, state, &changed)) < 0)
		return rc;
	if (rc == 1)
		deliver(w, KUBE_WATCH_ADDED, m);
	else if (changed)
		deliver(w, KUBE_WATCH_MODIFIED, m);
	return 0;
}

static int
relist(struct kube_watch *w, struct err *err)
{
	char rv[KUBE_RV_MAX];
	size_t i;
	int rc;

	w->absent = 0;
	if (w->res == KUBE_RES_WORKLOADS) {
		char version[16];

		if ((rc = kube_api_kueue_discover(w->k, version,
		    sizeof(version), err)) < 0)
			return rc;
		if (rc == 0) {
			/* no Kueue: nothing to watch, nothing to remember */
			w->absent = 1;
			w->nknown = 0;
			pthread_mutex_lock(&w->mu);
			w->stats.synced = 1;
			pthread_mutex_unlock(&w->mu);
			deliver(w, KUBE_WATCH_SYNCED, NULL);
			return 0;
		}
	}
	for (i = 0; i < w->nknown; i++)
		w->known[i].seen = 0;
	rc = kube_api_pages(w->k, w->res, w->ns, w->selector, NULL,
	    list_item, w, rv, sizeof(rv), err);
	if (rc == 1 || stopping(w))
		return 0;
	if (rc == ERR_TOOBIG || rc == ERR_NOMEM)
		return err_set(err, rc, "too many %s to watch",
		    kube_resource_name(w->res));
	if (rc < 0)
		return rc;
	/* what the list no longer has was deleted while we were away */
	for (i = w->nknown; i > 0; i--) {
		struct known *kn = &w->known[i - 1];

		if (kn->seen)
			continue;
		struct kube_watch_msg *m = &w->msg;

		memset(m, 0, sizeof(*m));
		(void)str_copy(m->job.name, sizeof(m->job.name), kn->name);
		(void)str_copy(m->job.namespace, sizeof(m->job.namespace),
		    w->ns);
		(void)str_copy(m->job.resource_version,
		    sizeof(m->job.resource_version), kn->rv);
		m->job.state = (enum kube_job_state)kn->state;
		(void)str_copy(m->pod.name, sizeof(m->pod.name), kn->name);
		(void)str_copy(m->pod.namespace, sizeof(m->pod.namespace),
		    w->ns);
		(void)str_copy(m->pod.resource_version,
		    sizeof(m->pod.resource_version), kn->rv);
		m->pod.phase = (enum kube_pod_phase)kn->state;
		m->pod.exit_code = -1;
		m->pod.scheduled = -1;
		(void)str_copy(m->workload.name, sizeof(m->workload.name),
		    kn->name);
		(void)str_copy(m->workload.namespace,
		    sizeof(m->workload.namespace), w->ns);
		(void)str_copy(m->workload.resource_version,
		    sizeof(m->workload.resource_version), kn->rv);
		m->workload.quota_reserved = m->workload.admitted =
		    m->workload.evicted = m->workload.finished = -1;
		forget(w, kn->name);
		deliver(w, KUBE_WATCH_DELETED, m);
	}
	set_rv(w, rv);
	pthread_mutex_lock(&w->mu);
	w->stats.lists++;
	w->stats.synced = 1;
	pthread_mutex_unlock(&w->mu);
	deliver(w, KUBE_WATCH_SYNCED, NULL);
	return 0;
}

/* ---- watch ----------------------------------------------------------------- */

static int
handle_line(struct kube_watch *w, const char *line, size_t len)
{
	struct kube_watch_msg *m = &w->msg;
	const char *name, *rv;
	struct err err;
	int rc, changed, state;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (kube_api_decode_watch_of(line, len, w->res, m, &err) < 0) {
		w->bad = 1;
		(void)str_copy(w->bad_msg, sizeof(w->bad_msg), err.msg);
		return 1;
	}
	switch (m->type) {
	case KUBE_MSG_BOOKMARK:
		set_rv(w, m->resource_version);
		pthread_mutex_lock(&w->mu);
		w->stats.bookmarks++;
		pthread_mutex_unlock(&w->mu);
		return 0;
	case KUBE_MSG_ERROR:
		if (m->code == 410) {
			w->gone = 1;
		} else {
			w->bad = 1;
			snprintf(w->bad_msg, sizeof(w->bad_msg),
			    "watch error %d: %.200s", m->code, m->message);
		}
		return 1;
	case KUBE_MSG_DELETED:
		identify(w, m, &name, &rv, &state);
		forget(w, name);
		set_rv(w, m->resource_version);
		deliver(w, KUBE_WATCH_DELETED, m);
		return 0;
	case KUBE_MSG_ADDED:
	case KUBE_MSG_MODIFIED:
		identify(w, m, &name, &rv, &state);
		rc = remember(w, name, rv, state, &changed);
		if (rc < 0) {
			w->bad = 1;
			snprintf(w->bad_msg, sizeof(w->bad_msg),
			    "too many %s to watch", kube_resource_name(w->res));
			return 1;
		}
		set_rv(w, m->resource_version);
		deliver(w, rc == 1 ? KUBE_WATCH_ADDED : KUBE_WATCH_MODIFIED, m);
		return 0;
	}
	return 0;
}

/* Stream data: split into lines, one event each. */
static int
on_data(void *arg, const char *p, size_t n)
{
	struct kube_watch *w = arg;
	const char *nl;
	size_t take;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (buf_append(&w->line, p, take) < 0) {
			w->bad = 1;
			(void)str_copy(w->bad_msg, sizeof(w->bad_msg),
			    "watch event larger than the cap");
			return 1;
		}
		if (nl == NULL)
			break;
		if (handle_line(w, w->line.data ? w->line.data : "",
		    w->line.len) != 0)
			return 1;
		buf_reset(&w->line);
		p += take + 1;
		n -= take + 1;
	}
	return 0;
}

static int
watch_path(struct kube_watch *w, struct buf *path, struct err *err)
{
	int rc;

	if (w->res == KUBE_RES_PODS)
		rc = kube_api_pods_path(w->k, w->ns, path, err);
	else if (w->res == KUBE_RES_WORKLOADS)
		rc = kube_api_workloads_path(w->k, w->ns, path, err);
	else
		rc = kube_api_jobs_path(w->k, w->ns, path, err);
	if (rc < 0)
		return rc;
	if (buf_printf(path, "?watch=true&allowWatchBookmarks=true"
	    "&timeoutSeconds=%d&resourceVersion=", w->timeout_s) < 0 ||
	    kube_api_query_escape(path, w->rv) < 0 ||
	    (w->selector[0] != '\0' && (buf_puts(path, "&labelSelector=") < 0 ||
	    kube_api_query_escape(path, w->selector) < 0)))
		return err_set(err, ERR_TOOBIG, "watch path too long");
	return 0;
}

static void *
watch_main(void *arg)
{
	struct kube_watch *w = arg;
	struct buf path;
	struct err err;
	int need_list = 1, failures = 0, got, rc;
	long status;
	int64_t t0, t1;

	buf_init(&path, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	while (!stopping(w)) {
		if (need_list) {
			err_clear(&err);
			if ((rc = relist(w, &err)) < 0) {
				note(w, "list", err.msg);
				pause_ms(w, backoff(w, ++failures));
				continue;
			}
			need_list = 0;
		}
		if (stopping(w))
			break;
		if (w->absent) {
			/* Kueue is not installed (yet): ask again later */
			pause_ms(w, KUEUE_RECHECK_MS);
			need_list = 1;
			continue;
		}
		buf_reset(&path);
		err_clear(&err);
		if ((rc = watch_path(w, &path, &err)) < 0) {
			note(w, "watch", err.msg);
			pause_ms(w, backoff(w, ++failures));
			continue;
		}
		buf_reset(&w->line);
		w->gone = 0;
		w->bad = 0;
		pthread_mutex_lock(&w->mu);
		w->stats.watches++;
		pthread_mutex_unlock(&w->mu);
		t0 = sys_now_ms();
		rc = kube_stream_get(w->stream, KUBE_VERB_WATCH, w->res,
		    path.data, ((int64_t)w->timeout_s + 30) * 1000, on_data,
		    NULL, w, &status, &got, &err);
		t1 = sys_now_ms();
		if (stopping(w))
			break;
		if (w->gone || status == 410) {
			/* our resourceVersion is too old: start over */
			pthread_mutex_lock(&w->mu);
			w->stats.relists_gone++;
			pthread_mutex_unlock(&w->mu);
			log_info("kubernetes watch expired, listing again",
			    "namespace=%s resource=%s resource_version=%s",
			    w->ns, kube_resource_name(w->res), w->rv);
			need_list = 1;
			if (failures++ > 0)
				pause_ms(w, backoff(w, failures));
			continue;
		}
		if (rc < 0 || w->bad) {
			note(w, "watch", rc < 0 ? err.msg : w->bad_msg);
			pthread_mutex_lock(&w->mu);
			w->stats.reconnects++;
			pthread_mutex_unlock(&w->mu);
			if (got)
				failures = 0;	/* it was working */
			pause_ms(w, backoff(w, ++failures));
			continue;
		}
		/* a clean end (timeoutSeconds): watch again at once, unless
		 * the server ends watches right away */
		if (got || t1 - t0 >= 1000) {
			failures = 0;
		} else {
			pthread_mutex_lock(&w->mu);
			w->stats.reconnects++;
			pthread_mutex_unlock(&w->mu);
			pause_ms(w, backoff(w, ++failures));
		}
	}
	buf_release(&path);
	return NULL;
}

int
kube_watch_start(struct kube_watch **out, struct kube_api *k,
    const struct kube_watch_opts *o, struct err *err)
{
	struct kube_watch *w;
	const char *ns, *sel;
	int rc;

	*out = NULL;
	if (o == NULL || (o->resource == KUBE_RES_PODS ? o->pod_cb == NULL :
	    o->resource == KUBE_RES_WORKLOADS ? o->workload_cb == NULL :
	    o->cb == NULL))
		return err_set(err, ERR_INVALID, "a watch needs a callback");
	if (o->resource != KUBE_RES_JOBS && o->resource != KUBE_RES_PODS &&
	    o->resource != KUBE_RES_WORKLOADS)
		return err_set(err, ERR_INVALID, "only jobs, pods and "
		    "workloads can be watched");
	ns = o->ns != NULL && o->ns[0] != '\0' ? o->ns : kube_api_namespace(k);
	sel = o->selector != NULL ? o->selector : DEFAULT_SELECTOR;
	w = xcalloc(1, sizeof(*w));
	if (str_copy(w->ns, sizeof(w->ns), ns) < 0 ||
	    str_copy(w->selector, sizeof(w->selector), sel) < 0) {
		free(w);
		return err_set(err, ERR_TOOBIG, "watch namespace or selector "
		    "too long");
	}
	w->k = k;
	w->timeout_s = o->timeout_s > 0 ? o->timeout_s : DEFAULT_TIMEOUT_S;
	w->res = o->resource;
	w->cb = o->cb;
	w->pod_cb = o->pod_cb;
	w->workload_cb = o->workload_cb;
	w->arg = o->arg;
	w->rng = (uint64_t)(uintptr_t)w * 6364136223846793005ull + 1;
	atomic_init(&w->stop, 0);
	buf_init(&w->line, LIM_KUBE_OBJECT);
	pthread_mutex_init(&w->mu, NULL);
	sys_cond_init_monotonic(&w->cv);
	if ((rc = kube_stream_new(&w->stream, k, err)) < 0) {
		kube_watch_free(w);
		return rc;
	}
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		kube_stream_free(w->stream);
		w->stream = NULL;
		kube_watch_free(w);
		return err_set(err, ERR_GENERIC, "cannot start the watch thread");
	}
	*out = w;
	return 0;
}

void
kube_watch_stats(struct kube_watch *w, struct kube_watch_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	pthread_mutex_unlock(&w->mu);
}

void
kube_watch_free(struct kube_watch *w)
{
	if (w == NULL)
		return;
	if (w->stream != NULL) {
		atomic_store(&w->stop, 1);
		kube_stream_stop(w->stream);
		pthread_mutex_lock(&w->mu);
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		kube_stream_free(w->stream);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	buf_release(&w->line);
	free(w->known);
	free(w);
}
