/* status.c - the status name tables; see status.h. */
#include <stddef.h>
#include <string.h>

#include "store/status.h"

static const char *const run_names[] = {
	[RUN_QUEUED] = "queued",
	[RUN_RUNNING] = "running",
	[RUN_WAITING_APPROVAL] = "waiting_approval",
	[RUN_SUCCEEDED] = "succeeded",
	[RUN_FAILED] = "failed",
	[RUN_CANCELED] = "canceled",
};

static const char *const stage_names[] = {
	[STAGE_PENDING] = "pending",
	[STAGE_SUBMITTED] = "submitted",
	[STAGE_RUNNING] = "running",
	[STAGE_WAITING_APPROVAL] = "waiting_approval",
	[STAGE_SUCCEEDED] = "succeeded",
	[STAGE_FAILED] = "failed",
	[STAGE_CANCELED] = "canceled",
	[STAGE_SKIPPED] = "skipped",
};

static const char *const attempt_names[] = {
	[ATTEMPT_PENDING] = "pending",
	[ATTEMPT_SUBMITTED] = "submitted",
	[ATTEMPT_RUNNING] = "running",
	[ATTEMPT_SUCCEEDED] = "succeeded",
	[ATTEMPT_FAILED] = "failed",
	[ATTEMPT_CANCELED] = "canceled",
};

static const char *const kind_names[] = {
	[ATTEMPT_JOB] = "job",
	[ATTEMPT_CANARY_STEP] = "canary_step",
	[ATTEMPT_ROLLBACK] = "rollback",
};

static const char *const rollout_names[] = {
	[ROLLOUT_PROGRESSING] = "progressing",
	[ROLLOUT_ANALYZING] = "analyzing",
	[ROLLOUT_WAITING_APPROVAL] = "waiting_approval",
	[ROLLOUT_ROLLING_BACK] = "rolling_back",
	[ROLLOUT_SUCCEEDED] = "succeeded",
	[ROLLOUT_ROLLED_BACK] = "rolled_back",
	[ROLLOUT_FAILED] = "failed",
};

static const char *const approval_names[] = {
	[APPROVAL_PENDING] = "pending",
	[APPROVAL_APPROVED] = "approved",
	[APPROVAL_REJECTED] = "rejected",
	[APPROVAL_EXPIRED] = "expired",
};

static const char *const model_names[] = {
	[MODEL_REGISTERED] = "registered",
	[MODEL_CANDIDATE] = "candidate",
	[MODEL_PRODUCTION] = "production",
	[MODEL_RETIRED] = "retired",
	[MODEL_REJECTED] = "rejected",
};

static const char *
name_of(const char *const *names, size_t n, int v)
{
	BUG_ON(v < 0 || (size_t)v >= n || names[v] == NULL);
	return names[v];
}

static int
parse(const char *const *names, size_t n, const char *what, const char *s,
    int *out, struct err *err)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], s) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return err_set(err, ERR_INVALID, "unknown %s '%.64s'", what,
	    s != NULL ? s : "(null)");
}

/* The name and parse functions of one enum over its table. */
#define NAME_TABLE(type, names, what)					\
const char *								\
type##_name(enum type v)						\
{									\
	return name_of(names, sizeof(names) / sizeof(names[0]), (int)v); \
}									\
									\
int									\
type##_parse(const char *s, enum type *out, struct err *err)		\
{									\
	int v = 0, rc;							\
									\
	if ((rc = parse(names, sizeof(names) / sizeof(names[0]), what, s, \
	    &v, err)) == 0)						\
		*out = (enum type)v;					\
	return rc;							\
}

NAME_TABLE(run_status, run_names, "run status")
NAME_TABLE(stage_status, stage_names, "stage status")
NAME_TABLE(attempt_status, attempt_names, "attempt status")
NAME_TABLE(attempt_kind, kind_names, "attempt kind")
NAME_TABLE(rollout_status, rollout_names, "rollout status")
NAME_TABLE(approval_status, approval_names, "approval status")
NAME_TABLE(model_status, model_names, "model status")

int
run_status_final(enum run_status s)
{
	return s == RUN_SUCCEEDED || s == RUN_FAILED || s == RUN_CANCELED;
}

int
stage_status_final(enum stage_status s)
{
	return s == STAGE_SUCCEEDED || s == STAGE_FAILED ||
	    s == STAGE_CANCELED || s == STAGE_SKIPPED;
}

int
attempt_status_final(enum attempt_status s)
{
	return s == ATTEMPT_SUCCEEDED || s == ATTEMPT_FAILED ||
	    s == ATTEMPT_CANCELED;
}

int
rollout_status_final(enum rollout_status s)
{
	return s == ROLLOUT_SUCCEEDED || s == ROLLOUT_ROLLED_BACK ||
	    s == ROLLOUT_FAILED;
}
