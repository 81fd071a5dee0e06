/*
 * webhook.h - signed webhooks: POST /api/v1/hooks/github and
 * POST /api/v1/hooks/retrain/{pipeline}.
 *
 * Both routes are ROUTE_NO_AUTH: a hook authenticates by an HMAC-SHA256 of
 * its raw body with the shared secret (ctl->webhook_secret, from the
 * variable named by webhook_secret_env), sent as "sha256=HEX" in
 * X-Hub-Signature-256 (GitHub) or X-Sluice-Signature-256, and compared in
 * constant time.  A call goes through, in order:
 *
 *   1. rate limits per client address: 429 with Retry-After when the
 *      address used up its failed authentications or LIM_HOOK_CALLS calls
 *      per LIM_HOOK_CALL_PERIOD_S (bodies over LIM_HTTP_BODY were already
 *      refused with 413 by the HTTP layer before being read);
 *   2. 503 "webhook secret not configured" when there is no secret;
 *   3. the signature: 401 when missing, malformed or wrong (counted as a
 *      failed authentication);
 *   4. the delivery id (X-GitHub-Delivery, X-Sluice-Delivery; required,
 *      1 to LIM_DELIVERY_ID characters of [A-Za-z0-9._:-]): 400 without;
 *   5. a delivery seen before gets the answer recorded the first time
 *      (same status and body, header X-Sluice-Replayed: true) and causes
 *      nothing again;
 *   6. the work, the delivery row (webhook_deliveries) and its answer are
 *      written in one transaction; when two copies race, the loser rolls
 *      its work back and answers as a replay.  Answers 5xx are not
 *      recorded, so the sender may retry.
 *
 * A hook only records and answers; the work it causes (a poll, a run)
 * happens afterwards in the poller and the engine, so the answer comes at
 * once (GitHub gives up after 10 s).
 *
 * GitHub: "ping" → 200 {"ok": true, "zen": ...}; "push" of a branch to a
 * repository whose URL matches (see webhook_url_key) and which watches the
 * branch → refresh_requested_at set and NOTIFY sluice_refresh '<name>',
 * 202 {"refreshed": ["<name>", ...]}; a push of a tag, to an unknown
 * repository or branch → 202 {"ignored": "<reason>"}; other events →
 * 202 {"ignored": "event 'x' is not handled"}.  Bodies may be JSON or
 * GitHub's form encoding (payload=...).
 *
 * Retrain: body {"params": {NAME: "value"}, "reason": "..."} (both
 * optional, strict), → ctl->retrain (run_request_retrain) creates the
 * run at the head of the repository's first branch (202 {"run": ID,
 * "pipeline": NAME}); 404 for an unknown pipeline, 409 for a name used in
 * several repositories, 422 when the pipeline cannot run (invalid there,
 * undeclared params, spec.triggers.webhook false).
 *
 * Every outcome is counted in sluice_webhook_deliveries_total{source,
 * result} with result one of accepted, duplicate, ignored, bad_signature,
 * unauthorized, rejected, error.
 */
#ifndef SLUICE_WEBHOOK_H
#define SLUICE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/hash.h"
#include "http/jsonin.h"

struct ctl;
struct db;
struct http_request;
struct http_response;

/* What the retrain hook asks of the engine (all borrowed for the call). */
struct retrain_request {
	const char		*pipeline;	/* name from the path */
	const char		*reason;	/* "" when not given */
	const char *const	*param_names;	/* nparams of each */
	const char *const	*param_values;
	size_t			 nparams;
	const char		*delivery_id;
	const char		*actor;		/* "webhook" */
};

/* What the engine answers: the run it created (and its pipeline). */
struct retrain_result {
	int64_t	run_id;
	int64_t	pipeline_id;	/* 0 when unknown */
};

/* The handlers (http_handler_fn); ctx is the struct ctl. */
void	api_hook_github(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_hook_retrain(void *ctx, struct http_request *rq,
	    struct http_response *rs);

/*
 * Check header ("sha256=" and 64 hex digits, either case) against the
 * HMAC-SHA256 of body with secret, in constant time.  Errors:
 * ERR_UNAUTHORIZED when header is NULL or malformed, ERR_FORBIDDEN when
 * the signature does not match.
 */
int	webhook_verify(const char *secret, const void *body, size_t len,
	    const char *header, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The signature header value of body: "sha256=" and 64 lowercase hex
 * digits into out (at least WEBHOOK_SIG_LEN + 1 bytes).  Returns 0 or
 * ERR_GENERIC.
 */
#define WEBHOOK_SIG_LEN	HASH_HMAC_SIG_LEN
int	webhook_sign(const char *secret, const void *body, size_t len,
	    char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * The comparable form of a Git URL, so that the https, ssh, scp-like and
 * git forms of one repository are equal:
 *
 *	https://github.com/Owner/Repo.git        ─┐
 *	git@github.com:Owner/Repo.git             │
 *	ssh://git@github.com:22/Owner/Repo        ├→ "github.com/owner/repo"
 *	git://github.com/Owner/Repo.git           │
 *	https://user:token@github.com/Owner/Repo/─┘
 *
 * (scheme, user info, port, trailing "/" and ".git" dropped, lowercased).
 * Returns 0, or ERR_INVALID for an empty result or ERR_TOOBIG.
 */
int	webhook_url_key(const char *url, char *out, size_t outlen)
	    __attribute__((warn_unused_result));

/* Payloads, parsed without I/O (the handlers and the fuzz target) ---- */

/*
 * The "payload" field of a form-encoded body (GitHub's
 * application/x-www-form-urlencoded content type), percent- and
 * '+'-decoded into out.  Returns 0, or -1 when there is none, it is
 * malformed or it passes out's cap.
 */
int	webhook_form_payload(const char *body, size_t len, struct buf *out)
	    __attribute__((warn_unused_result));

/*
 * What a push event says: its ref (1..1024 bytes) and the webhook_url_key
 * of each usable repository URL (clone_url, ssh_url, git_url, html_url,
 * url).  Owned; webhook_push_release frees it.
 */
#define WEBHOOK_PUSH_URLS	5
struct webhook_push {
	char	*ref;
	char	 keys[WEBHOOK_PUSH_URLS][LIM_URL + 1];
	size_t	 nkeys;		/* at least 1 after a parse */
};

/*
 * Parse a push payload (JSON, unknown fields ignored).  Errors:
 * ERR_INVALID naming the field, also when no URL gives a key; then
 * nothing needs releasing.
 */
int	webhook_push_parse(struct webhook_push *p, const char *body,
	    size_t len, struct err *err) __attribute__((warn_unused_result));
void	webhook_push_release(struct webhook_push *p);

/*
 * The retrain hook's body {"params": {NAME: "value"}, "reason": "..."}
 * (strict; LIM_HOOK_PARAMS params, reason LIM_HOOK_REASON bytes); an
 * empty body is an empty request.  Owned; webhook_retrain_release.
 */
struct webhook_retrain {
	struct jsonin_map	 params;
	char			*reason;	/* NULL when not given */
};

/* Errors: ERR_INVALID as jsonin_parse; then nothing needs releasing. */
int	webhook_retrain_parse(struct webhook_retrain *r, const char *body,
	    size_t len, struct err *err) __attribute__((warn_unused_result));
void	webhook_retrain_release(struct webhook_retrain *r);

#endif
