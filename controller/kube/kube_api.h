/*
 * kube_api.h - the Kubernetes API client: Jobs, pods, pod logs and events
 * over HTTPS with libcurl, and a watch of Jobs.
 *
 * What it does for every call:
 *
 *  - Auth from a struct kube_auth (kubeconfig.h): bearer token (a token
 *    file is re-read when its mtime or size changes, at least every
 *    minute, and at once after a 401), client certificate, CA bundle, all
 *    passed to libcurl in memory.  HTTP/2 when the server offers it.
 *  - Connections are reused: a small pool of curl handles, each keeping
 *    its keep-alive connection (at most opts.max_connections at once).
 *  - A client-side token bucket (opts.qps, opts.burst) on every request.
 *    Writes (create, delete) may take any token; reads (get, list, logs,
 *    watch connects) leave a quarter of the burst to writes and wait while
 *    a write waits, so reads never starve writes.
 *  - Retries with exponential backoff and jitter for 429, 5xx, connection
 *    and timeout errors, honouring Retry-After, for at most
 *    opts.retry_budget_ms in all; when a Retry-After would overrun the
 *    budget the call fails at once with ERR_TRANSIENT.  A create that is
 *    retried after a lost answer may come back ERR_CONFLICT (the first try
 *    made it): the caller adopts the Job after checking its labels.
 *  - Answers become error codes with the API's own message:
 *	401 ERR_UNAUTHORIZED, 403 ERR_FORBIDDEN (both also make the client
 *	not ready, see kube_api_ready), 404 ERR_NOTFOUND, 409 ERR_CONFLICT,
 *	400 and 422 ERR_INVALID with the Status causes joined
 *	("spec.template.spec.containers: Required value; ..."), 410 and
 *	retries exhausted ERR_TRANSIENT, a server certificate that does not
 *	verify ERR_GENERIC (not retried), other answers ERR_GENERIC.
 *  - Counts every request by verb and resource, for /metrics.
 *
 * JSON (jansson) stays inside kube_decode.c, libcurl inside kube_transport.c
 * and kube_stream.c: callers get our own structs.
 *
 * Threads: every function may be called from any thread at once, except
 * kube_api_free, which must come after every other call has returned and
 * every watch has been freed.  Calls block (network I/O, backoff, rate
 * limit): call them from a thread that may block.
 */
#ifndef SLUICE_KUBE_API_H
#define SLUICE_KUBE_API_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "kube/kubeconfig.h"

struct kube_api;

/* A clock (an ops table), so tests can count waits without waiting. */
struct kube_clock {
	int64_t	(*now_ms)(void *arg);		/* monotonic */
	void	(*sleep_ms)(void *arg, int64_t ms);
	void	*arg;
};

struct kube_api_opts {
	double		 qps;		/* <= 0: no rate limit */
	int		 burst;		/* < 1: 1 */
	int64_t		 retry_budget_ms;	/* 0: 30000 */
	int64_t		 request_timeout_ms;	/* 0: 30000 (not streams) */
	int64_t		 connect_timeout_ms;	/* 0: 10000 */
	int		 max_connections;	/* 0: 8 */
	int		 list_page_size;	/* 0: 500 */
	const struct kube_clock *clock;	/* NULL: real time; borrowed for
					   the client's life */
};

/* ---- what callers get back ------------------------------------------ */

#define KUBE_LABELS_MAX		16
#define KUBE_NAME_MAX		254	/* DNS-1123 subdomain + NUL */
#define KUBE_RV_MAX		64	/* a resourceVersion */

struct kube_label {
	char	key[96];
	char	value[64];
};

enum kube_job_state {
	KUBE_JOB_PENDING = 0,	/* created, no pod ready yet */
	KUBE_JOB_SUSPENDED,	/* spec.suspend (e.g. waiting for Kueue) */
	KUBE_JOB_RUNNING,	/* a pod is ready (running) */
	KUBE_JOB_SUCCEEDED,	/* Complete or SuccessCriteriaMet */
	KUBE_JOB_FAILED,	/* Failed or FailureTarget */
};

/*
 * A Job as Sluice needs it.  Strings are truncated to their field (labels
 * that do not fit are left out; sluice/ and app.kubernetes.io/ labels are
 * kept first).  reason/message come from the deciding condition
 * (BackoffLimitExceeded, DeadlineExceeded, JobSuspended, ...).
 */
struct kube_job {
	char			 name[KUBE_NAME_MAX];
	char			 namespace[64];
	char			 uid[64];
	char			 resource_version[KUBE_RV_MAX];
	struct kube_label	 labels[KUBE_LABELS_MAX];
	size_t			 nlabels;
	enum kube_job_state	 state;
	char			 reason[128];
	char			 message[512];
	int64_t			 created_ms;	/* unix ms; 0 = unknown */
	int64_t			 started_ms;	/* status.startTime */
	int64_t			 finished_ms;	/* completionTime, or when
						   the terminal condition
						   was set */
	int			 active, ready, succeeded, failed;
	int			 suspend;	/* spec.suspend */
	int			 deleting;	/* deletionTimestamp set */
	int64_t			 active_deadline_s;	/* 0 = none */
};

/* The value of label key, or NULL. */
const char *kube_job_label(const struct kube_job *j, const char *key);
const char *kube_job_state_name(enum kube_job_state s);

enum kube_pod_phase {
	KUBE_POD_PENDING = 0,
	KUBE_POD_RUNNING,
	KUBE_POD_SUCCEEDED,
	KUBE_POD_FAILED,
	KUBE_POD_UNKNOWN,
};

struct kube_pod {
	char			 name[KUBE_NAME_MAX];
	char			 namespace[64];
	char			 job_name[KUBE_NAME_MAX];	/* label */
	char			 node[KUBE_NAME_MAX];
	char			 resource_version[KUBE_RV_MAX];
	enum kube_pod_phase	 phase;
	int			 scheduled;	/* PodScheduled: 1 True, 0
						   False, -1 absent */
	char			 sched_reason[64];	/* Unschedulable */
	char			 sched_message[512];	/* "0/4 nodes are
							   available: ..." */
	char			 waiting_reason[64];	/* first container:
							   ImagePullBackOff,
							   ContainerCreating */
	char			 waiting_message[512];
	int			 exit_code;	/* first container; -1 unknown */
	char			 term_reason[64];	/* Completed, Error,
							   OOMKilled */
	char			 term_message[512];
	char			 reason[64];	/* status.reason (Evicted...) */
	char			 message[512];
	int64_t			 created_ms;
	int64_t			 started_ms;
	int64_t			 finished_ms;
	int			 deleting;
	/* where and what it ran (the first container) */
	char			 image_id[256];	/* imageID: the digest run */
	int64_t			 c_started_ms;	/* state.running.startedAt,
						   else terminated.startedAt */
	int			 nvidia;	/* asks for an nvidia.com/
						   resource (GPU, MIG) */
	int			 completion_index;	/* of an Indexed Job's
						   pod (the annotation, else
						   the label); -1: none */
};

/* A node, as much as Sluice reads of it. */
struct kube_node {
	char	name[KUBE_NAME_MAX];
	char	gpu_product[128];	/* label nvidia.com/gpu.product */
};

/*
 * A Kueue Workload (kueue.x-k8s.io, the version discovery offers, see
 * kube_api_kueue_discover) as the executor needs it: whose Job it is and
 * what its conditions say.  A condition's flag is 1 True, 0 False, -1
 * absent.
 */
struct kube_workload {
	char		 name[KUBE_NAME_MAX];
	char		 namespace[64];
	char		 uid[64];
	char		 resource_version[KUBE_RV_MAX];
	char		 job[KUBE_NAME_MAX];	/* its Job (ownerReferences) */
	char		 job_uid[64];
	char		 queue[64];		/* spec.queueName */
	int		 quota_reserved;	/* QuotaReserved */
	char		 reserve_reason[64];	/* Pending, Inadmissible, ... */
	char		 reserve_message[512];	/* "couldn't assign ..." */
	int		 admitted;		/* Admitted */
	int64_t		 admitted_ms;		/* when Admitted became True */
	int		 evicted;		/* Evicted */
	char		 evict_reason[64];	/* Preempted, ... */
	char		 evict_message[512];
	int		 finished;		/* Finished */
	char		 cluster_queue[64];	/* status.admission */
	char		 flavor[128];		/* the flavors assigned, joined
						   by "," when several */
	int		 evictions;		/* schedulingStats.evictions,
						   counted */
};

struct kube_event {
	char	type[16];		/* Normal | Warning */
	char	reason[128];		/* FailedScheduling, BackOff, ... */
	char	message[1024];
	char	object_kind[64];
	char	object_name[KUBE_NAME_MAX];
	int	count;
	int64_t	last_ms;		/* lastTimestamp, else eventTime */
};

/* Lists own their items; release with the matching function. */
struct kube_job_list {
	struct kube_job	*items;
	size_t		 n;
	char		 resource_version[KUBE_RV_MAX];
};
struct kube_pod_list {
	struct kube_pod	*items;
	size_t		 n;
	char		 resource_version[KUBE_RV_MAX];
};
struct kube_event_list {
	struct kube_event *items;
	size_t		   n;
};
void	kube_job_list_release(struct kube_job_list *l);
void	kube_pod_list_release(struct kube_pod_list *l);
void	kube_event_list_release(struct kube_event_list *l);

/* ---- calls ------------------------------------------------------------ */

enum kube_verb {
	KUBE_VERB_GET = 0,
	KUBE_VERB_LIST,
	KUBE_VERB_WATCH,
	KUBE_VERB_CREATE,
	KUBE_VERB_DELETE,
	KUBE_VERB_PATCH,	/* merge-patch (kube_traffic.h) */
	KUBE_VERB_N
};

enum kube_resource {
	KUBE_RES_JOBS = 0,
	KUBE_RES_PODS,
	KUBE_RES_PODS_LOG,
	KUBE_RES_EVENTS,
	KUBE_RES_NODES,
	KUBE_RES_SECRETS,
	KUBE_RES_WORKLOADS,	/* kueue.x-k8s.io */
	KUBE_RES_SERVICES,	/* headless Services of multi-node stages */
	KUBE_RES_INFERENCESERVICES,	/* serving.kserve.io (kube_traffic.h) */
	KUBE_RES_HTTPROUTES,	/* gateway.networking.k8s.io (kube_traffic.h) */
	KUBE_RES_N
};

/* "get", "list", ..., "patch"; "jobs", "pods", "pods/log", "events",
   "nodes", "secrets", "workloads", "services", "inferenceservices",
   "httproutes". */
const char *kube_verb_name(enum kube_verb v);
const char *kube_resource_name(enum kube_resource r);

/*
 * The HTTP status of an answer, bucketed for counting: "0" (no answer
 * came), the statuses the client acts on ("200", "201", "400", "401",
 * "403", "404", "409", "410", "422", "429", "500", "502", "503", "504"),
 * then the class of any other ("2xx", "3xx", "4xx", "5xx").
 */
#define KUBE_ANSWER_N	19
const char *kube_answer_name(int i);	/* "0", "200", ..., "5xx" */

struct kube_api_stats {
	uint64_t	requests[KUBE_VERB_N][KUBE_RES_N];	/* sent,
						   retries included */
	uint64_t	answers[KUBE_VERB_N][KUBE_RES_N][KUBE_ANSWER_N];
						/* requests by the status
						   they got (a watch or log
						   stream: when it ended) */
	uint64_t	failures[KUBE_VERB_N][KUBE_RES_N];	/* calls that
						   returned an error */
	uint64_t	retries;	/* requests sent again */
	uint64_t	throttled;	/* requests that waited for a token */
	int64_t		throttled_ms;	/* time spent waiting for tokens */
	uint64_t	token_reloads;	/* token file reads after start */
};

/*
 * Make a client for auth (copied: auth may be freed afterwards) with opts
 * (NULL = defaults; opts->clock borrowed).  Does not connect.  ERR_INVALID
 * for options out of range, ERR_GENERIC when libcurl cannot be set up.
 */
int	kube_api_new(struct kube_api **out, const struct kube_auth *auth,
	    const struct kube_api_opts *opts, struct err *err)
	    __attribute__((warn_unused_result));

/* Free the client; NULL is a no-op.  See the thread rule above. */
void	kube_api_free(struct kube_api *k);

/* The namespace of the auth (used when a call's ns is NULL or ""). */
const char *kube_api_namespace(const struct kube_api *k);

/*
 * 0 when the last request that reached the server was not refused for its
 * credentials; else ERR_UNAUTHORIZED or ERR_FORBIDDEN (or ERR_GENERIC for
 * a server certificate that does not verify) with the message, for
 * /readyz.  Cleared by the next successful request.
 */
int	kube_api_ready(struct kube_api *k, struct err *err);

/* A snapshot of the counters. */
void	kube_api_stats(struct kube_api *k, struct kube_api_stats *out);

/*
 * Create a Job from its JSON manifest (json, len bytes, borrowed) in ns.
 * On success out (may be NULL) describes the created Job.  ERR_CONFLICT
 * when a Job of that name exists (get it and check its labels to adopt
 * it), ERR_INVALID when the API refuses the manifest (422, with causes),
 * plus the codes above.
 */
int	kube_api_job_create(struct kube_api *k, const char *ns,
	    const char *json, size_t len, struct kube_job *out,
	    struct err *err) __attribute__((warn_unused_result));

/* Get one Job.  ERR_NOTFOUND when there is none. */
int	kube_api_job_get(struct kube_api *k, const char *ns, const char *name,
	    struct kube_job *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * List the Jobs matching a label selector (NULL = all), following pages
 * of opts.list_page_size.  out is filled (release it) with the list's
 * resourceVersion.
 * ERR_TOOBIG past LIM_KUBE_LIST_ITEMS.
 */
int	kube_api_job_list(struct kube_api *k, const char *ns,
	    const char *selector, struct kube_job_list *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Delete a Job with propagationPolicy Background (its pods go too).
 * ERR_NOTFOUND when it is already gone (callers that cancel treat that as
 * done).
 */
int	kube_api_job_delete(struct kube_api *k, const char *ns,
	    const char *name, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Create a Service from its JSON manifest (json, len bytes, borrowed) in
 * ns.  ERR_CONFLICT when one of that name exists, ERR_INVALID when the API
 * refuses the manifest (422), plus the codes above.
 */
int	kube_api_service_create(struct kube_api *k, const char *ns,
	    const char *json, size_t len, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * List the Services matching a label selector (NULL = all).  Each item is
 * a struct kube_job of which only the metadata is filled (name,
 * namespace, uid, labels): all Sluice reads of a Service.
 */
int	kube_api_service_list(struct kube_api *k, const char *ns,
	    const char *selector, struct kube_job_list *out, struct err *err)
	    __attribute__((warn_unused_result));

/* Delete a Service.  ERR_NOTFOUND when it is already gone. */
int	kube_api_service_delete(struct kube_api *k, const char *ns,
	    const char *name, struct err *err)
	    __attribute__((warn_unused_result));

/* List pods by label selector (e.g. "batch.kubernetes.io/job-name=x"). */
int	kube_api_pod_list(struct kube_api *k, const char *ns,
	    const char *selector, struct kube_pod_list *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Append the log of a pod's container (NULL = its only/first container)
 * to out, at most what out's cap leaves room for (limitBytes): a longer
 * log is cut, not an error.  ERR_NOTFOUND for no such pod; ERR_INVALID
 * when the container has not started (the API's message says why).
 */
int	kube_api_pod_log(struct kube_api *k, const char *ns, const char *pod,
	    const char *container, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Stream a pod's log (follow=true) to cb as it comes, from the beginning,
 * until the container ends (return 0), cb returns non-zero (return 0), or
 * the stream breaks (ERR_TRANSIENT).  cb is also called with len 0 about
 * once a second while no data comes, so a caller can stop it.  Blocks;
 * the connection is not one of the pool's.
 */
int	kube_api_pod_log_follow(struct kube_api *k, const char *ns,
	    const char *pod, const char *container,
	    int (*cb)(void *arg, const char *data, size_t len), void *arg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * One followed read of a pod's log with timestamps (follow=true,
 * timestamps=true, and sinceTime=since unless since is NULL or "": an
 * RFC 3339 time in seconds), each line as the API sends it ("TIME TEXT"),
 * to cb as it comes; cb is also called with len 0 about once a second
 * while nothing comes.  Returns 0 when the server ended the stream (the
 * container ended, or the server cut it cleanly) or cb returned non-zero;
 * ERR_NOTFOUND for no such pod, ERR_INVALID when the container has not
 * started, ERR_TRANSIENT when the stream broke.  No retries: the caller
 * resumes.  Blocks; the connection is not one of the pool's.
 */
int	kube_api_pod_log_stream(struct kube_api *k, const char *ns,
	    const char *pod, const char *container, const char *since,
	    int (*cb)(void *arg, const char *data, size_t len), void *arg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * List the events about one object (kind "Pod" or "Job", its name), oldest
 * first.
 */
int	kube_api_event_list(struct kube_api *k, const char *ns,
	    const char *kind, const char *name, struct kube_event_list *out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Why a Job's pod is not running, for a pending stage: the PodScheduled
 * condition's message ("0/4 nodes are available: 4 Insufficient
 * nvidia.com/gpu."), else a waiting container's reason and message
 * ("ImagePullBackOff: ..."), else the latest Warning event of the pod.
 * Empty when nothing is known.  Two to three API calls.
 */
int	kube_api_job_pending_reason(struct kube_api *k, const char *ns,
	    const char *job, char *out, size_t outlen, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Get one Node (cluster-scoped: needs a ClusterRole with get on nodes).
 * ERR_NOTFOUND, ERR_FORBIDDEN (no such grant) and the codes above.
 */
int	kube_api_node_get(struct kube_api *k, const char *name,
	    struct kube_node *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Whether Secret name exists in ns: 0 when it does, ERR_NOTFOUND when it
 * does not, ERR_FORBIDDEN without get on secrets.  Asks for the metadata
 * only (PartialObjectMetadata), so the Secret's data never reaches this
 * process from a server that honours it, and is not decoded otherwise.
 */
int	kube_api_secret_exists(struct kube_api *k, const char *ns,
	    const char *name, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Which version of Kueue's API (kueue.x-k8s.io) the cluster serves, by
 * discovery: "v1beta2" when offered, else "v1beta1", else "" (no Kueue).
 * The answer is kept for the paths of workload calls and watches.
 * Returns 1 when Kueue is there, 0 when not (404 or neither version),
 * or an error of the calls above.
 */
int	kube_api_kueue_discover(struct kube_api *k, char *version, size_t len,
	    struct err *err) __attribute__((warn_unused_result));

/* ---- the watch ----------------------------------------------------------- */

enum kube_watch_type {
	KUBE_WATCH_ADDED = 0,
	KUBE_WATCH_MODIFIED,
	KUBE_WATCH_DELETED,
	KUBE_WATCH_SYNCED,	/* a (re-)list was delivered in full */
};

struct kube_watch;

struct kube_watch_opts {
	const char	*ns;		/* NULL: the auth's namespace */
	/*
	 * KUBE_RES_JOBS (the default) or KUBE_RES_PODS.  A watch of pods
	 * delivers to pod_cb instead of cb, with the same rules (for a pod
	 * that vanished during a re-list: name, namespace, resourceVersion
	 * and the last phase known).
	 */
	enum kube_resource resource;
	void		(*pod_cb)(void *arg, enum kube_watch_type type,
			    const struct kube_pod *pod);
	const char	*selector;	/* NULL: app.kubernetes.io/managed-by=sluice */
	int		 timeout_s;	/* per watch request; 0: 300 */
	/*
	 * Called on the watch's own thread for each change, in order: job is
	 * the new state (for DELETED the last state; after a re-list, a Job
	 * that vanished meanwhile is DELETED with only name, namespace,
	 * resourceVersion and the last state known).  SYNCED has job NULL.
	 * Must not call kube_watch_free on its own watch.
	 */
	void		(*cb)(void *arg, enum kube_watch_type type,
			    const struct kube_job *job);
	void		*arg;
	/*
	 * KUBE_RES_WORKLOADS: Kueue's Workloads, to workload_cb, same rules.
	 * The watch first asks discovery for the version; where Kueue is
	 * not installed it delivers SYNCED (nothing to watch) and asks again
	 * every few minutes.  Give selector "" (Workloads carry no labels of
	 * the Job).
	 */
	void		(*workload_cb)(void *arg, enum kube_watch_type type,
			    const struct kube_workload *wl);
};

struct kube_watch_stats {
	uint64_t	lists;		/* full lists (the first one too) */
	uint64_t	relists_gone;	/* lists because of 410 Gone */
	uint64_t	watches;	/* watch requests started */
	uint64_t	reconnects;	/* after an error or a dropped stream */
	uint64_t	events;		/* ADDED/MODIFIED/DELETED delivered */
	uint64_t	bookmarks;
	int		synced;		/* a list has been delivered */
	char		resource_version[KUBE_RV_MAX];	/* where it is */
	char		last_error[256];
};

/*
 * Start watching Jobs (or pods, see resource): list them (delivering ADDED/MODIFIED/DELETED
 * against what it knew, then SYNCED), then watch from the list's
 * resourceVersion with bookmarks, re-watching from the latest
 * resourceVersion when a watch ends, reconnecting with backoff (capped at
 * 30 s) when the connection fails, and re-listing on 410 Gone.  Runs on a
 * thread of its own until kube_watch_free.  k is borrowed and must outlive
 * the watch.  ERR_GENERIC when the thread cannot start.
 */
int	kube_watch_start(struct kube_watch **out, struct kube_api *k,
	    const struct kube_watch_opts *o, struct err *err)
	    __attribute__((warn_unused_result));

/* A snapshot of the watch's counters (any thread). */
void	kube_watch_stats(struct kube_watch *w, struct kube_watch_stats *out);

/* Stop the watch (promptly, even mid-stream or in backoff), join, free. */
void	kube_watch_free(struct kube_watch *w);

#endif
