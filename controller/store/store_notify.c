/* store_notify.c - the notification outbox; see store_notify.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sys.h"
#include "store/db.h"
#include "store/store_notify.h"

/*
 * The subject of each outbox row: the run (pipeline, repository, commit,
 * branch), its first failed stage, and the approval, model version,
 * rollout or validated commit the event is about.
 */
static const char sql_outbox_claim[] =
    "SELECT o.id, o.kind, jsonb_strip_nulls(jsonb_build_object("
    "  'event', o.data, 'run', o.run_id,"
    "  'pipeline', p.name, 'repository', rp.name, 'sha', c.sha,"
    "  'branch', r.branch, 'run_status', r.status, 'message', r.message,"
    "  'failed_stage', (SELECT jsonb_build_object('name', s.name,"
    "    'message', s.message) FROM stages s WHERE s.run_id = r.id"
    "    AND s.status = 'failed' ORDER BY s.finished_at, s.position LIMIT 1),"
    "  'approval', (SELECT jsonb_build_object('id', a.id, 'step', a.step,"
    "    'weight', a.weight, 'target', a.target, 'stage', st.name,"
    "    'expires_at', rfc3339(a.expires_at)) FROM approvals a"
    "    JOIN stages st ON st.id = a.stage_id"
    "    WHERE o.entity_type = 'approval' AND a.id = o.entity_id),"
    "  'model', (SELECT jsonb_build_object('name', m.name, 'version',"
    "    m.version, 'target', m.target) FROM model_versions m"
    "    WHERE o.entity_type = 'model_version' AND m.id = o.entity_id),"
    "  'rollout', (SELECT jsonb_build_object('target', ro.target,"
    "    'message', ro.message) FROM rollouts ro"
    "    WHERE o.entity_type = 'rollout' AND ro.id = o.entity_id),"
    "  'validate', (SELECT jsonb_build_object('repository', vr.name,"
    "    'sha', o.data->>'to', 'files', count(pv.id),"
    "    'invalid', count(pv.id) FILTER (WHERE NOT pv.valid),"
    "    'first_error', (SELECT pe.errors->0 FROM pipeline_versions pe"
    "      WHERE pe.commit_id = vc.id AND NOT pe.valid"
    "      ORDER BY pe.file_path LIMIT 1))"
    "    FROM repositories vr JOIN commits vc ON vc.repository_id = vr.id"
    "      AND vc.sha = o.data->>'to'"
    "    LEFT JOIN pipeline_versions pv ON pv.commit_id = vc.id"
    "    WHERE o.kind = 'commit_validated' AND vr.id = o.entity_id"
    "    GROUP BY vr.name, vc.id)"
    "))::text"
    " FROM notify_outbox o"
    " LEFT JOIN runs r ON r.id = o.run_id"
    " LEFT JOIN pipelines p ON p.id = r.pipeline_id"
    " LEFT JOIN repositories rp ON rp.id = p.repository_id"
    " LEFT JOIN commits c ON c.id = r.commit_id"
    " WHERE o.fanned_out_at IS NULL"
    " ORDER BY o.id LIMIT $1"
    " FOR UPDATE OF o SKIP LOCKED";

static const char sql_outbox_done[] =
    "UPDATE notify_outbox SET fanned_out_at = now() WHERE id = $1";

static const char sql_delivery_add[] =
    "INSERT INTO notify_deliveries (outbox_id, channel, target, kind, format,"
    " run_id, context, sha, path, body, seq_key)"
    " VALUES ($1, $2, $3, $4, $5, nullif($6::bigint, 0), $7, $8, $9, $10, $11)"
    " ON CONFLICT (outbox_id, channel, target) DO NOTHING";

/*
 * Due, and first of its seq_key: an earlier pending delivery of the same
 * commit status (say the run's pending while the Git host was down) goes
 * out before its success, whichever controller holds it.
 */
static const char sql_delivery_claim[] =
    "SELECT d.id, d.channel, d.target, d.format, d.path, d.body, d.attempts"
    " FROM notify_deliveries d"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
    "  AND NOT EXISTS (SELECT 1 FROM notify_deliveries e"
    "    WHERE e.seq_key = d.seq_key AND e.status = 'pending'"
    "    AND e.id < d.id)"
    " ORDER BY d.next_attempt_at, d.id LIMIT 1"
    " FOR UPDATE SKIP LOCKED";

static const char sql_delivery_result[] =
    "UPDATE notify_deliveries SET attempts = attempts + 1,"
    " last_http_status = nullif($3::int, 0), last_error = $4,"
    " status = CASE WHEN $2::boolean THEN 'delivered'"
    "   WHEN $5::boolean THEN 'failed' ELSE 'pending' END,"
    " delivered_at = CASE WHEN $2::boolean THEN now() END,"
    " next_attempt_at = CASE WHEN $2::boolean OR $5::boolean"
    "   THEN next_attempt_at"
    "   ELSE now() + make_interval(secs => $6::bigint / 1000.0) END"
    " WHERE id = $1 AND status = 'pending'";

/*
 * 0 when the outbox has rows to fan out, else the ms until the next pending
 * delivery is due, at most $1; $1 when none is pending.  (The coalesce is
 * inside greatest(), which ignores a NULL: outside it, no pending delivery
 * gave 0, and the sender polled without a pause.)
 */
static const char sql_idle[] =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM notify_outbox"
    "   WHERE fanned_out_at IS NULL) THEN 0"
    " ELSE least($1::bigint, greatest(0, coalesce(ceil(extract(epoch FROM"
    "   (SELECT min(next_attempt_at) FROM notify_deliveries"
    "    WHERE status = 'pending') - now()) * 1000)::bigint, $1::bigint)))"
    " END";

static char *
dup_col(const struct db_res *res, size_t row, int col)
{
	return sys_strdup_or_null(db_res_text(res, row, col));
}

int
store_notify_outbox_claim(struct db *db, size_t max,
    struct notify_outbox_row **out, size_t *n, struct err *err)
{
	struct notify_outbox_row *rows = NULL;
	struct db_res *res = NULL;
	struct db_args a;
	size_t i = 0, nrows;
	int rc;

	*out = NULL;
	*n = 0;
	db_args_init(&a);
	db_args_int64(&a, (int64_t)max);
	if ((rc = db_exec(db, sql_outbox_claim, &a, &res, err)) < 0)
		goto out;
	nrows = db_res_rows(res);
	rows = xcalloc(nrows + 1, sizeof(*rows));
	for (i = 0; i < nrows; i++) {
		if ((rc = db_res_int64(res, i, 0, &rows[i].id, err)) < 0)
			goto out;
		rows[i].kind = dup_col(res, i, 1);
		rows[i].subject = dup_col(res, i, 2);
	}
	*out = rows;
	*n = nrows;
	rows = NULL;
out:
	store_notify_outbox_free(rows, i);
	db_res_free(res);
	return rc;
}

void
store_notify_outbox_free(struct notify_outbox_row *rows, size_t n)
{
	for (size_t i = 0; rows != NULL && i < n; i++) {
		free(rows[i].kind);
		free(rows[i].subject);
	}
	free(rows);
}

int
store_notify_outbox_done(struct db *db, int64_t id, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, id);
	return db_exec(db, sql_outbox_done, &a, NULL, err);
}

int
store_notify_delivery_add(struct db *db, const struct notify_delivery_in *d,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, d->outbox_id);
	db_args_str(&a, d->channel);
	db_args_str(&a, d->target);
	db_args_str(&a, d->kind);
	db_args_str(&a, d->format);
	db_args_int64(&a, d->run_id);
	db_args_str(&a, d->context);
	db_args_str(&a, d->sha);
	db_args_str(&a, d->path);
	db_args_str(&a, d->body);
	db_args_str(&a, d->seq_key);
	return db_exec(db, sql_delivery_add, &a, NULL, err);
}

int
store_notify_delivery_claim(struct db *db, struct notify_delivery *out,
    struct err *err)
{
	struct db_res *res = NULL;
	int64_t attempts = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_exec(db, sql_delivery_claim, NULL, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0) {
		rc = ERR_NOTFOUND;
		goto out;
	}
	if ((rc = db_res_int64(res, 0, 0, &out->id, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 6, &attempts, err)) < 0)
		goto out;
	out->channel = dup_col(res, 0, 1);
	out->target = dup_col(res, 0, 2);
	out->format = dup_col(res, 0, 3);
	out->path = dup_col(res, 0, 4);
	out->body = dup_col(res, 0, 5);
	out->attempts = (int)attempts;
out:
	db_res_free(res);
	return rc;
}

void
store_notify_delivery_release(struct notify_delivery *d)
{
	if (d == NULL)
		return;
	free(d->channel);
	free(d->target);
	free(d->format);
	free(d->path);
	free(d->body);
	memset(d, 0, sizeof(*d));
}

int
store_notify_delivery_result(struct db *db, int64_t id, int delivered,
    int http_status, const char *error, int final, int64_t retry_ms,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, id);
	db_args_bool(&a, delivered);
	db_args_int64(&a, http_status);
	db_args_str(&a, delivered ? NULL : error);
	db_args_bool(&a, final);
	db_args_int64(&a, retry_ms);
	return db_exec(db, sql_delivery_result, &a, NULL, err);
}

int
store_notify_idle_ms(struct db *db, int64_t cap_ms, int64_t *ms,
    struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	db_args_int64(&a, cap_ms);
	return db_exec_int64(db, sql_idle, &a, ms, err);
}
