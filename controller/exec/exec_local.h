/*
 * exec_local.h - the local executor: each stage attempt is a process group
 * on this machine, watched by a small supervisor process of its own.
 *
 * Every attempt has a directory state_dir/attempts/<name>/ (docs/
 * executors.md lists its files).  submit() starts a supervisor: bin/sluice
 * re-executed as the hidden command `sluice __supervise DIR`, in a session
 * of its own, no longer a child of the controller.  The supervisor runs the
 * stage command in a new process group in the run's checkout, relays its
 * stdout and stderr into DIR/log (capped at LIM_STAGE_LOG), enforces the
 * timeout, obeys a cancel, kills whatever the command left behind when it
 * ends, and writes DIR/status atomically.  It holds an flock on DIR/lock
 * for its whole life, so "the lock is held" means "a supervisor is alive".
 *
 * A supervisor outlives the controller: after a crash (kill -9) and a
 * restart, submit() and status() find the attempt by name and adopt it;
 * nothing runs twice.  A supervisor that died itself (kill -9, reboot) is
 * noticed by status() or cancel(), which kill the stage's process group if
 * it is still there and record the attempt as failed ("supervisor died").
 * The controller stopping (SIGTERM) leaves the attempts running on
 * purpose; `make run` cancels them when the demo stops (scripts/run.sh).
 *
 * How the ops behave here:
 *	submit	ERR_INVALID for a bad name, no command, a workdir that is
 *		not a directory, or a name already used by another run
 *		(identity differs); ERR_TRANSIENT when files or the
 *		supervisor cannot be created.  Blocks only for the
 *		supervisor's first process to fork (milliseconds).
 *	status	PENDING ("starting") until the command started; a crash
 *		before the supervisor started leaves EXEC_UNKNOWN, so the
 *		engine submits again.  A command killed by signal N has
 *		exit_code 128 + N; one that could not start, 127.  May
 *		write the status of an attempt whose supervisor died.
 *	logs	reads DIR/log (node i > 0: DIR/log.<i>); source is "".
 *	cancel	asynchronous: the supervisor stops the group (SIGTERM,
 *		SIGKILL after the grace) within a moment; status says
 *		RUNNING until then.
 *	release	ERR_CONFLICT while running; keeps log, status, identity.
 */
#ifndef SLUICE_EXEC_LOCAL_H
#define SLUICE_EXEC_LOCAL_H

#include <stdint.h>

#include "base/err.h"
#include "exec/executor.h"

/* The hidden command of bin/sluice that runs one attempt's supervisor. */
#define EXEC_LOCAL_SUPERVISE_CMD	"__supervise"

/* Default delay between SIGTERM and SIGKILL on timeout or cancel. */
#define EXEC_LOCAL_GRACE_MS		10000

struct exec_local_opts {
	const char	*state_dir;	/* required; created if missing */
	/*
	 * The program to run as `PROGRAM __supervise DIR`; NULL means
	 * /proc/self/exe (bin/sluice itself).  Tests pass a binary whose
	 * main() also dispatches EXEC_LOCAL_SUPERVISE_CMD.
	 */
	const char	*program;
	int64_t		 kill_grace_ms;	/* 0 = EXEC_LOCAL_GRACE_MS */
	int64_t		 log_max;	/* bytes of log kept; 0 = LIM_STAGE_LOG */
};

/*
 * Fill *out with a local executor keeping its files under state_dir
 * (relative paths are made absolute now).  out->ops->free releases it;
 * freeing it never stops a running attempt.  Errors: ERR_GENERIC when the
 * directory cannot be created.  Does not block.
 */
int	exec_local_new(struct executor *out, const char *state_dir,
	    struct err *err) __attribute__((warn_unused_result));
int	exec_local_new_opts(struct executor *out,
	    const struct exec_local_opts *opts, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The supervisor: `sluice __supervise DIR` (argv[0] is the command name),
 * started by submit() with the attempt's lock held on fd 3.  Not for
 * people.  Returns the process exit status.
 */
int	exec_local_supervise(int argc, char **argv);

#endif
