/* store_traffic.c - a rollout's traffic state; see store_traffic.h. */
#include <stdlib.h>

#include "base/buf.h"
#include "base/caps.h"
#include "store/db.h"
#include "store/store_traffic.h"

static const char sql_get[] =
    "SELECT ro.traffic_stable_uri, mv.uri FROM rollouts ro"
    " LEFT JOIN model_versions mv ON mv.id = ro.model_version_id"
    " WHERE ro.id = $1";

static const char sql_keep[] =
    "UPDATE rollouts SET traffic_stable_uri = $2, updated_at = now()"
    " WHERE id = $1 AND traffic_stable_uri IS NULL";

int
store_traffic_get(struct db *db, int64_t rollout_id, char **stable,
    char **candidate, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*stable = *candidate = NULL;
	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	if ((rc = db_exec(db, sql_get, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_NOTFOUND, "rollout %lld not found",
		    (long long)rollout_id);
	} else {
		if (!db_res_is_null(res, 0, 0))
			*stable = xstrdup(db_res_text(res, 0, 0));
		if (!db_res_is_null(res, 0, 1))
			*candidate = xstrdup(db_res_text(res, 0, 1));
	}
	db_res_free(res);
	return rc;
}

int
store_traffic_keep_stable(struct db *db, int64_t rollout_id, const char *uri,
    struct err *err)
{
	struct db_args a;
	int64_t changed;

	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_str(&a, uri);
	return db_exec_changed(db, sql_keep, &a, &changed, err);
}

/* --- traffic that follows a production change made by hand ------------- */

/*
 * The history row just written for version $2 on target $1 (the caller
 * holds the target's lock), and the canary stage that says how its
 * traffic moves: in the newest valid definition of each live pipeline,
 * a canary stage naming the target, the pipeline of the target's last
 * rollout first, then the newest definition.
 */
static const char sql_follow_record[] =
    "WITH h AS ("
    "  SELECT h.id, m.uri FROM production_history h"
    "  JOIN model_versions m ON m.id = h.model_version_id"
    "  WHERE h.target = $1 AND h.model_version_id = $2"
    "  ORDER BY h.id DESC LIMIT 1),"
    " last_ro AS ("
    "  SELECT r.pipeline_id FROM rollouts ro JOIN runs r ON r.id = ro.run_id"
    "  WHERE ro.target = $1 ORDER BY ro.id DESC LIMIT 1),"
    " st AS ("
    "  SELECT v.id, s->>'name' AS stage, s->'canary'->'traffic' AS t"
    "  FROM pipelines p"
    "  CROSS JOIN LATERAL (SELECT id, definition FROM pipeline_versions"
    "    WHERE pipeline_id = p.id AND valid ORDER BY id DESC LIMIT 1) v"
    "  CROSS JOIN LATERAL jsonb_array_elements(coalesce("
    "    v.definition->'spec'->'stages', '[]')) s"
    "  WHERE p.deleted_at IS NULL AND s->'canary'->>'target' = $1"
    "  ORDER BY p.id = (SELECT pipeline_id FROM last_ro) DESC NULLS LAST,"
    "    v.id DESC LIMIT 1),"
    " ins AS ("
    "  INSERT INTO production_traffic (history_id, target, provider,"
    "    pipeline_version_id, stage, object, uri)"
    "  SELECT h.id, $1, st.t->>'provider', st.id, st.stage,"
    "    coalesce(st.t->>'inference_service', st.t->'gateway'->>'route'),"
    "    h.uri"
    "  FROM h, st WHERE st.t->>'provider' IN ('kserve', 'gateway')"
    "  RETURNING history_id)"
    " SELECT count(pg_notify('sluice_runs', '" STORE_TRAFFIC_NOTIFY "'))"
    " FROM ins";

/*
 * Open rows overtaken: a later history row of the target (whoever made
 * it moved the traffic), or a rollout holding the target (it moves it).
 */
static const char sql_follow_supersede[] =
    "WITH s AS ("
    "  SELECT t.history_id,"
    "    (SELECT l.run_id FROM target_leases l WHERE l.target = t.target)"
    "      AS lease,"
    "    EXISTS (SELECT 1 FROM production_history h"
    "      WHERE h.target = t.target AND h.id > t.history_id) AS later"
    "  FROM production_traffic t WHERE t.state IN ('pending', 'failed'))"
    " UPDATE production_traffic t SET state = 'superseded',"
    "  finished_at = now(), updated_at = now(),"
    "  message = CASE WHEN s.later THEN 'superseded by a later production"
    " change of target ' || t.target ELSE 'superseded: target ' ||"
    "  t.target || ' is being rolled out by run ' || s.lease END"
    " FROM s WHERE t.history_id = s.history_id"
    "  AND (s.later OR s.lease IS NOT NULL)";

static const char sql_follow_open[] =
    "SELECT history_id, target, provider, pipeline_version_id, stage, uri,"
    "  next_at <= now(),"
    "  greatest(0, ceil(extract(epoch FROM next_at - now()) * 1000))::bigint"
    " FROM production_traffic WHERE state IN ('pending', 'failed')"
    " ORDER BY history_id LIMIT $1";

static const char sql_follow_set[] =
    "UPDATE production_traffic SET state = $2, message = $3,"
    "  tries = tries + 1, updated_at = now(),"
    "  next_at = now() + $4::bigint * interval '1 millisecond',"
    "  finished_at = CASE WHEN $2 = 'done' THEN now() END"
    " WHERE history_id = $1 AND state IN ('pending', 'failed')";

int
store_traffic_follow_record(struct db *db, const char *target,
    int64_t model_version_id, int *recorded, struct err *err)
{
	struct db_args a;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_str(&a, target);
	db_args_int64(&a, model_version_id);
	rc = db_exec_int64(db, sql_follow_record, &a, &n, err);
	if (recorded != NULL)
		*recorded = rc == 0 && n > 0;
	return rc;
}

void
store_traffic_follow_free(struct traffic_follow *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].target);
		free(rows[i].provider);
		free(rows[i].stage);
		free(rows[i].uri);
	}
	free(rows);
}

int
store_traffic_follow_open(struct db *db, struct traffic_follow **out,
    size_t *n, int64_t *superseded, struct err *err)
{
	struct traffic_follow *rows = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	int64_t gone = 0;
	size_t rn = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (superseded != NULL)
		*superseded = 0;
	db_args_init(&a);
	if ((rc = db_exec_changed(db, sql_follow_supersede, &a, &gone,
	    err)) < 0)
		goto out;
	if (superseded != NULL)
		*superseded = gone;
	db_args_init(&a);
	db_args_int64(&a, LIM_TRAFFIC_FOLLOW);
	if ((rc = db_exec(db, sql_follow_open, &a, &res, err)) < 0)
		goto out;
	rn = db_res_rows(res);
	rows = rn > 0 ? xcalloc(rn, sizeof(*rows)) : NULL;
	for (size_t i = 0; i < rn; i++) {
		struct traffic_follow *t = &rows[i];

		if ((rc = db_res_int64(res, i, 0, &t->history_id, err)) < 0 ||
		    (rc = db_res_int64(res, i, 3, &t->pipeline_version_id,
		    err)) < 0 ||
		    (rc = db_res_bool(res, i, 6, &t->due, err)) < 0 ||
		    (rc = db_res_int64(res, i, 7, &t->wait_ms, err)) < 0)
			goto out;
		t->target = xstrdup(db_res_text(res, i, 1));
		t->provider = xstrdup(db_res_text(res, i, 2));
		t->stage = xstrdup(db_res_text(res, i, 4));
		t->uri = xstrdup(db_res_text(res, i, 5));
	}
	*out = rows;
	*n = rn;
	rows = NULL;
out:
	store_traffic_follow_free(rows, rn);
	db_res_free(res);
	return rc;
}

int
store_traffic_follow_set(struct db *db, int64_t history_id,
    enum traffic_follow_state state, const char *message, int64_t retry_ms,
    struct err *err)
{
	static const char *const names[] = { "pending", "done", "failed" };
	struct db_args a;
	int64_t changed;

	db_args_init(&a);
	db_args_int64(&a, history_id);
	db_args_str(&a, names[state]);
	db_args_str(&a, message != NULL && message[0] != '\0' ? message :
	    NULL);
	db_args_int64(&a, retry_ms > 0 ? retry_ms : 0);
	return db_exec_changed(db, sql_follow_set, &a, &changed, err);
}
