/*
 * exec_kube_watch.c - what the watches say: Job and pod events merged
 * into the entries of the table.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"
#include "kube/kube_job.h"

/* ---- what the watches say ------------------------------------------------------ */

static int
parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

void
kx_merge_job(struct kentry *e, const struct kube_job *j)
{
	const char *v;
	int64_t run = 0, attempt = 0, step = 0, nodes = 0;

	(void)str_copy(e->uid, sizeof(e->uid), j->uid);
	e->state = j->state;
	(void)str_copy(e->reason, sizeof(e->reason), j->reason);
	(void)str_copy(e->message, sizeof(e->message), j->message);
	e->started_ms = j->started_ms;
	e->finished_ms = j->finished_ms;
	e->deadline_s = j->active_deadline_s;
	v = kube_job_label(j, QUEUE_LABEL);
	(void)str_copy(e->queue, sizeof(e->queue), v != NULL ? v : "");
	e->labels_ok = parse_int(kube_job_label(j, "sluice/run"), &run) == 0 &&
	    parse_int(kube_job_label(j, "sluice/attempt"), &attempt) == 0 &&
	    (v = kube_job_label(j, "sluice/stage")) != NULL &&
	    str_copy(e->stage, sizeof(e->stage), v) == 0;
	if (kube_job_label(j, "sluice/step") != NULL &&
	    parse_int(kube_job_label(j, "sluice/step"), &step) < 0)
		e->labels_ok = 0;
	if ((v = kube_job_label(j, KUBE_NODES_LABEL)) != NULL &&
	    parse_int(v, &nodes) == 0 && nodes > 1 && nodes <= LIM_STAGE_NODES)
		e->nodes = (int)nodes;
	if (e->labels_ok) {
		e->run_id = run;
		e->attempt = (int)attempt;
		e->step = (int)step;
	}
	if (e->state == KUBE_JOB_PENDING && e->pending_since_ms == 0)
		e->pending_since_ms = sys_now_ms();
	if ((e->state == KUBE_JOB_SUCCEEDED || e->state == KUBE_JOB_FAILED) &&
	    e->done_ms == 0)
		e->done_ms = sys_now_ms();
}

/* A Job of the same name but another uid: a new incarnation. */
void
kx_reset_for(struct kexec *x, struct kentry *e, const char *uid)
{
	if (e->uid[0] == '\0' || uid[0] == '\0' || strcmp(e->uid, uid) == 0)
		return;
	e->job_deleted = 0;
	e->canceled = 0;
	e->released = 0;
	e->submitted = 0;
	e->done_ms = 0;
	e->pod[0] = '\0';
	e->pod_deleted = 0;
	e->pod_phase = KUBE_POD_PENDING;
	e->pod_why[0] = '\0';
	e->event_why[0] = '\0';
	e->exit_code = -1;
	e->pending_since_ms = 0;
	e->index_failed = 0;
	kx_stream_stop(x, e);
	kx_index_forget(e);
	kx_drop_log(x, e);
}

void
kx_on_job(void *arg, enum kube_watch_type type, const struct kube_job *j)
{
	struct kexec *x = arg;
	struct kentry *e;

	pthread_mutex_lock(&x->mu);
	kx_changed(x);
	if (type == KUBE_WATCH_SYNCED) {
		x->jobs_synced = 1;
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	e = kx_find(x, j->name);
	if (e != NULL && e->released && (j->uid[0] == '\0' ||
	    e->uid[0] == '\0' || strcmp(j->uid, e->uid) == 0)) {
		/* a released Job's last events: gone now, forget it */
		if (type == KUBE_WATCH_DELETED && !e->log_busy)
			kx_remove_entry(x, e);
		goto out;
	}
	if (type == KUBE_WATCH_DELETED) {
		if (e == NULL || e->job_deleted)
			goto out;
		if (j->uid[0] != '\0' && e->uid[0] != '\0' &&
		    strcmp(j->uid, e->uid) != 0)
			goto out;	/* an older incarnation */
		if (j->uid[0] != '\0')
			kx_merge_job(e, j);
		else if (e->job_seen)
			e->state = j->state;	/* after a re-list */
		e->job_deleted = 1;
		e->deleted_ms = sys_now_ms();
		e->deleted_unix_ms = sys_wall_ms();
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	if ((e = kx_add(x, j->name)) == NULL)
		goto out;
	kx_reset_for(x, e, j->uid);
	kx_merge_job(e, j);
	e->job_seen = 1;
	pthread_cond_broadcast(&x->cv);
out:
	pthread_mutex_unlock(&x->mu);
}

static struct kentry *
find_by_pod(struct kexec *x, const char *pod)
{
	return kx_find_by_field(x, offsetof(struct kentry, pod), pod);
}

static void
merge_pod(struct kentry *e, const struct kube_pod *p)
{
	if (strcmp(e->pod, p->name) != 0) {
		(void)str_copy(e->pod, sizeof(e->pod), p->name);
		e->pod_deleted = 0;
		e->exit_code = -1;
		e->term_reason[0] = '\0';
		e->image_id[0] = e->node[0] = '\0';
		e->c_started_ms = e->c_finished_ms = 0;
	}
	/* where and what it ran: kept once known (a later event may be a
	   pod the kubelet no longer reports on) */
	if (p->image_id[0] != '\0')
		(void)str_copy(e->image_id, sizeof(e->image_id), p->image_id);
	if (p->node[0] != '\0')
		(void)str_copy(e->node, sizeof(e->node), p->node);
	if (p->c_started_ms > 0)
		e->c_started_ms = p->c_started_ms;
	if (p->finished_ms > 0)
		e->c_finished_ms = p->finished_ms;
	e->nvidia = p->nvidia;
	e->pod_created_ms = p->created_ms;
	e->pod_phase = p->phase;
	e->pod_started_ms = p->started_ms;
	if (p->exit_code >= 0)
		e->exit_code = p->exit_code;
	(void)str_copy(e->term_reason, sizeof(e->term_reason), p->term_reason);
	(void)str_copy(e->pod_reason, sizeof(e->pod_reason), p->reason);
	(void)str_copy(e->pod_message, sizeof(e->pod_message), p->message);
	e->pod_why[0] = '\0';
	if (p->phase != KUBE_POD_PENDING)
		return;
	if (p->scheduled == 0 && p->sched_message[0] != '\0')
		(void)str_copy(e->pod_why, sizeof(e->pod_why),
		    p->sched_message);
	else if (p->waiting_reason[0] != '\0' &&
	    strcmp(p->waiting_reason, "ContainerCreating") != 0 &&
	    strcmp(p->waiting_reason, "PodInitializing") != 0)
		textf(e->pod_why, sizeof(e->pod_why), "%s%s%s",
		    p->waiting_reason, p->waiting_message[0] ? ": " : "",
		    p->waiting_message);
}

/*
 * A failed pod of an Indexed Job: keep the index that failed first (the
 * Job controller stops the other pods after it, and they fail too).
 */
static void
note_failed_index(struct kentry *e, const struct kube_pod *p)
{
	if (p->phase != KUBE_POD_FAILED)
		return;
	if (e->index_failed && (p->finished_ms == 0 || (e->failed_ms > 0 &&
	    e->failed_ms <= p->finished_ms)))
		return;
	e->index_failed = 1;
	e->failed_index = p->completion_index;
	e->failed_exit = p->exit_code;
	e->failed_ms = p->finished_ms;
	(void)str_copy(e->failed_term, sizeof(e->failed_term), p->term_reason);
}

/*
 * The pod of an index > 0 (its log is read by name): the newest of that
 * index, as for index 0.  1 when it is the one e follows.
 */
static int
merge_index_pod(struct kentry *e, const struct kube_pod *p)
{
	struct kindex *ix;
	int i = p->completion_index;

	if (i <= 0 || i >= LIM_STAGE_NODES)
		return 0;
	kx_grow_zeroed((void **)&e->idx, &e->nidx, i + 1, sizeof(*e->idx));
	ix = &e->idx[i];
	if (ix->pod[0] != '\0' && strcmp(ix->pod, p->name) != 0 &&
	    !ix->deleted && p->created_ms < ix->created_ms)
		return 0;
	if (strcmp(ix->pod, p->name) != 0) {
		(void)str_copy(ix->pod, sizeof(ix->pod), p->name);
		ix->deleted = 0;
	}
	ix->created_ms = p->created_ms;
	ix->phase = p->phase;
	return 1;
}

/* A deleted pod: the one followed for index 0 or for another index? */
static void
pod_gone(struct kentry *e, const char *pod)
{
	if (strcmp(e->pod, pod) == 0)
		e->pod_deleted = 1;
	for (int i = 1; i < e->nidx; i++)
		if (strcmp(e->idx[i].pod, pod) == 0)
			e->idx[i].deleted = 1;
}

void
kx_on_pod(void *arg, enum kube_watch_type type, const struct kube_pod *p)
{
	struct kexec *x = arg;
	struct kentry *e;

	pthread_mutex_lock(&x->mu);
	kx_changed(x);
	if (type == KUBE_WATCH_SYNCED) {
		x->pods_synced = 1;
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	e = p->job_name[0] != '\0' ? kx_find(x, p->job_name) :
	    find_by_pod(x, p->name);
	if (type == KUBE_WATCH_DELETED) {
		if (e != NULL) {
			pod_gone(e, p->name);
			pthread_cond_broadcast(&x->cv);
		}
		goto out;
	}
	if (e == NULL) {
		if (p->deleting || p->job_name[0] == '\0' ||
		    (e = kx_add(x, p->job_name)) == NULL)
			goto out;
	}
	if (p->completion_index >= 0)
		note_failed_index(e, p);
	/* an Indexed Job's pods: index 0 stands for the attempt (its log,
	 * its state); the others matter when they fail and for their logs */
	if (p->completion_index > 0) {
		if (merge_index_pod(e, p))
			pthread_cond_broadcast(&x->cv);
		goto out;
	}
	/* a Job may make a new pod (eviction): follow the newest */
	if (e->pod[0] != '\0' && strcmp(e->pod, p->name) != 0 &&
	    !e->pod_deleted && p->created_ms < e->pod_created_ms)
		goto out;
	merge_pod(e, p);
	if (e->nvidia)
		kx_want_node(x, e->node);
	pthread_cond_broadcast(&x->cv);
out:
	pthread_mutex_unlock(&x->mu);
}
