/* api_health.c - liveness and readiness; see api_health.h. */
#include <string.h>

#include "base/err.h"
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
	const char *what = NULL, *why = ctl->not_ready_reason;

	(void)rq;
	/* The database's own words stay in the log (they name its socket). */
	if (!ctl->db_ready) {
		what = "database unavailable";
		why = "";
	} else if (!ctl->migrations_ready) {
		what = "migrations pending";
	} else if (!ctl->executor_ready) {
		what = "executor not ready";
	}
	if (what != NULL) {
		why = http_client_message(ERR_TRANSIENT, why);
		http_error(rs, 503, "not_ready", "%s%s%s", what,
		    why[0] ? ": " : "", why);
		return;
	}
	if (http_reply(rs, 200, "text/plain; charset=utf-8", "ready\n", 6) < 0)
		http_error(rs, 500, "internal", "cannot answer");
}
