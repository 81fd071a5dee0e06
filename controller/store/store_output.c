/* store_output.c - metrics and artifacts; see store_output.h. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/sys.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/store_output.h"
#include "store/store_sql.h"

static const char sql_save[] =
    "WITH m AS ("
    "  INSERT INTO metrics (attempt_id, name, value, source_line,"
    "    reported_at)"
    "  SELECT $1, x.n, x.v, x.l, CASE WHEN $4::bigint > 0"
    "    THEN least(now(), " SQL_TS("$4") ") ELSE now() END"
    "  FROM jsonb_to_recordset($2::jsonb) AS x(n text, v float8, l bigint)"
    "  ON CONFLICT DO NOTHING RETURNING 1),"
    " a AS ("
    "  INSERT INTO artifacts (attempt_id, name, uri, model_name, source_line)"
    "  SELECT $1, x.n, x.u, x.m, x.l"
    "  FROM jsonb_to_recordset($3::jsonb) AS x(n text, u text, m text,"
    "    l bigint)"
    "  ON CONFLICT (attempt_id, name) DO UPDATE SET uri = excluded.uri,"
    "    model_name = excluded.model_name,"
    "    source_line = excluded.source_line"
    "  WHERE artifacts.source_line < excluded.source_line RETURNING 1)"
    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM a)";

/* Reused stages point at the stage that ran (one hop, see store_run.c). */
static const char sql_run_values[] =
    "SELECT s.name, false, ar.name, ar.uri"
    " FROM stages s"
    " JOIN stage_attempts a ON a.stage_id = coalesce(s.reused_from_stage_id,"
    "   s.id) AND a.status = 'succeeded' AND a.kind = 'job'"
    " JOIN artifacts ar ON ar.attempt_id = a.id"
    " WHERE s.run_id = $1 AND s.status = 'succeeded'"
    " UNION ALL"
    " SELECT * FROM (SELECT DISTINCT ON (s.name, m.name) s.name, true,"
    "   m.name, m.value::text"
    "  FROM stages s"
    "  JOIN stage_attempts a ON a.stage_id = coalesce("
    "    s.reused_from_stage_id, s.id) AND a.status = 'succeeded'"
    "    AND a.kind = 'job'"
    "  JOIN metrics m ON m.attempt_id = a.id"
    "  WHERE s.run_id = $1 AND s.status = 'succeeded'"
    "  ORDER BY s.name, m.name, m.source_line DESC) x";

static const char sql_window[] =
    "SELECT DISTINCT ON (m.name) NULL::text, true, m.name, m.value::text"
    " FROM metrics m JOIN stage_attempts a ON a.id = m.attempt_id"
    " WHERE a.stage_id = $1 AND a.kind = 'canary_step' AND a.step = $2"
    "   AND m.reported_at >= " SQL_TS("$3")
    "   AND m.reported_at <= " SQL_TS("$4")
    " ORDER BY m.name, m.reported_at DESC, m.source_line DESC";

static const char sql_load[] =
    "SELECT true, name, value::text, NULL, source_line FROM metrics"
    "  WHERE attempt_id = $1"
    " UNION ALL"
    " SELECT false, name, uri, model_name, source_line FROM artifacts"
    "  WHERE attempt_id = $1"
    " ORDER BY 5, 2";

int
store_output_save(struct db *db, int64_t attempt_id,
    const struct stage_output *o, int64_t reported_ms, struct err *err)
{
	json_t *ms = NULL, *as = NULL;
	char *mj = NULL, *aj = NULL;
	struct db_args a;
	int rc = ERR_NOMEM, bad = 0;

	if (o->nmetrics == 0 && o->nartifacts == 0)
		return 0;
	if ((ms = json_array()) == NULL || (as = json_array()) == NULL)
		goto out;
	for (size_t i = 0; i < o->nmetrics; i++)
		bad |= json_array_append_new(ms, json_pack("{sssfsI}",
		    "n", o->metrics[i].name, "v", o->metrics[i].value,
		    "l", (json_int_t)o->metrics[i].line));
	for (size_t i = 0; i < o->nartifacts; i++) {
		const struct output_artifact *x = &o->artifacts[i];

		bad |= json_array_append_new(as, json_pack("{sssssosI}",
		    "n", x->name, "u", x->uri, "m", x->model_name != NULL ?
		    json_string(x->model_name) : json_null(),
		    "l", (json_int_t)x->line));
	}
	if (bad || (mj = json_dumps(ms, JSON_COMPACT)) == NULL ||
	    (aj = json_dumps(as, JSON_COMPACT)) == NULL)
		goto out;
	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_str(&a, mj);
	db_args_str(&a, aj);
	db_args_int64(&a, reported_ms);
	rc = db_exec(db, sql_save, &a, NULL, err);
out:
	if (rc == ERR_NOMEM)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	json_decref(ms);
	json_decref(as);
	free(mj);
	free(aj);
	return rc;
}

void
output_values_release(struct output_values *vals)
{
	for (size_t i = 0; i < vals->n; i++) {
		free(vals->v[i].stage);
		free(vals->v[i].name);
		free(vals->v[i].value);
	}
	free(vals->v);
	vals->v = NULL;
	vals->n = 0;
}

static int
read_values(struct db *db, const char *sql, const struct db_args *a,
    struct output_values *out, struct err *err)
{
	struct db_res *res = NULL;
	size_t n;
	int rc;

	out->v = NULL;
	out->n = 0;
	if ((rc = db_exec(db, sql, a, &res, err)) < 0)
		return rc;
	n = db_res_rows(res);
	out->v = xcalloc(n + 1, sizeof(*out->v));
	for (size_t i = 0; i < n; i++) {
		struct output_value *v = &out->v[i];
		const char *stage = db_res_text(res, i, 0);

		v->stage = sys_strdup_or_null(stage);
		v->metric = strcmp(db_res_text(res, i, 1), "t") == 0;
		v->name = xstrdup(db_res_text(res, i, 2));
		v->value = xstrdup(db_res_text(res, i, 3));
	}
	out->n = n;
	db_res_free(res);
	return 0;
}

int
store_output_run_values(struct db *db, int64_t run_id,
    struct output_values *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, run_id);
	return read_values(db, sql_run_values, &a, out, err);
}

int
store_output_window(struct db *db, int64_t stage_id, int step,
    int64_t from_ms, int64_t to_ms, struct output_values *out,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, stage_id);
	db_args_int64(&a, step);
	db_args_int64(&a, from_ms);
	db_args_int64(&a, to_ms);
	return read_values(db, sql_window, &a, out, err);
}

int
store_output_load(struct db *db, int64_t attempt_id, struct stage_output *out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t line;
	double v;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	if ((rc = db_exec(db, sql_load, &a, &res, err)) < 0)
		return rc;
	for (size_t i = 0; i < db_res_rows(res); i++) {
		if ((rc = db_res_int64(res, i, 4, &line, err)) < 0)
			break;
		if (strcmp(db_res_text(res, i, 0), "t") == 0) {
			if ((rc = db_res_double(res, i, 2, &v, err)) < 0)
				break;
			stage_output_put_metric(out, db_res_text(res, i, 1), v,
			    line);
		} else {
			stage_output_put_artifact(out, db_res_text(res, i, 1),
			    db_res_text(res, i, 2), db_res_text(res, i, 3), line);
		}
	}
	db_res_free(res);
	return rc;
}
