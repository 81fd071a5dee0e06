/* auth.c - the guard of the HTTP edge; see auth.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/ratelimit.h"
#include "base/sys.h"
#include "http/auth.h"
#include "http/auth_cache.h"
#include "http/ctl.h"
#include "http/http.h"
#include "store/dbpool.h"
#include "store/store_session.h"
#include "store/store_token.h"

static int
is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

void
auth_reply_rate_limited(struct http_response *rs, int retry_s,
    const char *what)
{
	char v[16];

	http_error(rs, 429, "rate_limited", "%s: try again in %d s", what,
	    retry_s);
	(void)snprintf(v, sizeof(v), "%d", retry_s);
	if (http_set_header(rs, "Retry-After", v) < 0)
		log_warn("too many headers", "header=%s", "Retry-After");
}

void
auth_reply_unauthorized(struct http_response *rs, const char *msg)
{
	http_error(rs, 401, "unauthorized", "%s", msg);
	if (http_set_header(rs, "WWW-Authenticate", "Bearer realm=\"sluice\"")
	    < 0)
		log_warn("too many headers", "header=%s", "WWW-Authenticate");
}

int
auth_blocked(struct ctl *ctl, const struct http_request *rq,
    struct http_response *rs)
{
	int wait;

	if (ctl->auth_failures == NULL)
		return 0;
	wait = ratelimit_blocked(ctl->auth_failures, rq->client,
	    sys_now_ms());
	if (wait == 0)
		return 0;
	auth_reply_rate_limited(rs, wait, "too many failed authentications "
	    "from this address");
	return 1;
}

void
auth_failed(struct ctl *ctl, const struct http_request *rq)
{
	log_info("authentication failed", "client=%s path=%s", rq->client,
	    rq->path);
	if (ctl->auth_failures != NULL)
		(void)ratelimit_take(ctl->auth_failures, rq->client,
		    sys_now_ms());
}

const struct principal *
auth_principal(const struct http_request *rq)
{
	return rq->user;
}

const char *
auth_actor(const struct http_request *rq)
{
	const struct principal *p = rq->user;

	return p != NULL && p->name[0] != '\0' ? p->name : "anonymous";
}

/* The token of "Bearer TOKEN" (scheme case-insensitive), or NULL. */
static const char *
bearer_token(const char *authz)
{
	if (strncasecmp(authz, "Bearer ", 7) != 0)
		return NULL;
	authz += 7;
	while (*authz == ' ')
		authz++;
	return *authz != '\0' ? authz : NULL;
}

/*
 * Fill p from the Authorization header.  Returns 0, or answers rs and
 * returns 1.
 */
static int
from_token(struct ctl *ctl, struct http_request *rq, struct http_response *rs,
    const char *authz, struct principal *p)
{
	struct token_info t;
	struct db *db = NULL;
	const char *token = bearer_token(authz);
	struct err err;
	uint64_t gen;
	int rc;

	err_clear(&err);
	if (token == NULL) {
		auth_failed(ctl, rq);
		auth_reply_unauthorized(rs, "the Authorization header must be "
		    "'Bearer TOKEN'");
		return 1;
	}
	if (auth_cache_token(ctl->auth_cache, token, &t, &gen)) {
		rc = 0;
	} else {
		if ((rc = dbpool_acquire(ctl->dbpool, &db, &err)) == 0)
			rc = store_token_lookup(db, token, &t, &err);
		dbpool_release(ctl->dbpool, db);
		if (rc == 0)
			auth_cache_put_token(ctl->auth_cache, gen, token, &t);
	}
	if (rc == ERR_UNAUTHORIZED) {
		auth_failed(ctl, rq);
		auth_reply_unauthorized(rs, err.msg);
		return 1;
	}
	if (rc < 0) {
		http_error_from(rs, &err);
		return 1;
	}
	p->via = AUTH_TOKEN;
	p->role = t.role;
	p->token_id = t.id;
	(void)str_copy(p->name, sizeof(p->name), t.name);
	return 0;
}

/* Fill p from the session cookie; 0, or answered and 1. */
static int
from_session(struct ctl *ctl, struct http_request *rq,
    struct http_response *rs, const char *cookie, struct principal *p)
{
	struct session_info s;
	struct db *db = NULL;
	struct err err;
	uint64_t gen;
	int rc;

	err_clear(&err);
	if (auth_cache_session(ctl->auth_cache, cookie, &s, &gen)) {
		rc = 0;
	} else {
		if ((rc = dbpool_acquire(ctl->dbpool, &db, &err)) == 0)
			rc = store_session_lookup(db, cookie, &s, &err);
		dbpool_release(ctl->dbpool, db);
		if (rc == 0)
			auth_cache_put_session(ctl->auth_cache, gen, cookie,
			    &s);
	}
	if (rc == ERR_UNAUTHORIZED) {
		auth_failed(ctl, rq);
		auth_reply_unauthorized(rs, "session expired or signed out: "
		    "sign in again");
		/* The browser may as well forget it. */
		if (http_set_header(rs, "Set-Cookie", AUTH_COOKIE "=; Path=/; "
		    "HttpOnly; SameSite=Strict; Max-Age=0") < 0)
			log_warn("too many headers", "header=%s",
			    "Set-Cookie");
		return 1;
	}
	if (rc < 0) {
		http_error_from(rs, &err);
		return 1;
	}
	if (!is_read(rq->method) && store_session_check_csrf(&s,
	    http_header(rq, "X-CSRF-Token"), &err) < 0) {
		log_info("csrf check failed", "client=%s path=%s token=%s",
		    rq->client, rq->path, s.name);
		http_error(rs, 403, "csrf", "%s", err.msg);
		return 1;
	}
	p->via = AUTH_SESSION;
	p->role = s.role;
	p->token_id = s.token_id;
	(void)str_copy(p->name, sizeof(p->name), s.name);
	(void)str_copy(p->expires_at, sizeof(p->expires_at), s.expires_at);
	return 0;
}

int
auth_guard(void *ctx, const struct route *r, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct principal *p = NULL;
	enum role need = r->role > ROLE_NONE ? (enum role)r->role :
	    ROLE_VIEWER;
	const char *authz, *cookie;
	int stop = 1;

	if (r->flags & ROUTE_NO_AUTH)
		return 0;
	if (auth_blocked(ctl, rq, rs))
		return 1;
	p = xcalloc(1, sizeof(*p));
	authz = http_header(rq, "Authorization");
	cookie = http_cookie(rq, AUTH_COOKIE);
	if (authz != NULL) {
		if (from_token(ctl, rq, rs, authz, p) != 0)
			goto out;
	} else if (cookie != NULL && cookie[0] != '\0') {
		if (from_session(ctl, rq, rs, cookie, p) != 0)
			goto out;
	} else if (ctl->cfg->anonymous_read && is_read(rq->method) &&
	    need <= ROLE_VIEWER) {
		p->via = AUTH_ANONYMOUS;
		p->role = ROLE_VIEWER;
		(void)str_copy(p->name, sizeof(p->name), "anonymous");
	} else {
		auth_reply_unauthorized(rs, "authentication required: send "
		    "'Authorization: Bearer TOKEN' or sign in");
		goto out;
	}
	if (p->role < need) {
		http_error(rs, 403, "forbidden", "this needs the %s role; "
		    "token '%s' has %s", role_name(need), p->name,
		    role_name(p->role));
		goto out;
	}
	rq->user = p;
	rq->user_free = free;
	p = NULL;
	stop = 0;
out:
	free(p);
	return stop;
}
