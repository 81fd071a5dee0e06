/*
 * exec_local_files.c - the files of a local attempt directory, shared by
 * the controller side (exec_local.c) and the supervisor
 * (exec_supervise.c); see exec_local_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "exec/exec_local_int.h"

int
exl_path(char *out, size_t outlen, const char *dir, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outlen)
		return ERR_TOOBIG;
	return 0;
}

int
exl_exists(const char *dir, const char *name)
{
	char path[LIM_PATH];

	if (exl_path(path, sizeof(path), dir, name) < 0)
		return 0;
	return access(path, F_OK) == 0;
}

int
exl_read(const char *dir, const char *name, char *out, size_t outlen)
{
	char path[LIM_PATH];
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	BUG_ON(outlen == 0);
	out[0] = '\0';
	if (exl_path(path, sizeof(path), dir, name) < 0)
		return ERR_TOOBIG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_GENERIC;
	for (;;) {
		if (len == outlen - 1) {
			char c;

			/* full: one more byte means it did not fit */
			if ((n = read(fd, &c, 1)) > 0)
				rc = ERR_TOOBIG;
			else if (n < 0)
				rc = ERR_GENERIC;
			break;
		}
		n = read(fd, out + len, outlen - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ERR_GENERIC;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fd);
	return rc;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
exl_write(const char *dir, const char *name, const char *data, size_t len)
{
	char path[LIM_PATH], tmp[LIM_PATH];
	int fd, n, saved;

	if (exl_path(path, sizeof(path), dir, name) < 0)
		return ERR_TOOBIG;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ERR_TOOBIG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ERR_GENERIC;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return ERR_GENERIC;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return ERR_GENERIC;
	}
	return 0;
}

int
exl_kv(const char *text, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = text;

	out[0] = '\0';
	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t linelen = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (linelen > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			size_t vlen = linelen - klen - 1;

			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return ERR_NOTFOUND;
}

int64_t
exl_i64(const char *s, int64_t dflt)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno != 0 || *end != '\0')
		return dflt;
	return v;
}

int
exl_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp,
    unsigned long long *starttime)
{
	char dir[64], text[2048], *p, *end;
	unsigned long long f[20];
	int i;

	if (snprintf(dir, sizeof(dir), "/proc/%ld", (long)pid) >=
	    (int)sizeof(dir))
		return ERR_TOOBIG;
	if (exl_read(dir, "stat", text, sizeof(text)) < 0)
		return ERR_NOTFOUND;
	/*
	 * "pid (comm) S ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime ...": comm may hold spaces and parentheses,
	 * so start after the last ')'.
	 */
	if ((p = strrchr(text, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return ERR_INVALID;
	if (state != NULL)
		*state = p[2];
	p += 3;
	/* fields 4 (ppid) to 22 (starttime) */
	for (i = 0; i < 19; i++) {
		errno = 0;
		f[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return ERR_INVALID;
		p = end;
	}
	if (ppid != NULL)
		*ppid = (pid_t)f[0];
	if (pgrp != NULL)
		*pgrp = (pid_t)f[1];
	if (starttime != NULL)
		*starttime = f[18];
	return 0;
}

int
exl_boot_id(char *out, size_t outlen)
{
	size_t n;
	int rc;

	rc = exl_read("/proc/sys/kernel/random", "boot_id", out, outlen);
	if (rc < 0)
		return rc;
	n = strcspn(out, "\n");
	out[n] = '\0';
	return 0;
}

int
exl_pgid_write(const char *dir, pid_t pid)
{
	char boot[64], text[256];
	unsigned long long start;
	int n;

	if (exl_proc_stat(pid, NULL, NULL, NULL, &start) < 0)
		start = 0;
	if (exl_boot_id(boot, sizeof(boot)) < 0)
		boot[0] = '\0';
	n = snprintf(text, sizeof(text), "pgid=%ld\nstarttime=%llu\nboot=%s\n",
	    (long)pid, start, boot);
	if (n < 0 || (size_t)n >= sizeof(text))
		return ERR_TOOBIG;
	return exl_write(dir, EXL_PGID, text, (size_t)n);
}

int
exl_kill_recorded_group(const char *dir)
{
	char text[256], v[64], boot[64], procdir[64];
	unsigned long long want, now;
	int64_t pgid;

	if (exl_read(dir, EXL_PGID, text, sizeof(text)) < 0)
		return 0;	/* the command never started */
	if (exl_kv(text, "pgid", v, sizeof(v)) < 0 ||
	    (pgid = exl_i64(v, -1)) <= 1)
		return 0;
	if (exl_kv(text, "boot", v, sizeof(v)) < 0 ||
	    exl_boot_id(boot, sizeof(boot)) < 0 || strcmp(v, boot) != 0)
		return 0;	/* recorded before a reboot */
	if (exl_kv(text, "starttime", v, sizeof(v)) < 0)
		return 0;
	want = (unsigned long long)exl_i64(v, 0);
	(void)snprintf(procdir, sizeof(procdir), "/proc/%lld", (long long)pgid);
	if (access(procdir, F_OK) == 0) {
		/* a process with that pid: ours only if it started then */
		if (exl_proc_stat((pid_t)pgid, NULL, NULL, NULL, &now) < 0 || now != want)
			return 0;
	}
	return kill(-(pid_t)pgid, SIGKILL) == 0;
}

static const char *
state_word(enum exec_state s)
{
	switch (s) {
	case EXEC_SUCCEEDED:	return "succeeded";
	case EXEC_FAILED:	return "failed";
	case EXEC_CANCELED:	return "canceled";
	case EXEC_RUNNING:	return "running";
	case EXEC_PENDING:	return "pending";
	case EXEC_UNKNOWN:	break;
	}
	return "unknown";
}

int
exl_status_write(const char *dir, enum exec_state state, int exit_code,
    int64_t started_at, int64_t finished_at, const char *message)
{
	char msg[512], text[1024];
	size_t i;
	int n;

	/* a message too long for the status is cut: still worth showing */
	(void)str_copy(msg, sizeof(msg), message != NULL ? message : "");
	for (i = 0; msg[i] != '\0'; i++) {
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	}
	n = snprintf(text, sizeof(text),
	    "state=%s\nexit_code=%d\nstarted_at=%lld\nfinished_at=%lld\n"
	    "message=%s\n", state_word(state), exit_code,
	    (long long)started_at, (long long)finished_at, msg);
	if (n < 0 || (size_t)n >= sizeof(text))
		return ERR_TOOBIG;
	return exl_write(dir, EXL_STATUS, text, (size_t)n);
}

int
exl_status_read(const char *dir, struct exec_status *out)
{
	char text[2048], v[64];
	int rc;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	if ((rc = exl_read(dir, EXL_STATUS, text, sizeof(text))) < 0)
		return rc == ERR_NOTFOUND ? ERR_NOTFOUND : ERR_INVALID;
	if (exl_kv(text, "state", v, sizeof(v)) < 0)
		return ERR_INVALID;
	if (strcmp(v, "succeeded") == 0)
		out->state = EXEC_SUCCEEDED;
	else if (strcmp(v, "failed") == 0)
		out->state = EXEC_FAILED;
	else if (strcmp(v, "canceled") == 0)
		out->state = EXEC_CANCELED;
	else
		return ERR_INVALID;
	if (exl_kv(text, "exit_code", v, sizeof(v)) == 0)
		out->exit_code = (int)exl_i64(v, -1);
	if (exl_kv(text, "started_at", v, sizeof(v)) == 0)
		out->started_at = exl_i64(v, 0);
	if (exl_kv(text, "finished_at", v, sizeof(v)) == 0)
		out->finished_at = exl_i64(v, 0);
	(void)exl_kv(text, "message", out->message, sizeof(out->message));
	return 0;
}
