/* store_model.c - model versions; see store_model.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "pipeline/gates.h"
#include "store/db.h"
#include "store/status.h"
#include "store/store_model.h"
#include "store/store_sql.h"
#include "store/store_traffic.h"

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
	struct db_args a;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, run_id);
	db_args_int64(&a, stage_id);
	db_args_str(&a, actor);
	db_args_str(&a, default_name);
	/* No row: nothing to register (*model_id stays 0). */
	if ((rc = db_exec_int64(db, sql_register, &a, model_id, err)) ==
	    ERR_NOTFOUND)
		rc = 0;
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

/*
 * Manual actions on one target take turns: a transaction-scoped advisory
 * lock, taken in a statement of its own so that the next one's snapshot
 * sees what the previous holder committed.
 */
static const char sql_manual_lock[] =
    "SELECT pg_advisory_xact_lock(hashtext('sluice.target:' || $1::text))";

/*
 * What a manual action needs to know (under the lock): whether model $1 and
 * target $3 are known, who holds the target's lease, what is in
 * production on it, and the version to put there: version $2 of $1
 * (promote), or for a rollback ($2 = 0) the retired version of $1 on $3
 * promoted most recently.
 *   0 model known  1 target known  2 lease run  3 cur id  4 cur name
 *   5 cur version  6 cand id  7 cand version  8 cand status
 *   9 cand target  10 cand rejected_reason
 */
static const char sql_manual_check[] =
    "SELECT EXISTS (SELECT 1 FROM model_versions WHERE name = $1),"
    "  target_known($3),"
    "  (SELECT run_id FROM target_leases WHERE target = $3),"
    "  cur.id, cur.name, cur.version,"
    "  cand.id, cand.version, cand.status, cand.target,"
    "  cand.rejected_reason"
    " FROM (SELECT 1) one"
    " LEFT JOIN model_versions cur ON cur.target = $3 AND cur.status = $4"
    " LEFT JOIN LATERAL (SELECT id, version, status, target, rejected_reason"
    "   FROM model_versions WHERE name = $1 AND CASE WHEN $2::int > 0"
    "     THEN version = $2::int ELSE target = $3 AND status = $5 END"
    "   ORDER BY promoted_at DESC NULLS LAST, version DESC LIMIT 1) cand"
    "  ON true";

/*
 * The version in production on a target leaves it ($1, as $2: retired or
 * rejected with reason $5 when rejected), with its event.
 */
static const char sql_manual_leave[] =
    "WITH mv AS ("
    "  UPDATE model_versions SET status = $2::text, retired_at = now(),"
    "    rejected_reason = CASE WHEN $2::text = $6 THEN $5 END"
    "  WHERE id = $1 AND status = $7 RETURNING id, run_id, target),"
    " e AS (" SQL_EV_COLS
    "  SELECT $3, 'model_version', mv.id, mv.run_id, 'transition', $7::text,"
    "    $2::text, $5::text, jsonb_build_object('action', $4::text,"
    "    'target', mv.target) FROM mv)"
    " SELECT count(*) FROM mv";

/*
 * Version $1 (seen in status $2) goes to production on target $3, with
 * its event: data.action says which manual action, data.previous what
 * served before ($7, 0: nothing); the comment ($5) is the reason.
 */
static const char sql_manual_enter[] =
    "WITH mv AS ("
    "  UPDATE model_versions SET status = $8::text, target = $3,"
    "    promoted_at = now(), retired_at = NULL"
    "  WHERE id = $1 AND status = $2 RETURNING id, run_id),"
    " e AS (" SQL_EV_COLS
    "  SELECT $4, 'model_version', mv.id, mv.run_id, 'transition', $2::text,"
    "    $8::text, $5::text, jsonb_build_object('action', $6::text,"
    "    'target', $3::text, 'previous', nullif($7::bigint, 0),"
    "    'comment', $5::text) FROM mv)"
    " SELECT count(*) FROM mv";

/* The manual action's checks, in the order a person would fix them. */
static int
manual_refuse(struct db_res *res, enum model_manual what, const char *name,
    int version, const char *target, struct err *err)
{
	const char *cur_name = db_res_text(res, 0, 4);
	const char *cand_status = db_res_text(res, 0, 8);
	const char *cand_target = db_res_text(res, 0, 9);
	int promote = what == MODEL_MANUAL_PROMOTE;

	if (strcmp(db_res_text(res, 0, 0), "t") != 0)
		return err_set(err, ERR_NOTFOUND, "model '%.253s' not found",
		    name);
	if (promote && db_res_is_null(res, 0, 6))
		return err_set(err, ERR_NOTFOUND, "model '%.253s' has no "
		    "version %d", name, version);
	if (target == NULL)
		return err_set(err, ERR_INVALID, "missing field \"target\"");
	if (target[0] == '\0')
		return err_set(err, ERR_INVALID, "field \"target\": must not "
		    "be empty");
	if (strcmp(db_res_text(res, 0, 1), "t") != 0)
		return err_set(err, ERR_NOTFOUND, "target '%.253s' not found: "
		    "no pipeline, rollout or model version names it", target);
	if (!db_res_is_null(res, 0, 2))
		return err_set(err, ERR_CONFLICT, "target %.253s is being "
		    "rolled out by run %s", target, db_res_text(res, 0, 2));
	if (!db_res_is_null(res, 0, 3) && strcmp(cur_name, name) != 0)
		return err_set(err, ERR_CONFLICT, "target '%.253s' serves model "
		    "'%.253s', not '%.253s'", target, cur_name, name);
	if (!promote && db_res_is_null(res, 0, 3))
		return err_set(err, ERR_CONFLICT, "nothing is in production on "
		    "target '%.253s' to roll back", target);
	if (!promote && db_res_is_null(res, 0, 6))
		return err_set(err, ERR_CONFLICT, "nothing to roll back to: no "
		    "earlier production version of model '%.253s' on target "
		    "'%.253s'", name, target);
	if (!promote)
		return 0;
	if (strcmp(cand_status, model_status_name(MODEL_REJECTED)) == 0)
		return err_set(err, ERR_CONFLICT, "model '%.253s' version %d is "
		    "rejected: %.400s", name, version,
		    db_res_is_null(res, 0, 10) ? "no reason recorded" :
		    db_res_text(res, 0, 10));
	if (strcmp(cand_status, model_status_name(MODEL_PRODUCTION)) == 0)
		return err_set(err, ERR_CONFLICT, "model '%.253s' version %d is "
		    "already in production on target '%.253s'", name, version,
		    cand_target);
	if (strcmp(cand_status, model_status_name(MODEL_CANDIDATE)) == 0)
		return err_set(err, ERR_CONFLICT, "model '%.253s' version %d is "
		    "the candidate of a rollout of target '%.253s'", name,
		    version, cand_target);
	return 0;
}

int
store_model_manual(struct db *db, enum model_manual what, const char *name,
    int version, const char *target, const char *actor, const char *comment,
    int *version_out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf why;
	const char *action = what == MODEL_MANUAL_PROMOTE ? "promote" :
	    "rollback";
	enum model_status leave = what == MODEL_MANUAL_PROMOTE ?
	    MODEL_RETIRED : MODEL_REJECTED;
	int64_t cur = 0, cand = 0, v = 0;
	char *cand_status = NULL;
	int rc;

	buf_init(&why, LIM_RUN_REASON + 256);
	if (version_out != NULL)
		*version_out = 0;
	if ((rc = db_begin(db, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, target);
	if ((rc = db_exec(db, sql_manual_lock, &a, NULL, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, name);
	db_args_int64(&a, what == MODEL_MANUAL_PROMOTE ? version : 0);
	db_args_str(&a, target);
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	db_args_str(&a, model_status_name(MODEL_RETIRED));
	if ((rc = db_exec(db, sql_manual_check, &a, &res, err)) < 0 ||
	    (rc = manual_refuse(res, what, name, version, target, err)) < 0)
		goto out;
	if ((!db_res_is_null(res, 0, 3) &&
	    (rc = db_res_int64(res, 0, 3, &cur, err)) < 0) ||
	    (rc = db_res_int64(res, 0, 6, &cand, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 7, &v, err)) < 0)
		goto out;
	cand_status = xstrdup(db_res_text(res, 0, 8));
	/* the reason a rolled back version carries */
	if (what == MODEL_MANUAL_ROLLBACK &&
	    ((rc = buf_printf(&why, "rolled back by %s", actor)) < 0 ||
	    (comment != NULL && comment[0] != '\0' &&
	    (rc = buf_printf(&why, ": %s", comment)) < 0))) {
		rc = err_set(err, rc, "rollback: the reason is too long");
		goto out;
	}
	if (cur != 0) {
		db_args_init(&a);
		db_args_int64(&a, cur);
		db_args_str(&a, model_status_name(leave));
		db_args_str(&a, actor);
		db_args_str(&a, action);
		db_args_str(&a, leave == MODEL_REJECTED ? why.data :
		    comment);
		db_args_str(&a, model_status_name(MODEL_REJECTED));
		db_args_str(&a, model_status_name(MODEL_PRODUCTION));
		if ((rc = db_exec_guarded(db, sql_manual_leave, &a, NULL,
		    action, err)) < 0)
			goto out;
	}
	db_args_init(&a);
	db_args_int64(&a, cand);
	db_args_str(&a, cand_status);
	db_args_str(&a, target);
	db_args_str(&a, actor);
	db_args_str(&a, comment != NULL && comment[0] != '\0' ? comment :
	    NULL);
	db_args_str(&a, action);
	db_args_int64(&a, cur);
	db_args_str(&a, model_status_name(MODEL_PRODUCTION));
	/* the traffic follows: recorded here, moved by the engine */
	if ((rc = db_exec_guarded(db, sql_manual_enter, &a, NULL, action,
	    err)) < 0 ||
	    (rc = store_traffic_follow_record(db, target, cand, NULL,
	    err)) < 0 || (rc = db_commit(db, err)) < 0)
		goto out;
	if (version_out != NULL)
		*version_out = (int)v;
out:
	db_rollback(db);
	db_res_free(res);
	free(cand_status);
	buf_release(&why);
	return rc;
}
