/*
 * kube_stream.c - streaming GETs of the Kubernetes API client (watches,
 * followed logs); see kube_api_int.h.
 *
 * A stream uses a multi handle of its own so that another thread can wake
 * it with curl_multi_wakeup and stop it at once, mid-stream.  It shares
 * the client's rate limit, credentials, counters and answer mapping with
 * kube_transport.c, but never retries: its caller decides.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/caps.h"
#include "base/sys.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

struct kube_stream {
	struct kube_api	*k;
	CURLM		*multi;
	CURL		*easy;
	atomic_int	 stop;
};

int
kube_stream_new(struct kube_stream **out, struct kube_api *k,
    struct err *err)
{
	struct kube_stream *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	s->k = k;
	atomic_init(&s->stop, 0);
	if ((s->multi = curl_multi_init()) == NULL ||
	    (s->easy = curl_easy_init()) == NULL) {
		kube_stream_free(s);
		return err_set(err, ERR_GENERIC, "libcurl: no stream handle");
	}
	*out = s;
	return 0;
}

void
kube_stream_free(struct kube_stream *s)
{
	if (s == NULL)
		return;
	if (s->easy != NULL)
		curl_easy_cleanup(s->easy);
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	free(s);
}

void
kube_stream_stop(struct kube_stream *s)
{
	atomic_store(&s->stop, 1);
	curl_multi_wakeup(s->multi);
}

int
kube_stream_stopped(struct kube_stream *s)
{
	return atomic_load(&s->stop);
}

static size_t
on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	long code = 0;

	if (r->status == 0) {
		/* the first bytes of the body: is it the stream or an error? */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->status = code;
	}
	if (r->status != 200)
		return kube_api_on_body(p, size, n, r);
	r->got_data = 1;
	r->last_data_ms = sys_now_ms();
	if (r->data(r->data_arg, p, len) != 0) {
		r->cb_stopped = 1;
		return 0;
	}
	return len;
}

int
kube_stream_get(struct kube_stream *s, enum kube_verb verb,
    enum kube_resource res, const char *path, int64_t timeout_ms,
    int (*data)(void *arg, const char *p, size_t n), int (*idle)(void *arg),
    void *arg, long *status, int *got_data, struct err *err)
{
	struct kube_api *k = s->k;
	struct buf token;
	struct curl_slist *hdrs = NULL;
	struct kreq r;
	struct err le;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	int running = 1, left, rc = 0, stopped = 0;
	long code = 0;

	*status = 0;
	*got_data = 0;
	if (atomic_load(&s->stop))
		return 0;
	buf_init(&token, LIM_KUBE_TOKEN);
	kube_api_req_init(&r, "GET", verb, res, path, NULL);
	snprintf(r.what, sizeof(r.what), "%s %s", kube_verb_name(verb),
	    kube_resource_name(res));
	err_clear(&le);
	r.easy = s->easy;
	r.data = data;
	r.data_arg = arg;
	r.last_data_ms = sys_now_ms();
	kube_api_bucket_take(k, 0);
	if ((rc = kube_api_token(k, &token, 0, &le)) < 0 ||
	    (rc = kube_api_setup(k, s->easy, &r, timeout_ms, &token, &hdrs, &le)) < 0)
		goto out;
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &r);
	kube_api_count_request(k, &r);
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
		rc = err_set(&le, ERR_GENERIC, "libcurl: cannot add a stream");
		goto out;
	}
	while (running) {
		if (curl_multi_perform(s->multi, &running) != CURLM_OK)
			break;
		if (!running)
			break;
		if (atomic_load(&s->stop)) {
			stopped = 1;
			break;
		}
		if (curl_multi_poll(s->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		if (atomic_load(&s->stop)) {
			stopped = 1;
			break;
		}
		if (idle != NULL &&
		    sys_now_ms() - r.last_data_ms >= 1000) {
			r.last_data_ms = sys_now_ms();
			if (idle(arg) != 0) {
				stopped = 1;
				break;
			}
		}
	}
	while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			cc = msg->data.result;
	}
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(s->multi, s->easy);
	kube_api_count_answer(k, verb, res, code);
	*status = code;
	*got_data = r.got_data;
	r.status = code;
	if (stopped || r.cb_stopped) {
		rc = 0;
		goto out;
	}
	if (cc == CURLE_OK && code == 200) {
		rc = 0;	/* the server ended the stream */
		goto out;
	}
	switch (kube_api_classify(k, &r, cc, &le)) {
	case KUBE_V_OK:
		rc = 0;
		break;
	case KUBE_V_REAUTH:
		kube_api_set_ready(k, ERR_UNAUTHORIZED, le.msg);
		rc = ERR_UNAUTHORIZED;
		break;
	default:
		rc = le.code ? le.code : ERR_GENERIC;
		if (cc != CURLE_OK && r.got_data)
			rc = err_set(&le, ERR_TRANSIENT, "%s: the stream broke: "
			    "%s", r.what, r.errbuf[0] ? r.errbuf :
			    curl_easy_strerror(cc));
		break;
	}
out:
	if (rc < 0) {
		err_set(err, rc, "%s", le.msg);
		kube_api_count_failure(k, verb, res);
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	if (token.data != NULL)
		explicit_bzero(token.data, token.alloc);
	buf_release(&token);
	buf_release(&r.errbody);
	return rc;
}

struct follow_ctx {
	int	(*cb)(void *arg, const char *data, size_t len);
	void	*arg;
};

static int
follow_data(void *arg, const char *p, size_t n)
{
	struct follow_ctx *c = arg;

	return c->cb(c->arg, p, n);
}

static int
follow_idle(void *arg)
{
	struct follow_ctx *c = arg;

	return c->cb(c->arg, NULL, 0);
}

int
kube_api_pod_log_follow(struct kube_api *k, const char *ns, const char *pod,
    const char *container, int (*cb)(void *arg, const char *data,
    size_t len), void *arg, struct err *err)
{
	struct kube_stream *s = NULL;
	struct follow_ctx c = { cb, arg };
	struct buf path;
	int64_t start, wait;
	int rc, attempt = 0, got;
	long status;

	ns = kube_api_ns(k, ns);
	buf_init(&path, LIM_URL);
	if ((rc = kube_api_log_path(ns, pod, container, 1, 0, &path,
	    err)) < 0 ||
	    (rc = kube_stream_new(&s, k, err)) < 0)
		goto out;
	start = kube_api_now_ms(k);
	for (;;) {
		attempt++;
		rc = kube_stream_get(s, KUBE_VERB_GET, KUBE_RES_PODS_LOG,
		    path.data, 0, follow_data, follow_idle, &c, &status, &got,
		    err);
		/* retry only what failed before any log arrived */
		if (rc != ERR_TRANSIENT || got || status == 410)
			break;
		wait = kube_api_backoff_ms(k, attempt);
		if (kube_api_now_ms(k) - start + wait >
		    k->opts.retry_budget_ms)
			break;
		kube_api_sleep_ms(k, wait);
	}
	if (rc < 0)
		err_prefix(err, "follow log of pod '%.63s' in namespace '%s'",
		    pod, ns);
out:
	kube_stream_free(s);
	buf_release(&path);
	return rc;
}

int
kube_api_pod_log_stream(struct kube_api *k, const char *ns, const char *pod,
    const char *container, const char *since,
    int (*cb)(void *arg, const char *data, size_t len), void *arg,
    struct err *err)
{
	struct kube_stream *s = NULL;
	struct follow_ctx c = { cb, arg };
	struct buf path;
	int rc, got;
	long status;

	ns = kube_api_ns(k, ns);
	buf_init(&path, LIM_URL);
	if (since != NULL && since[0] != '\0' &&
	    strspn(since, "0123456789-:TZ") != strlen(since)) {
		rc = err_set(err, ERR_INVALID, "bad sinceTime '%.40s'", since);
		goto out;
	}
	if ((rc = kube_api_log_path(ns, pod, container, 1, 0, &path,
	    err)) < 0)
		goto out;
	if (buf_puts(&path, "&timestamps=true") < 0 || (since != NULL &&
	    since[0] != '\0' && buf_printf(&path, "&sinceTime=%s", since) < 0)) {
		rc = err_set(err, ERR_TOOBIG, "request path too long");
		goto out;
	}
	if ((rc = kube_stream_new(&s, k, err)) < 0)
		goto out;
	rc = kube_stream_get(s, KUBE_VERB_GET, KUBE_RES_PODS_LOG, path.data, 0,
	    follow_data, follow_idle, &c, &status, &got, err);
	if (rc < 0)
		err_prefix(err, "follow log of pod '%.63s' in namespace '%s'",
		    pod, ns);
out:
	kube_stream_free(s);
	buf_release(&path);
	return rc;
}
