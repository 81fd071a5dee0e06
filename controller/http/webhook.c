/*
 * webhook.c - signed webhooks; see webhook.h.
 *
 * Each handler runs the same frame (hook_begin, hook_replay, the work in a
 * transaction, hook_finish) around its own work.  The work runs after a
 * SAVEPOINT, so that a refused request (4xx) is recorded with its answer
 * even when a statement of the work failed and aborted it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/ratelimit.h"
#include "base/sys.h"
#include "http/api_common.h"
#include "http/auth.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "http/webhook.h"
#include "store/db.h"
#include "store/dbpool.h"
#include "store/store_repo.h"
#include "store/store_webhook.h"

/* --- signatures ------------------------------------------------------- */

int
webhook_sign(const char *secret, const void *body, size_t len, char *out,
    size_t outlen)
{
	return hash_hmac_sig(secret, body, len, out, outlen);
}

int
webhook_verify(const char *secret, const void *body, size_t len,
    const char *header, struct err *err)
{
	unsigned char want[32], got[32];

	if (header == NULL || header[0] == '\0')
		return err_set(err, ERR_UNAUTHORIZED, "missing signature");
	if (strncmp(header, "sha256=", 7) != 0 ||
	    strnlen(header + 7, 65) != 64)
		return err_set(err, ERR_UNAUTHORIZED, "malformed signature: "
		    "expected sha256= and 64 hex digits");
	for (int i = 0; i < 32; i++) {
		int hi = hash_hex_digit(header[7 + 2 * i]);
		int lo = hash_hex_digit(header[7 + 2 * i + 1]);

		if (hi < 0 || lo < 0)
			return err_set(err, ERR_UNAUTHORIZED, "malformed "
			    "signature: expected sha256= and 64 hex digits");
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (hash_hmac_sha256(secret, body, len, want) < 0)
		return err_set(err, ERR_GENERIC, "hmac-sha256 failed");
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		return err_set(err, ERR_FORBIDDEN, "signature does not match "
		    "the body");
	return 0;
}

/* --- repository URLs -------------------------------------------------- */

int
webhook_url_key(const char *url, char *out, size_t outlen)
{
	const char *p, *host, *hend, *path, *at, *colon;
	struct buf b;
	int rc = 0;

	buf_init(&b, outlen > 0 ? outlen - 1 : 0);
	if ((p = strstr(url, "://")) != NULL) {
		host = p + 3;
		hend = host + strcspn(host, "/");
		path = hend;
	} else if ((colon = strchr(url, ':')) != NULL &&
	    memchr(url, '/', (size_t)(colon - url)) == NULL) {
		/* scp-like: [user@]host:path */
		host = url;
		hend = colon;
		path = colon + 1;
	} else {
		host = hend = url;	/* a local path */
		path = url;
	}
	/* Drop user info and port from the host part. */
	for (at = hend; at > host && at[-1] != '@'; at--)
		;
	if (at > host)
		host = at;
	if ((colon = memchr(host, ':', (size_t)(hend - host))) != NULL &&
	    host[0] != '[')
		hend = colon;
	while (*path == '/')
		path++;
	if (hend > host && ((rc = buf_append(&b, host,
	    (size_t)(hend - host))) < 0 || (rc = buf_putc(&b, '/')) < 0))
		goto out;
	if ((rc = buf_puts(&b, path)) < 0)
		goto out;
	for (size_t i = 0; i < b.len; i++)
		b.data[i] = (char)tolower((unsigned char)b.data[i]);
	while (b.len > 0 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	if (b.len >= 4 && strcmp(b.data + b.len - 4, ".git") == 0) {
		b.len -= 4;
		b.data[b.len] = '\0';
	}
	while (b.len > 0 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	if (b.len == 0) {
		rc = ERR_INVALID;
		goto out;
	}
	rc = str_copy(out, outlen, b.data);
out:
	if (rc < 0 && outlen > 0)
		out[0] = '\0';
	buf_release(&b);
	return rc;
}

/* --- the frame of a hook call ----------------------------------------- */

struct hook {
	struct ctl		*ctl;
	struct http_request	*rq;
	struct http_response	*rs;
	struct db		*db;
	const char		*source;	/* "github", "sluice" */
	const char		*result;	/* for the metric */
	struct webhook_record	 rec;
	struct err		 err;
};

static void
count(struct hook *h, const char *result)
{
	if (h->ctl->m_webhook_deliveries != NULL)
		metric_inc(h->ctl->m_webhook_deliveries,
		    METRIC_LABELS(h->source, result));
	log_info("webhook", "source=%s delivery=%s event=%s result=%s "
	    "status=%d client=%s", h->source,
	    h->rec.delivery_id ? h->rec.delivery_id : "-",
	    h->rec.event ? h->rec.event : "-", result, h->rs->status,
	    h->rq->client);
}

static int
valid_delivery_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= LIM_DELIVERY_ID || !(isalnum((unsigned char)c) ||
		    c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return n > 0;
}

/*
 * Rate limits, secret, signature and delivery id.  Returns 0 to go on, or
 * 1 when rs was answered (and counted).
 */
static int
hook_begin(struct hook *h, const char *sig_header, const char *id_header)
{
	struct ctl *ctl = h->ctl;
	const char *id;
	int wait, rc;

	if (auth_blocked(ctl, h->rq, h->rs))
		goto rejected;
	if (ctl->hook_calls != NULL && (wait = ratelimit_take(ctl->hook_calls,
	    h->rq->client, sys_now_ms())) > 0) {
		auth_reply_rate_limited(h->rs, wait, "too many webhook calls "
		    "from this address");
		goto rejected;
	}
	if (ctl->webhook_secret == NULL || ctl->webhook_secret[0] == '\0') {
		http_error(h->rs, 503, "unavailable", "webhook secret not "
		    "configured: set the variable named by webhook_secret_env "
		    "(%s)", ctl->cfg != NULL && ctl->cfg->webhook_secret_env ?
		    ctl->cfg->webhook_secret_env : "-");
		count(h, "error");
		return 1;
	}
	rc = webhook_verify(ctl->webhook_secret, h->rq->body.data,
	    h->rq->body.len, http_header(h->rq, sig_header), &h->err);
	if (rc < 0) {
		if (rc == ERR_UNAUTHORIZED || rc == ERR_FORBIDDEN)
			auth_failed(ctl, h->rq);
		if (rc == ERR_UNAUTHORIZED || rc == ERR_FORBIDDEN)
			auth_reply_unauthorized(h->rs, h->err.msg);
		else
			http_error_from(h->rs, &h->err);
		count(h, rc == ERR_UNAUTHORIZED ? "unauthorized" :
		    rc == ERR_FORBIDDEN ? "bad_signature" : "error");
		return 1;
	}
	id = http_header(h->rq, id_header);
	if (!valid_delivery_id(id)) {
		http_error(h->rs, 400, "invalid", "%s header %s: expected 1 to "
		    "%d characters of A-Z a-z 0-9 . _ : -", id_header,
		    id == NULL ? "missing" : "malformed", LIM_DELIVERY_ID);
		goto rejected;
	}
	h->rec.delivery_id = id;
	return 0;
rejected:
	count(h, "rejected");
	return 1;
}

/* Answer status and the JSON text body (plus a newline). */
static void
reply_text(struct http_response *rs, int status, const char *text)
{
	if (http_reply(rs, status, "application/json", text,
	    strlen(text)) < 0 || buf_putc(&rs->body, '\n') < 0)
		http_error(rs, 500, "internal", "answer too large");
}

static int
hook_db(struct hook *h)
{
	if (h->db != NULL)
		return 0;
	if (dbpool_acquire(h->ctl->dbpool, &h->db, &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		count(h, "error");
		return -1;
	}
	return 0;
}

/*
 * When the delivery was recorded before, answer as then and return 1;
 * else 0.  On a database failure answer it and return 1.
 */
static int
hook_replay(struct hook *h)
{
	char *text = NULL;
	int found = 0, status = 0;

	if (hook_db(h) < 0)
		return 1;
	if (store_webhook_find(h->db, h->source, h->rec.delivery_id, &found,
	    &status, &text, &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		count(h, "error");
		return 1;
	}
	if (!found)
		return 0;
	reply_text(h->rs, status, text);
	if (http_set_header(h->rs, "X-Sluice-Replayed", "true") < 0)
		log_warn("too many headers", "header=%s", "X-Sluice-Replayed");
	free(text);
	count(h, "duplicate");
	return 1;
}

/* Open the transaction and the savepoint of the work; 0 or answered. */
static int
hook_tx(struct hook *h)
{
	if (hook_db(h) < 0)
		return -1;
	if (db_begin(h->db, &h->err) < 0 ||
	    db_exec(h->db, "SAVEPOINT hook_work", NULL, NULL, &h->err) < 0) {
		db_rollback(h->db);
		http_error_from(h->rs, &h->err);
		count(h, "error");
		return -1;
	}
	return 0;
}

/*
 * The work answered rs: record the delivery with that answer and commit,
 * or, when another copy won the race, roll back and answer as a replay.
 * Answers 5xx are not recorded (the sender should retry).
 */
static void
hook_finish(struct hook *h)
{
	char *text = NULL;
	int inserted = 0, status = h->rs->status;

	if (status >= 500) {
		db_rollback(h->db);
		count(h, "error");
		return;
	}
	/* A refusal keeps nothing of the work, only the answer. */
	if (status >= 300 && db_exec(h->db, "ROLLBACK TO SAVEPOINT hook_work",
	    NULL, NULL, &h->err) < 0)
		goto fail;
	h->rec.status = status;
	h->rec.response = h->rs->body.data;
	if (store_webhook_record(h->db, &h->rec, &inserted, &text,
	    &h->err) < 0)
		goto fail;
	if (!inserted) {
		db_rollback(h->db);
		if (hook_replay(h) == 0) {
			http_error(h->rs, 500, "internal", "delivery vanished");
			count(h, "error");
		}
		return;
	}
	if (db_commit(h->db, &h->err) < 0)
		goto fail;
	reply_text(h->rs, status, text);
	free(text);
	count(h, h->result != NULL ? h->result : "accepted");
	return;
fail:
	free(text);
	db_rollback(h->db);
	http_error_from(h->rs, &h->err);
	count(h, "error");
}

static void
hook_init(struct hook *h, void *ctx, struct http_request *rq,
    struct http_response *rs, const char *source)
{
	memset(h, 0, sizeof(*h));
	h->ctl = ctx;
	h->rq = rq;
	h->rs = rs;
	h->source = source;
	h->rec.source = source;
	h->rec.actor = source;
	err_clear(&h->err);
}

static void
hook_release(struct hook *h)
{
	if (h->db != NULL)
		db_rollback(h->db);	/* no-op unless a path forgot */
	dbpool_release(h->ctl->dbpool, h->db);
	h->db = NULL;
}

/* --- GitHub ----------------------------------------------------------- */

int
webhook_form_payload(const char *body, size_t len, struct buf *out)
{
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;

		if ((size_t)(stop - p) >= 8 && memcmp(p, "payload=", 8) == 0) {
			for (p += 8; p < stop; p++) {
				char c = *p;

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int hi, lo;

					if (stop - p < 3 ||
					    (hi = hash_hex_digit(p[1])) < 0 ||
					    (lo = hash_hex_digit(p[2])) < 0)
						return -1;
					c = (char)(hi << 4 | lo);
					p += 2;
				}
				if (buf_putc(out, c) < 0)
					return -1;
			}
			return 0;
		}
		p = stop + 1;
	}
	return -1;
}

static void
github_ping(struct hook *h, const char *body, size_t len)
{
	char *zen = NULL;
	const struct jsonin_field fields[] = {
		{ .name = "zen", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &zen, .maxlen = 1024 },
		{ .name = NULL },
	};

	if (jsonin_parse(body, len, fields, JSONIN_OPEN, &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		h->result = "rejected";
		return;
	}
	(void)jsonin_reply(h->rs, 200, "{s:b, s:s?}", "ok", 1, "zen", zen);
	free(zen);
}

void
webhook_push_release(struct webhook_push *p)
{
	free(p->ref);
	p->ref = NULL;
	p->nkeys = 0;
}

int
webhook_push_parse(struct webhook_push *p, const char *body, size_t len,
    struct err *err)
{
	char *urls[WEBHOOK_PUSH_URLS] = { NULL };
	const struct jsonin_field repo_fields[] = {
		{ .name = "clone_url", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &urls[0], .maxlen = LIM_URL },
		{ .name = "ssh_url", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &urls[1], .maxlen = LIM_URL },
		{ .name = "git_url", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &urls[2], .maxlen = LIM_URL },
		{ .name = "html_url", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &urls[3], .maxlen = LIM_URL },
		{ .name = "url", .type = JSONIN_STRING,
		  .flags = JSONIN_NULLABLE, .out = &urls[4], .maxlen = LIM_URL },
		{ .name = NULL },
	};
	const struct jsonin_field fields[] = {
		{ .name = "ref", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &p->ref, .maxlen = 1024 },
		{ .name = "repository", .type = JSONIN_OBJECT,
		  .flags = JSONIN_REQUIRED | JSONIN_OPEN,
		  .fields = repo_fields },
		{ .name = NULL },
	};
	int rc;

	p->nkeys = 0;
	if ((rc = jsonin_parse(body, len, fields, JSONIN_OPEN, err)) < 0)
		goto out;
	for (int i = 0; i < WEBHOOK_PUSH_URLS; i++)
		if (urls[i] != NULL && webhook_url_key(urls[i],
		    p->keys[p->nkeys], sizeof(p->keys[p->nkeys])) == 0)
			p->nkeys++;
	if (p->nkeys == 0)
		rc = err_set(err, ERR_INVALID, "field \"repository\": no "
		    "clone_url, ssh_url, git_url or html_url");
out:
	if (rc < 0)
		webhook_push_release(p);
	for (int i = 0; i < WEBHOOK_PUSH_URLS; i++)
		free(urls[i]);
	return rc;
}

_Static_assert(WEBHOOK_PUSH_URLS <= STORE_REPO_WATCH_KEYS,
    "a push's URL keys are looked up at once");

static void
github_push(struct hook *h, const char *body, size_t len)
{
	struct webhook_push push;
	struct repo_watch *repos = NULL;
	const char *keys[WEBHOOK_PUSH_URLS];
	struct buf names;
	size_t nrepos = 0, matched = 0, refreshed = 0;
	const char *branch;
	char reason[2 * LIM_URL];

	memset(&push, 0, sizeof(push));
	buf_init(&names, LIM_HTTP_RESPONSE);
	if (webhook_push_parse(&push, body, len, &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		h->result = "rejected";
		goto out;
	}
	if (strncmp(push.ref, "refs/heads/", 11) != 0 ||
	    push.ref[11] == '\0') {
		(void)snprintf(reason, sizeof(reason), "ref '%.1024s' is not "
		    "a branch", push.ref);
		goto ignored;
	}
	branch = push.ref + 11;
	for (size_t k = 0; k < push.nkeys; k++)
		keys[k] = push.keys[k];
	if (store_repo_watching(h->db, branch, keys, push.nkeys, &repos,
	    &nrepos, &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		goto out;
	}
	for (size_t i = 0; i < nrepos; i++) {
		char key[LIM_URL + 1];
		size_t k;

		if (webhook_url_key(repos[i].url, key, sizeof(key)) < 0)
			continue;
		for (k = 0; k < push.nkeys; k++)
			if (strcmp(key, push.keys[k]) == 0)
				break;
		if (k == push.nkeys)
			continue;
		matched++;
		if (!repos[i].watches_branch)
			continue;
		if (store_repo_request_refresh_id(h->db, repos[i].id,
		    &h->err) < 0) {
			http_error_from(h->rs, &h->err);
			goto out;
		}
		if (refreshed == 0)
			h->rec.repository_id = repos[i].id;
		if ((refreshed > 0 && buf_putc(&names, ',') < 0) ||
		    jsonin_quote(&names, repos[i].name) < 0) {
			http_error(h->rs, 500, "internal", "answer too large");
			goto out;
		}
		refreshed++;
		log_info("refresh requested", "repository=%s branch=%s "
		    "delivery=%s", repos[i].name, branch, h->rec.delivery_id);
	}
	if (refreshed > 0) {
		struct buf b;

		buf_init(&b, LIM_HTTP_RESPONSE);
		if (buf_printf(&b, "{\"refreshed\":[%s]}", names.data) < 0)
			http_error(h->rs, 500, "internal", "answer too large");
		else
			reply_text(h->rs, 202, b.data);
		buf_release(&b);
		h->result = "accepted";
		goto out;
	}
	if (matched > 0)
		(void)snprintf(reason, sizeof(reason), "branch '%.255s' is "
		    "not watched by the repository with URL '%s'", branch,
		    push.keys[0]);
	else
		(void)snprintf(reason, sizeof(reason), "no repository is "
		    "configured with URL '%s'", push.keys[0]);
ignored:
	(void)jsonin_reply(h->rs, 202, "{s:s}", "ignored", reason);
	h->result = "ignored";
out:
	buf_release(&names);
	repo_watch_free(repos, nrepos);
	webhook_push_release(&push);
}

static int
valid_event(const char *e)
{
	size_t n = 0;

	if (e == NULL)
		return 0;
	for (; e[n] != '\0'; n++)
		if (n >= 64 || !((e[n] >= 'a' && e[n] <= 'z') || e[n] == '_'))
			return 0;
	return n > 0;
}

void
api_hook_github(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct hook h;
	struct buf form;
	const char *event, *ctype, *body = rq->body.data;
	size_t len = rq->body.len;

	hook_init(&h, ctx, rq, rs, "github");
	buf_init(&form, LIM_HTTP_BODY);
	if (hook_begin(&h, "X-Hub-Signature-256", "X-GitHub-Delivery") != 0)
		goto out;
	if (api_no_query(rq, rs) < 0) {
		count(&h, "rejected");
		goto out;
	}
	event = http_header(rq, "X-GitHub-Event");
	if (!valid_event(event)) {
		http_error(rs, 400, "invalid", "X-GitHub-Event header %s",
		    event == NULL ? "missing" : "malformed");
		count(&h, "rejected");
		goto out;
	}
	h.rec.event = event;
	if (hook_replay(&h) != 0)
		goto out;
	ctype = http_header(rq, "Content-Type");
	if (ctype != NULL && strncasecmp(ctype,
	    "application/x-www-form-urlencoded", 33) == 0) {
		if (webhook_form_payload(body, len, &form) < 0) {
			http_error(rs, 400, "invalid", "form body without a "
			    "valid payload field");
			count(&h, "rejected");
			goto out;
		}
		body = form.data;
		len = form.len;
	}
	if (hook_tx(&h) < 0)
		goto out;
	if (strcmp(event, "ping") == 0) {
		github_ping(&h, body, len);
	} else if (strcmp(event, "push") == 0) {
		github_push(&h, body, len);
	} else {
		char why[128];

		(void)snprintf(why, sizeof(why), "event '%s' is not handled",
		    event);
		(void)jsonin_reply(rs, 202, "{s:s}", "ignored", why);
		h.result = "ignored";
	}
	hook_finish(&h);
out:
	hook_release(&h);
	buf_release(&form);
}

/* --- retrain ---------------------------------------------------------- */

static int
valid_pipeline_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LIM_NAME || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

void
webhook_retrain_release(struct webhook_retrain *r)
{
	free(r->reason);
	r->reason = NULL;
	jsonin_map_release(&r->params);
}

int
webhook_retrain_parse(struct webhook_retrain *r, const char *body,
    size_t len, struct err *err)
{
	const struct jsonin_field fields[] = {
		{ .name = "params", .type = JSONIN_STRMAP, .out = &r->params,
		  .maxn = LIM_HOOK_PARAMS },
		{ .name = "reason", .type = JSONIN_STRING, .out = &r->reason,
		  .maxlen = LIM_HOOK_REASON },
		{ .name = NULL },
	};

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return 0;
	return jsonin_parse(body, len, fields, 0, err);
}

static void
retrain_work(struct hook *h, const char *pipeline)
{
	struct ctl *ctl = h->ctl;
	struct webhook_retrain body;
	struct retrain_request req;
	struct retrain_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	h->result = "rejected";
	if (webhook_retrain_parse(&body, h->rq->body.data, h->rq->body.len,
	    &h->err) < 0) {
		http_error_from(h->rs, &h->err);
		return;
	}
	if (!valid_pipeline_name(pipeline)) {
		http_error(h->rs, 400, "invalid", "pipeline name '%s' is not a "
		    "DNS label", pipeline);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.pipeline = pipeline;
	req.reason = body.reason != NULL ? body.reason : "";
	req.param_names = (const char *const *)body.params.keys;
	req.param_values = (const char *const *)body.params.values;
	req.nparams = body.params.n;
	req.delivery_id = h->rec.delivery_id;
	req.actor = "webhook";
	rc = ctl->retrain(ctl, h->db, &req, &res, &h->err);
	if (rc == ERR_CONFLICT) {
		/* A name two repositories use, as POST .../runs says it. */
		http_error(h->rs, 409, "ambiguous", "%s", h->err.msg);
		goto out;
	}
	if (rc < 0) {
		http_error_from(h->rs, &h->err);
		goto out;
	}
	h->rec.run_id = res.run_id;
	h->rec.pipeline_id = res.pipeline_id;
	(void)jsonin_reply(h->rs, 202, "{s:I, s:s}", "run",
	    (long long)res.run_id, "pipeline", pipeline);
	h->result = "accepted";
out:
	webhook_retrain_release(&body);
}

void
api_hook_retrain(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct hook h;

	hook_init(&h, ctx, rq, rs, "sluice");
	h.rec.event = "retrain";
	h.rec.actor = "webhook";
	if (hook_begin(&h, "X-Sluice-Signature-256", "X-Sluice-Delivery") != 0)
		goto out;
	if (api_no_query(rq, rs) < 0) {
		count(&h, "rejected");
		goto out;
	}
	if (hook_replay(&h) != 0)
		goto out;
	if (hook_tx(&h) < 0)
		goto out;
	retrain_work(&h, rq->nparams > 0 ? rq->params[0] : "");
	hook_finish(&h);
out:
	hook_release(&h);
}
