/*
 * api_approvals.h - GET /api/v1/approvals?status=&limit=&cursor= (viewer):
 * the approval inbox, newest first, keyset-paginated; status one of
 * pending, approved, rejected, expired (default: all).  Each approval
 * carries its rollout, the canary's steps and metrics, and the candidate
 * and production models (store_query_approvals.h).
 *
 * Deciding (POST /api/v1/approvals/{id}/approve|reject) lands with the
 * engine: see api_actions.c.pending.
 */
#ifndef SLUICE_API_APPROVALS_H
#define SLUICE_API_APPROVALS_H

struct http_request;
struct http_response;

void	api_approvals_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
/* GET /api/v1/approvals/{id}: one approval, as the list shows it. */
void	api_approvals_get(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
