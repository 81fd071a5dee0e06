/*
 * status.h - the states of runs, stages, stage attempts, rollouts,
 * approvals and model versions, and the kinds of attempts, as enums, each
 * with one name table: the string PostgreSQL stores (the CHECK lists of
 * migrations/0001_lineage.sql) and the API shows.
 *
 * The store passes xxx_name() as a statement parameter whenever it writes
 * a status (store_sql.h, "Writing a status") and reads rows back with
 * xxx_parse(); the engine decides on the enums alone.  Pure: no
 * allocation, no I/O, safe from any thread.
 */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include "base/err.h"

/* runs.status: queued -> running <-> waiting_approval -> a final state. */
enum run_status {
	RUN_QUEUED = 0,
	RUN_RUNNING,
	RUN_WAITING_APPROVAL,
	RUN_SUCCEEDED,		/* final */
	RUN_FAILED,		/* final */
	RUN_CANCELED,		/* final */
};

/*
 * stages.status: pending -> submitted -> running (<-> waiting_approval for
 * a canary stage) -> a final state; a retry sends it back to pending.
 */
enum stage_status {
	STAGE_PENDING = 0,
	STAGE_SUBMITTED,
	STAGE_RUNNING,
	STAGE_WAITING_APPROVAL,
	STAGE_SUCCEEDED,	/* final */
	STAGE_FAILED,		/* final */
	STAGE_CANCELED,		/* final */
	STAGE_SKIPPED,		/* final */
};

/* stage_attempts.status: pending -> submitted -> running -> a final one. */
enum attempt_status {
	ATTEMPT_PENDING = 0,
	ATTEMPT_SUBMITTED,
	ATTEMPT_RUNNING,
	ATTEMPT_SUCCEEDED,	/* final */
	ATTEMPT_FAILED,		/* final */
	ATTEMPT_CANCELED,	/* final */
};

/* stage_attempts.kind. */
enum attempt_kind {
	ATTEMPT_JOB = 0,	/* "job": a job stage's attempt */
	ATTEMPT_CANARY_STEP,	/* "canary_step": one step of a canary */
	ATTEMPT_ROLLBACK,	/* "rollback": a canary's rollback_command */
};

/*
 * rollouts.status: progressing -> analyzing -> waiting_approval -> (next
 * step: progressing) ... -> succeeded; or rolling_back -> rolled_back, or
 * failed when the rollback itself failed.
 */
enum rollout_status {
	ROLLOUT_PROGRESSING = 0,
	ROLLOUT_ANALYZING,
	ROLLOUT_WAITING_APPROVAL,
	ROLLOUT_ROLLING_BACK,
	ROLLOUT_SUCCEEDED,	/* final */
	ROLLOUT_ROLLED_BACK,	/* final */
	ROLLOUT_FAILED,		/* final */
};

/* approvals.status: pending -> approved | rejected | expired. */
enum approval_status {
	APPROVAL_PENDING = 0,
	APPROVAL_APPROVED,
	APPROVAL_REJECTED,
	APPROVAL_EXPIRED,
};

/*
 * model_versions.status: registered -> candidate -> production ->
 * retired, or rejected (its rollout failed).
 */
enum model_status {
	MODEL_REGISTERED = 0,
	MODEL_CANDIDATE,
	MODEL_PRODUCTION,
	MODEL_RETIRED,
	MODEL_REJECTED,
};

/*
 * xxx_name(): the stored string of a value ("waiting_approval"); a value
 * outside the enum is a programmer error (abort).
 *
 * xxx_parse(): the value named s.  ERR_INVALID for NULL or any other
 * string ("unknown stage status 'x'"); *out is then unchanged.
 */
const char	*run_status_name(enum run_status s);
int		 run_status_parse(const char *s, enum run_status *out,
		    struct err *err) __attribute__((warn_unused_result));
const char	*stage_status_name(enum stage_status s);
int		 stage_status_parse(const char *s, enum stage_status *out,
		    struct err *err) __attribute__((warn_unused_result));
const char	*attempt_status_name(enum attempt_status s);
int		 attempt_status_parse(const char *s, enum attempt_status *out,
		    struct err *err) __attribute__((warn_unused_result));
const char	*attempt_kind_name(enum attempt_kind k);
int		 attempt_kind_parse(const char *s, enum attempt_kind *out,
		    struct err *err) __attribute__((warn_unused_result));
const char	*rollout_status_name(enum rollout_status s);
int		 rollout_status_parse(const char *s, enum rollout_status *out,
		    struct err *err) __attribute__((warn_unused_result));
const char	*approval_status_name(enum approval_status s);
int		 approval_status_parse(const char *s,
		    enum approval_status *out, struct err *err)
		    __attribute__((warn_unused_result));
const char	*model_status_name(enum model_status s);
int		 model_status_parse(const char *s, enum model_status *out,
		    struct err *err) __attribute__((warn_unused_result));

/* Whether a status is final (the row has finished_at and never moves). */
int	run_status_final(enum run_status s);
int	stage_status_final(enum stage_status s);
int	attempt_status_final(enum attempt_status s);
int	rollout_status_final(enum rollout_status s);

#endif
