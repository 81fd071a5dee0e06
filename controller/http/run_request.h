/*
 * run_request.h - starting a run on request: POST /api/v1/pipelines/
 * {name}/runs (trigger "api") and the signed retrain webhook (trigger
 * "webhook") go through the same steps:
 *
 *   1. the pipeline (store_query_pipeline_find; the caller does this to
 *      tell "ambiguous" from other conflicts), which must not be deleted;
 *   2. where: a branch's processed head, a known commit, or the head of
 *      the repository's first branch (store_query_run_target), where the
 *      pipeline's version must be valid and declare every param given;
 *   3. for a webhook, the version must allow it (spec.triggers.webhook);
 *   4. store_run_create with the params as overrides of the version's
 *      defaults, the caller as created_by, and the idempotency key, so a
 *      repeated request gives the run made the first time.
 *
 * Errors: ERR_UNPROCESSABLE naming why the run cannot start (HTTP 422),
 * ERR_INVALID for malformed input, else as the store calls.
 */
#ifndef SLUICE_RUN_REQUEST_H
#define SLUICE_RUN_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct ctl;
struct db;
struct pipeline_ref;
struct retrain_request;
struct retrain_result;

struct run_request {
	const char		*trigger;	/* "api" | "webhook" */
	const char		*ref;		/* branch, or NULL */
	const char		*commit;	/* sha or prefix, or NULL */
	const char *const	*param_names;	/* nparams of each */
	const char *const	*param_values;
	size_t			 nparams;
	const char		*reason;	/* or NULL */
	const char		*actor;		/* token name, "webhook" */
	const char		*idempotency_key; /* or NULL */
};

/*
 * Start a run of p as rq asks.  *run_id receives it; *created is 0 when
 * the idempotency key named an existing run (then *run_id is that run).
 * Blocks on the database; may run inside the caller's transaction.
 */
int	run_request_start(struct db *db, const struct pipeline_ref *p,
	    const struct run_request *rq, int64_t *run_id, int *created,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * ctl->retrain (webhook.h): a run of rq->pipeline at the head of its
 * repository's first branch, trigger "webhook", idempotency key
 * "hook:<delivery id>".  A pipeline name used in several repositories is
 * ERR_CONFLICT; a pipeline whose spec.triggers.webhook is false,
 * ERR_UNPROCESSABLE.
 */
int	run_request_retrain(struct ctl *ctl, struct db *db,
	    const struct retrain_request *rq, struct retrain_result *out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
