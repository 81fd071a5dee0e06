/*
 * store_rollout_act.c - the target lease and approvers' actions on a
 * rollout; see store_rollout.h.
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "store/db.h"
#include "store/status.h"
#include "store/store_rollout.h"
#include "store/store_sql.h"

static const char sql_holder[] =
    "SELECT l.run_id, l.stage_id, coalesce(ro.id, 0),"
    "  coalesce(ro.action = 'abort' OR ro.status = 'rolling_back', false)"
    " FROM target_leases l LEFT JOIN LATERAL (SELECT id, action, status"
    "   FROM rollouts WHERE stage_id = l.stage_id ORDER BY attempt DESC"
    "   LIMIT 1) ro ON true"
    " WHERE l.target = $1";

/*
 * Every action: $1 run, $2 stage (0: any), $3 actor, $4 comment or NULL,
 * $5 reason; then the approval statuses it uses: $6 pending, $7 the one
 * a pending approval becomes.
 * ro0 is the rollout acted on as it was; ro the row changed (none when
 * the action does not apply).
 */
#define ACT_PICK                                                            \
	"WITH r AS (SELECT id FROM runs WHERE id = $1),"                    \
	" ro0 AS (SELECT id, status, action, action_by, paused_by,"         \
	"   paused_at FROM rollouts"                                        \
	"   WHERE run_id = $1 AND ($2::bigint = 0 OR stage_id = $2)"        \
	"   ORDER BY finished_at IS NULL DESC, id DESC LIMIT 1),"
#define ACT_ACTIVE                                                          \
	" t.status IN ('progressing', 'analyzing', 'waiting_approval')"
#define ACT_EVENT(action)                                                   \
	" e AS (" SQL_EV_COLS                                               \
	"  SELECT $3, 'rollout', ro.id, ro.run_id, '" action "', NULL, NULL," \
	"    $5::text, jsonb_build_object('comment', $4::text) FROM ro"
#define ACT_RESULT                                                          \
	SQL_EV_RETURNING ")"                                                \
	" SELECT (SELECT count(*) FROM r), (SELECT id FROM ro0),"           \
	"  (SELECT status FROM ro0), (SELECT action FROM ro0),"             \
	"  (SELECT action_by FROM ro0), (SELECT paused_by FROM ro0),"       \
	"  (SELECT count(*) FROM ro),"                                      \
	"  (SELECT count(pg_notify('sluice_runs', ro.run_id::text)) FROM ro), " \
	SQL_NOTIFY("e")

/* promote-full and abort: the request, and the pending approval closed. */
#define ACT_REQUEST(action, decided_by)                                     \
	ACT_PICK                                                            \
	" ro AS (UPDATE rollouts t SET action = '" action "',"              \
	"   action_by = $3, action_at = now(), action_reason = $5,"         \
	"   paused_at = NULL, paused_by = NULL"                             \
	"   FROM ro0 WHERE t.id = ro0.id AND" ACT_ACTIVE                    \
	"   AND t.action IS NULL RETURNING t.id, t.run_id),"                \
	" ap AS (UPDATE approvals p SET status = $7::text,"                 \
	"   decided_at = now(), decided_by = " decided_by ", comment = $5"  \
	"   FROM ro WHERE p.rollout_id = ro.id AND p.status = $6"           \
	"   RETURNING p.id, p.run_id),"                                     \
	ACT_EVENT(action)                                                   \
	"  UNION ALL"                                                       \
	"  SELECT $3, 'approval', ap.id, ap.run_id, 'transition', $6::text," \
	"    $7::text, $5::text, jsonb_build_object('comment', $4::text)"   \
	"    FROM ap"                                                       \
	ACT_RESULT

static const char sql_promote_full[] = ACT_REQUEST("promote_full", "$3");
static const char sql_abort[] = ACT_REQUEST("abort", "NULL");

static const char sql_pause[] =
    ACT_PICK
    " ro AS (UPDATE rollouts t SET paused_at = now(), paused_by = $3"
    "   FROM ro0 WHERE t.id = ro0.id AND" ACT_ACTIVE
    "   AND t.action IS NULL AND t.paused_at IS NULL"
    "   RETURNING t.id, t.run_id, t.stage_id),"
    " s AS (UPDATE stages x SET waiting_reason = 'rollout paused by ' || $3"
    "   FROM ro WHERE x.id = ro.stage_id RETURNING x.id),"
    ACT_EVENT("paused")
    ACT_RESULT;

/*
 * The time held moves the end of an analysis window (paused_ms) and the
 * expiry of a pending approval; the engine writes the stage's
 * waiting_reason again on its next pass.
 */
static const char sql_resume[] =
    ACT_PICK
    " ro AS (UPDATE rollouts t SET paused_at = NULL, paused_by = NULL,"
    "   paused_ms = t.paused_ms + CASE WHEN t.status = 'analyzing' THEN"
    "     greatest(" SQL_MS("now() - ro0.paused_at") ", 0) ELSE 0 END"
    "   FROM ro0 WHERE t.id = ro0.id AND t.paused_at IS NOT NULL"
    "   RETURNING t.id, t.run_id, t.stage_id,"
    "     greatest(now() - ro0.paused_at, interval '0') AS held),"
    " ap AS (UPDATE approvals p SET expires_at = p.expires_at + ro.held"
    "   FROM ro WHERE p.rollout_id = ro.id AND p.status = $6"
    "   RETURNING p.id),"
    " s AS (UPDATE stages x SET waiting_reason = NULL FROM ro"
    "   WHERE x.id = ro.stage_id RETURNING x.id),"
    ACT_EVENT("resumed")
    ACT_RESULT;

static const struct {
	const char		*name;
	const char		*sql;
	const char		*verb;		/* the default reason */
	enum approval_status	 closes_as;	/* promote-full, abort */
} acts[] = {
	[ROLLOUT_ACT_PROMOTE_FULL] = { "promote-full", sql_promote_full,
	    "promoted to 100 % by", APPROVAL_APPROVED },
	[ROLLOUT_ACT_ABORT] = { "abort", sql_abort, "aborted by",
	    APPROVAL_EXPIRED },
	[ROLLOUT_ACT_PAUSE] = { "pause", sql_pause, "rollout paused by",
	    APPROVAL_PENDING },
	[ROLLOUT_ACT_RESUME] = { "resume", sql_resume, "resumed by",
	    APPROVAL_PENDING },
};

const char *
rollout_act_name(enum rollout_act act)
{
	return acts[act].name;
}

int
store_lease_holder(struct db *db, const char *target,
    struct lease_holder *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	memset(out, 0, sizeof(*out));
	db_args_init(&a);
	db_args_str(&a, target);
	if ((rc = db_exec(db, sql_holder, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) > 0 &&
	    ((rc = db_res_int64(res, 0, 0, &out->run_id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 1, &out->stage_id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 2, &out->rollout_id, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 3, &out->ending, err)) < 0))
		memset(out, 0, sizeof(*out));
	db_res_free(res);
	return rc;
}

/* Why act did not apply to rollout ro of run, from what ro0 showed. */
static int
refuse(const struct db_res *res, enum rollout_act act, int64_t run,
    struct err *err)
{
	const char *id = db_res_text(res, 0, 1);
	const char *status = db_res_text(res, 0, 2);
	const char *action = db_res_text(res, 0, 3);
	const char *by = db_res_text(res, 0, 4);
	const char *paused_by = db_res_text(res, 0, 5);
	const char *name = acts[act].name;

	if (action != NULL && strcmp(status, "rolling_back") != 0 &&
	    strcmp(status, "succeeded") != 0 &&
	    strcmp(status, "rolled_back") != 0 && strcmp(status, "failed") != 0)
		return err_set(err, ERR_CONFLICT, "rollout %s of run %lld is "
		    "%s, %s already asked by %s: %s does not apply", id,
		    (long long)run, status, strcmp(action, "abort") == 0 ?
		    "abort" : "promote-full", by ? by : "?", name);
	if (act == ROLLOUT_ACT_PAUSE && paused_by != NULL)
		return err_set(err, ERR_CONFLICT, "rollout %s of run %lld is "
		    "already paused by %s", id, (long long)run, paused_by);
	if (act == ROLLOUT_ACT_RESUME)
		return err_set(err, ERR_CONFLICT, "rollout %s of run %lld is "
		    "%s and not paused: resume does not apply", id,
		    (long long)run, status);
	return err_set(err, ERR_CONFLICT, "rollout %s of run %lld is %s: %s "
	    "does not apply", id, (long long)run, status, name);
}

int
store_rollout_act(struct db *db, int64_t run_id, int64_t stage_id,
    enum rollout_act act, const char *actor, const char *comment,
    const char *reason, int64_t *rollout_id, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf why;
	int64_t runs = 0, changed = 0;
	int rc;

	*rollout_id = 0;
	if (comment != NULL && comment[0] == '\0')
		comment = NULL;
	buf_init(&why, LIM_RUN_REASON + 512);
	if (reason != NULL)
		rc = buf_puts(&why, reason);
	else
		rc = buf_printf(&why, "%s %s%s%s", acts[act].verb, actor,
		    comment ? ": " : "", comment ? comment : "");
	if (rc < 0) {
		rc = err_set(err, ERR_TOOBIG, "%s: the reason is too long",
		    acts[act].name);
		goto out;
	}
	db_args_init(&a);
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, actor);
	db_args_str(&a, comment);
	db_args_str(&a, why.data);
	/* pause binds neither, resume only the first */
	if (act != ROLLOUT_ACT_PAUSE)
		db_args_str(&a, approval_status_name(APPROVAL_PENDING));
	if (act == ROLLOUT_ACT_PROMOTE_FULL || act == ROLLOUT_ACT_ABORT)
		db_args_str(&a, approval_status_name(acts[act].closes_as));
	if ((rc = db_exec(db, acts[act].sql, &a, &res, err)) < 0)
		goto out;
	if ((rc = db_res_int64(res, 0, 0, &runs, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 6, &changed, err)) < 0)
		goto out;
	if (runs == 0)
		rc = err_set(err, ERR_NOTFOUND, "run %lld not found",
		    (long long)run_id);
	else if (db_res_is_null(res, 0, 1))
		rc = err_set(err, ERR_NOTFOUND, "run %lld has no rollout",
		    (long long)run_id);
	else if (changed == 0)
		rc = refuse(res, act, run_id, err);
	else
		rc = db_res_int64(res, 0, 1, rollout_id, err);
out:
	db_res_free(res);
	buf_release(&why);
	return rc;
}
