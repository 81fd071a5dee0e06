/* store_approval.c - approvals; see store_approval.h. */
#include "base/buf.h"
#include "store/db.h"
#include "store/status.h"
#include "store/store_approval.h"
#include "store/store_sql.h"

/* An approval's clock stops while its rollout is paused. */
#define SQL_APPROVAL_DUE(a)                                                 \
	"(" a ".expires_at <= now() AND NOT EXISTS (SELECT 1 FROM rollouts" \
	" ro WHERE ro.id = " a ".rollout_id AND ro.paused_at IS NOT NULL))"

static const char sql_decide[] =
    "WITH old AS (SELECT id, status, " SQL_APPROVAL_DUE("o") " AS due"
    "  FROM approvals o WHERE id = $1),"
    " ap AS ("
    "  UPDATE approvals x SET status = $2::text, decided_by = $3,"
    "    decided_at = now(), comment = $4"
    "  WHERE id = $1 AND status = $5 AND NOT " SQL_APPROVAL_DUE("x")
    "  RETURNING id, run_id, status),"
    " e AS (" SQL_EV_COLS
    "  SELECT $3, 'approval', id, run_id, 'transition', $5::text, status,"
    "    $4, jsonb_build_object('comment', $4::text) FROM ap"
    SQL_EV_RETURNING ")"
    " SELECT (SELECT status FROM old), (SELECT due FROM old),"
    "  (SELECT count(*) FROM ap),"
    "  (SELECT count(pg_notify('sluice_approvals', id::text)) FROM ap), "
    SQL_NOTIFY("e");

static const char sql_expire[] =
    "WITH ap AS ("
    "  UPDATE approvals x SET status = $3::text, decided_at = now()"
    "  WHERE id = $1 AND status = $4 AND " SQL_APPROVAL_DUE("x")
    "  RETURNING id, run_id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $2, 'approval', id, run_id, 'transition', $4::text,"
    "    $3::text, 'approval_timeout passed', '{}'::jsonb FROM ap"
    SQL_EV_RETURNING ")"
    " SELECT (SELECT count(*) FROM ap), " SQL_NOTIFY("e");

int
store_approval_decide(struct db *db, int64_t approval_id, int approve,
    const char *actor, const char *comment, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	enum approval_status old = APPROVAL_PENDING;
	const char *status;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, approval_id);
	db_args_str(&a, approval_status_name(approve ? APPROVAL_APPROVED :
	    APPROVAL_REJECTED));
	db_args_str(&a, actor);
	db_args_str(&a, comment != NULL && comment[0] != '\0' ? comment : NULL);
	db_args_str(&a, approval_status_name(APPROVAL_PENDING));
	if ((rc = db_exec(db, sql_decide, &a, &res, err)) < 0)
		return rc;
	status = db_res_text(res, 0, 0);
	if ((rc = db_res_int64(res, 0, 2, &n, err)) < 0)
		goto out;
	if (status == NULL) {
		rc = err_set(err, ERR_NOTFOUND, "approval %lld not found",
		    (long long)approval_id);
	} else if ((rc = approval_status_parse(status, &old, err)) < 0) {
		goto out;
	} else if (n == 0 && old == APPROVAL_PENDING) {
		rc = err_set(err, ERR_CONFLICT, "approval %lld has expired",
		    (long long)approval_id);
	} else if (n == 0) {
		rc = err_set(err, ERR_CONFLICT, "approval %lld is already %s",
		    (long long)approval_id, status);
	}
out:
	db_res_free(res);
	return rc;
}

int
store_approval_expire(struct db *db, int64_t approval_id, const char *actor,
    struct err *err)
{
	struct db_args a;
	int64_t n = 0;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, approval_id);
	db_args_str(&a, actor);
	db_args_str(&a, approval_status_name(APPROVAL_EXPIRED));
	db_args_str(&a, approval_status_name(APPROVAL_PENDING));
	rc = db_exec_int64(db, sql_expire, &a, &n, err);
	if (rc == 0 && n == 0)
		rc = err_set(err, ERR_CONFLICT, "approval %lld is not pending "
		    "or not due", (long long)approval_id);
	return rc;
}
