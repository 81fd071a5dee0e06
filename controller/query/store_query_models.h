/*
 * store_query_models.h - the model registry as the REST API shows it:
 * model names with their versions and what is in production where, and
 * the versions of one model, as JSON text.
 *
 * A model:   {"name", "versions": N, "latest": {"version", "status",
 *             "uri", "created_at"}, "production": {TARGET: VERSION}}
 * A version: {"name", "version", "uri", "status", "target", "run",
 *             "pipeline", "stage", "metrics", "created_at", "promoted_at",
 *             "retired_at", "rejected_reason", "gate_metrics", "production":
 *             {"version", "target", "gate_metrics"} or null}
 *            metrics are the producing stage's; gate_metrics those the
 *            run's gates judged (run_gate_metrics() in the migrations);
 *            production is the model's version in production on the
 *            version's target (else on another target), to compare with
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_MODELS_H
#define SLUICE_STORE_QUERY_MODELS_H

#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* The statuses a model version can have, NULL-terminated. */
extern const char *const store_model_statuses[];

/* Models by name: {"models": [...], "next_cursor"}. */
int	store_query_models_list(struct db *db, const struct page_in *pg,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Versions of model name, newest first, optionally of one status:
 * {"versions": [...], "next_cursor"}.  pg->after is the last version seen.
 * ERR_NOTFOUND when the model has no version at all.
 */
int	store_query_model_versions(struct db *db, const char *name,
	    const char *status, const struct page_in *pg, struct buf *out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
