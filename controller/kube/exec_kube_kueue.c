/*
 * exec_kube_kueue.c - Kueue in the Kubernetes executor: the Workload of a
 * queued stage's Job, from a watch of kueue.x-k8s.io workloads in the
 * namespace (the same list-then-watch as Jobs and pods; no watch where
 * discovery finds no Kueue), merged into the Job's entry by its
 * ownerReferences, and what status() makes of it:
 *
 *	QuotaReserved=False	the waiting reason is Kueue's message
 *				("couldn't assign flavors to pod set main:
 *				insufficient unused quota for nvidia.com/gpu
 *				in flavor h100, 4 more needed")
 *	Evicted=True		"evicted by Kueue: MESSAGE; waiting to be
 *				admitted again", and exec_status.evicted: the
 *				engine sends a running attempt back to
 *				waiting, without counting a failure
 *	admission		the flavor(s) and when it was admitted
 *	schedulingStats		how many times it was evicted (at least the
 *				evictions this watch saw)
 */
#include <stddef.h>
#include <string.h>

#include "base/sys.h"
#include "kube/exec_kube_int.h"

static void
merge_workload(struct kentry *e, const struct kube_workload *wl)
{
	int same = e->wl_seen && strcmp(e->wl_name, wl->name) == 0;

	if (!same) {
		/* another Workload (a new Job of that name): its own facts */
		e->wl_evicted = -1;
		e->wl_seen_evictions = 0;
		e->wl_evictions = 0;
		e->wl_admitted_ms = 0;
		e->wl_flavor[0] = '\0';
	}
	(void)str_copy(e->wl_name, sizeof(e->wl_name), wl->name);
	(void)str_copy(e->wl_job_uid, sizeof(e->wl_job_uid), wl->job_uid);
	e->wl_seen = 1;
	e->wl_reserved = wl->quota_reserved;
	(void)str_copy(e->wl_why, sizeof(e->wl_why), wl->reserve_message);
	e->wl_admitted = wl->admitted;
	if (wl->admitted == 1 && wl->admitted_ms > 0)
		e->wl_admitted_ms = wl->admitted_ms;
	if (wl->evicted == 1 && e->wl_evicted != 1)
		e->wl_seen_evictions++;
	e->wl_evicted = wl->evicted;
	(void)str_copy(e->wl_evict_why, sizeof(e->wl_evict_why),
	    wl->evict_message[0] != '\0' ? wl->evict_message :
	    wl->evict_reason);
	if (wl->flavor[0] != '\0')	/* kept after the admission goes */
		(void)str_copy(e->wl_flavor, sizeof(e->wl_flavor), wl->flavor);
	e->wl_evictions = wl->evictions > e->wl_seen_evictions ?
	    wl->evictions : e->wl_seen_evictions;
}

void
kx_on_workload(void *arg, enum kube_watch_type type,
    const struct kube_workload *wl)
{
	struct kexec *x = arg;
	struct kentry *e;

	pthread_mutex_lock(&x->mu);
	kx_changed(x);
	if (type == KUBE_WATCH_SYNCED) {
		x->workloads_synced = 1;
		goto out;
	}
	/* a DELETED after a re-list carries no owner: by the name */
	e = wl->job[0] != '\0' ? kx_find(x, wl->job) :
	    kx_find_by_field(x, offsetof(struct kentry, wl_name), wl->name);
	if (type == KUBE_WATCH_DELETED) {
		if (e != NULL && e->wl_seen &&
		    strcmp(e->wl_name, wl->name) == 0)
			e->wl_seen = 0;	/* the facts it gave stay */
		goto out;
	}
	if (wl->job[0] == '\0')
		goto out;	/* not a Job's: not ours */
	if (e != NULL && e->uid[0] != '\0' && wl->job_uid[0] != '\0' &&
	    strcmp(e->uid, wl->job_uid) != 0)
		goto out;	/* of an older Job of that name */
	/* before its Job: kept as an orphan, if it is an attempt's (the
	 * watch sees every Workload of the namespace, not only ours) */
	if (e == NULL && (strncmp(wl->job, "sluice-", 7) != 0 ||
	    (e = kx_add(x, wl->job)) == NULL))
		goto out;
	merge_workload(e, wl);
out:
	pthread_mutex_unlock(&x->mu);
}

/* The Workload e knows is the one of its Job (not an older one's). */
static int
current(const struct kentry *e)
{
	return e->wl_seen && (e->uid[0] == '\0' || e->wl_job_uid[0] == '\0' ||
	    strcmp(e->uid, e->wl_job_uid) == 0);
}

int
kx_kueue_waiting(const struct kentry *e, struct exec_status *out)
{
	if (!current(e))
		return 0;
	if (e->wl_evicted == 1) {
		textf(out->waiting_reason, sizeof(out->waiting_reason),
		    "evicted by Kueue: %s; waiting to be admitted again",
		    e->wl_evict_why[0] != '\0' ? e->wl_evict_why : "evicted");
		out->evicted = 1;
		return 1;
	}
	if (e->wl_reserved == 0 && e->wl_why[0] != '\0') {
		(void)str_copy(out->waiting_reason,
		    sizeof(out->waiting_reason), e->wl_why);
		return 1;
	}
	return 0;
}

void
kx_kueue_facts(const struct kentry *e, struct exec_status *out)
{
	(void)str_copy(out->queue, sizeof(out->queue), e->queue);
	if (e->wl_job_uid[0] != '\0' && e->uid[0] != '\0' &&
	    strcmp(e->uid, e->wl_job_uid) != 0)
		return;		/* an older Job's Workload */
	(void)str_copy(out->flavor, sizeof(out->flavor), e->wl_flavor);
	out->admitted_at = e->wl_admitted_ms;
	out->evictions = e->wl_evictions;
}
