/* post.c - one HTTP POST through libcurl; see notify_int.h. */
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "notify/notify_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The answer's body, kept up to its cap (the rest is read and dropped). */
static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *answer = arg;
	size_t len = size * n;

	size_t keep;
	int rc;

	if (answer == NULL || answer->len >= answer->max)
		return len;
	keep = len < answer->max - answer->len ? len :
	    answer->max - answer->len;
	/* Only kept for messages: out of memory just loses it. */
	rc = buf_append(answer, data, keep);
	(void)rc;
	return len;
}

int
notify_post(const char *url, const char *const *headers, const char *body,
    long timeout_ms, int *status, struct buf *answer, struct err *err)
{
	struct curl_slist *hl = NULL, *t;
	CURL *c = NULL;
	CURLcode cc;
	long code = 0;
	int rc = 0;

	*status = 0;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK || (c = curl_easy_init()) == NULL)
		return err_set(err, ERR_GENERIC, "libcurl cannot start");
	if ((hl = curl_slist_append(hl, "Content-Type: application/json")) ==
	    NULL)
		goto nomem;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((t = curl_slist_append(hl, headers[i])) == NULL)
			goto nomem;
		hl = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		rc = err_set(err, ERR_TRANSIENT, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	*status = (int)code;
	goto out;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc;
}
