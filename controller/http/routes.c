/*
 * routes.c - the route table of the HTTP edge (docs/style.md): method, path,
 * handler, minimum role, flags.  docs/api.yaml describes the same set; a
 * test (tests/integration/test_api_doc.c) compares the two.
 *
 * ROUTE_NO_AUTH routes check their own credentials (sign-in reads a token
 * from the body, hooks verify an HMAC) or need none (health, metrics).
 */
#include <stddef.h>

#include "base/role.h"
#include "http/api_actions.h"
#include "http/api_approvals.h"
#include "http/api_notifications.h"
#include "http/api_events.h"
#include "http/api_health.h"
#include "http/api_lineage.h"
#include "http/api_metrics.h"
#include "http/api_models.h"
#include "http/api_pipelines.h"
#include "http/api_repos.h"
#include "http/api_rollouts.h"
#include "http/api_runs.h"
#include "http/api_session.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/routes.h"
#include "http/webhook.h"

const struct route ctl_routes[] = {
	{ "GET", "/healthz", api_healthz, 0, ROUTE_NO_AUTH,
	    "the process is alive" },
	{ "GET", "/readyz", api_readyz, 0, ROUTE_NO_AUTH,
	    "database, migrations and executor are ready" },
	{ "GET", "/metrics", api_metrics, 0, ROUTE_NO_AUTH,
	    "metrics in the Prometheus text format" },
	{ "POST", "/api/v1/session", api_session_create, 0, ROUTE_NO_AUTH,
	    "sign in with a token: session cookie and CSRF token" },
	{ "GET", "/api/v1/session", api_session_get, ROLE_VIEWER, 0,
	    "who am I" },
	{ "DELETE", "/api/v1/session", api_session_delete, ROLE_VIEWER, 0,
	    "sign out" },
	{ "POST", "/api/v1/hooks/github", api_hook_github, 0,
	    ROUTE_NO_AUTH | ROUTE_RAW_BODY,
	    "GitHub webhook: push refreshes the matching repository" },
	{ "POST", "/api/v1/hooks/retrain/{pipeline}", api_hook_retrain, 0,
	    ROUTE_NO_AUTH | ROUTE_RAW_BODY,
	    "signed retraining trigger" },
	{ "GET", "/api/v1/repositories", api_repos_list, ROLE_VIEWER, 0,
	    "watched repositories with their poll state" },
	{ "POST", "/api/v1/repositories", api_repos_add, ROLE_ADMIN, 0,
	    "add a repository" },
	{ "GET", "/api/v1/repositories/{name}", api_repos_get, ROLE_VIEWER, 0,
	    "one repository" },
	{ "DELETE", "/api/v1/repositories/{name}", api_repos_delete,
	    ROLE_ADMIN, 0, "remove a repository added through the API" },
	{ "POST", "/api/v1/repositories/{name}/refresh", api_repos_refresh,
	    ROLE_OPERATOR, 0, "poll a repository now" },
	{ "GET", "/api/v1/pipelines", api_pipelines_list, ROLE_VIEWER, 0,
	    "pipelines and their latest versions" },
	{ "GET", "/api/v1/pipelines/{name}", api_pipelines_get, ROLE_VIEWER,
	    0, "a pipeline: definition, latest commit, errors" },
	{ "POST", "/api/v1/pipelines/{name}/runs", api_pipelines_run,
	    ROLE_OPERATOR, 0, "start a run" },
	{ "GET", "/api/v1/runs", api_runs_list, ROLE_VIEWER, 0,
	    "runs, newest first" },
	{ "GET", "/api/v1/runs/{id}", api_runs_get, ROLE_VIEWER, 0,
	    "a run with its stages, attempts, metrics and approvals" },
	{ "GET", "/api/v1/runs/{id}/lineage", api_runs_lineage, ROLE_VIEWER,
	    0, "the lineage graph of a run" },
	{ "GET", "/api/v1/runs/{id}/stages/{stage}/logs", api_runs_logs,
	    ROLE_VIEWER, ROUTE_STREAM, "the log of a stage attempt" },
	{ "GET", "/api/v1/models", api_models_list, ROLE_VIEWER, 0,
	    "registered models and what is in production" },
	{ "GET", "/api/v1/models/{name}/versions", api_models_versions,
	    ROLE_VIEWER, 0, "the versions of a model" },
	{ "POST", "/api/v1/models/{name}/versions/{v}/promote",
	    api_models_promote, ROLE_APPROVER, 0,
	    "put a model version in production on a target by hand" },
	{ "POST", "/api/v1/models/{name}/rollback", api_models_rollback,
	    ROLE_APPROVER, 0,
	    "roll a target back to the previous production version" },
	{ "GET", "/api/v1/targets/{target}/history", api_targets_history,
	    ROLE_VIEWER, 0, "what was in production on a target, and when" },
	{ "GET", "/api/v1/notifications/deliveries",
	    api_notifications_deliveries, ROLE_ADMIN, 0,
	    "notification and commit status deliveries, newest first" },
	{ "GET", "/api/v1/approvals", api_approvals_list, ROLE_VIEWER, 0,
	    "approvals, newest first" },
	{ "GET", "/api/v1/approvals/{id}", api_approvals_get, ROLE_VIEWER, 0,
	    "one approval" },
	{ "GET", "/api/v1/events", api_events, ROLE_VIEWER, ROUTE_STREAM,
	    "Server-Sent Events of run, stage and approval changes" },
	{ "POST", "/api/v1/runs/{id}/cancel", api_runs_cancel,
	    ROLE_OPERATOR, 0, "cancel a run" },
	{ "POST", "/api/v1/runs/{id}/retry", api_runs_retry,
	    ROLE_OPERATOR, 0, "retry a run" },
	{ "POST", "/api/v1/approvals/{id}/approve", api_approvals_approve,
	    ROLE_APPROVER, 0, "approve a promotion step" },
	{ "POST", "/api/v1/approvals/{id}/reject", api_approvals_reject,
	    ROLE_APPROVER, 0, "reject a promotion step" },
	{ "POST", "/api/v1/runs/{id}/rollout/promote-full",
	    api_rollout_promote_full, ROLE_APPROVER, 0,
	    "promote a rollout to 100 % now" },
	{ "POST", "/api/v1/runs/{id}/rollout/abort", api_rollout_abort,
	    ROLE_APPROVER, 0, "roll a rollout back now" },
	{ "POST", "/api/v1/runs/{id}/rollout/pause", api_rollout_pause,
	    ROLE_APPROVER, 0, "pause a rollout" },
	{ "POST", "/api/v1/runs/{id}/rollout/resume", api_rollout_resume,
	    ROLE_APPROVER, 0, "resume a paused rollout" },
	{ "GET", "/api/v1/lineage", api_lineage_commit, ROLE_VIEWER, 0,
	    "everything that came from a commit" },
	{ "GET", "/api/v1/audit", api_audit, ROLE_ADMIN, ROUTE_STREAM,
	    "decisions and administrative changes, as JSON pages or CSV" },
	{ NULL, NULL, NULL, 0, 0, NULL },
};
