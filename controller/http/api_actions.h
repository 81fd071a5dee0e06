/*
 * api_actions.h - the writes of the REST API that drive the engine:
 *
 *	POST /api/v1/runs/{id}/cancel          (operator) → 202 the run
 *	POST /api/v1/runs/{id}/retry           (operator) → 201 the new run
 *	POST /api/v1/approvals/{id}/approve    (approver) → 200 the approval
 *	POST /api/v1/approvals/{id}/reject     (approver) → 200 the approval
 *
 * Bodies: cancel and retry take none (or {}); approve and reject take
 * {"comment": "..."} (optional, at most LIM_RUN_REASON bytes).  The
 * caller (auth_actor) is the actor of the engine's events.
 */
#ifndef SLUICE_API_ACTIONS_H
#define SLUICE_API_ACTIONS_H

struct http_request;
struct http_response;

void	api_runs_cancel(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_runs_retry(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_approvals_approve(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_approvals_reject(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
