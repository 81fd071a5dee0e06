/* store_analysis.c - analysis measurements; see store_analysis.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_analysis.h"

static const char *const result_names[] = {
	[MEASURE_PASS] = "pass", [MEASURE_FAIL] = "fail",
	[MEASURE_INCONCLUSIVE] = "inconclusive",
};

static const char sql_add[] =
    "INSERT INTO analysis_measurements (rollout_id, run_id, step, query,"
    "  slot, result, value, message, op, threshold)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7::float8, left($8, 2048), $9,"
    "  $10::float8)"
    " ON CONFLICT (rollout_id, step, query, slot) DO NOTHING";

static const char sql_tally[] =
    "SELECT query, max(slot),"
    "  count(*) FILTER (WHERE result = 'pass'),"
    "  count(*) FILTER (WHERE result = 'fail'),"
    "  count(*) FILTER (WHERE result = 'inconclusive'),"
    "  (array_agg(result ORDER BY slot DESC))[1],"
    "  (array_agg(value ORDER BY slot DESC))[1],"
    "  coalesce((array_agg(message ORDER BY slot DESC))[1], '')"
    " FROM analysis_measurements WHERE rollout_id = $1 AND step = $2"
    " GROUP BY query ORDER BY query";

static const char sql_candidate[] =
    "SELECT version, uri FROM model_versions WHERE id = $1";

const char *
measure_result_name(enum measure_result r)
{
	return result_names[r];
}

/* A double for PostgreSQL's float8 input ("NaN", "Infinity" included). */
static void
arg_double(struct db_args *a, int has, double v, char *text, size_t len)
{
	if (!has)
		db_args_null(a);
	else if (isnan(v))
		db_args_str(a, "NaN");
	else if (isinf(v))
		db_args_str(a, v > 0 ? "Infinity" : "-Infinity");
	else {
		(void)snprintf(text, len, "%.17g", v);
		db_args_str(a, text);
	}
}

int
store_measure_add(struct db *db, const struct measure_new *m, struct err *err)
{
	char v[40], t[40];
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, m->rollout_id);
	db_args_int64(&a, m->run_id);
	db_args_int64(&a, m->step);
	db_args_str(&a, m->query);
	db_args_int64(&a, m->slot);
	db_args_str(&a, result_names[m->result]);
	arg_double(&a, m->has_value, m->value, v, sizeof(v));
	if (m->message != NULL)
		db_args_str(&a, m->message);
	else
		db_args_null(&a);
	db_args_str(&a, m->op);
	arg_double(&a, 1, m->threshold, t, sizeof(t));
	return db_exec(db, sql_add, &a, NULL, err);
}

int
store_measure_tally(struct db *db, int64_t rollout_id, int step,
    struct measure_tally *out, size_t cap, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t x[4];
	int rc;

	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, rollout_id);
	db_args_int64(&a, step);
	if ((rc = db_exec(db, sql_tally, &a, &res, err)) < 0)
		return rc;
	for (size_t i = 0; i < db_res_rows(res) && *n < cap; i++) {
		struct measure_tally *t = &out[*n];
		const char *last = db_res_text(res, i, 5);

		memset(t, 0, sizeof(*t));
		for (int c = 0; c < 4 && rc == 0; c++)
			rc = db_res_int64(res, i, c + 1, &x[c], err);
		if (rc < 0)
			break;
		(void)str_copy(t->query, sizeof(t->query),
		    db_res_text(res, i, 0));
		t->last_slot = (int)x[0];
		t->pass = (int)x[1];
		t->fail = (int)x[2];
		t->inconclusive = (int)x[3];
		t->last = strcmp(last, "pass") == 0 ? MEASURE_PASS :
		    strcmp(last, "fail") == 0 ? MEASURE_FAIL :
		    MEASURE_INCONCLUSIVE;
		t->last_has_value = !db_res_is_null(res, i, 6);
		if (t->last_has_value &&
		    (rc = db_res_double(res, i, 6, &t->last_value, err)) < 0)
			break;
		(void)str_copy(t->last_message, sizeof(t->last_message),
		    db_res_text(res, i, 7));
		(*n)++;
	}
	db_res_free(res);
	return rc;
}

int
store_measure_candidate(struct db *db, int64_t model_id, int64_t *version,
    char *uri, size_t uri_len, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, model_id);
	if ((rc = db_exec(db, sql_candidate, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "model version %lld not found",
		    (long long)model_id);
	else if ((rc = db_res_int64(res, 0, 0, version, err)) == 0)
		(void)str_copy(uri, uri_len, db_res_text(res, 0, 1));
	db_res_free(res);
	return rc;
}
