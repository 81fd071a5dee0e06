/*
 * schema_int.h - the typed readers and value checks the schema walkers
 * (schema.c, schema_canary.c) are built from: each reports a problem with the node's path
 * and goes on; "reported" results are -1, never an err code.  Not for
 * other modules.
 */
#ifndef SLUICE_SCHEMA_INT_H
#define SLUICE_SCHEMA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/pipeline_int.h"

/* A field of a mapping: its name, key and value once found. */
struct field {
	const char		*name;
	const struct ynode	*key;
	const struct ynode	*val;
};

/* What a string list's items must be. */
struct item_rule {
	const char	*noun;			/* "invalid NOUN "x": why" */
	const char	*(*check)(const char *s);
	long		 tmpl_stage;		/* NO_TMPL: no references */
};

/* What a string map's keys and values must be. */
struct map_rule {
	const char	*key_noun;
	const char	*(*key_check)(const char *s);
	const char	*(*value_check)(const char *s);
	long		 tmpl_stage;
};

#define NO_TMPL	(-2L)	/* tmpl_stage: values hold no ${...} references */

/* "expected WHAT, got ..." for n. */
void	sch_type_err(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, const char *what);

/*
 * Sort the pairs of mapping n into f by name; report unknown keys.
 * Return -1 when n is not a mapping (reported).
 */
int	sch_get_fields(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, struct field *f, size_t nf);

/* "missing required field NAME". */
void	sch_missing(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, const char *name);

/* Count bytes that end up in the pipeline against LIM_PIPELINE_EXPANDED. */
int	sch_add_bytes(struct vctx *c, size_t n, const struct ynode *at);

/* A string: any scalar but null, taken as written, without NUL. */
int	sch_get_str(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, char **out);

/* An integer in [lo, hi]. */
int	sch_get_int(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, long long lo, long long hi,
	    long long *out);

/* true or false. */
int	sch_get_bool(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, int *out);

/* A YAML 1.2 core float: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? */
int	sch_get_number(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, double *out);

/* A duration ("90s", "5m", ...) of at least min_ms, in milliseconds. */
int	sch_get_duration(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, int64_t min_ms, int64_t *out);

/* One of names; *out is its index. */
int	sch_get_enum(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, const char *what,
	    const char *const *names, size_t nn, int *out);

/* Note the ${...} references of s for the cross checks. */
void	sch_record_tmpl(struct vctx *c, long stage, const struct ynode *n,
	    const struct vpath *path, const char *s, int image);

/* A list of strings, each checked by rule. */
int	sch_get_str_list(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, const struct item_rule *rule,
	    struct pipeline_strs *out);

/* A mapping of strings to strings, keys and values checked by rule. */
int	sch_get_str_map(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, const struct map_rule *rule,
	    struct pipeline_map *out);

/* Value checks: NULL when s is fine, else why it is not. */
const char *sch_check_env_key(const char *s);
const char *sch_check_param_name(const char *s);
const char *sch_check_glob(const char *s);	/* branches and paths */
const char *sch_check_quantity(const char *s);
const char *sch_check_gpu_resource(const char *s);
const char *sch_check_mount(const char *s);
const char *sch_check_output_name(const char *s);

/* schema_canary.c: a stage's gates, and a canary stage's canary: mapping. */
struct pipeline_gate;
struct pipeline_stage;
void	sch_walk_gates(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, struct pipeline_gate **out, size_t *nout);
void	sch_walk_canary(struct vctx *c, const struct ynode *n,
	    const struct vpath *path, size_t idx, struct pipeline_stage *st);

#endif
