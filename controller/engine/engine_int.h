/*
 * engine_int.h - what engine.c (the loop, runs and job stages) and
 * canary.c (canary stages) share.  Not for other modules.
 */
#ifndef SLUICE_ENGINE_INT_H
#define SLUICE_ENGINE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "engine/attempt_name.h"
#include "engine/engine.h"
#include "exec/executor.h"
#include "pipeline/stage_output.h"
#include "store/store_engine.h"

struct cfg;
struct db;
struct pipeline;
struct pipeline_stage;

#define ENGINE_ACTOR	"controller"

/* A parsed pipeline version, cached by id. */
struct eng_pipe {
	int64_t		 version_id;
	struct pipeline	*p;
	uint64_t	 used;		/* pass number of the last use */
};

/* Where the engine is in a running attempt's log. */
struct eng_tail {
	int64_t			 attempt_id;
	int64_t			 offset;
	struct stage_output	 out;
	uint64_t		 seen;	/* pass number */
};

struct engine {
	const struct cfg	*cfg;
	struct executor		 ex;
	const char		*executor_name;	/* for stage_attempts.executor */
	struct db		*db;		/* the loop's connection */
	struct db		*ldb;		/* the listener's */
	struct engine_opts	 o;
	struct engine_stats	 st;
	pthread_mutex_t		 mu;		/* wake, stop, st */
	pthread_cond_t		 cv;
	int			 wake;
	int			 stop;
	int			 started;	/* threads running */
	pthread_t		 thread;
	pthread_t		 lthread;
	int			 locked;	/* holds DB_LOCK_ENGINE */
	int			 cleaned;	/* start-up cleanup done */
	struct eng_pipe		*pipes;
	size_t			 npipes;
	struct eng_tail		*tails;
	size_t			 ntails;
	uint64_t		 pass;		/* passes so far */
	int			 admit_budget;	/* runs the next pass may start */
	int			 changed;	/* the last pass wrote something */
	int64_t			 next_ms;	/* when the next pass is due,
						   relative to its end */
	char			 workroot[4096]; /* absolute state_dir/work */
};

/* What a pass may start, collected and admitted at its end. */
enum req_kind { REQ_JOB, REQ_CANARY_START, REQ_CANARY_NEXT, REQ_ROLLBACK };

struct eng_run;

struct eng_req {
	enum req_kind		 kind;
	struct eng_run		*run;
	size_t			 idx;		/* pipeline stage index */
	size_t			 order;		/* topological position */
	int			 gpus;
	char			 from[20];	/* rollout status seen */
	char			 reason[512];	/* rollback: why */
	char			 job[ATTEMPT_NAME_MAX + 1];
};

/* A run of the snapshot and what the engine knows about it. */
struct eng_run {
	struct snap_run		*r;
	const struct pipeline	*p;
	struct snap_stage	**sn;		/* by pipeline stage index */
	int			 bad;		/* cannot be driven */
	char			(*msg)[512];	/* stage messages set this pass */
	char			(*amsg)[512];	/* attempt messages set this pass */
};

/* One reconcile pass. */
struct eng_pass {
	struct engine		*e;
	struct snapshot		 snap;
	struct eng_run		*runs;
	size_t			 nruns;
	struct eng_req		*reqs;
	size_t			 nreqs;
	int			 active;	/* attempts holding a slot */
	int			 gpus_used;
	int			 waiting;	/* ready stages not started */
	int64_t			 wake_in;	/* ms until the next deadline */
};

struct output_values;
struct pipeline_gate;

/* engine.c, for canary.c */
int	eng_is(const char *a, const char *b);
int	eng_is_final(const char *status);
int	eng_attempt_active(const struct snap_attempt *a);
void	eng_wake_in(struct eng_pass *ps, int64_t ms);
void	eng_changed(struct eng_pass *ps);
/* Remember a stage's new message for the run's own message. */
void	eng_note(struct eng_run *er, size_t idx, const char *msg);
struct db *eng_db(struct engine *e);
void	eng_request(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    enum req_kind kind, const char *from, const char *reason);
int	eng_gates(struct eng_pass *ps, struct eng_run *er, size_t idx,
	    const struct pipeline_gate *g, size_t n,
	    const struct stage_output *out, const struct output_values *vals,
	    char *msg, size_t msglen, struct err *err);

/* canary.c: a canary stage with no active attempt takes its next step. */
void	canary_advance(struct eng_pass *ps, struct eng_run *er, size_t idx);

#endif
