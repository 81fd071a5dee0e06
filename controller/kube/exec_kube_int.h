/*
 * exec_kube_int.h - what the files of the Kubernetes executor share;
 * not for other modules.
 *
 *   exec_kube.c         the ops table, submit, cancel, release, life
 *   exec_kube_table.c   the table of entries (under mu), the sweep, the
 *                       log cache, the queue of the workers
 *   exec_kube_watch.c   the watch callbacks: Job and pod events merged
 *                       into the table
 *   exec_kube_status.c  status(): the entry as an exec_status, failure
 *                       messages, pending reasons from the events
 *   exec_kube_logs.c    logs(): a followed read per running pod (one
 *                       per index of a multi-node attempt); follow
 *   exec_kube_worker.c  the worker threads and the extras of exec_kube.h
 *                       (ready, wait_synced, the engine's wake, reconcile,
 *                       metrics, stats)
 *   exec_kube_nodes.c   the GPU product of the nodes pods ran on: one GET
 *                       per node, cached
 *   exec_kube_kueue.c   the Kueue Workload watch callback and what status
 *                       makes of a Workload
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
#ifndef SLUICE_KUBE_EXEC_KUBE_INT_H
#define SLUICE_KUBE_EXEC_KUBE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/metrics.h"
#include "kube/exec_kube.h"
#include "kube/kube_api.h"


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
#define WORKERS			4	/* threads for the deletes of
					   release */
#define DELETE_TRIES		5
#define DELETE_RETRY_MS		5000
#define DRAIN_MS		5000	/* free() lets queued deletes run */
#define POD_LAG_MS		5000	/* a failed Job's pod: wait this long
					   for its exit status to arrive on
					   the pod watch */

/* The pod of one index > 0 of an Indexed Job, from the pod watch. */
struct kindex {
	char			 pod[KUBE_NAME_MAX];	/* "" = none seen */
	int64_t			 created_ms;
	enum kube_pod_phase	 phase;
	int			 deleted;
};

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
	char			 image_id[256];	/* what the container ran */
	char			 node[KUBE_NAME_MAX];	/* spec.nodeName */
	int64_t			 c_started_ms;	/* the container's own times */
	int64_t			 c_finished_ms;
	int			 nvidia;	/* asks for an nvidia.com/ resource */

	/* a pending reason from the events */
	char			 event_why[600];
	int64_t			 events_ms;	/* monotonic, last asked */

	/* the log */
	char			*log;		/* NULL = none kept */
	size_t			 log_len;
	int			 log_final;	/* read after it finished */
	int64_t			 log_ms;	/* monotonic, when read */
	int			 log_busy;	/* a read is under way */

	/* its Kueue Workload, from the workload watch (exec_kube_kueue.c) */
	int			 wl_seen;
	char			 wl_name[KUBE_NAME_MAX];
	char			 wl_job_uid[64];	/* its owner's uid */
	int			 wl_reserved;	/* QuotaReserved 1, 0, -1 */
	char			 wl_why[512];	/* its message */
	int			 wl_admitted;	/* Admitted 1, 0, -1 */
	int64_t			 wl_admitted_ms;	/* unix, latest */
	int			 wl_evicted;	/* Evicted 1, 0, -1 */
	char			 wl_evict_why[512];
	char			 wl_flavor[128];	/* kept when evicted */
	int			 wl_seen_evictions;	/* Evicted=True seen */
	int			 wl_evictions;	/* the larger of Kueue's count
						   and the one seen */
	/* multi-node: an Indexed Job and its Service */
	int			 nodes;		/* > 1: from submit or the
					   Job's KUBE_NODES_LABEL */
	int			 index_failed;	/* a pod of an index failed: */
	int			 failed_index;	/* the first to fail, */
	int			 failed_exit;	/* its exit status (-1), */
	char			 failed_term[64];	/* OOMKilled ... */
	int64_t			 failed_ms;	/* when (unix, 0 unknown) */
	/* the followed log of each index's pod (ks[i] NULL: none), nks
	   of them, at most the node count (exec_kube_logs.c) */
	struct kstream		**ks;
	int			 nks;
	/* the pods of indexes 1.. of an Indexed Job (idx[0] is unused:
	   index 0's is pod above), nidx of them, at most LIM_STAGE_NODES */
	struct kindex		*idx;
	int			 nidx;
};

/* Work for the worker threads, so that the engine's loop does not wait. */
enum task_kind { TASK_DELETE, TASK_NODE, TASK_DELETE_SERVICE };

struct task {
	struct task	*next;
	enum task_kind	 kind;
	char		 name[KUBE_NAME_MAX];	/* a Job, or a node */
	int		 tries;
	int64_t		 not_before;	/* monotonic */
};

/* A node's GPU product, as far as it is known. */
enum knode_state { KNODE_ASKING = 0, KNODE_KNOWN, KNODE_UNKNOWN };

struct knode {
	char			name[KUBE_NAME_MAX];
	char			product[128];	/* "" = no label */
	enum knode_state	state;
};

struct kexec {
	struct kube_api		*k;
	int			 owns_k;
	char			 ns[64];
	struct kube_job_opts	 jo;
	char			*checkout_image;	/* owned copy */
	struct kube_watch	*jobs_w;
	struct kube_watch	*pods_w;
	struct kube_watch	*workloads_w;	/* Kueue's */
	int			 workloads_synced;	/* under mu */

	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* synced, log reads, pods */
	struct kentry		**buckets;
	size_t			 nbuckets, n;
	uint64_t		 gens;
	int			 jobs_synced, pods_synced;
	void			(*wake)(void *arg);	/* set_wake */
	void			*wake_arg;
	int64_t			 sweep_ms;
	size_t			 log_bytes;
	size_t			 nstreams;	/* stream threads alive */
	struct exec_kube_stats	 st;

	/* the workers; the queue is under mu */
	pthread_t		 workers[WORKERS];
	int			 nworkers;
	pthread_cond_t		 task_cv;
	struct task		*tasks, *tasks_tail;
	size_t			 ntasks;
	int			 busy_workers;
	int			 stopping;

	/* the nodes pods ran on (exec_kube_nodes.c), under mu */
	struct knode		*nodes;
	size_t			 nnodes, anodes;
	int			 nodes_forbidden;	/* said once */

	pthread_mutex_t		 m_mu;		/* the metrics collector */
	struct metric		*m_calls;
	uint64_t		 m_last[KUBE_VERB_N][KUBE_RES_N][KUBE_ANSWER_N];
};

/* snprintf into a field, cut to fit: these are messages for people. */
static inline void textf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void
textf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/*
 * Grow the array *arr of *n elements of size bytes to want (when it has
 * fewer), the new ones zeroed.  want is bounded by the caller.
 */
static inline void
kx_grow_zeroed(void **arr, int *n, int want, size_t size)
{
	char *p;

	if (want <= *n)
		return;
	p = xcalloc((size_t)want, size);
	if (*n > 0)
		memcpy(p, *arr, (size_t)*n * size);
	free(*arr);
	*arr = p;
	*n = want;
}

/* ---- the entries -------------------------------------------------------- */

/* Does the engine's view include this entry (see the top comment)? */
static inline int
known(const struct kentry *e)
{
	return e != NULL && !e->released && (e->submitted || e->job_seen);
}

static inline int
job_done(const struct kentry *e)
{
	return e->job_seen && (e->state == KUBE_JOB_SUCCEEDED ||
	    e->state == KUBE_JOB_FAILED);
}

/* Finished for good: its outcome will not change any more. */
static inline int
finished(const struct kentry *e)
{
	return job_done(e) || e->job_deleted;
}

static inline int
pod_started(const struct kentry *e)
{
	return e->pod_phase == KUBE_POD_RUNNING ||
	    e->pod_phase == KUBE_POD_SUCCEEDED ||
	    e->pod_phase == KUBE_POD_FAILED ||
	    (e->job_seen && e->state == KUBE_JOB_RUNNING) || job_done(e);
}

/* Errors the engine can act on: ERR_INVALID for good, else try later. */
static inline int
for_engine(int rc, struct err *err)
{
	rc = rc == ERR_INVALID || rc == ERR_TOOBIG ? ERR_INVALID :
	    ERR_TRANSIENT;
	if (err != NULL)
		err->code = rc;
	return rc;
}

/* ---- the table, under mu (exec_kube_table.c) ---------------------------- */

struct kentry	*kx_find(struct kexec *x, const char *name);
/* The entry of name if it is still the one of generation gen. */
struct kentry	*kx_find_gen(struct kexec *x, const char *name, uint64_t gen);
struct kentry	*kx_add(struct kexec *x, const char *name);
/* The first entry whose string field at offset off is value (a scan). */
struct kentry	*kx_find_by_field(struct kexec *x, size_t off,
		    const char *value);
void		 kx_remove_entry(struct kexec *x, struct kentry *e);
void		 kx_drop_log(struct kexec *x, struct kentry *e);
/* Keep a log read into e (b is taken), within the memory budget. */
void		 kx_keep_log(struct kexec *x, struct kentry *e, struct buf *b,
		    int final);
/* Forget old tombstones and orphans, at most every SWEEP_EVERY_MS. */
void		 kx_sweep(struct kexec *x);
/* Put t at the end of the workers' queue (no signal). */
void		 kx_append_task(struct kexec *x, struct task *t);
/* Queue work for the workers and wake one. */
void		 kx_enqueue(struct kexec *x, enum task_kind kind,
		    const char *name);

/* ---- the watches (exec_kube_watch.c) ------------------------------------ */

void	kx_merge_job(struct kentry *e, const struct kube_job *j);
/* A Job of the same name but another uid: a new incarnation. */
void	kx_reset_for(struct kexec *x, struct kentry *e, const char *uid);
void	kx_on_job(void *arg, enum kube_watch_type type,
	    const struct kube_job *j);
void	kx_on_pod(void *arg, enum kube_watch_type type,
	    const struct kube_pod *p);

/* ---- Kueue (exec_kube_kueue.c) ------------------------------------------- */

void	kx_on_workload(void *arg, enum kube_watch_type type,
	    const struct kube_workload *wl);
/*
 * A suspended Job's waiting reason from its Workload (and out->evicted):
 * 1 when the Workload said something, 0 when the caller says why.
 */
int	kx_kueue_waiting(const struct kentry *e, struct exec_status *out);
/* The queue, flavor, admission time and evictions of e into out. */
void	kx_kueue_facts(const struct kentry *e, struct exec_status *out);

/* ---- the ops and their helpers ------------------------------------------ */

int	kx_status(void *impl, const char *name, struct exec_status *out,
	    struct err *err);
int	kx_logs(void *impl, const char *name, int node, int64_t from,
	    struct buf *out, int64_t *next, char *source, size_t sourcelen,
	    struct err *err);
struct kstream;
/*
 * Start following the log of each started pod of e (every index) from
 * its start, where no stream does yet (under mu): a cancel keeps what
 * the pods wrote before they go.
 */
void	kx_logs_follow_now(struct kexec *x, struct kentry *e);
/* Stop e's log streams, if any (under mu; their threads free them). */
void	kx_stream_stop(struct kexec *x, struct kentry *e);
/* Forget the pods of e's indexes > 0 (under mu; streams stopped first). */
void	kx_index_forget(struct kentry *e);
/* Wait (under mu) until every stream thread has ended. */
void	kx_streams_wait(struct kexec *x);
/* Read the log of job's pod (pod may be empty: found and copied back)
   into b; no lock held. */
int	kx_read_log(struct kexec *x, const char *job, char *pod,
	    size_t podlen, struct buf *b, struct err *err);
int	kx_delete_job(struct kexec *x, const char *name, struct err *err);
/* Delete the headless Service of a multi-node attempt (gone is done). */
int	kx_delete_service(struct kexec *x, const char *name, struct err *err);
void	*kx_worker_main(void *arg);
/* Under mu: an entry may have changed (a watch event, a log's end):
   broadcast cv and call the engine's wake. */
void	kx_changed(struct kexec *x);
/* The set_wake op (exec/executor.h). */
int	kx_set_wake(void *impl, void (*wake)(void *arg), void *arg);

/* ---- the nodes (exec_kube_nodes.c) ---------------------------------------- */

/* Under mu: ask the workers for node's labels once (NULL/"": nothing). */
void	kx_want_node(struct kexec *x, const char *node);
/* Under mu: node's GPU product, "" while not known or when it has none. */
const char *kx_node_product(struct kexec *x, const char *node);
/* A worker, no lock held: GET the node and keep its product. */
void	kx_fetch_node(struct kexec *x, const char *node);

#endif
