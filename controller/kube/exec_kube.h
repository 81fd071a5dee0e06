/*
 * exec_kube.h - the Kubernetes executor: each stage attempt is one Job
 * (docs/kubernetes.md), built by kube_job.c and sent through kube_api.c.
 *
 * How it knows what the Jobs do.  One list-then-watch of the Jobs labelled
 * app.kubernetes.io/managed-by=sluice in its namespace, and one of their
 * pods (same label, the pod template carries it), each on a thread of its
 * own, feed an in-memory table name -> what is known of the Job and its
 * pod.  status() reads that table and makes no API call, so an attempt
 * costs one create, one log read and one delete: nothing is polled.
 *
 * How the ops behave here:
 *	submit	builds the manifest (ERR_INVALID for a spec that cannot be
 *		built) and creates the Job.  A name the watch already knows
 *		is adopted without a call.  409 AlreadyExists: the Job is
 *		read and adopted when its sluice/run, sluice/stage,
 *		sluice/attempt and sluice/step labels are the attempt's;
 *		otherwise ERR_INVALID (it belongs to another run, as with
 *		exec_local's identity check), so the stage fails instead of
 *		trying for ever.  422 Invalid: ERR_INVALID with the API's
 *		causes.  Everything else (429/5xx after the client's retries,
 *		connection and TLS errors, 401/403) is ERR_TRANSIENT with the
 *		client's message; 401/403 also make exec_kube_ready() fail.
 *		Blocks for the create (and its retries, 10 s at most).
 *	status	from the watch only.  A name created here and not yet
 *		delivered by the watch is PENDING, not UNKNOWN.  A name the
 *		listed watch does not know is EXEC_UNKNOWN; before the first
 *		list completes the answer is ERR_TRANSIENT ("not synced").
 *		PENDING carries waiting_reason: "waiting for Kueue admission
 *		(queue Q)" for a suspended Job, the pod's unschedulable
 *		message ("0/4 nodes are available: 4 Insufficient
 *		nvidia.com/gpu. ...") or its waiting container
 *		("ImagePullBackOff: ..."), and, for a Job pending for a while
 *		with neither, its latest Warning event (one events call,
 *		at most every 30 s per Job; the only call status makes).
 *		SUCCEEDED for Complete or SuccessCriteriaMet; FAILED for
 *		Failed or FailureTarget with message "timeout after 5m"
 *		(DeadlineExceeded), "exit status N" or "OOMKilled (exit status
 *		137)" from the pod, else the condition's reason and message;
 *		a Job deleted before it finished is CANCELED when cancel()
 *		deleted it, else FAILED "job deleted before it finished".
 *	logs	the pod's log ("stage" container).  When the watch reports
 *		an attempt submitted here finished, a worker thread reads
 *		its log at once (one call) and keeps it in memory (bounded
 *		in all; an evicted log is read again), so the engine finds
 *		it there and the log view shares it.  While it runs, a read
 *		is shared by callers for 2 s.  ERR_NOTFOUND for an unknown
 *		name or a Job deleted with its log.  Any thread.
 *	cancel	deletes the Job (propagationPolicy Background) after
 *		keeping what its pod logged so far; 404 is success, and so is
 *		a finished or unknown name (no call).  status says RUNNING
 *		until the watch sees the Job gone, then CANCELED.
 *	release	forgets a finished attempt at once (afterwards status says
 *		EXEC_UNKNOWN and logs ERR_NOTFOUND) and has a worker thread
 *		delete its Job (Background), so the engine's loop does not
 *		wait: a failed delete is tried again 5 s later, 5 times in
 *		all, then left to ttlSecondsAfterFinished.  No call when
 *		ttl_after_finished is 0 (the TTL controller deletes it at
 *		once).  ERR_CONFLICT while it runs.
 *
 * Freeing the executor gives queued deletes up to 5 s to go out.
 *
 * Threads: submit, status, cancel and release from the engine's loop;
 * logs, exec_kube_follow, exec_kube_ready and the metrics collector from
 * any thread.  The watches call back on their own threads.
 */
#ifndef SLUICE_EXEC_KUBE_H
#define SLUICE_EXEC_KUBE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "exec/executor.h"
#include "kube/kube_job.h"

struct cfg;
struct kube_api;
struct metrics;

/*
 * The executor of cfg->kubernetes: access from kube_auth_load (the
 * kubeconfig, context and namespace of the configuration, the process
 * environment), a client with its qps and burst, Jobs with its
 * ttl_after_finished, checkout_image and security_context, and the
 * watches started.  Does not wait for the API server (beyond the check
 * below): a cluster that cannot be reached shows in exec_kube_ready and as
 * ERR_TRANSIENT.  Errors of kube_auth_load and kube_api_new, and of
 * exec_kube_check_secrets.  out->ops->free stops the watches and frees it
 * all; freeing never touches a Job.
 */
int	exec_kube_new(struct executor *out, const struct cfg *cfg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The same on a client of the caller's (borrowed: it must outlive the
 * executor) in namespace ns (NULL or "": the client's) with manifest
 * options jo (copied; its namespace is replaced by ns).  For tests and
 * benchmarks.
 */
/*
 * Check that the Secret each repository names (kubernetes_secret) exists
 * in the executor's namespace, one GET of its metadata each: ERR_INVALID
 * naming the repository, the Secret and the namespace when one does not,
 * so that a controller with a mistyped name refuses to start instead of
 * leaving checkouts hanging in ContainerCreating.  A 403 (no get on
 * secrets) or an unreachable API is logged and passes: the pod's
 * FailedMount event then says it.  Blocks for the calls.
 */
int	exec_kube_check_secrets(void *impl, const struct cfg *cfg,
	    struct err *err) __attribute__((warn_unused_result));

int	exec_kube_new_with(struct executor *out, struct kube_api *k,
	    const char *ns, const struct kube_job_opts *jo, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * For /readyz: 0 when the API server accepts Sluice's credentials and the
 * watch of Jobs has listed them; else ERR_UNAUTHORIZED / ERR_FORBIDDEN /
 * ERR_GENERIC (TLS) as kube_api_ready, or ERR_TRANSIENT "not synced" with
 * the watch's last error.  impl is out->impl of exec_kube_new.  Never
 * blocks.
 */
int	exec_kube_ready(void *impl, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Wait until the watch of Jobs has listed them, at most timeout_ms
 * (ERR_TRANSIENT then, with the watch's last error).
 */
int	exec_kube_wait_synced(void *impl, int64_t timeout_ms, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Start-up reconciliation, after a restart: wait (at most 30 s) for the
 * first list of Jobs, then for each managed Job ask is_active(arg, run,
 * stage, attempt) (from the database; called without any lock of ours):
 * 1 keeps it (the engine adopts it by name through status/submit), 0
 * deletes it (Background) and forgets it, < 0 stops with that error
 * (is_active sets nothing in err; the message says which Job).  Jobs whose
 * run, stage and attempt labels cannot be read are left alone.  Other errors: those of
 * exec_kube_wait_synced, ERR_TRANSIENT when a delete fails.  Blocks.
 */
int	exec_kube_reconcile(void *impl, int (*is_active)(void *arg,
	    int64_t run_id, const char *stage, int attempt), void *arg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Stream an attempt's log to cb from byte offset from: what is already
 * there, then what the running container writes, until it ends (return
 * 0), cb returns non-zero (return 0) or the stream breaks (ERR_TRANSIENT).
 * While the pod has not started it waits for it.  cb is also called with
 * len 0 about once a second so that the caller can stop.  A finished
 * attempt's log is sent from the cache.  ERR_NOTFOUND as logs().  Blocks;
 * any thread.
 */
int	exec_kube_follow(void *impl, const char *name, int64_t from,
	    int (*cb)(void *arg, const char *data, size_t len), void *arg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Register sluice_kube_api_calls_total{verb,resource,code} in m and a
 * collector that brings it up to date before each scrape.  The executor
 * must outlive every scrape of m (stop the HTTP server first).
 */
void	exec_kube_metrics(void *impl, struct metrics *m);

/*
 * The executor's API client and namespace (borrowed for the executor's
 * life), for the canary traffic the controller moves (kube_traffic.h).
 */
struct kube_api *exec_kube_api(void *impl, const char **ns);

/* Counters of the executor, for tests and the benchmark. */
struct exec_kube_stats {
	uint64_t	creates;	/* Jobs created */
	uint64_t	adopted;	/* submits that found the Job there */
	uint64_t	log_reads;	/* pod log reads */
	uint64_t	pod_lookups;	/* pod lists because the watch had
					   not delivered the pod */
	uint64_t	event_reads;	/* events lists for pending reasons */
	uint64_t	deletes;	/* cancel, release and reconcile */
	size_t		known;		/* attempts known (submitted
					   or seen, not released) */
	size_t		log_bytes;	/* bytes of logs kept */
	size_t		tasks;		/* deletes queued or under way */
	int		jobs_synced;	/* the watches have listed */
	int		pods_synced;
};
void	exec_kube_stats(void *impl, struct exec_kube_stats *out);

#endif
