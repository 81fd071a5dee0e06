/* store_query_models.c - the model registry as JSON; see the header. */
#include <stdio.h>

#include "query/store_query_models.h"
#include "store/db.h"

const char *const store_model_statuses[] = { "registered", "candidate",
    "production", "retired", "rejected", NULL };

/* One row per name, read through UNIQUE (name, version). */
static const char sql_list[] =
    "SELECT m.name, json_build_object('name', m.name,"
    "  'versions', count(*),"
    "  'latest', (SELECT json_build_object('version', x.version,"
    "    'status', x.status, 'uri', x.uri,"
    "    'created_at', rfc3339(x.created_at)) FROM model_versions x"
    "    WHERE x.name = m.name ORDER BY x.version DESC LIMIT 1),"
    "  'production', (SELECT coalesce(json_object_agg(x.target, x.version"
    "    ORDER BY x.target), '{}') FROM model_versions x"
    "    WHERE x.name = m.name AND x.status = 'production'))::text"
    " FROM model_versions m"
    " WHERE ($1::text IS NULL OR m.name > $1)"
    " GROUP BY m.name ORDER BY m.name LIMIT $2::bigint + 1";

static const char sql_versions[] =
    "SELECT m.version::text, json_build_object('name', m.name,"
    "  'version', m.version, 'uri', m.uri, 'status', m.status,"
    "  'target', m.target, 'run', m.run_id,"
    "  'pipeline', (SELECT p.name FROM runs r JOIN pipelines p"
    "    ON p.id = r.pipeline_id WHERE r.id = m.run_id),"
    "  'stage', (SELECT s.name FROM stages s WHERE s.id = m.stage_id),"
    "  'metrics', m.metrics, 'created_at', rfc3339(m.created_at),"
    "  'promoted_at', rfc3339(m.promoted_at),"
    "  'retired_at', rfc3339(m.retired_at),"
    "  'rejected_reason', m.rejected_reason,"
    "  'gate_metrics', run_gate_metrics(m.run_id),"
    "  'production', (SELECT json_build_object('version', p.version,"
    "    'target', p.target, 'gate_metrics', run_gate_metrics(p.run_id))"
    "    FROM model_versions p WHERE p.name = m.name"
    "      AND p.status = 'production' AND p.id <> m.id"
    "    ORDER BY (p.target IS NOT DISTINCT FROM m.target) DESC, p.target"
    "    LIMIT 1))::text"
    " FROM model_versions m"
    " WHERE m.name = $1 AND m.version < $2::int"
    "   AND ($4::text IS NULL OR m.status = $4)"
    " ORDER BY m.version DESC LIMIT $3::bigint + 1";

static const char sql_exists[] =
    "SELECT 1 FROM model_versions WHERE name = $1 LIMIT 1";

int
store_query_models_list(struct db *db, const struct page_in *pg,
    struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_str(&a, pg->after);
	db_args_int64(&a, pg->limit);
	return store_query_page(db, sql_list, &a, "models", pg->limit, "m1",
	    out, NULL, err);
}

int
store_query_model_versions(struct db *db, const char *name,
    const char *status, const struct page_in *pg, struct buf *out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	size_t rows = 0;
	int rc;

	db_args_init(&a);
	db_args_str(&a, name);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, INT32_MAX);
	db_args_int64(&a, pg->limit);
	db_args_str(&a, status);
	if ((rc = store_query_page(db, sql_versions, &a, "versions",
	    pg->limit, "v1", out, &rows, err)) < 0 || rows > 0)
		return rc;
	/* Nothing shown: an unknown model, or an empty filter or page. */
	db_args_init(&a);
	db_args_str(&a, name);
	if ((rc = db_exec(db, sql_exists, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "model '%.253s' not found",
		    name);
	db_res_free(res);
	return rc;
}
