/*
 * executor.h - where stage attempts run: the ops table every executor
 * implements (a small ops table, see docs/style.md), and the types the engine hands it.
 *
 * Two implementations: exec_local.c (a process group per attempt on this
 * machine, the default) and exec_kube.c (a Kubernetes Job per attempt).
 * Unit tests plug in tests/fakes/fake_executor.c.  The engine never knows
 * which one it drives.
 *
 * Crash safety.  The engine writes the attempt row (with its deterministic
 * name) before calling submit, so after a crash it calls submit again for
 * an attempt it cannot tell was submitted.  Every operation is therefore
 * idempotent by attempt name:
 *	submit	of a name that already exists adopts it (returns 0);
 *	status	of a name never submitted answers EXEC_UNKNOWN;
 *	cancel	of a finished or unknown name succeeds;
 *	release	of an unknown name succeeds.
 * An executor keeps no state the engine relies on across restarts other
 * than what it can find again by name (a supervisor's files, a Job).
 *
 * Threads: the engine calls an executor from its one loop thread, logs()
 * included: the engine keeps every attempt's log in PostgreSQL
 * (store/store_log.h) and the HTTP threads read it from there, never
 * from the executor.
 */
#ifndef SLUICE_EXECUTOR_H
#define SLUICE_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/podsec.h"

/* One NAME=VALUE of the stage's environment (docs/pipeline-reference.md, "Stage protocol"). */
struct exec_env {
	const char	*name;
	const char	*value;
};

/* A toleration, node selector entry or volume, as in the pipeline. */
struct exec_kv {
	const char	*key;
	const char	*value;
};

struct exec_toleration {
	const char	*key;
	const char	*op;		/* "Exists" | "Equal" */
	const char	*value;		/* NULL with Exists */
	const char	*effect;	/* NULL = all effects */
	int64_t		 seconds;	/* tolerationSeconds, -1 = unset */
};

struct exec_volume {
	const char	*claim;		/* PersistentVolumeClaim name */
	const char	*mount;		/* absolute path in the container */
	int		 read_only;
};

/*
 * Everything needed to start one attempt.  All pointers are borrowed for
 * the duration of the call.
 */
struct exec_attempt {
	/* identity */
	const char	*name;		/* sluice-<run>-<stage>-<attempt>[-s<step>],
					   a DNS-1123 label <= 63 chars, unique */
	int64_t		 run_id;
	const char	*pipeline;
	const char	*stage;
	int		 attempt;	/* 1, 2, ... */
	int		 step;		/* canary step from 1; 0 for a job */
	const char	*kind;		/* "job" | "canary_step" | "rollback" */

	/* what to run */
	const char	*image;		/* ignored by the local executor */
	const char *const *argv;	/* command after ${...} substitution */
	size_t		 argc;
	const struct exec_env *env;	/* SLUICE_* and the stage's env */
	size_t		 nenv;
	int64_t		 timeout_ms;	/* 0 = none */

	/* where and with what (Kubernetes; local ignores most) */
	const char	*cpu;		/* quantity text or NULL */
	const char	*memory;
	int		 gpus;
	const char	*gpu_resource;	/* "nvidia.com/gpu" */
	const struct exec_kv *node_selector;
	size_t		 nnode_selector;
	const struct exec_toleration *tolerations;
	size_t		 ntolerations;
	const char	*queue;		/* Kueue LocalQueue or NULL */
	const char	*priority_class;
	const struct exec_volume *volumes;
	size_t		 nvolumes;

	/* checkout */
	const char	*workdir;	/* local: the run's checkout directory */
	const char	*repo_url;	/* kubernetes checkout: clone URL */
	const char	*commit;	/* the pinned commit (hex) */
	int		 checkout;	/* pipeline's checkout: true */

	/* pod identity (Kubernetes; the local executor ignores them) */
	const char	*service_account;	/* NULL: the namespace's */
	const struct podsec *security_context;	/* NULL or set 0: the
						   cluster default */
	const char	*checkout_secret;	/* Secret with the repository's
						   credentials, or NULL */
	/*
	 * Multi-node: how many nodes run the command together (1 = a single
	 * node; 0 is read as 1).  With more, each node also gets
	 * SLUICE_NODE_RANK, SLUICE_NUM_NODES, SLUICE_MASTER_ADDR and
	 * SLUICE_MASTER_PORT from the executor; gpus, cpu and memory are per
	 * node.  Any node failing fails the attempt.
	 */
	int		 nodes;
};

enum exec_state {
	EXEC_UNKNOWN = 0,	/* never submitted, or forgotten */
	EXEC_PENDING,		/* accepted, not running yet (queued, unschedulable) */
	EXEC_RUNNING,
	EXEC_SUCCEEDED,		/* exit status 0 */
	EXEC_FAILED,		/* non-zero exit, killed, deadline, eviction */
	EXEC_CANCELED,		/* cancel() took effect */
};

struct exec_status {
	enum exec_state	 state;
	int		 exit_code;	/* -1 when not known */
	int64_t		 started_at;	/* unix ms, 0 = not yet */
	int64_t		 finished_at;	/* unix ms, 0 = not yet */
	char		 message[512];	/* why it failed ("timeout after 5m") */
	char		 waiting_reason[512];	/* why it is pending, if known */

	/* where it ran, as the executor saw it ("" = not known) */
	char		 image_id[256];	/* the image the container really ran
					   (Kubernetes imageID: a digest) */
	char		 node_name[256];	/* the node (a host name locally) */
	char		 gpu_product[128];	/* the node's nvidia.com/gpu.product
						   label, for a GPU stage */
	/* Kueue (a Kubernetes stage with a queue; empty / 0 otherwise) */
	char		 queue[64];	/* the LocalQueue of its Job */
	char		 flavor[128];	/* ResourceFlavor(s) admitted on */
	int64_t		 admitted_at;	/* unix ms of the latest admission,
					   0 = not admitted */
	int		 evicted;	/* pending because Kueue evicted it:
					   not a failure, it waits to be
					   admitted again */
	int		 evictions;	/* how many times Kueue evicted it */
};

struct executor_ops {
	const char	*name;		/* "local", "kubernetes", "fake" */

	/*
	 * Start the attempt, or adopt it when one with the same name exists.
	 * ERR_INVALID when the executor refuses the spec for good (the stage
	 * fails with the message); ERR_TRANSIENT when it should be tried
	 * again later.  Must not block for long.
	 */
	int	(*submit)(void *impl, const struct exec_attempt *a,
		    struct err *err);

	/* The attempt's state now.  EXEC_UNKNOWN for a name never seen. */
	int	(*status)(void *impl, const char *name, struct exec_status *out,
		    struct err *err);

	/*
	 * Append the output (stdout and stderr) of node `node` of the
	 * attempt (0 for a single-node stage) to out, from byte offset
	 * `from` of its current source, as much as out has room for; *next
	 * receives the offset to ask for next time.  source (sourcelen
	 * bytes; NULL when 0) receives what is being read: the pod's name on
	 * Kubernetes, "" locally.  When it differs from the source of the last call, the
	 * output came from offset 0 of a new source whatever `from` was: the
	 * engine then marks the change in the kept log and reads on from
	 * *next.  Once the attempt has finished, a call that appends nothing
	 * means the output has ended; ERR_TRANSIENT when the rest cannot be
	 * read yet (call again later).  ERR_NOTFOUND when there is no log
	 * and never will be.  Called from the engine's thread.
	 */
	int	(*logs)(void *impl, const char *name, int node, int64_t from,
		    struct buf *out, int64_t *next, char *source,
		    size_t sourcelen, struct err *err);

	/* Stop the attempt (kill its process group / delete the Job). */
	int	(*cancel)(void *impl, const char *name, struct err *err);

	/*
	 * Forget a finished attempt and free what it holds (local work
	 * files other than the log; the Kubernetes Job).  Idempotent.
	 * Afterwards status may answer EXEC_UNKNOWN, logs ERR_NOTFOUND and
	 * submit may start the attempt again (a deleted Job is gone), so
	 * the engine releases an attempt only after it has recorded its
	 * outcome, metrics and log, and never submits it again.
	 */
	int	(*release)(void *impl, const char *name, struct err *err);

	/*
	 * Push instead of poll: remember wake(arg) and call it, from any
	 * thread, whenever an attempt the executor knows may have changed
	 * what status() or logs() answers (it started, ended, was deleted,
	 * its log became complete).  Calls are coalesced by the engine, so
	 * a spurious one costs a pass, a missed one the engine's safety
	 * sweep.  wake NULL stops the calls: once set_wake returns, wake is
	 * not called (nor running) any more.  Returns 1 when the executor
	 * will call wake, 0 when it cannot (the engine then polls active
	 * attempts).  NULL op: the same as 0.
	 */
	int	(*set_wake)(void *impl, void (*wake)(void *arg), void *arg);

	/* Free the executor. */
	void	(*free)(void *impl);
};

struct executor {
	const struct executor_ops	*ops;
	void				*impl;
};

#endif
