/*
 * schedule.h - schedule triggers (spec.triggers.schedule): the active
 * controller's engine fires each due slot of each live pipeline's newest
 * valid definition as a run with trigger `schedule`
 * (docs/pipeline-reference.md, "Schedules").
 *
 * Each fire is one store_run_create() (run, stages, event and NOTIFY in
 * one statement) at the head of the entry's branch, with the idempotency
 * key "schedule:PIPELINE_ID:SLOT" and runs.schedule_slot unique per
 * pipeline: a slot fires once whatever restarts, failovers or replicas
 * happen.  A slot is due while it is less than SCHED_GRACE_S old
 * (catch_up: none: older slots were missed and are skipped) or, with
 * catch_up: last, when it is the newest slot since the schedule was first
 * seen (pipeline_schedules.since).  The next fire time is written to
 * pipeline_schedules.next_at for the API.
 */
#ifndef SLUICE_SCHEDULE_H
#define SLUICE_SCHEDULE_H

#include <stdint.h>

#include "base/err.h"

#define SCHED_GRACE_S		60	/* a slot this late still fires */
#define SCHED_REFRESH_MS	10000	/* new definitions seen this soon */

struct db;
struct engine;

/*
 * Fire what is due at now (Unix seconds; the caller's clock, so tests
 * choose it) and record the next fire times; *next receives the earliest
 * of them (0: no schedule).  An entry that cannot fire (its branch not
 * polled yet, the file invalid at its head, a time zone gone from the
 * system) is logged and skipped.  ERR_TRANSIENT on a database failure.
 * Blocks on the database.
 */
int	sched_pass(struct db *db, int64_t now, int64_t *next, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The engine's part, called by the holder of the engine lock after each
 * pass: runs sched_pass() on the wall clock when a slot or the refresh is
 * due, and lowers the engine's next wake-up to it.
 */
int	engine_schedule(struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));

#endif
