/*
 * exec_local_int.h - what the controller side of the local executor
 * (exec_local.c) and its supervisor process (exec_supervise.c) share: the
 * files of an attempt directory and small helpers to read and write them.
 * Nothing else includes it.
 *
 * An attempt directory holds (see docs/executors.md):
 *	lock		flock held by the supervisor for its whole life
 *	identity	run, pipeline, stage, attempt, step, commit (adoption
 *			checks that a reused name is the same attempt)
 *	spec.json	what to run: argv, env, workdir, timeout, grace, log cap
 *	supervisor.pid	the supervisor's pid, for people and scripts
 *	started		unix ms; created under the lock just before the command
 *			starts, so a command runs only when it is absent
 *	pgid		"PGID STARTTIME BOOTID" of the command's process group
 *	log		stdout and stderr of the command, and [sluice] notes
 *	cancel		created by cancel(); the supervisor polls for it
 *	status		the outcome, key=value lines, written atomically
 *	work/		the working directory when the attempt has no workdir
 *
 * Beside them, .wake/ holds one FIFO per controller (exec_local_wake.c).
 */
#ifndef SLUICE_EXEC_LOCAL_INT_H
#define SLUICE_EXEC_LOCAL_INT_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec/executor.h"

#define EXL_LOCK	"lock"
#define EXL_IDENTITY	"identity"
#define EXL_SPEC	"spec.json"
#define EXL_SUPERVISOR	"supervisor.pid"
#define EXL_STARTED	"started"
#define EXL_PGID	"pgid"
#define EXL_LOG		"log"
#define EXL_CANCEL	"cancel"
#define EXL_STATUS	"status"
#define EXL_WORK	"work"

/* Beside the attempt directories: one FIFO per controller (exec_local_wake.c). */
#define EXL_WAKE_DIR	".wake"

/* The fd on which the supervisor receives the attempt's lock. */
#define EXL_LOCK_FD	3

/* dir/name into out; ERR_TOOBIG when it does not fit. */
int	exl_path(char *out, size_t outlen, const char *dir, const char *name)
	    __attribute__((warn_unused_result));

/* Whether dir/name exists. */
int	exl_exists(const char *dir, const char *name);

/*
 * Read the whole of dir/name into out (NUL-terminated, at most outlen - 1
 * bytes).  0, ERR_NOTFOUND when it does not exist, ERR_TOOBIG when it is
 * longer, ERR_GENERIC on another error (errno kept).
 */
int	exl_read(const char *dir, const char *name, char *out, size_t outlen)
	    __attribute__((warn_unused_result));

/*
 * Replace dir/name with data atomically (a temporary file, fsync, rename).
 * 0 or ERR_GENERIC (errno kept).
 */
int	exl_write(const char *dir, const char *name, const char *data,
	    size_t len) __attribute__((warn_unused_result));

/*
 * The value of "key=value" line key in text into out (truncated to fit).
 * 0, or ERR_NOTFOUND when there is no such line.
 */
int	exl_kv(const char *text, const char *key, char *out, size_t outlen);

/* A decimal integer, or dflt when s is not one. */
int64_t	exl_i64(const char *s, int64_t dflt);

/*
 * From /proc/PID/stat: the state letter ('R', 'S', 'Z', ...), parent,
 * process group and start time (clock ticks since boot); any may be NULL.
 * 0, ERR_NOTFOUND when there is no such process, ERR_INVALID.
 */
int	exl_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp,
	    unsigned long long *starttime) __attribute__((warn_unused_result));

/* The kernel's boot id (changes on reboot) into out (>= 40 bytes). */
int	exl_boot_id(char *out, size_t outlen)
	    __attribute__((warn_unused_result));

/* Record pid (a new process group leader) as the group of the attempt. */
int	exl_pgid_write(const char *dir, pid_t pid)
	    __attribute__((warn_unused_result));

/*
 * SIGKILL the process group recorded in dir/pgid, if it can still be ours:
 * same boot, and its leader either gone (the group's id cannot have been
 * reused while members remain) or still the process that was recorded.
 * Returns whether a signal was sent.
 */
int	exl_kill_recorded_group(const char *dir);

/*
 * Write dir/status: the outcome of the attempt (message may be NULL;
 * newlines in it become spaces).  0 or ERR_GENERIC.
 */
int	exl_status_write(const char *dir, enum exec_state state, int exit_code,
	    int64_t started_at, int64_t finished_at, const char *message)
	    __attribute__((warn_unused_result));

/* Read dir/status into out.  0, ERR_NOTFOUND, or ERR_INVALID. */
int	exl_status_read(const char *dir, struct exec_status *out)
	    __attribute__((warn_unused_result));

/*
 * Wake the controllers (exec_local_wake.c): one byte into every FIFO of
 * the .wake directory beside attempt directory dir.  Best effort, never
 * blocks; the caller ignores SIGPIPE.  The supervisor calls it after it
 * writes DIR/started and DIR/status.
 */
void	exl_wake_notify(const char *dir);

/* The controller's end: a FIFO read by a thread that calls wake(arg). */
struct exl_waker {
	pthread_mutex_t	 mu;		/* wake, arg */
	void		(*wake)(void *arg);
	void		*arg;
	int		 running;	/* the thread runs */
	pthread_t	 thread;
	int		 fifo;
	int		 stop_r, stop_w;
	char		 path[4096];	/* attempts/.wake/<pid> */
};

void	exl_waker_init(struct exl_waker *w);

/*
 * Set (or, wake NULL, clear) the callback; the first one makes the FIFO
 * under attempts/.wake and starts the thread.  1 when wakes will come,
 * 0 when they cannot (logged; the engine then polls).  Once it returns,
 * an old callback is neither called nor running.
 */
int	exl_waker_set(struct exl_waker *w, const char *attempts,
	    void (*wake)(void *arg), void *arg);

/* Stop the thread, remove the FIFO. */
void	exl_waker_release(struct exl_waker *w);

#endif
