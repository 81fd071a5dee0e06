/*
 * engine.c - the reconcile loop: runs, job stages, attempts and the
 * admission of new work under the caps; canary stages are canary.c.
 *
 * The rule every function here follows (docs/engine.md): decide from the
 * snapshot, write the transition with its events in one statement (or
 * one transaction), and only then cause the side effect it leads to
 * (executor submit, cancel, release; export or removal of a checkout).
 * Every side effect is idempotent, so repeating it after a crash between
 * the write and the effect is harmless, and every write is conditional on
 * the state that was seen, so a stale decision is refused (ERR_CONFLICT)
 * instead of applied twice.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/units.h"
#include "engine/attempt_spec.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "git/gitsrc.h"
#include "pipeline/gates.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/store_engine.h"
#include "store/store_model.h"
#include "store/store_output.h"
#include "store/store_rollout.h"
#include "store/store_run.h"
#include "store/store_stage.h"

#define DEFAULT_POLL_MS		1000
#define DEFAULT_SWEEP_MS	30000
#define DEFAULT_BACKOFF_MS	2000
#define DEFAULT_BACKOFF_MAX_MS	300000
#define DEFAULT_MARGIN_MS	30000
#define RELEASE_LOOKBACK_MS	(3600 * 1000)

/* --- small helpers --------------------------------------------------- */

static int64_t
now_local_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
eng_is(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int
eng_is_final(const char *s)
{
	return eng_is(s, "succeeded") || eng_is(s, "failed") ||
	    eng_is(s, "canceled") || eng_is(s, "skipped");
}

int
eng_attempt_active(const struct snap_attempt *a)
{
	return a->id != 0 && (eng_is(a->status, "pending") ||
	    eng_is(a->status, "submitted") || eng_is(a->status, "running"));
}

void
eng_wake_in(struct eng_pass *ps, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < ps->wake_in)
		ps->wake_in = ms;
}

void
eng_changed(struct eng_pass *ps)
{
	ps->e->changed = 1;
	ps->e->st.transitions++;
}

struct db *
eng_db(struct engine *e)
{
	e->st.statements++;
	return e->db;
}

static void
set_status(char *dst, size_t len, const char *s)
{
	(void)str_copy(dst, len, s);
}

#define SET(dst, s)	set_status((dst), sizeof(dst), (s))

void
eng_note(struct eng_run *er, size_t idx, const char *msg)
{
	if (er->msg != NULL && msg != NULL)
		(void)str_copy(er->msg[idx], sizeof(er->msg[idx]), msg);
}

static const char *
stage_message(const struct eng_run *er, size_t idx)
{
	if (er->msg != NULL && er->msg[idx][0] != '\0')
		return er->msg[idx];
	return er->sn[idx]->message;
}

static int64_t
backoff_ms(const struct engine *e, int attempt)
{
	int64_t d = e->o.backoff_ms;

	for (int i = 1; i < attempt && d < e->o.backoff_max_ms; i++)
		d *= 2;
	return d < e->o.backoff_max_ms ? d : e->o.backoff_max_ms;
}

static const char *
cancel_actor(const struct snap_run *r)
{
	return r->cancel_by != NULL && r->cancel_by[0] != '\0' ?
	    r->cancel_by : ENGINE_ACTOR;
}

/* The target of the pipeline's (first) canary stage, or NULL. */
static const char *
canary_target(const struct pipeline *p)
{
	for (size_t i = 0; i < p->nstages; i++)
		if (p->stages[i].canary != NULL)
			return p->stages[i].canary->target;
	return NULL;
}

/* --- pipelines --------------------------------------------------------- */

static int
pipe_get(struct engine *e, int64_t version_id, const struct pipeline **out,
    struct err *err)
{
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct eng_pipe *slot = NULL;
	char *json = NULL;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < e->npipes; i++) {
		if (e->pipes[i].version_id == version_id) {
			e->pipes[i].used = e->pass;
			*out = e->pipes[i].p;
			return 0;
		}
	}
	if ((rc = store_version_definition(eng_db(e), version_id, &json,
	    err)) < 0)
		return rc;
	pipeline_errors_init(&errs);
	rc = pipeline_parse(&p, &errs, json, strlen(json), "definition", err);
	pipeline_errors_release(&errs);
	free(json);
	if (rc < 0)
		return rc;
	if (e->npipes >= LIM_ENGINE_PIPELINES) {
		for (size_t i = 0; i < e->npipes; i++) {
			if (e->pipes[i].used < e->pass &&
			    (slot == NULL || e->pipes[i].used < slot->used))
				slot = &e->pipes[i];
		}
	}
	if (slot != NULL) {
		pipeline_free(slot->p);
	} else {
		struct eng_pipe *g = realloc(e->pipes,
		    (e->npipes + 1) * sizeof(*g));

		if (g == NULL)
			abort();
		e->pipes = g;
		slot = &e->pipes[e->npipes++];
	}
	slot->version_id = version_id;
	slot->p = p;
	slot->used = e->pass;
	*out = p;
	return 0;
}

/* --- logs and outputs ------------------------------------------------ */

static struct eng_tail *
tail_get(struct engine *e, int64_t attempt_id)
{
	struct eng_tail *t;

	for (size_t i = 0; i < e->ntails; i++)
		if (e->tails[i].attempt_id == attempt_id)
			return &e->tails[i];
	if (e->ntails >= LIM_ENGINE_TAILS)
		return NULL;
	t = realloc(e->tails, (e->ntails + 1) * sizeof(*t));
	if (t == NULL)
		abort();
	e->tails = t;
	t = &e->tails[e->ntails++];
	memset(t, 0, sizeof(*t));
	t->attempt_id = attempt_id;
	stage_output_init(&t->out);
	return t;
}

static void
tail_drop_at(struct engine *e, size_t i)
{
	stage_output_release(&e->tails[i].out);
	e->tails[i] = e->tails[--e->ntails];
}

static void
tail_drop(struct engine *e, int64_t attempt_id)
{
	for (size_t i = 0; i < e->ntails; i++) {
		if (e->tails[i].attempt_id == attempt_id) {
			tail_drop_at(e, i);
			return;
		}
	}
}

/* Forget the tails of attempts the last pass did not see running. */
static void
tail_gc(struct engine *e)
{
	for (size_t i = 0; i < e->ntails;) {
		if (e->tails[i].seen != e->pass)
			tail_drop_at(e, i);
		else
			i++;
	}
}

/* Read what a running attempt printed since last time and store it. */
static void
tail_log(struct eng_pass *ps, const struct snap_attempt *att)
{
	struct engine *e = ps->e;
	struct eng_tail *t = tail_get(e, att->id);
	struct err err;
	struct buf b;
	int64_t next = 0;

	if (t == NULL)
		return;
	t->seen = e->pass;
	buf_init(&b, LIM_LOG_CHUNK);
	if (e->ex.ops->logs(e->ex.impl, att->job_name, t->offset, &b, &next,
	    &err) == 0 && b.len > 0) {
		stage_output_feed(&t->out, b.data, b.len);
		t->offset = next;
		if ((t->out.nmetrics > 0 || t->out.nartifacts > 0) &&
		    store_output_save(eng_db(e), att->id, &t->out, 0, &err) == 0)
			stage_output_clear(&t->out);
	}
	buf_release(&b);
}

/*
 * Read an attempt's whole log into out (a missing log is empty).  Errors:
 * the executor's (the caller tries again later).
 */
static int
read_output(struct engine *e, const char *name, struct stage_output *out,
    struct err *err)
{
	struct buf b;
	int64_t from = 0, next = 0;
	int rc = 0;

	buf_init(&b, LIM_LOG_CHUNK);
	for (;;) {
		buf_reset(&b);
		rc = e->ex.ops->logs(e->ex.impl, name, from, &b, &next, err);
		if (rc == ERR_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc < 0 || b.len == 0 || next <= from)
			break;
		stage_output_feed(out, b.data, b.len);
		from = next;
	}
	stage_output_finish(out);
	buf_release(&b);
	return rc;
}

/* --- gates ------------------------------------------------------------- */

int
eng_gates(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct pipeline_gate *g, size_t n, const struct stage_output *out,
    const struct output_values *vals, char *msg, size_t msglen,
    struct err *err)
{
	const struct snap_stage *st = er->sn[idx];

	msg[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct gate_baseline b;
		char why[400];
		double v = 0;
		int have = 0, rc;

		memset(&b, 0, sizeof(b));
		if (out != NULL) {
			have = stage_output_metric(out, g[i].metric, &v);
		} else {
			for (size_t j = 0; vals != NULL && j < vals->n; j++) {
				if (vals->v[j].metric &&
				    strcmp(vals->v[j].name, g[i].metric) == 0) {
					v = strtod(vals->v[j].value, NULL);
					have = 1;
				}
			}
		}
		if (g[i].baseline && have &&
		    (rc = store_model_baseline(eng_db(ps->e),
		    canary_target(er->p), er->r->pipeline_id, er->r->id,
		    st->name, g[i].metric, &b, err)) < 0)
			return rc;
		if (!gate_check(&g[i], have, v, &b, why, sizeof(why))) {
			(void)snprintf(msg, msglen, "gate failed: %s", why);
			return 0;
		}
	}
	return 1;
}

/* --- building an attempt --------------------------------------------- */

struct subst {
	const struct snap_run		*r;
	json_t				*params;
	const struct output_values	*vals;
};

static int
lookup(void *arg, const struct pipeline_ref *ref, struct buf *out,
    struct err *err)
{
	struct subst *c = arg;
	const struct snap_run *r = c->r;
	int n = (int)ref->name_len, sn = (int)ref->stage_len;

	switch (ref->kind) {
	case PIPELINE_REF_PARAM: {
		json_t *v = c->params != NULL ? json_object_getn(c->params,
		    ref->name, ref->name_len) : NULL;
		char *text;
		int rc;

		if (v == NULL)
			return err_set(err, ERR_INVALID,
			    "param '%.*s' has no value", n, ref->name);
		if (json_is_string(v))
			return buf_append(out, json_string_value(v),
			    json_string_length(v));
		if ((text = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		rc = buf_puts(out, text);
		free(text);
		return rc;
	}
	case PIPELINE_REF_RUN:
		if (ref->name_len == 2 && memcmp(ref->name, "id", 2) == 0)
			return buf_printf(out, "%lld", (long long)r->id);
		if (ref->name_len == 6 && memcmp(ref->name, "commit", 6) == 0)
			return buf_puts(out, r->commit);
		if (ref->name_len == 6 && memcmp(ref->name, "branch", 6) == 0)
			return buf_puts(out, r->branch != NULL ? r->branch : "");
		if (ref->name_len == 7 && memcmp(ref->name, "trigger", 7) == 0)
			return buf_puts(out, r->trigger);
		if (ref->name_len == 8 && memcmp(ref->name, "pipeline", 8) == 0)
			return buf_puts(out, r->pipeline);
		return err_set(err, ERR_INVALID, "run has no field '%.*s'", n,
		    ref->name);
	case PIPELINE_REF_ARTIFACT:
	case PIPELINE_REF_METRIC: {
		int metric = ref->kind == PIPELINE_REF_METRIC;

		for (size_t i = 0; c->vals != NULL && i < c->vals->n; i++) {
			const struct output_value *v = &c->vals->v[i];

			if (v->metric == metric && v->stage != NULL &&
			    strlen(v->stage) == ref->stage_len &&
			    memcmp(v->stage, ref->stage, ref->stage_len) == 0 &&
			    strlen(v->name) == ref->name_len &&
			    memcmp(v->name, ref->name, ref->name_len) == 0)
				return buf_puts(out, v->value);
		}
		return err_set(err, ERR_INVALID, "stage '%.*s' reported no "
		    "%s '%.*s'", sn, ref->stage, metric ? "metric" : "artifact",
		    n, ref->name);
	}
	}
	return err_set(err, ERR_INVALID, "unknown reference");
}

static int
mentions_stages(const char *s)
{
	return s != NULL && strstr(s, "${stages.") != NULL;
}

static int
subst_one(struct subst *c, const char *tmpl, struct buf *b, struct err *err)
{
	int rc;

	buf_reset(b);
	if ((rc = pipeline_substitute(tmpl, lookup, c, b, err)) < 0)
		return rc;
	if (b->data == NULL && (rc = buf_puts(b, "")) < 0)
		return err_set(err, rc, "out of memory");
	return 0;
}

static void
env_int(struct attempt_spec *s, const char *name, int64_t v)
{
	char text[32];

	(void)snprintf(text, sizeof(text), "%lld", (long long)v);
	attempt_spec_env(s, name, text);
}

/*
 * What attempt `attempt` (kind, canary step and weight) of stage idx
 * runs: the command (the rollback command for a rollback) and env with
 * ${...} substituted, the stage protocol's SLUICE_* environment, the stage's scheduling
 * fields and the local checkout.  ERR_INVALID when a reference has no
 * value (the stage cannot start; lookup() words the message itself, which
 * pipeline_substitute() would replace for ERR_NOTFOUND); database errors.
 */
static int
build_spec(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const char *kind, int attempt, int step, int weight, const char *prev_uri,
    struct attempt_spec *spec, struct err *err)
{
	struct engine *e = ps->e;
	const struct pipeline_stage *pst = &er->p->stages[idx];
	const struct pipeline_strs *cmd = eng_is(kind, "rollback") ?
	    &pst->canary->rollback_command : &pst->command;
	struct output_values vals = { NULL, 0 };
	struct subst c = { er->r, NULL, &vals };
	int need = mentions_stages(pst->image), rc = 0;
	const char *key;
	json_t *v;
	struct buf b;

	attempt_spec_init(spec);
	buf_init(&b, LIM_EXEC_SPEC);
	for (size_t i = 0; i < cmd->n; i++)
		need |= mentions_stages(cmd->v[i]);
	for (size_t i = 0; i < pst->env.n; i++)
		need |= mentions_stages(pst->env.v[i].value);
	if (need && (rc = store_output_run_values(eng_db(e), er->r->id, &vals,
	    err)) < 0)
		goto out;
	c.params = json_loads(er->r->params != NULL ? er->r->params : "{}", 0,
	    NULL);
	if (pst->image != NULL) {
		if ((rc = subst_one(&c, pst->image, &b, err)) < 0)
			goto out;
		spec->image = xstrdup(b.data);
	}
	for (size_t i = 0; i < cmd->n; i++) {
		if ((rc = subst_one(&c, cmd->v[i], &b, err)) < 0)
			goto out;
		attempt_spec_arg(spec, b.data);
	}
	env_int(spec, "SLUICE_RUN_ID", er->r->id);
	attempt_spec_env(spec, "SLUICE_STAGE", pst->name);
	env_int(spec, "SLUICE_ATTEMPT", attempt);
	attempt_spec_env(spec, "SLUICE_COMMIT", er->r->commit);
	attempt_spec_env(spec, "SLUICE_PIPELINE", er->r->pipeline);
	if (json_is_object(c.params)) {
		json_object_foreach(c.params, key, v) {
			char name[300];
			size_t n = strlen(key);
			int w;

			if (n > 255)
				continue;
			w = snprintf(name, sizeof(name), "SLUICE_PARAM_%s", key);
			for (int i = 13; i < w; i++)
				if (name[i] >= 'a' && name[i] <= 'z')
					name[i] = (char)(name[i] - 'a' + 'A');
			if (json_is_string(v)) {
				attempt_spec_env(spec, name,
				    json_string_value(v));
			} else {
				char *text = json_dumps(v, JSON_ENCODE_ANY);

				attempt_spec_env(spec, name,
				    text != NULL ? text : "");
				free(text);
			}
		}
	}
	if (!eng_is(kind, "job")) {
		attempt_spec_env(spec, "SLUICE_CANARY_TARGET",
		    pst->canary->target);
		env_int(spec, "SLUICE_CANARY_WEIGHT", weight);
		env_int(spec, "SLUICE_CANARY_STEP", step);
		attempt_spec_env(spec, "SLUICE_PREVIOUS_MODEL",
		    prev_uri != NULL ? prev_uri : "");
	}
	for (size_t i = 0; i < pst->env.n; i++) {
		if ((rc = subst_one(&c, pst->env.v[i].value, &b, err)) < 0)
			goto out;
		attempt_spec_env(spec, pst->env.v[i].key, b.data);
	}
	attempt_spec_schedule(spec, pst);
	spec->checkout = er->p->checkout;
	if (er->p->checkout && e->cfg->executor == EXECUTOR_LOCAL) {
		char dir[LIM_PATH];

		if (snprintf(dir, sizeof(dir), "%s/%lld", e->workroot,
		    (long long)er->r->id) >= (int)sizeof(dir)) {
			rc = err_set(err, ERR_INVALID, "state_dir path too long");
			goto out;
		}
		spec->workdir = xstrdup(dir);
	}
out:
	if (rc == ERR_TOOBIG)
		rc = err_set(err, ERR_INVALID, "command or env longer than %d "
		    "bytes after substitution", LIM_EXEC_SPEC);
	if (rc < 0)
		attempt_spec_release(spec);
	json_decref(c.params);
	output_values_release(&vals);
	buf_release(&b);
	return rc;
}

/* --- checkouts -------------------------------------------------------- */

static int
mkdir_p(const char *path)
{
	char tmp[LIM_PATH];

	if (str_copy(tmp, sizeof(tmp), path) < 0)
		return -1;
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/*
 * The run's checkout, state_dir/work/<run>: exported once (into a
 * temporary name, then renamed, so a crash never leaves half a tree under
 * the real name).  Errors: gitsrc_checkout_commit()'s.
 */
static int
ensure_checkout(struct engine *e, const struct snap_run *r, const char *dir,
    struct err *err)
{
	char tmp[LIM_PATH];
	struct stat sb;
	int rc;

	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	if (mkdir_p(e->workroot) < 0)
		return err_set(err, ERR_TRANSIENT, "cannot create '%s': %s",
		    e->workroot, strerror(errno));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dir) >= (int)sizeof(tmp))
		return err_set(err, ERR_INVALID, "path too long");
	if ((rc = gitsrc_remove_dir(tmp, err)) < 0)
		return rc;
	if ((rc = gitsrc_checkout_commit(e->cfg->state_dir, r->repo, r->commit,
	    tmp, err)) < 0)
		return rc;
	if (rename(tmp, dir) < 0)
		return err_set(err, ERR_TRANSIENT, "cannot rename '%s': %s", tmp,
		    strerror(errno));
	log_info("checkout exported", "run=%lld commit=%s dir=%s",
	    (long long)r->id, r->commit, dir);
	return 0;
}

static void
remove_checkout(struct engine *e, int64_t run_id)
{
	char dir[LIM_PATH];
	struct err err;

	if (e->cfg->executor != EXECUTOR_LOCAL ||
	    snprintf(dir, sizeof(dir), "%s/%lld", e->workroot,
	    (long long)run_id) >= (int)sizeof(dir))
		return;
	if (gitsrc_remove_dir(dir, &err) < 0)
		log_warn("cannot remove checkout", "run=%lld error=\"%s\"",
		    (long long)run_id, err.msg);
}

static const char *
repo_url(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nrepositories; i++)
		if (eng_is(cfg->repositories[i].name, name))
			return cfg->repositories[i].url;
	return NULL;
}

/* --- attempts ----------------------------------------------------------- */

static void finish_attempt(struct eng_pass *ps, struct eng_run *er,
    size_t idx, const struct exec_status *xs, int timed_out);

static void
synthetic(struct exec_status *xs, enum exec_state state, const char *msg)
{
	memset(xs, 0, sizeof(*xs));
	xs->state = state;
	xs->exit_code = -1;
	(void)str_copy(xs->message, sizeof(xs->message), msg);
}

/*
 * Hand the attempt of stage idx (its row already written) to the executor:
 * with spec when the caller just built it, else as recorded.  Submit is
 * idempotent by name, so this is also how a restarted engine adopts what
 * its predecessor may or may not have started.
 */
static void
submit_now(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct attempt_spec *spec_in)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	struct attempt_spec loaded;
	const struct attempt_spec *spec = spec_in;
	struct exec_attempt a;
	struct exec_status xs;
	struct err err;
	char *json = NULL;
	int rc;

	attempt_spec_init(&loaded);
	if (spec == NULL) {
		if ((rc = store_attempt_spec(eng_db(e), att->id, &json,
		    &err)) < 0)
			goto transient;
		if ((rc = attempt_spec_from_json(&loaded, json, &err)) < 0)
			goto invalid;
		spec = &loaded;
	}
	if (spec->workdir != NULL &&
	    (rc = ensure_checkout(e, er->r, spec->workdir, &err)) < 0) {
		if (rc == ERR_TRANSIENT)
			goto transient;
		err_prefix(&err, "cannot check out commit %s", er->r->commit);
		goto invalid;
	}
	memset(&a, 0, sizeof(a));
	a.name = att->job_name;
	a.run_id = er->r->id;
	a.pipeline = er->r->pipeline;
	a.stage = st->name;
	a.attempt = att->attempt;
	a.step = att->step;
	a.kind = att->kind;
	attempt_spec_to_exec(spec, &a);
	a.repo_url = repo_url(e->cfg, er->r->repo);
	a.commit = er->r->commit;
	e->st.submits++;
	rc = e->ex.ops->submit(e->ex.impl, &a, &err);
	if (rc == ERR_INVALID)
		goto invalid;
	if (rc < 0)
		goto transient;
	if (eng_is(att->status, "pending")) {
		if (store_attempt_submitted(eng_db(e), att->id, er->r->id,
		    ENGINE_ACTOR, &err) == 0) {
			SET(att->status, "submitted");
			eng_changed(ps);
		}
	}
	log_info("attempt submitted", "run=%lld stage=%s job=%s",
	    (long long)er->r->id, st->name, att->job_name);
	eng_wake_in(ps, e->o.poll_ms);
	goto out;
invalid:
	log_warn("attempt cannot run", "run=%lld stage=%s job=%s error=\"%s\"",
	    (long long)er->r->id, st->name, att->job_name, err.msg);
	synthetic(&xs, EXEC_FAILED, err.msg);
	finish_attempt(ps, er, idx, &xs, 0);
	goto out;
transient:
	log_warn("attempt submit failed, will retry", "run=%lld stage=%s "
	    "job=%s error=\"%s\"", (long long)er->r->id, st->name,
	    att->job_name, err.msg);
	eng_wake_in(ps, e->o.poll_ms);
out:
	attempt_spec_release(&loaded);
	free(json);
}

static const char *
state_name(enum exec_state s)
{
	switch (s) {
	case EXEC_SUCCEEDED:
		return "succeeded";
	case EXEC_CANCELED:
		return "canceled";
	default:
		return "failed";
	}
}

/*
 * An attempt ended (xs is terminal): store what it reported, then write
 * the attempt's end and its stage's transition in one statement, then
 * release it in the executor.  Job stages: gates and model registration
 * on success, retries with backoff on failure.  Canary steps and
 * rollbacks only end the attempt; canary_advance() decides what follows.
 */
static void
finish_attempt(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const struct exec_status *xs, int timed_out)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	const struct pipeline_stage *pst = &er->p->stages[idx];
	struct stage_output out;
	struct attempt_end ae;
	struct err err;
	char amsg[600], smsg[1400], wait[1400], dur[32];
	const char *status = state_name(xs->state);
	int job = eng_is(att->kind, "job"), rc;

	stage_output_init(&out);
	if ((rc = read_output(e, att->job_name, &out, &err)) < 0) {
		log_warn("cannot read attempt log, will retry", "job=%s "
		    "error=\"%s\"", att->job_name, err.msg);
		eng_wake_in(ps, e->o.poll_ms);
		goto out;
	}
	if ((rc = store_output_save(eng_db(e), att->id, &out,
	    xs->finished_at, &err)) < 0) {
		log_warn("cannot store attempt output", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		goto out;
	}
	if (out.ignored > 0)
		log_warn("malformed ::metric/::artifact items ignored",
		    "job=%s count=%zu", att->job_name, out.ignored);
	if (timed_out) {
		units_format_duration(pst->timeout_ms, dur, sizeof(dur));
		status = "failed";
		(void)snprintf(amsg, sizeof(amsg), "timeout after %s (stopped "
		    "by the controller)", dur);
	} else if (xs->message[0] != '\0') {
		(void)str_copy(amsg, sizeof(amsg), xs->message);
	} else if (xs->state == EXEC_FAILED) {
		(void)snprintf(amsg, sizeof(amsg), "exit status %d",
		    xs->exit_code);
	} else {
		amsg[0] = '\0';
	}
	memset(&ae, 0, sizeof(ae));
	ae.attempt_id = att->id;
	ae.run_id = er->r->id;
	ae.status = status;
	ae.exit_code = xs->exit_code;
	ae.message = amsg[0] != '\0' ? amsg : NULL;
	ae.started_ms = xs->started_at;
	ae.finished_ms = xs->finished_at;
	ae.stage_id = st->id;
	ae.stage_from = st->status;
	ae.actor = ENGINE_ACTOR;
	smsg[0] = wait[0] = '\0';
	if (!job) {
		/* canary: the stage runs on (canary_advance decides) */
		if (eng_is(st->status, "submitted"))
			ae.stage_to = "running";
	} else if (xs->state == EXEC_SUCCEEDED && !timed_out) {
		int64_t model = 0;

		if (stage_output_artifact(&out, "model") != NULL &&
		    (rc = store_model_register(eng_db(e), att->id, er->r->id,
		    st->id, er->r->pipeline, ENGINE_ACTOR, &model, &err)) < 0) {
			log_warn("cannot register model", "job=%s error=\"%s\"",
			    att->job_name, err.msg);
			goto out;
		}
		if (model != 0)
			log_info("model version registered", "run=%lld stage=%s "
			    "model_version=%lld", (long long)er->r->id, st->name,
			    (long long)model);
		rc = eng_gates(ps, er, idx, pst->gates, pst->ngates, &out, NULL,
		    smsg, sizeof(smsg), &err);
		if (rc < 0) {
			log_warn("cannot evaluate gates", "job=%s error=\"%s\"",
			    att->job_name, err.msg);
			goto out;
		}
		ae.stage_to = rc == 1 ? "succeeded" : "failed";
	} else if (er->r->cancel) {
		ae.stage_to = "canceled";
		(void)snprintf(smsg, sizeof(smsg), "run canceled by %s",
		    cancel_actor(er->r));
	} else if (att->attempt <= pst->retries) {
		char bo[32];
		int64_t d = backoff_ms(e, att->attempt);

		units_format_duration(d, bo, sizeof(bo));
		ae.stage_to = "pending";
		(void)snprintf(wait, sizeof(wait), "attempt %d failed (%s); "
		    "attempt %d of %d in %s", att->attempt,
		    amsg[0] ? amsg : status, att->attempt + 1, pst->retries + 1,
		    bo);
		eng_wake_in(ps, d);
	} else {
		ae.stage_to = "failed";
		if (pst->retries > 0)
			(void)snprintf(smsg, sizeof(smsg), "failed after %d "
			    "attempts: %s", att->attempt, amsg[0] ? amsg : status);
		else
			(void)snprintf(smsg, sizeof(smsg), "%s",
			    amsg[0] ? amsg : status);
	}
	ae.stage_message = smsg[0] != '\0' ? smsg : NULL;
	ae.waiting_reason = wait[0] != '\0' ? wait : NULL;
	if ((rc = store_attempt_finish(eng_db(e), &ae, &err)) < 0) {
		log_warn("cannot record attempt end", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		goto out;
	}
	eng_changed(ps);
	log_info("attempt finished", "run=%lld stage=%s job=%s status=%s "
	    "stage_status=%s message=\"%s\"", (long long)er->r->id, st->name,
	    att->job_name, status, ae.stage_to ? ae.stage_to : st->status,
	    smsg[0] ? smsg : amsg);
	SET(att->status, status);
	att->finished_ms = ps->snap.now_ms;
	if (att->started_ms == 0)
		att->started_ms = xs->started_at;
	if (er->amsg != NULL) {
		(void)str_copy(er->amsg[idx], sizeof(er->amsg[idx]), amsg);
		att->message = amsg[0] != '\0' ? er->amsg[idx] : NULL;
	}
	if (ae.stage_to != NULL)
		SET(st->status, ae.stage_to);
	if (smsg[0] != '\0')
		eng_note(er, idx, smsg);
	ps->active--;
	ps->gpus_used -= att->gpus;
	if (e->ex.ops->release(e->ex.impl, att->job_name, &err) < 0)
		log_debug("release failed", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
	tail_drop(e, att->id);
out:
	stage_output_release(&out);
}

/*
 * Look at an active attempt: submit it if it never got to the executor
 * (or the executor lost it), record that it runs, read its log as it
 * grows, enforce the deadline, and finish it once it has ended.  In a
 * canceled run, jobs and canary steps are canceled instead (rollbacks
 * run to their end).
 */
static void
poll_attempt(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	struct engine *e = ps->e;
	struct snap_stage *st = er->sn[idx];
	struct snap_attempt *att = &st->att;
	const struct pipeline_stage *pst = &er->p->stages[idx];
	int cancel = er->r->cancel && !eng_is(att->kind, "rollback");
	int64_t limit = pst->timeout_ms > 0 ?
	    pst->timeout_ms + e->o.timeout_margin_ms : 0;
	struct exec_status xs;
	struct err err;
	int rc;

	if (eng_is(att->status, "pending") && !cancel) {
		submit_now(ps, er, idx, NULL);
		return;
	}
	if (cancel && (rc = e->ex.ops->cancel(e->ex.impl, att->job_name,
	    &err)) < 0)
		log_warn("cannot cancel attempt", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
	if ((rc = e->ex.ops->status(e->ex.impl, att->job_name, &xs,
	    &err)) < 0) {
		log_warn("cannot read attempt status", "job=%s error=\"%s\"",
		    att->job_name, err.msg);
		eng_wake_in(ps, e->o.poll_ms);
		return;
	}
	switch (xs.state) {
	case EXEC_UNKNOWN:
		if (cancel) {
			synthetic(&xs, EXEC_CANCELED, "canceled before it started");
			finish_attempt(ps, er, idx, &xs, 0);
		} else {
			submit_now(ps, er, idx, NULL);
		}
		return;
	case EXEC_PENDING:
		if (xs.waiting_reason[0] != '\0' &&
		    !eng_is(st->waiting_reason, xs.waiting_reason) &&
		    store_stage_waiting(eng_db(e), st->id, xs.waiting_reason,
		    &err) < 0)
			log_warn("cannot record waiting reason", "job=%s "
			    "error=\"%s\"", att->job_name, err.msg);
		eng_wake_in(ps, e->o.poll_ms);
		return;
	case EXEC_RUNNING:
		if (!eng_is(att->status, "running")) {
			if (store_attempt_running(eng_db(e), att->id, er->r->id,
			    xs.started_at, ENGINE_ACTOR, &err) == 0) {
				SET(att->status, "running");
				att->started_ms = xs.started_at;
				if (eng_is(st->status, "submitted"))
					SET(st->status, "running");
				eng_changed(ps);
			} else {
				log_warn("cannot record attempt running",
				    "job=%s error=\"%s\"", att->job_name,
				    err.msg);
			}
		}
		tail_log(ps, att);
		if (limit > 0 && xs.started_at > 0) {
			int64_t over = now_local_ms() - xs.started_at - limit;

			if (over >= 0 && !cancel) {
				log_warn("attempt past its deadline, canceling",
				    "job=%s timeout_ms=%lld", att->job_name,
				    (long long)pst->timeout_ms);
				(void)e->ex.ops->cancel(e->ex.impl,
				    att->job_name, &err);
			} else if (over < 0) {
				eng_wake_in(ps, -over);
			}
		}
		eng_wake_in(ps, e->o.poll_ms);
		return;
	default:
		finish_attempt(ps, er, idx, &xs, xs.state == EXEC_CANCELED &&
		    !cancel && limit > 0 && xs.started_at > 0 &&
		    (xs.finished_at ? xs.finished_at : now_local_ms()) -
		    xs.started_at >= limit);
		return;
	}
}

/* --- starting work ------------------------------------------------------ */

void
eng_request(struct eng_pass *ps, struct eng_run *er, size_t idx,
    enum req_kind kind, const char *from, const char *reason)
{
	struct eng_req *rq;
	size_t order = 0;

	for (size_t k = 0; k < er->p->nstages; k++)
		if (er->p->order[k] == idx)
			order = k;
	rq = realloc(ps->reqs, (ps->nreqs + 1) * sizeof(*rq));
	if (rq == NULL)
		abort();
	ps->reqs = rq;
	rq = &ps->reqs[ps->nreqs++];
	memset(rq, 0, sizeof(*rq));
	rq->kind = kind;
	rq->run = er;
	rq->idx = idx;
	rq->order = order;
	rq->gpus = er->p->stages[idx].resources.gpu;
	if (from != NULL)
		SET(rq->from, from);
	if (reason != NULL)
		(void)str_copy(rq->reason, sizeof(rq->reason), reason);
}

/* The stage cannot start at all (a reference without value, ...). */
static void
fail_start(struct eng_pass *ps, struct eng_run *er, size_t idx,
    const char *why)
{
	struct snap_stage *st = er->sn[idx];
	char msg[1200];
	struct err err;

	(void)snprintf(msg, sizeof(msg), "cannot start: %s", why);
	if (store_stage_transition(eng_db(ps->e), st->id, er->r->id, st->status,
	    "failed", msg, NULL, ENGINE_ACTOR, &err) < 0) {
		log_warn("cannot record stage failure", "run=%lld stage=%s "
		    "error=\"%s\"", (long long)er->r->id, st->name, err.msg);
		return;
	}
	log_warn("stage cannot start", "run=%lld stage=%s error=\"%s\"",
	    (long long)er->r->id, st->name, why);
	SET(st->status, "failed");
	eng_note(er, idx, msg);
	eng_changed(ps);
}

static void
fill_attempt(struct attempt_new *an, struct eng_pass *ps, struct eng_run *er,
    size_t idx, const char *kind, int step, int attempt, int weight,
    const char *job, const char *spec)
{
	const struct pipeline_stage *pst = &er->p->stages[idx];

	memset(an, 0, sizeof(*an));
	an->stage_id = er->sn[idx]->id;
	an->run_id = er->r->id;
	an->kind = kind;
	an->step = step;
	an->attempt = attempt;
	an->weight = weight;
	an->executor = ps->e->executor_name;
	an->job_name = job;
	an->gpus = pst->resources.gpu;
	an->gpu_resource = pst->resources.gpu_resource;
	an->spec = spec;
	an->actor = ENGINE_ACTOR;
}

/* Start what rq asks for: write the attempt row (and the transitions it
 * goes with), then submit it. */
static void
start(struct eng_pass *ps, struct eng_req *rq)
{
	struct engine *e = ps->e;
	struct eng_run *er = rq->run;
	struct snap_stage *st = er->sn[rq->idx];
	const struct pipeline_stage *pst = &er->p->stages[rq->idx];
	struct attempt_spec spec;
	struct attempt_new an;
	struct err err;
	const char *kind = "canary_step", *prev_uri = st->ro.prev_uri;
	char *json = NULL, *prod_uri = NULL;
	int64_t att_id = 0, prev_id = 0;
	int attempt = 1, step = 0, weight = -1, rc;

	switch (rq->kind) {
	case REQ_JOB:
		kind = "job";
		if (st->att.id != 0 && eng_is(st->att.kind, "job"))
			attempt = st->att.attempt + 1;
		break;
	case REQ_CANARY_START:
		step = 1;
		weight = pst->canary->steps[0].weight;
		if ((rc = store_model_production(eng_db(e),
		    pst->canary->target, &prev_id, &prod_uri, &err)) < 0)
			goto transient;
		prev_uri = prod_uri;
		break;
	case REQ_CANARY_NEXT:
		step = st->ro.step + 1;
		weight = pst->canary->steps[step - 1].weight;
		break;
	case REQ_ROLLBACK:
		kind = "rollback";
		step = st->ro.step;
		weight = 0;
		break;
	}
	if ((rc = build_spec(ps, er, rq->idx, kind, attempt, step, weight,
	    prev_uri, &spec, &err)) < 0) {
		if (rc == ERR_TRANSIENT)
			goto transient;
		if (rq->kind == REQ_ROLLBACK || rq->kind == REQ_CANARY_NEXT) {
			char msg[1700];

			(void)snprintf(msg, sizeof(msg), "%s%s%s cannot start: "
			    "%s", rq->reason, rq->reason[0] ? "; " : "",
			    rq->kind == REQ_ROLLBACK ? "the rollback" :
			    "the next step", err.msg);
			if (store_rollout_end(eng_db(e), st->ro.id, er->r->id,
			    st->id, rq->from, "failed", st->status,
			    er->r->cancel ? "canceled" : "failed", msg,
			    ENGINE_ACTOR, &err) == 0) {
				SET(st->status, er->r->cancel ? "canceled" :
				    "failed");
				eng_note(er, rq->idx, msg);
				eng_changed(ps);
			}
		} else {
			fail_start(ps, er, rq->idx, err.msg);
		}
		goto out;
	}
	if (attempt_name(rq->job, sizeof(rq->job), er->r->id, st->name,
	    attempt, kind, step < 1 ? 1 : step) < 0) {
		fail_start(ps, er, rq->idx, "no valid attempt name");
		attempt_spec_release(&spec);
		goto out;
	}
	if ((rc = attempt_spec_to_json(&spec, &json, &err)) < 0) {
		fail_start(ps, er, rq->idx, err.msg);
		attempt_spec_release(&spec);
		goto out;
	}
	fill_attempt(&an, ps, er, rq->idx, kind, eng_is(kind, "canary_step") ?
	    step : 0, attempt, weight, rq->job, json);
	switch (rq->kind) {
	case REQ_JOB:
		rc = store_attempt_create(eng_db(e), &an, &att_id, &err);
		break;
	case REQ_CANARY_START:
		rc = store_rollout_start(eng_db(e), &an, pst->canary->target,
		    (int)pst->canary->nsteps, prev_id, &att_id, &err);
		break;
	case REQ_CANARY_NEXT:
		rc = store_rollout_next(eng_db(e), st->ro.id, rq->from,
		    st->ro.step, &an, &att_id, &err);
		break;
	case REQ_ROLLBACK:
		rc = store_rollout_rollback(eng_db(e), st->ro.id, rq->from,
		    rq->reason, &an, &att_id, &err);
		break;
	}
	if (rc < 0) {
		log_warn("cannot record attempt start", "run=%lld stage=%s "
		    "job=%s error=\"%s\"", (long long)er->r->id, st->name,
		    rq->job, err.msg);
		attempt_spec_release(&spec);
		goto out;
	}
	eng_changed(ps);
	log_info("attempt created", "run=%lld stage=%s job=%s kind=%s",
	    (long long)er->r->id, st->name, rq->job, kind);
	/* what the snapshot would now say */
	if (rq->kind == REQ_JOB || rq->kind == REQ_CANARY_START)
		SET(st->status, "submitted");
	else if (eng_is(st->status, "waiting_approval"))
		SET(st->status, "running");
	if (rq->kind == REQ_CANARY_START) {
		SET(st->ro.status, "progressing");
		st->ro.step = 1;
	} else if (rq->kind == REQ_CANARY_NEXT) {
		SET(st->ro.status, "progressing");
		st->ro.step = step;
	} else if (rq->kind == REQ_ROLLBACK) {
		SET(st->ro.status, "rolling_back");
	}
	memset(&st->att, 0, sizeof(st->att));
	st->att.id = att_id;
	st->att.kind = kind;
	st->att.step = an.step;
	st->att.attempt = attempt;
	st->att.weight = weight;
	st->att.gpus = an.gpus;
	SET(st->att.status, "pending");
	st->att.job_name = rq->job;
	ps->active++;
	ps->gpus_used += an.gpus;
	submit_now(ps, er, rq->idx, &spec);
	attempt_spec_release(&spec);
	goto out;
transient:
	log_warn("cannot start attempt, will retry", "run=%lld stage=%s "
	    "error=\"%s\"", (long long)er->r->id, st->name, err.msg);
	eng_wake_in(ps, e->o.poll_ms);
out:
	free(json);
	free(prod_uri);
}

static int
req_cmp(const void *a, const void *b)
{
	const struct eng_req *x = a, *y = b;
	int xr = x->kind == REQ_ROLLBACK, yr = y->kind == REQ_ROLLBACK;

	if (xr != yr)
		return yr - xr;
	if (x->run->r->id != y->run->r->id)
		return x->run->r->id < y->run->r->id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void
set_waiting(struct eng_pass *ps, struct snap_stage *st, const char *reason)
{
	struct err err;

	if (eng_is(st->waiting_reason, reason))
		return;
	if (store_stage_waiting(eng_db(ps->e), st->id, reason, &err) < 0)
		log_warn("cannot record waiting reason", "stage=%lld "
		    "error=\"%s\"", (long long)st->id, err.msg);
}

/*
 * Start the requests of this pass in first-in-first-out order (the oldest
 * run first, then pipeline order), under max_parallel_stages and the GPU
 * cap.  Rollbacks go first and are never held back.  A stage that needs
 * GPUs and does not fit blocks every younger stage that needs GPUs, so a
 * large request is not starved by a stream of small ones; stages needing
 * no GPU pass it (docs/engine.md, "Fairness").
 */
static void
admit(struct eng_pass *ps)
{
	struct engine *e = ps->e;
	int slots = e->cfg->max_parallel_stages - ps->active;
	int cap = e->cfg->kubernetes.max_gpus;
	int gpu_free = cap - ps->gpus_used;
	const struct eng_req *blocker = NULL;

	if (ps->nreqs > 1)
		qsort(ps->reqs, ps->nreqs, sizeof(*ps->reqs), req_cmp);
	for (size_t i = 0; i < ps->nreqs; i++) {
		struct eng_req *rq = &ps->reqs[i];
		struct snap_stage *st = rq->run->sn[rq->idx];
		char why[300];

		why[0] = '\0';
		if (rq->kind == REQ_ROLLBACK) {
			start(ps, rq);
			slots--;
			gpu_free -= rq->gpus;
			continue;
		}
		if (cap > 0 && rq->gpus > cap) {
			(void)snprintf(why, sizeof(why), "needs %d GPUs, more "
			    "than kubernetes.max_gpus (%d)", rq->gpus, cap);
			if (rq->kind == REQ_JOB || rq->kind == REQ_CANARY_START)
				fail_start(ps, rq->run, rq->idx, why);
			continue;
		}
		if (slots <= 0) {
			(void)snprintf(why, sizeof(why), "waiting for a free "
			    "slot (max_parallel_stages %d)",
			    e->cfg->max_parallel_stages);
		} else if (cap > 0 && rq->gpus > 0 && blocker != NULL) {
			(void)snprintf(why, sizeof(why), "waiting for GPUs "
			    "behind stage '%s' of run %lld",
			    blocker->run->sn[blocker->idx]->name,
			    (long long)blocker->run->r->id);
		} else if (cap > 0 && rq->gpus > gpu_free) {
			(void)snprintf(why, sizeof(why), "waiting for %d GPUs "
			    "(%d of kubernetes.max_gpus %d in use)", rq->gpus,
			    cap - gpu_free, cap);
			blocker = rq;
		}
		if (why[0] != '\0') {
			ps->waiting++;
			set_waiting(ps, st, why);
			continue;
		}
		start(ps, rq);
		slots--;
		gpu_free -= rq->gpus;
	}
}

/* --- runs and stages -------------------------------------------------- */

/* A pending stage: skip it, wait, or ask to start it. */
static void
pending_stage(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	const struct pipeline_stage *pst = &er->p->stages[idx];
	struct snap_stage *st = er->sn[idx];
	struct err err;

	for (size_t j = 0; j < pst->needs.n; j++) {
		const struct snap_stage *d = er->sn[pst->need_index[j]];
		char msg[300];

		if (eng_is(d->status, "succeeded"))
			continue;
		if (!eng_is_final(d->status))
			return;
		(void)snprintf(msg, sizeof(msg), "skipped: needs '%s', which "
		    "%s", d->name, eng_is(d->status, "failed") ? "failed" :
		    eng_is(d->status, "skipped") ? "was skipped" :
		    "was canceled");
		if (store_stage_transition(eng_db(ps->e), st->id, er->r->id,
		    "pending", "skipped", msg, NULL, ENGINE_ACTOR, &err) < 0) {
			log_warn("cannot skip stage", "run=%lld stage=%s "
			    "error=\"%s\"", (long long)er->r->id, st->name,
			    err.msg);
			return;
		}
		SET(st->status, "skipped");
		eng_changed(ps);
		return;
	}
	if (st->att.id != 0 && eng_is(st->att.kind, "job") &&
	    !eng_attempt_active(&st->att)) {
		int64_t due = st->att.finished_ms +
		    backoff_ms(ps->e, st->att.attempt);

		if (ps->snap.now_ms < due) {
			eng_wake_in(ps, due - ps->snap.now_ms);
			return;
		}
	}
	eng_request(ps, er, idx, pst->type == PIPELINE_STAGE_CANARY ?
	    REQ_CANARY_START : REQ_JOB, NULL, NULL);
}

static void
drive_stage(struct eng_pass *ps, struct eng_run *er, size_t idx)
{
	struct snap_stage *st = er->sn[idx];

	if (eng_is_final(st->status))
		return;
	if (eng_is(st->status, "pending")) {
		if (!er->r->cancel)
			pending_stage(ps, er, idx);
		return;
	}
	if (eng_attempt_active(&st->att))
		poll_attempt(ps, er, idx);
	if (er->p->stages[idx].canary != NULL && !eng_is_final(st->status) &&
	    !eng_attempt_active(&st->att))
		canary_advance(ps, er, idx);
}

static void
drive_run(struct eng_pass *ps, struct eng_run *er)
{
	struct err err;

	if (er->r->cancel) {
		int pending = 0;

		for (size_t i = 0; i < er->p->nstages; i++)
			pending |= eng_is(er->sn[i]->status, "pending");
		if (pending) {
			if (store_stage_cancel_pending(eng_db(ps->e), er->r->id,
			    ENGINE_ACTOR, &err) < 0) {
				log_warn("cannot cancel pending stages",
				    "run=%lld error=\"%s\"",
				    (long long)er->r->id, err.msg);
				return;
			}
			for (size_t i = 0; i < er->p->nstages; i++) {
				if (eng_is(er->sn[i]->status, "pending")) {
					SET(er->sn[i]->status, "canceled");
					eng_note(er, i, "run canceled");
				}
			}
			eng_changed(ps);
		}
	}
	for (size_t k = 0; k < er->p->nstages; k++)
		drive_stage(ps, er, er->p->order[k]);
}

/* After the starts: end the run, or keep its status true. */
static void
sync_run(struct eng_pass *ps, struct eng_run *er)
{
	struct snap_run *r = er->r;
	const char *to = NULL;
	char msg[1400];
	int all = 1, bad = 0, canceled = 0, waiting = 0, busy = 0;
	struct err err;

	msg[0] = '\0';
	for (size_t k = 0; k < er->p->nstages; k++) {
		size_t i = er->p->order[k];
		const char *s = er->sn[i]->status;

		all &= eng_is_final(s);
		canceled |= eng_is(s, "canceled");
		waiting |= eng_is(s, "waiting_approval");
		busy |= eng_is(s, "submitted") || eng_is(s, "running");
		if (eng_is(s, "failed") && !bad) {
			const char *m = stage_message(er, i);

			bad = 1;
			(void)snprintf(msg, sizeof(msg), "stage '%s' failed%s%s",
			    er->sn[i]->name, m ? ": " : "", m ? m : "");
		} else if (eng_is(s, "skipped") || eng_is(s, "canceled")) {
			bad = 1;
		}
	}
	if (all) {
		if (r->cancel && canceled) {
			to = "canceled";
			(void)snprintf(msg, sizeof(msg), "canceled by %s",
			    cancel_actor(r));
		} else {
			to = bad ? "failed" : "succeeded";
			if (!bad)
				msg[0] = '\0';
		}
	} else {
		to = waiting && !busy ? "waiting_approval" : "running";
	}
	if (eng_is(to, r->status))
		return;
	if (store_run_transition(eng_db(ps->e), r->id, r->status, to,
	    msg[0] ? msg : NULL, ENGINE_ACTOR, &err) < 0) {
		log_warn("cannot record run transition", "run=%lld to=%s "
		    "error=\"%s\"", (long long)r->id, to, err.msg);
		return;
	}
	log_info("run transition", "run=%lld pipeline=%s from=%s to=%s "
	    "message=\"%s\"", (long long)r->id, r->pipeline, r->status, to, msg);
	SET(r->status, to);
	eng_changed(ps);
	if (eng_is_final(to))
		remove_checkout(ps->e, r->id);
}

/* Match the snapshot's stages to the pipeline's; 0 or -1 with why. */
static int
map_run(struct engine *e, struct eng_run *er, char *why, size_t whylen)
{
	struct err err;
	int rc;

	if ((rc = pipe_get(e, er->r->version_id, &er->p, &err)) < 0) {
		(void)snprintf(why, whylen, "cannot read pipeline version %lld: "
		    "%s", (long long)er->r->version_id, err.msg);
		return rc == ERR_TRANSIENT ? ERR_TRANSIENT : -1;
	}
	er->sn = xcalloc(er->p->nstages + 1, sizeof(*er->sn));
	er->msg = xcalloc(er->p->nstages + 1, sizeof(*er->msg));
	er->amsg = xcalloc(er->p->nstages + 1, sizeof(*er->amsg));
	for (size_t i = 0; i < er->r->nstages; i++) {
		long j = pipeline_stage_index(er->p, er->r->stages[i].name);

		if (j < 0) {
			(void)snprintf(why, whylen, "stage '%s' is not in "
			    "pipeline version %lld", er->r->stages[i].name,
			    (long long)er->r->version_id);
			return -1;
		}
		er->sn[j] = &er->r->stages[i];
	}
	for (size_t i = 0; i < er->p->nstages; i++) {
		if (er->sn[i] == NULL) {
			(void)snprintf(why, whylen, "the run has no stage '%s'",
			    er->p->stages[i].name);
			return -1;
		}
	}
	return 0;
}

static void
pass_release(struct eng_pass *ps)
{
	for (size_t i = 0; i < ps->nruns; i++) {
		free(ps->runs[i].sn);
		free(ps->runs[i].msg);
		free(ps->runs[i].amsg);
	}
	free(ps->runs);
	free(ps->reqs);
	store_snapshot_release(&ps->snap);
}

static int
pass(struct engine *e, struct err *err)
{
	struct eng_pass ps;
	int started = 0, rc;

	memset(&ps, 0, sizeof(ps));
	ps.e = e;
	ps.wake_in = e->o.sweep_ms;
	if (e->admit_budget > 0) {
		if ((rc = store_run_admit(eng_db(e), e->admit_budget,
		    ENGINE_ACTOR, &started, err)) < 0)
			return rc;
		if (started > 0) {
			log_info("runs started", "count=%d", started);
			e->changed = 1;
		}
	}
	if ((rc = store_snapshot_load(eng_db(e), &ps.snap, err)) < 0)
		return rc;
	ps.runs = xcalloc(ps.snap.nruns + 1, sizeof(*ps.runs));
	ps.nruns = ps.snap.nruns;
	for (size_t i = 0; i < ps.nruns; i++) {
		struct eng_run *er = &ps.runs[i];
		char why[1200];

		er->r = &ps.snap.runs[i];
		if ((rc = map_run(e, er, why, sizeof(why))) == ERR_TRANSIENT) {
			rc = err_set(err, ERR_TRANSIENT, "%s", why);
			goto out;
		}
		if (rc < 0) {
			er->bad = 1;
			log_error("run cannot be driven", "run=%lld error=\"%s\"",
			    (long long)er->r->id, why);
			if (store_run_transition(eng_db(e), er->r->id,
			    er->r->status, "failed", why, ENGINE_ACTOR, err) == 0)
				e->changed = 1;
			continue;
		}
		for (size_t j = 0; j < er->p->nstages; j++) {
			if (eng_attempt_active(&er->sn[j]->att)) {
				ps.active++;
				ps.gpus_used += er->sn[j]->att.gpus;
			}
		}
	}
	for (size_t i = 0; i < ps.nruns; i++)
		if (!ps.runs[i].bad)
			drive_run(&ps, &ps.runs[i]);
	admit(&ps);
	for (size_t i = 0; i < ps.nruns; i++)
		if (!ps.runs[i].bad)
			sync_run(&ps, &ps.runs[i]);
	e->admit_budget = e->cfg->max_parallel_stages - ps.active - ps.waiting;
	rc = 0;
out:
	e->next_ms = ps.wake_in;
	tail_gc(e);
	pass_release(&ps);
	return rc;
}

/* --- start-up cleanup ----------------------------------------------------- */

/*
 * What a predecessor killed between a write and its side effect may have
 * left: attempts recorded as finished but not released, and checkouts of
 * runs that ended.  Both effects are idempotent, so doing them again is
 * safe.
 */
static void
cleanup(struct engine *e)
{
	char **names = NULL;
	int64_t *ids = NULL, *done = NULL;
	size_t n = 0, nids = 0, ndone = 0;
	struct err err;
	DIR *d;
	struct dirent *de;

	if (store_attempts_recently_finished(eng_db(e), RELEASE_LOOKBACK_MS,
	    &names, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			(void)e->ex.ops->release(e->ex.impl, names[i], &err);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (e->cfg->executor != EXECUTOR_LOCAL ||
	    (d = opendir(e->workroot)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end, path[LIM_PATH];
		long long id = strtoll(de->d_name, &end, 10);

		if (de->d_name[0] == '.')
			continue;
		if (strcmp(end, ".tmp") == 0) {
			if (snprintf(path, sizeof(path), "%s/%s", e->workroot,
			    de->d_name) < (int)sizeof(path) &&
			    gitsrc_remove_dir(path, &err) < 0)
				log_warn("cannot remove checkout", "dir=%s "
				    "error=\"%s\"", path, err.msg);
			continue;
		}
		if (*end != '\0' || id <= 0)
			continue;
		ids = realloc(ids, (nids + 1) * sizeof(*ids));
		if (ids == NULL)
			abort();
		ids[nids++] = id;
	}
	closedir(d);
	if (store_runs_finished(eng_db(e), ids, nids, &done, &ndone,
	    &err) == 0) {
		for (size_t i = 0; i < ndone; i++)
			remove_checkout(e, done[i]);
	}
	free(ids);
	free(done);
}

/* --- the loop ---------------------------------------------------------- */

int
engine_tick(struct engine *e, struct err *err)
{
	int rc, got = 0;

	e->pass++;
	e->changed = 0;
	e->next_ms = e->o.sweep_ms;
	if (!e->o.no_lock && !e->locked) {
		if ((rc = db_advisory_try_lock(e->db, DB_LOCK_ENGINE, &got,
		    err)) < 0)
			return rc;
		if (!got)
			return err_set(err, ERR_CONFLICT, "another controller's "
			    "engine holds the engine lock");
		e->locked = 1;
		log_info("engine active", "executor=%s", e->ex.ops->name);
	}
	if (!e->cleaned) {
		cleanup(e);
		e->cleaned = 1;
	}
	rc = pass(e, err);
	e->st.passes++;
	if (rc == ERR_TRANSIENT && e->locked) {
		struct err ignored;

		/* the lock may have gone with the connection: take it again */
		if (db_advisory_unlock(e->db, DB_LOCK_ENGINE, &ignored) < 0)
			log_debug("engine lock released with its connection",
			    "error=\"%s\"", ignored.msg);
		e->locked = 0;
	}
	return rc;
}

static void
wait_for(struct engine *e, int64_t ms)
{
	struct timespec ts;

	pthread_mutex_lock(&e->mu);
	if (!e->wake && !e->stop && ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!e->wake && !e->stop &&
		    pthread_cond_timedwait(&e->cv, &e->mu, &ts) == 0)
			;
	}
	e->wake = 0;
	pthread_mutex_unlock(&e->mu);
}

static int
stopping(struct engine *e)
{
	int s;

	pthread_mutex_lock(&e->mu);
	s = e->stop;
	pthread_mutex_unlock(&e->mu);
	return s;
}

/* The listener: LISTEN sluice_runs and sluice_approvals, wake the loop. */
static void *
listen_main(void *arg)
{
	struct engine *e = arg;
	char ch[64], payload[256];
	struct err err;
	int listening = 0;

	while (!stopping(e)) {
		int rc;

		if (!listening) {
			if (db_listen(e->ldb, "sluice_runs", &err) < 0 ||
			    db_listen(e->ldb, "sluice_approvals", &err) < 0) {
				wait_for(e, 1000);
				continue;
			}
			listening = 1;
			engine_wake(e);
		}
		rc = db_wait_notify(e->ldb, 250, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
		if (rc > 0) {
			engine_wake(e);
		} else if (rc < 0) {
			struct timespec ts = { 0, 500 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int
engine_run(struct engine *e)
{
	pthread_t lt;
	int64_t backoff = 250;
	int have_listener, standby = 0;

	have_listener = pthread_create(&lt, NULL, listen_main, e) == 0;
	if (!have_listener)
		log_warn("no notification listener, polling", "sweep_ms=%lld",
		    (long long)e->o.poll_ms);
	while (!stopping(e)) {
		struct err err;
		int64_t delay;
		int rc = engine_tick(e, &err);

		if (rc == ERR_CONFLICT) {
			if (!standby)
				log_info("engine standby", "reason=\"%s\"",
				    err.msg);
			standby = 1;
			delay = 2000;
		} else if (rc < 0) {
			log_warn("engine pass failed, retrying", "error=\"%s\" "
			    "retry_ms=%lld", err.msg, (long long)backoff);
			delay = backoff;
			if (backoff < 5000)
				backoff *= 2;
		} else {
			standby = 0;
			backoff = 250;
			delay = e->changed ? 0 : e->next_ms;
			if (!have_listener && delay > e->o.poll_ms)
				delay = e->o.poll_ms;
		}
		wait_for(e, delay);
	}
	if (have_listener)
		pthread_join(lt, NULL);
	return 0;
}

static void *
run_main(void *arg)
{
	(void)engine_run(arg);
	return NULL;
}

int
engine_start(struct engine *e, struct err *err)
{
	int rc;

	if (e->started)
		return 0;
	if ((rc = pthread_create(&e->thread, NULL, run_main, e)) != 0)
		return err_set(err, ERR_GENERIC, "cannot start the engine "
		    "thread: %s", strerror(rc));
	e->started = 1;
	return 0;
}

void
engine_stop(struct engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (e->started) {
		pthread_join(e->thread, NULL);
		e->started = 0;
	}
}

void
engine_wake(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	e->wake = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

void
engine_stats(struct engine *e, struct engine_stats *out)
{
	pthread_mutex_lock(&e->mu);
	*out = e->st;
	pthread_mutex_unlock(&e->mu);
}

void
engine_set_opts(struct engine *e, const struct engine_opts *o)
{
	if (o->poll_ms > 0)
		e->o.poll_ms = o->poll_ms;
	if (o->sweep_ms > 0)
		e->o.sweep_ms = o->sweep_ms;
	if (o->backoff_ms > 0)
		e->o.backoff_ms = o->backoff_ms;
	if (o->backoff_max_ms > 0)
		e->o.backoff_max_ms = o->backoff_max_ms;
	if (o->timeout_margin_ms > 0)
		e->o.timeout_margin_ms = o->timeout_margin_ms;
	e->o.no_lock = o->no_lock;
}

int
engine_new(struct engine **out, const struct cfg *cfg, struct executor ex,
    struct err *err)
{
	struct engine *e;
	pthread_condattr_t ca;
	char cwd[LIM_PATH];
	int rc, n;

	*out = NULL;
	e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	e->ex = ex;
	e->executor_name = cfg->executor == EXECUTOR_KUBERNETES ?
	    "kubernetes" : "local";
	e->o.poll_ms = DEFAULT_POLL_MS;
	e->o.sweep_ms = DEFAULT_SWEEP_MS;
	e->o.backoff_ms = DEFAULT_BACKOFF_MS;
	e->o.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	e->o.timeout_margin_ms = DEFAULT_MARGIN_MS;
	e->admit_budget = cfg->max_parallel_stages;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (cfg->state_dir[0] == '/')
		n = snprintf(e->workroot, sizeof(e->workroot), "%s/work",
		    cfg->state_dir);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(e->workroot, sizeof(e->workroot), "%s/%s/work",
		    cwd, cfg->state_dir);
	else
		n = -1;
	if (n < 0 || n >= (int)sizeof(e->workroot)) {
		rc = err_set(err, ERR_INVALID, "state_dir path too long");
		goto fail;
	}
	if ((rc = db_open(&e->db, cfg->database_url, err)) < 0 ||
	    (rc = db_open(&e->ldb, cfg->database_url, err)) < 0)
		goto fail;
	*out = e;
	return 0;
fail:
	engine_free(e);
	return rc;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	engine_stop(e);
	for (size_t i = 0; i < e->npipes; i++)
		pipeline_free(e->pipes[i].p);
	free(e->pipes);
	for (size_t i = 0; i < e->ntails; i++)
		stage_output_release(&e->tails[i].out);
	free(e->tails);
	db_free(e->ldb);
	db_free(e->db);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
