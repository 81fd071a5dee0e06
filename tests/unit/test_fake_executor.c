/*
 * test_fake_executor.c - the fake executor the engine tests drive: default
 * and scripted outcomes, adoption by name, counters, manual completion,
 * pending and polls, logs from an offset, cancel and release idempotent,
 * failures on cue, forget, and logs() from another thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "../fakes/fake_executor.h"
#include "base/buf.h"
#include "base/err.h"
#include "exec/executor.h"

static const char *const cmd[] = { "python3", "train.py", "--epochs", "3" };
static const struct exec_env env[] = {
	{ "SLUICE_RUN_ID", "1" },
	{ "SLUICE_STAGE", "train" },
};

static void
attempt(struct exec_attempt *a, const char *name, const char *stage, int n)
{
	memset(a, 0, sizeof(*a));
	a->name = name;
	a->run_id = 1;
	a->pipeline = "demo";
	a->stage = stage;
	a->attempt = n;
	a->kind = "job";
	a->image = "python:3.11-slim";
	a->argv = cmd;
	a->argc = 4;
	a->env = env;
	a->nenv = 2;
	a->timeout_ms = 60000;
	a->commit = "abc123";
}

static struct exec_status
status(struct executor *ex, const char *name)
{
	struct exec_status st;
	struct err err;

	assert_int_equal(ex->ops->status(ex->impl, name, &st, &err), 0);
	return st;
}

static void
fake_executor__succeeds_by_default_and_adopts_by_name(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct fake_attempt_info info;
	struct err err;

	(void)state;
	assert_string_equal(ex.ops->name, "fake");
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_UNKNOWN);
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(fake_executor_submits(fx, "sluice-1-train-1"), 2);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 1);
	assert_int_equal(fake_executor_count(fx), 1);
	assert_string_equal(fake_executor_name(fx, 0), "sluice-1-train-1");
	assert_null(fake_executor_name(fx, 1));

	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_SUCCEEDED);
	assert_int_equal(status(&ex, "sluice-1-train-1").exit_code, 0);

	assert_int_equal(fake_executor_info(fx, "sluice-1-train-1", &info), 0);
	assert_string_equal(info.stage, "train");
	assert_string_equal(info.image, "python:3.11-slim");
	assert_int_equal(info.timeout_ms, 60000);
	assert_int_equal(info.argc, 4);
	assert_string_equal(fake_executor_arg(fx, "sluice-1-train-1", 1),
	    "train.py");
	assert_null(fake_executor_arg(fx, "sluice-1-train-1", 4));
	assert_string_equal(fake_executor_env(fx, "sluice-1-train-1",
	    "SLUICE_STAGE"), "train");
	assert_null(fake_executor_env(fx, "sluice-1-train-1", "SLUICE"));
	assert_int_equal(fake_executor_info(fx, "nope", &info), ERR_NOTFOUND);
	ex.ops->free(ex.impl);
}

static void
fake_executor__scripted_outcomes_match_the_latest_rule(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct exec_status st;
	struct err err;

	(void)state;
	fake_executor_on(fx, &(struct fake_rule){ .stage = "train",
	    .outcome = { .state = EXEC_FAILED, .exit_code = 3 } });
	fake_executor_on(fx, &(struct fake_rule){ .stage = "train",
	    .attempt = 2, .outcome = { .log = "::metric auc=0.93\n" } });
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	attempt(&a, "sluice-1-train-2", "train", 2);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	attempt(&a, "sluice-1-eval-1", "eval", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);

	st = status(&ex, "sluice-1-train-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_int_equal(st.exit_code, 3);
	assert_string_equal(st.message, "exit status 3");
	assert_int_equal(status(&ex, "sluice-1-train-2").state, EXEC_SUCCEEDED);
	assert_int_equal(status(&ex, "sluice-1-eval-1").state, EXEC_SUCCEEDED);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 1);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-2"), 1);
	fake_executor_free(fx);
}

static void
fake_executor__pending_polls_and_manual_completion(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct exec_status st;
	struct err err;

	(void)state;
	fake_executor_on(fx, &(struct fake_rule){ .stage = "train",
	    .outcome = { .pending = 1, .waiting_reason = "queue gpu-a100",
	    .polls = 2 } });
	fake_executor_on(fx, &(struct fake_rule){ .stage = "serve",
	    .outcome = { .manual = 1 } });
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	st = status(&ex, "sluice-1-train-1");
	assert_int_equal(st.state, EXEC_PENDING);
	assert_string_equal(st.waiting_reason, "queue gpu-a100");
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_RUNNING);
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_RUNNING);
	st = status(&ex, "sluice-1-train-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	assert_true(st.finished_at >= st.started_at);

	attempt(&a, "sluice-1-serve-1", "serve", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(status(&ex, "sluice-1-serve-1").state,
		    EXEC_RUNNING);
	assert_int_equal(fake_executor_state(fx, "sluice-1-serve-1"),
	    EXEC_RUNNING);
	assert_int_equal(fake_executor_finish(fx, "sluice-1-serve-1",
	    EXEC_FAILED, 137, "OOMKilled"), 0);
	st = status(&ex, "sluice-1-serve-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_int_equal(st.exit_code, 137);
	assert_string_equal(st.message, "OOMKilled");
	assert_int_equal(fake_executor_finish(fx, "sluice-1-serve-1",
	    EXEC_SUCCEEDED, 0, NULL), ERR_CONFLICT);
	assert_int_equal(fake_executor_finish(fx, "nope", EXEC_SUCCEEDED, 0,
	    NULL), ERR_NOTFOUND);
	ex.ops->free(ex.impl);
}

static void
fake_executor__logs_from_an_offset(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct buf b;
	struct err err;
	int64_t next;

	(void)state;
	fake_executor_on(fx, &(struct fake_rule){ .stage = "train",
	    .outcome = { .manual = 1, .log = "epoch 1\n" } });
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(fake_executor_emit(fx, "sluice-1-train-1",
	    "::metric auc=0.93\n"), 0);
	buf_init(&b, 1024);
	assert_int_equal(ex.ops->logs(ex.impl, "sluice-1-train-1", 0, 0, &b, &next, NULL, 0,
	    &err), 0);
	assert_string_equal(b.data, "epoch 1\n::metric auc=0.93\n");
	assert_int_equal(next, (int64_t)b.len);
	buf_reset(&b);
	assert_int_equal(ex.ops->logs(ex.impl, "sluice-1-train-1", 0, 8, &b, &next, NULL, 0,
	    &err), 0);
	assert_string_equal(b.data, "::metric auc=0.93\n");
	buf_reset(&b);
	assert_int_equal(ex.ops->logs(ex.impl, "sluice-1-train-1", 0, next, &b,
	    &next, NULL, 0, &err), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(ex.ops->logs(ex.impl, "nope", 0, 0, &b, &next, NULL, 0, &err),
	    ERR_NOTFOUND);
	assert_int_equal(fake_executor_emit(fx, "nope", "x"), ERR_NOTFOUND);
	buf_release(&b);
	buf_init(&b, 5);
	assert_int_equal(ex.ops->logs(ex.impl, "sluice-1-train-1", 0, 0, &b, &next, NULL, 0,
	    &err), 0);
	assert_string_equal(b.data, "epoch");
	assert_int_equal(next, 5);
	buf_release(&b);
	ex.ops->free(ex.impl);
}

static void
fake_executor__cancel_and_release_are_idempotent(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct exec_status st;
	struct err err;

	(void)state;
	fake_executor_on(fx, &(struct fake_rule){ .outcome = { .manual = 1 } });
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(ex.ops->cancel(ex.impl, "sluice-1-train-1", &err), 0);
	assert_int_equal(ex.ops->cancel(ex.impl, "sluice-1-train-1", &err), 0);
	assert_int_equal(ex.ops->cancel(ex.impl, "unknown", &err), 0);
	st = status(&ex, "sluice-1-train-1");
	assert_int_equal(st.state, EXEC_CANCELED);
	assert_string_equal(st.message, "canceled");
	assert_int_equal(fake_executor_cancels(fx, "sluice-1-train-1"), 2);
	assert_int_equal(ex.ops->release(ex.impl, "sluice-1-train-1", &err), 0);
	assert_int_equal(ex.ops->release(ex.impl, "sluice-1-train-1", &err), 0);
	assert_int_equal(ex.ops->release(ex.impl, "unknown", &err), 0);
	assert_int_equal(fake_executor_releases(fx, "sluice-1-train-1"), 2);
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_CANCELED);
	ex.ops->free(ex.impl);
}

static void
fake_executor__fails_on_cue_and_forgets(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct exec_status st;
	struct err err;

	(void)state;
	attempt(&a, "sluice-1-train-1", "train", 1);
	fake_executor_fail_submits(fx, 2, ERR_TRANSIENT);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), ERR_TRANSIENT);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), ERR_TRANSIENT);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 0);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 1);

	fake_executor_fail_status(fx, 1, ERR_TRANSIENT);
	assert_int_equal(ex.ops->status(ex.impl, "sluice-1-train-1", &st, &err),
	    ERR_TRANSIENT);
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_SUCCEEDED);

	/* an executor that lost the attempt: unknown, and started again */
	fake_executor_forget(fx, "sluice-1-train-1");
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_UNKNOWN);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(fake_executor_starts(fx, "sluice-1-train-1"), 2);
	assert_int_equal(status(&ex, "sluice-1-train-1").state, EXEC_SUCCEEDED);
	ex.ops->free(ex.impl);
}

struct reader {
	struct executor	*ex;
	int		 ok;
};

static void *
read_logs(void *arg)
{
	struct reader *r = arg;

	r->ok = 1;
	for (int i = 0; i < 2000; i++) {
		struct buf b;
		struct err err;
		int64_t next;

		buf_init(&b, 1 << 20);
		if (r->ex->ops->logs(r->ex->impl, "sluice-1-train-1", 0, 0, &b,
		    &next, NULL, 0, &err) < 0 || next != (int64_t)b.len)
			r->ok = 0;
		buf_release(&b);
	}
	return NULL;
}

static void
fake_executor__logs_from_another_thread(void **state)
{
	struct executor ex;
	struct fake_executor *fx = fake_executor_new(&ex);
	struct exec_attempt a;
	struct reader r = { &ex, 0 };
	struct err err;
	pthread_t t;

	(void)state;
	fake_executor_on(fx, &(struct fake_rule){ .outcome = { .manual = 1 } });
	attempt(&a, "sluice-1-train-1", "train", 1);
	assert_int_equal(ex.ops->submit(ex.impl, &a, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, read_logs, &r), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(fake_executor_emit(fx, "sluice-1-train-1",
		    "::metric loss=0.5\n"), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(r.ok);
	ex.ops->free(ex.impl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    fake_executor__succeeds_by_default_and_adopts_by_name),
		cmocka_unit_test(
		    fake_executor__scripted_outcomes_match_the_latest_rule),
		cmocka_unit_test(
		    fake_executor__pending_polls_and_manual_completion),
		cmocka_unit_test(fake_executor__logs_from_an_offset),
		cmocka_unit_test(
		    fake_executor__cancel_and_release_are_idempotent),
		cmocka_unit_test(fake_executor__fails_on_cue_and_forgets),
		cmocka_unit_test(fake_executor__logs_from_another_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
