/*
 * store_webhook.h - webhook deliveries (table webhook_deliveries).  The
 * repositories a push refreshes are store_repo.h's (store_repo_watching,
 * store_repo_request_refresh_id).
 *
 * A delivery is recorded with the answer it got, so a repeated delivery
 * gets the same answer again.  store_webhook_record() is meant to run in
 * the caller's transaction together with the work the delivery caused
 * (db_begin ... db_commit): when a row for the same (source, delivery id)
 * exists already, nothing is inserted, and the caller rolls its work back.
 * Each recorded delivery also appends an event (entity_type 'webhook',
 * action 'received').
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_WEBHOOK_H
#define SLUICE_STORE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"

struct db;

struct webhook_record {
	const char	*source;	/* "github" or "sluice" */
	const char	*delivery_id;
	const char	*event;		/* "push", "ping", "retrain", ... */
	int64_t		 pipeline_id;	/* 0: none */
	int64_t		 repository_id;	/* 0: none */
	int64_t		 run_id;	/* 0: none */
	int		 status;	/* the HTTP status answered */
	const char	*response;	/* the JSON object answered */
	const char	*actor;		/* for the event */
};

/*
 * The answer recorded for (source, delivery_id): *found is 1 and *status
 * and *response (a new string, caller frees) are set, or *found is 0.
 */
int	store_webhook_find(struct db *db, const char *source,
	    const char *delivery_id, int *found, int *status, char **response,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Record a delivery.  *inserted is 1 when it is new, and *response then
 * holds the stored answer as the database renders it (a new string); 0
 * when the delivery was there already (*response NULL).  Errors:
 * ERR_INVALID for a response that is not JSON or an out-of-range value.
 */
int	store_webhook_record(struct db *db, const struct webhook_record *w,
	    int *inserted, char **response, struct err *err)
	    __attribute__((warn_unused_result));

#endif
