/*
 * pass.h - one reconcile pass of the engine (docs/engine.md, "The
 * loop"): the snapshot it decides from, the runs it drives, the attempts
 * it asks to start, and the few helpers with which the parts of the
 * engine record what they did.  engine.c owns the pass; canary.c and
 * spec_build.c work inside it.  Not for other modules.
 *
 * The dependency is one-way: engine.c -> canary.c, spec_build.c ->
 * pass.c.  Nothing here calls back into engine.c.
 */
#ifndef SLUICE_PASS_H
#define SLUICE_PASS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/attempt_name.h"
#include "engine/engine.h"
#include "store/status.h"
#include "store/store_engine.h"

struct cfg;
struct db;
struct output_values;
struct pipeline;
struct pipeline_gate;
struct stage_output;
struct attempt_spec;

/* The actor of every event the engine writes. */
#define ENGINE_ACTOR	"controller"

/* What a pass may start, collected and admitted at its end. */
enum req_kind { REQ_JOB, REQ_CANARY_START, REQ_CANARY_NEXT, REQ_ROLLBACK };

struct eng_run;

struct eng_req {
	enum req_kind		 kind;
	struct eng_run		*run;
	size_t			 idx;		/* pipeline stage index */
	size_t			 order;		/* topological position */
	int			 gpus;		/* of all its nodes */
	int			 nodes;		/* pipeline_stage.nodes */
	enum rollout_status	 from;		/* rollout status seen (canary
						   next step, rollback) */
	char			 reason[512];	/* rollback: why */
	char			 job[ATTEMPT_NAME_MAX + 1];
	int			 step;		/* canary next: this step and */
	int			 weight;	/* weight (0: the next one's) */
};

/*
 * An attempt written (pending) to hand to the executor at the end of the
 * pass: its stage, and the spec when the pass built it (owned; NULL: read
 * the recorded one).
 */
struct eng_sub {
	struct eng_run		*run;
	size_t			 idx;
	struct attempt_spec	*spec;
};

/* A run of the snapshot and what the engine knows about it. */
struct eng_run {
	struct snap_run		*r;
	const struct pipeline	*p;
	struct snap_stage	**sn;		/* by pipeline stage index */
	int			 bad;		/* cannot be driven */
	char			(*msg)[512];	/* stage messages set this pass */
	char			(*amsg)[512];	/* attempt messages set this pass */
	char			*queued;	/* by stage: its attempt was
						   queued for a submit this
						   pass */
};

/* One reconcile pass (engine.c fills the first block, then the rest). */
struct eng_pass {
	struct engine		*e;		/* the engine (opaque here) */
	const struct cfg	*cfg;		/* borrowed from the engine */
	struct db		*db;		/* the engine's connection */
	struct engine_stats	*st;		/* its counters */
	const char		*workroot;	/* absolute state_dir/work */

	struct snapshot		 snap;
	struct eng_run		*runs;
	size_t			 nruns;
	struct eng_req		*reqs;
	size_t			 nreqs;
	size_t			 reqs_cap;
	struct eng_sub		*subs;		/* attempts to submit */
	size_t			 nsubs;
	size_t			 subs_cap;
	int			 active;	/* attempts holding a slot */
	int			 gpus_used;
	int			 waiting;	/* ready stages not started */
	int			 changed;	/* a write changed state */
	int64_t			 wake_in;	/* ms until the next deadline */
};

/* The engine's connection, counting one statement. */
struct db *pass_db(struct eng_pass *ps);

/* A write changed state: the loop runs another pass at once. */
void	pass_changed(struct eng_pass *ps);

/* Something is due in ms (negative: now): the pass sleeps no longer. */
void	pass_wake_in(struct eng_pass *ps, int64_t ms);

/*
 * An attempt is active and waits on its executor: with one that pushes
 * (set_wake) the next look is the active safety sweep, its wake comes
 * first; without, a status poll in poll_ms.
 */
void	pass_wake_active(struct eng_pass *ps);

/* Remember a stage's new message for the run's own message. */
void	pass_note(struct eng_run *er, size_t idx, const char *msg);

/* a is an attempt (id != 0) that has not ended. */
int	pass_attempt_active(const struct snap_attempt *a);

/*
 * Ask for an attempt of stage idx of er (kind; for a canary's next step
 * or rollback, the rollout status from it was seen in and, for a
 * rollback, why).  engine.c starts the requests of a pass at its end,
 * under the caps.  Aborts when memory runs out.
 */
void	pass_request(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    enum req_kind kind, enum rollout_status from, const char *reason);

/*
 * Ask for the canary step `step` of stage idx with weight (a jump past
 * the steps between, for promote-full), the rollout seen in from.
 */
void	pass_request_step(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    enum rollout_status from, int step, int weight);

/*
 * Check the n gates g of stage idx against a finished attempt's output
 * (out) or, for a canary analysis, the values of its window (vals; out
 * NULL).  1: all pass; 0: one failed, msg says which ("gate failed:
 * ..."); < 0: a database error (baselines), the caller tries again.
 */
int	pass_gates(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    const struct pipeline_gate *g, size_t n,
	    const struct stage_output *out, const struct output_values *vals,
	    char *msg, size_t msglen, struct err *err)
	    __attribute__((warn_unused_result));

#endif
