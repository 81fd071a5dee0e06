/*
 * store_sql.h - SQL fragments shared by the store_*.c files
 * (constant text only; included by store and query modules).
 */
#ifndef SLUICE_STORE_SQL_H
#define SLUICE_STORE_SQL_H

/* A timestamptz as unix milliseconds (NULL stays NULL). */
#define SQL_MS(x)	"(extract(epoch FROM " x ") * 1000)::bigint"

/* Unix milliseconds $n (bigint) as a timestamptz. */
#define SQL_TS(p)	"to_timestamp(" p "::bigint / 1000.0)"

/*
 * The nodes an attempt runs on, from its recorded spec (stage_attempts
 * row a): "nodes" when the spec has it, else 1 (also for no attempt).
 * The query layer's documents use it too.
 */
#define SQL_SPEC_NODES(a)						\
	"CASE WHEN jsonb_typeof(" a ".spec->'nodes') = 'number'"	\
	" THEN (" a ".spec->>'nodes')::int ELSE 1 END"

/*
 * Writing a status.  Every UPDATE of the store that moves a run, stage,
 * stage attempt, rollout, approval or model version follows one
 * convention:
 *
 *  - The new status is a parameter, never a literal: the C side binds
 *    xxx_status_name() of store/status.h, so the name table is the one
 *    place a status is spelt.  The status the statement requires (the one
 *    the engine saw) is a parameter too, "WHERE status = $n"; a fixed set
 *    a transition may leave from is written out in the statement.  The
 *    transition's event takes its from_state and to_state from the same
 *    parameters.
 *  - On a table with finished_at (runs, stages, stage_attempts,
 *    rollouts), the status is written with SQL_SET_STATUS(status, final):
 *    finished_at becomes now() when the boolean parameter `final`
 *    (xxx_status_final() of the new status) is true, NULL otherwise, as
 *    the tables' *_finished_when_done checks want.  An attempt's end
 *    uses the time its executor reported instead of now()
 *    (SQL_SET_STATUS_AT).
 *  - started_at is written once, when the row starts (a stage submitted,
 *    a run admitted, an attempt running), with SQL_STARTED_AT(when): an
 *    earlier start is never moved.
 *  - A new row (INSERT) starts in its column's default status, the first
 *    value of its enum (queued, pending, progressing, registered).
 */
#define SQL_SET_STATUS_AT(s, final, when)				\
	"status = " s "::text, finished_at = CASE WHEN " final "::boolean" \
	" THEN " when " END"
#define SQL_SET_STATUS(s, final)	SQL_SET_STATUS_AT(s, final, "now()")
#define SQL_STARTED_AT(when)	"started_at = coalesce(started_at, " when ")"

/* Unix milliseconds $n from an executor (0: unknown), else now(). */
#define SQL_TS_OR_NOW(p)						\
	"CASE WHEN " p "::bigint > 0 THEN " SQL_TS(p) " ELSE now() END"

/*
 * The one column list of every insert into events (store_event.h): the
 * statement gives all nine values, in this order.  SQL_EV_RETURNING gives
 * the columns SQL_NOTIFY() reads from the CTE.
 */
#define SQL_EV_COLS \
	"INSERT INTO events (actor, entity_type, entity_id, run_id, action," \
	" from_state, to_state, reason, data) "
#define SQL_EV_RETURNING \
	" RETURNING id, entity_type, entity_id, run_id, from_state, to_state"

/*
 * NOTIFY sluice_events once per run, stage or approval event of the CTE
 * named cte (the SSE endpoint tails it):
 *	{"id": 42, "type": "stage", "entity": 7, "run": 3, "from": "pending",
 *	 "to": "submitted"}
 * Evaluates to the number of notifications, so it can sit in a SELECT
 * list that always returns one row.
 */
#define SQL_NOTIFY(cte)                                                     \
	"(SELECT count(pg_notify('sluice_events', json_build_object("      \
	"'id', id, 'type', entity_type, 'entity', entity_id, 'run', run_id," \
	" 'from', from_state, 'to', to_state)::text)) FROM " cte            \
	" WHERE entity_type IN ('run', 'stage', 'approval'))"

/*
 * Pipeline files invalid at some branch head that belong to no live
 * pipeline (their name was never readable): one row per repository and
 * path, the newest change first.  Columns: repository_id, file_path,
 * branch, commit_id, version_id, errors, changed_at.  The pipelines list
 * and the invalid-pipelines gauge both count these.
 */
#define SQL_UNNAMED_INVALID_FILES					\
	"(SELECT DISTINCT ON (f.repository_id, f.file_path)"		\
	"  f.repository_id, f.file_path, f.branch, f.commit_id,"	\
	"  f.version_id, f.errors, f.changed_at"			\
	" FROM pipeline_files f WHERE NOT f.valid AND NOT EXISTS ("	\
	"  SELECT 1 FROM pipelines lp"					\
	"  WHERE lp.repository_id = f.repository_id"			\
	"    AND lp.file_path = f.file_path AND lp.deleted_at IS NULL)"	\
	" ORDER BY f.repository_id, f.file_path, f.changed_at DESC)"

#endif
