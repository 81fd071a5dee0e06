/* store_engine.c - the engine's snapshot; see store_engine.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/db.h"
#include "store/store_engine.h"
#include "store/store_sql.h"

static const char sql_snapshot[] =
    "SELECT r.id, r.status, r.pipeline_id, r.pipeline_version_id, p.name,"
    "  rp.name, c.sha, r.branch, r.trigger, r.params::text,"
    "  r.cancel_requested_at IS NOT NULL, r.cancel_requested_by,"
    "  s.id, s.name, s.type, s.status, s.waiting_reason, s.message,"
    "  coalesce(s.reused_from_stage_id, 0),"
    "  coalesce(a.id, 0), a.kind, coalesce(a.step, 0),"
    "  coalesce(a.attempt, 0), coalesce(a.weight, -1), coalesce(a.gpus, 0),"
    "  a.status, a.job_name, coalesce(" SQL_MS("a.started_at") ", 0),"
    "  coalesce(" SQL_MS("a.finished_at") ", 0), a.message,"
    "  coalesce(ro.id, 0), ro.status, coalesce(ro.current_step, 0),"
    "  coalesce(ro.current_weight, 0),"
    "  coalesce(" SQL_MS("ro.analysis_started_at") ", 0),"
    "  coalesce(ro.model_version_id, 0), pm.uri, ro.message,"
    "  coalesce(ap.id, 0), ap.status, coalesce(" SQL_MS("ap.expires_at")
    "  , 0), ap.decided_by, ap.comment, " SQL_MS("now()") ","
    "  a.queue, a.flavor, coalesce(" SQL_MS("a.admitted_at") ", 0),"
    "  coalesce(a.evictions, 0),"
    "  ro.action, ro.action_reason, ro.paused_by, coalesce(ro.paused_ms, 0),"
    "  " SQL_SPEC_NODES("a") ","
    "  coalesce(a.status IN ('pending', 'submitted', 'running'), false),"
    "  lh.attempt_id IS NOT NULL, lh.source, coalesce(lh.source_offset, 0),"
    "  coalesce(lh.bytes, 0), coalesce(lh.lines, 0),"
    "  coalesce(lh.dropped, 0), coalesce(lh.mid_line, false),"
    "  coalesce(lh.open_line, false), coalesce(lh.complete, false)"
    " FROM runs r"
    " JOIN pipelines p ON p.id = r.pipeline_id"
    " JOIN repositories rp ON rp.id = p.repository_id"
    " JOIN commits c ON c.id = r.commit_id"
    " JOIN stages s ON s.run_id = r.id"
    " LEFT JOIN LATERAL (SELECT * FROM stage_attempts x"
    "   WHERE x.stage_id = s.id ORDER BY x.id DESC LIMIT 1) a ON true"
    " LEFT JOIN LATERAL (SELECT * FROM rollouts y"
    "   WHERE y.stage_id = s.id ORDER BY y.attempt DESC LIMIT 1) ro"
    "   ON s.type = 'canary'"
    " LEFT JOIN model_versions pm ON pm.id = ro.previous_model_version_id"
    " LEFT JOIN attempt_log_heads lh ON lh.attempt_id = a.id"
    "   AND lh.node = 0 AND a.status IN ('pending', 'submitted', 'running')"
    " LEFT JOIN approvals ap ON ap.rollout_id = ro.id"
    "   AND ap.step = ro.current_step"
    " WHERE r.status IN ('running', 'waiting_approval')"
    " ORDER BY r.id, s.position";

static const char sql_definition[] =
    "SELECT definition::text FROM pipeline_versions WHERE id = $1 AND valid";

static const char sql_finished[] =
    "SELECT id FROM runs WHERE id = ANY ($1::bigint[])"
    " AND status IN ('succeeded', 'failed', 'canceled')";

static const char sql_recent[] =
    "SELECT job_name FROM stage_attempts"
    " WHERE finished_at > now() - make_interval(secs => $1::bigint / 1000.0)"
    " ORDER BY id";

enum {
	C_RUN, C_RSTATUS, C_PIPELINE_ID, C_VERSION, C_PIPELINE, C_REPO,
	C_COMMIT, C_BRANCH, C_TRIGGER, C_PARAMS, C_CANCEL, C_CANCEL_BY,
	C_STAGE, C_SNAME, C_STYPE, C_SSTATUS, C_SWAIT, C_SMSG, C_REUSED,
	C_AID, C_AKIND, C_ASTEP, C_AATT, C_AWEIGHT, C_AGPUS, C_ASTATUS,
	C_AJOB, C_ASTART, C_AFINISH, C_AMSG,
	C_ROID, C_ROSTATUS, C_ROSTEP, C_ROWEIGHT, C_ROANALYSIS, C_ROMODEL,
	C_ROPREV, C_ROMSG,
	C_APID, C_APSTATUS, C_APEXPIRES, C_APBY, C_APCOMMENT, C_NOW,
	C_AQUEUE, C_AFLAVOR, C_AADMITTED, C_AEVICTIONS,
	C_ROACTION, C_ROACTREASON, C_ROPAUSEDBY, C_ROPAUSEDMS,
	C_ANODES,
	C_LACTIVE, C_LEXISTS, C_LSOURCE, C_LOFFSET, C_LBYTES, C_LLINES,
	C_LDROPPED, C_LMID, C_LOPEN, C_LCOMPLETE,
};

static int
get_i64(const struct db_res *res, size_t row, int col, int64_t *out,
    struct err *err)
{
	return db_res_int64(res, row, col, out, err);
}

static int
get_int(const struct db_res *res, size_t row, int col, int *out,
    struct err *err)
{
	int64_t v;
	int rc;

	if ((rc = db_res_int64(res, row, col, &v, err)) < 0)
		return rc;
	*out = (int)v;
	return 0;
}

static int
read_stage(const struct db_res *res, size_t i, struct snap_stage *st,
    struct err *err)
{
	int rc = 0;

	rc |= get_i64(res, i, C_STAGE, &st->id, err);
	st->name = db_res_text(res, i, C_SNAME);
	st->type = db_res_text(res, i, C_STYPE);
	rc |= stage_status_parse(db_res_text(res, i, C_SSTATUS), &st->status,
	    err);
	st->waiting_reason = db_res_text(res, i, C_SWAIT);
	st->message = db_res_text(res, i, C_SMSG);
	rc |= get_i64(res, i, C_REUSED, &st->reused_from, err);
	rc |= get_i64(res, i, C_AID, &st->att.id, err);
	if (rc == 0 && st->att.id != 0) {
		rc |= attempt_kind_parse(db_res_text(res, i, C_AKIND),
		    &st->att.kind, err);
		rc |= attempt_status_parse(db_res_text(res, i, C_ASTATUS),
		    &st->att.status, err);
	}
	rc |= get_int(res, i, C_ASTEP, &st->att.step, err);
	rc |= get_int(res, i, C_AATT, &st->att.attempt, err);
	rc |= get_int(res, i, C_AWEIGHT, &st->att.weight, err);
	rc |= get_int(res, i, C_AGPUS, &st->att.gpus, err);
	st->att.job_name = db_res_text(res, i, C_AJOB);
	rc |= get_i64(res, i, C_ASTART, &st->att.started_ms, err);
	rc |= get_i64(res, i, C_AFINISH, &st->att.finished_ms, err);
	st->att.message = db_res_text(res, i, C_AMSG);
	rc |= get_i64(res, i, C_ROID, &st->ro.id, err);
	if (rc == 0 && st->ro.id != 0)
		rc |= rollout_status_parse(db_res_text(res, i, C_ROSTATUS),
		    &st->ro.status, err);
	rc |= get_int(res, i, C_ROSTEP, &st->ro.step, err);
	rc |= get_int(res, i, C_ROWEIGHT, &st->ro.weight, err);
	rc |= get_i64(res, i, C_ROANALYSIS, &st->ro.analysis_ms, err);
	rc |= get_i64(res, i, C_ROMODEL, &st->ro.model_id, err);
	st->ro.prev_uri = db_res_text(res, i, C_ROPREV);
	st->ro.message = db_res_text(res, i, C_ROMSG);
	st->ro.action = db_res_text(res, i, C_ROACTION);
	st->ro.action_reason = db_res_text(res, i, C_ROACTREASON);
	st->ro.paused_by = db_res_text(res, i, C_ROPAUSEDBY);
	rc |= get_i64(res, i, C_ROPAUSEDMS, &st->ro.paused_ms, err);
	rc |= get_i64(res, i, C_APID, &st->ap.id, err);
	if (rc == 0 && st->ap.id != 0)
		rc |= approval_status_parse(db_res_text(res, i, C_APSTATUS),
		    &st->ap.status, err);
	rc |= get_i64(res, i, C_APEXPIRES, &st->ap.expires_ms, err);
	st->ap.decided_by = db_res_text(res, i, C_APBY);
	st->ap.comment = db_res_text(res, i, C_APCOMMENT);
	st->att.queue = db_res_text(res, i, C_AQUEUE);
	st->att.flavor = db_res_text(res, i, C_AFLAVOR);
	rc |= get_i64(res, i, C_AADMITTED, &st->att.admitted_ms, err);
	rc |= get_int(res, i, C_AEVICTIONS, &st->att.evictions, err);
	rc |= get_int(res, i, C_ANODES, &st->att.nodes, err);
	rc |= db_res_bool(res, i, C_LACTIVE, &st->att.log0_read, err);
	rc |= db_res_bool(res, i, C_LEXISTS, &st->att.log0.exists, err);
	st->att.log0.source = db_res_text(res, i, C_LSOURCE);
	rc |= get_i64(res, i, C_LOFFSET, &st->att.log0.offset, err);
	rc |= get_i64(res, i, C_LBYTES, &st->att.log0.bytes, err);
	rc |= get_i64(res, i, C_LLINES, &st->att.log0.lines, err);
	rc |= get_i64(res, i, C_LDROPPED, &st->att.log0.dropped, err);
	rc |= db_res_bool(res, i, C_LMID, &st->att.log0.mid_line, err);
	rc |= db_res_bool(res, i, C_LOPEN, &st->att.log0.open_line, err);
	rc |= db_res_bool(res, i, C_LCOMPLETE, &st->att.log0.complete, err);
	return rc < 0 ? ERR_INVALID : 0;
}

static int
read_run(const struct db_res *res, size_t i, struct snap_run *r,
    struct err *err)
{
	int rc = 0, cancel = 0;

	rc |= get_i64(res, i, C_RUN, &r->id, err);
	rc |= run_status_parse(db_res_text(res, i, C_RSTATUS), &r->status,
	    err);
	rc |= get_i64(res, i, C_PIPELINE_ID, &r->pipeline_id, err);
	rc |= get_i64(res, i, C_VERSION, &r->version_id, err);
	r->pipeline = db_res_text(res, i, C_PIPELINE);
	r->repo = db_res_text(res, i, C_REPO);
	r->commit = db_res_text(res, i, C_COMMIT);
	r->branch = db_res_text(res, i, C_BRANCH);
	r->trigger = db_res_text(res, i, C_TRIGGER);
	r->params = db_res_text(res, i, C_PARAMS);
	rc |= db_res_bool(res, i, C_CANCEL, &cancel, err);
	r->cancel = cancel;
	r->cancel_by = db_res_text(res, i, C_CANCEL_BY);
	return rc < 0 ? ERR_INVALID : 0;
}

int
store_snapshot_load(struct db *db, struct snapshot *s, struct err *err)
{
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = db_exec(db, sql_snapshot, NULL, &s->res, err)) < 0)
		return rc;
	n = db_res_rows(s->res);
	if (n == 0)	/* the clock alone */
		return db_exec_int64(db, "SELECT " SQL_MS("now()"), NULL,
		    &s->now_ms, err);
	s->stages = xcalloc(n, sizeof(*s->stages));
	s->runs = xcalloc(n, sizeof(*s->runs));
	if ((rc = get_i64(s->res, 0, C_NOW, &s->now_ms, err)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		int64_t run_id;

		if ((rc = get_i64(s->res, i, C_RUN, &run_id, err)) < 0 ||
		    (rc = read_stage(s->res, i, &s->stages[i], err)) < 0)
			goto fail;
		if (s->nruns == 0 || s->runs[s->nruns - 1].id != run_id) {
			struct snap_run *r = &s->runs[s->nruns++];

			if ((rc = read_run(s->res, i, r, err)) < 0)
				goto fail;
			r->stages = &s->stages[i];
		}
		s->runs[s->nruns - 1].nstages++;
	}
	s->nstages = n;
	return 0;
fail:
	store_snapshot_release(s);
	if (err != NULL) {
		err->code = ERR_INVALID;
		(void)err_prefix(err, "unreadable engine snapshot");
	}
	return ERR_INVALID;
}

void
store_snapshot_release(struct snapshot *s)
{
	free(s->runs);
	free(s->stages);
	db_res_free(s->res);
	memset(s, 0, sizeof(*s));
}

int
store_version_definition(struct db *db, int64_t version_id, char **out,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*out = NULL;
	db_args_init(&a);
	db_args_int64(&a, version_id);
	if ((rc = db_exec(db, sql_definition, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		rc = err_set(err, ERR_NOTFOUND, "pipeline version %lld not "
		    "found or not valid", (long long)version_id);
	else
		*out = xstrdup(db_res_text(res, 0, 0));
	db_res_free(res);
	return rc;
}

int
store_runs_finished(struct db *db, const int64_t *ids, size_t n,
    int64_t **done, size_t *ndone, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct buf arr;
	int rc = 0;

	*done = NULL;
	*ndone = 0;
	if (n == 0)
		return 0;
	buf_init(&arr, 64 * 1024 * 1024);
	if ((rc = db_int64_array(&arr, ids, n, err)) < 0) {
		buf_release(&arr);
		return rc;
	}
	db_args_init(&a);
	db_args_str(&a, arr.data);
	if ((rc = db_exec(db, sql_finished, &a, &res, err)) == 0) {
		size_t rows = db_res_rows(res);

		*done = xcalloc(rows + 1, sizeof(**done));
		for (size_t i = 0; i < rows && rc == 0; i++)
			rc = db_res_int64(res, i, 0, &(*done)[i], err);
		*ndone = rows;
	}
	db_res_free(res);
	buf_release(&arr);
	return rc;
}

int
store_attempts_recently_finished(struct db *db, int64_t since_ms,
    char ***names, size_t *n, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	*names = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, since_ms);
	if ((rc = db_exec(db, sql_recent, &a, &res, err)) < 0)
		return rc;
	*n = db_res_rows(res);
	*names = xcalloc(*n + 1, sizeof(**names));
	for (size_t i = 0; i < *n; i++)
		(*names)[i] = xstrdup(db_res_text(res, i, 0));
	db_res_free(res);
	return 0;
}
