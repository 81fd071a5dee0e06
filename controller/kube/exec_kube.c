/*
 * exec_kube.c - the Kubernetes executor; see exec_kube.h.
 *
 * The ops table, submit (and adopting a Job already there), cancel,
 * release and life.  The design (the table, the lock, the pod watch) is
 * told in exec_kube_int.h.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"
#include "kube/kubeconfig.h"

extern char **environ;

/* ---- submit ------------------------------------------------------------------------- */

static int
same_attempt(const struct kentry *e, const struct exec_attempt *a)
{
	return e->labels_ok && e->run_id == a->run_id &&
	    strcmp(e->stage, a->stage) == 0 && e->attempt == a->attempt &&
	    e->step == a->step;
}

static int
not_ours(const struct kexec *x, const struct kentry *e,
    const struct exec_attempt *a, struct err *err)
{
	if (!e->labels_ok)
		return err_set(err, ERR_INVALID, "a job named '%s' exists in "
		    "namespace '%s' without sluice's run, stage and attempt "
		    "labels; delete it to run stage '%s'", a->name, x->ns,
		    a->stage);
	return err_set(err, ERR_INVALID, "a job named '%s' exists in namespace "
	    "'%s' but belongs to run %lld stage '%s' attempt %d step %d, not "
	    "run %lld stage '%s' attempt %d step %d; delete it to run this "
	    "one", a->name, x->ns, (long long)e->run_id, e->stage, e->attempt,
	    e->step, (long long)a->run_id, a->stage, a->attempt, a->step);
}

/* 409: read the Job that is there and adopt it if it is this attempt. */
static int
adopt_existing(struct kexec *x, const struct exec_attempt *a,
    struct err *err)
{
	struct kube_job *j = xcalloc(1, sizeof(*j));
	struct kentry tmp, *e;
	int rc;

	if ((rc = kube_api_job_get(x->k, x->ns, a->name, j, err)) < 0)
		goto out;
	memset(&tmp, 0, sizeof(tmp));
	kx_merge_job(&tmp, j);
	if (!same_attempt(&tmp, a)) {
		rc = not_ours(x, &tmp, a, err);
		goto out;
	}
	pthread_mutex_lock(&x->mu);
	if ((e = kx_add(x, a->name)) != NULL) {
		kx_reset_for(x, e, j->uid);
		kx_merge_job(e, j);
		e->job_seen = 1;
		e->submitted = 1;
		x->st.adopted++;
	}
	pthread_mutex_unlock(&x->mu);
	log_info("kubernetes job adopted", "job=%s namespace=%s run=%lld "
	    "stage=%s attempt=%d", a->name, x->ns, (long long)a->run_id,
	    a->stage, a->attempt);
out:
	free(j);
	return rc;
}

/* Forget that submit marked name, unless the watch knows the Job. */
static void
unmark(struct kexec *x, const char *name)
{
	struct kentry *e;

	pthread_mutex_lock(&x->mu);
	if ((e = kx_find(x, name)) != NULL) {
		e->submitted = 0;
		if (!e->job_seen && !e->log_busy)
			kx_remove_entry(x, e);
	}
	pthread_mutex_unlock(&x->mu);
}

/*
 * The headless Service of a multi-node attempt, before its Job, so that
 * the pods' names resolve as soon as they run.  One already there (a
 * restart, a retried submit) is adopted: it is named for the attempt.
 * Returns 1 when this call made it, 0 when it was there, or an error.
 */
static int
create_service(struct kexec *x, const struct exec_attempt *a,
    struct err *err)
{
	char *json = NULL;
	int rc;

	if ((rc = kube_service_manifest(a, &x->jo, &json, err)) < 0)
		return rc;
	rc = kube_api_service_create(x->k, x->ns, json, strlen(json), err);
	if (rc == ERR_CONFLICT) {
		rc = 0;
	} else if (rc == 0) {
		log_debug("kubernetes service created", "service=%s "
		    "namespace=%s", a->name, x->ns);
		rc = 1;
	}
	free(json);
	return rc;
}

static int
kx_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	char *json = NULL;
	int rc = 0, tries = 0, made_service = 0;
	struct err derr;

	if (a->name == NULL || strlen(a->name) >= sizeof(e->name))
		return err_set(err, ERR_INVALID, "attempt name '%s' is not a "
		    "kubernetes job name", a->name ? a->name : "");
	pthread_mutex_lock(&x->mu);
	kx_sweep(x);
	e = kx_find(x, a->name);
	if (known(e) && !e->job_deleted) {
		/* the watch has it (a restart) or we made it: adopt */
		if (e->job_seen && !same_attempt(e, a)) {
			rc = not_ours(x, e, a, err);
			pthread_mutex_unlock(&x->mu);
			return rc;
		}
		if (!e->submitted)
			x->st.adopted++;
		e->submitted = 1;
		if (a->timeout_ms > 0)
			e->timeout_ms = a->timeout_ms;
		pthread_mutex_unlock(&x->mu);
		return 0;
	}
	if (e != NULL && (e->job_deleted || e->released) && !e->log_busy)
		kx_remove_entry(x, e);	/* gone: start it afresh */
	pthread_mutex_unlock(&x->mu);

	if ((rc = kube_job_manifest(a, &x->jo, &json, err)) < 0)
		return for_engine(rc, err);
	pthread_mutex_lock(&x->mu);
	if ((e = kx_add(x, a->name)) != NULL) {
		e->submitted = 1;
		e->submitted_ms = sys_now_ms();
		e->unseen_check_ms = 0;
		e->timeout_ms = a->timeout_ms;
		e->nodes = kube_job_is_multinode(a) ? a->nodes : 0;
	}
	pthread_mutex_unlock(&x->mu);
	if (kube_job_is_multinode(a)) {
		if ((rc = create_service(x, a, err)) < 0)
			tries = 2;	/* no Job without its Service */
		made_service = rc == 1;
	}
	for (; tries < 2; tries++) {
		rc = kube_api_job_create(x->k, x->ns, json, strlen(json), NULL,
		    err);
		if (rc == 0) {
			pthread_mutex_lock(&x->mu);
			x->st.creates++;
			pthread_mutex_unlock(&x->mu);
			log_debug("kubernetes job created", "job=%s "
			    "namespace=%s", a->name, x->ns);
			break;
		}
		if (rc != ERR_CONFLICT)
			break;
		/* 409: a restart, or a retried create whose answer was
		 * lost; gone again by now (404): create it once more */
		if ((rc = adopt_existing(x, a, err)) != ERR_NOTFOUND)
			break;
	}
	free(json);
	if (rc < 0) {
		unmark(x, a->name);
		/* refused for good: the Service made for it goes too (one
		 * that was there may be another run's: it stays) */
		if (made_service && for_engine(rc, NULL) == ERR_INVALID &&
		    kx_delete_service(x, a->name, &derr) < 0)
			log_warn("kubernetes service not deleted", "service=%s "
			    "namespace=%s error=\"%s\"", a->name, x->ns,
			    derr.msg);
		if (rc == ERR_INVALID)
			err_prefix(err, "stage '%s'", a->stage);
		return for_engine(rc, err);
	}
	return 0;
}

/* ---- cancel and release ------------------------------------------------------------ */

int
kx_delete_service(struct kexec *x, const char *name, struct err *err)
{
	int rc;

	pthread_mutex_lock(&x->mu);
	x->st.deletes++;
	pthread_mutex_unlock(&x->mu);
	rc = kube_api_service_delete(x->k, x->ns, name, err);
	if (rc == ERR_NOTFOUND)
		rc = 0;
	if (rc < 0)
		return for_engine(rc, err);
	return 0;
}

int
kx_delete_job(struct kexec *x, const char *name, struct err *err)
{
	int rc;

	pthread_mutex_lock(&x->mu);
	x->st.deletes++;
	pthread_mutex_unlock(&x->mu);
	rc = kube_api_job_delete(x->k, x->ns, name, err);
	if (rc == ERR_NOTFOUND)
		rc = 0;
	if (rc < 0)
		return for_engine(rc, err);
	return 0;
}

static int
kx_cancel(void *impl, const char *name, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	int service = 0, drc;

	pthread_mutex_lock(&x->mu);
	e = kx_find(x, name);
	if (!known(e)) {
		if (x->jobs_synced) {
			pthread_mutex_unlock(&x->mu);
			return 0;	/* no such Job */
		}
	} else {
		if (finished(e)) {
			pthread_mutex_unlock(&x->mu);
			return 0;
		}
		e->canceled = 1;
		service = e->nodes > 1;
		/* keep what they wrote: the Job's pods go with it */
		kx_logs_follow_now(x, e);
	}
	pthread_mutex_unlock(&x->mu);
	log_info("kubernetes job canceled", "job=%s namespace=%s", name,
	    x->ns);
	if ((drc = kx_delete_job(x, name, err)) < 0 || !service)
		return drc;
	return kx_delete_service(x, name, err);
}

static int
kx_release(void *impl, const char *name, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	int need_delete, service;

	pthread_mutex_lock(&x->mu);
	e = kx_find(x, name);
	if (!known(e)) {
		if (e != NULL && !e->log_busy && !e->released)
			kx_remove_entry(x, e);
		need_delete = !x->jobs_synced;
		pthread_mutex_unlock(&x->mu);
		return need_delete ? kx_delete_job(x, name, err) : 0;
	}
	if (!finished(e) && !e->canceled) {
		pthread_mutex_unlock(&x->mu);
		return err_set(err, ERR_CONFLICT, "attempt '%s' has not "
		    "finished; cancel it first", name);
	}
	/* ttlSecondsAfterFinished 0: the TTL controller deletes it now */
	need_delete = !e->job_deleted && !(x->jo.ttl_after_finished_s == 0 &&
	    job_done(e));
	service = e->nodes > 1;
	if (e->job_deleted && !e->log_busy) {
		kx_remove_entry(x, e);
	} else {
		/* until the watch says it is gone (or the kx_sweep) */
		e->released = 1;
		e->submitted = 0;
		e->deleted_ms = sys_now_ms();
		kx_stream_stop(x, e);
		kx_drop_log(x, e);
	}
	/* a worker deletes it: the engine's loop does not wait for that */
	if (need_delete)
		kx_enqueue(x, TASK_DELETE, name);
	/* the Service is no Job's dependent: the TTL leaves it */
	if (service)
		kx_enqueue(x, TASK_DELETE_SERVICE, name);
	pthread_mutex_unlock(&x->mu);
	return 0;
}

/* ---- life ------------------------------------------------------------------------- */

static void
kx_free(void *impl)
{
	struct kexec *x = impl;
	struct kentry *e, *next;
	struct task *t;
	size_t i;
	int w;

	if (x == NULL)
		return;
	pthread_mutex_lock(&x->mu);
	/* let the deletes of released Jobs go out first, for a moment */
	{
		int64_t until = sys_now_ms() + DRAIN_MS;
		struct timespec ts;

		while (x->nworkers > 0 && x->ntasks + (size_t)x->busy_workers >
		    0 && sys_now_ms() < until) {
			ts = sys_deadline_in(50);
			(void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
		}
	}
	x->stopping = 1;
	pthread_cond_broadcast(&x->task_cv);
	for (i = 0; i < x->nbuckets; i++)
		for (e = x->buckets[i]; e != NULL; e = e->next)
			kx_stream_stop(x, e);
	kx_streams_wait(x);	/* they use the client */
	pthread_mutex_unlock(&x->mu);
	for (w = 0; w < x->nworkers; w++)
		pthread_join(x->workers[w], NULL);
	if (x->ntasks > 0)
		log_warn("kubernetes executor stopped with work left",
		    "namespace=%s tasks=%zu "
		    "finished_deleted_by=ttlSecondsAfterFinished", x->ns,
		    x->ntasks);
	while ((t = x->tasks) != NULL) {
		x->tasks = t->next;
		free(t);
	}
	kube_watch_free(x->jobs_w);
	kube_watch_free(x->pods_w);
	kube_watch_free(x->workloads_w);
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->log);
			kx_index_forget(e);
			free(e);
		}
	}
	free(x->buckets);
	free(x->nodes);
	if (x->owns_k)
		kube_api_free(x->k);
	free(x->checkout_image);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	pthread_cond_destroy(&x->task_cv);
	pthread_mutex_destroy(&x->m_mu);
	free(x);
}

static const struct executor_ops kube_ops = {
	.name = "kubernetes",
	.submit = kx_submit,
	.status = kx_status,
	.logs = kx_logs,
	.cancel = kx_cancel,
	.release = kx_release,
	.set_wake = kx_set_wake,
	.free = kx_free,
};

static int
start(struct executor *out, struct kube_api *k, int owns_k, const char *ns,
    const struct kube_job_opts *jo, struct err *err)
{
	struct kube_watch_opts wo;
	struct kexec *x;
	int rc;

	out->ops = NULL;
	out->impl = NULL;
	if (ns == NULL || ns[0] == '\0')
		ns = kube_api_namespace(k);
	x = xcalloc(1, sizeof(*x));
	x->k = k;
	x->owns_k = owns_k;
	pthread_mutex_init(&x->mu, NULL);
	sys_cond_init_monotonic(&x->cv);
	sys_cond_init_monotonic(&x->task_cv);
	pthread_mutex_init(&x->m_mu, NULL);
	if (str_copy(x->ns, sizeof(x->ns), ns) < 0) {
		rc = err_set(err, ERR_INVALID, "namespace '%s' is too long", ns);
		goto fail;
	}
	if (jo != NULL)
		x->jo = *jo;
	else
		x->jo.ttl_after_finished_s = -1;
	x->jo.namespace = x->ns;
	if (x->jo.checkout_image != NULL) {
		x->checkout_image = xstrdup(x->jo.checkout_image);
		x->jo.checkout_image = x->checkout_image;
	}
	memset(&wo, 0, sizeof(wo));
	wo.ns = x->ns;
	wo.resource = KUBE_RES_JOBS;
	wo.cb = kx_on_job;
	wo.arg = x;
	if ((rc = kube_watch_start(&x->jobs_w, k, &wo, err)) < 0)
		goto fail;
	wo.resource = KUBE_RES_PODS;
	wo.cb = NULL;
	wo.pod_cb = kx_on_pod;
	if ((rc = kube_watch_start(&x->pods_w, k, &wo, err)) < 0)
		goto fail;
	/* Kueue's Workloads (where discovery finds Kueue); they carry no
	 * label of their Job, so all of the namespace */
	wo.resource = KUBE_RES_WORKLOADS;
	wo.pod_cb = NULL;
	wo.workload_cb = kx_on_workload;
	wo.selector = "";
	if ((rc = kube_watch_start(&x->workloads_w, k, &wo, err)) < 0)
		goto fail;
	for (x->nworkers = 0; x->nworkers < WORKERS; x->nworkers++) {
		if (pthread_create(&x->workers[x->nworkers], NULL,
		    kx_worker_main, x) != 0) {
			rc = err_set(err, ERR_GENERIC, "cannot start the "
			    "kubernetes executor's threads");
			goto fail;
		}
	}
	out->ops = &kube_ops;
	out->impl = x;
	return 0;
fail:
	kx_free(x);
	return rc;
}

int
exec_kube_check_secrets(void *impl, const struct cfg *cfg, struct err *err)
{
	struct kexec *x = impl;
	struct err e2;
	int rc;

	for (size_t i = 0; i < cfg->nrepositories; i++) {
		const struct cfg_repo *r = &cfg->repositories[i];

		if (r->kubernetes_secret == NULL)
			continue;
		rc = kube_api_secret_exists(x->k, x->ns, r->kubernetes_secret,
		    &e2);
		if (rc == ERR_NOTFOUND)
			return err_set(err, ERR_INVALID, "repositories[%zu]."
			    "kubernetes_secret: Secret '%s' not found in "
			    "namespace '%s' (the checkout of repository '%s' "
			    "needs it; create it or fix the name)", i,
			    r->kubernetes_secret, x->ns, r->name);
		if (rc < 0)
			log_warn("cannot check the checkout Secret; a missing "
			    "one will show as the pod's FailedMount event",
			    "repository=%s secret=%s namespace=%s error=\"%s\"",
			    r->name, r->kubernetes_secret, x->ns, e2.msg);
	}
	return 0;
}

struct kube_api *
exec_kube_api(void *impl, const char **ns)
{
	struct kexec *x = impl;

	*ns = x->ns;
	return x->k;
}

int
exec_kube_new_with(struct executor *out, struct kube_api *k, const char *ns,
    const struct kube_job_opts *jo, struct err *err)
{
	return start(out, k, 0, ns, jo, err);
}

int
exec_kube_new(struct executor *out, const struct cfg *cfg, struct err *err)
{
	const struct cfg_kube *c = &cfg->kubernetes;
	struct kube_auth_opts ao;
	struct kube_api_opts ko;
	struct kube_job_opts jo;
	struct kube_auth *auth = NULL;
	struct kube_api *k = NULL;
	struct buf desc;
	int rc;

	out->ops = NULL;
	out->impl = NULL;
	memset(&ao, 0, sizeof(ao));
	ao.kubeconfig = c->kubeconfig;
	ao.context = c->context;
	ao.namespace = c->namespace;
	ao.envp = environ;
	if ((rc = kube_auth_load(&auth, &ao, err)) < 0)
		goto out;
	memset(&ko, 0, sizeof(ko));
	ko.qps = c->qps;
	ko.burst = c->burst;
	ko.retry_budget_ms = RETRY_BUDGET_MS;
	if ((rc = kube_api_new(&k, auth, &ko, err)) < 0)
		goto out;
	memset(&jo, 0, sizeof(jo));
	jo.ttl_after_finished_s = c->ttl_after_finished_ms < 0 ? -1 :
	    c->ttl_after_finished_ms / 1000;
	jo.checkout_image = c->checkout_image;
	cfg_kube_podsec(c, &jo.security_context);
	buf_init(&desc, 1024);
	if (kube_auth_describe(auth, &desc) == 0)
		log_info("kubernetes executor", "config=%s", desc.data);
	buf_release(&desc);
	rc = start(out, k, 1, auth->namespace, &jo, err);
	k = NULL;	/* the executor owns it, or start freed it */
	if (rc == 0 && (rc = exec_kube_check_secrets(out->impl, cfg,
	    err)) < 0) {
		out->ops->free(out->impl);
		out->ops = NULL;
		out->impl = NULL;
	}
out:
	kube_api_free(k);
	kube_auth_free(auth);
	return rc;
}
