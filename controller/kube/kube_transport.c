/*
 * kube_transport.c - the Kubernetes API client's transport: libcurl
 * handles and their pool, credentials, the client-side rate limit,
 * retries with backoff and Retry-After, and the mapping of HTTP answers
 * to error codes; see kube_api.h for the contract and kube_api_int.h for
 * what the other kube_* files use.
 *
 * One request goes: rate limit (token bucket) -> a curl handle from the
 * pool -> credentials (token re-read if its file changed) -> perform ->
 * classify the answer -> maybe back off and go again.  Handles are kept
 * (never curl_easy_cleanup'd until the client is freed) because a curl easy
 * handle keeps its connection alive between transfers; sharing one
 * connection cache between threads is not supported by libcurl, so a pool
 * of handles is the pool of connections.  DNS and TLS sessions are shared
 * through a share handle with locks.
 *
 * No JSON here: a Status object's message comes from kube_decode.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/version.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

#define DEF_RETRY_BUDGET_MS	30000
#define DEF_TIMEOUT_MS		30000
#define DEF_CONNECT_MS		10000
#define DEF_CONNECTIONS		8
#define BACKOFF_BASE_MS		250
#define BACKOFF_MAX_MS		8000
#define RETRY_AFTER_MAX_MS	(3600 * 1000)
#define TOKEN_REREAD_MS		60000
#define LIST_PAGE		500
#define ERRBODY_MAX		(64 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- answers, clock, backoff ------------------------------------- */


static const char *const answer_names[KUBE_ANSWER_N] = {
	"0", "200", "201", "400", "401", "403", "404", "409", "410", "422",
	"429", "500", "502", "503", "504", "2xx", "3xx", "4xx", "5xx"
};

const char *
kube_answer_name(int i)
{
	return i >= 0 && i < KUBE_ANSWER_N ? answer_names[i] : "unknown";
}

/* The bucket of an HTTP status (0: no answer); see kube_api.h. */
static int
answer_index(long status)
{
	int i;

	for (i = 0; i < KUBE_ANSWER_N - 4; i++) {
		if (strtol(answer_names[i], NULL, 10) == status)
			return i;
	}
	if (status >= 200 && status < 600)
		return KUBE_ANSWER_N - 4 + (int)(status / 100 - 2);
	return 0;
}

static int64_t
real_now_ms(void *arg)
{
	(void)arg;
	return sys_now_ms();
}

static void
real_sleep_ms(void *arg, int64_t ms)
{
	struct timespec ts;

	(void)arg;
	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int64_t
kube_api_now_ms(struct kube_api *k)
{
	return k->clock->now_ms(k->clock->arg);
}

void
kube_api_sleep_ms(struct kube_api *k, int64_t ms)
{
	k->clock->sleep_ms(k->clock->arg, ms);
}

int
kube_api_has_clock(const struct kube_api *k)
{
	return k->clock != &k->real_clock;
}

static uint64_t
rand_next(struct kube_api *k)
{
	uint64_t x;

	pthread_mutex_lock(&k->stats_mu);
	x = k->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	k->rng = x;
	pthread_mutex_unlock(&k->stats_mu);
	return x;
}

/* Full jitter in [base/2, base] for attempt n (1, 2, ...). */
int64_t
kube_api_backoff_ms(struct kube_api *k, int attempt)
{
	int64_t base = BACKOFF_BASE_MS;
	int i;

	for (i = 1; i < attempt && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	return base / 2 + (int64_t)(rand_next(k) % (uint64_t)(base / 2 + 1));
}

/* ---- the token bucket -------------------------------------------------- */

void
kube_api_bucket_take(struct kube_api *k, int write)
{
	double need, deficit, reserve;
	int64_t now, wait, waited = 0;
	int registered = 0;

	if (k->opts.qps <= 0)
		return;
	reserve = k->opts.burst >= 4 ? (double)(k->opts.burst / 4) : 0;
	pthread_mutex_lock(&k->bucket_mu);
	for (;;) {
		now = kube_api_now_ms(k);
		if (now > k->bucket_ms) {
			k->tokens += (double)(now - k->bucket_ms) * k->opts.qps /
			    1000.0;
			if (k->tokens > k->opts.burst)
				k->tokens = k->opts.burst;
			k->bucket_ms = now;
		}
		need = write ? 1.0 : 1.0 + reserve;
		if (k->tokens >= need - 1e-9 &&
		    (write || k->writers_waiting == 0)) {
			k->tokens -= 1.0;
			break;
		}
		if (write && !registered) {
			k->writers_waiting++;
			registered = 1;
		}
		deficit = need - k->tokens;
		if (deficit < 1.0)
			deficit = 1.0;	/* a reader behind a writer */
		wait = (int64_t)ceil(deficit * 1000.0 / k->opts.qps - 1e-6);
		if (wait < 1)
			wait = 1;
		pthread_mutex_unlock(&k->bucket_mu);
		kube_api_sleep_ms(k, wait);
		waited += wait;
		pthread_mutex_lock(&k->bucket_mu);
	}
	if (registered)
		k->writers_waiting--;
	pthread_mutex_unlock(&k->bucket_mu);
	if (waited > 0) {
		pthread_mutex_lock(&k->stats_mu);
		k->stats.throttled++;
		k->stats.throttled_ms += waited;
		pthread_mutex_unlock(&k->stats_mu);
	}
}

/* ---- credentials -------------------------------------------------------- */

/*
 * Copy the bearer token to use now into out (empty: none).  A token file
 * is re-read when it changed on disk, after TOKEN_REREAD_MS, or when
 * force is set (after a 401); a failed re-read keeps the last token.
 */
int
kube_api_token(struct kube_api *k, struct buf *out, int force,
    struct err *err)
{
	struct stat st;
	int64_t now;
	int changed, rc = 0;

	buf_reset(out);
	if (k->token_file == NULL) {
		if (k->static_token != NULL &&
		    buf_puts(out, k->static_token) < 0)
			return err_set(err, ERR_TOOBIG, "token too long");
		return 0;
	}
	pthread_mutex_lock(&k->token_mu);
	now = sys_now_ms();
	changed = stat(k->token_file, &st) == 0 &&
	    (st.st_mtim.tv_sec != k->token_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != k->token_mtime.tv_nsec ||
	    st.st_size != k->token_size || st.st_ino != k->token_ino);
	if (!k->token_loaded || force || changed ||
	    now - k->token_read_ms >= TOKEN_REREAD_MS) {
		struct err e2;

		err_clear(&e2);
		rc = kube_auth_read_token(k->token_file, &k->token, &e2);
		if (rc == 0) {
			if (k->token_loaded) {
				pthread_mutex_lock(&k->stats_mu);
				k->stats.token_reloads++;
				pthread_mutex_unlock(&k->stats_mu);
			}
			k->token_loaded = 1;
			k->token_read_ms = now;
			if (stat(k->token_file, &st) == 0) {
				k->token_mtime = st.st_mtim;
				k->token_size = st.st_size;
				k->token_ino = st.st_ino;
			}
		} else if (k->token_loaded) {
			log_warn("kubernetes token file unreadable, keeping the "
			    "last token", "file=%s error=\"%s\"", k->token_file,
			    e2.msg);
			rc = 0;
		} else {
			rc = err_set(err, rc, "%s", e2.msg);
		}
	}
	if (rc == 0 && k->token_loaded && buf_append(out, k->token.data,
	    k->token.len) < 0)
		rc = err_set(err, ERR_TOOBIG, "token too long");
	pthread_mutex_unlock(&k->token_mu);
	return rc;
}

/* ---- curl plumbing ------------------------------------------------- */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct kube_api *k = arg;

	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&k->share_mu[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct kube_api *k = arg;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&k->share_mu[data]);
}

static CURL *
pool_get(struct kube_api *k)
{
	CURL *h = NULL;

	pthread_mutex_lock(&k->pool_mu);
	for (;;) {
		if (k->npool > 0) {
			h = k->pool[--k->npool];
			break;
		}
		if (k->nhandles < k->opts.max_connections) {
			if ((h = curl_easy_init()) != NULL)
				k->nhandles++;
			break;
		}
		pthread_cond_wait(&k->pool_cv, &k->pool_mu);
	}
	pthread_mutex_unlock(&k->pool_mu);
	return h;
}

static void
pool_put(struct kube_api *k, CURL *h)
{
	pthread_mutex_lock(&k->pool_mu);
	k->pool[k->npool++] = h;
	pthread_cond_signal(&k->pool_cv);
	pthread_mutex_unlock(&k->pool_mu);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	char num[32];
	size_t i = sizeof(name) - 1, j = 0;
	long long v;

	if (len > i && strncasecmp(p, name, i) == 0) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && j < sizeof(num) - 1 &&
		    isdigit((unsigned char)p[i]))
			num[j++] = p[i++];
		num[j] = '\0';
		if (j > 0 && j < 10) {	/* seconds; an HTTP-date is ignored */
			v = strtoll(num, NULL, 10) * 1000;
			r->retry_after_ms = v > RETRY_AFTER_MAX_MS ?
			    RETRY_AFTER_MAX_MS : v;
		}
	}
	return len;
}

size_t
kube_api_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct kreq *r = arg;
	size_t len = size * n;
	long code = 0;

	if (r->status == 0) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->status = code;
	}
	/* error answers never count against the caller's buffer */
	if (r->status < 200 || r->status > 299) {
		if (buf_append(&r->errbody, p, len) < 0) {
			/* past the cap: the start is message enough */
		}
		return len;
	}
	if (r->resp == NULL)
		return len;
	if (buf_append(r->resp, p, len) < 0) {
		r->toobig = 1;
		return 0;
	}
	return len;
}

/*
 * Set up h for r: reset, TLS and credentials, method, body, callbacks.
 * *hdrs receives the header list the caller frees after the transfer.
 */
int
kube_api_setup(struct kube_api *k, CURL *h, struct kreq *r,
    int64_t timeout_ms, const struct buf *token, struct curl_slist **hdrs,
    struct err *err)
{
	struct curl_blob blob;
	struct curl_slist *l = NULL, *t;
	struct buf line, url;
	int rc = 0;

	*hdrs = NULL;
	curl_easy_reset(h);
	buf_init(&url, LIM_URL + 4 * LIM_KUBE_SELECTOR);
	buf_init(&line, LIM_KUBE_TOKEN + 64);
	if (buf_printf(&url, "%s%s", k->server, r->path) < 0) {
		rc = err_set(err, ERR_TOOBIG, "%s: request URL too long",
		    r->what);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, k->share);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)k->opts.connect_timeout_ms);
	if (timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (k->ca != NULL) {
		/* only this CA: not the system store as well */
		blob.data = k->ca;
		blob.len = k->ca_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	if (k->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (k->cert != NULL) {
		blob.data = k->cert;
		blob.len = k->cert_len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = k->key;
		blob.len = k->key_len;
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (k->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, k->proxy);
	if (r->accept != NULL) {
		if (buf_printf(&line, "Accept: %s", r->accept) < 0) {
			rc = err_set(err, ERR_TOOBIG, "Accept header too long");
			goto out;
		}
		t = curl_slist_append(l, line.data);
		buf_reset(&line);
	} else {
		t = curl_slist_append(l, "Accept: application/json");
	}
	if (t == NULL)
		goto nomem;
	l = t;
	if ((t = curl_slist_append(l, "Expect:")) == NULL)
		goto nomem;
	l = t;
	if (token->len > 0) {
		if (buf_printf(&line, "Authorization: Bearer %s",
		    token->data) < 0) {
			rc = err_set(err, ERR_TOOBIG, "token too long");
			goto out;
		}
		t = curl_slist_append(l, line.data);
		explicit_bzero(line.data, line.alloc);
		if (t == NULL)
			goto nomem;
		l = t;
	}
	if (r->body != NULL) {
		if ((t = curl_slist_append(l, r->content_type != NULL &&
		    strcmp(r->content_type, "application/merge-patch+json") ==
		    0 ? "Content-Type: application/merge-patch+json" :
		    "Content-Type: application/json")) == NULL)
			goto nomem;
		l = t;
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	}
	if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_api_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	*hdrs = l;
	l = NULL;
	goto out;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	curl_slist_free_all(l);
	if (line.data != NULL)
		explicit_bzero(line.data, line.alloc);
	buf_release(&line);
	buf_release(&url);
	return rc;
}

void
kube_api_count_request(struct kube_api *k, const struct kreq *r)
{
	pthread_mutex_lock(&k->stats_mu);
	k->stats.requests[r->verb][r->res]++;
	pthread_mutex_unlock(&k->stats_mu);
}

/* Count the status a request got (0: none came). */
void
kube_api_count_answer(struct kube_api *k, enum kube_verb verb,
    enum kube_resource res, long status)
{
	pthread_mutex_lock(&k->stats_mu);
	k->stats.answers[verb][res][answer_index(status)]++;
	pthread_mutex_unlock(&k->stats_mu);
}

void
kube_api_count_failure(struct kube_api *k, enum kube_verb verb,
    enum kube_resource res)
{
	pthread_mutex_lock(&k->stats_mu);
	k->stats.failures[verb][res]++;
	pthread_mutex_unlock(&k->stats_mu);
}

void
kube_api_set_ready(struct kube_api *k, int code, const char *msg)
{
	int was;

	pthread_mutex_lock(&k->stats_mu);
	was = k->auth_code;
	k->auth_code = code;
	kube_fld(k->auth_msg, sizeof(k->auth_msg), msg != NULL ? msg : "");
	pthread_mutex_unlock(&k->stats_mu);
	if (code != 0 && was != code)
		log_error("kubernetes API refused sluice", "server=%s error=\"%s\"",
		    k->server, msg);
	else if (code == 0 && was != 0)
		log_info("kubernetes API accepts sluice again", "server=%s",
		    k->server);
}

int
kube_api_ready(struct kube_api *k, struct err *err)
{
	int code;

	pthread_mutex_lock(&k->stats_mu);
	code = k->auth_code;
	if (code != 0)
		err_set(err, code, "%s", k->auth_msg);
	pthread_mutex_unlock(&k->stats_mu);
	return code;
}

void
kube_api_stats(struct kube_api *k, struct kube_api_stats *out)
{
	pthread_mutex_lock(&k->stats_mu);
	*out = k->stats;
	pthread_mutex_unlock(&k->stats_mu);
}

static int
tls_verify_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	    cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	    cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_CRL_BADFILE;
}

/*
 * Turn a finished request into a verdict and, unless KUBE_V_OK, a message in
 * err: transport errors and answers by status.
 */
enum kube_verdict
kube_api_classify(struct kube_api *k, struct kreq *r, CURLcode cc,
    struct err *err)
{
	char reason[64], msg[ERR_MSG_MAX - 400];
	const char *body = r->errbody.data ? r->errbody.data : "";
	size_t blen = r->errbody.len;
	int code;

	if (cc != CURLE_OK) {
		const char *detail = r->errbuf[0] ? r->errbuf :
		    curl_easy_strerror(cc);

		if (r->toobig) {
			err_set(err, ERR_TOOBIG, "%s: the answer is larger than "
			    "%zu bytes", r->what, r->resp ? r->resp->max : 0);
			return KUBE_V_FAIL;
		}
		if (tls_verify_error(cc)) {
			err_set(err, ERR_GENERIC, "%s: TLS with the kubernetes "
			    "API at '%s' failed: %s (check the %s)", r->what,
			    k->server, detail, cc == CURLE_SSL_CERTPROBLEM ?
			    "client certificate and key" :
			    "cluster's certificate-authority");
			kube_api_set_ready(k, ERR_GENERIC, err->msg);
			return KUBE_V_FAIL;
		}
		if (cc == CURLE_SSL_CONNECT_ERROR)
			err_set(err, ERR_TRANSIENT, "%s: TLS handshake with the "
			    "kubernetes API at '%s' failed: %s", r->what,
			    k->server, detail);
		else
			err_set(err, ERR_TRANSIENT, "%s: cannot reach the "
			    "kubernetes API at '%s': %s", r->what, k->server,
			    detail);
		return KUBE_V_RETRY;
	}
	if (r->status >= 200 && r->status < 300) {
		kube_api_set_ready(k, 0, NULL);
		return KUBE_V_OK;
	}
	kube_decode_status(body, blen, reason, sizeof(reason), msg, sizeof(msg));
	if (reason[0] == '\0')
		kube_fld(reason, sizeof(reason), "error");
	switch (r->status) {
	case 401:
		err_set(err, ERR_UNAUTHORIZED, "%s: the kubernetes API at '%s' "
		    "refused the credentials (401 %s): check the token or "
		    "client certificate%s%s%s", r->what, k->server, msg,
		    k->user ? " of user '" : "", k->user ? k->user : "",
		    k->user ? "'" : "");
		return KUBE_V_REAUTH;
	case 403:
		err_set(err, ERR_FORBIDDEN, "%s: forbidden (403): %s; grant "
		    "sluice's service account the Role in deploy/", r->what,
		    msg);
		if (!r->optional)
			kube_api_set_ready(k, ERR_FORBIDDEN, err->msg);
		return KUBE_V_FAIL;
	default:
		break;
	}
	kube_api_set_ready(k, 0, NULL);
	switch (r->status) {
	case 400:
	case 422:
		code = ERR_INVALID;
		break;
	case 404:
		code = ERR_NOTFOUND;
		break;
	case 409:
		code = ERR_CONFLICT;
		break;
	case 410:
		code = ERR_TRANSIENT;
		break;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		err_set(err, ERR_TRANSIENT, "%s: %ld %s: %s", r->what,
		    r->status, reason, msg);
		return KUBE_V_RETRY;
	default:
		code = ERR_GENERIC;
		break;
	}
	err_set(err, code, "%s: %ld %s: %s", r->what, r->status, reason, msg);
	return KUBE_V_FAIL;
}

/* Perform r with rate limiting and retries; see kube_api.h. */
int
kube_api_do(struct kube_api *k, struct kreq *r, struct err *err)
{
	struct buf token;
	struct curl_slist *hdrs = NULL;
	struct err le;
	int64_t start = kube_api_now_ms(k), wait, elapsed;
	int attempt = 0, reauthed = 0, force_token = 0, rc = 0;
	enum kube_verdict v;
	CURLcode cc;
	CURL *h;
	long status;
	int write = r->verb == KUBE_VERB_CREATE ||
	    r->verb == KUBE_VERB_DELETE || r->verb == KUBE_VERB_PATCH;

	buf_init(&token, LIM_KUBE_TOKEN);
	err_clear(&le);
	r->resp_start = r->resp->len;
	for (;;) {
		attempt++;
		kube_api_bucket_take(k, write);
		if ((rc = kube_api_token(k, &token, force_token, &le)) < 0)
			break;
		force_token = 0;
		if ((h = pool_get(k)) == NULL) {
			rc = err_set(&le, ERR_GENERIC, "cannot make a curl handle");
			break;
		}
		r->status = 0;
		r->retry_after_ms = -1;
		r->toobig = 0;
		r->errbuf[0] = '\0';
		r->easy = h;
		buf_reset(&r->errbody);
		r->resp->len = r->resp_start;
		if (r->resp->data != NULL)
			r->resp->data[r->resp_start] = '\0';
		if ((rc = kube_api_setup(k, h, r, r->timeout_ms > 0 ? r->timeout_ms :
		    k->opts.request_timeout_ms, &token, &hdrs, &le)) < 0) {
			pool_put(k, h);
			break;
		}
		kube_api_count_request(k, r);
		cc = curl_easy_perform(h);
		status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
		kube_api_count_answer(k, r->verb, r->res, status);
		/* the handle keeps the connection; the request's data goes */
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		pool_put(k, h);

		v = kube_api_classify(k, r, cc, &le);
		if (v == KUBE_V_OK) {
			rc = 0;
			break;
		}
		rc = le.code ? le.code : ERR_GENERIC;
		if (v == KUBE_V_REAUTH) {
			if (k->token_file != NULL && !reauthed) {
				/* the token may have just rotated */
				reauthed = 1;
				force_token = 1;
				continue;
			}
			kube_api_set_ready(k, ERR_UNAUTHORIZED, le.msg);
			break;
		}
		if (v == KUBE_V_FAIL)
			break;
		/* KUBE_V_RETRY */
		wait = r->retry_after_ms >= 0 ? r->retry_after_ms :
		    kube_api_backoff_ms(k, attempt);
		elapsed = kube_api_now_ms(k) - start;
		if (elapsed + wait > k->opts.retry_budget_ms) {
			if (r->retry_after_ms >= 0 && attempt == 1)
				err_prefix(&le, "the kubernetes API asked to "
				    "retry after %llds, past the retry budget",
				    (long long)(r->retry_after_ms / 1000));
			else
				err_prefix(&le, "gave up after %d attempts "
				    "in %llds", attempt,
				    (long long)(elapsed / 1000));
			rc = ERR_TRANSIENT;
			break;
		}
		log_debug("kubernetes API retry", "what=\"%s\" attempt=%d "
		    "wait_ms=%lld error=\"%s\"", r->what, attempt,
		    (long long)wait, le.msg);
		pthread_mutex_lock(&k->stats_mu);
		k->stats.retries++;
		pthread_mutex_unlock(&k->stats_mu);
		kube_api_sleep_ms(k, wait);
	}
	if (rc < 0) {
		err_set(err, rc, "%s", le.msg);
		kube_api_count_failure(k, r->verb, r->res);
		/* leave the caller's buffer as it was */
		r->resp->len = r->resp_start;
		if (r->resp->data != NULL)
			r->resp->data[r->resp_start] = '\0';
	}
	if (token.data != NULL)
		explicit_bzero(token.data, token.alloc);
	buf_release(&token);
	buf_release(&r->errbody);
	return rc;
}

/* ---- the client ---------------------------------------------------- */

static char *
dup_mem(const char *p, size_t n)
{
	char *s;

	if (p == NULL)
		return NULL;
	s = xcalloc(1, n + 1);
	memcpy(s, p, n);
	return s;
}

static void
wipe(char *s, size_t n)
{
	if (s != NULL) {
		explicit_bzero(s, n);
		free(s);
	}
}

void
kube_api_free(struct kube_api *k)
{
	int i;

	if (k == NULL)
		return;
	for (i = 0; i < k->npool; i++)
		curl_easy_cleanup(k->pool[i]);
	if (k->share != NULL)
		curl_share_cleanup(k->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&k->share_mu[i]);
	pthread_mutex_destroy(&k->pool_mu);
	pthread_cond_destroy(&k->pool_cv);
	pthread_mutex_destroy(&k->bucket_mu);
	pthread_mutex_destroy(&k->token_mu);
	pthread_mutex_destroy(&k->stats_mu);
	free(k->server);
	free(k->namespace);
	free(k->user);
	free(k->ca);
	free(k->cert);
	wipe(k->key, k->key_len);
	if (k->static_token != NULL)
		wipe(k->static_token, strlen(k->static_token));
	free(k->token_file);
	free(k->proxy);
	if (k->token.data != NULL)
		explicit_bzero(k->token.data, k->token.alloc);
	buf_release(&k->token);
	free(k);
}

int
kube_api_new(struct kube_api **out, const struct kube_auth *auth,
    const struct kube_api_opts *opts, struct err *err)
{
	struct kube_api *k;
	int i;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(err, ERR_GENERIC, "libcurl: %s",
		    curl_easy_strerror(curl_init_rc));
	if (auth == NULL || auth->server == NULL || auth->namespace == NULL)
		return err_set(err, ERR_INVALID, "kubernetes access incomplete");
	k = xcalloc(1, sizeof(*k));
	if (opts != NULL)
		k->opts = *opts;
	if (k->opts.burst < 1)
		k->opts.burst = 1;
	if (k->opts.retry_budget_ms <= 0)
		k->opts.retry_budget_ms = DEF_RETRY_BUDGET_MS;
	if (k->opts.request_timeout_ms <= 0)
		k->opts.request_timeout_ms = DEF_TIMEOUT_MS;
	if (k->opts.connect_timeout_ms <= 0)
		k->opts.connect_timeout_ms = DEF_CONNECT_MS;
	if (k->opts.max_connections <= 0)
		k->opts.max_connections = DEF_CONNECTIONS;
	if (k->opts.list_page_size <= 0)
		k->opts.list_page_size = LIST_PAGE;
	if (k->opts.max_connections > KUBE_MAX_CONNECTIONS)
		k->opts.max_connections = KUBE_MAX_CONNECTIONS;
	k->real_clock.now_ms = real_now_ms;
	k->real_clock.sleep_ms = real_sleep_ms;
	k->clock = k->opts.clock != NULL ? k->opts.clock : &k->real_clock;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&k->share_mu[i], NULL);
	pthread_mutex_init(&k->pool_mu, NULL);
	pthread_cond_init(&k->pool_cv, NULL);
	pthread_mutex_init(&k->bucket_mu, NULL);
	pthread_mutex_init(&k->token_mu, NULL);
	pthread_mutex_init(&k->stats_mu, NULL);
	buf_init(&k->token, LIM_KUBE_TOKEN);
	k->server = xstrdup(auth->server);
	k->namespace = xstrdup(auth->namespace);
	k->user = sys_strdup_or_null(auth->user);
	k->ca = dup_mem(auth->ca.data, auth->ca.len);
	k->ca_len = auth->ca.len;
	k->cert = dup_mem(auth->cert.data, auth->cert.len);
	k->cert_len = auth->cert.len;
	k->key = dup_mem(auth->key.data, auth->key.len);
	k->key_len = auth->key.len;
	k->static_token = sys_strdup_or_null(auth->token);
	k->token_file = sys_strdup_or_null(auth->token_file);
	k->proxy = sys_strdup_or_null(auth->proxy);
	k->insecure = auth->insecure;
	k->tokens = k->opts.burst;
	k->bucket_ms = kube_api_now_ms(k);
	k->rng = (uint64_t)sys_now_ms() * 2654435761u ^
	    (uint64_t)getpid() ^ (uint64_t)(uintptr_t)k;
	if (k->rng == 0)
		k->rng = 88172645463325252ull;
	if ((k->share = curl_share_init()) == NULL) {
		kube_api_free(k);
		return err_set(err, ERR_GENERIC, "libcurl: no share handle");
	}
	curl_share_setopt(k->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(k->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(k->share, CURLSHOPT_USERDATA, k);
	curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (k->insecure)
		log_warn("kubernetes TLS verification disabled", "server=%s "
		    "reason=insecure-skip-tls-verify", k->server);
	*out = k;
	return 0;
}


void
kube_api_req_init(struct kreq *r, const char *method, enum kube_verb verb,
    enum kube_resource res, const char *path, struct buf *resp)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->verb = verb;
	r->res = res;
	r->path = path;
	r->resp = resp;
	r->retry_after_ms = -1;
	buf_init(&r->errbody, ERRBODY_MAX);
}

