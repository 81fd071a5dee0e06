/*
 * fake_executor.c - the in-memory executor of fake_executor.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "fake_executor.h"

struct rec {
	struct fake_attempt_info info;	/* strings below */
	char		**argv;
	char		**env;		/* "NAME=value" */
	enum exec_state	 state;
	enum exec_state	 final;
	int		 final_code;
	char		*final_msg;
	char		*waiting;
	int		 pending_left;
	int		 polls_left;
	int		 manual;
	struct exec_status st;		/* what status() answers once final */
	struct buf	 log;
	int		 submits, starts, cancels, releases;
	int		 forgotten;
	char		 source[64];	/* what logs() says it reads */
};

struct rule {
	char		*stage, *kind, *message, *log, *waiting;
	int		 attempt, step;
	struct fake_outcome o;
};

struct fake_executor {
	pthread_mutex_t	 mu;
	struct rec	**recs;		/* in order of first start */
	size_t		 nrecs;
	struct rule	*rules;
	size_t		 nrules;
	int		 fail_submits, fail_submit_code;
	int		 fail_status, fail_status_code;
	int		 fail_logs;
	int		 log_calls;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rec *
find(struct fake_executor *f, const char *name)
{
	for (size_t i = 0; i < f->nrecs; i++) {
		if (strcmp(f->recs[i]->info.name, name) == 0)
			return f->recs[i];
	}
	return NULL;
}

static const struct rule *
match(struct fake_executor *f, const struct exec_attempt *a)
{
	for (size_t i = f->nrules; i-- > 0;) {
		const struct rule *r = &f->rules[i];

		if (r->stage != NULL && (a->stage == NULL ||
		    strcmp(r->stage, a->stage) != 0))
			continue;
		if (r->kind != NULL && (a->kind == NULL ||
		    strcmp(r->kind, a->kind) != 0))
			continue;
		if (r->attempt != 0 && r->attempt != a->attempt)
			continue;
		if (r->step != 0 && r->step != a->step)
			continue;
		return r;
	}
	return NULL;
}

static void
rec_free_strings(struct rec *r)
{
	free((char *)r->info.name);
	free((char *)r->info.pipeline);
	free((char *)r->info.stage);
	free((char *)r->info.kind);
	free((char *)r->info.image);
	free((char *)r->info.workdir);
	free((char *)r->info.commit);
	for (size_t i = 0; r->argv != NULL && i < r->info.argc; i++)
		free(r->argv[i]);
	free(r->argv);
	for (size_t i = 0; r->env != NULL && i < r->info.nenv; i++)
		free(r->env[i]);
	free(r->env);
	free(r->final_msg);
	free(r->waiting);
	r->argv = r->env = NULL;
	r->final_msg = r->waiting = NULL;
}

/* (Re)start rec for a: copy the spec, apply the matching outcome. */
static void
rec_start(struct fake_executor *f, struct rec *r, const struct exec_attempt *a)
{
	const struct rule *rule = match(f, a);
	struct fake_outcome o = { 0 };
	char *keep_name = xstrdup(a->name);

	rec_free_strings(r);
	r->info.name = keep_name;
	r->info.pipeline = dup_or_null(a->pipeline);
	r->info.stage = dup_or_null(a->stage);
	r->info.kind = dup_or_null(a->kind);
	r->info.image = dup_or_null(a->image);
	r->info.workdir = dup_or_null(a->workdir);
	r->info.commit = dup_or_null(a->commit);
	r->info.run_id = a->run_id;
	r->info.attempt = a->attempt;
	r->info.step = a->step;
	r->info.gpus = a->gpus;
	r->info.timeout_ms = a->timeout_ms;
	r->info.argc = a->argc;
	r->info.nenv = a->nenv;
	r->info.nodes = a->nodes > 1 ? a->nodes : 1;
	r->argv = xcalloc(a->argc + 1, sizeof(*r->argv));
	for (size_t i = 0; i < a->argc; i++)
		r->argv[i] = xstrdup(a->argv[i]);
	r->env = xcalloc(a->nenv + 1, sizeof(*r->env));
	for (size_t i = 0; i < a->nenv; i++) {
		size_t n = strlen(a->env[i].name) + strlen(a->env[i].value) + 2;

		r->env[i] = xcalloc(n, 1);
		(void)snprintf(r->env[i], n, "%s=%s", a->env[i].name,
		    a->env[i].value);
	}

	if (rule != NULL)
		o = rule->o;
	r->final = o.state != EXEC_UNKNOWN ? o.state : EXEC_SUCCEEDED;
	r->final_code = r->final == EXEC_SUCCEEDED ? 0 :
	    (o.exit_code != 0 ? o.exit_code : (r->final == EXEC_FAILED ? 1 : -1));
	r->final_msg = dup_or_null(rule != NULL ? rule->message : NULL);
	r->waiting = dup_or_null(rule != NULL ? rule->waiting : NULL);
	r->pending_left = o.pending;
	r->polls_left = o.polls;
	r->manual = o.manual;
	r->state = r->pending_left > 0 ? EXEC_PENDING : EXEC_RUNNING;
	memset(&r->st, 0, sizeof(r->st));
	r->st.exit_code = -1;
	r->st.started_at = now_ms();
	buf_release(&r->log);
	buf_init(&r->log, LIM_STAGE_LOG);
	if (rule != NULL && rule->log != NULL &&
	    buf_puts(&r->log, rule->log) < 0)
		abort();
	r->starts++;
	r->forgotten = 0;
}

/* Give rec its final state now. */
static void
rec_end(struct rec *r, enum exec_state state, int code, const char *msg)
{
	r->state = state;
	r->st.state = state;
	r->st.exit_code = code;
	r->st.finished_at = now_ms();
	r->st.waiting_reason[0] = '\0';
	if (msg != NULL)
		(void)str_copy(r->st.message, sizeof(r->st.message), msg);
	else if (state == EXEC_FAILED)
		(void)snprintf(r->st.message, sizeof(r->st.message),
		    "exit status %d", code);
	else if (state == EXEC_CANCELED)
		(void)str_copy(r->st.message, sizeof(r->st.message), "canceled");
	else
		r->st.message[0] = '\0';
}

static int
fake_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct fake_executor *f = impl;
	struct rec *r;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if (f->fail_submits > 0) {
		f->fail_submits--;
		rc = err_set(err, f->fail_submit_code,
		    "fake executor: injected submit failure");
		goto out;
	}
	if (a->name == NULL || a->argc == 0) {
		rc = err_set(err, ERR_INVALID, "fake executor: no name or command");
		goto out;
	}
	if ((r = find(f, a->name)) == NULL) {
		struct rec **grown;

		r = xcalloc(1, sizeof(*r));
		buf_init(&r->log, LIM_STAGE_LOG);
		grown = realloc(f->recs, (f->nrecs + 1) * sizeof(*f->recs));
		if (grown == NULL)
			abort();
		f->recs = grown;
		f->recs[f->nrecs++] = r;
		rec_start(f, r, a);
	} else if (r->forgotten) {
		rec_start(f, r, a);
	}
	r->submits++;
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static int
fake_status(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	struct fake_executor *f = impl;
	struct rec *r;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	pthread_mutex_lock(&f->mu);
	if (f->fail_status > 0) {
		f->fail_status--;
		rc = err_set(err, f->fail_status_code,
		    "fake executor: injected status failure");
		goto out;
	}
	if ((r = find(f, name)) == NULL || r->forgotten) {
		out->state = EXEC_UNKNOWN;
		goto out;
	}
	if (r->state == EXEC_PENDING) {
		if (r->pending_left > 0)
			r->pending_left--;
		*out = r->st;
		out->state = EXEC_PENDING;
		out->started_at = 0;
		(void)str_copy(out->waiting_reason, sizeof(out->waiting_reason),
		    r->waiting != NULL ? r->waiting : "pending");
		if (r->pending_left == 0)
			r->state = EXEC_RUNNING;
		goto out;
	}
	if (r->state == EXEC_RUNNING && !r->manual) {
		if (r->polls_left > 0)
			r->polls_left--;
		else
			rec_end(r, r->final, r->final_code, r->final_msg);
	}
	*out = r->st;
	out->state = r->state;
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static int
fake_logs(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err)
{
	struct fake_executor *f = impl;
	struct rec *r;
	size_t n, room;
	int rc = 0;

	*next = from;
	if (sourcelen > 0)
		source[0] = '\0';
	pthread_mutex_lock(&f->mu);
	f->log_calls++;
	if (sourcelen > 0 && (r = find(f, name)) != NULL)
		(void)str_copy(source, sourcelen, r->source);
	if (f->fail_logs > 0) {
		f->fail_logs--;
		rc = err_set(err, ERR_TRANSIENT, "log read failed (fake)");
		goto out;
	}
	if ((r = find(f, name)) == NULL || r->forgotten) {
		rc = err_set(err, ERR_NOTFOUND, "no log for attempt '%s'", name);
		goto out;
	}
	if (from < 0) {
		rc = err_set(err, ERR_INVALID, "negative log offset");
		goto out;
	}
	if (node >= r->info.nodes)
		goto out;	/* no such node: nothing */
	if ((size_t)from >= r->log.len)
		goto out;
	n = r->log.len - (size_t)from;
	room = out->max > out->len ? out->max - out->len : 0;
	if (room == 0) {
		rc = err_set(err, ERR_TOOBIG, "log buffer full");
		goto out;
	}
	if (n > room)
		n = room;
	if ((rc = buf_append(out, r->log.data + from, n)) < 0) {
		rc = err_set(err, rc, "cannot hold the log");
		goto out;
	}
	*next = from + (int64_t)n;
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static int
fake_cancel(void *impl, const char *name, struct err *err)
{
	struct fake_executor *f = impl;
	struct rec *r;

	(void)err;
	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) != NULL) {
		r->cancels++;
		if (!r->forgotten && (r->state == EXEC_PENDING ||
		    r->state == EXEC_RUNNING))
			rec_end(r, EXEC_CANCELED, -1, "canceled");
	}
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int
fake_release(void *impl, const char *name, struct err *err)
{
	struct fake_executor *f = impl;
	struct rec *r;

	(void)err;
	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) != NULL)
		r->releases++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

void
fake_executor_free(struct fake_executor *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nrecs; i++) {
		rec_free_strings(f->recs[i]);
		buf_release(&f->recs[i]->log);
		free(f->recs[i]);
	}
	free(f->recs);
	for (size_t i = 0; i < f->nrules; i++) {
		struct rule *r = &f->rules[i];

		free(r->stage);
		free(r->kind);
		free(r->message);
		free(r->log);
		free(r->waiting);
	}
	free(f->rules);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static void
fake_free(void *impl)
{
	fake_executor_free(impl);
}

static const struct executor_ops fake_ops = {
	.name = "fake",
	.submit = fake_submit,
	.status = fake_status,
	.logs = fake_logs,
	.cancel = fake_cancel,
	.release = fake_release,
	.free = fake_free,
};

struct fake_executor *
fake_executor_new(struct executor *out)
{
	struct fake_executor *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->mu, NULL);
	out->ops = &fake_ops;
	out->impl = f;
	return f;
}

void
fake_executor_on(struct fake_executor *f, const struct fake_rule *r)
{
	struct rule *grown, *n;

	pthread_mutex_lock(&f->mu);
	grown = realloc(f->rules, (f->nrules + 1) * sizeof(*f->rules));
	if (grown == NULL)
		abort();
	f->rules = grown;
	n = &f->rules[f->nrules++];
	memset(n, 0, sizeof(*n));
	n->stage = dup_or_null(r->stage);
	n->kind = dup_or_null(r->kind);
	n->attempt = r->attempt;
	n->step = r->step;
	n->o = r->outcome;
	n->message = dup_or_null(r->outcome.message);
	n->log = dup_or_null(r->outcome.log);
	n->waiting = dup_or_null(r->outcome.waiting_reason);
	n->o.message = n->o.log = n->o.waiting_reason = NULL;
	pthread_mutex_unlock(&f->mu);
}

void
fake_executor_fail_submits(struct fake_executor *f, int n, int code)
{
	pthread_mutex_lock(&f->mu);
	f->fail_submits = n;
	f->fail_submit_code = code;
	pthread_mutex_unlock(&f->mu);
}

void
fake_executor_fail_logs(struct fake_executor *f, int n)
{
	pthread_mutex_lock(&f->mu);
	f->fail_logs = n;
	pthread_mutex_unlock(&f->mu);
}

int
fake_executor_log_calls(struct fake_executor *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->log_calls;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void
fake_executor_fail_status(struct fake_executor *f, int n, int code)
{
	pthread_mutex_lock(&f->mu);
	f->fail_status = n;
	f->fail_status_code = code;
	pthread_mutex_unlock(&f->mu);
}

int
fake_executor_finish(struct fake_executor *f, const char *name,
    enum exec_state state, int exit_code, const char *message)
{
	struct rec *r;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) == NULL || r->forgotten)
		rc = ERR_NOTFOUND;
	else if (r->state != EXEC_PENDING && r->state != EXEC_RUNNING)
		rc = ERR_CONFLICT;
	else
		rec_end(r, state, exit_code, message);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int
fake_executor_emit(struct fake_executor *f, const char *name, const char *text)
{
	struct rec *r;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) == NULL || r->forgotten)
		rc = ERR_NOTFOUND;
	else if (buf_puts(&r->log, text) < 0)
		abort();
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int
fake_executor_new_source(struct fake_executor *f, const char *name,
    const char *source, const char *text)
{
	struct rec *r;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) == NULL || r->forgotten) {
		rc = ERR_NOTFOUND;
	} else {
		(void)str_copy(r->source, sizeof(r->source), source);
		buf_reset(&r->log);
		if (buf_puts(&r->log, text) < 0)
			abort();
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

void
fake_executor_forget(struct fake_executor *f, const char *name)
{
	struct rec *r;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) != NULL)
		r->forgotten = 1;
	pthread_mutex_unlock(&f->mu);
}

#define COUNTER(fn, field)                                                  \
	int                                                                 \
	fn(struct fake_executor *f, const char *name)                       \
	{                                                                   \
		struct rec *r;                                              \
		int v;                                                      \
                                                                            \
		pthread_mutex_lock(&f->mu);                                 \
		v = (r = find(f, name)) != NULL ? r->field : 0;             \
		pthread_mutex_unlock(&f->mu);                               \
		return v;                                                   \
	}
COUNTER(fake_executor_submits, submits)
COUNTER(fake_executor_starts, starts)
COUNTER(fake_executor_cancels, cancels)
COUNTER(fake_executor_releases, releases)
#undef COUNTER

size_t
fake_executor_count(struct fake_executor *f)
{
	size_t n;

	pthread_mutex_lock(&f->mu);
	n = f->nrecs;
	pthread_mutex_unlock(&f->mu);
	return n;
}

const char *
fake_executor_name(struct fake_executor *f, size_t i)
{
	const char *s;

	pthread_mutex_lock(&f->mu);
	s = i < f->nrecs ? f->recs[i]->info.name : NULL;
	pthread_mutex_unlock(&f->mu);
	return s;
}

enum exec_state
fake_executor_state(struct fake_executor *f, const char *name)
{
	enum exec_state s;
	struct rec *r;

	pthread_mutex_lock(&f->mu);
	r = find(f, name);
	s = r == NULL || r->forgotten ? EXEC_UNKNOWN : r->state;
	pthread_mutex_unlock(&f->mu);
	return s;
}

int
fake_executor_info(struct fake_executor *f, const char *name,
    struct fake_attempt_info *out)
{
	struct rec *r;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) == NULL)
		rc = ERR_NOTFOUND;
	else
		*out = r->info;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

const char *
fake_executor_env(struct fake_executor *f, const char *name, const char *var)
{
	const char *v = NULL;
	size_t n = strlen(var);
	struct rec *r;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) != NULL) {
		/* the last one wins, as in a process environment built in order */
		for (size_t i = 0; i < r->info.nenv; i++) {
			if (strncmp(r->env[i], var, n) == 0 &&
			    r->env[i][n] == '=')
				v = r->env[i] + n + 1;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return v;
}

const char *
fake_executor_arg(struct fake_executor *f, const char *name, size_t i)
{
	const char *v = NULL;
	struct rec *r;

	pthread_mutex_lock(&f->mu);
	if ((r = find(f, name)) != NULL && i < r->info.argc)
		v = r->argv[i];
	pthread_mutex_unlock(&f->mu);
	return v;
}
