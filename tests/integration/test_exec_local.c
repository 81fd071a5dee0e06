/*
 * test_exec_local.c - the local executor with real processes: output and
 * environment in the log, exit codes, the working directory, timeouts and
 * cancels that kill the whole process group, adoption on resubmit and
 * after a controller killed with SIGKILL, a supervisor killed with
 * SIGKILL or stopped with SIGTERM, leftovers of a finished command, logs
 * from an offset, the log cap, release, unknown and reused names.
 *
 * The supervisor is this test binary itself (/proc/self/exe): main()
 * dispatches `__supervise` the way bin/sluice does.  One test runs
 * through bin/sluice ($SLUICE_BIN).  Waits are bounded polls, never
 * timing assertions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../support/testdb.h"
#include "base/buf.h"
#include "base/err.h"
#include "exec/exec_local.h"
#include "exec/executor.h"

#define WAIT_MS		60000	/* upper bound of every wait loop */

struct fixture {
	char		root[512];
	char		state[600];
	char		work[600];	/* the "checkout" */
	char		work_real[PATH_MAX];
	struct executor	ex;
};

static const struct exec_env stage_env[] = {
	{ "SLUICE_RUN_ID", "7" },
	{ "SLUICE_STAGE", "train" },
	{ "SLUICE_ATTEMPT", "1" },
	{ "SLUICE_COMMIT", "0123456789abcdef0123456789abcdef01234567" },
	{ "SLUICE_PIPELINE", "demo" },
	{ "SLUICE_PARAM_EPOCHS", "3" },
};

static const struct exec_volume volumes[] = {
	{ "fraud-data", "/data", 1 },
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
new_executor(struct fixture *f, const char *program, int64_t log_max)
{
	struct exec_local_opts o = {
		.state_dir = f->state,
		.program = program,
		.kill_grace_ms = 300,
		.log_max = log_max,
	};
	struct err err;
	int rc = exec_local_new_opts(&f->ex, &o, &err);

	if (rc < 0)
		fprintf(stderr, "exec_local_new: %s\n", err.msg);
	return rc;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || test_tmpdir(f->root, sizeof(f->root)) < 0)
		goto fail;
	(void)snprintf(f->state, sizeof(f->state), "%s/state", f->root);
	(void)snprintf(f->work, sizeof(f->work), "%s/checkout", f->root);
	if (mkdir(f->work, 0755) < 0 || realpath(f->work, f->work_real) == NULL)
		goto fail;
	if (new_executor(f, NULL, 0) < 0)
		goto fail;
	*state = f;
	return 0;
fail:
	free(f);
	return -1;
}

static int
terminal(enum exec_state s)
{
	return s == EXEC_SUCCEEDED || s == EXEC_FAILED || s == EXEC_CANCELED;
}

/* Wait until name is finished; returns its status. */
static struct exec_status
wait_done(struct fixture *f, const char *name)
{
	struct exec_status st;
	struct err err;

	for (int waited = 0;; waited += 20) {
		assert_int_equal(f->ex.ops->status(f->ex.impl, name, &st, &err),
		    0);
		if (terminal(st.state) || waited >= WAIT_MS)
			break;
		sleep_ms(20);
	}
	assert_true(terminal(st.state));
	return st;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char dir[700];
	struct dirent *de;
	DIR *d;

	/* stop whatever a failed test left running before removing files */
	(void)snprintf(dir, sizeof(dir), "%s/attempts", f->state);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct exec_status st;
			struct err err;

			if (de->d_name[0] == '.')
				continue;
			if (f->ex.ops->cancel(f->ex.impl, de->d_name, &err) < 0)
				continue;
			for (int w = 0; w < WAIT_MS; w += 20) {
				if (f->ex.ops->status(f->ex.impl, de->d_name, &st,
				    &err) < 0 || st.state == EXEC_UNKNOWN ||
				    terminal(st.state))
					break;
				sleep_ms(20);
			}
		}
		closedir(d);
	}
	f->ex.ops->free(f->ex.impl);
	test_rmtree(f->root);
	free(f);
	return 0;
}

static void
attempt_init(struct exec_attempt *a, const char *name,
    const char *const *argv, size_t argc, const char *workdir,
    int64_t timeout_ms)
{
	memset(a, 0, sizeof(*a));
	a->name = name;
	a->run_id = 7;
	a->pipeline = "demo";
	a->stage = "train";
	a->attempt = 1;
	a->kind = "job";
	a->image = "python:3.11-slim";
	a->argv = argv;
	a->argc = argc;
	a->env = stage_env;
	a->nenv = sizeof(stage_env) / sizeof(stage_env[0]);
	a->timeout_ms = timeout_ms;
	a->workdir = workdir;
	a->commit = "0123456789abcdef0123456789abcdef01234567";
	a->checkout = 1;
}

/* Submit `sh -c script` in the checkout. */
static int
submit_sh(struct fixture *f, const char *name, const char *script,
    int64_t timeout_ms)
{
	const char *argv[] = { "sh", "-c", script };
	struct exec_attempt a;
	struct err err;
	int rc;

	attempt_init(&a, name, argv, 3, f->work, timeout_ms);
	rc = f->ex.ops->submit(f->ex.impl, &a, &err);
	if (rc < 0)
		fprintf(stderr, "submit: %s\n", err.msg);
	return rc;
}

/* The whole log of name (caller frees). */
static char *
log_of(struct fixture *f, const char *name)
{
	struct buf b;
	struct err err;
	int64_t next;

	buf_init(&b, 1024 * 1024);
	assert_int_equal(f->ex.ops->logs(f->ex.impl, name, 0, 0, &b, &next, NULL, 0, &err),
	    0);
	assert_int_equal(next, (int64_t)b.len);
	return buf_detach(&b);
}

/* Contents of dir/name, or NULL when it does not exist (caller frees). */
static char *
slurp(const char *dir, const char *name)
{
	char path[1024];
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	buf_init(&b, 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(fp);
	return buf_detach(&b);
}

/* Wait until dir/name exists with a complete line; returns its number. */
static long
wait_number(const char *dir, const char *name)
{
	for (int waited = 0; waited < WAIT_MS; waited += 20) {
		char *s = slurp(dir, name);

		if (s != NULL && strchr(s, '\n') != NULL) {
			long v = strtol(s, NULL, 10);

			free(s);
			return v;
		}
		free(s);
		sleep_ms(20);
	}
	fail_msg("%s/%s never appeared", dir, name);
	return -1;
}

static void
attempt_path(struct fixture *f, const char *name, char *out, size_t len)
{
	(void)snprintf(out, len, "%s/attempts/%s", f->state, name);
}

/* Whether pid is a live (not zombie) process. */
static int
pid_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

/* Whether any live (not zombie) process is in process group pgid. */
static int
group_alive(pid_t pgid)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir("/proc");

	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		char path[300], buf[512], *p, *end;
		long ppid, pgrp;
		FILE *fp;
		size_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		(void)snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		if ((p = strrchr(buf, ')')) == NULL || strlen(p) < 4)
			continue;
		if (p[2] == 'Z' || p[2] == 'X')
			continue;
		ppid = strtol(p + 4, &end, 10);
		pgrp = strtol(end, NULL, 10);
		(void)ppid;
		if (pgrp == (long)pgid)
			found = 1;
	}
	closedir(d);
	return found;
}

/* Wait (bounded) for a process group to have no live member. */
static void
assert_group_gone(pid_t pgid)
{
	assert_true(pgid > 1);
	for (int waited = 0; group_alive(pgid) && waited < WAIT_MS;
	    waited += 20)
		sleep_ms(20);
	assert_false(group_alive(pgid));
}

static void
assert_pid_gone(pid_t pid)
{
	assert_true(pid > 1);
	for (int waited = 0; pid_alive(pid) && waited < WAIT_MS; waited += 20)
		sleep_ms(20);
	assert_false(pid_alive(pid));
}

static void
touch(const char *dir, const char *name)
{
	assert_int_equal(test_write_file(dir, name, "go\n"), 0);
}

/* ---- tests ---- */

static void
exec_local__runs_command_in_checkout_with_stage_env(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "sh", "-c",
		"echo hello; "
		"echo \"stage=$SLUICE_STAGE run=$SLUICE_RUN_ID "
		"attempt=$SLUICE_ATTEMPT epochs=$SLUICE_PARAM_EPOCHS\"; "
		"echo \"cwd=$(pwd -P)\"; "
		"echo oops >&2; "
		"echo \"secret=${SLUICE_WEBHOOK_SECRET:-unset}\"; "
		"echo \"test_vars=$(env | grep -c '^SLUICE_TEST')\"; "
		"test -d \"$SLUICE_ARTIFACT_DIR\" && echo artifact-dir-exists; "
		"echo '::metric auc=0.93'" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char want[PATH_MAX + 16], vol[700];
	struct stat sb;
	char *log;

	/* the controller's own secrets must not reach a stage */
	setenv("SLUICE_WEBHOOK_SECRET", "hunter2", 1);
	attempt_init(&a, "sluice-7-train-1", argv, 3, f->work, 0);
	a.volumes = volumes;
	a.nvolumes = 1;
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	unsetenv("SLUICE_WEBHOOK_SECRET");

	st = wait_done(f, "sluice-7-train-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	assert_int_equal(st.exit_code, 0);
	assert_string_equal(st.message, "");
	assert_true(st.started_at > 0);
	assert_true(st.finished_at >= st.started_at);

	log = log_of(f, "sluice-7-train-1");
	assert_non_null(strstr(log, "hello\n"));
	assert_non_null(strstr(log, "stage=train run=7 attempt=1 epochs=3\n"));
	(void)snprintf(want, sizeof(want), "cwd=%s\n", f->work_real);
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "oops\n"));
	assert_non_null(strstr(log, "secret=unset\n"));
	assert_non_null(strstr(log, "test_vars=0\n"));
	assert_non_null(strstr(log, "artifact-dir-exists\n"));
	assert_non_null(strstr(log, "::metric auc=0.93\n"));
	free(log);

	/* a volume claim is a directory under the state dir */
	(void)snprintf(vol, sizeof(vol), "%s/volumes/fraud-data", f->state);
	assert_int_equal(stat(vol, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
}

static void
exec_local__failing_command_reports_its_exit_code(void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	char *log;

	assert_int_equal(submit_sh(f, "sluice-7-fail-1",
	    "echo before; exit 3", 0), 0);
	st = wait_done(f, "sluice-7-fail-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_int_equal(st.exit_code, 3);
	assert_string_equal(st.message, "exit status 3");
	log = log_of(f, "sluice-7-fail-1");
	assert_non_null(strstr(log, "before\n"));
	free(log);
}

static void
exec_local__missing_program_fails_with_the_reason(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "/nonexistent/train" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char *log;

	attempt_init(&a, "sluice-7-noprog-1", argv, 1, f->work, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	st = wait_done(f, "sluice-7-noprog-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_int_equal(st.exit_code, 127);
	assert_non_null(strstr(st.message,
	    "cannot run '/nonexistent/train': No such file or directory"));
	log = log_of(f, "sluice-7-noprog-1");
	assert_non_null(strstr(log, "cannot run '/nonexistent/train'"));
	free(log);
}

static void
exec_local__timeout_kills_the_whole_group(void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	char dir[700];
	pid_t leader, child;
	char *log;

	assert_int_equal(submit_sh(f, "sluice-7-slow-1",
	    "echo $$ > leader.pid; sleep 300 & echo $! > child.pid; sleep 300",
	    2000), 0);
	leader = (pid_t)wait_number(f->work, "leader.pid");
	child = (pid_t)wait_number(f->work, "child.pid");
	st = wait_done(f, "sluice-7-slow-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_string_equal(st.message, "timeout after 2s");
	assert_false(group_alive(leader));
	assert_false(pid_alive(child));
	log = log_of(f, "sluice-7-slow-1");
	assert_non_null(strstr(log, "[sluice] timeout after 2s"));
	free(log);
	/* the recorded group is the leader's */
	attempt_path(f, "sluice-7-slow-1", dir, sizeof(dir));
	log = slurp(dir, "pgid");
	assert_non_null(log);
	assert_int_equal(strtol(log + strlen("pgid="), NULL, 10), leader);
	free(log);
}

static void
exec_local__timeout_escalates_to_sigkill(void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	pid_t leader;
	char *log;

	/* ignores SIGTERM, and so does sleep, which inherits that */
	assert_int_equal(submit_sh(f, "sluice-7-stubborn-1",
	    "trap '' TERM; echo $$ > leader.pid; sleep 300", 1000), 0);
	leader = (pid_t)wait_number(f->work, "leader.pid");
	st = wait_done(f, "sluice-7-stubborn-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_string_equal(st.message, "timeout after 1s");
	assert_int_equal(st.exit_code, 128 + SIGKILL);
	assert_false(group_alive(leader));
	log = log_of(f, "sluice-7-stubborn-1");
	assert_non_null(strstr(log, "SIGKILL"));
	free(log);
}

static void
exec_local__cancel_kills_the_group(void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	struct err err;
	pid_t leader, child;

	assert_int_equal(submit_sh(f, "sluice-7-cancel-1",
	    "echo $$ > leader.pid; sleep 300 & echo $! > child.pid; wait", 0),
	    0);
	leader = (pid_t)wait_number(f->work, "leader.pid");
	child = (pid_t)wait_number(f->work, "child.pid");
	assert_int_equal(f->ex.ops->status(f->ex.impl, "sluice-7-cancel-1",
	    &st, &err), 0);
	assert_int_equal(st.state, EXEC_RUNNING);
	assert_true(st.started_at > 0);

	assert_int_equal(f->ex.ops->cancel(f->ex.impl, "sluice-7-cancel-1",
	    &err), 0);
	st = wait_done(f, "sluice-7-cancel-1");
	assert_int_equal(st.state, EXEC_CANCELED);
	assert_string_equal(st.message, "canceled");
	assert_false(group_alive(leader));
	assert_false(pid_alive(child));

	/* idempotent, and a finished attempt stays as it was */
	assert_int_equal(f->ex.ops->cancel(f->ex.impl, "sluice-7-cancel-1",
	    &err), 0);
	st = wait_done(f, "sluice-7-cancel-1");
	assert_int_equal(st.state, EXEC_CANCELED);
}

static void
exec_local__submit_twice_runs_the_command_once(void **state)
{
	struct fixture *f = *state;
	const char *script = "echo run >> count; "
	    "while [ ! -e go ]; do sleep 0.05; done";
	struct exec_status st;
	char *count;

	assert_int_equal(submit_sh(f, "sluice-7-once-1", script, 0), 0);
	assert_int_equal(submit_sh(f, "sluice-7-once-1", script, 0), 0);
	(void)wait_number(f->work, "count");
	assert_int_equal(submit_sh(f, "sluice-7-once-1", script, 0), 0);
	touch(f->work, "go");
	st = wait_done(f, "sluice-7-once-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	/* and after it finished */
	assert_int_equal(submit_sh(f, "sluice-7-once-1", script, 0), 0);
	st = wait_done(f, "sluice-7-once-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	count = slurp(f->work, "count");
	assert_non_null(count);
	assert_string_equal(count, "run\n");
	free(count);
}

static void
exec_local__reused_name_of_another_run_is_refused(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "true" };
	struct exec_attempt a;
	struct err err;

	assert_int_equal(submit_sh(f, "sluice-7-reuse-1", "true", 0), 0);
	(void)wait_done(f, "sluice-7-reuse-1");
	attempt_init(&a, "sluice-7-reuse-1", argv, 1, f->work, 0);
	a.commit = "fedcba9876543210fedcba9876543210fedcba98";
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "another run"));
}

static void
exec_local__adopts_attempts_after_controller_is_killed(void **state)
{
	struct fixture *f = *state;
	const char *script = "echo run >> count; "
	    "while [ ! -e go ]; do sleep 0.05; done; echo finished";
	struct exec_status st;
	struct err err;
	char *s;
	pid_t pid;
	int ws;

	/* a "controller" that submits and is killed with SIGKILL */
	f->ex.ops->free(f->ex.impl);
	f->ex.impl = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (new_executor(f, NULL, 0) < 0 ||
		    submit_sh(f, "sluice-7-adopt-1", script, 0) < 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));

	/* the restarted controller finds it running and adopts it */
	assert_int_equal(new_executor(f, NULL, 0), 0);
	(void)wait_number(f->work, "count");
	assert_int_equal(f->ex.ops->status(f->ex.impl, "sluice-7-adopt-1",
	    &st, &err), 0);
	assert_int_equal(st.state, EXEC_RUNNING);
	assert_int_equal(submit_sh(f, "sluice-7-adopt-1", script, 0), 0);

	/* freeing the executor again does not stop it either */
	f->ex.ops->free(f->ex.impl);
	assert_int_equal(new_executor(f, NULL, 0), 0);
	touch(f->work, "go");
	st = wait_done(f, "sluice-7-adopt-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	s = slurp(f->work, "count");
	assert_non_null(s);
	assert_string_equal(s, "run\n");
	free(s);
	s = log_of(f, "sluice-7-adopt-1");
	assert_non_null(strstr(s, "finished\n"));
	free(s);
}

static void
exec_local__dead_supervisor_fails_the_attempt_and_kills_its_group(
    void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	char dir[700];
	pid_t leader, sup;

	assert_int_equal(submit_sh(f, "sluice-7-orphan-1",
	    "echo $$ > leader.pid; sleep 300", 0), 0);
	leader = (pid_t)wait_number(f->work, "leader.pid");
	attempt_path(f, "sluice-7-orphan-1", dir, sizeof(dir));
	sup = (pid_t)wait_number(dir, "supervisor.pid");
	assert_int_equal(kill(sup, SIGKILL), 0);

	st = wait_done(f, "sluice-7-orphan-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_non_null(strstr(st.message, "supervisor died"));
	assert_group_gone(leader);
	/* and it stays that way */
	st = wait_done(f, "sluice-7-orphan-1");
	assert_int_equal(st.state, EXEC_FAILED);
}

static void
exec_local__sigterm_to_the_supervisor_stops_the_stage(void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	char dir[700];
	pid_t leader, sup;

	assert_int_equal(submit_sh(f, "sluice-7-stop-1",
	    "echo $$ > leader.pid; sleep 300", 0), 0);
	leader = (pid_t)wait_number(f->work, "leader.pid");
	attempt_path(f, "sluice-7-stop-1", dir, sizeof(dir));
	sup = (pid_t)wait_number(dir, "supervisor.pid");
	assert_int_equal(kill(sup, SIGTERM), 0);
	st = wait_done(f, "sluice-7-stop-1");
	assert_int_equal(st.state, EXEC_CANCELED);
	assert_string_equal(st.message,
	    "stopped: the supervisor received signal 15");
	assert_false(group_alive(leader));
}

static void
exec_local__logs_read_from_an_offset(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	struct err err;
	int64_t next;

	assert_int_equal(submit_sh(f, "sluice-7-log-1", "printf 'one\\ntwo\\n'",
	    0), 0);
	(void)wait_done(f, "sluice-7-log-1");

	buf_init(&b, 1024);
	assert_int_equal(f->ex.ops->logs(f->ex.impl, "sluice-7-log-1", 0, 4, &b,
	    &next, NULL, 0, &err), 0);
	assert_string_equal(b.data, "two\n");
	assert_int_equal(next, 8);
	buf_reset(&b);
	assert_int_equal(f->ex.ops->logs(f->ex.impl, "sluice-7-log-1", 0, 8, &b,
	    &next, NULL, 0, &err), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(next, 8);
	buf_release(&b);

	/* capped by the buffer: the rest comes with the next call */
	buf_init(&b, 3);
	assert_int_equal(f->ex.ops->logs(f->ex.impl, "sluice-7-log-1", 0, 0, &b,
	    &next, NULL, 0, &err), 0);
	assert_string_equal(b.data, "one");
	assert_int_equal(next, 3);
	buf_release(&b);

	buf_init(&b, 16);
	assert_int_equal(f->ex.ops->logs(f->ex.impl, "sluice-7-nolog-1", 0, 0, &b,
	    &next, NULL, 0, &err), ERR_NOTFOUND);
	buf_release(&b);
}

static void
exec_local__log_is_capped(void **state)
{
	struct fixture *f = *state;
	char *log;

	f->ex.ops->free(f->ex.impl);
	assert_int_equal(new_executor(f, NULL, 1000), 0);
	assert_int_equal(submit_sh(f, "sluice-7-chatty-1",
	    "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done; "
	    "exit 0", 0), 0);
	assert_int_equal(wait_done(f, "sluice-7-chatty-1").state,
	    EXEC_SUCCEEDED);
	log = log_of(f, "sluice-7-chatty-1");
	assert_true(strlen(log) < 1100);
	assert_non_null(strstr(log, "line-0\n"));
	assert_null(strstr(log, "line-499"));
	assert_non_null(strstr(log, "[sluice] log truncated"));
	free(log);
}

static void
exec_local__leftover_processes_are_killed_when_the_command_ends(
    void **state)
{
	struct fixture *f = *state;
	struct exec_status st;
	pid_t child, escaped;

	assert_int_equal(submit_sh(f, "sluice-7-litter-1",
	    "sleep 300 & echo $! > child.pid; "
	    "setsid sleep 300 & echo $! > escaped.pid; echo done", 0), 0);
	st = wait_done(f, "sluice-7-litter-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	child = (pid_t)wait_number(f->work, "child.pid");
	escaped = (pid_t)wait_number(f->work, "escaped.pid");
	assert_pid_gone(child);
	assert_pid_gone(escaped);
}

static void
exec_local__release_keeps_log_and_status(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "sh", "-c", "echo kept; echo x > scratch" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char dir[700], work[800];
	char *log;

	/* no checkout: the attempt's own work directory */
	attempt_init(&a, "sluice-7-rel-1", argv, 3, NULL, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	assert_int_equal(wait_done(f, "sluice-7-rel-1").state, EXEC_SUCCEEDED);
	attempt_path(f, "sluice-7-rel-1", dir, sizeof(dir));
	(void)snprintf(work, sizeof(work), "%s/work/scratch", dir);
	assert_int_equal(access(work, F_OK), 0);

	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-7-rel-1",
	    &err), 0);
	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-7-rel-1",
	    &err), 0);
	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-7-never-1",
	    &err), 0);
	assert_int_equal(access(work, F_OK), -1);
	st = wait_done(f, "sluice-7-rel-1");
	assert_int_equal(st.state, EXEC_SUCCEEDED);
	log = log_of(f, "sluice-7-rel-1");
	assert_string_equal(log, "kept\n");
	free(log);
	/* released and resubmitted: still adopted, not run again */
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	log = log_of(f, "sluice-7-rel-1");
	assert_string_equal(log, "kept\n");
	free(log);

	/* a running attempt is not released */
	assert_int_equal(submit_sh(f, "sluice-7-rel-2",
	    "while [ ! -e go ]; do sleep 0.05; done", 0), 0);
	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-7-rel-2",
	    &err), ERR_CONFLICT);
	touch(f->work, "go");
	assert_int_equal(wait_done(f, "sluice-7-rel-2").state, EXEC_SUCCEEDED);
	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-7-rel-2",
	    &err), 0);
}

static void
exec_local__unknown_and_invalid_names(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "true" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char missing[700];

	assert_int_equal(f->ex.ops->status(f->ex.impl, "sluice-9-x-1", &st,
	    &err), 0);
	assert_int_equal(st.state, EXEC_UNKNOWN);
	assert_int_equal(f->ex.ops->cancel(f->ex.impl, "sluice-9-x-1", &err),
	    0);
	assert_int_equal(f->ex.ops->release(f->ex.impl, "sluice-9-x-1", &err),
	    0);
	assert_int_equal(f->ex.ops->status(f->ex.impl, "../../etc", &st, &err),
	    0);
	assert_int_equal(st.state, EXEC_UNKNOWN);

	attempt_init(&a, "../evil", argv, 1, f->work, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), ERR_INVALID);
	attempt_init(&a, "Sluice-UPPER", argv, 1, f->work, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), ERR_INVALID);
	attempt_init(&a, "sluice-7-noargs-1", argv, 0, f->work, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "no command"));
	(void)snprintf(missing, sizeof(missing), "%s/gone", f->root);
	attempt_init(&a, "sluice-7-nowd-1", argv, 1, missing, 0);
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a directory"));
	assert_int_equal(f->ex.ops->status(f->ex.impl, "sluice-7-nowd-1", &st,
	    &err), 0);
	assert_int_equal(st.state, EXEC_UNKNOWN);
}

static void
exec_local__runs_through_bin_sluice(void **state)
{
	struct fixture *f = *state;
	const char *bin = getenv("SLUICE_BIN");
	char *log;

	if (bin == NULL || access(bin, X_OK) < 0)
		skip();
	f->ex.ops->free(f->ex.impl);
	assert_int_equal(new_executor(f, bin, 0), 0);
	assert_int_equal(submit_sh(f, "sluice-7-bin-1", "echo via-sluice", 0),
	    0);
	assert_int_equal(wait_done(f, "sluice-7-bin-1").state, EXEC_SUCCEEDED);
	log = log_of(f, "sluice-7-bin-1");
	assert_string_equal(log, "via-sluice\n");
	free(log);
}

/* ---- multi-node: N ranks on this machine ---- */

static void
exec_local__two_ranks_of_the_ddp_example_meet_and_train(void **state)
{
	struct fixture *f = *state;
	const char *top = getenv("SLUICE_TOP");
	char script[PATH_MAX], dir[700];
	const char *argv[] = { "python3", script, "--steps", "20", "--timeout",
	    "60" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char *log, *log1;

	(void)snprintf(script, sizeof(script), "%s/pipelines/ddp/train.py",
	    top != NULL ? top : ".");
	attempt_init(&a, "sluice-7-ddp-1", argv, 6, f->work, 0);
	a.nodes = 2;
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	st = wait_done(f, "sluice-7-ddp-1");
	log = log_of(f, "sluice-7-ddp-1");
	attempt_path(f, "sluice-7-ddp-1", dir, sizeof(dir));
	log1 = slurp(dir, "log.1");
	if (st.state != EXEC_SUCCEEDED)
		fail_msg("%s: %s\nrank 1: %s", st.message, log,
		    log1 != NULL ? log1 : "(no log.1)");
	assert_int_equal(st.exit_code, 0);
	/* rank 0 writes the attempt's log, with the metrics */
	assert_non_null(strstr(log, "rank 0 of 2, master 127.0.0.1:"));
	assert_non_null(strstr(log, "rank 0: rank 1 joined"));
	assert_non_null(strstr(log, "\n::metric loss="));
	assert_non_null(strstr(log, " ranks=2\n"));
	/* rank 1 its own log.1, having met rank 0 at the same port */
	assert_non_null(log1);
	assert_non_null(strstr(log1, "rank 1 of 2, master 127.0.0.1:"));
	assert_non_null(strstr(log1, "rank 1: joined rank 0 at 127.0.0.1:"));
	assert_null(strstr(log1, "::metric"));
	free(log);
	free(log1);
}

static void
exec_local__a_failed_rank_fails_the_attempt_and_stops_the_others(
    void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "sh", "-c",
	    "echo \"rank=$SLUICE_NODE_RANK of $SLUICE_NUM_NODES at "
	    "$SLUICE_MASTER_ADDR:$SLUICE_MASTER_PORT\"; "
	    "if [ \"$SLUICE_NODE_RANK\" = 1 ]; then "
	    "while [ ! -f pid.0 ] || [ ! -f pid.2 ]; do sleep 0.05; done; "
	    "exit 4; fi; echo $$ > pid.$SLUICE_NODE_RANK.tmp; "
	    "mv pid.$SLUICE_NODE_RANK.tmp pid.$SLUICE_NODE_RANK; "
	    "exec sleep 600" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char dir[700], *log, *log1, *log2;
	long pid0, pid2;

	attempt_init(&a, "sluice-7-gang-1", argv, 3, f->work, 0);
	a.nodes = 3;
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	pid0 = wait_number(f->work, "pid.0");
	pid2 = wait_number(f->work, "pid.2");
	st = wait_done(f, "sluice-7-gang-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_int_equal(st.exit_code, 4);
	assert_string_equal(st.message, "rank 1 of 3 failed: exit status 4");
	/* the other ranks were stopped, not waited for */
	assert_pid_gone((pid_t)pid0);
	assert_pid_gone((pid_t)pid2);
	log = log_of(f, "sluice-7-gang-1");
	attempt_path(f, "sluice-7-gang-1", dir, sizeof(dir));
	log1 = slurp(dir, "log.1");
	log2 = slurp(dir, "log.2");
	assert_non_null(log1);
	assert_non_null(log2);
	assert_non_null(strstr(log, "rank=0 of 3 at 127.0.0.1:"));
	assert_non_null(strstr(log1, "rank=1 of 3 at 127.0.0.1:"));
	assert_non_null(strstr(log2, "rank=2 of 3 at 127.0.0.1:"));
	/* one port for all ranks */
	assert_int_equal(strtol(strstr(log, "127.0.0.1:") + 10, NULL, 10),
	    strtol(strstr(log1, "127.0.0.1:") + 10, NULL, 10));
	assert_true(strtol(strstr(log, "127.0.0.1:") + 10, NULL, 10) > 0);
	assert_non_null(strstr(log, "[sluice] rank 1 of 3 failed: stopping "
	    "the other ranks"));
	free(log);
	free(log1);
	free(log2);
}

static void
exec_local__a_dead_supervisor_takes_every_rank_with_it(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = { "sh", "-c", "echo $$ > rank.$SLUICE_NODE_RANK.tmp"
	    " && mv rank.$SLUICE_NODE_RANK.tmp rank.$SLUICE_NODE_RANK; "
	    "exec sleep 300" };
	struct exec_attempt a;
	struct exec_status st;
	struct err err;
	char dir[700];
	pid_t r0, r1, sup;

	attempt_init(&a, "sluice-7-gangorphan-1", argv, 3, f->work, 0);
	a.nodes = 2;
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	r0 = (pid_t)wait_number(f->work, "rank.0");
	r1 = (pid_t)wait_number(f->work, "rank.1");
	attempt_path(f, "sluice-7-gangorphan-1", dir, sizeof(dir));
	sup = (pid_t)wait_number(dir, "supervisor.pid");
	assert_int_equal(kill(sup, SIGKILL), 0);

	st = wait_done(f, "sluice-7-gangorphan-1");
	assert_int_equal(st.state, EXEC_FAILED);
	assert_non_null(strstr(st.message, "supervisor died"));
	/* both ranks were in rank 0's group: both are gone */
	assert_group_gone(r0);
	assert_pid_gone(r1);
	/* a resubmit after the crash runs nothing again */
	assert_int_equal(f->ex.ops->submit(f->ex.impl, &a, &err), 0);
	st = wait_done(f, "sluice-7-gangorphan-1");
	assert_int_equal(st.state, EXEC_FAILED);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    exec_local__runs_command_in_checkout_with_stage_env,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__failing_command_reports_its_exit_code,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__missing_program_fails_with_the_reason,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__timeout_kills_the_whole_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__timeout_escalates_to_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__cancel_kills_the_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__submit_twice_runs_the_command_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__reused_name_of_another_run_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__adopts_attempts_after_controller_is_killed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__dead_supervisor_fails_the_attempt_and_kills_its_group,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__sigterm_to_the_supervisor_stops_the_stage,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__logs_read_from_an_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__log_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__leftover_processes_are_killed_when_the_command_ends,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__release_keeps_log_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__unknown_and_invalid_names, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__runs_through_bin_sluice, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__two_ranks_of_the_ddp_example_meet_and_train,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__a_failed_rank_fails_the_attempt_and_stops_the_others,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exec_local__a_dead_supervisor_takes_every_rank_with_it,
		    setup, teardown),
	};

	/* this binary is also the supervisor the executor starts */
	if (argc >= 2 && strcmp(argv[1], EXEC_LOCAL_SUPERVISE_CMD) == 0)
		return exec_local_supervise(argc - 1, argv + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
