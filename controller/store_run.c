/* store_run.c - runs and stages; see store_run.h. */
#include "db.h"
#include "store_run.h"

static const char sql_create[] =
    "WITH v AS ("
    "  SELECT id, pipeline_id, commit_id, definition FROM pipeline_versions"
    "  WHERE id = $1 AND valid),"
    " r AS ("
    "  INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch,"
    "    trigger, params, parent_run_id, created_by, reason, idempotency_key)"
    "  SELECT v.pipeline_id, v.id, v.commit_id, $2, $3,"
    "    coalesce(v.definition->'spec'->'params', '{}') ||"
    "      coalesce($4::jsonb, '{}'),"
    "    nullif($5::bigint, 0), $6, $7, $8 FROM v"
    "  ON CONFLICT (idempotency_key) DO NOTHING RETURNING id),"
    " s AS ("
    "  INSERT INTO stages (run_id, name, type, position, needs)"
    "  SELECT r.id, st->>'name', st->>'type', (o - 1)::int,"
    "    ARRAY(SELECT jsonb_array_elements_text(st->'needs'))"
    "  FROM r, v, jsonb_array_elements(v.definition->'spec'->'stages')"
    "    WITH ORDINALITY AS x(st, o)),"
    " e AS ("
    "  INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
    "    to_state, reason, data)"
    "  SELECT $6, 'run', r.id, r.id, 'created', 'queued', $7,"
    "    jsonb_build_object('trigger', $3::text) FROM r)"
    " SELECT r.id, true, pg_notify('sluice_runs', r.id::text) FROM r"
    " UNION ALL"
    " SELECT id, false, NULL FROM runs WHERE idempotency_key = $8"
    "   AND NOT EXISTS (SELECT 1 FROM r)";

int
store_run_create(struct db *db, const struct run_new *rn, int64_t *run_id,
    int *created, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*run_id = 0;
	*created = 0;
	db_args_init(&a);
	db_args_int64(&a, rn->version_id);
	db_args_str(&a, rn->branch);
	db_args_str(&a, rn->trigger);
	db_args_str(&a, rn->params);
	db_args_int64(&a, rn->parent_run_id);
	db_args_str(&a, rn->created_by);
	db_args_str(&a, rn->reason);
	db_args_str(&a, rn->idempotency_key);
	if ((rc = db_exec(db, sql_create, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = err_set(err, ERR_INVALID,
		    "pipeline version %lld is not valid or does not exist",
		    (long long)rn->version_id);
	} else if ((rc = db_res_int64(res, 0, 0, run_id, err)) == 0) {
		rc = db_res_bool(res, 0, 1, created, err);
	}
	db_res_free(res);
	return rc;
}
