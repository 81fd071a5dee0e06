/*
 * exec_supervise.c - `sluice __supervise DIR`: the process that watches one
 * local stage attempt (exec_local.h, docs/executors.md).
 *
 * It starts with the attempt's lock held on fd 3 (taken by the controller
 * before it spawned us), stdin on /dev/null and stdout/stderr on DIR/log,
 * in a session of its own.  It forks once more and the first process exits,
 * so the supervisor is nobody's child to wait for: the controller reaps the
 * short-lived first process and is done.
 *
 * The supervisor is single-threaded and was just exec'd, so unlike the
 * controller (libmicrohttpd and libpq threads) it may do anything between
 * fork and exec of the stage command.  It is a child subreaper: whatever
 * the command leaves behind (background jobs, setsid'd daemons) becomes
 * its child when its parent dies, and is killed when the command ends, so
 * no process of an attempt survives it.
 *
 * Exactly once: the command starts only if DIR/started did not exist, and
 * DIR/started is created just before, all under the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"
#include "base/units.h"
#include "exec/exec_local.h"
#include "exec/exec_local_int.h"

#define TICK_MS		100	/* how often cancel and deadline are checked */
#define DRAIN_MS	2000	/* reading output after the group was killed */

/* What spec.json says to run. */
struct spec {
	char	**argv;		/* owned, NULL-terminated */
	char	**env;		/* owned, NULL-terminated "NAME=value" */
	char	*workdir;	/* owned */
	int64_t	 timeout_ms;
	int64_t	 grace_ms;
	int64_t	 log_max;
};

enum stop_reason { STOP_NONE = 0, STOP_CANCEL, STOP_TIMEOUT, STOP_SIGNAL };

struct sup {
	const char	*dir;
	struct spec	 spec;
	pid_t		 leader;	/* the command; its pid is the pgid */
	int		 leader_done;
	int		 leader_status;	/* from waitpid */
	int64_t		 log_size;
	int		 log_truncated;
	char		 last;		/* last byte written to the log */
	enum stop_reason reason;
	int		 stop_signal;	/* with STOP_SIGNAL */
	int64_t		 kill_at;	/* mono ms for SIGKILL, 0 = none */
	int		 killed;	/* SIGKILL sent */
	char		 exec_error[512];	/* the command could not start */
};

static void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void
spec_release(struct spec *s)
{
	strv_free(s->argv);
	strv_free(s->env);
	free(s->workdir);
	memset(s, 0, sizeof(*s));
}

/* A JSON array of strings as a NULL-terminated vector. */
static int
strv_from_json(json_t *arr, char ***out, int need_one)
{
	size_t n, i;
	char **v;

	*out = NULL;
	if (!json_is_array(arr))
		return ERR_INVALID;
	n = json_array_size(arr);
	if ((need_one && n == 0) || n > LIM_EXEC_ARGS)
		return ERR_INVALID;
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));

		if (s == NULL) {
			strv_free(v);
			return ERR_INVALID;
		}
		v[i] = xstrdup(s);
	}
	*out = v;
	return 0;
}

static int
spec_load(struct spec *s, const char *dir, char *why, size_t whylen)
{
	char path[LIM_PATH];
	json_error_t jerr;
	json_t *root = NULL, *wd;
	struct stat st;
	int rc = ERR_INVALID;

	memset(s, 0, sizeof(*s));
	if (exl_path(path, sizeof(path), dir, EXL_SPEC) < 0 ||
	    stat(path, &st) < 0) {
		(void)snprintf(why, whylen, "cannot read the attempt's spec: %s",
		    strerror(errno));
		return ERR_GENERIC;
	}
	if (st.st_size > LIM_EXEC_SPEC) {
		(void)snprintf(why, whylen, "the attempt's spec is too big");
		return ERR_TOOBIG;
	}
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		(void)snprintf(why, whylen, "bad attempt spec: %s", jerr.text);
		return ERR_INVALID;
	}
	if (strv_from_json(json_object_get(root, "argv"), &s->argv, 1) < 0 ||
	    strv_from_json(json_object_get(root, "env"), &s->env, 0) < 0) {
		(void)snprintf(why, whylen, "bad attempt spec: argv or env");
		goto out;
	}
	wd = json_object_get(root, "workdir");
	if (json_is_string(wd))
		s->workdir = xstrdup(json_string_value(wd));
	s->timeout_ms = json_integer_value(json_object_get(root, "timeout_ms"));
	s->grace_ms = json_integer_value(json_object_get(root, "grace_ms"));
	s->log_max = json_integer_value(json_object_get(root, "log_max"));
	if (s->grace_ms <= 0)
		s->grace_ms = EXEC_LOCAL_GRACE_MS;
	if (s->log_max <= 0 || s->log_max > LIM_STAGE_LOG)
		s->log_max = LIM_STAGE_LOG;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		spec_release(s);
	return rc;
}

/* Write to the log (fd 1), retrying short writes; errors are dropped. */
static void
log_raw(struct sup *s, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s->log_size += n;
		s->last = p[n - 1];
		p += n;
		len -= (size_t)n;
	}
}

/* Append the command's output, up to the cap. */
static void
log_output(struct sup *s, const char *p, size_t len)
{
	static const char note[] =
	    "\n[sluice] log truncated: further output is discarded\n";
	size_t room;

	if (s->log_truncated)
		return;
	room = s->log_size < s->spec.log_max ?
	    (size_t)(s->spec.log_max - s->log_size) : 0;
	if (len <= room) {
		log_raw(s, p, len);
		return;
	}
	log_raw(s, p, room);
	log_raw(s, note, sizeof(note) - 1);
	s->log_truncated = 1;
}

/* A line of our own in the log: "[sluice] ...", on a line of its own. */
static void __attribute__((format(printf, 2, 3)))
note(struct sup *s, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s[sluice] ",
	    s->log_size > 0 && s->last != '\n' ? "\n" : "");
	if (n < 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	log_raw(s, line, (size_t)n);
}

/* Collect exited children; note the leader's status. */
static void
reap(struct sup *s)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == s->leader) {
			s->leader_done = 1;
			s->leader_status = st;
		}
	}
}

/* SIGKILL every child of ours (orphans we adopted as subreaper). */
static void
kill_children(void)
{
	struct dirent *de;
	pid_t me = getpid(), ppid;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int64_t pid = exl_i64(de->d_name, -1);

		if (pid <= 1 || pid == me)
			continue;
		if (exl_proc_stat((pid_t)pid, NULL, &ppid, NULL, NULL) == 0 &&
		    ppid == me)
			(void)kill((pid_t)pid, SIGKILL);
	}
	closedir(d);
}

/*
 * Kill everything the command left: its process group, then any child
 * we adopted, until we have no child left.  Descendants reparent to us
 * as their parents die, so this converges; bounded all the same.
 */
static void
kill_all(struct sup *s)
{
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (s->leader > 0)
			(void)kill(-s->leader, SIGKILL);
		kill_children();
		reap(s);
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return;
		nanosleep(&ts, NULL);
	}
}

/* The fork child: become the stage command (never returns). */
static void __attribute__((noreturn))
run_command(struct sup *s, int out_w, int go_r, int err_w)
{
	sigset_t none;
	int report[2] = { 0, 0 };
	char c;

	(void)setpgid(0, 0);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(out_w, STDERR_FILENO) < 0)
		_exit(127);
	/* wait until the supervisor has recorded our group; EOF: it died */
	for (;;) {
		ssize_t n = read(go_r, &c, 1);

		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		_exit(127);
	}
	if (s->spec.workdir != NULL && chdir(s->spec.workdir) < 0) {
		report[0] = 1;
		report[1] = errno;
	} else {
		environ = s->spec.env;
		execvp(s->spec.argv[0], s->spec.argv);
		report[0] = 2;
		report[1] = errno;
	}
	if (write(err_w, report, sizeof(report)) < 0) {
		/* nothing more to do: the exit status says it */
	}
	_exit(127);
}

/*
 * Start the command in its own process group.  Returns 0 with s->leader
 * set, or -1 (s->exec_error says why) when nothing could be started.
 */
static int
start_command(struct sup *s)
{
	int out[2] = { -1, -1 }, go[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int report[2], rc = -1;
	ssize_t n;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		(void)snprintf(s->exec_error, sizeof(s->exec_error),
		    "cannot start the command: pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		(void)snprintf(s->exec_error, sizeof(s->exec_error),
		    "cannot start the command: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		run_command(s, out[1], go[0], ep[1]);
	s->leader = pid;
	(void)setpgid(pid, pid);	/* either of us may win the race */
	if (exl_pgid_write(s->dir, pid) < 0)
		note(s, "cannot record the process group: %s",
		    strerror(errno));
	/* let it run; SIGPIPE is ignored, a dead child just fails this */
	if (write(go[1], "g", 1) < 0) {
		/* it died already: reaped below */
	}
	close(go[1]);
	go[1] = -1;
	close(ep[1]);
	ep[1] = -1;
	do {
		n = read(ep[0], report, sizeof(report));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(report)) {
		if (report[0] == 1)
			(void)snprintf(s->exec_error, sizeof(s->exec_error),
			    "cannot enter the working directory '%s': %s",
			    s->spec.workdir, strerror(report[1]));
		else
			(void)snprintf(s->exec_error, sizeof(s->exec_error),
			    "cannot run '%s': %s", s->spec.argv[0],
			    strerror(report[1]));
		note(s, "%s", s->exec_error);
	}
	rc = out[0];
	out[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (go[i] >= 0)
			close(go[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return rc;
}

static void
begin_stop(struct sup *s, enum stop_reason reason, int sig)
{
	char d[32];

	if (s->reason != STOP_NONE || s->leader_done)
		return;
	s->reason = reason;
	s->stop_signal = sig;
	switch (reason) {
	case STOP_TIMEOUT:
		units_format_duration(s->spec.timeout_ms, d, sizeof(d));
		note(s, "timeout after %s: stopping the command (SIGTERM)", d);
		break;
	case STOP_CANCEL:
		note(s, "canceled: stopping the command (SIGTERM)");
		break;
	case STOP_SIGNAL:
		note(s, "the supervisor received signal %d: stopping the "
		    "command (SIGTERM)", sig);
		break;
	case STOP_NONE:
		break;
	}
	(void)kill(-s->leader, SIGTERM);
	s->kill_at = sys_now_ms() + s->spec.grace_ms;
}

/* Run the command until it and everything it started are gone. */
static void
watch(struct sup *s, int out_r, int sigfd)
{
	int64_t deadline = 0, drain_until = 0;
	char chunk[65536];

	if (s->spec.timeout_ms > 0)
		deadline = sys_now_ms() + s->spec.timeout_ms;
	for (;;) {
		struct pollfd pfd[2];
		int64_t now;
		int nfds = 1;

		reap(s);
		if (s->leader_done && drain_until == 0) {
			/* the command ended: nothing of it may outlive it */
			kill_all(s);
			drain_until = sys_now_ms() + DRAIN_MS;
		}
		now = sys_now_ms();
		if (s->leader_done && (out_r < 0 || now >= drain_until))
			break;
		if (!s->leader_done && s->reason == STOP_NONE) {
			if (exl_exists(s->dir, EXL_CANCEL))
				begin_stop(s, STOP_CANCEL, 0);
			else if (deadline > 0 && now >= deadline)
				begin_stop(s, STOP_TIMEOUT, 0);
		}
		if (!s->leader_done && s->kill_at > 0 && !s->killed &&
		    now >= s->kill_at) {
			char d[32];

			units_format_duration(s->spec.grace_ms, d, sizeof(d));
			note(s, "still running %s after SIGTERM: SIGKILL", d);
			(void)kill(-s->leader, SIGKILL);
			s->killed = 1;
		}

		memset(pfd, 0, sizeof(pfd));
		pfd[0].fd = sigfd;
		pfd[0].events = POLLIN;
		if (out_r >= 0) {
			pfd[1].fd = out_r;
			pfd[1].events = POLLIN;
			nfds = 2;
		}
		if (poll(pfd, (nfds_t)nfds, TICK_MS) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo != SIGCHLD)
					begin_stop(s, STOP_SIGNAL,
					    (int)si.ssi_signo);
			}
		}
		if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(out_r, chunk, sizeof(chunk));

			if (n > 0) {
				log_output(s, chunk, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				close(out_r);
				out_r = -1;
			}
		}
	}
	if (out_r >= 0)
		close(out_r);
	kill_all(s);
}

/* The outcome, from how the command ended and why. */
static int
finish(struct sup *s, int64_t started_at)
{
	enum exec_state state = EXEC_FAILED;
	int st = s->leader_status, code = -1;
	char msg[512], d[32];

	msg[0] = '\0';
	if (WIFEXITED(st))
		code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		code = 128 + WTERMSIG(st);
	if (s->exec_error[0] != '\0') {
		(void)str_copy(msg, sizeof(msg), s->exec_error);
		code = 127;
	} else if (s->reason == STOP_CANCEL) {
		state = EXEC_CANCELED;
		(void)str_copy(msg, sizeof(msg), "canceled");
	} else if (s->reason == STOP_SIGNAL) {
		state = EXEC_CANCELED;
		(void)snprintf(msg, sizeof(msg),
		    "stopped: the supervisor received signal %d",
		    s->stop_signal);
	} else if (s->reason == STOP_TIMEOUT) {
		units_format_duration(s->spec.timeout_ms, d, sizeof(d));
		(void)snprintf(msg, sizeof(msg), "timeout after %s", d);
	} else if (!s->leader_done) {
		(void)str_copy(msg, sizeof(msg), "lost track of the command");
	} else if (WIFEXITED(st) && code == 0) {
		state = EXEC_SUCCEEDED;
	} else if (WIFEXITED(st)) {
		(void)snprintf(msg, sizeof(msg), "exit status %d", code);
	} else if (WIFSIGNALED(st)) {
		(void)snprintf(msg, sizeof(msg), "killed by signal %d (%s)",
		    WTERMSIG(st), strsignal(WTERMSIG(st)));
	}
	return exl_status_write(s->dir, state, code, started_at, sys_wall_ms(),
	    msg);
}

/* Everything after the double fork; returns the exit status. */
static int
supervise(const char *dir)
{
	struct sup s;
	sigset_t mask;
	char text[64];
	int64_t started_at = sys_wall_ms();
	int sigfd = -1, out_r = -1, n, rc = 1;

	memset(&s, 0, sizeof(s));
	s.dir = dir;
	s.last = '\n';
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	(void)signal(SIGPIPE, SIG_IGN);
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (exl_write(dir, EXL_SUPERVISOR, text, (size_t)n) < 0)
		note(&s, "cannot write %s: %s", EXL_SUPERVISOR, strerror(errno));

	/* decided under the lock: the command runs at most once */
	if (exl_exists(dir, EXL_STATUS))
		return 0;
	if (exl_exists(dir, EXL_STARTED)) {
		(void)exl_kill_recorded_group(dir);
		note(&s, "a previous supervisor of this attempt died");
		return exl_status_write(dir, EXEC_FAILED, -1, 0, sys_wall_ms(),
		    "supervisor died") < 0;
	}
	if (exl_exists(dir, EXL_CANCEL)) {
		return exl_status_write(dir, EXEC_CANCELED, -1, 0,
		    sys_wall_ms(), "canceled before it started") < 0;
	}
	{
		struct stat st;

		if (fstat(STDOUT_FILENO, &st) == 0)
			s.log_size = st.st_size;
	}
	if (spec_load(&s.spec, dir, s.exec_error, sizeof(s.exec_error)) < 0) {
		note(&s, "%s", s.exec_error);
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), s.exec_error) < 0;
		goto out;
	}
	n = snprintf(text, sizeof(text), "%lld\n", (long long)started_at);
	if (exl_write(dir, EXL_STARTED, text, (size_t)n) < 0) {
		note(&s, "cannot write %s: %s", EXL_STARTED, strerror(errno));
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), "cannot record the start") < 0;
		goto out;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		(void)snprintf(s.exec_error, sizeof(s.exec_error),
		    "cannot start the command: signalfd: %s", strerror(errno));
		note(&s, "%s", s.exec_error);
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), s.exec_error) < 0;
		goto out;
	}
	out_r = start_command(&s);
	if (s.leader <= 0) {
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), s.exec_error) < 0;
		goto out;
	}
	watch(&s, out_r, sigfd);
	out_r = -1;
	rc = finish(&s, started_at) < 0;
out:
	if (sigfd >= 0)
		close(sigfd);
	if (out_r >= 0)
		close(out_r);
	spec_release(&s.spec);
	return rc;
}

int
exec_local_supervise(int argc, char **argv)
{
	pid_t pid;

	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: sluice %s /ATTEMPT/DIR (internal)\n",
		    EXEC_LOCAL_SUPERVISE_CMD);
		return 2;
	}
	/* the lock must be ours, and must not leak into the command */
	if (fcntl(EXL_LOCK_FD, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "sluice: %s: no lock on fd %d\n",
		    EXEC_LOCAL_SUPERVISE_CMD, EXL_LOCK_FD);
		return 2;
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, "sluice: %s: fork: %s\n",
		    EXEC_LOCAL_SUPERVISE_CMD, strerror(errno));
		return 1;
	}
	if (pid > 0)
		_exit(0);	/* the controller reaps this one at once */
	return supervise(argv[1]);
}
