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
 *
 * A multi-node attempt (spec "nodes" N > 1) runs N copies of the command
 * ("ranks"), all in the one process group of rank 0, each with the spec's
 * environment plus SLUICE_NODE_RANK and a SLUICE_MASTER_PORT free on
 * 127.0.0.1 when they start.  Rank 0 writes DIR/log, rank i DIR/log.<i>.
 * The first rank to fail stops the others (SIGTERM, SIGKILL after the
 * grace) and fails the attempt; it succeeds when every rank exits 0.
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
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
	int	 nodes;		/* ranks to run, >= 1 */
};

enum stop_reason { STOP_NONE = 0, STOP_CANCEL, STOP_TIMEOUT, STOP_SIGNAL,
	STOP_RANK };

/* One running copy of the command and where its output goes. */
struct rank {
	pid_t		 pid;		/* 0 until started */
	int		 done;
	int		 status;	/* from waitpid */
	int		 out_r;		/* its stdout/stderr pipe, -1 closed */
	int		 log_fd;	/* rank 0: STDOUT_FILENO (DIR/log) */
	int64_t		 log_size;
	int		 log_truncated;
	char		 last;		/* last byte written to its log */
};

struct sup {
	const char	*dir;
	struct spec	 spec;
	pid_t		 leader;	/* rank 0; its pid is the pgid */
	struct rank	*ranks;		/* spec.nodes of them */
	int		 failed;	/* the first rank that failed, -1 */
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
	s->nodes = (int)json_integer_value(json_object_get(root, "nodes"));
	if (s->nodes < 1 || s->nodes > LIM_STAGE_NODES)
		s->nodes = 1;
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

/* Write to a rank's log, retrying short writes; errors are dropped. */
static void
log_raw(struct rank *r, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(r->log_fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		r->log_size += n;
		r->last = p[n - 1];
		p += n;
		len -= (size_t)n;
	}
}

/* Append a rank's output to its log, up to the cap (per log). */
static void
log_output(struct sup *s, struct rank *r, const char *p, size_t len)
{
	static const char note[] =
	    "\n[sluice] log truncated: further output is discarded\n";
	size_t room;

	if (r->log_truncated)
		return;
	room = r->log_size < s->spec.log_max ?
	    (size_t)(s->spec.log_max - r->log_size) : 0;
	if (len <= room) {
		log_raw(r, p, len);
		return;
	}
	log_raw(r, p, room);
	log_raw(r, note, sizeof(note) - 1);
	r->log_truncated = 1;
}

/*
 * A line of our own in the attempt's log (rank 0's): "[sluice] ...", on a
 * line of its own.
 */
static void __attribute__((format(printf, 2, 3)))
note(struct sup *s, const char *fmt, ...)
{
	struct rank *r = &s->ranks[0];
	char line[768];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s[sluice] ",
	    r->log_size > 0 && r->last != '\n' ? "\n" : "");
	if (n < 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	log_raw(r, line, (size_t)n);
}

static int
rank_failed(const struct rank *r)
{
	return r->done && !(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
}

/* Every rank that was started has ended. */
static int
all_done(const struct sup *s)
{
	for (int i = 0; i < s->spec.nodes; i++) {
		if (s->ranks[i].pid > 0 && !s->ranks[i].done)
			return 0;
	}
	return 1;
}

/* Collect exited children; note the status of the ranks. */
static void
reap(struct sup *s)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < s->spec.nodes; i++) {
			struct rank *r = &s->ranks[i];

			if (pid != r->pid)
				continue;
			r->done = 1;
			r->status = st;
			if (rank_failed(r) && s->failed < 0)
				s->failed = i;
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

/* The fork child: become rank `rank` of the command (never returns). */
static void __attribute__((noreturn))
run_command(struct sup *s, int rank, char **env, int out_w, int go_r,
    int err_w)
{
	sigset_t none;
	int report[3] = { 0, 0, rank };
	char c;

	(void)setpgid(0, rank == 0 ? 0 : s->leader);
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
		environ = env;
		execvp(s->spec.argv[0], s->spec.argv);
		report[0] = 2;
		report[1] = errno;
	}
	if (write(err_w, report, sizeof(report)) < 0) {
		/* nothing more to do: the exit status says it */
	}
	_exit(127);
}

/* A TCP port free on 127.0.0.1 now (rank 0 binds it soon after), or 0. */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd, port = 0;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * The environment of one rank: the spec's, plus SLUICE_NODE_RANK and
 * SLUICE_MASTER_PORT for a multi-node attempt.  Owned (strv_free).
 */
static char **
rank_env(const struct sup *s, int rank, int port)
{
	size_t n = 0, k;
	char **v;

	while (s->spec.env[n] != NULL)
		n++;
	v = xcalloc(n + 3, sizeof(*v));
	for (k = 0; k < n; k++)
		v[k] = xstrdup(s->spec.env[k]);
	if (s->spec.nodes > 1) {
		char text[64];

		(void)snprintf(text, sizeof(text), "SLUICE_NODE_RANK=%d", rank);
		v[k++] = xstrdup(text);
		(void)snprintf(text, sizeof(text), "SLUICE_MASTER_PORT=%d",
		    port);
		v[k++] = xstrdup(text);
	}
	return v;
}

/* Where rank i > 0 writes: DIR/log.<i>, appended to. */
static int
open_rank_log(const char *dir, int i)
{
	char name[32], path[LIM_PATH];

	(void)snprintf(name, sizeof(name), "%s.%d", EXL_LOG, i);
	if (exl_path(path, sizeof(path), dir, name) < 0)
		return -1;
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/*
 * Fork rank i (its output pipe into r->out_r), in the process group of
 * rank 0.  0, or -1 with s->exec_error set.
 */
static int
fork_rank(struct sup *s, int i, int port, int go_r, int err_w)
{
	struct rank *r = &s->ranks[i];
	int out[2];
	char **env;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0) {
		(void)snprintf(s->exec_error, sizeof(s->exec_error),
		    "cannot start the command: pipe: %s", strerror(errno));
		return -1;
	}
	env = rank_env(s, i, port);
	if ((pid = fork()) < 0) {
		(void)snprintf(s->exec_error, sizeof(s->exec_error),
		    "cannot start the command: fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		strv_free(env);
		return -1;
	}
	if (pid == 0)
		run_command(s, i, env, out[1], go_r, err_w);
	strv_free(env);
	close(out[1]);
	r->pid = pid;
	r->out_r = out[0];
	if (i == 0)
		s->leader = pid;
	/* either of us may win the race */
	(void)setpgid(pid, s->leader);
	return 0;
}

/*
 * Start every rank of the command in one process group, then let them
 * run.  Returns 0 with s->leader set, or -1 (s->exec_error says why) when
 * nothing could be started (ranks already forked are killed).
 */
static int
start_command(struct sup *s)
{
	int go[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int report[3], rc = -1, port = 0;
	ssize_t n;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		(void)snprintf(s->exec_error, sizeof(s->exec_error),
		    "cannot start the command: pipe: %s", strerror(errno));
		goto out;
	}
	if (s->spec.nodes > 1) {
		if ((port = free_port()) == 0) {
			(void)snprintf(s->exec_error, sizeof(s->exec_error),
			    "cannot find a free port on 127.0.0.1 for rank 0");
			goto out;
		}
		note(s, "%d ranks on 127.0.0.1, rank 0 at port %d; rank i "
		    "logs to %s.<i>", s->spec.nodes, port, EXL_LOG);
	}
	for (int i = 0; i < s->spec.nodes; i++) {
		if (i > 0 && (s->ranks[i].log_fd = open_rank_log(s->dir,
		    i)) < 0) {
			(void)snprintf(s->exec_error, sizeof(s->exec_error),
			    "cannot open the log of rank %d: %s", i,
			    strerror(errno));
			break;
		}
		if (fork_rank(s, i, port, go[0], ep[1]) < 0)
			break;
	}
	if (s->exec_error[0] != '\0') {
		note(s, "%s", s->exec_error);
		if (s->leader > 0)
			(void)kill(-s->leader, SIGKILL);
		goto out;
	}
	if (exl_pgid_write(s->dir, s->leader) < 0)
		note(s, "cannot record the process group: %s",
		    strerror(errno));
	/* let them run; SIGPIPE is ignored, a dead child just fails this */
	for (int i = 0; i < s->spec.nodes; i++) {
		if (write(go[1], "g", 1) < 0) {
			/* it died already: reaped below */
		}
	}
	close(go[1]);
	go[1] = -1;
	close(ep[1]);
	ep[1] = -1;
	/* a report per rank that could not exec; EOF once all did */
	for (;;) {
		n = read(ep[0], report, sizeof(report));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(report))
			break;
		if (s->exec_error[0] != '\0')
			continue;
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
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
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

	if (s->reason != STOP_NONE || all_done(s))
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
	case STOP_RANK:
		note(s, "rank %d of %d failed: stopping the other ranks "
		    "(SIGTERM)", s->failed, s->spec.nodes);
		break;
	case STOP_NONE:
		break;
	}
	(void)kill(-s->leader, SIGTERM);
	s->kill_at = sys_now_ms() + s->spec.grace_ms;
}

/* Whether any rank's output pipe is still open. */
static int
any_output(const struct sup *s)
{
	for (int i = 0; i < s->spec.nodes; i++) {
		if (s->ranks[i].out_r >= 0)
			return 1;
	}
	return 0;
}

/* Read what rank r wrote, into its log; close its pipe at the end. */
static void
drain_rank(struct sup *s, struct rank *r)
{
	char chunk[65536];
	ssize_t n = read(r->out_r, chunk, sizeof(chunk));

	if (n > 0) {
		log_output(s, r, chunk, (size_t)n);
	} else if (n == 0 || errno != EINTR) {
		close(r->out_r);
		r->out_r = -1;
	}
}

/* Run the command until it and everything it started are gone. */
static void
watch(struct sup *s, int sigfd)
{
	int64_t deadline = 0, drain_until = 0;
	struct pollfd *pfd;
	int *who;

	pfd = xcalloc((size_t)s->spec.nodes + 1, sizeof(*pfd));
	who = xcalloc((size_t)s->spec.nodes + 1, sizeof(*who));
	if (s->spec.timeout_ms > 0)
		deadline = sys_now_ms() + s->spec.timeout_ms;
	for (;;) {
		int64_t now;
		int nfds = 1, done;

		reap(s);
		done = all_done(s);
		if (done && drain_until == 0) {
			/* the command ended: nothing of it may outlive it */
			kill_all(s);
			drain_until = sys_now_ms() + DRAIN_MS;
		}
		now = sys_now_ms();
		if (done && (!any_output(s) || now >= drain_until))
			break;
		if (!done && s->reason == STOP_NONE) {
			if (exl_exists(s->dir, EXL_CANCEL))
				begin_stop(s, STOP_CANCEL, 0);
			else if (deadline > 0 && now >= deadline)
				begin_stop(s, STOP_TIMEOUT, 0);
			else if (s->failed >= 0)
				begin_stop(s, STOP_RANK, 0);
		}
		if (!done && s->kill_at > 0 && !s->killed &&
		    now >= s->kill_at) {
			char d[32];

			units_format_duration(s->spec.grace_ms, d, sizeof(d));
			note(s, "still running %s after SIGTERM: SIGKILL", d);
			(void)kill(-s->leader, SIGKILL);
			s->killed = 1;
		}

		memset(pfd, 0, ((size_t)s->spec.nodes + 1) * sizeof(*pfd));
		pfd[0].fd = sigfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < s->spec.nodes; i++) {
			if (s->ranks[i].out_r < 0)
				continue;
			pfd[nfds].fd = s->ranks[i].out_r;
			pfd[nfds].events = POLLIN;
			who[nfds++] = i;
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
		for (int k = 1; k < nfds; k++) {
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				drain_rank(s, &s->ranks[who[k]]);
		}
	}
	kill_all(s);
	free(pfd);
	free(who);
}

/* The outcome, from how the command ended and why. */
static int
finish(struct sup *s, int64_t started_at)
{
	enum exec_state state = EXEC_FAILED;
	const struct rank *r = &s->ranks[s->failed > 0 ? s->failed : 0];
	int st = r->status, code = -1;
	char msg[512], d[32], who[64];

	msg[0] = '\0';
	who[0] = '\0';
	if (s->spec.nodes > 1)
		(void)snprintf(who, sizeof(who), "rank %d of %d failed: ",
		    s->failed, s->spec.nodes);
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
	} else if (!all_done(s)) {
		(void)str_copy(msg, sizeof(msg), "lost track of the command");
	} else if (s->failed < 0) {
		state = EXEC_SUCCEEDED;
		code = 0;
	} else if (WIFEXITED(st)) {
		(void)snprintf(msg, sizeof(msg), "%sexit status %d", who, code);
	} else if (WIFSIGNALED(st)) {
		(void)snprintf(msg, sizeof(msg), "%skilled by signal %d (%s)",
		    who, WTERMSIG(st), strsignal(WTERMSIG(st)));
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
	int sigfd = -1, n, rc = 1;

	memset(&s, 0, sizeof(s));
	s.dir = dir;
	s.failed = -1;
	/* rank 0 until the spec says how many: notes go to DIR/log */
	s.ranks = xcalloc(1, sizeof(*s.ranks));
	s.ranks[0].log_fd = STDOUT_FILENO;
	s.ranks[0].out_r = -1;
	s.ranks[0].last = '\n';
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
			s.ranks[0].log_size = st.st_size;
	}
	if (spec_load(&s.spec, dir, s.exec_error, sizeof(s.exec_error)) < 0) {
		note(&s, "%s", s.exec_error);
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), s.exec_error) < 0;
		goto out;
	}
	if (s.spec.nodes > 1) {
		struct rank r0 = s.ranks[0];

		free(s.ranks);
		s.ranks = xcalloc((size_t)s.spec.nodes, sizeof(*s.ranks));
		s.ranks[0] = r0;
		for (int i = 1; i < s.spec.nodes; i++) {
			s.ranks[i].log_fd = -1;
			s.ranks[i].out_r = -1;
			s.ranks[i].last = '\n';
		}
	}
	n = snprintf(text, sizeof(text), "%lld\n", (long long)started_at);
	if (exl_write(dir, EXL_STARTED, text, (size_t)n) < 0) {
		note(&s, "cannot write %s: %s", EXL_STARTED, strerror(errno));
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), "cannot record the start") < 0;
		goto out;
	}
	exl_wake_notify(dir);

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
	if (start_command(&s) < 0 || s.leader <= 0) {
		kill_all(&s);
		rc = exl_status_write(dir, EXEC_FAILED, -1, started_at,
		    sys_wall_ms(), s.exec_error) < 0;
		goto out;
	}
	watch(&s, sigfd);
	rc = finish(&s, started_at) < 0;
out:
	if (sigfd >= 0)
		close(sigfd);
	for (int i = 0; s.ranks != NULL && i < s.spec.nodes; i++) {
		if (s.ranks[i].out_r >= 0)
			close(s.ranks[i].out_r);
		if (i > 0 && s.ranks[i].log_fd >= 0)
			close(s.ranks[i].log_fd);
	}
	free(s.ranks);
	spec_release(&s.spec);
	return rc;
}

int
exec_local_supervise(int argc, char **argv)
{
	pid_t pid;
	int rc;

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
	rc = supervise(argv[1]);
	exl_wake_notify(argv[1]);	/* DIR/status is written: look now */
	return rc;
}
