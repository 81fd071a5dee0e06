/*
 * api_runs.h - /api/v1/runs: the run history, one run, its lineage and
 * the logs of its stages.  All viewer.
 *
 *	GET /api/v1/runs?pipeline=&status=&limit=&cursor=
 *		newest first, keyset-paginated ({"runs", "next_cursor"});
 *		status one of queued, running, waiting_approval, succeeded,
 *		failed, canceled; limit 1..200 (50)
 *	GET /api/v1/runs/{id}
 *		the run with stages, attempts, metrics, artifacts, approvals,
 *		model versions, rollouts (store_query_runs.h), one statement
 *	GET /api/v1/runs/{id}/lineage
 *		{"run", "nodes", "edges"} from the commit to the rollouts
 *	GET /api/v1/runs/{id}/stages/{stage}/logs?attempt=&step=&follow=
 *		text/plain: the output of the stage's latest attempt (or of
 *		attempt N, canary step S).  With follow=1 the answer stays
 *		open and carries new output until the attempt finishes (or,
 *		while the stage has no attempt yet, until one starts and
 *		finishes, or the stage ends), at most LIM_STAGE_LOG bytes and
 *		LIM_LOG_FOLLOW_S seconds.  Headers X-Sluice-Attempt and
 *		X-Sluice-Job name what is shown.  404 for an unknown run,
 *		stage or attempt.
 *
 * The log comes from ctl->executor (ops->logs) when the engine has set
 * one, else from the attempt's recorded log_path, else, for attempts of
 * the local executor, from state_dir/attempts/<job>/log (see
 * docs/executors.md).  The follower checks the attempt's state in the
 * database once a second, borrowing a pooled connection only for that
 * moment.
 */
#ifndef SLUICE_API_RUNS_H
#define SLUICE_API_RUNS_H

struct http_request;
struct http_response;

void	api_runs_list(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_runs_get(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_runs_lineage(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_runs_logs(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
