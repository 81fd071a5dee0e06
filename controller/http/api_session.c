/* api_session.c - console sign-in and sign-out; see api_session.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cfg.h"
#include "base/log.h"
#include "http/api_common.h"
#include "http/api_session.h"
#include "http/auth.h"
#include "http/auth_cache.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "store/dbpool.h"
#include "store/store_session.h"
#include "store/store_token.h"

#define CLEAR_COOKIE	AUTH_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; " \
			"Max-Age=0"

static int
behind_https(const struct http_request *rq)
{
	const char *p = http_header(rq, "X-Forwarded-Proto");

	return p != NULL && strcasecmp(p, "https") == 0;
}

void
api_session_create(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct session_new sn;
	struct token_info t;
	struct db *db = NULL;
	struct err err;
	char *token = NULL, cookie[256];
	const struct jsonin_field fields[] = {
		{ .name = "token", .type = JSONIN_STRING,
		  .flags = JSONIN_REQUIRED, .out = &token,
		  .maxlen = LIM_TOKEN },
		{ .name = NULL },
	};
	int rc;

	err_clear(&err);
	memset(&sn, 0, sizeof(sn));
	if (auth_blocked(ctl, rq, rs) || api_no_query(rq, rs) < 0)
		return;
	if (jsonin_parse(rq->body.data, rq->body.len, fields, 0, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((rc = dbpool_acquire(ctl->dbpool, &db, &err)) < 0)
		goto fail;
	if ((rc = store_token_lookup(db, token, &t, &err)) == ERR_UNAUTHORIZED) {
		auth_failed(ctl, rq);
		auth_reply_unauthorized(rs, err.msg);
		goto out;
	}
	if (rc < 0 || (rc = store_session_create(db, t.id, t.name,
	    ctl->cfg->session_ttl_ms, &sn, &err)) < 0)
		goto fail;
	if (snprintf(cookie, sizeof(cookie), AUTH_COOKIE "=%s; Path=/; "
	    "HttpOnly; SameSite=Strict; Max-Age=%lld%s", sn.id,
	    (long long)(ctl->cfg->session_ttl_ms / 1000),
	    behind_https(rq) ? "; Secure" : "") >= (int)sizeof(cookie)) {
		rc = err_set(&err, ERR_GENERIC, "cookie too long");
		goto fail;
	}
	if (jsonin_reply(rs, 201, "{s:s, s:s, s:s, s:s}", "name", t.name,
	    "role", role_name(t.role), "csrf_token", sn.csrf, "expires_at",
	    sn.expires_at) < 0)
		goto out;
	if (http_set_header(rs, "Set-Cookie", cookie) < 0 ||
	    http_set_header(rs, "Cache-Control", "no-store") < 0) {
		http_error(rs, 500, "internal", "too many headers");
		goto out;
	}
	log_info("signed in", "token=%s client=%s expires_at=%s", t.name,
	    rq->client, sn.expires_at);
	goto out;
fail:
	http_error_from(rs, &err);
out:
	explicit_bzero(cookie, sizeof(cookie));
	explicit_bzero(&sn, sizeof(sn));
	dbpool_release(ctl->dbpool, db);
	if (token != NULL)
		explicit_bzero(token, strlen(token));
	free(token);
}

void
api_session_get(void *ctx, struct http_request *rq, struct http_response *rs)
{
	const struct principal *p = auth_principal(rq);

	(void)ctx;
	if (api_no_query(rq, rs) < 0)
		return;
	if (p == NULL || p->via == AUTH_ANONYMOUS) {
		auth_reply_unauthorized(rs, "not signed in");
		return;
	}
	if (jsonin_reply(rs, 200, "{s:s, s:s, s:s, s:s?}", "name", p->name,
	    "role", role_name(p->role), "via",
	    p->via == AUTH_SESSION ? "session" : "token", "expires_at",
	    p->expires_at[0] != '\0' ? p->expires_at : NULL) == 0 &&
	    http_set_header(rs, "Cache-Control", "no-store") < 0)
		http_error(rs, 500, "internal", "too many headers");
}

void
api_session_delete(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const struct principal *p = auth_principal(rq);
	struct db *db = NULL;
	struct err err;
	int ended = 0;

	err_clear(&err);
	if (api_no_query(rq, rs) < 0)
		return;
	/*
	 * With a bearer token there is no session to end (the token stays
	 * valid until revoked); clearing a cookie is still harmless.
	 */
	if (p != NULL && p->via == AUTH_SESSION) {
		if (dbpool_acquire(ctl->dbpool, &db, &err) < 0 ||
		    store_session_delete(db, http_cookie(rq, AUTH_COOKIE),
		    p->name, &ended, &err) < 0) {
			dbpool_release(ctl->dbpool, db);
			http_error_from(rs, &err);
			return;
		}
		dbpool_release(ctl->dbpool, db);
		auth_cache_clear(ctl->auth_cache);	/* at once, here */
		log_info("signed out", "token=%s client=%s", p->name,
		    rq->client);
	}
	if (http_reply(rs, 204, "", "", 0) < 0 ||
	    http_set_header(rs, "Set-Cookie", CLEAR_COOKIE) < 0)
		http_error(rs, 500, "internal", "cannot answer");
}
