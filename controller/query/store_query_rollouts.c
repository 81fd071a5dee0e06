/* store_query_rollouts.c - a rollout as JSON; see the header. */
#include <stdio.h>

#include "query/store_query.h"
#include "query/store_query_rollouts.h"
#include "store/db.h"

static const char sql_get[] =
    "SELECT json_build_object(" ROLLOUT_JSON_FIELDS ")::text"
    " FROM rollouts ro JOIN stages s ON s.id = ro.stage_id WHERE ro.id = $1";

int
store_query_rollout_get(struct db *db, int64_t id, char **json,
    struct err *err)
{
	struct db_args a;
	char what[64];

	db_args_init(&a);
	db_args_int64(&a, id);
	(void)snprintf(what, sizeof(what), "rollout %lld not found",
	    (long long)id);
	return store_query_json(db, sql_get, &a, what, json, err);
}
