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
 * The same code watches pods (opts.resource KUBE_RES_PODS): only the
 * list call, the path, the decoding and the callback differ; the state it
 * remembers per object is then the pod's phase.
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

struct known {
	char			name[KUBE_NAME_MAX];
	char			rv[KUBE_RV_MAX];
	int			state;	/* kube_job_state or kube_pod_phase */
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
	struct kube_job		 tmp;
	struct kube_pod		 tmp_pod;
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

/* Deliver a Job (jobs watch) or a pod (pods watch); NULL for SYNCED. */
static void
deliver(struct kube_watch *w, enum kube_watch_type type,
    const struct kube_job *j, const struct kube_pod *p)
{
	if (type != KUBE_WATCH_SYNCED) {
		pthread_mutex_lock(&w->mu);
		w->stats.events++;
		pthread_mutex_unlock(&w->mu);
	}
	if (w->res == KUBE_RES_PODS)
		w->pod_cb(w->arg, type, p);
	else
		w->cb(w->arg, type, j);
}

/* ---- list ------------------------------------------------------------------ */

static int
list_item(void *arg, const void *obj)
{
	const struct kube_job *j = obj;
	struct kube_watch *w = arg;
	int rc, changed;

	if (stopping(w))
		return 1;
	if ((rc = remember(w, j->name, j->resource_version, (int)j->state,
	    &changed)) < 0)
		return rc;
	if (rc == 1)
		deliver(w, KUBE_WATCH_ADDED, j, NULL);
	else if (changed)
		deliver(w, KUBE_WATCH_MODIFIED, j, NULL);
	return 0;
}

static int
list_pod(void *arg, const void *obj)
{
	const struct kube_pod *p = obj;
	struct kube_watch *w = arg;
	int rc, changed;

	if (stopping(w))
		return 1;
	if ((rc = remember(w, p->name, p->resource_version, (int)p->phase,
	    &changed)) < 0)
		return rc;
	if (rc == 1)
		deliver(w, KUBE_WATCH_ADDED, NULL, p);
	else if (changed)
		deliver(w, KUBE_WATCH_MODIFIED, NULL, p);
	return 0;
}

static int
relist(struct kube_watch *w, struct err *err)
{
	char rv[KUBE_RV_MAX];
	size_t i;
	int rc;

	for (i = 0; i < w->nknown; i++)
		w->known[i].seen = 0;
	rc = kube_api_pages(w->k, w->res, w->ns, w->selector, NULL,
	    w->res == KUBE_RES_PODS ? list_pod : list_item, w, rv, sizeof(rv),
	    err);
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
		memset(&w->tmp, 0, sizeof(w->tmp));
		memset(&w->tmp_pod, 0, sizeof(w->tmp_pod));
		(void)str_copy(w->tmp.name, sizeof(w->tmp.name), kn->name);
		(void)str_copy(w->tmp.namespace, sizeof(w->tmp.namespace),
		    w->ns);
		(void)str_copy(w->tmp.resource_version,
		    sizeof(w->tmp.resource_version), kn->rv);
		w->tmp.state = (enum kube_job_state)kn->state;
		(void)str_copy(w->tmp_pod.name, sizeof(w->tmp_pod.name),
		    kn->name);
		(void)str_copy(w->tmp_pod.namespace,
		    sizeof(w->tmp_pod.namespace), w->ns);
		(void)str_copy(w->tmp_pod.resource_version,
		    sizeof(w->tmp_pod.resource_version), kn->rv);
		w->tmp_pod.phase = (enum kube_pod_phase)kn->state;
		w->tmp_pod.exit_code = -1;
		w->tmp_pod.scheduled = -1;
		forget(w, kn->name);
		deliver(w, KUBE_WATCH_DELETED, &w->tmp, &w->tmp_pod);
	}
	set_rv(w, rv);
	pthread_mutex_lock(&w->mu);
	w->stats.lists++;
	w->stats.synced = 1;
	pthread_mutex_unlock(&w->mu);
	deliver(w, KUBE_WATCH_SYNCED, NULL, NULL);
	return 0;
}

/* ---- watch ----------------------------------------------------------------- */

static int
handle_line(struct kube_watch *w, const char *line, size_t len)
{
	struct kube_watch_msg *m = &w->msg;
	struct err err;
	int rc, changed;

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
		forget(w, w->res == KUBE_RES_PODS ? m->pod.name : m->job.name);
		set_rv(w, m->resource_version);
		deliver(w, KUBE_WATCH_DELETED, &m->job, &m->pod);
		return 0;
	case KUBE_MSG_ADDED:
	case KUBE_MSG_MODIFIED:
		if (w->res == KUBE_RES_PODS)
			rc = remember(w, m->pod.name, m->pod.resource_version,
			    (int)m->pod.phase, &changed);
		else
			rc = remember(w, m->job.name, m->job.resource_version,
			    (int)m->job.state, &changed);
		if (rc < 0) {
			w->bad = 1;
			snprintf(w->bad_msg, sizeof(w->bad_msg),
			    "too many %s to watch", kube_resource_name(w->res));
			return 1;
		}
		set_rv(w, m->resource_version);
		deliver(w, rc == 1 ? KUBE_WATCH_ADDED : KUBE_WATCH_MODIFIED,
		    &m->job, &m->pod);
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

	if ((rc = w->res == KUBE_RES_PODS ? kube_api_pods_path(w->k, w->ns,
	    path, err) : kube_api_jobs_path(w->k, w->ns, path, err)) < 0)
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
	    o->cb == NULL))
		return err_set(err, ERR_INVALID, "a watch needs a callback");
	if (o->resource != KUBE_RES_JOBS && o->resource != KUBE_RES_PODS)
		return err_set(err, ERR_INVALID, "only jobs and pods can be "
		    "watched");
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
