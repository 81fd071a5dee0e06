/*
 * exec_kube_logs.c - the logs of attempts: logs() from the cache or a
 * read, the prefetch of a finished log, exec_kube_follow().
 */

#include <time.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"

/* ---- logs ------------------------------------------------------------------------ */

/* The newest pod of job name, by a list (the pod watch had none). */
static int
lookup_pod(struct kexec *x, const char *job, char *pod, size_t len,
    struct err *err)
{
	struct kube_pod_list pods;
	const struct kube_pod *best = NULL;
	char sel[128];
	size_t i;
	int rc;

	textf(sel, sizeof(sel), "job-name=%s", job);
	pthread_mutex_lock(&x->mu);
	x->st.pod_lookups++;
	pthread_mutex_unlock(&x->mu);
	if ((rc = kube_api_pod_list(x->k, x->ns, sel, &pods, err)) < 0)
		return rc;
	for (i = 0; i < pods.n; i++) {
		if (best == NULL || pods.items[i].created_ms >= best->created_ms)
			best = &pods.items[i];
	}
	if (best == NULL)
		rc = err_set(err, ERR_NOTFOUND, "job '%s' has no pod", job);
	else
		(void)str_copy(pod, len, best->name);
	kube_pod_list_release(&pods);
	return rc;
}

/*
 * Read the log of job's pod (pod may be empty: look it up; the name found
 * is copied back) into b.  No lock held.
 */
int
kx_read_log(struct kexec *x, const char *job, char *pod, size_t podlen,
    struct buf *b, struct err *err)
{
	int rc;

	buf_init(b, LIM_STAGE_LOG);
	if (pod[0] == '\0' &&
	    (rc = lookup_pod(x, job, pod, podlen, err)) < 0)
		return rc;
	pthread_mutex_lock(&x->mu);
	x->st.log_reads++;
	pthread_mutex_unlock(&x->mu);
	return kube_api_pod_log(x->k, x->ns, pod, CONTAINER, b, err);
}

/* Append data[from, len) to out, as much as fits; set *next. */
static void
serve(const char *data, size_t len, int64_t from, struct buf *out,
    int64_t *next)
{
	size_t n, room = out->max > out->len ? out->max - out->len : 0;

	if (from < 0 || (uint64_t)from >= len) {
		*next = from < 0 ? 0 : from;
		if (from > (int64_t)len)
			*next = (int64_t)len;
		return;
	}
	n = len - (size_t)from;
	if (n > room)
		n = room;
	if (n > 0 && buf_append(out, data + from, n) < 0)
		n = 0;
	*next = from + (int64_t)n;
}

int
kx_logs(void *impl, const char *name, int64_t from, struct buf *out,
    int64_t *next, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	struct buf b;
	char pod[KUBE_NAME_MAX];
	uint64_t gen;
	int rc = 0, fin;

	*next = from;
	buf_init(&b, LIM_STAGE_LOG);
	pthread_mutex_lock(&x->mu);
	while ((e = kx_find(x, name)) != NULL && e->log_busy)
		pthread_cond_wait(&x->cv, &x->mu);
	if (!known(e)) {
		rc = err_set(err, ERR_NOTFOUND, "no attempt '%s' in namespace "
		    "'%s'", name, x->ns);
		goto out;
	}
	fin = finished(e);
	if (e->log != NULL && (e->log_final || e->job_deleted ||
	    e->pod_deleted || (!fin && sys_now_ms() - e->log_ms <
	    LOG_REFRESH_MS))) {
		serve(e->log, e->log_len, from, out, next);
		goto out;
	}
	if (e->job_deleted || e->pod_deleted) {
		rc = err_set(err, ERR_NOTFOUND, "the log of attempt '%s' is "
		    "gone with its job", name);
		goto out;
	}
	if (!pod_started(e))
		goto out;	/* nothing written yet */
	e->log_busy = 1;
	gen = e->gen;
	(void)str_copy(pod, sizeof(pod), e->pod);
	pthread_mutex_unlock(&x->mu);
	rc = kx_read_log(x, name, pod, sizeof(pod), &b, err);
	pthread_mutex_lock(&x->mu);
	if ((e = kx_find_gen(x, name, gen)) != NULL) {
		e->log_busy = 0;
		if (e->pod[0] == '\0')
			(void)str_copy(e->pod, sizeof(e->pod), pod);
	}
	pthread_cond_broadcast(&x->cv);
	if (rc == ERR_INVALID) {
		rc = 0;		/* the container is waiting to start */
		goto out;
	}
	if (rc < 0) {
		if (rc != ERR_NOTFOUND)
			rc = for_engine(rc, err);
		goto out;
	}
	if (e != NULL) {
		kx_keep_log(x, e, &b, fin);
		serve(e->log, e->log_len, from, out, next);
	} else {
		serve(b.data, b.len, from, out, next);
	}
out:
	pthread_mutex_unlock(&x->mu);
	buf_release(&b);
	return rc;
}

/* Read the log of a finished attempt into the table (a worker). */
void
kx_prefetch(struct kexec *x, const char *name)
{
	struct kentry *e;
	struct buf b;
	struct err err;
	char pod[KUBE_NAME_MAX];
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&x->mu);
	e = kx_find(x, name);
	if (!known(e) || e->log != NULL || e->log_busy || !job_done(e) ||
	    e->pod_deleted) {
		pthread_mutex_unlock(&x->mu);
		return;
	}
	e->log_busy = 1;
	gen = e->gen;
	(void)str_copy(pod, sizeof(pod), e->pod);
	pthread_mutex_unlock(&x->mu);
	rc = kx_read_log(x, name, pod, sizeof(pod), &b, &err);
	pthread_mutex_lock(&x->mu);
	if ((e = kx_find_gen(x, name, gen)) != NULL) {
		e->log_busy = 0;
		if (e->pod[0] == '\0')
			(void)str_copy(e->pod, sizeof(e->pod), pod);
		if (rc == 0 && !e->released)
			kx_keep_log(x, e, &b, 1);
	}
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	buf_release(&b);
	if (rc < 0)
		log_debug("kubernetes log prefetch", "job=%s error=\"%s\"",
		    name, err.msg);
}


struct follow {
	int	(*cb)(void *arg, const char *data, size_t len);
	void	*arg;
	int64_t	 from;
	int64_t	 at;		/* bytes of the stream seen */
};

static int
follow_cb(void *arg, const char *data, size_t len)
{
	struct follow *f = arg;
	size_t skip = 0;

	if (len == 0)
		return f->cb(f->arg, NULL, 0);
	if (f->at < f->from)
		skip = (size_t)(f->from - f->at) < len ?
		    (size_t)(f->from - f->at) : len;
	f->at += (int64_t)len;
	if (skip == len)
		return 0;
	return f->cb(f->arg, data + skip, len - skip);
}

int
exec_kube_follow(void *impl, const char *name, int64_t from,
    int (*cb)(void *arg, const char *data, size_t len), void *arg,
    struct err *err)
{
	struct kexec *x = impl;
	struct follow f = { cb, arg, from, 0 };
	struct kentry *e;
	struct timespec ts;
	struct buf b;
	char pod[KUBE_NAME_MAX];
	int64_t next;
	int rc, stream = 0, fin = 0;

	for (;;) {
		pthread_mutex_lock(&x->mu);
		e = kx_find(x, name);
		if (!known(e)) {
			pthread_mutex_unlock(&x->mu);
			return err_set(err, ERR_NOTFOUND, "no attempt '%s' in "
			    "namespace '%s'", name, x->ns);
		}
		fin = finished(e) || e->pod_deleted;
		if (!fin && pod_started(e) && e->pod[0] != '\0') {
			(void)str_copy(pod, sizeof(pod), e->pod);
			stream = 1;
		}
		if (fin || stream) {
			pthread_mutex_unlock(&x->mu);
			break;
		}
		ts = sys_deadline_in(1000);
		(void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
		pthread_mutex_unlock(&x->mu);
		if (cb(arg, NULL, 0) != 0)
			return 0;
	}
	if (stream) {
		rc = kube_api_pod_log_follow(x->k, x->ns, pod, CONTAINER,
		    follow_cb, &f, err);
		if (rc != ERR_NOTFOUND && rc != ERR_INVALID)
			return rc;
		from = f.at > from ? f.at : from;	/* the rest, below */
	}
	/* finished (or its pod went away): the whole log, once */
	buf_init(&b, LIM_STAGE_LOG);
	rc = kx_logs(impl, name, from, &b, &next, err);
	if (rc == 0 && b.len > 0)
		(void)cb(arg, b.data, b.len);
	buf_release(&b);
	return rc;
}
