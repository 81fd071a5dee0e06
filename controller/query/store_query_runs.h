/*
 * store_query_runs.h - runs as the REST API shows them (docs/api.yaml), built
 * as JSON by PostgreSQL: the list, one run in detail in one statement,
 * its lineage graph, and where the log of a stage attempt is.
 *
 * A run in a list:
 *	{"id", "pipeline", "repository", "pipeline_version", "status",
 *	 "message", "commit": {"sha", "message", "author", "author_email",
 *	 "time"}, "branch", "trigger", "params", "parent_run", "created_by",
 *	 "reason", "cancel_requested_at", "cancel_requested_by",
 *	 "created_at", "started_at", "finished_at",
 *	 "stages": [{"name", "status"}]}
 * In detail the stages are whole:
 *	{"name", "type", "status", "needs", "position", "waiting_reason",
 *	 "message", "reused_from_run", "started_at", "finished_at",
 *	 "attempts": [{"attempt", "kind", "step", "weight", "status", "job",
 *	   "executor", "gpus", "node", "submitted_at", "started_at",
 *	   "finished_at", "exit_code", "message", "image_id",
 *	   "gpu_product"}],
 *	 "metrics": {NAME: latest value}, "artifacts": {NAME: latest URI}}
 * (a stage a retry reused shows the attempts, metrics and artifacts of
 * the stage it reused), plus
 *	"approvals": [{"id", "run", "stage", "step", "weight", "target",
 *	  "status", "requested_at", "expires_at", "decided_by", "decided_at",
 *	  "comment"}],
 *	"model_versions": [{"name", "version", "uri", "status", "target",
 *	  "stage", "metrics", "created_at", "promoted_at", "retired_at"}],
 *	"rollouts": [{"id", "stage", "attempt", "target", "status", "steps",
 *	  "current_step", "current_weight", "model", "previous_model",
 *	  "analysis_started_at", "message", "started_at", "finished_at"}],
 *	"retries": [run ids]
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_RUNS_H
#define SLUICE_STORE_QUERY_RUNS_H

#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/* The statuses a run can have, NULL-terminated (for ?status=). */
extern const char *const store_run_statuses[];

/* Filters of the run list. */
struct runs_filter {
	const char	*pipeline;	/* name (in any repository), or NULL */
	const char	*status;	/* one of store_run_statuses, or NULL */
};

/*
 * Runs newest first (by id, keyset): {"runs": [...], "next_cursor"}.
 * pg->after is the id of the last run seen (decimal text) or NULL.
 */
int	store_query_runs_list(struct db *db, const struct runs_filter *f,
	    const struct page_in *pg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The statement store_query_runs_list runs for f, with its parameters
 * $1 (the last id seen, INT64_MAX for the first page), $2 (limit),
 * $3 and $4 (the filters given, pipeline first).  For EXPLAIN in tests
 * and for pgbench in bench/bench_api.c.
 */
const char *store_query_runs_sql(const struct runs_filter *f);

/* One run in detail, one statement (new string in *json).  ERR_NOTFOUND. */
int	store_query_run_get(struct db *db, int64_t id, char **json,
	    struct err *err) __attribute__((warn_unused_result));

/* The statement of store_query_run_get ($1 = run id), for the bench. */
extern const char store_query_run_sql[];

/*
 * For the tests: every run's id, its list document as the run's detail
 * builds it (RUN_FIELDS and the stage marks) and the one kept with the
 * run (runs.summary), which lists answer; the two are the same text
 * whatever wrote the run.
 */
extern const char store_query_run_summary_sql[];

/*
 * The lineage of a run as a graph (new string in *json):
 *	{"run": ID, "nodes": [{"id", "type", "label", ...}],
 *	 "edges": [{"from", "to", "kind"}]}
 * Node ids: "commit:<sha>", "pipeline_version:<id>", "run:<id>",
 * "stage:<id>", "artifact:<id>", "model_version:<id>", "rollout:<id>".
 * A stage node lists its attempts with where they ran ("image_id",
 * "node", "gpu_product"); a model version node says the same of the
 * attempt that registered it.
 * Edges run from cause to effect: commit → pipeline version → run →
 * stages (and stage → stage for needs, kind "needs") → artifacts → model
 * versions → rollouts; a retry's parent run → run (kind "retry"); the
 * production model a rollout replaces → rollout (kind "previous").
 * ERR_NOTFOUND.
 */
int	store_query_run_lineage(struct db *db, int64_t id, char **json,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Lineage from a commit: prefix is 7 to 64 lowercase hex digits (checked
 * by the caller), the start of one commit's SHA.  Into *json (new string):
 *	{"commit": {"sha", "message", "author", "author_email", "time",
 *	   "repositories": [names]},
 *	 "pipeline_versions": [{"id", "pipeline", "repository", "file",
 *	   "valid", "errors"}],
 *	 "runs": [runs as in a list, the commit's and their retries],
 *	 "attempts": [{"run", "stage", "attempt", "kind", "step", "status",
 *	   "job", "executor", "image_id", "node", "gpu_product",
 *	   "started_at", "finished_at"}],
 *	 "artifacts": [{"id", "run", "stage", "name", "uri", "model_name"}],
 *	 "model_versions": [{"run", ...as in a run}],
 *	 "rollouts": [{"run", ...as in a run}],
 *	 "approvals": [as in a run]}
 * ERR_NOTFOUND when no commit starts with prefix; ERR_CONFLICT when
 * several do, the message naming up to 10 of them.
 */
int	store_query_commit_lineage(struct db *db, const char *prefix,
	    char **json, struct err *err) __attribute__((warn_unused_result));

/* The document statement of store_query_commit_lineage ($1 = a whole SHA). */
extern const char store_query_commit_lineage_sql[];

/* Where the log of one stage attempt is, for the log view. */
struct log_source {
	int64_t	 attempt_id;		/* 0: the stage has no such attempt yet */
	int	 attempt;
	int	 step;
	char	 job[LIM_NAME + 1];
	char	 executor[16];		/* "local" | "kubernetes" */
	char	 log_path[LIM_PATH];	/* "" when none recorded */
	int	 attempt_done;		/* the attempt has finished */
	int	 stage_done;		/* the stage has finished */
	int	 nodes;			/* nodes of the attempt (one log each) */
};

/*
 * The attempt of stage of run: number attempt (0: the latest), canary
 * step step (-1: any), the newest such row.  ERR_NOTFOUND for an unknown
 * run or stage, with the message naming which.  No attempt is not an
 * error: out->attempt_id is then 0.
 */
int	store_query_log_source(struct db *db, int64_t run_id,
	    const char *stage, int attempt, int step, struct log_source *out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
