/*
 * fake_executor.h - an in-memory executor for engine unit tests.
 *
 * It behaves like a real one where the engine can tell (submit of a known
 * name adopts it, status of an unknown name is EXEC_UNKNOWN, cancel and
 * release are idempotent) and lets a test script everything else:
 *
 *	struct executor ex;
 *	struct fake_executor *fx = fake_executor_new(&ex);
 *	fake_executor_on(fx, &(struct fake_rule){ .stage = "train",
 *	    .outcome = { .log = "::metric auc=0.93\n" } });
 *	fake_executor_on(fx, &(struct fake_rule){ .stage = "eval",
 *	    .attempt = 1, .outcome = { .state = EXEC_FAILED, .exit_code = 3 } });
 *	... drive the engine with ex ...
 *	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 1);
 *	ex.ops->free(ex.impl);		(or fake_executor_free(fx))
 *
 * Attempts outlive an engine: a test that "restarts the controller" frees
 * its engine and builds a new one on the same fake, as a real executor's
 * processes or Jobs outlive the controller.
 *
 * Every function takes the fake's mutex, so logs() and the inspection
 * calls may run on any thread.  Strings returned are borrowed until the
 * fake is freed (for a forgotten attempt: until it is submitted again).
 */
#ifndef SLUICE_FAKE_EXECUTOR_H
#define SLUICE_FAKE_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "exec/executor.h"

/* How a started attempt goes. */
struct fake_outcome {
	enum exec_state	 state;		/* final state; 0 (UNKNOWN) = SUCCEEDED */
	int		 exit_code;	/* with EXEC_FAILED; 0 there means 1 */
	const char	*message;	/* NULL: "exit status N" for a failure */
	const char	*log;		/* output written when it starts */
	int		 pending;	/* status() says PENDING this many times */
	const char	*waiting_reason;	/* while PENDING */
	int		 polls;		/* then RUNNING this many times */
	int		 manual;	/* RUNNING until fake_executor_finish() */
};

/* Which attempts an outcome applies to; NULL / 0 fields match anything. */
struct fake_rule {
	const char	*stage;
	const char	*kind;		/* "job" | "canary_step" | "rollback" */
	int		 attempt;	/* 1, 2, ... */
	int		 step;		/* canary step from 1 */
	struct fake_outcome outcome;
};

/* What was submitted the first time (borrowed, copies owned by the fake). */
struct fake_attempt_info {
	const char	*name;
	const char	*pipeline;
	const char	*stage;
	const char	*kind;
	const char	*image;
	const char	*workdir;
	const char	*commit;
	int64_t		 run_id;
	int		 attempt;
	int		 step;
	int		 gpus;
	int64_t		 timeout_ms;
	size_t		 argc;
	size_t		 nenv;
	int		 nodes;		/* 1, or N of a multi-node stage: each
					   node's log is the same output */
};

struct fake_executor;

/* A new fake; fills *out.  out->ops->free (or fake_executor_free) frees it. */
struct fake_executor *fake_executor_new(struct executor *out);
void	fake_executor_free(struct fake_executor *f);

/*
 * Add a rule (copied, strings included).  The last rule added that matches
 * an attempt decides its outcome; without one it succeeds at the first
 * status() call, with no output.
 */
void	fake_executor_on(struct fake_executor *f, const struct fake_rule *r);

/* The next n calls of submit (or status) fail with code, doing nothing. */
void	fake_executor_fail_submits(struct fake_executor *f, int n, int code);
void	fake_executor_fail_status(struct fake_executor *f, int n, int code);
/* The next n calls of logs fail with ERR_TRANSIENT; calls of logs so far. */
void	fake_executor_fail_logs(struct fake_executor *f, int n);
int	fake_executor_log_calls(struct fake_executor *f);

/*
 * End a running or pending attempt now (state SUCCEEDED, FAILED or
 * CANCELED; message NULL for the default).  0, or ERR_NOTFOUND when the
 * name is unknown, ERR_CONFLICT when it has already finished.
 */
int	fake_executor_finish(struct fake_executor *f, const char *name,
	    enum exec_state state, int exit_code, const char *message);

/* Append text to an attempt's log.  0 or ERR_NOTFOUND. */
int	fake_executor_emit(struct fake_executor *f, const char *name,
	    const char *text);

/*
 * The attempt's output now comes from a new source (as a pod that
 * replaced an evicted one): logs() names it and its log starts again
 * with text.  0 or ERR_NOTFOUND.
 */
int	fake_executor_new_source(struct fake_executor *f, const char *name,
	    const char *source, const char *text);

/*
 * Forget an attempt, as an executor that lost it (status answers
 * EXEC_UNKNOWN, a submit starts it again).  Counters are kept.
 */
void	fake_executor_forget(struct fake_executor *f, const char *name);

/* Counters per name (0 for an unknown one). */
int	fake_executor_submits(struct fake_executor *f, const char *name);
int	fake_executor_starts(struct fake_executor *f, const char *name);
int	fake_executor_cancels(struct fake_executor *f, const char *name);
int	fake_executor_releases(struct fake_executor *f, const char *name);

/* Attempts ever started, and the i-th one's name in order of start. */
size_t	fake_executor_count(struct fake_executor *f);
const char *fake_executor_name(struct fake_executor *f, size_t i);

/* The state status() would report now, without counting as a poll. */
enum exec_state fake_executor_state(struct fake_executor *f, const char *name);

/* What was submitted.  0 or ERR_NOTFOUND. */
int	fake_executor_info(struct fake_executor *f, const char *name,
	    struct fake_attempt_info *out);
/* One environment variable / argument of it; NULL when absent. */
const char *fake_executor_env(struct fake_executor *f, const char *name,
	    const char *var);
const char *fake_executor_arg(struct fake_executor *f, const char *name,
	    size_t i);

#endif
