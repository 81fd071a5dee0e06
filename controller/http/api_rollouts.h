/*
 * api_rollouts.h - approvers' actions on a run's rollout:
 *
 *	POST /api/v1/runs/{id}/rollout/promote-full   (approver) → 200 the rollout
 *	POST /api/v1/runs/{id}/rollout/abort          (approver) → 200
 *	POST /api/v1/runs/{id}/rollout/pause          (approver) → 200
 *	POST /api/v1/runs/{id}/rollout/resume         (approver) → 200
 *
 * Body: none, or {"comment": "..."} (optional, at most LIM_RUN_REASON
 * bytes).  404 for an unknown run or a run without a rollout; 409 when
 * the action does not apply to the rollout's state (the message names
 * it).  The caller (auth_actor) is the actor of the audit event; the
 * engine carries out promote-full and abort (store_rollout_act()).
 */
#ifndef SLUICE_API_ROLLOUTS_H
#define SLUICE_API_ROLLOUTS_H

struct http_request;
struct http_response;

void	api_rollout_promote_full(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_rollout_abort(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_rollout_pause(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_rollout_resume(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
