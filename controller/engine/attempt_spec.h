/*
 * attempt_spec.h - what one stage attempt runs, as the engine records it
 * in stage_attempts.spec (JSON) before it calls the executor, and as it
 * reads it back to submit the attempt again after a crash: the command
 * and environment after ${...} substitution, the image, the timeout and
 * the scheduling fields of the stage.  Never secrets: everything here
 * comes from the pipeline file, the run and the controller's layout.
 *
 * jansson stays inside attempt_spec.c.
 */
#ifndef SLUICE_ATTEMPT_SPEC_H
#define SLUICE_ATTEMPT_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/podsec.h"
#include "exec/executor.h"

struct pipeline_stage;

/* Every string and array is owned by the spec (attempt_spec_release). */
struct attempt_spec {
	char			*image;		/* or NULL */
	char			**argv;
	size_t			 argc;
	struct exec_env		*env;		/* owned name and value */
	size_t			 nenv;
	int64_t			 timeout_ms;	/* 0 = none */
	char			*cpu;
	char			*memory;
	int			 gpus;
	char			*gpu_resource;
	struct exec_kv		*node_selector;	/* owned key and value */
	size_t			 nnode_selector;
	struct exec_toleration	*tolerations;	/* owned strings */
	size_t			 ntolerations;
	char			*queue;
	char			*priority_class;
	struct exec_volume	*volumes;	/* owned strings */
	size_t			 nvolumes;
	char			*workdir;	/* local checkout, or NULL */
	int			 checkout;
	char			*service_account;	/* or NULL */
	struct podsec		 security_context;	/* set 0: none given */
	int			 nodes;		/* >= 1 */
	/* room in the arrays above (sys_grow) */
	size_t			 argv_cap, env_cap, node_selector_cap;
	size_t			 tolerations_cap, volumes_cap;
};

/* An empty spec (no allocation). */
void	attempt_spec_init(struct attempt_spec *s);
/* Free what it owns; the spec is empty again. */
void	attempt_spec_release(struct attempt_spec *s);

/* Append one argument / one NAME=VALUE (copied).  Abort on no memory. */
void	attempt_spec_arg(struct attempt_spec *s, const char *arg);
void	attempt_spec_env(struct attempt_spec *s, const char *name,
	    const char *value);

/*
 * Copy the scheduling fields of a pipeline stage: timeout, resources,
 * node selector, tolerations, queue, priority class, volumes, service
 * account and security context.  (Image,
 * command and env need substitution: the caller sets them.)
 */
void	attempt_spec_schedule(struct attempt_spec *s,
	    const struct pipeline_stage *ps);

/*
 * The spec as compact JSON, *out owned by the caller (free()).  Returns
 * 0, ERR_NOMEM or ERR_TOOBIG past LIM_EXEC_SPEC.
 */
int	attempt_spec_to_json(const struct attempt_spec *s, char **out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Read a spec written by attempt_spec_to_json() into an empty s.  Returns
 * 0 or ERR_INVALID (malformed JSON or fields); s is then empty.
 */
int	attempt_spec_from_json(struct attempt_spec *s, const char *json,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Point the "what to run" and "where" fields of a at s (borrowed: s must
 * outlive the use of a).  Identity fields are left alone.
 */
void	attempt_spec_to_exec(const struct attempt_spec *s,
	    struct exec_attempt *a);

#endif
