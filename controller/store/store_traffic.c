/* store_traffic.c - a rollout's traffic state; see store_traffic.h. */
#include <stdlib.h>

#include "base/buf.h"
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
