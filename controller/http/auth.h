/*
 * auth.h - who is calling, and may they: the guard of the HTTP edge.
 *
 * auth_guard() runs before every handler (http_guard_fn, ctx is the
 * struct ctl).  Routes flagged ROUTE_NO_AUTH pass untouched (health,
 * metrics, sign-in, webhooks, which check their own credentials).  For
 * every other route the principal comes from, in order:
 *
 *   1. "Authorization: Bearer TOKEN": an API token (store_token.h).  A
 *      bad or unknown token is 401 even when a cookie is present too.
 *   2. The session cookie (AUTH_COOKIE): a console session
 *      (store_session.h).  Writes (any method but GET and HEAD) also need
 *      "X-CSRF-Token" matching the session's CSRF token, else 403 "csrf".
 *      Bearer requests need no CSRF token: a browser never adds that
 *      header by itself.
 *   3. Nothing: anonymous, a viewer when cfg anonymous_read is on and the
 *      request is a GET or HEAD of a viewer route; otherwise 401.
 *
 * Then the route's role is compared: a principal below it gets 403
 * "forbidden" naming the role needed (anonymous callers get 401, since
 * signing in may help).  Errors follow docs/api.yaml:
 *
 *	401 {"error":{"code":"unauthorized","message":"..."}}
 *	    with WWW-Authenticate: Bearer realm="sluice"
 *	403 {"error":{"code":"forbidden","message":"this needs the operator
 *	    role; token 'ci' has viewer"}}
 *	403 {"error":{"code":"csrf","message":"..."}}
 *	429 {"error":{"code":"rate_limited","message":"..."}} with Retry-After
 *	503 {"error":{"code":"unavailable","message":"database busy ..."}}
 *
 * Failed authentications (a bad token or session) are counted per client
 * address (ctl->auth_failures): past LIM_AUTH_FAILURES within
 * LIM_AUTH_FAILURE_PERIOD_S seconds, every request of that address that
 * needs authentication gets 429 until the bucket refills.  The address is
 * the TCP peer; X-Forwarded-For is not trusted.
 *
 * The principal is attached to the request for the handler
 * (auth_principal) and names the actor of audit events (auth_actor).
 */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdint.h>

#include "base/caps.h"
#include "base/role.h"

struct http_request;
struct http_response;
struct route;
struct ctl;

#define AUTH_COOKIE	"sluice_session"

enum auth_via { AUTH_ANONYMOUS = 0, AUTH_TOKEN, AUTH_SESSION };

struct principal {
	enum auth_via	via;
	enum role	role;
	int64_t		token_id;		/* 0 when anonymous */
	char		name[LIM_NAME + 1];	/* token name, "anonymous" */
	char		expires_at[32];		/* of the session, else "" */
};

/* The guard (http_guard_fn); ctx is the struct ctl. */
int	auth_guard(void *ctx, const struct route *r, struct http_request *rq,
	    struct http_response *rs);

/*
 * The principal the guard attached to rq, borrowed for the request; NULL
 * on ROUTE_NO_AUTH routes.
 */
const struct principal *auth_principal(const struct http_request *rq);

/* The actor for audit events: the token's name, else "anonymous". */
const char *auth_actor(const struct http_request *rq);

/*
 * Rate limits for handlers that authenticate by themselves (sign-in,
 * webhooks).  auth_blocked() answers 429 and returns 1 when rq's address
 * has used up its failed authentications, else returns 0.
 * auth_failed() counts one failed authentication of rq's address.
 */
int	auth_blocked(struct ctl *ctl, const struct http_request *rq,
	    struct http_response *rs);
void	auth_failed(struct ctl *ctl, const struct http_request *rq);

/* Answer 429 rate_limited with Retry-After: retry_s and message what. */
void	auth_reply_rate_limited(struct http_response *rs, int retry_s,
	    const char *what);

/* Answer 401 with WWW-Authenticate: Bearer and the message. */
void	auth_reply_unauthorized(struct http_response *rs, const char *msg);

#endif
