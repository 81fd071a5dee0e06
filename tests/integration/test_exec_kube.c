/*
 * test_exec_kube.c - the Kubernetes executor against the fake API server
 * (tests/fakes/kube_apiserver.py over HTTPS): the demo pipeline's stages
 * run one after another as Jobs with the right spec; status follows the
 * fake's pods (FAKE_EXIT_CODE, FAKE_DURATION_MS, FAKE_LOG) from the watch;
 * a GPU stage waits while the one GPU is taken and starts when it frees; a
 * Kueue stage waits for admission (without Kueue: the label's queue; with
 * the fake's Kueue, v1beta2 or v1beta1 only: the Workload's message, its
 * flavor and admission, an eviction that waits again); 409 adopts, 422
 * fails with the causes; injected 429/500 and dropped connections leave
 * exactly one Job; a
 * compacted and dropped watch still sees the end; cancel deletes the Job;
 * a new executor (a restart) adopts running Jobs and reconcile deletes the
 * Jobs of finished runs; the calls an attempt costs.
 *
 * No assertion on elapsed time: waits are bounded polls.  Each test works
 * in a namespace of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/kubefake.h"
#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/err.h"
#include "base/metrics.h"
#include "exec/executor.h"
#include "kube/exec_kube.h"
#include "kube/kube_api.h"
#include "kube/kube_job.h"
#include "kube/kubeconfig.h"

static struct kubefake fake;
static struct kubefake kq;	/* with Kueue, see kueue_fake() */

#define WAIT_UNTIL(expr)                                                    \
	do {                                                                \
		int w_i_;                                                   \
		for (w_i_ = 0; w_i_ < 1000 && !(expr); w_i_++)              \
			usleep(20000);                                      \
		if (!(expr))                                                \
			fail_msg("timed out waiting for %s", #expr);        \
	} while (0)

/* ---- helpers ----------------------------------------------------------------- */

static struct kube_api *
client_of(const struct kubefake *f)
{
	struct kube_auth *a = NULL;
	struct kube_api *k = NULL;
	struct err err;

	if (kube_auth_from_kubeconfig(&a, kubefake_path(f, "kubeconfig"),
	    NULL, &err) != 0)
		fail_msg("%s", err.msg);
	if (kube_api_new(&k, a, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	kube_auth_free(a);
	return k;
}

static struct kube_api *
client(void)
{
	return client_of(&fake);
}

/* A client and an executor on namespace ns, its watches listed. */
struct env {
	struct kube_api	*k;
	struct executor	 ex;
};

static void
env_start_ttl(struct env *v, const char *ns, int64_t ttl_s)
{
	struct kube_job_opts jo = { .ttl_after_finished_s = ttl_s,
		.checkout_image = "alpine/git:2.45.2" };
	struct err err;

	v->k = client();
	if (exec_kube_new_with(&v->ex, v->k, ns, &jo, &err) != 0)
		fail_msg("%s", err.msg);
	if (exec_kube_wait_synced(v->ex.impl, 15000, &err) != 0)
		fail_msg("%s", err.msg);
}

static void
env_start(struct env *v, const char *ns)
{
	env_start_ttl(v, ns, 3600);
}

/* An executor on another fake (one with Kueue). */
static void
env_start_on(struct env *v, const struct kubefake *f, const char *ns)
{
	struct err err;

	v->k = client_of(f);
	if (exec_kube_new_with(&v->ex, v->k, ns, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	if (exec_kube_wait_synced(v->ex.impl, 15000, &err) != 0)
		fail_msg("%s", err.msg);
}

static void
env_stop(struct env *v)
{
	v->ex.ops->free(v->ex.impl);
	kube_api_free(v->k);
}

/* One attempt, with its strings. */
struct att {
	struct exec_attempt	 a;
	struct exec_env		 env[8];
	const char		*argv[4];
	char			 name[64];
	char			 duration[16];
	char			 exit_code[16];
	char			 log[512];
};

static void
att_init(struct att *t, int64_t run, const char *stage, int attempt,
    const char *log, int exit_code, int duration_ms)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "sluice-%lld-%s-%d",
	    (long long)run, stage, attempt);
	snprintf(t->duration, sizeof(t->duration), "%d", duration_ms);
	snprintf(t->exit_code, sizeof(t->exit_code), "%d", exit_code);
	snprintf(t->log, sizeof(t->log), "%s", log ? log : "ok");
	t->argv[0] = "python3";
	t->argv[1] = "pipelines/demo/stage.py";
	t->env[0] = (struct exec_env){ "SLUICE_STAGE", stage };
	t->env[1] = (struct exec_env){ "FAKE_LOG", t->log };
	t->env[2] = (struct exec_env){ "FAKE_EXIT_CODE", t->exit_code };
	t->env[3] = (struct exec_env){ "FAKE_DURATION_MS", t->duration };
	t->a.name = t->name;
	t->a.run_id = run;
	t->a.pipeline = "demo";
	t->a.stage = stage;
	t->a.attempt = attempt;
	t->a.kind = "job";
	t->a.image = "python:3.11-slim";
	t->a.argv = t->argv;
	t->a.argc = 2;
	t->a.env = t->env;
	t->a.nenv = 4;
	t->a.cpu = "500m";
	t->a.memory = "256Mi";
	t->a.gpu_resource = "nvidia.com/gpu";
}

static void
submit_ok(struct env *v, const struct att *t)
{
	struct err err;

	if (v->ex.ops->submit(v->ex.impl, &t->a, &err) != 0)
		fail_msg("submit %s: %s", t->name, err.msg);
}

static struct exec_status
st(struct env *v, const char *name)
{
	struct exec_status s;
	struct err err;

	if (v->ex.ops->status(v->ex.impl, name, &s, &err) != 0)
		fail_msg("status %s: %s", name, err.msg);
	return s;
}

static int
state_of(struct env *v, const char *name)
{
	return (int)st(v, name).state;
}

static int
terminal(struct env *v, const char *name)
{
	int s = state_of(v, name);

	return s == EXEC_SUCCEEDED || s == EXEC_FAILED || s == EXEC_CANCELED;
}

/* The whole log of node `node` of an attempt (source: what was read);
   caller frees. */
static char *
node_log_of(struct env *v, const char *name, int node, char *source,
    size_t sourcelen)
{
	struct buf b;
	struct err err;
	int64_t next;
	char *s;

	buf_init(&b, LIM_STAGE_LOG);
	/* the log is followed: read on until the attempt's output ends */
	for (int i = 0;; i++) {
		size_t before = b.len;
		int rc = v->ex.ops->logs(v->ex.impl, name, node,
		    (int64_t)b.len, &b, &next, source, sourcelen, &err);

		if (rc == ERR_TRANSIENT && i < 400) {
			usleep(25 * 1000);
			continue;
		}
		if (rc != 0)
			fail_msg("logs %s: %s", name, err.msg);
		assert_int_equal(next, (int64_t)b.len);
		/* ended, or (running) what it has written so far */
		if (b.len == before && i > 0 && (terminal(v, name) ||
		    b.len > 0))
			break;
		if (b.len == before)
			usleep(25 * 1000);
		if (i > 400)
			fail_msg("logs %s: no end", name);
	}
	s = buf_detach(&b);
	assert_non_null(s);
	return s;
}

/* The whole log of an attempt (node 0); caller frees. */
static char *
log_of(struct env *v, const char *name)
{
	return node_log_of(v, name, 0, NULL, 0);
}

static int
has_text(struct env *v, const char *name, const char *text)
{
	char *log = log_of(v, name);
	int yes = strstr(log, text) != NULL;

	free(log);
	return yes;
}

static size_t
tasks_of(struct env *v)
{
	struct exec_kube_stats ks;

	exec_kube_stats(v->ex.impl, &ks);
	return ks.tasks;
}

/* Read on from acc->len into acc, as the engine does: 0 or the error. */
static int
read_on(struct env *v, const char *name, struct buf *acc)
{
	struct err err;
	int64_t next;
	int rc = v->ex.ops->logs(v->ex.impl, name, 0, (int64_t)acc->len, acc,
	    &next, NULL, 0, &err);

	if (rc == 0)
		assert_int_equal(next, (int64_t)acc->len);
	return rc == ERR_TRANSIENT ? 0 : rc;
}

static void
release_ok(struct env *v, const char *name)
{
	struct err err;

	if (v->ex.ops->release(v->ex.impl, name, &err) != 0)
		fail_msg("release %s: %s", name, err.msg);
}

static long
reqs(const char *what)
{
	char key[128];

	snprintf(key, sizeof(key), "requests.%s", what);
	return kubefake_stat(&fake, key);
}

static void
fault(const char *json)
{
	kubefake_post(&fake, "/_fake/faults", json);
}

/* The Job ns/name as the fake stores it (json_decref it), or NULL. */
static json_t *
fake_job(const char *ns, const char *name)
{
	char *body = NULL;
	json_t *all, *jobs, *j, *found = NULL;
	json_error_t je;
	size_t i;

	assert_int_equal(kubefake_call(&fake, "GET", "/_fake/objects", NULL,
	    &body), 200);
	all = json_loads(body, 0, &je);
	assert_non_null(all);
	jobs = json_object_get(all, "jobs");
	json_array_foreach(jobs, i, j) {
		json_t *md = json_object_get(j, "metadata");

		if (strcmp(json_string_value(json_object_get(md, "name")),
		    name) == 0 && strcmp(json_string_value(json_object_get(md,
		    "namespace")), ns) == 0) {
			found = json_incref(j);
			break;
		}
	}
	json_decref(all);
	free(body);
	return found;
}

/* How many Jobs the fake holds in ns. */
static int
fake_jobs_in(const char *ns)
{
	char *body = NULL;
	json_t *all, *j;
	json_error_t je;
	size_t i;
	int n = 0;

	assert_int_equal(kubefake_call(&fake, "GET", "/_fake/objects", NULL,
	    &body), 200);
	all = json_loads(body, 0, &je);
	assert_non_null(all);
	json_array_foreach(json_object_get(all, "jobs"), i, j) {
		if (strcmp(json_string_value(json_object_get(json_object_get(j,
		    "metadata"), "namespace")), ns) == 0)
			n++;
	}
	json_decref(all);
	free(body);
	return n;
}

static int
job_gone(const char *ns, const char *name)
{
	json_t *j = fake_job(ns, name);

	json_decref(j);
	return j == NULL;
}

static const char *
jpath(json_t *o, const char *path)
{
	char key[128];
	const char *p = path, *dot;
	json_t *cur = o;

	while (cur != NULL && (dot = strchr(p, '|')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		cur = json_object_get(cur, key);
		p = dot + 1;
	}
	cur = json_object_get(cur, p);
	return json_is_string(cur) ? json_string_value(cur) : NULL;
}

/* ---- fixtures -------------------------------------------------------------- */

static int
group_setup(void **state)
{
	/* one GPU in all, so that a second GPU stage has to wait */
	const char *args[] = { "--gpus", "nvidia.com/gpu=1", "--nodes", "1",
		"--gpu-product", "*=NVIDIA-A100-SXM4-80GB",
		getenv("KUBE_FAKE_VERBOSE") ? "-v" : NULL, NULL };

	(void)state;
	return kubefake_start(&fake, args);
}

static int
group_teardown(void **state)
{
	(void)state;
	kubefake_stop(&fake);
	if (kq.pid != 0)
		kubefake_stop(&kq);
	return 0;
}

static int
test_setup(void **state)
{
	(void)state;
	assert_int_equal(kubefake_call(&fake, "DELETE", "/_fake/faults", NULL,
	    NULL), 200);
	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[\"test-token\"],\"forbidden\":[\"forbidden-token\"]}");
	kubefake_post(&fake, "/_fake/config", "{\"gone_as_http\":false}");
	return 0;
}

/* ---- the demo pipeline ------------------------------------------------------------ */

static void
exec_kube__demo_pipeline_runs_stage_after_stage_as_jobs(void **state)
{
	static const char *const stages[] = { "prepare", "train", "evaluate" };
	static const char *const logs[] = {
		"rows=4000\\n::artifact dataset=file:///data/42.csv",
		"epoch 100 loss=0.21\\n::metric loss=0.21\\n"
		    "::artifact model=s3://models/demo/42",
		"::metric auc=0.934 accuracy=0.91",
	};
	struct env v;
	struct att t;
	struct exec_status s;
	json_t *job;
	char *log;
	size_t i;

	(void)state;
	env_start(&v, "t-demo");
	for (i = 0; i < 3; i++) {
		att_init(&t, 42, stages[i], 1, logs[i], 0, 200);
		t.a.timeout_ms = 5 * 60 * 1000;
		t.a.checkout = 1;
		t.a.repo_url = "https://git.example/demo.git";
		t.a.commit = "0123456789abcdef0123456789abcdef01234567";
		submit_ok(&v, &t);
		/* right after the create: pending, never unknown */
		s = st(&v, t.name);
		assert_true(s.state == EXEC_PENDING || s.state == EXEC_RUNNING ||
		    s.state == EXEC_SUCCEEDED);

		/* the Job as the API server got it */
		job = fake_job("t-demo", t.name);
		assert_non_null(job);
		assert_string_equal(jpath(job, "metadata|labels|"
		    "app.kubernetes.io/managed-by"), "sluice");
		assert_string_equal(jpath(job, "metadata|labels|sluice/run"),
		    "42");
		assert_string_equal(jpath(job, "metadata|labels|sluice/stage"),
		    stages[i]);
		assert_string_equal(jpath(job, "metadata|labels|"
		    "sluice/attempt"), "1");
		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(job, "spec"), "backoffLimit")), 0);
		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(job, "spec"), "activeDeadlineSeconds")),
		    300);
		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(job, "spec"), "ttlSecondsAfterFinished")),
		    3600);
		{
			json_t *pod = json_object_get(json_object_get(
			    json_object_get(job, "spec"), "template"), "spec");
			json_t *c = json_array_get(json_object_get(pod,
			    "containers"), 0);

			assert_string_equal(jpath(pod, "restartPolicy"),
			    "Never");
			assert_string_equal(jpath(c, "image"),
			    "python:3.11-slim");
			assert_string_equal(jpath(c, "resources|requests|cpu"),
			    "500m");
			assert_string_equal(jpath(c,
			    "resources|limits|memory"), "256Mi");
			assert_string_equal(jpath(json_array_get(
			    json_object_get(pod, "initContainers"), 0),
			    "name"), "checkout");
		}
		json_decref(job);

		WAIT_UNTIL(terminal(&v, t.name));
		s = st(&v, t.name);
		assert_int_equal(s.state, EXEC_SUCCEEDED);
		assert_int_equal(s.exit_code, 0);
		assert_true(s.started_at > 0);
		assert_true(s.finished_at >= s.started_at);
		log = log_of(&v, t.name);
		if (i == 0)
			assert_non_null(strstr(log, "::artifact dataset="));
		if (i == 1)
			assert_non_null(strstr(log, "::metric loss=0.21\n"));
		if (i == 2)
			assert_non_null(strstr(log,
			    "::metric auc=0.934 accuracy=0.91"));
		free(log);
		release_ok(&v, t.name);
		WAIT_UNTIL(job_gone("t-demo", t.name));
	}
	assert_int_equal(fake_jobs_in("t-demo"), 0);
	env_stop(&v);
}

static void
exec_kube__an_attempt_costs_a_create_a_log_read_and_a_delete(void **state)
{
	struct env v;
	struct att t;
	struct exec_kube_stats ks;
	char *log;

	(void)state;
	env_start(&v, "t-calls");
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	att_init(&t, 7, "train", 1, "::metric auc=0.9", 0, 100);
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	log = log_of(&v, t.name);
	assert_string_equal(log, "::metric auc=0.9\n");
	free(log);
	/* the engine reads each log once; the log view reads PostgreSQL */
	release_ok(&v, t.name);
	assert_int_equal(state_of(&v, t.name), EXEC_UNKNOWN);
	/* a worker deletes it */
	WAIT_UNTIL(job_gone("t-calls", t.name));

	assert_int_equal(reqs("create jobs"), 1);
	assert_int_equal(reqs("get pods/log"), 1);
	assert_int_equal(reqs("delete jobs"), 1);
	assert_int_equal(reqs("get jobs"), 0);
	assert_int_equal(reqs("list jobs"), 0);
	assert_int_equal(reqs("list pods"), 0);
	assert_int_equal(reqs("get pods"), 0);
	assert_int_equal(reqs("list events"), 0);
	WAIT_UNTIL(tasks_of(&v) == 0);
	exec_kube_stats(v.ex.impl, &ks);
	assert_int_equal(ks.creates, 1);
	assert_int_equal(ks.log_reads, 1);
	assert_int_equal(ks.deletes, 1);
	assert_int_equal(ks.pod_lookups, 0);
	assert_int_equal(ks.known, 0);
	assert_int_equal(ks.log_bytes, 0);
	env_stop(&v);
}

/* ---- outcomes ----------------------------------------------------------------- */

static void
exec_kube__failed_job_says_the_exit_status(void **state)
{
	struct env v;
	struct att t;
	struct exec_status s;
	char *log;

	(void)state;
	env_start(&v, "t-fail");
	att_init(&t, 8, "train", 1, "Traceback: boom", 3, 100);
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_FAILED);
	assert_int_equal(s.exit_code, 3);
	assert_string_equal(s.message, "exit status 3");
	log = log_of(&v, t.name);
	assert_non_null(strstr(log, "Traceback: boom"));
	free(log);
	release_ok(&v, t.name);
	env_stop(&v);
}

/* What set_wake calls: a count, under a lock. */
struct wakes {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		n;
};

static void
on_wake(void *arg)
{
	struct wakes *w = arg;

	pthread_mutex_lock(&w->mu);
	w->n++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Wait for a wake after seen, at most ~30 s; the count, or -1. */
static int
wait_wake(struct wakes *w, int seen)
{
	int n;

	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < 300 && w->n == seen; i++) {
		pthread_mutex_unlock(&w->mu);
		usleep(100000);
		pthread_mutex_lock(&w->mu);
	}
	n = w->n == seen ? -1 : w->n;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/*
 * The executor tells the engine when a Job moved (set_wake): looking at
 * the status only after a wake, the end of the Job is seen; its log too
 * (the end of the log stream wakes as well).  Cleared, it calls no more.
 */
static void
exec_kube__a_job_that_ends_wakes_the_engine(void **state)
{
	struct wakes w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	    0 };
	struct env v;
	struct att t;
	struct buf acc;
	struct err err;
	int seen = 0, n;

	(void)state;
	env_start(&v, "t-wake");
	assert_int_equal(v.ex.ops->set_wake(v.ex.impl, on_wake, &w), 1);
	att_init(&t, 12, "train", 1, "woken", 0, 300);
	submit_ok(&v, &t);
	for (;;) {
		if ((seen = wait_wake(&w, seen)) < 0)
			fail_msg("no wake while '%s' is %d", t.name,
			    state_of(&v, t.name));
		if (terminal(&v, t.name))
			break;
	}
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	buf_init(&acc, 1 << 16);
	for (;;) {
		size_t before = acc.len;
		int64_t next = 0;
		int rc = v.ex.ops->logs(v.ex.impl, t.name, 0, (int64_t)acc.len,
		    &acc, &next, NULL, 0, &err);

		if (rc == ERR_TRANSIENT) {
			if ((seen = wait_wake(&w, seen)) < 0)
				fail_msg("no wake at the end of the log of "
				    "'%s'", t.name);
			continue;
		}
		if (rc < 0)
			fail_msg("logs: %s", err.msg);
		if (acc.len == before)
			break;	/* ended: read to its end */
	}
	assert_true(buf_putc(&acc, '\0') == 0);
	assert_non_null(strstr(acc.data, "woken"));
	buf_release(&acc);
	assert_int_equal(v.ex.ops->set_wake(v.ex.impl, NULL, NULL), 1);
	pthread_mutex_lock(&w.mu);
	n = w.n;
	pthread_mutex_unlock(&w.mu);
	release_ok(&v, t.name);	/* the Job's deletion: no call now */
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_UNKNOWN);
	pthread_mutex_lock(&w.mu);
	assert_int_equal(w.n, n);
	pthread_mutex_unlock(&w.mu);
	env_stop(&v);
}

static void
exec_kube__deadline_is_a_timeout(void **state)
{
	struct env v;
	struct att t;
	struct exec_status s;

	(void)state;
	env_start(&v, "t-deadline");
	att_init(&t, 9, "train", 1, "working", 0, 60000);
	t.a.timeout_ms = 1000;
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_FAILED);
	assert_string_equal(s.message, "timeout after 1s");
	release_ok(&v, t.name);
	env_stop(&v);
}

static void
exec_kube__status_of_an_unknown_name_is_unknown(void **state)
{
	struct env v;
	struct err err;
	struct buf b;
	int64_t next;

	(void)state;
	env_start(&v, "t-unknown");
	assert_int_equal(state_of(&v, "sluice-1-nothing-1"), EXEC_UNKNOWN);
	buf_init(&b, 1024);
	assert_int_equal(v.ex.ops->logs(v.ex.impl, "sluice-1-nothing-1", 0, 0,
	    &b, &next, NULL, 0, &err), ERR_NOTFOUND);
	buf_release(&b);
	/* cancel and release of an unknown name: nothing to do, no call */
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, "sluice-1-nothing-1",
	    &err), 0);
	assert_int_equal(v.ex.ops->release(v.ex.impl, "sluice-1-nothing-1",
	    &err), 0);
	assert_int_equal(reqs("delete jobs"), 0);
	env_stop(&v);
}

/* ---- waiting ----------------------------------------------------------------------- */

static int
pending_for_gpu(struct env *v, const char *name)
{
	struct exec_status s = st(v, name);

	return s.state == EXEC_PENDING &&
	    strstr(s.waiting_reason, "Insufficient nvidia.com/gpu") != NULL;
}

static void
exec_kube__gpu_stage_waits_for_the_gpu_and_starts_when_it_frees(void **state)
{
	struct env v;
	struct att a, b;
	struct exec_status s;

	(void)state;
	env_start(&v, "t-gpu");
	att_init(&a, 10, "train", 1, "gpu a", 0, 1500);
	a.a.gpus = 1;
	att_init(&b, 11, "train", 1, "gpu b", 0, 300);
	b.a.gpus = 1;
	submit_ok(&v, &a);
	WAIT_UNTIL(state_of(&v, a.name) == EXEC_RUNNING);
	submit_ok(&v, &b);
	/* the one GPU is taken: b waits, and says why */
	WAIT_UNTIL(pending_for_gpu(&v, b.name));
	s = st(&v, b.name);
	assert_non_null(strstr(s.waiting_reason, "0/1 nodes are available"));
	assert_int_equal(s.started_at, 0);
	assert_int_equal(state_of(&v, a.name), EXEC_RUNNING);
	/* a ends, the GPU frees, b runs */
	WAIT_UNTIL(terminal(&v, a.name));
	assert_int_equal(state_of(&v, a.name), EXEC_SUCCEEDED);
	WAIT_UNTIL(terminal(&v, b.name));
	s = st(&v, b.name);
	assert_int_equal(s.state, EXEC_SUCCEEDED);
	assert_string_equal(s.waiting_reason, "");
	release_ok(&v, a.name);
	release_ok(&v, b.name);
	env_stop(&v);
}

static void
exec_kube__kueue_stage_waits_for_admission(void **state)
{
	struct env v;
	struct att t;
	struct exec_status s;
	json_t *job;

	(void)state;
	env_start(&v, "t-kueue");
	att_init(&t, 12, "train", 1, "admitted", 0, 100);
	t.a.queue = "ml-training";
	submit_ok(&v, &t);
	job = fake_job("t-kueue", t.name);
	assert_non_null(job);
	assert_true(json_is_true(json_object_get(json_object_get(job, "spec"),
	    "suspend")));
	assert_string_equal(jpath(job, "metadata|labels|"
	    "kueue.x-k8s.io/queue-name"), "ml-training");
	json_decref(job);
	WAIT_UNTIL(strcmp(st(&v, t.name).waiting_reason, "") != 0);
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_PENDING);
	assert_string_equal(s.waiting_reason,
	    "waiting for Kueue admission (queue ml-training)");
	kubefake_post(&fake, "/_fake/admit",
	    "{\"namespace\":\"t-kueue\",\"name\":\"sluice-12-train-1\"}");
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	release_ok(&v, t.name);
	env_stop(&v);
}

/*
 * The fake with Kueue (started by the first test that needs it): flavor
 * h100 with 8 GPUs of quota, LocalQueue ml-training, offering the Kueue
 * API versions given ("v1beta1" or NULL: v1beta2 and v1beta1).
 */
static void
kueue_fake(const char *versions)
{
	const char *args[] = { "--gpus", "nvidia.com/gpu=64", "--kueue-flavor",
		"h100:nvidia.com/gpu=8", "--kueue-queue", "ml-training", NULL };
	char body[128];

	if (kq.pid == 0 && kubefake_start(&kq, args) != 0)
		fail_msg("cannot start the fake with Kueue");
	snprintf(body, sizeof(body), "{\"kueue_versions\": [%s]}", versions ?
	    "\"v1beta1\"" : "\"v1beta2\", \"v1beta1\"");
	kubefake_post(&kq, "/_fake/config", body);
}

static const char QUOTA_MSG[] = "couldn't assign flavors to pod set main: "
    "insufficient unused quota for nvidia.com/gpu in flavor h100, 4 more "
    "needed";

static void
exec_kube__kueue_workload_says_why_and_an_eviction_waits_again(void **state)
{
	struct env v;
	struct att t, small;
	struct exec_status s;
	struct err err;
	char version[16];

	(void)state;
	kueue_fake(NULL);
	env_start_on(&v, &kq, "t-kueue-wl");
	assert_int_equal(kube_api_kueue_discover(v.k, version,
	    sizeof(version), &err), 1);
	assert_string_equal(version, "v1beta2");
	/* 4 of the 8 GPUs of quota taken */
	att_init(&small, 39, "prep", 1, "prep", 0, 600000);
	small.a.queue = "ml-training";
	small.a.gpus = 4;
	submit_ok(&v, &small);
	WAIT_UNTIL(state_of(&v, small.name) == EXEC_RUNNING);
	att_init(&t, 40, "train", 1, "trained", 0, 600000);
	t.a.queue = "ml-training";
	t.a.gpus = 8;
	submit_ok(&v, &t);
	/* 8 more GPUs, 4 free: Kueue's own message, not a guess */
	WAIT_UNTIL(strcmp(st(&v, t.name).waiting_reason, QUOTA_MSG) == 0);
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_PENDING);
	assert_int_equal(s.evicted, 0);
	assert_string_equal(s.queue, "ml-training");
	assert_string_equal(s.flavor, "");
	assert_int_equal(s.admitted_at, 0);
	/* the quota frees: admitted for the whole Job, running */
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, small.name, &err), 0);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_RUNNING);
	WAIT_UNTIL(st(&v, t.name).admitted_at > 0);
	s = st(&v, t.name);
	assert_string_equal(s.flavor, "h100");
	assert_int_equal(s.evictions, 0);
	/* preempted: pending again, evicted, with Kueue's message */
	kubefake_post(&kq, "/_fake/kueue/evict", "{\"namespace\": "
	    "\"t-kueue-wl\", \"name\": \"sluice-40-train-1\", \"hold\": true}");
	WAIT_UNTIL(st(&v, t.name).evicted);
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_PENDING);
	assert_int_equal(strncmp(s.waiting_reason, "evicted by Kueue: "
	    "Preempted to accommodate a workload", 53), 0);
	assert_non_null(strstr(s.waiting_reason,
	    "; waiting to be admitted again"));
	assert_int_equal(s.evictions, 1);
	assert_string_equal(s.flavor, "h100");
	/* admitted again: the same Job runs again */
	kubefake_post(&kq, "/_fake/admit", "{\"namespace\": \"t-kueue-wl\", "
	    "\"name\": \"sluice-40-train-1\"}");
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_RUNNING);
	s = st(&v, t.name);
	assert_int_equal(s.evicted, 0);
	assert_int_equal(s.evictions, 1);
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, t.name, &err), 0);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_CANCELED);
	release_ok(&v, small.name);
	release_ok(&v, t.name);
	env_stop(&v);
}

static void
exec_kube__kueue_v1beta1_only_is_watched_too(void **state)
{
	struct env v;
	struct att t;
	struct err err;
	char version[16];

	(void)state;
	kueue_fake("v1beta1");
	env_start_on(&v, &kq, "t-kueue-v1");
	assert_int_equal(kube_api_kueue_discover(v.k, version,
	    sizeof(version), &err), 1);
	assert_string_equal(version, "v1beta1");
	att_init(&t, 41, "train", 1, "trained", 0, 100);
	t.a.queue = "ml-training";
	t.a.gpus = 16;
	submit_ok(&v, &t);
	/* more than the flavor has at all */
	WAIT_UNTIL(strcmp(st(&v, t.name).waiting_reason, "couldn't assign "
	    "flavors to pod set main: insufficient quota for nvidia.com/gpu "
	    "in flavor h100, request > maximum capacity (16 > 8)") == 0);
	assert_true(kubefake_stat(&kq, "requests.watch workloads") >= 1);
	kubefake_post(&kq, "/_fake/kueue/quota", "{\"flavor\": \"h100\", "
	    "\"quota\": {\"nvidia.com/gpu\": 16}}");
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_string_equal(st(&v, t.name).flavor, "h100");
	release_ok(&v, t.name);
	env_stop(&v);
}

/* How many pods of Job job the fake f holds in namespace ns. */
static size_t
pods_on(const struct kubefake *f, const char *ns, const char *job)
{
	char *body = NULL;
	json_error_t je;
	json_t *all, *o;
	size_t i, n = 0;

	assert_int_equal(kubefake_call(f, "GET", "/_fake/objects", NULL,
	    &body), 200);
	all = json_loads(body, 0, &je);
	assert_non_null(all);
	json_array_foreach(json_object_get(all, "pods"), i, o) {
		const char *in = jpath(o, "metadata|namespace");
		const char *of = jpath(o, "metadata|labels|job-name");

		if (in != NULL && of != NULL && strcmp(in, ns) == 0 &&
		    strcmp(of, job) == 0)
			n++;
	}
	json_decref(all);
	free(body);
	return n;
}

/*
 * A multi-node stage with a queue is one Workload for all its pods: Kueue
 * admits the gang only when the quota covers every node at once, and the
 * waiting reason quotes the Workload until then.
 */
static void
exec_kube__a_four_node_gang_is_admitted_only_when_all_four_fit(void **state)
{
	const char *ns = "t-kueue-gang";
	struct env v;
	struct att t, small;
	struct err err;

	(void)state;
	kueue_fake(NULL);
	env_start_on(&v, &kq, ns);
	kubefake_post(&kq, "/_fake/kueue/quota", "{\"flavor\": \"h100\", "
	    "\"quota\": {\"nvidia.com/gpu\": 8}}");
	/* 5 of the 8 GPUs of quota taken: 3 free, the gang needs 4 */
	att_init(&small, 61, "prep", 1, "prep", 0, 600000);
	small.a.queue = "ml-training";
	small.a.gpus = 5;
	submit_ok(&v, &small);
	WAIT_UNTIL(state_of(&v, small.name) == EXEC_RUNNING);
	att_init(&t, 62, "train", 1, "rank log", 0, 1500);
	t.a.queue = "ml-training";
	t.a.gpus = 1;
	t.a.nodes = 4;
	submit_ok(&v, &t);
	WAIT_UNTIL(strcmp(st(&v, t.name).waiting_reason, "couldn't assign "
	    "flavors to pod set main: insufficient unused quota for "
	    "nvidia.com/gpu in flavor h100, 1 more needed") == 0);
	assert_int_equal(st(&v, t.name).state, EXEC_PENDING);
	/* not one pod of the gang started on the 3 free GPUs */
	assert_int_equal(pods_on(&kq, ns, t.name), 0);
	/* the quota frees: all 4 admitted at once, and they run to the end */
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, small.name, &err), 0);
	WAIT_UNTIL(pods_on(&kq, ns, t.name) == 4);
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_string_equal(st(&v, t.name).flavor, "h100");
	release_ok(&v, small.name);
	release_ok(&v, t.name);
	env_stop(&v);
}

static void
exec_kube__image_that_cannot_be_pulled_says_so(void **state)
{
	struct env v;
	struct att t;
	struct err err;

	(void)state;
	env_start(&v, "t-image");
	att_init(&t, 13, "train", 1, "never", 0, 100);
	t.a.image = "registry.example/does-not-exist:1";
	submit_ok(&v, &t);
	WAIT_UNTIL(strstr(st(&v, t.name).waiting_reason,
	    "ImagePullBackOff") != NULL);
	assert_int_equal(state_of(&v, t.name), EXEC_PENDING);
	assert_non_null(strstr(st(&v, t.name).waiting_reason,
	    "does-not-exist"));
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, t.name, &err), 0);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_CANCELED);
	release_ok(&v, t.name);
	env_stop(&v);
}

/* ---- errors -------------------------------------------------------------------------- */

static void
exec_kube__conflict_adopts_the_job_of_the_same_attempt(void **state)
{
	struct env v, blind;
	struct att t, other;
	struct exec_kube_stats ks;
	struct err err;

	(void)state;
	env_start(&v, "t-adopt");
	att_init(&t, 14, "train", 1, "adopted", 0, 100);
	submit_ok(&v, &t);
	/* submit again: the executor knows it, no call */
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	submit_ok(&v, &t);
	assert_int_equal(reqs("create jobs"), 0);

	/* an executor whose watch cannot list (it knows nothing): its
	 * create gets 409 and it reads the Job to adopt it */
	fault("{\"verb\":\"list jobs\",\"status\":403,\"count\":-1}");
	blind.k = client();
	assert_int_equal(exec_kube_new_with(&blind.ex, blind.k, "t-adopt",
	    NULL, &err), 0);
	submit_ok(&blind, &t);
	assert_int_equal(reqs("create jobs"), 1);
	assert_int_equal(reqs("get jobs"), 1);
	exec_kube_stats(blind.ex.impl, &ks);
	assert_int_equal(ks.adopted, 1);
	assert_int_equal(ks.creates, 0);
	/* another run's attempt of the same name is refused for good */
	att_init(&other, 99, "train", 1, "other", 0, 100);
	snprintf(other.name, sizeof(other.name), "%s", t.name);
	assert_int_equal(blind.ex.ops->submit(blind.ex.impl, &other.a, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "belongs to run 14"));
	assert_int_equal(fake_jobs_in("t-adopt"), 1);
	/* the listed executor refuses it from what the watch says */
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &other.a, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "belongs to run 14"));
	env_stop(&blind);
	assert_int_equal(kubefake_call(&fake, "DELETE", "/_fake/faults", NULL,
	    NULL), 200);

	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	release_ok(&v, t.name);
	env_stop(&v);
}

static void
exec_kube__invalid_job_fails_with_the_api_causes(void **state)
{
	struct env v;
	struct att t;
	struct err err;

	(void)state;
	env_start(&v, "t-invalid");
	att_init(&t, 15, "train", 1, "never", 0, 100);
	/* a label value the API refuses: longer than 63 characters */
	t.a.pipeline = "a-pipeline-name-that-is-far-too-long-to-be-a-label-"
	    "value-in-kubernetes";
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &t.a, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "metadata.labels"));
	assert_non_null(strstr(err.msg, "stage 'train'"));
	assert_int_equal(state_of(&v, t.name), EXEC_UNKNOWN);
	assert_int_equal(fake_jobs_in("t-invalid"), 0);
	/* one the builder refuses never reaches the API */
	att_init(&t, 15, "train", 2, "never", 0, 100);
	t.a.image = NULL;
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &t.a, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "no image"));
	assert_int_equal(reqs("create jobs"), 0);
	env_stop(&v);
}

static void
exec_kube__429_500_and_dropped_connections_leave_one_job(void **state)
{
	struct env v;
	struct att t;

	(void)state;
	env_start(&v, "t-faults");
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	fault("[{\"verb\":\"create jobs\",\"status\":429,\"retry_after\":0,"
	    "\"count\":1},{\"verb\":\"create jobs\",\"status\":500,"
	    "\"count\":1},{\"verb\":\"create jobs\",\"drop\":true,"
	    "\"count\":1}]");
	att_init(&t, 16, "train", 1, "::metric auc=0.8", 0, 100);
	submit_ok(&v, &t);
	assert_int_equal(reqs("create jobs"), 4);
	assert_int_equal(kubefake_stat(&fake, "faults_served"), 3);
	assert_int_equal(fake_jobs_in("t-faults"), 1);
	/* the log read and the delete meet errors too */
	WAIT_UNTIL(terminal(&v, t.name));
	fault("[{\"verb\":\"get pods/log\",\"status\":503,\"count\":1},"
	    "{\"verb\":\"delete jobs\",\"status\":500,\"count\":1}]");
	{
		char *log = log_of(&v, t.name);

		assert_string_equal(log, "::metric auc=0.8\n");
		free(log);
	}
	release_ok(&v, t.name);
	WAIT_UNTIL(job_gone("t-faults", t.name));
	assert_int_equal(reqs("create jobs"), 4);
	env_stop(&v);
}

static void
exec_kube__retry_after_past_the_budget_is_transient_and_retried(void **state)
{
	struct env v;
	struct att t;
	struct err err;

	(void)state;
	env_start(&v, "t-later");
	fault("{\"verb\":\"create jobs\",\"status\":429,\"retry_after\":120,"
	    "\"count\":1}");
	att_init(&t, 17, "train", 1, "later", 0, 100);
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &t.a, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "retry after 120s"));
	/* nothing was made: the engine submits again later */
	assert_int_equal(state_of(&v, t.name), EXEC_UNKNOWN);
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_int_equal(fake_jobs_in("t-later"), 1);
	release_ok(&v, t.name);
	env_stop(&v);
}

/*
 * One GPU attempt on a fresh executor, run to its end: its status once
 * the node's labels were asked for (a product arrived, or the fake served
 * a fault to the GET of the node).
 */
static struct exec_status
gpu_attempt_ends(const char *ns, int64_t run, int forbidden)
{
	struct exec_status s;
	struct env v;
	struct att t;
	struct err err;
	long faults = kubefake_stat(&fake, "faults_served");

	env_start(&v, ns);
	att_init(&t, run, "train", 1, "facts", 0, 1200);
	t.a.gpus = 1;
	t.a.image = "ghcr.io/acme/train:1.4";
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	if (forbidden)
		WAIT_UNTIL(kubefake_stat(&fake, "faults_served") > faults);
	else
		WAIT_UNTIL(st(&v, t.name).gpu_product[0] != '\0');
	s = st(&v, t.name);
	/* a 403 on nodes is not a 403 on what Sluice needs */
	assert_int_equal(exec_kube_ready(v.ex.impl, &err), 0);
	release_ok(&v, t.name);
	env_stop(&v);
	return s;
}

static void
exec_kube__status_says_where_the_attempt_ran(void **state)
{
	struct exec_status s;

	(void)state;
	s = gpu_attempt_ends("t-facts", 31, 0);
	assert_int_equal(s.state, EXEC_SUCCEEDED);
	assert_non_null(strstr(s.image_id, "ghcr.io/acme/train@sha256:"));
	assert_string_equal(s.node_name, "fake-node-1");
	assert_string_equal(s.gpu_product, "NVIDIA-A100-SXM4-80GB");
	/* the container's own times: a 1.2 s run spans at least a second */
	assert_true(s.started_at > 0);
	assert_true(s.finished_at - s.started_at >= 1000);

	/* without get on nodes: the product is unknown, and still ready */
	kubefake_post(&fake, "/_fake/faults", "{\"path_regex\": "
	    "\"/api/v1/nodes/\", \"status\": 403, \"count\": -1}");
	s = gpu_attempt_ends("t-facts-403", 32, 1);
	assert_int_equal(s.state, EXEC_SUCCEEDED);
	assert_string_equal(s.node_name, "fake-node-1");
	assert_string_equal(s.gpu_product, "");
	assert_non_null(strstr(s.image_id, "@sha256:"));
}

static void
exec_kube__forbidden_is_clear_and_not_ready(void **state)
{
	struct env v;
	struct att t;
	struct err err;

	(void)state;
	env_start(&v, "t-forbidden");
	assert_int_equal(exec_kube_ready(v.ex.impl, &err), 0);
	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[],\"forbidden\":[\"test-token\"]}");
	att_init(&t, 18, "train", 1, "no", 0, 100);
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &t.a, &err),
	    ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "forbidden (403)"));
	assert_int_equal(exec_kube_ready(v.ex.impl, &err), ERR_FORBIDDEN);
	assert_non_null(strstr(err.msg, "grant sluice's service account"));
	kubefake_post(&fake, "/_fake/tokens",
	    "{\"tokens\":[\"test-token\"],\"forbidden\":[]}");
	submit_ok(&v, &t);
	assert_int_equal(exec_kube_ready(v.ex.impl, &err), 0);
	WAIT_UNTIL(terminal(&v, t.name));
	release_ok(&v, t.name);
	env_stop(&v);
}

/* ---- the watch --------------------------------------------------------------------- */

static void
exec_kube__stale_watch_recovers_and_sees_the_end(void **state)
{
	struct env v;
	struct att t, u;

	(void)state;
	env_start(&v, "t-stale");
	att_init(&t, 19, "train", 1, "slow", 0, 1500);
	submit_ok(&v, &t);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_RUNNING);
	/* the watches cannot come back for a while; history is compacted */
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	fault("[{\"verb\":\"watch jobs\",\"status\":500,\"count\":-1},"
	    "{\"verb\":\"watch pods\",\"status\":500,\"count\":-1}]");
	kubefake_post(&fake, "/_fake/drop-watches", NULL);
	att_init(&u, 20, "train", 1, "made meanwhile", 0, 100);
	submit_ok(&v, &u);
	WAIT_UNTIL(kubefake_stat(&fake, "faults_served") >= 2);
	kubefake_post(&fake, "/_fake/compact", NULL);
	assert_int_equal(kubefake_call(&fake, "DELETE", "/_fake/faults", NULL,
	    NULL), 200);
	/* 410 Gone: it lists again and follows both to their end */
	WAIT_UNTIL(terminal(&v, t.name) && terminal(&v, u.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_int_equal(state_of(&v, u.name), EXEC_SUCCEEDED);
	assert_true(kubefake_stat(&fake, "watch_gone") >= 1);
	assert_int_equal(fake_jobs_in("t-stale"), 2);
	release_ok(&v, t.name);
	release_ok(&v, u.name);
	env_stop(&v);
}

/* ---- cancel, restart ------------------------------------------------------------------ */

static void
exec_kube__cancel_deletes_the_job_and_keeps_its_log(void **state)
{
	struct buf acc;
	struct env v;
	struct att t;
	struct exec_status s;
	struct err err;
	char *log;

	(void)state;
	env_start(&v, "t-cancel");
	att_init(&t, 21, "train", 1, "epoch 1\\nepoch 2", 0, 60000);
	submit_ok(&v, &t);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_RUNNING);
	/* a running attempt's log can be read too (forward, as the engine) */
	buf_init(&acc, LIM_STAGE_LOG);
	WAIT_UNTIL(read_on(&v, t.name, &acc) == 0 && acc.len > 0 &&
	    strstr(acc.data, "epoch 1") != NULL);
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, t.name, &err), 0);
	WAIT_UNTIL(state_of(&v, t.name) == EXEC_CANCELED);
	s = st(&v, t.name);
	assert_string_equal(s.message, "canceled");
	assert_true(job_gone("t-cancel", t.name));
	/* what it wrote before it went is still there to read on */
	(void)read_on(&v, t.name, &acc);
	log = acc.data;
	assert_non_null(strstr(log, "epoch 1"));
	buf_release(&acc);
	/* again: done already */
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, t.name, &err), 0);
	release_ok(&v, t.name);
	assert_int_equal(state_of(&v, t.name), EXEC_UNKNOWN);
	env_stop(&v);
}

static void
exec_kube__release_of_a_running_attempt_is_a_conflict(void **state)
{
	struct env v;
	struct att t;
	struct err err;

	(void)state;
	env_start(&v, "t-busy");
	att_init(&t, 22, "train", 1, "busy", 0, 60000);
	submit_ok(&v, &t);
	assert_int_equal(v.ex.ops->release(v.ex.impl, t.name, &err),
	    ERR_CONFLICT);
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, t.name, &err), 0);
	release_ok(&v, t.name);
	WAIT_UNTIL(job_gone("t-busy", t.name));
	env_stop(&v);
}

/* ---- multi-node: an Indexed Job and its headless Service ------------------------ */

/* The objects of kind plural ("pods", "services") the fake holds in ns. */
static json_t *
fake_list(const char *plural, const char *ns)
{
	char *body = NULL;
	json_t *all, *o, *out = json_array();
	json_error_t je;
	size_t i;

	assert_int_equal(kubefake_call(&fake, "GET", "/_fake/objects", NULL,
	    &body), 200);
	all = json_loads(body, 0, &je);
	assert_non_null(all);
	json_array_foreach(json_object_get(all, plural), i, o) {
		if (strcmp(jpath(o, "metadata|namespace"), ns) == 0)
			json_array_append(out, o);
	}
	json_decref(all);
	free(body);
	return out;
}

static size_t
fake_count(const char *plural, const char *ns)
{
	json_t *l = fake_list(plural, ns);
	size_t n = json_array_size(l);

	json_decref(l);
	return n;
}

/* The env entry name of a pod's (or template's) first container. */
static json_t *
env_of(json_t *podspec, const char *name)
{
	json_t *env = json_object_get(json_array_get(json_object_get(podspec,
	    "containers"), 0), "env"), *e;
	size_t i;

	json_array_foreach(env, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")),
		    name) == 0)
			return e;
	}
	return NULL;
}

static void
exec_kube__four_nodes_are_one_indexed_job_behind_a_headless_service(
    void **state)
{
	const char *ns = "t-nodes";
	struct env v;
	struct att t;
	json_t *job, *svcs, *pods, *p, *spec;
	char want[160], source[LIM_LOG_SOURCE + 1], *log;
	int seen[4] = { 0, 0, 0, 0 };
	struct buf b;
	struct err err;
	int64_t next;
	size_t i;

	(void)state;
	env_start(&v, ns);
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	/* each rank prints its index ($(VAR) is expanded by the fake) */
	att_init(&t, 50, "train", 1, "rank log $(JOB_COMPLETION_INDEX)", 0,
	    1500);
	t.a.nodes = 4;
	submit_ok(&v, &t);
	/* one Job, Indexed, 4 at once, and one failure is the end */
	job = fake_job(ns, t.name);
	assert_non_null(job);
	spec = json_object_get(job, "spec");
	assert_string_equal(jpath(spec, "completionMode"), "Indexed");
	assert_int_equal(json_integer_value(json_object_get(spec,
	    "completions")), 4);
	assert_int_equal(json_integer_value(json_object_get(spec,
	    "parallelism")), 4);
	assert_int_equal(json_integer_value(json_object_get(spec,
	    "backoffLimit")), 0);
	assert_string_equal(jpath(spec, "template|spec|subdomain"), t.name);
	json_decref(job);
	assert_int_equal(fake_jobs_in(ns), 1);
	/* one headless Service of the same name, selecting the Job's pods */
	svcs = fake_list("services", ns);
	assert_int_equal(json_array_size(svcs), 1);
	p = json_array_get(svcs, 0);
	assert_string_equal(jpath(p, "metadata|name"), t.name);
	assert_string_equal(jpath(p, "spec|clusterIP"), "None");
	assert_string_equal(jpath(p, "spec|selector|batch.kubernetes.io/"
	    "job-name"), t.name);
	json_decref(svcs);
	assert_int_equal(reqs("create services"), 1);
	assert_int_equal(reqs("create jobs"), 1);

	/* 4 pods, ranks 0-3, each with the rendezvous environment */
	WAIT_UNTIL(fake_count("pods", ns) == 4);
	pods = fake_list("pods", ns);
	json_array_foreach(pods, i, p) {
		const char *idx = jpath(p, "metadata|annotations|"
		    "batch.kubernetes.io/job-completion-index");
		json_t *ps = json_object_get(p, "spec"), *e;
		int r;

		assert_non_null(idx);
		r = atoi(idx);
		assert_true(r >= 0 && r < 4);
		seen[r]++;
		snprintf(want, sizeof(want), "%s-%d", t.name, r);
		assert_string_equal(jpath(ps, "hostname"), want);
		assert_string_equal(jpath(ps, "subdomain"), t.name);
		e = env_of(ps, "SLUICE_NODE_RANK");
		assert_non_null(e);
		assert_string_equal(jpath(e, "valueFrom|fieldRef|fieldPath"),
		    "metadata.annotations['batch.kubernetes.io/"
		    "job-completion-index']");
		assert_string_equal(jpath(env_of(ps, "SLUICE_NUM_NODES"),
		    "value"), "4");
		snprintf(want, sizeof(want), "%s-0.%s", t.name, t.name);
		assert_string_equal(jpath(env_of(ps, "SLUICE_MASTER_ADDR"),
		    "value"), want);
		assert_string_equal(jpath(env_of(ps, "SLUICE_MASTER_PORT"),
		    "value"), "29500");
	}
	json_decref(pods);
	for (i = 0; i < 4; i++)
		assert_int_equal(seen[i], 1);

	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_true(has_text(&v, t.name, "rank log"));
	/* every index's log is read from its own pod: rank 2's from the pod
	   of index 2 (<job>-2-<random>) */
	log = node_log_of(&v, t.name, 2, source, sizeof(source));
	assert_string_equal(log, "rank log 2\n");
	free(log);
	snprintf(want, sizeof(want), "%s-2-", t.name);
	assert_true(strncmp(source, want, strlen(want)) == 0);
	log = node_log_of(&v, t.name, 0, source, sizeof(source));
	assert_string_equal(log, "rank log 0\n");
	free(log);
	snprintf(want, sizeof(want), "%s-0-", t.name);
	assert_true(strncmp(source, want, strlen(want)) == 0);
	/* a node the attempt does not have */
	buf_init(&b, 1024);
	assert_int_equal(v.ex.ops->logs(v.ex.impl, t.name, 4, 0, &b, &next,
	    NULL, 0, &err), ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "node 4"));
	buf_release(&b);
	/* no leftover: release deletes the Job and the Service */
	release_ok(&v, t.name);
	WAIT_UNTIL(fake_jobs_in(ns) == 0 && fake_count("services", ns) == 0);
	WAIT_UNTIL(tasks_of(&v) == 0);
	env_stop(&v);
}

static void
exec_kube__a_failed_index_fails_the_attempt_once_naming_it(void **state)
{
	const char *ns = "t-nodes-fail";
	struct env v;
	struct att t, c;
	struct exec_status s;
	struct err err;

	(void)state;
	env_start(&v, ns);
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	att_init(&t, 51, "train", 1, "rank log", 5, 3000);
	t.env[4] = (struct exec_env){ "FAKE_FAIL_INDEX", "2" };
	t.a.nenv = 5;
	t.a.nodes = 3;
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	s = st(&v, t.name);
	assert_int_equal(s.state, EXEC_FAILED);
	assert_int_equal(s.exit_code, 5);
	assert_string_equal(s.message, "index 2 of 3 failed: exit status 5");
	/* the executor never makes a second Job: retries are the engine's */
	assert_int_equal(reqs("create jobs"), 1);
	assert_int_equal(reqs("create services"), 1);
	release_ok(&v, t.name);
	WAIT_UNTIL(fake_jobs_in(ns) == 0 && fake_count("services", ns) == 0 &&
	    fake_count("pods", ns) == 0);

	/* cancel of a running gang deletes its Job and Service too */
	att_init(&c, 52, "train", 1, "long", 0, 60000);
	c.a.nodes = 2;
	submit_ok(&v, &c);
	WAIT_UNTIL(state_of(&v, c.name) == EXEC_RUNNING);
	assert_int_equal(fake_count("services", ns), 1);
	assert_int_equal(v.ex.ops->cancel(v.ex.impl, c.name, &err), 0);
	WAIT_UNTIL(fake_jobs_in(ns) == 0 && fake_count("services", ns) == 0);
	WAIT_UNTIL(terminal(&v, c.name));
	assert_int_equal(state_of(&v, c.name), EXEC_CANCELED);
	release_ok(&v, c.name);
	WAIT_UNTIL(tasks_of(&v) == 0);
	assert_int_equal(fake_count("services", ns), 0);
	env_stop(&v);
}

/* the submit of an attempt whose Service is already there adopts it */
static void
exec_kube__a_service_left_by_a_crash_is_adopted(void **state)
{
	const char *ns = "t-nodes-adopt";
	struct env v;
	struct att t;
	char *json = NULL;
	struct kube_job_opts jo = { .namespace = "t-nodes-adopt",
	    .ttl_after_finished_s = -1 };
	struct err err;

	(void)state;
	env_start(&v, ns);
	att_init(&t, 53, "train", 1, "ok", 0, 200);
	t.a.nodes = 2;
	/* a controller created the Service and died before the Job */
	assert_int_equal(kube_service_manifest(&t.a, &jo, &json, &err), 0);
	assert_int_equal(kube_api_service_create(v.k, ns, json, strlen(json),
	    &err), 0);
	assert_int_equal(kube_api_service_create(v.k, ns, json, strlen(json),
	    &err), ERR_CONFLICT);
	free(json);
	submit_ok(&v, &t);
	WAIT_UNTIL(terminal(&v, t.name));
	assert_int_equal(state_of(&v, t.name), EXEC_SUCCEEDED);
	assert_int_equal(fake_count("services", ns), 1);
	release_ok(&v, t.name);
	WAIT_UNTIL(fake_jobs_in(ns) == 0 && fake_count("services", ns) == 0);
	/* a Job the API refuses for good takes the Service made for it */
	att_init(&t, 54, "train", 1, "never", 0, 100);
	t.a.nodes = 2;
	t.a.pipeline = "a-pipeline-name-that-is-far-too-long-to-be-a-label-"
	    "value-in-kubernetes";
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	assert_int_equal(v.ex.ops->submit(v.ex.impl, &t.a, &err),
	    ERR_INVALID);
	assert_int_equal(reqs("create services"), 1);
	assert_int_equal(reqs("delete services"), 1);
	assert_int_equal(fake_count("services", ns), 0);
	assert_int_equal(fake_jobs_in(ns), 0);
	env_stop(&v);
}

static int only_run_30(void *arg, int64_t run_id, const char *stage,
    int attempt);

/* A Service without its Job (an attempt of run): as a crash leaves it. */
static void
lone_service(struct env *v, const char *ns, int64_t run)
{
	struct kube_job_opts jo = { .namespace = ns,
	    .ttl_after_finished_s = -1 };
	struct att t;
	struct err err;
	char *json = NULL;

	att_init(&t, run, "train", 1, "gone", 0, 100);
	t.a.nodes = 2;
	assert_int_equal(kube_service_manifest(&t.a, &jo, &json, &err), 0);
	assert_int_equal(kube_api_service_create(v->k, ns, json, strlen(json),
	    &err), 0);
	free(json);
}

static void
exec_kube__reconcile_deletes_services_whose_job_and_run_are_gone(
    void **state)
{
	const char *ns = "t-nodes-sweep";
	struct env v;
	struct err err;
	json_t *svcs;
	int calls = 0;

	(void)state;
	env_start(&v, ns);
	lone_service(&v, ns, 30);	/* its run is still active: kept */
	lone_service(&v, ns, 61);	/* its run is over: deleted */
	assert_int_equal(fake_count("services", ns), 2);
	assert_int_equal(exec_kube_reconcile(v.ex.impl, only_run_30, &calls,
	    &err), 0);
	assert_int_equal(calls, 2);
	svcs = fake_list("services", ns);
	assert_int_equal(json_array_size(svcs), 1);
	assert_string_equal(jpath(json_array_get(svcs, 0), "metadata|name"),
	    "sluice-30-train-1");
	json_decref(svcs);
	env_stop(&v);
}

static int
only_run_30(void *arg, int64_t run_id, const char *stage, int attempt)
{
	int *calls = arg;

	(*calls)++;
	assert_string_equal(stage, "train");
	assert_int_equal(attempt, 1);
	return run_id == 30;
}

static void
exec_kube__restart_adopts_running_jobs_and_reconcile_deletes_done_runs(
    void **state)
{
	struct env v;
	struct att live, done;
	struct exec_kube_stats ks;
	struct err err;
	int calls = 0;

	(void)state;
	env_start(&v, "t-restart");
	att_init(&live, 30, "train", 1, "still going", 0, 2500);
	att_init(&done, 31, "train", 1, "run 31 was canceled", 0, 60000);
	submit_ok(&v, &live);
	submit_ok(&v, &done);
	WAIT_UNTIL(state_of(&v, live.name) == EXEC_RUNNING);
	/* the controller goes away; the Jobs stay */
	env_stop(&v);
	assert_int_equal(fake_jobs_in("t-restart"), 2);

	env_start(&v, "t-restart");
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	assert_int_equal(exec_kube_reconcile(v.ex.impl, only_run_30, &calls,
	    &err), 0);
	assert_int_equal(calls, 2);
	assert_int_equal(reqs("delete jobs"), 1);
	WAIT_UNTIL(job_gone("t-restart", done.name));
	assert_int_equal(state_of(&v, done.name), EXEC_UNKNOWN);
	/* the engine submits the live attempt again: adopted, no create */
	submit_ok(&v, &live);
	assert_int_equal(reqs("create jobs"), 0);
	exec_kube_stats(v.ex.impl, &ks);
	assert_int_equal(ks.adopted, 1);
	WAIT_UNTIL(terminal(&v, live.name));
	assert_int_equal(state_of(&v, live.name), EXEC_SUCCEEDED);
	release_ok(&v, live.name);
	WAIT_UNTIL(fake_jobs_in("t-restart") == 0);
	env_stop(&v);
}

/* ---- logs, metrics, configuration ------------------------------------------------------ */

struct sink {
	struct buf	b;
	int		idle;
};

static int
sink_cb(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	if (len == 0) {
		s->idle++;
		return 0;
	}
	return buf_append(&s->b, data, len) < 0;
}

static void
exec_kube__follow_streams_a_running_log(void **state)
{
	struct env v;
	struct att t;
	struct sink s;
	struct err err;

	(void)state;
	env_start(&v, "t-follow");
	att_init(&t, 40, "train", 1, "line 1\\nline 2\\nline 3", 0, 900);
	submit_ok(&v, &t);
	buf_init(&s.b, 1 << 20);
	s.idle = 0;
	assert_int_equal(exec_kube_follow(v.ex.impl, t.name, 0, sink_cb, &s,
	    &err), 0);
	assert_non_null(s.b.data);
	assert_string_equal(s.b.data, "line 1\nline 2\nline 3\n");
	/* from an offset, once it has ended */
	WAIT_UNTIL(terminal(&v, t.name));
	buf_reset(&s.b);
	assert_int_equal(exec_kube_follow(v.ex.impl, t.name, 7, sink_cb, &s,
	    &err), 0);
	assert_string_equal(s.b.data, "line 2\nline 3\n");
	buf_release(&s.b);
	release_ok(&v, t.name);
	env_stop(&v);
}

static void
exec_kube__metrics_count_calls_by_verb_resource_and_code(void **state)
{
	struct env v;
	struct att t;
	struct metrics *m = metrics_new();
	struct buf b;

	(void)state;
	env_start(&v, "t-metrics");
	exec_kube_metrics(v.ex.impl, m);
	att_init(&t, 41, "train", 1, "m", 0, 100);
	submit_ok(&v, &t);
	buf_init(&b, LIM_METRICS_TEXT);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_non_null(strstr(b.data, "sluice_kube_api_calls_total{verb="
	    "\"create\",resource=\"jobs\",code=\"201\"} 1\n"));
	assert_non_null(strstr(b.data, "verb=\"list\",resource=\"jobs\","
	    "code=\"200\"} 1\n"));
	WAIT_UNTIL(terminal(&v, t.name));
	release_ok(&v, t.name);
	WAIT_UNTIL(tasks_of(&v) == 0);
	buf_reset(&b);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_non_null(strstr(b.data, "verb=\"delete\",resource=\"jobs\","
	    "code=\"200\"} 1\n"));
	buf_release(&b);
	env_stop(&v);
	metrics_free(m);
}

static void
exec_kube__new_from_the_configuration(void **state)
{
	struct cfg cfg;
	struct executor ex;
	struct att t;
	struct err err;
	char kc[512], ns[] = "t-config", ctx[] = "", ckimg[] = "alpine/git";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(kc, sizeof(kc), "%s", kubefake_path(&fake, "kubeconfig"));
	cfg.kubernetes.kubeconfig = kc;
	cfg.kubernetes.context = ctx;
	cfg.kubernetes.namespace = ns;
	cfg.kubernetes.qps = 50;
	cfg.kubernetes.burst = 100;
	cfg.kubernetes.ttl_after_finished_ms = 0;
	cfg.kubernetes.checkout_image = ckimg;
	assert_int_equal(exec_kube_new(&ex, &cfg, &err), 0);
	assert_string_equal(ex.ops->name, "kubernetes");
	assert_int_equal(exec_kube_wait_synced(ex.impl, 15000, &err), 0);
	att_init(&t, 42, "train", 1, "from cfg", 0, 100);
	assert_int_equal(ex.ops->submit(ex.impl, &t.a, &err), 0);
	{
		json_t *job = fake_job("t-config", t.name);

		assert_non_null(job);
		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(job, "spec"), "ttlSecondsAfterFinished")),
		    0);
		json_decref(job);
	}
	{
		struct exec_status s;

		for (int i = 0; i < 1000; i++) {
			assert_int_equal(ex.ops->status(ex.impl, t.name, &s,
			    &err), 0);
			if (s.state == EXEC_SUCCEEDED)
				break;
			usleep(20000);
		}
		assert_int_equal(s.state, EXEC_SUCCEEDED);
	}
	/* ttlSecondsAfterFinished 0: the TTL controller deletes it, not us */
	kubefake_post(&fake, "/_fake/stats/reset", NULL);
	assert_int_equal(ex.ops->release(ex.impl, t.name, &err), 0);
	assert_int_equal(reqs("delete jobs"), 0);
	WAIT_UNTIL(job_gone("t-config", t.name));
	ex.ops->free(ex.impl);

	/* a kubeconfig that does not exist fails at once */
	snprintf(kc, sizeof(kc), "%s", kubefake_path(&fake, "missing"));
	assert_int_equal(exec_kube_new(&ex, &cfg, &err), ERR_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(exec_kube__demo_pipeline_runs_stage_after_stage_as_jobs),
		T(exec_kube__an_attempt_costs_a_create_a_log_read_and_a_delete),
		T(exec_kube__failed_job_says_the_exit_status),
		T(exec_kube__a_job_that_ends_wakes_the_engine),
		T(exec_kube__deadline_is_a_timeout),
		T(exec_kube__status_of_an_unknown_name_is_unknown),
		T(exec_kube__gpu_stage_waits_for_the_gpu_and_starts_when_it_frees),
		T(exec_kube__kueue_stage_waits_for_admission),
		T(exec_kube__kueue_workload_says_why_and_an_eviction_waits_again),
		T(exec_kube__kueue_v1beta1_only_is_watched_too),
		T(exec_kube__a_four_node_gang_is_admitted_only_when_all_four_fit),
		T(exec_kube__image_that_cannot_be_pulled_says_so),
		T(exec_kube__conflict_adopts_the_job_of_the_same_attempt),
		T(exec_kube__invalid_job_fails_with_the_api_causes),
		T(exec_kube__429_500_and_dropped_connections_leave_one_job),
		T(exec_kube__retry_after_past_the_budget_is_transient_and_retried),
		T(exec_kube__forbidden_is_clear_and_not_ready),
		T(exec_kube__status_says_where_the_attempt_ran),
		T(exec_kube__stale_watch_recovers_and_sees_the_end),
		T(exec_kube__cancel_deletes_the_job_and_keeps_its_log),
		T(exec_kube__release_of_a_running_attempt_is_a_conflict),
		T(exec_kube__four_nodes_are_one_indexed_job_behind_a_headless_service),
		T(exec_kube__a_failed_index_fails_the_attempt_once_naming_it),
		T(exec_kube__a_service_left_by_a_crash_is_adopted),
		T(exec_kube__reconcile_deletes_services_whose_job_and_run_are_gone),
		T(exec_kube__restart_adopts_running_jobs_and_reconcile_deletes_done_runs),
		T(exec_kube__follow_streams_a_running_log),
		T(exec_kube__metrics_count_calls_by_verb_resource_and_code),
		T(exec_kube__new_from_the_configuration),
#undef T
	};

	if (getenv("KUBE_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("KUBE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
