/* store_query_approvals.c - the approval inbox; see the header. */
#include <stdint.h>
#include <stdio.h>

#include "query/store_query_approvals.h"
#include "store/db.h"

const char *const store_approval_statuses[] = { "pending", "approved",
    "rejected", "expired", NULL };

#define MODEL_JSON(cond)                                                    \
	"(SELECT json_build_object('name', m.name, 'version', m.version,"   \
	"  'uri', m.uri, 'metrics', m.metrics,"                             \
	"  'gate_metrics', run_gate_metrics(m.run_id)) FROM model_versions m" \
	"  WHERE " cond " LIMIT 1)"

#define APPROVAL_JSON                                                       \
	"json_build_object('id', a.id, 'run', a.run_id,"                    \
	" 'pipeline', (SELECT p.name FROM runs r JOIN pipelines p"          \
	"   ON p.id = r.pipeline_id WHERE r.id = a.run_id),"                \
	" 'stage', s.name, 'step', a.step, 'weight', a.weight,"             \
	" 'target', a.target, 'status', a.status,"                          \
	" 'requested_at', rfc3339(a.requested_at),"                         \
	" 'expires_at', rfc3339(a.expires_at),"                             \
	" 'decided_by', a.decided_by, 'decided_at', rfc3339(a.decided_at),"  \
	" 'comment', a.comment,"                                            \
	" 'run_status', (SELECT r.status FROM runs r WHERE r.id = a.run_id)," \
	" 'rollout', json_build_object('id', ro.id, 'status', ro.status,"   \
	"   'steps', ro.steps, 'current_step', ro.current_step,"            \
	"   'current_weight', ro.current_weight,"                           \
	"   'analysis_started_at', rfc3339(ro.analysis_started_at),"        \
	"   'message', ro.message, 'action', ro.action,"                    \
	"   'paused_by', ro.paused_by),"                                    \
	" 'canary_steps', coalesce((SELECT st->'canary'->'steps'"           \
	"   FROM runs r JOIN pipeline_versions v"                           \
	"     ON v.id = r.pipeline_version_id,"                             \
	"   jsonb_array_elements(v.definition->'spec'->'stages') st"        \
	"   WHERE r.id = a.run_id AND st->>'name' = s.name), '[]'),"        \
	" 'canary_metrics', (SELECT coalesce(json_object_agg(x.name,"       \
	"   x.value), '{}') FROM (SELECT DISTINCT ON (m.name) m.name, m.value" \
	"   FROM stage_attempts sa JOIN metrics m ON m.attempt_id = sa.id"  \
	"   WHERE sa.stage_id = a.stage_id AND sa.kind = 'canary_step'"     \
	"   ORDER BY m.name, m.reported_at DESC, m.id DESC) x),"            \
	" 'candidate', " MODEL_JSON("m.id = ro.model_version_id") ","       \
	" 'production', " MODEL_JSON("m.target = a.target"                  \
	"   AND m.status = 'production'") ")::text"

#define APPROVAL_FROM                                                       \
	" FROM approvals a JOIN stages s ON s.id = a.stage_id"              \
	" JOIN rollouts ro ON ro.id = a.rollout_id"

static const char sql_all[] =
    "SELECT a.id, " APPROVAL_JSON APPROVAL_FROM
    " WHERE a.id < $1 ORDER BY a.id DESC LIMIT $2::bigint + 1";

/* status = ANY (ARRAY[..]): see store_query_runs.c, why. */
static const char sql_status[] =
    "SELECT a.id, " APPROVAL_JSON APPROVAL_FROM
    " WHERE a.status = ANY (ARRAY[$3::text]) AND a.id < $1"
    " ORDER BY a.status, a.id DESC LIMIT $2::bigint + 1";

static const char sql_get[] =
    "SELECT " APPROVAL_JSON APPROVAL_FROM " WHERE a.id = $1";

int
store_query_approval_get(struct db *db, int64_t id, char **json,
    struct err *err)
{
	struct db_args a;
	char what[64];

	db_args_init(&a);
	db_args_int64(&a, id);
	(void)snprintf(what, sizeof(what), "approval %lld not found",
	    (long long)id);
	return store_query_json(db, sql_get, &a, what, json, err);
}

const char *
store_query_approvals_sql(const char *status)
{
	return status != NULL ? sql_status : sql_all;
}

int
store_query_approvals_list(struct db *db, const char *status,
    const struct page_in *pg, struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, pg->limit);
	if (status != NULL)
		db_args_str(&a, status);
	return store_query_page(db, store_query_approvals_sql(status), &a,
	    "approvals", pg->limit, "a1", out, NULL, err);
}
