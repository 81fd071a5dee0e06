/*
 * kube_api_int.h - what kube_watch.c needs from kube_api.c; not for other
 * modules.  libcurl and jansson stay in kube_api.c: this interface is in
 * our own types.
 */
#ifndef SLUICE_KUBE_API_INT_H
#define SLUICE_KUBE_API_INT_H

#include <stdint.h>

#include "kube/kube_api.h"

/* Time from the client's clock; sleep on it (used for backoff). */
int64_t	kube_api_now_ms(struct kube_api *k);
void	kube_api_sleep_ms(struct kube_api *k, int64_t ms);
int	kube_api_has_clock(const struct kube_api *k);	/* a test clock */

/*
 * List Jobs page by page, calling item for each (a non-zero return stops
 * the listing with that value), and copy the list's resourceVersion to rv.
 * Same errors as kube_api_job_list; a continue token that expired (410)
 * is ERR_TRANSIENT: list again.
 */
int	kube_api_job_pages(struct kube_api *k, const char *ns,
	    const char *selector, int (*item)(void *arg,
	    const struct kube_job *j), void *arg, char *rv, size_t rvlen,
	    struct err *err) __attribute__((warn_unused_result));

/* The same for pods. */
int	kube_api_pod_pages(struct kube_api *k, const char *ns,
	    const char *selector, int (*item)(void *arg,
	    const struct kube_pod *p), void *arg, char *rv, size_t rvlen,
	    struct err *err) __attribute__((warn_unused_result));

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
