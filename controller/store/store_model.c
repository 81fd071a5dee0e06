/* store_model.c - model versions; see store_model.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pipeline/gates.h"
#include "store/db.h"
#include "store/status.h"
#include "store/store_model.h"
#include "store/store_sql.h"

static const char sql_register[] =
    "WITH art AS ("
    "  SELECT id, uri, coalesce(model_name, $5) AS name FROM artifacts"
    "  WHERE attempt_id = $1 AND name = 'model'),"
    " mv AS ("
    "  INSERT INTO model_versions (name, version, uri, artifact_id, run_id,"
    "    stage_id, attempt_id, metrics)"
    "  SELECT art.name, coalesce((SELECT max(version) FROM model_versions"
    "    WHERE name = art.name), 0) + 1, art.uri, art.id, $2, $3, $1,"
    "    coalesce((SELECT jsonb_object_agg(n, v) FROM (SELECT DISTINCT ON"
    "      (name) name AS n, value AS v FROM metrics WHERE attempt_id = $1"
    "      ORDER BY name, source_line DESC) x), '{}')"
    "  FROM art ON CONFLICT DO NOTHING RETURNING id, name, version, status),"
    " e AS (" SQL_EV_COLS
    "  SELECT $4, 'model_version', id, $2, 'created', NULL, status,"
    "    NULL, jsonb_build_object('name', name, 'version', version)"
    "  FROM mv)"
    " SELECT id FROM mv"
    " UNION ALL"
    " SELECT m.id FROM model_versions m JOIN art ON m.artifact_id = art.id"
    "  WHERE NOT EXISTS (SELECT 1 FROM mv)";

static const char sql_production[] =
    "SELECT id, uri FROM model_versions"
    " WHERE target = $1 AND status = $2";

static const char sql_baseline[] =
    "WITH prod AS ("
    "  SELECT run_id, name, version FROM model_versions"
    "  WHERE $1::text IS NOT NULL AND target = $1 AND status = $6),"
    " last AS ("
    "  SELECT id AS run_id FROM runs WHERE pipeline_id = $2"
    "    AND status = $7 AND id <> $3 ORDER BY id DESC LIMIT 1),"
    " base AS ("
    "  SELECT run_id, 'production model ' || name || ' v' || version ||"
    "    ' (run ' || run_id || ')' AS src FROM prod"
    "  UNION ALL"
    "  SELECT run_id, 'the last successful run ' || run_id FROM last"
    "  WHERE NOT EXISTS (SELECT 1 FROM prod))"
    " SELECT b.src, (SELECT m.value FROM stages s"
    "   JOIN stage_attempts a ON a.stage_id = coalesce("
    "     s.reused_from_stage_id, s.id) AND a.status = $8"
    "     AND a.kind = $9"
    "   JOIN metrics m ON m.attempt_id = a.id AND m.name = $5"
    "   WHERE s.run_id = b.run_id"
    "   ORDER BY (s.name = $4) DESC, s.position DESC, m.source_line DESC"
    "   LIMIT 1)"
    " FROM base b LIMIT 1";

int
store_model_register(struct db *db, int64_t attempt_id, int64_t run_id,
    int64_t stage_id, const char *default_name, const char *actor,
    int64_t *model_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*model_id = 0;
	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, actor);
	db_args_str(&a, default_name);
	if ((rc = db_exec(db, sql_register, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) > 0)
		rc = db_res_int64(res, 0, 0, model_id, err);
	db_res_free(res);
	return rc;
}

int
store_model_production(struct db *db, const char *target, int64_t *id,
    char **uri, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*id = 0;
	*uri = NULL;
	db_args_init(&a);
	db_args_str(&a, target);
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	if ((rc = db_exec(db, sql_production, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) > 0 &&
	    (rc = db_res_int64(res, 0, 0, id, err)) == 0)
		*uri = xstrdup(db_res_text(res, 0, 1));
	db_res_free(res);
	return rc;
}

int
store_model_baseline(struct db *db, const char *target, int64_t pipeline_id,
    int64_t run_id, const char *stage, const char *metric,
    struct gate_baseline *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	memset(out, 0, sizeof(*out));
	db_args_init(&a);
	db_args_str(&a, target);
	db_args_int64(&a, pipeline_id);
	db_args_int64(&a, run_id);
	db_args_str(&a, stage);
	db_args_str(&a, metric);
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	db_args_str(&a, run_status_name(RUN_SUCCEEDED));
	db_args_str(&a, attempt_status_name(ATTEMPT_SUCCEEDED));
	db_args_str(&a, attempt_kind_name(ATTEMPT_JOB));
	if ((rc = db_exec(db, sql_baseline, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) > 0 && !db_res_is_null(res, 0, 1)) {
		if ((rc = db_res_double(res, 0, 1, &out->value, err)) == 0) {
			out->found = 1;
			(void)str_copy(out->source, sizeof(out->source),
			    db_res_text(res, 0, 0));
		}
	}
	db_res_free(res);
	return rc;
}
