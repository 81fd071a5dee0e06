/*
 * exec_kube.c - the Kubernetes executor; see exec_kube.h.
 *
 * The table.  Every name the executor hears of (a submit, a Job from the
 * watch, a pod from the pod watch) has an entry in a hash table under one
 * mutex.  The watches write into it on their threads; the engine's calls
 * read it.  An entry made only by a pod event ("orphan": the pod's Job
 * has not been delivered yet, or was released) does not count as known,
 * and neither does one whose Job was deleted long ago ("tombstone"); both
 * are swept after a while.  A tombstone is kept for a few minutes so that
 * the engine learns that a Job vanished (CANCELED or FAILED) instead of
 * EXEC_UNKNOWN, which would make it start the attempt again.
 *
 * Calls and the lock.  No API call is made with the mutex held: a caller
 * marks what it is about to do in the entry (log_busy), copies what the
 * call needs, unlocks, calls, locks again and finds the entry again by
 * name and generation (release may have removed it meanwhile).
 *
 * Why a pod watch too.  The pod of a Job has a random name; reading its
 * log needs that name, and a pending stage's reason is in the pod.
 * Watching pods (one stream, shared by all attempts) gives both without a
 * call per attempt, so an attempt costs create + log + delete.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/sys.h"
#include "base/units.h"
#include "kube/exec_kube.h"
#include "kube/kube_api.h"
#include "kube/kubeconfig.h"

extern char **environ;

#define CONTAINER		"stage"		/* kube_job.c's container */
#define QUEUE_LABEL		"kueue.x-k8s.io/queue-name"
#define RETRY_BUDGET_MS		10000	/* of the client: submit must not
					   hold the engine for long */
#define SYNC_WAIT_MS		30000	/* reconcile waits this for a list */
#define TOMBSTONE_MS		(10 * 60 * 1000)
#define ORPHAN_MS		(60 * 1000)
#define SWEEP_EVERY_MS		(30 * 1000)
#define EVENTS_AFTER_MS		10000	/* pending this long without a
					   reason: look at the events */
#define EVENTS_EVERY_MS		30000
#define UNSEEN_AFTER_MS		30000	/* created, still not in the watch:
					   ask for the Job itself */
#define LOG_REFRESH_MS		2000	/* a running log read is shared */
#define WORKERS			4	/* threads for log prefetches and
					   the deletes of release */
#define DELETE_TRIES		5
#define DELETE_RETRY_MS		5000
#define DRAIN_MS		5000	/* free() lets queued deletes run */
#define POD_LAG_MS		5000	/* a failed Job's pod: wait this long
					   for its exit status to arrive on
					   the pod watch */

struct kentry {
	struct kentry		*next;		/* hash chain */
	char			 name[64];
	uint64_t		 gen;		/* unique per entry made */
	int64_t			 first_ms;	/* monotonic, when made */

	/* what the engine did here */
	int			 submitted;
	int64_t			 submitted_ms;
	int64_t			 unseen_check_ms;
	int			 canceled;
	int			 released;	/* release() forgot it: late
					   events of its Job are ignored */
	int64_t			 timeout_ms;	/* from submit, 0 = unknown */

	/* the Job, from the watch */
	int			 job_seen;
	int			 job_deleted;
	int64_t			 deleted_ms;	/* monotonic */
	int64_t			 deleted_unix_ms;
	char			 uid[64];
	enum kube_job_state	 state;
	char			 reason[128];
	char			 message[512];
	int64_t			 started_ms;	/* unix */
	int64_t			 finished_ms;
	int64_t			 deadline_s;
	char			 queue[64];
	int			 labels_ok;	/* run, stage, attempt read */
	int64_t			 run_id;
	char			 stage[64];
	int			 attempt;
	int			 step;
	int64_t			 pending_since_ms;	/* monotonic */
	int64_t			 done_ms;	/* monotonic, seen finished */

	/* its pod, from the pod watch */
	char			 pod[KUBE_NAME_MAX];
	int64_t			 pod_created_ms;
	enum kube_pod_phase	 pod_phase;
	int			 pod_deleted;
	int64_t			 pod_started_ms;
	char			 pod_why[600];	/* why it is not running */
	int			 exit_code;	/* -1 unknown */
	char			 term_reason[64];
	char			 pod_reason[64];	/* Evicted ... */
	char			 pod_message[256];

	/* a pending reason from the events */
	char			 event_why[600];
	int64_t			 events_ms;	/* monotonic, last asked */

	/* the log */
	char			*log;		/* NULL = none kept */
	size_t			 log_len;
	int			 log_final;	/* read after it finished */
	int64_t			 log_ms;	/* monotonic, when read */
	int			 log_busy;	/* a read is under way */
};

/* Work for the worker threads, so that the engine's loop does not wait. */
enum task_kind { TASK_PREFETCH, TASK_DELETE };

struct task {
	struct task	*next;
	enum task_kind	 kind;
	char		 name[64];
	int		 tries;
	int64_t		 not_before;	/* monotonic */
};

struct kexec {
	struct kube_api		*k;
	int			 owns_k;
	char			 ns[64];
	struct kube_job_opts	 jo;
	char			*checkout_image;	/* owned copy */
	struct kube_watch	*jobs_w;
	struct kube_watch	*pods_w;

	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* synced, log reads, pods */
	struct kentry		**buckets;
	size_t			 nbuckets, n;
	uint64_t		 gens;
	int			 jobs_synced, pods_synced;
	uint64_t		 changes;	/* watch deliveries */
	int64_t			 sweep_ms;
	size_t			 log_bytes;
	struct exec_kube_stats	 st;

	/* the workers; the queue is under mu */
	pthread_t		 workers[WORKERS];
	int			 nworkers;
	pthread_cond_t		 task_cv;
	struct task		*tasks, *tasks_tail;
	size_t			 ntasks;
	int			 busy_workers;
	int			 stopping;

	pthread_mutex_t		 m_mu;		/* the metrics collector */
	struct metric		*m_calls;
	uint64_t		 m_last[KUBE_VERB_N][KUBE_RES_N][KUBE_ANSWER_N];
};

/* ---- text and time ------------------------------------------------------- */

/* snprintf into a field, cut to fit: these are messages for people. */
static void textf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
textf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* ---- the table (under mu) ---------------------------------------------------- */

static size_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static struct kentry *
find(struct kexec *x, const char *name)
{
	struct kentry *e;

	if (x->nbuckets == 0)
		return NULL;
	for (e = x->buckets[hash(name) & (x->nbuckets - 1)]; e != NULL;
	    e = e->next) {
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* The entry of name when it is still the one of generation gen. */
static struct kentry *
find_gen(struct kexec *x, const char *name, uint64_t gen)
{
	struct kentry *e = find(x, name);

	return e != NULL && e->gen == gen ? e : NULL;
}

static void
grow_table(struct kexec *x)
{
	struct kentry **nb, *e, *next;
	size_t nn = x->nbuckets ? x->nbuckets * 2 : 256, i, h;

	nb = xcalloc(nn, sizeof(*nb));
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			h = hash(e->name) & (nn - 1);
			e->next = nb[h];
			nb[h] = e;
		}
	}
	free(x->buckets);
	x->buckets = nb;
	x->nbuckets = nn;
}

/* Find or make the entry of name (a name longer than a label: NULL). */
static struct kentry *
add(struct kexec *x, const char *name)
{
	struct kentry *e = find(x, name);
	size_t h;

	if (e != NULL)
		return e;
	if (strlen(name) >= sizeof(e->name))
		return NULL;
	if (x->n >= x->nbuckets)
		grow_table(x);
	e = xcalloc(1, sizeof(*e));
	(void)str_copy(e->name, sizeof(e->name), name);
	e->gen = ++x->gens;
	e->first_ms = sys_now_ms();
	e->exit_code = -1;
	e->pod_phase = KUBE_POD_PENDING;
	h = hash(name) & (x->nbuckets - 1);
	e->next = x->buckets[h];
	x->buckets[h] = e;
	x->n++;
	return e;
}

static void
drop_log(struct kexec *x, struct kentry *e)
{
	x->log_bytes -= e->log_len;
	free(e->log);
	e->log = NULL;
	e->log_len = 0;
	e->log_final = 0;
}

static void
remove_entry(struct kexec *x, struct kentry *e)
{
	struct kentry **pp = &x->buckets[hash(e->name) & (x->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = e->next;
	x->n--;
	drop_log(x, e);
	free(e);
}

/* Does the engine's view include this entry (see the top comment)? */
static int
known(const struct kentry *e)
{
	return e != NULL && !e->released && (e->submitted || e->job_seen);
}

static int
job_done(const struct kentry *e)
{
	return e->job_seen && (e->state == KUBE_JOB_SUCCEEDED ||
	    e->state == KUBE_JOB_FAILED);
}

/* Finished for good: its outcome will not change any more. */
static int
finished(const struct kentry *e)
{
	return job_done(e) || e->job_deleted;
}

static int
pod_started(const struct kentry *e)
{
	return e->pod_phase == KUBE_POD_RUNNING ||
	    e->pod_phase == KUBE_POD_SUCCEEDED ||
	    e->pod_phase == KUBE_POD_FAILED ||
	    (e->job_seen && e->state == KUBE_JOB_RUNNING) || job_done(e);
}

static void
sweep(struct kexec *x)
{
	struct kentry *e, *next;
	int64_t now = sys_now_ms();
	size_t i;

	if (now - x->sweep_ms < SWEEP_EVERY_MS)
		return;
	x->sweep_ms = now;
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (e->log_busy)
				continue;
			if ((e->job_deleted && now - e->deleted_ms >
			    TOMBSTONE_MS) || (!known(e) && now - e->first_ms >
			    ORPHAN_MS) || (e->released && now -
			    e->deleted_ms > ORPHAN_MS))
				remove_entry(x, e);
		}
	}
}

/* Keep a log read into e, within the memory budget. */
static void
keep_log(struct kexec *x, struct kentry *e, struct buf *b, int final)
{
	struct kentry *o;
	size_t i;

	drop_log(x, e);
	e->log_len = b->len;
	e->log = buf_detach(b);
	if (e->log == NULL)
		e->log_len = 0;
	e->log_final = final;
	e->log_ms = sys_now_ms();
	x->log_bytes += e->log_len;
	/* over budget: forget other finished logs (they can be read again) */
	for (i = 0; i < x->nbuckets && x->log_bytes > LIM_KUBE_LOG_CACHE; i++) {
		for (o = x->buckets[i]; o != NULL &&
		    x->log_bytes > LIM_KUBE_LOG_CACHE; o = o->next) {
			if (o != e && o->log != NULL && !o->log_busy)
				drop_log(x, o);
		}
	}
}

/* Queue work for the workers (under mu). */
static void
enqueue(struct kexec *x, enum task_kind kind, const char *name)
{
	struct task *t;

	if (x->nworkers == 0 || x->stopping)
		return;
	t = xcalloc(1, sizeof(*t));
	t->kind = kind;
	(void)str_copy(t->name, sizeof(t->name), name);
	if (x->tasks_tail != NULL)
		x->tasks_tail->next = t;
	else
		x->tasks = t;
	x->tasks_tail = t;
	x->ntasks++;
	pthread_cond_signal(&x->task_cv);
}

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

static void
merge_job(struct kentry *e, const struct kube_job *j)
{
	const char *v;
	int64_t run = 0, attempt = 0, step = 0;

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
static void
reset_for(struct kexec *x, struct kentry *e, const char *uid)
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
	drop_log(x, e);
}

static void
on_job(void *arg, enum kube_watch_type type, const struct kube_job *j)
{
	struct kexec *x = arg;
	struct kentry *e;
	int was_done;

	pthread_mutex_lock(&x->mu);
	x->changes++;
	pthread_cond_broadcast(&x->cv);
	if (type == KUBE_WATCH_SYNCED) {
		x->jobs_synced = 1;
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	e = find(x, j->name);
	if (e != NULL && e->released && (j->uid[0] == '\0' ||
	    e->uid[0] == '\0' || strcmp(j->uid, e->uid) == 0)) {
		/* a released Job's last events: gone now, forget it */
		if (type == KUBE_WATCH_DELETED && !e->log_busy)
			remove_entry(x, e);
		goto out;
	}
	if (type == KUBE_WATCH_DELETED) {
		if (e == NULL || e->job_deleted)
			goto out;
		if (j->uid[0] != '\0' && e->uid[0] != '\0' &&
		    strcmp(j->uid, e->uid) != 0)
			goto out;	/* an older incarnation */
		if (j->uid[0] != '\0')
			merge_job(e, j);
		else if (e->job_seen)
			e->state = j->state;	/* after a re-list */
		e->job_deleted = 1;
		e->deleted_ms = sys_now_ms();
		e->deleted_unix_ms = sys_wall_ms();
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	if ((e = add(x, j->name)) == NULL)
		goto out;
	reset_for(x, e, j->uid);
	was_done = e->done_ms != 0;
	merge_job(e, j);
	e->job_seen = 1;
	/* it just finished: read its log now, before the engine asks */
	if (!was_done && e->done_ms != 0 && e->submitted && e->log == NULL &&
	    !e->log_busy)
		enqueue(x, TASK_PREFETCH, e->name);
	pthread_cond_broadcast(&x->cv);
out:
	pthread_mutex_unlock(&x->mu);
}

static struct kentry *
find_by_pod(struct kexec *x, const char *pod)
{
	struct kentry *e;
	size_t i;

	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = e->next) {
			if (strcmp(e->pod, pod) == 0)
				return e;
		}
	}
	return NULL;
}

static void
merge_pod(struct kentry *e, const struct kube_pod *p)
{
	if (strcmp(e->pod, p->name) != 0) {
		(void)str_copy(e->pod, sizeof(e->pod), p->name);
		e->pod_deleted = 0;
		e->exit_code = -1;
		e->term_reason[0] = '\0';
	}
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

static void
on_pod(void *arg, enum kube_watch_type type, const struct kube_pod *p)
{
	struct kexec *x = arg;
	struct kentry *e;

	pthread_mutex_lock(&x->mu);
	x->changes++;
	pthread_cond_broadcast(&x->cv);
	if (type == KUBE_WATCH_SYNCED) {
		x->pods_synced = 1;
		pthread_cond_broadcast(&x->cv);
		goto out;
	}
	e = p->job_name[0] != '\0' ? find(x, p->job_name) :
	    find_by_pod(x, p->name);
	if (type == KUBE_WATCH_DELETED) {
		if (e != NULL && strcmp(e->pod, p->name) == 0) {
			e->pod_deleted = 1;
			pthread_cond_broadcast(&x->cv);
		}
		goto out;
	}
	if (e == NULL) {
		if (p->deleting || p->job_name[0] == '\0' ||
		    (e = add(x, p->job_name)) == NULL)
			goto out;
	}
	/* a Job may make a new pod (eviction): follow the newest */
	if (e->pod[0] != '\0' && strcmp(e->pod, p->name) != 0 &&
	    !e->pod_deleted && p->created_ms < e->pod_created_ms)
		goto out;
	merge_pod(e, p);
	pthread_cond_broadcast(&x->cv);
out:
	pthread_mutex_unlock(&x->mu);
}

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
	if (rc == 0 && (e = find_gen(x, job, gen)) != NULL)
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
	if ((e = find_gen(x, name, gen)) != NULL && !e->job_seen) {
		if (rc == 0) {
			merge_job(e, j);
			e->job_seen = 1;
		} else if (rc == ERR_NOTFOUND) {
			e->job_deleted = 1;
			e->deleted_ms = sys_now_ms();
			e->deleted_unix_ms = sys_wall_ms();
		}
	}
	free(j);
}

static int
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
	sweep(x);
	e = find(x, name);
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
		if ((e = find(x, name)) == NULL) {
			out->state = EXEC_UNKNOWN;
			goto out;
		}
	}
	if (wants_events(e, now)) {
		uint64_t gen = e->gen;

		read_events(x, e);
		if ((e = find_gen(x, name, gen)) == NULL) {
			out->state = EXEC_UNKNOWN;
			goto out;
		}
	}
	fill(e, out, now);
out:
	pthread_mutex_unlock(&x->mu);
	return rc;
}

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
	merge_job(&tmp, j);
	if (!same_attempt(&tmp, a)) {
		rc = not_ours(x, &tmp, a, err);
		goto out;
	}
	pthread_mutex_lock(&x->mu);
	if ((e = add(x, a->name)) != NULL) {
		reset_for(x, e, j->uid);
		merge_job(e, j);
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
	if ((e = find(x, name)) != NULL) {
		e->submitted = 0;
		if (!e->job_seen && !e->log_busy)
			remove_entry(x, e);
	}
	pthread_mutex_unlock(&x->mu);
}

/* Errors the engine can act on: ERR_INVALID for good, else try later. */
static int
for_engine(int rc, struct err *err)
{
	rc = rc == ERR_INVALID || rc == ERR_TOOBIG ? ERR_INVALID :
	    ERR_TRANSIENT;
	if (err != NULL)
		err->code = rc;
	return rc;
}

static int
kx_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	char *json = NULL;
	int rc = 0, tries;

	if (a->name == NULL || strlen(a->name) >= sizeof(e->name))
		return err_set(err, ERR_INVALID, "attempt name '%s' is not a "
		    "kubernetes job name", a->name ? a->name : "");
	pthread_mutex_lock(&x->mu);
	sweep(x);
	e = find(x, a->name);
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
		remove_entry(x, e);	/* gone: start it afresh */
	pthread_mutex_unlock(&x->mu);

	if ((rc = kube_job_manifest(a, &x->jo, &json, err)) < 0)
		return for_engine(rc, err);
	pthread_mutex_lock(&x->mu);
	if ((e = add(x, a->name)) != NULL) {
		e->submitted = 1;
		e->submitted_ms = sys_now_ms();
		e->unseen_check_ms = 0;
		e->timeout_ms = a->timeout_ms;
	}
	pthread_mutex_unlock(&x->mu);
	for (tries = 0; tries < 2; tries++) {
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
		if (rc == ERR_INVALID)
			err_prefix(err, "stage '%s'", a->stage);
		return for_engine(rc, err);
	}
	return 0;
}

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
static int
read_log(struct kexec *x, const char *job, char *pod, size_t podlen,
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

static int
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
	while ((e = find(x, name)) != NULL && e->log_busy)
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
	rc = read_log(x, name, pod, sizeof(pod), &b, err);
	pthread_mutex_lock(&x->mu);
	if ((e = find_gen(x, name, gen)) != NULL) {
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
		keep_log(x, e, &b, fin);
		serve(e->log, e->log_len, from, out, next);
	} else {
		serve(b.data, b.len, from, out, next);
	}
out:
	pthread_mutex_unlock(&x->mu);
	buf_release(&b);
	return rc;
}

/* ---- cancel and release ------------------------------------------------------------ */

static int
delete_job(struct kexec *x, const char *name, struct err *err)
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
	struct buf b;
	struct err lerr;
	char pod[KUBE_NAME_MAX];
	uint64_t gen = 0;
	int snapshot = 0;

	pthread_mutex_lock(&x->mu);
	e = find(x, name);
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
		/* keep what it wrote: the Job's pod goes with it */
		if (pod_started(e) && !e->log_busy) {
			snapshot = 1;
			e->log_busy = 1;
			gen = e->gen;
			(void)str_copy(pod, sizeof(pod), e->pod);
		}
	}
	pthread_mutex_unlock(&x->mu);
	if (snapshot) {
		int rc = read_log(x, name, pod, sizeof(pod), &b, &lerr);

		pthread_mutex_lock(&x->mu);
		if ((e = find_gen(x, name, gen)) != NULL) {
			e->log_busy = 0;
			if (rc == 0)
				keep_log(x, e, &b, 0);
		}
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		buf_release(&b);
	}
	log_info("kubernetes job canceled", "job=%s namespace=%s", name,
	    x->ns);
	return delete_job(x, name, err);
}

static int
kx_release(void *impl, const char *name, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	int need_delete;

	pthread_mutex_lock(&x->mu);
	e = find(x, name);
	if (!known(e)) {
		if (e != NULL && !e->log_busy && !e->released)
			remove_entry(x, e);
		need_delete = !x->jobs_synced;
		pthread_mutex_unlock(&x->mu);
		return need_delete ? delete_job(x, name, err) : 0;
	}
	if (!finished(e) && !e->canceled) {
		pthread_mutex_unlock(&x->mu);
		return err_set(err, ERR_CONFLICT, "attempt '%s' has not "
		    "finished; cancel it first", name);
	}
	/* ttlSecondsAfterFinished 0: the TTL controller deletes it now */
	need_delete = !e->job_deleted && !(x->jo.ttl_after_finished_s == 0 &&
	    job_done(e));
	if (e->job_deleted && !e->log_busy) {
		remove_entry(x, e);
	} else {
		/* until the watch says it is gone (or the sweep) */
		e->released = 1;
		e->submitted = 0;
		e->deleted_ms = sys_now_ms();
		drop_log(x, e);
	}
	/* a worker deletes it: the engine's loop does not wait for that */
	if (need_delete)
		enqueue(x, TASK_DELETE, name);
	pthread_mutex_unlock(&x->mu);
	return 0;
}

/* ---- the workers ------------------------------------------------------------------ */

/* Read the log of a finished attempt into the table (a worker). */
static void
prefetch(struct kexec *x, const char *name)
{
	struct kentry *e;
	struct buf b;
	struct err err;
	char pod[KUBE_NAME_MAX];
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&x->mu);
	e = find(x, name);
	if (!known(e) || e->log != NULL || e->log_busy || !job_done(e) ||
	    e->pod_deleted) {
		pthread_mutex_unlock(&x->mu);
		return;
	}
	e->log_busy = 1;
	gen = e->gen;
	(void)str_copy(pod, sizeof(pod), e->pod);
	pthread_mutex_unlock(&x->mu);
	rc = read_log(x, name, pod, sizeof(pod), &b, &err);
	pthread_mutex_lock(&x->mu);
	if ((e = find_gen(x, name, gen)) != NULL) {
		e->log_busy = 0;
		if (e->pod[0] == '\0')
			(void)str_copy(e->pod, sizeof(e->pod), pod);
		if (rc == 0 && !e->released)
			keep_log(x, e, &b, 1);
	}
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	buf_release(&b);
	if (rc < 0)
		log_debug("kubernetes log prefetch", "job=%s error=\"%s\"",
		    name, err.msg);
}

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

static void *
worker_main(void *arg)
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
		if (t->kind == TASK_PREFETCH) {
			prefetch(x, t->name);
			rc = 0;
		} else {
			rc = delete_job(x, t->name, &err);
		}
		pthread_mutex_lock(&x->mu);
		x->busy_workers--;
		if (rc < 0 && ++t->tries < DELETE_TRIES && !x->stopping) {
			t->not_before = sys_now_ms() + DELETE_RETRY_MS;
			if (x->tasks_tail != NULL)
				x->tasks_tail->next = t;
			else
				x->tasks = t;
			x->tasks_tail = t;
			x->ntasks++;
			continue;
		}
		if (rc < 0)
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
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->log);
			free(e);
		}
	}
	free(x->buckets);
	if (x->owns_k)
		kube_api_free(x->k);
	free(x->checkout_image);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	pthread_cond_destroy(&x->task_cv);
	pthread_mutex_destroy(&x->m_mu);
	free(x);
}

static int kx_logs_node(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err);

static const struct executor_ops kube_ops = {
	.name = "kubernetes",
	.submit = kx_submit,
	.status = kx_status,
	.logs = kx_logs_node,
	.cancel = kx_cancel,
	.release = kx_release,
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
	wo.cb = on_job;
	wo.arg = x;
	if ((rc = kube_watch_start(&x->jobs_w, k, &wo, err)) < 0)
		goto fail;
	wo.resource = KUBE_RES_PODS;
	wo.cb = NULL;
	wo.pod_cb = on_pod;
	if ((rc = kube_watch_start(&x->pods_w, k, &wo, err)) < 0)
		goto fail;
	for (x->nworkers = 0; x->nworkers < WORKERS; x->nworkers++) {
		if (pthread_create(&x->workers[x->nworkers], NULL, worker_main,
		    x) != 0) {
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
	buf_init(&desc, 1024);
	if (kube_auth_describe(auth, &desc) == 0)
		log_info("kubernetes executor", "config=%s", desc.data);
	buf_release(&desc);
	rc = start(out, k, 1, auth->namespace, &jo, err);
	k = NULL;	/* the executor owns it, or start freed it */
out:
	kube_api_free(k);
	kube_auth_free(auth);
	return rc;
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

int
exec_kube_wait_change(void *impl, uint64_t *seen, int64_t timeout_ms)
{
	struct kexec *x = impl;
	struct timespec ts;
	int changed;

	ts = sys_deadline_in(timeout_ms);
	pthread_mutex_lock(&x->mu);
	while (x->changes == *seen &&
	    pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
		;
	changed = x->changes != *seen;
	*seen = x->changes;
	pthread_mutex_unlock(&x->mu);
	return changed;
}

struct managed {
	char	name[64];
	int64_t	run_id;
	char	stage[64];
	int	attempt;
};

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
		if ((rc = delete_job(x, list[i].name, err)) < 0) {
			err_prefix(err, "reconcile");
			goto out;
		}
		deleted++;
		pthread_mutex_lock(&x->mu);
		if ((e = find(x, list[i].name)) != NULL && !e->log_busy)
			remove_entry(x, e);
		pthread_mutex_unlock(&x->mu);
	}
	log_info("kubernetes jobs reconciled", "namespace=%s kept=%zu "
	    "deleted=%zu", x->ns, kept, deleted);
out:
	free(list);
	return rc;
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
		e = find(x, name);
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

/* The logs op: node 0's pod (TEMPORARY until the streaming reader). */
static int
kx_logs_node(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err)
{
	if (sourcelen > 0)
		source[0] = '\0';
	if (node != 0) {
		*next = from;
		return err_set(err, ERR_NOTFOUND, "no node %d", node);
	}
	return kx_logs(impl, name, from, out, next, err);
}
