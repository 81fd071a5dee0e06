/*
 * exec_kube_status.c - the status of an attempt from its entry: the
 * state, failure messages, pending reasons (from the pod, else from the
 * events), a Job created but not yet seen on the watch.
 */

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sys.h"
#include "base/units.h"
#include "kube/exec_kube_int.h"

/* ---- status --------------------------------------------------------------------- */

static void
failure_message(const struct kentry *e, char *out, size_t len)
{
	char d[32];
	int64_t t = e->timeout_ms > 0 ? e->timeout_ms : e->deadline_s * 1000;

	if (strcmp(e->reason, "DeadlineExceeded") == 0) {
		if (t > 0) {
			units_format_duration(t, d, sizeof(d));
			textf(out, len, "timeout after %s", d);
		} else {
			textf(out, len, "timeout: %s", e->message);
		}
	} else if (strcmp(e->pod_reason, "Evicted") == 0) {
		textf(out, len, "Evicted: %s", e->pod_message);
	} else if (e->exit_code >= 0 && strcmp(e->term_reason,
	    "OOMKilled") == 0) {
		textf(out, len, "OOMKilled (exit status %d)",
		    e->exit_code);
	} else if (e->exit_code > 0) {
		textf(out, len, "exit status %d", e->exit_code);
	} else if (e->reason[0] != '\0') {
		textf(out, len, "%s%s%s", e->reason,
		    e->message[0] ? ": " : "", e->message);
	} else {
		textf(out, len, "job failed");
	}
}

/*
 * The Job failed, but the pod watch (another stream) has not brought its
 * pod's end yet: its exit status is about to come.
 */
static int
pod_lags(const struct kentry *e, int64_t now)
{
	return e->state == KUBE_JOB_FAILED && e->exit_code < 0 &&
	    e->pod[0] != '\0' && !e->pod_deleted &&
	    e->pod_phase != KUBE_POD_SUCCEEDED &&
	    e->pod_phase != KUBE_POD_FAILED &&
	    strcmp(e->reason, "DeadlineExceeded") != 0 &&
	    now - e->done_ms < POD_LAG_MS;
}

/* Fill *out from e (known). */
static void
fill(const struct kentry *e, struct exec_status *out, int64_t now)
{
	int running;

	if (!e->job_seen && !e->job_deleted) {
		out->state = EXEC_PENDING;	/* created, not in the watch yet */
		return;
	}
	if (e->job_deleted && !job_done(e)) {
		out->finished_at = e->deleted_unix_ms;
		if (e->canceled) {
			out->state = EXEC_CANCELED;
			textf(out->message, sizeof(out->message),
			    "canceled");
		} else {
			out->state = EXEC_FAILED;
			textf(out->message, sizeof(out->message),
			    "job deleted before it finished");
		}
		out->started_at = e->started_ms;
		return;
	}
	running = e->state == KUBE_JOB_RUNNING ||
	    (e->state == KUBE_JOB_PENDING && e->pod_phase == KUBE_POD_RUNNING) ||
	    pod_lags(e, now);
	if (running || job_done(e))
		out->started_at = e->pod_started_ms > 0 ? e->pod_started_ms :
		    e->started_ms;
	if (pod_lags(e, now)) {
		out->state = EXEC_RUNNING;
		return;
	}
	switch (e->state) {
	case KUBE_JOB_SUCCEEDED:
		out->state = EXEC_SUCCEEDED;
		out->exit_code = 0;
		out->finished_at = e->finished_ms;
		return;
	case KUBE_JOB_FAILED:
		out->state = EXEC_FAILED;
		out->exit_code = e->exit_code;
		out->finished_at = e->finished_ms;
		failure_message(e, out->message, sizeof(out->message));
		return;
	case KUBE_JOB_SUSPENDED:
		out->state = EXEC_PENDING;
		if (e->queue[0] != '\0')
			textf(out->waiting_reason,
			    sizeof(out->waiting_reason), "waiting for Kueue "
			    "admission (queue %s)", e->queue);
		else
			textf(out->waiting_reason,
			    sizeof(out->waiting_reason), "suspended");
		return;
	case KUBE_JOB_RUNNING:
	case KUBE_JOB_PENDING:
		break;
	}
	if (running) {
		out->state = EXEC_RUNNING;
		return;
	}
	out->state = EXEC_PENDING;
	(void)str_copy(out->waiting_reason, sizeof(out->waiting_reason),
	    e->pod_why[0] != '\0' ? e->pod_why : e->event_why);
}

/* Should status look at the events of e (pending, no reason known)? */
static int
wants_events(const struct kentry *e, int64_t now)
{
	return e->job_seen && !e->job_deleted && e->state == KUBE_JOB_PENDING &&
	    e->pod_phase == KUBE_POD_PENDING && e->pod_why[0] == '\0' &&
	    e->pending_since_ms > 0 && now - e->pending_since_ms >=
	    EVENTS_AFTER_MS && (e->events_ms == 0 || now - e->events_ms >=
	    EVENTS_EVERY_MS);
}

static void
read_events(struct kexec *x, struct kentry *e)
{
	struct kube_event_list evs;
	struct err err;
	char kind[8], name[KUBE_NAME_MAX], job[64], why[600];
	uint64_t gen = e->gen;
	size_t i;
	int rc;

	e->events_ms = sys_now_ms();
	(void)str_copy(job, sizeof(job), e->name);
	(void)str_copy(kind, sizeof(kind), e->pod[0] ? "Pod" : "Job");
	(void)str_copy(name, sizeof(name), e->pod[0] ? e->pod : e->name);
	x->st.event_reads++;
	why[0] = '\0';
	pthread_mutex_unlock(&x->mu);
	rc = kube_api_event_list(x->k, x->ns, kind, name, &evs, &err);
	if (rc == 0) {
		for (i = evs.n; i > 0; i--) {
			if (strcmp(evs.items[i - 1].type, "Warning") == 0) {
				textf(why, sizeof(why), "%s: %s",
				    evs.items[i - 1].reason,
				    evs.items[i - 1].message);
				break;
			}
		}
		kube_event_list_release(&evs);
	} else {
		log_debug("kubernetes events", "job=%s error=\"%s\"", name,
		    err.msg);
	}
	pthread_mutex_lock(&x->mu);
	if (rc == 0 && (e = kx_find_gen(x, job, gen)) != NULL)
		(void)str_copy(e->event_why, sizeof(e->event_why), why);
}

/* A Job created here that the watch has not shown: ask for it. */
static void
check_unseen(struct kexec *x, struct kentry *e)
{
	struct kube_job *j = xcalloc(1, sizeof(*j));
	char name[64];
	uint64_t gen = e->gen;
	struct err err;
	int rc;

	e->unseen_check_ms = sys_now_ms();
	(void)str_copy(name, sizeof(name), e->name);
	pthread_mutex_unlock(&x->mu);
	rc = kube_api_job_get(x->k, x->ns, name, j, &err);
	pthread_mutex_lock(&x->mu);
	if ((e = kx_find_gen(x, name, gen)) != NULL && !e->job_seen) {
		if (rc == 0) {
			kx_merge_job(e, j);
			e->job_seen = 1;
		} else if (rc == ERR_NOTFOUND) {
			e->job_deleted = 1;
			e->deleted_ms = sys_now_ms();
			e->deleted_unix_ms = sys_wall_ms();
		}
	}
	free(j);
}

int
kx_status(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	int64_t now = sys_now_ms();
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	pthread_mutex_lock(&x->mu);
	kx_sweep(x);
	e = kx_find(x, name);
	if (!known(e)) {
		if (!x->jobs_synced)
			rc = err_set(err, ERR_TRANSIENT, "the kubernetes watch "
			    "of namespace '%s' has not listed the jobs yet",
			    x->ns);
		out->state = EXEC_UNKNOWN;
		goto out;
	}
	if (!e->job_seen && !e->job_deleted && x->jobs_synced &&
	    now - e->submitted_ms >= UNSEEN_AFTER_MS &&
	    now - e->unseen_check_ms >= UNSEEN_AFTER_MS) {
		check_unseen(x, e);
		if ((e = kx_find(x, name)) == NULL) {
			out->state = EXEC_UNKNOWN;
			goto out;
		}
	}
	if (wants_events(e, now)) {
		uint64_t gen = e->gen;

		read_events(x, e);
		if ((e = kx_find_gen(x, name, gen)) == NULL) {
			out->state = EXEC_UNKNOWN;
			goto out;
		}
	}
	fill(e, out, now);
out:
	pthread_mutex_unlock(&x->mu);
	return rc;
}
