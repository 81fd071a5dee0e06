/*
 * store_webhook.c - webhook deliveries and repository refresh requests;
 * see store_webhook.h.  (The two repository statements belong with the
 * repositories' own store once it exists.)
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_sql.h"
#include "store/store_webhook.h"

static const char sql_find[] =
    "SELECT status_code, response::text FROM webhook_deliveries"
    " WHERE source = $1 AND delivery_id = $2";

/*
 * ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to
 * commit or roll back, so of two racing copies exactly one inserts.
 */
static const char sql_record[] =
    "WITH w AS ("
    "  INSERT INTO webhook_deliveries (source, delivery_id, event,"
    "    pipeline_id, repository_id, run_id, status_code, response)"
    "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"
    "  ON CONFLICT (source, delivery_id) DO NOTHING"
    "  RETURNING id, run_id, status_code, response),"
    " e AS (" SQL_EV_COLS
    "  SELECT $9, 'webhook', id, run_id, 'received', NULL, NULL, NULL,"
    "    jsonb_build_object('source', $1::text, 'delivery', $2::text,"
    "      'event', $3::text, 'status', status_code) FROM w)"
    " SELECT response::text FROM w";

static void
arg_id(struct db_args *a, int64_t id)
{
	if (id > 0)
		db_args_int64(a, id);
	else
		db_args_null(a);
}

int
store_webhook_find(struct db *db, const char *source, const char *delivery_id,
    int *found, int *status, char **response, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int64_t code;
	int rc;

	*found = 0;
	*response = NULL;
	db_args_init(&a);
	db_args_str(&a, source);
	db_args_str(&a, delivery_id);
	if ((rc = db_exec(db, sql_find, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 0)
		goto out;
	if ((rc = db_res_int64(res, 0, 0, &code, err)) < 0)
		goto out;
	*status = (int)code;
	*response = xstrdup(db_res_text(res, 0, 1));
	*found = 1;
out:
	db_res_free(res);
	return rc;
}

int
store_webhook_record(struct db *db, const struct webhook_record *w,
    int *inserted, char **response, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*inserted = 0;
	*response = NULL;
	db_args_init(&a);
	db_args_str(&a, w->source);
	db_args_str(&a, w->delivery_id);
	db_args_str(&a, w->event);
	arg_id(&a, w->pipeline_id);
	arg_id(&a, w->repository_id);
	arg_id(&a, w->run_id);
	db_args_int64(&a, w->status);
	db_args_str(&a, w->response != NULL ? w->response : "{}");
	db_args_str(&a, w->actor != NULL ? w->actor : w->source);
	if ((rc = db_exec(db, sql_record, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 1) {
		*inserted = 1;
		*response = xstrdup(db_res_text(res, 0, 0));
	}
out:
	db_res_free(res);
	return rc;
}
