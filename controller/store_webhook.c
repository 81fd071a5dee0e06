/*
 * store_webhook.c - webhook deliveries and repository refresh requests;
 * see store_webhook.h.  (The two repository statements belong with the
 * repositories' own store once it exists.)
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "store_webhook.h"

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
    " e AS ("
    "  INSERT INTO events (actor, entity_type, entity_id, run_id, action,"
    "    data)"
    "  SELECT $9, 'webhook', id, run_id, 'received',"
    "    jsonb_build_object('source', $1::text, 'delivery', $2::text,"
    "      'event', $3::text, 'status', status_code) FROM w)"
    " SELECT response::text FROM w";

static const char sql_repositories[] =
    "SELECT id, name, url, $1 = ANY (branches) FROM repositories"
    " WHERE deleted_at IS NULL ORDER BY name";

static const char sql_refresh[] =
    "WITH r AS ("
    "  UPDATE repositories SET refresh_requested_at = now()"
    "  WHERE id = $1 AND deleted_at IS NULL RETURNING name)"
    " SELECT pg_notify('sluice_refresh', name) FROM r";

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

void
store_webhook_repos_free(struct webhook_repo *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(r[i].url);
	free(r);
}

int
store_webhook_repositories(struct db *db, const char *branch,
    struct webhook_repo **out, size_t *n, struct err *err)
{
	struct webhook_repo *list = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	size_t rows = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_str(&a, branch);
	if ((rc = db_exec(db, sql_repositories, &a, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	list = xcalloc(rows > 0 ? rows : 1, sizeof(*list));
	for (i = 0; i < rows; i++) {
		if ((rc = db_res_int64(res, i, 0, &list[i].id, err)) < 0 ||
		    (rc = db_res_bool(res, i, 3, &list[i].watches_branch,
		    err)) < 0)
			goto out;
		(void)str_copy(list[i].name, sizeof(list[i].name),
		    db_res_text(res, i, 1));
		list[i].url = xstrdup(db_res_text(res, i, 2));
	}
	*out = list;
	*n = rows;
	list = NULL;
out:
	store_webhook_repos_free(list, rows);
	db_res_free(res);
	return rc;
}

int
store_webhook_request_refresh(struct db *db, int64_t id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, id);
	if ((rc = db_exec(db, sql_refresh, &a, &res, err)) < 0)
		goto out;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "repository %lld not found",
		    (long long)id);
out:
	db_res_free(res);
	return rc;
}
