/*
 * store_engine.h - the engine's view of the database in one query: every
 * started run (running or waiting_approval) with its stages, each stage's
 * latest attempt, a canary stage's rollout and the approval of its
 * current step.  The engine loads it at the start of each reconcile pass
 * and decides from it alone (docs/engine.md).
 *
 * Strings are borrowed from the snapshot until store_snapshot_release();
 * the statuses are enums (store/status.h) the engine updates as it goes.
 * The kind and status of an attempt, rollout or approval whose id is 0
 * (none) are 0 and mean nothing.
 */
#ifndef SLUICE_STORE_ENGINE_H
#define SLUICE_STORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/status.h"

struct db;
struct db_res;

/* A kept log's head as read (struct log_head of store_log.h, borrowed). */
struct snap_log {
	int		 exists;	/* a row was found */
	const char	*source;
	int64_t		 offset, bytes, lines, dropped;
	int		 mid_line, open_line, complete;
};

struct snap_attempt {
	int64_t		 id;		/* 0: the stage has no attempt */
	enum attempt_kind kind;
	int		 step;
	int		 attempt;
	int		 weight;	/* -1 when NULL */
	int		 gpus;
	enum attempt_status status;
	const char	*job_name;
	int64_t		 started_ms;	/* 0 when not yet */
	int64_t		 finished_ms;
	const char	*message;
	/* Kueue, as last recorded (migrations/0003_kueue.sql) */
	const char	*queue;		/* or NULL */
	const char	*flavor;	/* or NULL */
	int64_t		 admitted_ms;	/* 0 when never */
	int		 evictions;
	int		 nodes;		/* of a multi-node stage, else 1 */
	/*
	 * The head of node 0's kept log (store_log.h), read with the
	 * snapshot for an active attempt (log0_read): where the engine
	 * goes on reading without asking.
	 */
	int		 log0_read;
	struct snap_log	 log0;
};

struct snap_rollout {
	int64_t		 id;		/* 0: none */
	enum rollout_status status;
	int		 step;		/* current_step */
	int		 weight;
	int64_t		 analysis_ms;	/* analysis_started_at, 0 = none */
	int64_t		 model_id;	/* candidate, 0 = none */
	const char	*prev_uri;	/* previous production's URI or NULL */
	const char	*message;
	const char	*action;	/* asked: "abort", "promote_full", NULL */
	const char	*action_reason;	/* who asked and why */
	const char	*paused_by;	/* NULL: not paused */
	int64_t		 paused_ms;	/* held during this analysis window */
};

struct snap_approval {
	int64_t		 id;		/* 0: none for the current step */
	enum approval_status status;
	int64_t		 expires_ms;
	const char	*decided_by;
	const char	*comment;
};

struct snap_stage {
	int64_t			 id;
	const char		*name;
	const char		*type;
	enum stage_status	 status;
	const char		*waiting_reason;
	const char		*message;
	int64_t			 reused_from;	/* 0 = none */
	struct snap_attempt	 att;		/* the latest attempt */
	struct snap_rollout	 ro;
	struct snap_approval	 ap;
};

struct snap_run {
	int64_t			 id;
	int64_t			 pipeline_id;
	int64_t			 version_id;
	enum run_status		 status;
	const char		*pipeline;	/* name */
	const char		*repo;		/* repository name */
	const char		*commit;	/* sha */
	const char		*branch;	/* or NULL */
	const char		*trigger;
	const char		*params;	/* JSON object */
	int			 cancel;	/* a cancel was requested */
	const char		*cancel_by;
	struct snap_stage	*stages;	/* in position order */
	size_t			 nstages;
};

struct snapshot {
	struct snap_run		*runs;		/* oldest first */
	size_t			 nruns;
	struct snap_stage	*stages;	/* all of them, by run */
	size_t			 nstages;
	int64_t			 now_ms;	/* the database's clock */
	struct db_res		*res;		/* owns the strings */
};

/*
 * Load the snapshot into *s.  Errors as db_exec(); ERR_INVALID for a row
 * the engine cannot read (a status or kind not in status.h among them).  Blocks on the database.
 */
int	store_snapshot_load(struct db *db, struct snapshot *s,
	    struct err *err) __attribute__((warn_unused_result));
void	store_snapshot_release(struct snapshot *s);

/* The canonical JSON of a pipeline version (*out owned, free()). */
int	store_version_definition(struct db *db, int64_t version_id,
	    char **out, struct err *err) __attribute__((warn_unused_result));

/*
 * Of the n run ids in ids, those that are finished (for cleaning work
 * directories after a crash): *done receives a malloc'ed array of *ndone
 * ids.
 */
int	store_runs_finished(struct db *db, const int64_t *ids, size_t n,
	    int64_t **done, size_t *ndone, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Job names of attempts that finished in the last `since_ms`, for a
 * restarted engine to release what its predecessor may not have.
 * *names is a malloc'ed array of malloc'ed strings.
 */
int	store_attempts_recently_finished(struct db *db, int64_t since_ms,
	    char ***names, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));

#endif
