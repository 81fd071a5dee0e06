/* api_health.c - liveness and readiness; see api_health.h. */
#include <string.h>

#include "base/log.h"
#include "http/api_health.h"
#include "http/ctl.h"
#include "http/http.h"

void
api_healthz(void *ctx, struct http_request *rq, struct http_response *rs)
{
	(void)ctx;
	(void)rq;
	if (http_reply(rs, 200, "text/plain; charset=utf-8", "ok\n", 3) < 0)
		http_error(rs, 500, "internal", "cannot answer");
}

void
api_readyz(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *what = NULL;

	(void)rq;
	if (!ctl->db_ready)
		what = "database unreachable";
	else if (!ctl->migrations_ready)
		what = "migrations pending";
	else if (!ctl->executor_ready)
		what = "executor not ready";
	if (what != NULL) {
		http_error(rs, 503, "not_ready", "%s%s%s", what,
		    ctl->not_ready_reason[0] ? ": " : "",
		    ctl->not_ready_reason);
		return;
	}
	if (http_reply(rs, 200, "text/plain; charset=utf-8", "ready\n", 6) < 0)
		http_error(rs, 500, "internal", "cannot answer");
}
