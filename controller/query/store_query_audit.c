/*
 * store_query_audit.c - the audit export; see store_query_audit.h.
 *
 * One statement gives each row both ways (JSON and a CSV record), built
 * by PostgreSQL; it reads the partial index events_audit, whose predicate
 * is the WHERE clause below, in id order.  The object an event names is
 * looked up in the row it is about (approvals, model versions and
 * rollouts are kept as long as an audit event needs them); tokens and
 * repositories are named by the event's own data.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "query/store_query_audit.h"
#include "store/db.h"
#include "store/store_sql.h"

const char store_query_audit_csv_header[] =
    "id,time,kind,action,actor,object_type,object_id,object,run,target,"
    "comment\r\n";

const char store_query_audit_sql[] =
    "SELECT e.id::text, json_build_object('id', e.id,"
    "   'time', rfc3339(e.created_at), 'kind', k.kind, 'action', k.action,"
    "   'actor', e.actor, 'object_type', e.entity_type,"
    "   'object_id', e.entity_id, 'object', k.object, 'run', e.run_id,"
    "   'target', k.target, 'comment', k.comment)::text,"
    "  concat_ws(',', csv_cell(e.id::text), csv_cell(rfc3339(e.created_at)),"
    "   csv_cell(k.kind), csv_cell(k.action), csv_cell(e.actor),"
    "   csv_cell(e.entity_type), csv_cell(e.entity_id::text),"
    "   csv_cell(k.object), csv_cell(e.run_id::text), csv_cell(k.target),"
    "   csv_cell(k.comment))"
    " FROM events e"
    " LEFT JOIN approvals ap ON e.entity_type = 'approval'"
    "   AND ap.id = e.entity_id"
    " LEFT JOIN model_versions mv ON e.entity_type = 'model_version'"
    "   AND mv.id = e.entity_id"
    " LEFT JOIN rollouts ro ON e.entity_type = 'rollout'"
    "   AND ro.id = e.entity_id"
    " CROSS JOIN LATERAL (SELECT"
    "   event_audit_kind(e.entity_type, e.action, e.to_state, e.data)"
    "     AS kind,"
    "   CASE WHEN e.entity_type = 'model_version' THEN coalesce("
    "       e.data->>'action', nullif(e.action, 'transition'), e.to_state)"
    "     WHEN e.action = 'transition' THEN e.to_state"
    "     ELSE e.action END AS action,"
    "   CASE e.entity_type"
    "     WHEN 'approval' THEN 'approval ' || e.entity_id"
    "       || coalesce(' of run ' || ap.run_id || ', step ' || ap.step"
    "       || ' (' || ap.weight || '%)', '')"
    "     WHEN 'model_version' THEN coalesce('model ' || mv.name || ' v'"
    "       || mv.version, 'model version ' || e.entity_id)"
    "     WHEN 'rollout' THEN 'rollout ' || e.entity_id"
    "       || coalesce(' of run ' || e.run_id, '')"
    "     ELSE e.entity_type || ' ' || coalesce(e.data->>'name',"
    "       e.entity_id::text)"
    "       || coalesce(' (' || (e.data->>'role') || ')', '')"
    "   END AS object,"
    "   coalesce(ap.target, mv.target, ro.target, e.data->>'target')"
    "     AS target,"
    "   coalesce(e.data->>'comment', e.reason) AS comment) k"
    " WHERE event_audit_kind(e.entity_type, e.action, e.to_state, e.data)"
    "   IS NOT NULL"
    "  AND e.id > $1 AND e.created_at >= " SQL_TS("$3")
    "  AND e.created_at < " SQL_TS("$4")
    " ORDER BY e.id LIMIT $2::bigint + 1";

static void
window_args(struct db_args *a, const struct audit_window *w)
{
	db_args_int64(a, w->since_ms);
	/* to_timestamp of INT64_MAX ms overflows: the year 9999 is far enough */
	db_args_int64(a, w->until_ms < INT64_C(253402300799000) ? w->until_ms :
	    INT64_C(253402300799000));
}

int
store_query_audit_page(struct db *db, const struct audit_window *w,
    const struct page_in *pg, struct buf *out, struct err *err)
{
	struct db_args a;

	db_args_init(&a);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, 0);
	db_args_int64(&a, pg->limit);
	window_args(&a, w);
	return store_query_page(db, store_query_audit_sql, &a, "entries",
	    pg->limit, "au1", out, NULL, err);
}

int
store_query_audit_csv(struct db *db, const struct audit_window *w,
    int64_t *after, int64_t limit, struct buf *out, size_t *rows,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	size_t n;
	int rc;

	*rows = 0;
	db_args_init(&a);
	db_args_int64(&a, *after);
	db_args_int64(&a, limit - 1);	/* the statement reads one more */
	window_args(&a, w);
	if ((rc = db_exec_prepared(db, store_query_audit_sql, &a, &res,
	    err)) < 0)
		return rc;
	n = db_res_rows(res);
	for (size_t i = 0; i < n; i++) {
		if ((rc = buf_puts(out, db_res_text(res, i, 2))) < 0 ||
		    (rc = buf_puts(out, "\r\n")) < 0) {
			rc = err_set(err, rc, "the audit export's buffer is full");
			goto out;
		}
		if ((rc = db_res_int64(res, i, 0, after, err)) < 0)
			goto out;
		(*rows)++;
	}
out:
	db_res_free(res);
	return rc;
}
