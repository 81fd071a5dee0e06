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
 * The log comes from PostgreSQL, where the engine keeps it
 * (store/store_log.h; ?node=N picks a node of a multi-node stage, 404
 * past its nodes), so it is there after the Job is gone, after a restart
 * and on every replica.  An attempt with no kept log yet is read from its
 * recorded log_path, else, for the local executor, from
 * state_dir/attempts/<job>/log (log.<N> for node N; see
 * docs/executors.md).  Each read, and the follower's check of the
 * attempt once a second, borrows a pooled connection for that moment.
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
