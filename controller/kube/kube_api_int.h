/*
 * kube_api_int.h - what the files of the Kubernetes API client share;
 * not for other modules.
 *
 *   kube_transport.c  libcurl, the handle pool, credentials, rate limit,
 *                     retries, Retry-After, answers to error codes
 *   kube_decode.c     JSON answers to our structs (with kube_traffic.c,
 *                     the only jansson users)
 *   kube_stream.c     streaming GETs (watches, followed logs)
 *   kube_api.c        the calls of kube_api.h, built on the above
 *   kube_watch.c      list-then-watch, on kube_api_pages and streams
 *   kube_traffic.c    InferenceServices and HTTPRoutes: get, merge-patch
 *
 * libcurl types appear here (the client and one request), so that the
 * transport and the streams can share them; jansson types do not.
 */
#ifndef SLUICE_KUBE_API_INT_H
#define SLUICE_KUBE_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "kube/kube_api.h"

#define KUBE_MAX_CONNECTIONS	64

/* Copy src into a fixed field; truncation is acceptable for display. */
static inline void
kube_fld(char *dst, size_t n, const char *src)
{
	if (str_copy(dst, n, src != NULL ? src : "") < 0) {
		/* truncated: fine for names we only show */
	}
}

/* ---- the client (kube_transport.c) --------------------------------- */

struct kube_api {
	/* credentials, copied from the kube_auth */
	char		*server;
	char		*namespace;
	char		*user;		/* for messages */
	char		*ca, *cert, *key;
	size_t		 ca_len, cert_len, key_len;
	char		*static_token;
	char		*token_file;
	char		*proxy;
	int		 insecure;

	struct kube_api_opts	 opts;
	struct kube_clock	 real_clock;
	const struct kube_clock	*clock;

	CURLSH		*share;
	pthread_mutex_t	 share_mu[CURL_LOCK_DATA_LAST];

	pthread_mutex_t	 pool_mu;
	pthread_cond_t	 pool_cv;
	CURL		*pool[KUBE_MAX_CONNECTIONS];
	int		 npool;		/* idle handles in pool[] */
	int		 nhandles;	/* handles made */

	pthread_mutex_t	 bucket_mu;
	double		 tokens;
	int64_t		 bucket_ms;
	int		 writers_waiting;

	pthread_mutex_t	 token_mu;
	struct buf	 token;		/* current bearer token */
	int		 token_loaded;
	struct timespec	 token_mtime;
	off_t		 token_size;
	ino_t		 token_ino;
	int64_t		 token_read_ms;

	pthread_mutex_t	 stats_mu;
	struct kube_api_stats stats;
	int		 auth_code;	/* 0 or ERR_UNAUTHORIZED/FORBIDDEN/.. */
	char		 auth_msg[512];
	uint64_t	 rng;
	atomic_int	 kueue_api;	/* enum kube_kueue_api, by discovery */
};

/* What kube_api_kueue_discover found (0: not asked yet). */
enum kube_kueue_api {
	KUBE_KUEUE_UNKNOWN = 0,
	KUBE_KUEUE_NONE,
	KUBE_KUEUE_V1BETA1,
	KUBE_KUEUE_V1BETA2,
};

/* One request and its answer. */
struct kreq {
	const char	*method;	/* GET POST DELETE */
	enum kube_verb	 verb;
	enum kube_resource res;
	const char	*path;		/* from the server root, with query */
	const char	*body;
	size_t		 body_len;
	const char	*content_type;	/* of body; NULL: application/json */
	int64_t		 timeout_ms;	/* 0: opts.request_timeout_ms */
	const char	*accept;	/* NULL: application/json */
	int		 optional;	/* a 403 is the caller's business:
					   it does not make the client not
					   ready (a grant Sluice can do
					   without, such as get on nodes) */
	char		 what[300];	/* "create job 'x' in namespace 'y'" */

	struct buf	*resp;		/* a 2xx answer's body goes here */
	size_t		 resp_start;	/* resp->len before the request */
	struct buf	 errbody;	/* any other answer's body */
	int		 toobig;
	long		 status;
	int64_t		 retry_after_ms;	/* -1: none */
	char		 errbuf[CURL_ERROR_SIZE];

	/* streams */
	CURL		*easy;
	int		(*data)(void *arg, const char *p, size_t n);
	void		*data_arg;
	int		 cb_stopped;
	int		 got_data;
	int64_t		 last_data_ms;
};


/* The request of a call, filled by the caller (kube_api_req_init first). */
void	kube_api_req_init(struct kreq *r, const char *method,
	    enum kube_verb verb, enum kube_resource res, const char *path,
	    struct buf *resp);

/*
 * Perform r with rate limiting and retries (see kube_api.h): a 2xx
 * answer's body is appended to r->resp (from r->resp_start), which keeps
 * what it had on error.  Releases r's own buffers.
 */
int	kube_api_do(struct kube_api *k, struct kreq *r, struct err *err)
	    __attribute__((warn_unused_result));

/* Backoff with full jitter for attempt n (1, 2, ...). */
int64_t	kube_api_backoff_ms(struct kube_api *k, int attempt);

/* Time from the client's clock; sleep on it (used for backoff). */
int64_t	kube_api_now_ms(struct kube_api *k);
void	kube_api_sleep_ms(struct kube_api *k, int64_t ms);
int	kube_api_has_clock(const struct kube_api *k);	/* a test clock */

/*
 * The pieces of one try, for the streams: wait for a token of the bucket
 * (write: a create or delete), copy the bearer token to use now, set up a
 * handle for r, count, and classify the finished transfer.
 */
enum kube_verdict { KUBE_V_OK, KUBE_V_RETRY, KUBE_V_FAIL, KUBE_V_REAUTH };

void	kube_api_bucket_take(struct kube_api *k, int write);
int	kube_api_token(struct kube_api *k, struct buf *out, int force,
	    struct err *err) __attribute__((warn_unused_result));
int	kube_api_setup(struct kube_api *k, CURL *h, struct kreq *r,
	    int64_t timeout_ms, const struct buf *token,
	    struct curl_slist **hdrs, struct err *err)
	    __attribute__((warn_unused_result));
size_t	kube_api_on_body(char *p, size_t size, size_t n, void *arg);
void	kube_api_count_request(struct kube_api *k, const struct kreq *r);
void	kube_api_count_answer(struct kube_api *k, enum kube_verb verb,
	    enum kube_resource res, long status);
void	kube_api_count_failure(struct kube_api *k, enum kube_verb verb,
	    enum kube_resource res);
void	kube_api_set_ready(struct kube_api *k, int code, const char *msg);
enum kube_verdict kube_api_classify(struct kube_api *k, struct kreq *r,
	    CURLcode cc, struct err *err);

/* ---- paths (kube_api.c) --------------------------------------------- */

/* ns, or the auth's namespace when ns is NULL or "". */
const char *kube_api_ns(struct kube_api *k, const char *ns);

/* A DNS-1123 name or namespace: nothing that could bend a URL path. */
int	kube_check_name(const char *what, const char *s, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The path of a pod's log ("/api/v1/namespaces/NS/pods/P/log?..."), with
 * follow=true when follow, limitBytes when limit > 0.
 */
int	kube_api_log_path(const char *ns, const char *pod,
	    const char *container, int follow, size_t limit, struct buf *out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * List objects of res (KUBE_RES_JOBS, KUBE_RES_PODS or KUBE_RES_EVENTS)
 * in ns matching a label selector and a field selector (NULL: any) page
 * by page (opts.list_page_size, following continue tokens), calling item
 * with each decoded object (a struct kube_job, kube_pod or kube_event; a
 * non-zero return stops the listing with that value), and copy the
 * list's resourceVersion to rv (may be NULL).  ERR_TOOBIG past
 * LIM_KUBE_LIST_ITEMS, plus the errors of kube_api.h's calls; a continue
 * token that expired (410) is ERR_TRANSIENT: list again.
 */
int	kube_api_pages(struct kube_api *k, enum kube_resource res,
	    const char *ns, const char *selector, const char *fields,
	    int (*item)(void *arg, const void *obj), void *arg, char *rv,
	    size_t rvlen, struct err *err) __attribute__((warn_unused_result));

/* ---- decoding (kube_decode.c) --------------------------------------- */

/* One object of any kind the client decodes. */
union kube_object {
	struct kube_job		job;
	struct kube_pod		pod;
	struct kube_event	event;
	struct kube_node	node;
	struct kube_workload	workload;
};

/*
 * The Kueue API version an APIGroup answer (/apis/kueue.x-k8s.io) offers:
 * KUBE_KUEUE_V1BETA2 when listed, else V1BETA1, else NONE.  ERR_INVALID
 * when it is not an APIGroup.
 */
int	kube_decode_kueue_group(const char *body, size_t len,
	    enum kube_kueue_api *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Decode the JSON object of res (a Job, a pod or an event) in
 * body[0..len) into out.  what names the request in messages.
 * ERR_INVALID when it is not one.
 */
int	kube_decode_object(const char *body, size_t len, enum kube_resource res,
	    const char *what, union kube_object *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Decode one page of a list of res: call item with each object (events
 * that do not decode are skipped; other objects are ERR_INVALID), count
 * them in *total (ERR_TOOBIG past LIM_KUBE_LIST_ITEMS), copy the list's
 * resourceVersion to rv (when not NULL and the page has one) and its
 * continue token to cont (empty when it is the last page).  A non-zero
 * return of item is returned as it is.
 */
int	kube_decode_page(const char *body, size_t len, enum kube_resource res,
	    const char *what, int (*item)(void *arg, const void *obj),
	    void *arg, size_t *total, char *rv, size_t rvlen, struct buf *cont,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The message of an error answer: a Status object's causes joined
 * ("field: message; ..."), else its message, else the start of the body
 * on one line; reason is the Status's reason (empty when none).
 */
void	kube_decode_status(const char *body, size_t len, char *reason,
	    size_t rlen, char *msg, size_t mlen);

/* metadata.name of a JSON manifest into out (empty when it has none). */
void	kube_decode_manifest_name(const char *json, size_t len, char *out,
	    size_t outlen);

/* ---- streams (kube_stream.c) ---------------------------------------- */

/*
 * A streaming GET on a connection of its own (a watch, a followed log),
 * stoppable from another thread.
 */
struct kube_stream;

int	kube_stream_new(struct kube_stream **out, struct kube_api *k,
	    struct err *err) __attribute__((warn_unused_result));
void	kube_stream_free(struct kube_stream *s);

/* Make the current and every later kube_stream_get return at once. */
void	kube_stream_stop(struct kube_stream *s);
int	kube_stream_stopped(struct kube_stream *s);

/*
 * GET path (from the server root, query included) and pass the body of a
 * 200 answer to data as it arrives (a non-zero return ends the request).
 * idle, when not NULL, is called about once a second without data (a
 * non-zero return ends it too).  timeout_ms 0 = no total timeout.  Takes a
 * read token and counts one request of verb/res.
 *
 * Returns 0 when the stream ended (the server finished it, a callback
 * ended it, or kube_stream_stop), or an error as the calls of kube_api.h
 * map answers (*status is the HTTP status, 0 when none came; 410 leaves
 * ERR_TRANSIENT), ERR_TRANSIENT for a broken connection.  *got_data says
 * whether data was called.  No retries: the caller decides.
 */
int	kube_stream_get(struct kube_stream *s, enum kube_verb verb,
	    enum kube_resource res, const char *path, int64_t timeout_ms,
	    int (*data)(void *arg, const char *p, size_t n),
	    int (*idle)(void *arg), void *arg, long *status, int *got_data,
	    struct err *err) __attribute__((warn_unused_result));

/* "/apis/batch/v1/namespaces/NS/jobs" for ns (NULL: the default). */
int	kube_api_jobs_path(struct kube_api *k, const char *ns,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/* "/api/v1/namespaces/NS/pods" for ns (NULL: the default). */
int	kube_api_pods_path(struct kube_api *k, const char *ns,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * "/apis/kueue.x-k8s.io/VERSION/namespaces/NS/workloads" for ns (NULL: the
 * default), with the version discovery found; ERR_NOTFOUND before a
 * kube_api_kueue_discover that found Kueue.
 */
int	kube_api_workloads_path(struct kube_api *k, const char *ns,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/* Append s percent-encoded for a query value. */
int	kube_api_query_escape(struct buf *out, const char *s)
	    __attribute__((warn_unused_result));

/* One line of a watch stream, decoded. */
enum kube_watch_msg_type {
	KUBE_MSG_ADDED = 0,
	KUBE_MSG_MODIFIED,
	KUBE_MSG_DELETED,
	KUBE_MSG_BOOKMARK,
	KUBE_MSG_ERROR,
};

struct kube_watch_msg {
	enum kube_watch_msg_type type;
	struct kube_job		 job;	/* ADDED/MODIFIED/DELETED of a Job */
	struct kube_pod		 pod;	/* ... of a Pod */
	struct kube_workload	 workload;	/* ... of a Workload */
	char			 resource_version[KUBE_RV_MAX];
	int			 code;		/* ERROR: the Status code */
	char			 message[256];	/* ERROR: its message */
};

/*
 * Decode one watch event line of Jobs (into m->job) or, with
 * kube_api_decode_watch_of and KUBE_RES_PODS, of pods (into m->pod).
 * ERR_INVALID when it is not one.
 */
int	kube_api_decode_watch(const char *line, size_t len,
	    struct kube_watch_msg *m, struct err *err)
	    __attribute__((warn_unused_result));
int	kube_api_decode_watch_of(const char *line, size_t len,
	    enum kube_resource res, struct kube_watch_msg *m, struct err *err)
	    __attribute__((warn_unused_result));

#endif
