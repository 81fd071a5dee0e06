/*
 * exec_kube_worker.c - the worker threads of the Kubernetes executor
 * (the deletes of release) and the extras of exec_kube.h:
 * ready, wait_synced, the engine's wake, reconcile, metrics, stats.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"

/* ---- the workers ------------------------------------------------------------------ */

/* The next task that may run now, or NULL; *wait_ms until one may. */
static struct task *
next_task(struct kexec *x, int64_t *wait_ms)
{
	struct task *t, *prev = NULL;
	int64_t now = sys_now_ms();

	*wait_ms = 1000;
	for (t = x->tasks; t != NULL; prev = t, t = t->next) {
		if (t->not_before <= now) {
			if (prev != NULL)
				prev->next = t->next;
			else
				x->tasks = t->next;
			if (x->tasks_tail == t)
				x->tasks_tail = prev;
			t->next = NULL;
			x->ntasks--;
			return t;
		}
		if (t->not_before - now < *wait_ms)
			*wait_ms = t->not_before - now;
	}
	return NULL;
}

void *
kx_worker_main(void *arg)
{
	struct kexec *x = arg;
	struct task *t;
	struct timespec ts;
	struct err err;
	int64_t wait_ms;
	int rc;

	pthread_mutex_lock(&x->mu);
	while (!x->stopping) {
		if ((t = next_task(x, &wait_ms)) == NULL) {
			ts = sys_deadline_in(wait_ms);
			(void)pthread_cond_timedwait(&x->task_cv, &x->mu, &ts);
			continue;
		}
		x->busy_workers++;
		pthread_mutex_unlock(&x->mu);
		if (t->kind == TASK_NODE) {
			kx_fetch_node(x, t->name);
			rc = 0;
		} else if (t->kind == TASK_DELETE_SERVICE) {
			rc = kx_delete_service(x, t->name, &err);
		} else {
			rc = kx_delete_job(x, t->name, &err);
		}
		pthread_mutex_lock(&x->mu);
		x->busy_workers--;
		if (rc < 0 && ++t->tries < DELETE_TRIES && !x->stopping) {
			t->not_before = sys_now_ms() + DELETE_RETRY_MS;
			kx_append_task(x, t);
			continue;
		}
		if (rc < 0 && t->kind == TASK_DELETE_SERVICE)
			log_warn("kubernetes service not deleted", "service=%s "
			    "namespace=%s error=\"%s\"", t->name, x->ns,
			    err.msg);
		else if (rc < 0)
			log_warn("kubernetes job not deleted", "job=%s "
			    "namespace=%s error=\"%s\" "
			    "deleted_by=ttlSecondsAfterFinished", t->name,
			    x->ns, err.msg);
		free(t);
		pthread_cond_broadcast(&x->cv);	/* exec_kube_stats waiters */
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* ---- the extras of exec_kube.h ------------------------------------------------------ */

int
exec_kube_ready(void *impl, struct err *err)
{
	struct kexec *x = impl;
	struct kube_watch_stats ws;
	int synced;

	if (kube_api_ready(x->k, err) < 0)
		return err->code;
	pthread_mutex_lock(&x->mu);
	synced = x->jobs_synced && x->pods_synced;
	pthread_mutex_unlock(&x->mu);
	if (synced)
		return 0;
	kube_watch_stats(x->jobs_w, &ws);
	if (ws.last_error[0] == '\0')
		kube_watch_stats(x->pods_w, &ws);
	return err_set(err, ERR_TRANSIENT, "the kubernetes watch of namespace "
	    "'%s' has not listed the jobs yet%s%s", x->ns,
	    ws.last_error[0] ? ": " : "", ws.last_error);
}

int
exec_kube_wait_synced(void *impl, int64_t timeout_ms, struct err *err)
{
	struct kexec *x = impl;
	struct timespec ts;
	int synced, rc;

	ts = sys_deadline_in(timeout_ms);
	pthread_mutex_lock(&x->mu);
	while (!(x->jobs_synced && x->pods_synced) &&
	    pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
		;
	synced = x->jobs_synced && x->pods_synced;
	pthread_mutex_unlock(&x->mu);
	if (synced)
		return 0;
	if ((rc = exec_kube_ready(impl, err)) < 0)
		return rc;
	return err_set(err, ERR_TRANSIENT, "the kubernetes watch has not "
	    "listed the jobs yet");
}

/*
 * Something the watches or a log stream say changed (under x->mu): wake
 * whoever waits on cv, and the engine (set_wake).
 */
void
kx_changed(struct kexec *x)
{
	pthread_cond_broadcast(&x->cv);
	if (x->wake != NULL)
		x->wake(x->wake_arg);
}

int
kx_set_wake(void *impl, void (*wake)(void *arg), void *arg)
{
	struct kexec *x = impl;

	pthread_mutex_lock(&x->mu);
	x->wake = wake;
	x->wake_arg = arg;
	pthread_mutex_unlock(&x->mu);
	return 1;
}

struct managed {
	char	name[64];
	int64_t	run_id;
	char	stage[64];
	int	attempt;
	int	nodes;		/* > 1: a Service goes with the Job */
};

/*
 * The Services of multi-node attempts whose Job is gone (deleted by its
 * TTL while no controller ran) and whose run is over: deleted.  Returns
 * how many, or an error.
 */
static int
sweep_services(struct kexec *x, int (*is_active)(void *arg, int64_t run_id,
    const char *stage, int attempt), void *arg, struct err *err)
{
	struct kube_job_list l;
	struct kentry tmp, *e;
	int rc, has_job, active, n = 0;

	if ((rc = kube_api_service_list(x->k, x->ns,
	    "app.kubernetes.io/managed-by=sluice", &l, err)) < 0)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		memset(&tmp, 0, sizeof(tmp));
		kx_merge_job(&tmp, &l.items[i]);
		if (!tmp.labels_ok)
			continue;
		pthread_mutex_lock(&x->mu);
		e = kx_find(x, l.items[i].name);
		has_job = e != NULL && e->job_seen && !e->job_deleted;
		pthread_mutex_unlock(&x->mu);
		if (has_job)
			continue;	/* goes with its Job */
		active = is_active(arg, tmp.run_id, tmp.stage, tmp.attempt);
		if (active < 0) {
			rc = err_set(err, active, "reconcile service '%s': "
			    "cannot tell whether run %lld is active",
			    l.items[i].name, (long long)tmp.run_id);
			break;
		}
		if (active)
			continue;
		if ((rc = kx_delete_service(x, l.items[i].name, err)) < 0)
			break;
		n++;
	}
	kube_job_list_release(&l);
	return rc < 0 ? rc : n;
}

int
exec_kube_reconcile(void *impl, int (*is_active)(void *arg, int64_t run_id,
    const char *stage, int attempt), void *arg, struct err *err)
{
	struct kexec *x = impl;
	struct managed *list = NULL;
	struct kentry *e;
	size_t n = 0, i, deleted = 0, kept = 0;
	int rc, active;

	if ((rc = exec_kube_wait_synced(impl, SYNC_WAIT_MS, err)) < 0)
		return rc;
	pthread_mutex_lock(&x->mu);
	if (x->n > 0)
		list = xcalloc(x->n, sizeof(*list));
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = e->next) {
			if (!e->job_seen || e->job_deleted || !e->labels_ok)
				continue;
			(void)str_copy(list[n].name, sizeof(list[n].name),
			    e->name);
			list[n].run_id = e->run_id;
			(void)str_copy(list[n].stage, sizeof(list[n].stage),
			    e->stage);
			list[n].attempt = e->attempt;
			list[n].nodes = e->nodes;
			n++;
		}
	}
	pthread_mutex_unlock(&x->mu);
	for (i = 0; i < n; i++) {
		active = is_active(arg, list[i].run_id, list[i].stage,
		    list[i].attempt);
		if (active < 0) {
			rc = err_set(err, active, "reconcile job '%s': cannot "
			    "tell whether run %lld is active", list[i].name,
			    (long long)list[i].run_id);
			goto out;
		}
		if (active) {
			kept++;
			continue;
		}
		if ((rc = kx_delete_job(x, list[i].name, err)) < 0 ||
		    (list[i].nodes > 1 &&
		    (rc = kx_delete_service(x, list[i].name, err)) < 0)) {
			err_prefix(err, "reconcile");
			goto out;
		}
		deleted++;
		pthread_mutex_lock(&x->mu);
		if ((e = kx_find(x, list[i].name)) != NULL && !e->log_busy)
			kx_remove_entry(x, e);
		pthread_mutex_unlock(&x->mu);
	}
	if ((rc = sweep_services(x, is_active, arg, err)) < 0) {
		err_prefix(err, "reconcile");
		goto out;
	}
	log_info("kubernetes jobs reconciled", "namespace=%s kept=%zu "
	    "deleted=%zu services_deleted=%d", x->ns, kept, deleted, rc);
	rc = 0;
out:
	free(list);
	return rc;
}

static void
collect(void *arg)
{
	struct kexec *x = arg;
	struct kube_api_stats *s = xcalloc(1, sizeof(*s));
	uint64_t d;
	int v, r, a;

	kube_api_stats(x->k, s);
	pthread_mutex_lock(&x->m_mu);
	for (v = 0; v < KUBE_VERB_N; v++) {
		for (r = 0; r < KUBE_RES_N; r++) {
			for (a = 0; a < KUBE_ANSWER_N; a++) {
				d = s->answers[v][r][a] - x->m_last[v][r][a];
				if (d == 0)
					continue;
				x->m_last[v][r][a] = s->answers[v][r][a];
				metric_add(x->m_calls, METRIC_LABELS(
				    kube_verb_name(v), kube_resource_name(r),
				    kube_answer_name(a)), (double)d);
			}
		}
	}
	pthread_mutex_unlock(&x->m_mu);
	free(s);
}

void
exec_kube_metrics(void *impl, struct metrics *m)
{
	struct kexec *x = impl;

	x->m_calls = metrics_add(m, METRIC_COUNTER,
	    "sluice_kube_api_calls_total", "Kubernetes API calls by verb, "
	    "resource and HTTP status (0: no answer)", "verb,resource,code",
	    NULL, 0);
	metrics_on_scrape(m, collect, x);
}

void
exec_kube_stats(void *impl, struct exec_kube_stats *out)
{
	struct kexec *x = impl;

	struct kentry *e;
	size_t i;

	pthread_mutex_lock(&x->mu);
	*out = x->st;
	out->tasks = x->ntasks + (size_t)x->busy_workers;
	out->known = 0;
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = e->next)
			out->known += known(e);
	}
	out->log_bytes = x->log_bytes;
	out->jobs_synced = x->jobs_synced;
	out->pods_synced = x->pods_synced;
	pthread_mutex_unlock(&x->mu);
}
