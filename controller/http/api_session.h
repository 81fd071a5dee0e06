/*
 * api_session.h - console sign-in: /api/v1/session.
 *
 *	POST   /api/v1/session  {"token": "slc_..."}  (no auth: the body is it)
 *	       → 201 {"name", "role", "csrf_token", "expires_at"} and
 *	       Set-Cookie: sluice_session=...; Path=/; HttpOnly;
 *	       SameSite=Strict; Max-Age=<session_ttl in seconds>
 *	       (plus "; Secure" when the request says it came over HTTPS
 *	       through a proxy: X-Forwarded-Proto: https; the controller
 *	       itself serves plain HTTP).  A bad token is 401 and counts as
 *	       a failed authentication (rate-limited per address).
 *	GET    /api/v1/session  → 200 {"name", "role", "via", "expires_at"}
 *	       for the caller (session or token); 401 when anonymous.
 *	DELETE /api/v1/session  → 204, ends the session (with its CSRF token,
 *	       as any cookie write) and clears the cookie.
 *
 * ctx is the struct ctl.
 */
#ifndef SLUICE_API_SESSION_H
#define SLUICE_API_SESSION_H

struct http_request;
struct http_response;

void	api_session_create(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_session_get(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_session_delete(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
