/* schedule.c - firing schedule triggers; see schedule.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/sys.h"
#include "engine/engine_int.h"
#include "engine/schedule.h"
#include "pipeline/cron.h"
#include "query/store_query_pipelines.h"
#include "store/db.h"
#include "store/store_run.h"

/* Live pipelines whose newest valid definition has a schedule. */
static const char sql_scheduled[] =
    "SELECT p.id, p.name, r.id, r.name, (v.definition->'spec'->'triggers')::text,"
    "  md5(jsonb_build_array(v.definition->'spec'->'triggers'->'schedule',"
    "    v.definition->'spec'->'triggers'->'catch_up')::text),"
    "  s.fingerprint, floor(extract(epoch FROM s.since))::bigint"
    " FROM pipelines p JOIN repositories r ON r.id = p.repository_id"
    " JOIN LATERAL (SELECT definition FROM pipeline_versions"
    "   WHERE pipeline_id = p.id AND valid ORDER BY id DESC LIMIT 1) v ON true"
    " LEFT JOIN pipeline_schedules s ON s.pipeline_id = p.id"
    " WHERE p.deleted_at IS NULL AND r.deleted_at IS NULL"
    "   AND jsonb_typeof(v.definition->'spec'->'triggers'->'schedule')"
    "     = 'array'"
    " ORDER BY p.id";

/* A new or changed schedule counts from now. */
static const char sql_restart[] =
    "INSERT INTO pipeline_schedules (pipeline_id, fingerprint, since)"
    " VALUES ($1, $2, to_timestamp($3::bigint))"
    " ON CONFLICT (pipeline_id) DO UPDATE SET"
    "  fingerprint = excluded.fingerprint, since = excluded.since";

static const char sql_next_at[] =
    "UPDATE pipeline_schedules SET next_at = to_timestamp(nullif($2::bigint, 0))"
    " WHERE pipeline_id = $1"
    "   AND next_at IS DISTINCT FROM to_timestamp(nullif($2::bigint, 0))";

/* Pipelines that lost their schedule lose their row. */
static const char sql_forget[] =
    "DELETE FROM pipeline_schedules WHERE NOT (pipeline_id = ANY (ARRAY("
    "  SELECT jsonb_array_elements_text($1::jsonb)::bigint)))";

static void
rfc3339(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, len, "%lld", (long long)t);
}

struct sched_pipe {
	struct pipeline_ref	 ref;
	int			 catch_up_last;
	int64_t			 since;
};

/*
 * Fire slot of entry (its branch and params) through the same path as an
 * API run: the version at the branch head, then store_run_create().
 */
static int
fire(struct db *db, const struct sched_pipe *sp, json_t *entry, int64_t slot,
    struct err *err)
{
	const char *branch = json_string_value(json_object_get(entry, "branch"));
	const char *cron = json_string_value(json_object_get(entry, "cron"));
	const char *tz = json_string_value(json_object_get(entry, "timezone"));
	json_t *params = json_object_get(entry, "params");
	char *ptext = NULL, key[128], reason[256], at[32];
	struct run_target t;
	struct run_new rn;
	int64_t run_id;
	int created, rc;

	rfc3339(slot, at, sizeof(at));
	if (params != NULL && json_object_size(params) > 0 &&
	    (ptext = json_dumps(params, JSON_COMPACT)) == NULL)
		abort();
	rc = store_query_run_target(db, &sp->ref, branch, NULL, ptext, &t, err);
	if (rc == ERR_TRANSIENT)
		goto out;
	if (rc < 0) {
		log_warn("schedule cannot fire", "pipeline=%s repository=%s "
		    "slot=%s error=\"%s\"", sp->ref.name, sp->ref.repository,
		    at, err->msg);
		rc = 0;
		goto out;
	}
	(void)snprintf(key, sizeof(key), "schedule:%lld:%lld",
	    (long long)sp->ref.id, (long long)slot);
	(void)snprintf(reason, sizeof(reason), "schedule \"%s\" (%s) at %s",
	    cron ? cron : "", tz ? tz : "UTC", at);
	memset(&rn, 0, sizeof(rn));
	rn.version_id = t.version_id;
	rn.branch = t.branch[0] != '\0' ? t.branch : NULL;
	rn.trigger = "schedule";
	rn.params = ptext;
	rn.created_by = "schedule";
	rn.reason = reason;
	rn.idempotency_key = key;
	rn.schedule_slot = slot;
	if ((rc = store_run_create(db, &rn, &run_id, &created, err)) < 0)
		goto out;
	if (created)
		log_info("run queued", "run=%lld pipeline=%s repository=%s "
		    "trigger=schedule slot=%s branch=%s", (long long)run_id,
		    sp->ref.name, sp->ref.repository, at, t.branch);
out:
	free(ptext);
	return rc;
}

/*
 * One pipeline's schedule: fire its due slots, and its next fire time
 * into *next (0: none).
 */
static int
pipe_pass(struct db *db, const struct sched_pipe *sp, json_t *entries,
    int64_t now, int64_t *next, struct err *err)
{
	size_t i;
	json_t *entry;
	int rc = 0;

	*next = 0;
	json_array_foreach(entries, i, entry) {
		const char *expr = json_string_value(json_object_get(entry,
		    "cron"));
		const char *tz = json_string_value(json_object_get(entry,
		    "timezone"));
		struct cron_zone z;
		struct cron c;
		struct err perr;
		int64_t from, slot, n;

		memset(&z, 0, sizeof(z));
		if (expr == NULL || cron_parse(&c, expr, &perr) < 0 ||
		    cron_zone_load(&z, tz ? tz : "UTC", &perr) < 0) {
			log_warn("schedule skipped", "pipeline=%s entry=%zu "
			    "error=\"%s\"", sp->ref.name, i, expr ? perr.msg :
			    "no cron");
			continue;
		}
		from = sp->since;
		if (!sp->catch_up_last && now - SCHED_GRACE_S > from)
			from = now - SCHED_GRACE_S;
		if (cron_last(&c, &z, from, now, &slot) == 0 &&
		    (rc = fire(db, sp, entry, slot, err)) < 0) {
			cron_zone_release(&z);
			return rc;
		}
		if (cron_next(&c, &z, now, &n) == 0 && (*next == 0 || n < *next))
			*next = n;
		cron_zone_release(&z);
	}
	return rc;
}

int
sched_pass(struct db *db, int64_t now, int64_t *next, struct err *err)
{
	struct db_res *res = NULL;
	json_t *ids = json_array();
	char *ids_text = NULL;
	struct db_args a;
	size_t rows;
	int rc;

	*next = 0;
	if ((rc = db_exec(db, sql_scheduled, NULL, &res, err)) < 0)
		goto out;
	rows = db_res_rows(res);
	for (size_t r = 0; r < rows; r++) {
		struct sched_pipe sp;
		json_t *tr = NULL, *entries;
		json_error_t je;
		int64_t pnext = 0;

		memset(&sp, 0, sizeof(sp));
		if ((rc = db_res_int64(res, r, 0, &sp.ref.id, err)) < 0 ||
		    (rc = db_res_int64(res, r, 2, &sp.ref.repo_id, err)) < 0)
			goto out;
		(void)snprintf(sp.ref.name, sizeof(sp.ref.name), "%s",
		    db_res_text(res, r, 1));
		(void)snprintf(sp.ref.repository, sizeof(sp.ref.repository),
		    "%s", db_res_text(res, r, 3));
		json_array_append_new(ids, json_integer(sp.ref.id));
		if (db_res_is_null(res, r, 6) || strcmp(db_res_text(res, r, 5),
		    db_res_text(res, r, 6)) != 0) {
			/* new or changed: count from now */
			db_args_init(&a);
			db_args_int64(&a, sp.ref.id);
			db_args_str(&a, db_res_text(res, r, 5));
			db_args_int64(&a, now);
			if ((rc = db_exec(db, sql_restart, &a, NULL, err)) < 0)
				goto out;
			sp.since = now;
		} else if ((rc = db_res_int64(res, r, 7, &sp.since, err)) < 0) {
			goto out;
		}
		if ((tr = json_loads(db_res_text(res, r, 4), 0, &je)) == NULL ||
		    !json_is_array(entries = json_object_get(tr, "schedule"))) {
			json_decref(tr);
			continue;
		}
		sp.catch_up_last = json_is_string(json_object_get(tr,
		    "catch_up")) && strcmp(json_string_value(json_object_get(tr,
		    "catch_up")), "last") == 0;
		rc = pipe_pass(db, &sp, entries, now, &pnext, err);
		json_decref(tr);
		if (rc < 0)
			goto out;
		db_args_init(&a);
		db_args_int64(&a, sp.ref.id);
		db_args_int64(&a, pnext);
		if ((rc = db_exec(db, sql_next_at, &a, NULL, err)) < 0)
			goto out;
		if (pnext != 0 && (*next == 0 || pnext < *next))
			*next = pnext;
	}
	if ((ids_text = json_dumps(ids, JSON_COMPACT)) == NULL)
		abort();
	db_args_init(&a);
	db_args_str(&a, ids_text);
	rc = db_exec(db, sql_forget, &a, NULL, err);
out:
	db_res_free(res);
	json_decref(ids);
	free(ids_text);
	return rc;
}

int
engine_schedule(struct engine *e, struct err *err)
{
	int64_t now = sys_wall_ms(), next = 0, due;
	int rc;

	if (now < e->sched_due_ms) {
		due = e->sched_due_ms;
	} else {
		if ((rc = sched_pass(engine_db(e), now / 1000, &next,
		    err)) < 0)
			return rc;
		due = now + SCHED_REFRESH_MS;
		if (next != 0 && next * 1000 < due)
			due = next * 1000;
		e->sched_due_ms = due;
	}
	if (due - now < e->next_ms)
		e->next_ms = due - now > 0 ? due - now : 0;
	return 0;
}
