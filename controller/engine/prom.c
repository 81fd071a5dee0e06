/*
 * prom.c - PromQL instant queries with libcurl and jansson; see prom.h.
 * The query goes in a form body (POST), so its length and characters
 * never meet a URL's limits; the answer is read up to
 * LIM_PROMETHEUS_ANSWER.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "engine/prom.h"
#include "pipeline/pipeline.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct answer {
	struct buf	body;
	int		toobig;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;

	if (buf_append(&a->body, p, size * n) < 0) {
		a->toobig = 1;
		return 0;
	}
	return size * n;
}

/* A sample's value, "1.5" / "NaN" / "+Inf", into *out. */
static int
sample_value(json_t *pair, double *out, struct err *err)
{
	json_t *v = json_array_get(pair, 1);
	const char *s = json_string_value(v);
	char *end;

	if (!json_is_array(pair) || json_array_size(pair) != 2 || s == NULL)
		return err_set(err, ERR_INVALID, "prometheus answered a sample "
		    "without a value");
	*out = strtod(s, &end);
	if (end == s || *end != '\0')
		return err_set(err, ERR_INVALID, "prometheus answered the "
		    "value \"%.40s\", not a number", s);
	return 0;
}

/* The one value of a successful answer's data. */
static int
read_data(json_t *data, double *out, struct err *err)
{
	const char *type = json_string_value(json_object_get(data,
	    "resultType"));
	json_t *res = json_object_get(data, "result");
	size_t n;

	if (type == NULL || res == NULL)
		return err_set(err, ERR_INVALID, "prometheus answered without "
		    "data.resultType and data.result");
	if (strcmp(type, "scalar") == 0)
		return sample_value(res, out, err);
	if (strcmp(type, "vector") != 0)
		return err_set(err, ERR_INVALID, "the query gives a %s; expected "
		    "a scalar or an instant vector of one sample", type);
	if (!json_is_array(res))
		return err_set(err, ERR_INVALID, "prometheus answered a vector "
		    "that is not an array");
	if ((n = json_array_size(res)) == 0)
		return err_set(err, ERR_NOTFOUND, "no data: the query returned "
		    "no sample");
	if (n > 1)
		return err_set(err, ERR_INVALID, "the query returned %zu "
		    "series; expected one (aggregate it, e.g. with sum())", n);
	return sample_value(json_object_get(json_array_get(res, 0), "value"),
	    out, err);
}

/* Judge an answer (HTTP code, body) as prom_query() says. */
static int
read_answer(long code, const struct buf *body, double *out, struct err *err)
{
	json_error_t je;
	json_t *root = NULL;
	const char *status, *etype, *emsg;
	int rc;

	if (body->len > 0)
		root = json_loadb(body->data, body->len, 0, &je);
	status = json_string_value(json_object_get(root, "status"));
	if (status != NULL && strcmp(status, "error") == 0) {
		etype = json_string_value(json_object_get(root, "errorType"));
		emsg = json_string_value(json_object_get(root, "error"));
		rc = err_set(err, code >= 500 ? ERR_TRANSIENT : ERR_INVALID,
		    "prometheus: %s: %s", etype ? etype : "error",
		    emsg ? emsg : "(no message)");
	} else if (code < 200 || code > 299) {
		rc = err_set(err, ERR_TRANSIENT, "prometheus answered HTTP %ld",
		    code);
	} else if (status == NULL || strcmp(status, "success") != 0) {
		rc = err_set(err, ERR_INVALID, "prometheus answered something "
		    "that is not a query result");
	} else {
		rc = read_data(json_object_get(root, "data"), out, err);
	}
	json_decref(root);
	return rc;
}

int
prom_query(const struct pipeline_prometheus *pr, const char *query,
    double *value, struct err *err)
{
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL, *l;
	struct answer a;
	struct buf url, form, auth;
	char *esc = NULL;
	const char *token = NULL;
	size_t alen = strlen(pr->address);
	long code = 0;
	CURLcode cc;
	int rc = 0;

	*value = NAN;
	buf_init(&a.body, LIM_PROMETHEUS_ANSWER);
	a.toobig = 0;
	buf_init(&url, LIM_PROMETHEUS_ADDRESS + 32);
	buf_init(&form, 3 * LIM_PROMQL_SUBST + 16);
	buf_init_secret(&auth, 64 * 1024);
	if (pr->token_env != NULL) {
		token = getenv(pr->token_env);
		if (token == NULL || *token == '\0') {
			rc = err_set(err, ERR_TRANSIENT, "token_env %s is not set "
			    "in the controller's environment", pr->token_env);
			goto out;
		}
	}
	(void)pthread_once(&curl_once, curl_init);
	while (alen > 0 && pr->address[alen - 1] == '/')
		alen--;
	if ((h = curl_easy_init()) == NULL ||
	    (esc = curl_easy_escape(h, query, 0)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (buf_append(&url, pr->address, alen) < 0 ||
	    buf_puts(&url, "/api/v1/query") < 0 ||
	    buf_printf(&form, "query=%s", esc) < 0 ||
	    (token != NULL && buf_printf(&auth, "Authorization: Bearer %s",
	    token) < 0)) {
		rc = err_set(err, ERR_TOOBIG, "the query or token is too long");
		goto out;
	}
	if ((l = curl_slist_append(hdrs, "Accept: application/json")) == NULL)
		goto nomem;
	hdrs = l;
	if (token != NULL) {
		if ((l = curl_slist_append(hdrs, auth.data)) == NULL)
			goto nomem;
		hdrs = l;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)pr->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)pr->timeout_ms);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form.data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)form.len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	if (pr->insecure_skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (pr->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, pr->ca_file);
	if ((cc = curl_easy_perform(h)) != CURLE_OK) {
		if (a.toobig)
			rc = err_set(err, ERR_INVALID, "prometheus answered more "
			    "than %d bytes", LIM_PROMETHEUS_ANSWER);
		else
			rc = err_set(err, ERR_TRANSIENT, "cannot query "
			    "prometheus at %s: %s", pr->address,
			    curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	rc = read_answer(code, &a.body, value, err);
	goto out;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	curl_free(esc);
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	buf_release(&a.body);
	buf_release(&url);
	buf_release(&form);
	buf_release(&auth);
	return rc;
}
