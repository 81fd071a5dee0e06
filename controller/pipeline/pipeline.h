/*
 * pipeline.h - pipeline definitions (docs/pipeline-reference.md): YAML in, a validated
 * struct pipeline out, canonical JSON for the store and the API, and the
 * helpers the engine needs (stage lookup, topological order, dependency
 * closure, ${...} references and substitution, trigger matching).
 *
 * libyaml and jansson types stay inside pipeline.c.
 *
 * Parsing and validation
 * ----------------------
 * pipeline_parse() checks the whole file and reports every error it finds
 * (up to LIM_PIPELINE_ERRORS per file), each with the 1-based line and
 * column of the offending key or value.  Columns count characters (Unicode
 * code points), not bytes, and a tab counts as one.  Messages start with
 * the path of the offending node, written from the document root with
 * 0-based indexes as kubectl does, then say what is wrong:
 *
 *	pipeline.yaml:12:15: spec.stages[1].needs[0]: unknown stage "trian"
 *	    (did you mean "train"?)
 *	pipeline.yaml:9:7: spec.stages[0]: unknown field "imgae" (did you
 *	    mean "image"?)
 *	pipeline.yaml:10:15: spec.stages[0].needs[0]: cycle in needs:
 *	    train -> evaluate -> train
 *
 * (one line each).  Where an error concerns a missing field, the position
 * is the start of the mapping that lacks it.  Errors are sorted by
 * position.  In a cycle, "a -> b" reads "a needs b"; it starts at the
 * cycle's first stage in the file and is reported at that stage's needs
 * entry.
 *
 * YAML rules and hazards:
 * - The file must be valid UTF-8 (a BOM is allowed) of at most
 *   LIM_PIPELINE_FILE bytes and hold exactly one YAML document.  A second
 *   document ("---") is an error at its start: put each pipeline in its
 *   own file.
 * - Tabs used for indentation, duplicate keys, non-scalar keys, nesting
 *   deeper than LIM_YAML_DEPTH, more than LIM_YAML_ALIASES aliases, more
 *   than LIM_YAML_NODES nodes or LIM_PIPELINE_EXPANDED bytes of scalar text
 *   once aliases are expanded (the "billion laughs"), unknown aliases and
 *   unsupported tags are errors.  Anchors and aliases are otherwise
 *   allowed; an error inside an aliased value points at the anchored text.
 *   Merge keys ("<<") are not supported.
 * - Unknown fields are errors (strict).
 * - Typing: a string field takes a scalar's text exactly as written
 *   (`epochs: 10` is "10", `version: 1.10` is "1.10"), but null (`~`,
 *   `null`, nothing) is not a string.  Integer, number and boolean fields
 *   need unquoted YAML 1.2 core values: decimal integers, decimal numbers,
 *   true/false (`"2"`, yes/no/on/off are errors).
 *
 * Defaults applied after parsing (and written out in the canonical JSON):
 * triggers absent = push on every branch and path, no webhook; a triggers
 * mapping turns on only what it lists; concurrency 1 (0 = no limit);
 * checkout false; stage type job; image and env inherited from
 * spec.defaults (stage values win, env maps merge key by key); retries 0;
 * no timeout; nodes 1; gpu 0; gpu_resource nvidia.com/gpu; toleration operator
 * Equal; read_only false; step approval none; approval_timeout 24h;
 * canary on_conflict queue (left out of the canonical JSON);
 * tolerance 0.
 *
 * References: "${params.NAME}", "${run.FIELD}" (id, commit, branch,
 * trigger, pipeline), "${stages.STAGE.artifacts.NAME}" and
 * "${stages.STAGE.metrics.NAME}" may appear in image, command, env values
 * and canary.rollback_command.  A stage may read only the outputs of the
 * stages it reaches through needs (directly or transitively); defaults may
 * read only params and run fields.  "$${" stands for a literal "${"; any
 * other "$" is literal.  Substitution is not recursive.  An image with a
 * reference is checked as an image reference only once substituted.
 *
 * Trigger globs (triggers.push.branches and paths) are matched against
 * whole '/'-separated names, anchored at the start.  In a segment, '*'
 * matches any run of characters and '?' one character ('/' never); a
 * segment that is exactly "**" matches any number of whole segments, none
 * included.  Every other character is literal.  (Examples are in
 * docs/pipeline-reference.md; a C comment cannot hold them.)  A path
 * pattern also matches everything under a directory it matches, so
 * "models/fraud" covers every file below models/fraud.  A branch pattern
 * must match the whole branch name.
 */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/podsec.h"

#define PIPELINE_API_VERSION	"sluice/v1"
#define PIPELINE_KIND		"Pipeline"
#define PIPELINE_GPU_RESOURCE	"nvidia.com/gpu"
#define PIPELINE_APPROVAL_TIMEOUT_MS	(24LL * 3600 * 1000)

/* A position in the source: 1-based line and column; 0 when unknown. */
struct pipeline_pos {
	int	line;
	int	column;
};

/* One error: the file name, the position and a message. */
struct pipeline_error {
	char	*file;		/* owned */
	int	 line;		/* 0 when the error is about the whole file */
	int	 column;
	char	*message;	/* owned, at most LIM_PIPELINE_ERROR_MSG */
};

/* A growing list of errors, possibly for several files. */
struct pipeline_errors {
	struct pipeline_error	*v;
	size_t			 n;
	size_t			 alloc;
};

/* A list of strings with the position of each. */
struct pipeline_strs {
	size_t			 n;
	char			**v;
	struct pipeline_pos	*pos;
};

/* One entry of a string map; pos is the value's position. */
struct pipeline_kv {
	char			*key;
	char			*value;
	struct pipeline_pos	 pos;
};

/* A string map with unique keys, in source order (env: sorted by name). */
struct pipeline_map {
	size_t			 n;
	struct pipeline_kv	*v;
};

enum pipeline_op {
	PIPELINE_OP_GE = 0,	/* >= */
	PIPELINE_OP_GT,		/* >  */
	PIPELINE_OP_LE,		/* <= */
	PIPELINE_OP_LT,		/* <  */
	PIPELINE_OP_EQ,		/* == */
	PIPELINE_OP_NE,		/* != */
};

/*
 * A gate: metric OP value, or metric OP production (the value of the same
 * metric for the model now in production for the target) within
 * tolerance.  See pipeline_gate_holds() for the exact rule.
 */
struct pipeline_gate {
	char			*metric;
	enum pipeline_op	 op;
	int			 baseline;	/* 1: baseline: production */
	double			 value;		/* when !baseline */
	double			 tolerance;	/* when baseline, >= 0 */
	struct pipeline_pos	 pos;
};

enum pipeline_toleration_op {
	PIPELINE_TOLERATION_EQUAL = 0,
	PIPELINE_TOLERATION_EXISTS,
};

struct pipeline_toleration {
	char				*key;	/* "" = every key (Exists) */
	enum pipeline_toleration_op	 op;
	char				*value;	/* "" with Exists */
	char				*effect; /* "" = every effect, NoSchedule,
						    PreferNoSchedule, NoExecute */
	int				 has_seconds;
	int64_t				 seconds; /* tolerationSeconds, NoExecute */
	struct pipeline_pos		 pos;
};

struct pipeline_volume {
	char			*claim;		/* PVC name */
	char			*mount;		/* absolute path */
	int			 read_only;
	struct pipeline_pos	 pos;
};

struct pipeline_resources {
	int	 gpu;			/* request = limit; 0 = none */
	char	*gpu_resource;		/* never NULL */
	char	*cpu;			/* quantity, NULL when unset */
	char	*memory;		/* quantity, NULL when unset */
};

/*
 * analysis.queries: a PromQL instant query measured every interval,
 * its value checked with op against value (docs/pipeline-reference.md).
 */
struct pipeline_query {
	char			*name;		/* output-name syntax, unique */
	char			*query;		/* PromQL with ${canary.*} and
						   ${model.*} (pipeline_promql_*) */
	enum pipeline_op	 op;
	double			 value;
	struct pipeline_pos	 pos;
};

/* analysis.inconclusive: what a measurement without a verdict counts as. */
enum pipeline_inconclusive {
	PIPELINE_INCONCLUSIVE_FAIL = 0,	/* a failed measurement (default) */
	PIPELINE_INCONCLUSIVE_IGNORE,	/* shown, not counted */
};

struct pipeline_step {
	int			 weight;	/* 1..100, increasing, last 100 */
	int			 approval;	/* 1: approval: required */
	int			 analysis;	/* 1: an analysis is given */
	int64_t			 analysis_ms;	/* analysis.duration, > 0 */
	struct pipeline_gate	*gates;		/* analysis.gates */
	size_t			 ngates;
	struct pipeline_pos	 pos;
	struct pipeline_query	*queries;	/* analysis.queries */
	size_t			 nqueries;	/* 0..LIM_ANALYSIS_QUERIES */
	int64_t			 interval_ms;	/* with queries: <= analysis_ms */
	int			 failure_limit;	/* failed measurements tolerated */
	enum pipeline_inconclusive inconclusive;
};

/*
 * canary.analysis_provider.prometheus: where analysis.queries are sent.
 * address is NULL when no provider is given.
 */
struct pipeline_prometheus {
	char			*address;	/* http:// or https:// URL */
	int64_t			 timeout_ms;	/* per query */
	char			*token_env;	/* bearer token's variable or NULL */
	int			 insecure_skip_verify;
	char			*ca_file;	/* absolute path or NULL */
};

#define PIPELINE_PROMETHEUS_TIMEOUT_MS	(10LL * 1000)

/*
 * canary.on_conflict: what a canary stage does when another run's
 * rollout holds its target: wait for it to end (queue, the default) or
 * roll it back and take the target (supersede).
 */
enum pipeline_on_conflict {
	PIPELINE_ON_CONFLICT_QUEUE = 0,
	PIPELINE_ON_CONFLICT_SUPERSEDE,
};

/* Who moves a canary's traffic (canary.traffic.provider). */
enum pipeline_traffic_provider {
	PIPELINE_TRAFFIC_COMMAND = 0,	/* the stage's command, per step */
	PIPELINE_TRAFFIC_KSERVE,	/* an InferenceService, by the controller */
	PIPELINE_TRAFFIC_GATEWAY,	/* an HTTPRoute, by the controller */
};

/*
 * canary.traffic: for kserve the InferenceService's name, for gateway
 * the HTTPRoute, its two backendRefs and, optionally, which rule (by
 * index, else by name, else the first rule naming both backends).  All
 * in the namespace of the stage's Jobs.
 */
struct pipeline_traffic {
	enum pipeline_traffic_provider provider;
	char			*inference_service;	/* kserve */
	char			*route;			/* gateway */
	char			*stable_backend;
	char			*canary_backend;
	int			 rule_index;		/* -1: none */
	char			*rule_name;		/* NULL: none */
};

struct pipeline_canary {
	char			*target;
	struct pipeline_traffic	 traffic;
	struct pipeline_step	*steps;
	size_t			 nsteps;	/* 1..LIM_CANARY_STEPS */
	int64_t			 approval_timeout_ms;
	struct pipeline_strs	 rollback_command; /* n == 0: none */
	enum pipeline_on_conflict on_conflict;	/* another run holds target */
	struct pipeline_prometheus prometheus;	/* analysis_provider */
};

enum pipeline_stage_type {
	PIPELINE_STAGE_JOB = 0,
	PIPELINE_STAGE_CANARY,
};

struct pipeline_stage {
	char				*name;	/* DNS-1123 label, unique */
	enum pipeline_stage_type	 type;
	struct pipeline_strs		 needs;
	size_t				*need_index; /* needs as stage indexes */
	char				*image;	/* defaults applied */
	struct pipeline_strs		 command; /* at least one item */
	struct pipeline_map		 env;	/* defaults merged, sorted */
	struct pipeline_resources	 resources;
	struct pipeline_map		 node_selector;
	struct pipeline_toleration	*tolerations;
	size_t				 ntolerations;
	char				*queue;		/* NULL when unset */
	char				*priority_class; /* NULL when unset */
	struct pipeline_volume		*volumes;
	size_t				 nvolumes;
	int64_t				 timeout_ms;	/* 0: no deadline */
	int				 retries;	/* 0..100 */
	struct pipeline_gate		*gates;
	size_t				 ngates;
	struct pipeline_canary		*canary; /* type canary only, else NULL */
	struct pipeline_pos		 pos;	/* the stage's mapping */
	char				*service_account; /* defaults applied;
						   NULL: the namespace's */
	struct podsec			 security_context; /* the stage's, else
						   spec.defaults'; set 0:
						   the cluster default */
	int				 nodes;	/* 1..LIM_STAGE_NODES; job only */
	struct pipeline_pos		 nodes_pos; /* of the value; 0 if unset */
};

/* One entry of triggers.schedule (cron.h). */
struct pipeline_schedule {
	char			*cron;		/* a valid 5-field expression */
	char			*timezone;	/* an IANA zone; "UTC" if unset */
	char			*branch;	/* NULL: the repository's first */
	struct pipeline_map	 params;	/* declared in spec.params */
	struct pipeline_pos	 pos;		/* the entry's mapping */
};

struct pipeline_triggers {
	int			push;		/* push trigger on */
	struct pipeline_strs	branches;	/* globs; n == 0: every branch */
	struct pipeline_strs	paths;		/* globs; n == 0: every path */
	int			webhook;
	struct pipeline_schedule *schedules;	/* source order */
	size_t			 nschedules;	/* 0..LIM_SCHEDULES */
	int			 catch_up_last;	/* catch_up: last (else none) */
};

struct pipeline_arena;

/*
 * A validated pipeline.  Every string and array is owned by the pipeline
 * (allocated from its arena) and freed by pipeline_free(); treat it all as
 * read-only.
 */
/*
 * spec.retention: how many finished runs of the pipeline are kept and for
 * how long (the retention sweep; docs/operations.md).  -1: not given, the
 * configuration's retention.* applies; 0: no limit.
 */
struct pipeline_retention {
	int64_t			 keep_runs;
	int64_t			 max_age_ms;
};

struct pipeline {
	char			*name;		/* metadata.name */
	struct pipeline_triggers triggers;
	struct pipeline_map	 params;	/* names are env var names */
	int			 concurrency;	/* 0: no limit */
	int			 checkout;
	struct pipeline_retention retention;
	struct pipeline_stage	*stages;	/* source order */
	size_t			 nstages;	/* 1..LIM_STAGES */
	size_t			*order;		/* topological order, ties in
						   source order */
	struct pipeline_arena	*arena;		/* private */
	uint64_t		*closure;	/* private: see depends_on */
};

/* Errors */

void	pipeline_errors_init(struct pipeline_errors *e);
void	pipeline_errors_release(struct pipeline_errors *e);

/*
 * Append an error (for errors found outside the parser, such as a file that
 * cannot be read).  Return 0 or ERR_NOMEM.
 */
int	pipeline_errors_add(struct pipeline_errors *e, const char *file,
	    int line, int column, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6), warn_unused_result));

/*
 * Serialize as a compact JSON array of {file, line, column, message} into
 * *out (owned by the caller, free()).  Return 0 or ERR_NOMEM.
 */
int	pipeline_errors_to_json(const struct pipeline_errors *e, char **out,
	    struct err *err) __attribute__((warn_unused_result));

/* Parsing */

/*
 * Parse and validate len bytes of YAML read from file (the name used in
 * errors; it need not exist).  On success return 0 with *out owned by the
 * caller.  When the definition is invalid, return ERR_INVALID with every
 * error appended to errs, and err holding the first one as
 * "FILE:LINE:COL: message" (with " (and N more errors)").  ERR_NOMEM when
 * errs cannot grow; other allocation failures abort, as xcalloc() does
 * (memory is bounded by the caps).  *out is NULL unless 0 is returned.  Never blocks;
 * time and memory are linear in len within the caps of caps.h.
 */
int	pipeline_parse(struct pipeline **out, struct pipeline_errors *errs,
	    const char *data, size_t len, const char *file, struct err *err)
	    __attribute__((warn_unused_result));

/* Free a pipeline and everything it owns; NULL is a no-op. */
void	pipeline_free(struct pipeline *p);

/*
 * Append to warns what is valid but probably not meant, at its position
 * in file (`sluice validate` prints them; they never fail a pipeline):
 * a stage on more than one node without a `queue` ("without Kueue the
 * pods of a multi-node stage may start one by one").  Return 0 or
 * ERR_NOMEM.  (warnings.c)
 */
int	pipeline_warnings(const struct pipeline *p, const char *file,
	    struct pipeline_errors *warns) __attribute__((warn_unused_result));

/*
 * Canonical JSON: the pipeline in the shape of its YAML (apiVersion, kind,
 * metadata, spec) with every default resolved (spec.defaults folded into
 * the stages and dropped), compact, keys sorted, arrays in source order,
 * UTF-8 (only U+0085, U+2028, U+2029, DEL, the C1 controls, U+FFFE and
 * U+FFFF escaped besides what JSON requires, since YAML reads those
 * differently), every collection present (empty when so), absent
 * optional scalars (queue, priority_class, timeout, cpu, memory,
 * rollback_command, toleration_seconds) left out, nodes written only
 * when above 1 (so a single-node stage keeps the bytes it had before
 * multi-node stages existed), durations written back
 * the way units_format_duration() does ("90m" becomes "1h30m"), gate
 * numbers with 15 significant digits.  Equal pipelines give equal bytes,
 * and the JSON is itself a pipeline definition that parses back to the
 * same JSON (when it fits in LIM_PIPELINE_FILE).  *out is owned by the caller (free()).  Return 0, ERR_TOOBIG
 * past LIM_PIPELINE_JSON or ERR_NOMEM.
 */
int	pipeline_to_json(const struct pipeline *p, char **out,
	    struct err *err) __attribute__((warn_unused_result));

/* Stages */

/* The stage called name, or NULL.  Borrowed from p. */
const struct pipeline_stage *pipeline_stage_find(const struct pipeline *p,
	    const char *name);

/* The index of the stage called name in p->stages, or -1. */
long	pipeline_stage_index(const struct pipeline *p, const char *name);

/*
 * 1 when stage a reaches stage b through needs (directly or through other
 * stages), 0 otherwise (and when a == b).  Indexes into p->stages.
 */
int	pipeline_depends_on(const struct pipeline *p, size_t a, size_t b);

/* Gates */

/* ">=", ">", "<=", "<", "==" or "!=". */
const char *pipeline_op_name(enum pipeline_op op);

/* "command", "kserve", "gateway". */
const char *pipeline_traffic_provider_name(enum pipeline_traffic_provider p);

/*
 * Whether the gate holds for the observed metric value.  With a value:
 * observed OP value.  With baseline: production (pass the production
 * model's value of the same metric; the caller decides what to do when
 * there is none): >= and > compare with production - tolerance, <= and <
 * with production + tolerance, == holds when |observed - production| <=
 * tolerance and != when it is greater.  NaN never holds.
 */
int	pipeline_gate_holds(const struct pipeline_gate *g, double observed,
	    double production);

/* References and substitution */

enum pipeline_ref_kind {
	PIPELINE_REF_PARAM = 0,		/* ${params.NAME} */
	PIPELINE_REF_RUN,		/* ${run.FIELD} */
	PIPELINE_REF_ARTIFACT,		/* ${stages.STAGE.artifacts.NAME} */
	PIPELINE_REF_METRIC,		/* ${stages.STAGE.metrics.NAME} */
};

/*
 * One reference found in a template.  Pointers point into the template
 * (not NUL-terminated: use the lengths).
 */
struct pipeline_ref {
	size_t			 off;	/* of "${" in the template */
	size_t			 len;	/* of the whole "${...}" */
	enum pipeline_ref_kind	 kind;
	const char		*stage;	/* ARTIFACT, METRIC; else NULL */
	size_t			 stage_len;
	const char		*name;	/* param, run field, artifact, metric */
	size_t			 name_len;
};

/* The run fields a reference may name, NULL-terminated. */
extern const char *const pipeline_run_fields[];

/*
 * Find the next reference in s at or after *pos (start with *pos = 0).
 * Return 1 with *ref filled and *pos moved past it, 0 when there is none
 * left, or ERR_INVALID when the text from ref->off is not a well-formed
 * reference (unterminated, or not of the four forms above; err says why,
 * and how to escape a shell ${VAR} when it looks like one; *pos is moved
 * past it so that iteration may go on).  "$${" is skipped
 * as an escape.  Syntax only: whether the names exist is the caller's
 * business.
 */
int	pipeline_refs_next(const char *s, size_t *pos,
	    struct pipeline_ref *ref, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Append tmpl to out with every reference replaced by what lookup appends
 * to out for it, and "$${" by "${".  lookup returns 0, or a negative code
 * that stops the substitution (ERR_NOTFOUND when it has no value: the
 * error then names the reference).  Return 0, ERR_INVALID for a malformed
 * reference, lookup's code, or ERR_TOOBIG when out's cap is reached.
 */
int	pipeline_substitute(const char *tmpl,
	    int (*lookup)(void *arg, const struct pipeline_ref *ref,
		struct buf *out, struct err *err),
	    void *arg, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * PromQL queries (analysis.queries, promql.c).  A query may name
 * ${canary.target}, ${canary.weight}, ${model.version} and ${model.uri};
 * "$${" is a literal "${".  Text values (target, uri) may appear only
 * inside a "..." or '...' string literal, where they are escaped as
 * PromQL reads them back (the quote, the backslash and control
 * characters); numbers (weight, version) anywhere but inside a `raw
 * string`.
 */
struct promql_vars {
	const char	*target;
	int		 weight;
	int64_t		 version;	/* of the candidate; 0: none */
	const char	*uri;		/* of the candidate; NULL: none */
};

/* Whether query is well formed in that sense: 0, or ERR_INVALID. */
int	pipeline_promql_check(const char *query, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Append query with its references replaced by v's values to out.
 * ERR_INVALID (a malformed query, or ${model.*} with no candidate model),
 * ERR_TOOBIG past out's cap.
 */
int	pipeline_promql_substitute(const char *query,
	    const struct promql_vars *v, struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Whether s[0..len) is a valid metric or artifact name (as used in gates,
 * references and "::metric"/"::artifact" lines): 1 to 63 characters of
 * [A-Za-z0-9_.-/], starting with a letter or '_'.
 */
int	pipeline_output_name_valid(const char *s, size_t len);

/* Triggers */

/* Whether path matches the glob pattern (rules at the top of this file). */
int	pipeline_glob_match(const char *pattern, const char *path);

/*
 * Whether a push of branch whose commit changed the n paths in changed
 * (repository-relative) starts a run: the push trigger is on, the branch
 * matches one of triggers.push.branches (or there are none), and one of
 * the changed paths matches one of triggers.push.paths (or there are
 * none) or is pipeline_file (the pipeline's own file, which may be NULL):
 * a commit that changes only the pipeline file runs it.
 */
int	pipeline_push_matches(const struct pipeline *p, const char *branch,
	    const char *const *changed, size_t n, const char *pipeline_file);

#endif
