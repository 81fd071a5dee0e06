/*
 * exec_local.c - the local executor, controller side: the executor ops
 * over attempt directories; the supervisor itself is exec_supervise.c.
 *
 * Why a supervisor process at all: the stage must outlive a controller
 * crash, and someone must still enforce its timeout, capture its output
 * and record its exit status while no controller runs.
 *
 * Why posix_spawn of /proc/self/exe rather than fork: the controller has
 * threads (libmicrohttpd, libpq, git workers), and after fork() in a
 * threaded program only async-signal-safe calls are allowed until exec.
 * posix_spawn does exactly the few things we need in the child (a new
 * session, default signals, stdio on the log, the lock on fd 3, every
 * other descriptor closed) and nothing else; the fresh supervisor process
 * then does the rest with a normal C library.
 *
 * Liveness is the flock on DIR/lock: the controller takes it, hands the
 * same open file description to the supervisor as fd 3, and the kernel
 * drops it when the supervisor dies, however it dies.  Whoever holds the
 * lock decides; a pid file alone could be stale or reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sys.h"
#include "exec/exec_local.h"
#include "exec/exec_local_int.h"

struct exec_local {
	char	*attempts;	/* absolute: state_dir/attempts */
	char	*artifacts;	/* state_dir/artifacts */
	char	*volumes;	/* state_dir/volumes */
	char	*program;	/* runs `PROGRAM __supervise DIR` */
	int64_t	 grace_ms;
	int64_t	 log_max;
	struct exl_waker waker;	/* the engine's wake (set_wake) */
};

/* What a stage inherits from the controller's environment; nothing else. */
static const char *const base_env[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
};

#define DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

/* An attempt name: a DNS-1123 label, so also a safe directory name. */
static int
valid_name(const char *name)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0 || n > LIM_NAME)
		return 0;
	if (name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
	}
	return 1;
}

/* A volume claim: a DNS-1123 subdomain (no '/', no leading dot). */
static int
valid_claim(const char *claim)
{
	size_t n;

	if (claim == NULL || (n = strlen(claim)) == 0 || n > 253 ||
	    claim[0] == '.' || strstr(claim, "..") != NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = claim[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int
attempt_dir(const struct exec_local *x, const char *name, char *out,
    size_t outlen, struct err *err)
{
	if (exl_path(out, outlen, x->attempts, name) < 0)
		return err_set(err, ERR_TOOBIG, "state directory path too long");
	return 0;
}

/*
 * Try to take dir's lock without waiting.  Returns 1 with *fd set (the
 * lock is ours: no supervisor is alive), 0 when a supervisor holds it,
 * ERR_NOTFOUND when there is no lock file and create is 0, ERR_TRANSIENT.
 */
static int
lock_try(const char *dir, int create, int *fd, struct err *err)
{
	char path[LIM_PATH];
	int f;

	*fd = -1;
	if (exl_path(path, sizeof(path), dir, EXL_LOCK) < 0)
		return err_set(err, ERR_TOOBIG, "path too long '%s'", dir);
	f = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (f < 0 && errno == ENOENT && !create)
		return ERR_NOTFOUND;
	if (f < 0)
		return err_set(err, ERR_TRANSIENT, "cannot open '%s': %s", path,
		    strerror(errno));
	while (flock(f, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		close(f);
		if (errno == EWOULDBLOCK)
			return 0;
		return err_set(err, ERR_TRANSIENT, "cannot lock '%s': %s", path,
		    strerror(errno));
	}
	*fd = f;
	return 1;
}

static void
unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Who this attempt is, to tell a reused name from a resubmission. */
static int
identity_text(const struct exec_attempt *a, struct buf *b)
{
	return buf_printf(b, "run_id=%lld\npipeline=%s\nstage=%s\nattempt=%d\n"
	    "step=%d\nkind=%s\ncommit=%s\n", (long long)a->run_id,
	    a->pipeline != NULL ? a->pipeline : "",
	    a->stage != NULL ? a->stage : "", a->attempt, a->step,
	    a->kind != NULL ? a->kind : "", a->commit != NULL ? a->commit : "");
}

/*
 * Adopt the existing attempt in dir when it is the same attempt (or
 * unknown: written by a controller that crashed before recording it).
 */
static int
adopt(const char *dir, const struct exec_attempt *a, const struct buf *want,
    struct err *err)
{
	char have[2048];

	if (exl_read(dir, EXL_IDENTITY, have, sizeof(have)) == 0 &&
	    strcmp(have, want->data) != 0)
		return err_set(err, ERR_INVALID,
		    "attempt '%s' already exists in the state directory for "
		    "another run (was the database reset?)", a->name);
	log_info("attempt adopted", "attempt=%s", a->name);
	return 0;
}

static int
env_has(const struct exec_attempt *a, const char *name)
{
	for (size_t i = 0; i < a->nenv; i++) {
		if (strcmp(a->env[i].name, name) == 0)
			return 1;
	}
	return 0;
}

static int
env_add(json_t *arr, const char *name, const char *value)
{
	struct buf b;
	int rc;

	buf_init(&b, LIM_EXEC_SPEC);
	if ((rc = buf_printf(&b, "%s=%s", name, value)) == 0 &&
	    json_array_append_new(arr, json_string(b.data)) < 0)
		rc = ERR_NOMEM;
	buf_release(&b);
	return rc;
}

/*
 * spec.json for the supervisor: argv, the full environment (a small base
 * from the controller's, SLUICE_ARTIFACT_DIR, then the attempt's, then for
 * a multi-node attempt SLUICE_NUM_NODES and SLUICE_MASTER_ADDR), the
 * working directory, the timeout, the SIGTERM grace and the node count.
 */
static int
spec_json(const struct exec_local *x, const struct exec_attempt *a,
    const char *dir, const char *artdir, char **out, struct err *err)
{
	json_t *root = NULL, *argv, *env;
	char work[LIM_PATH];
	int rc = ERR_NOMEM;

	*out = NULL;
	if ((root = json_object()) == NULL ||
	    json_object_set_new(root, "argv", argv = json_array()) < 0 ||
	    json_object_set_new(root, "env", env = json_array()) < 0)
		goto out;
	for (size_t i = 0; i < a->argc; i++) {
		if (json_array_append_new(argv, json_string(a->argv[i])) < 0)
			goto out;
	}
	for (size_t i = 0; i < sizeof(base_env) / sizeof(base_env[0]); i++) {
		const char *v = getenv(base_env[i]);

		if (v == NULL && strcmp(base_env[i], "PATH") == 0)
			v = DEFAULT_PATH;
		if (v != NULL && !env_has(a, base_env[i]) &&
		    env_add(env, base_env[i], v) < 0)
			goto out;
	}
	if (!env_has(a, "SLUICE_ARTIFACT_DIR") &&
	    env_add(env, "SLUICE_ARTIFACT_DIR", artdir) < 0)
		goto out;
	for (size_t i = 0; i < a->nenv; i++) {
		if (env_add(env, a->env[i].name, a->env[i].value) < 0)
			goto out;
	}
	/* the ranks meet on this machine; the supervisor adds each one's
	 * SLUICE_NODE_RANK and the SLUICE_MASTER_PORT it finds free */
	if (a->nodes > 1) {
		char num[32];

		(void)snprintf(num, sizeof(num), "%d", a->nodes);
		if (env_add(env, "SLUICE_NUM_NODES", num) < 0 ||
		    env_add(env, "SLUICE_MASTER_ADDR", "127.0.0.1") < 0 ||
		    json_object_set_new(root, "nodes",
		    json_integer(a->nodes)) < 0)
			goto out;
	}
	if (a->workdir != NULL) {
		if (str_copy(work, sizeof(work), a->workdir) < 0)
			goto toobig;
	} else if (exl_path(work, sizeof(work), dir, EXL_WORK) < 0) {
		goto toobig;
	}
	if (json_object_set_new(root, "workdir", json_string(work)) < 0 ||
	    json_object_set_new(root, "name", json_string(a->name)) < 0 ||
	    json_object_set_new(root, "timeout_ms",
	    json_integer(a->timeout_ms > 0 ? a->timeout_ms : 0)) < 0 ||
	    json_object_set_new(root, "grace_ms", json_integer(x->grace_ms)) < 0 ||
	    json_object_set_new(root, "log_max", json_integer(x->log_max)) < 0)
		goto out;
	if ((*out = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	if (strlen(*out) > LIM_EXEC_SPEC) {
		free(*out);
		*out = NULL;
		goto toobig;
	}
	rc = 0;
	goto out;
toobig:
	rc = err_set(err, ERR_INVALID, "attempt '%s': command, environment "
	    "or paths too long", a->name);
out:
	if (rc == ERR_NOMEM)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	json_decref(root);
	return rc;
}

/* Check what submit is given before touching anything. */
static int
check_attempt(const struct exec_attempt *a, struct err *err)
{
	struct stat st;

	if (!valid_name(a->name))
		return err_set(err, ERR_INVALID, "invalid attempt name '%s'",
		    a->name != NULL ? a->name : "");
	if (a->argc == 0 || a->argv == NULL || a->argv[0] == NULL ||
	    a->argv[0][0] == '\0')
		return err_set(err, ERR_INVALID, "attempt '%s' has no command",
		    a->name);
	if (a->nodes > LIM_STAGE_NODES)
		return err_set(err, ERR_INVALID, "attempt '%s' asks for %d "
		    "nodes (the limit is %d)", a->name, a->nodes,
		    LIM_STAGE_NODES);
	if (a->argc > LIM_EXEC_ARGS || a->nenv > LIM_EXEC_ARGS)
		return err_set(err, ERR_INVALID,
		    "attempt '%s' has too many arguments or variables", a->name);
	for (size_t i = 0; i < a->argc; i++) {
		if (a->argv[i] == NULL)
			return err_set(err, ERR_INVALID,
			    "attempt '%s': argument %zu is missing", a->name, i);
	}
	for (size_t i = 0; i < a->nenv; i++) {
		const char *n = a->env[i].name;

		if (n == NULL || n[0] == '\0' || strchr(n, '=') != NULL ||
		    a->env[i].value == NULL)
			return err_set(err, ERR_INVALID,
			    "attempt '%s': invalid environment variable '%s'",
			    a->name, n != NULL ? n : "");
	}
	for (size_t i = 0; i < a->nvolumes; i++) {
		if (!valid_claim(a->volumes[i].claim))
			return err_set(err, ERR_INVALID,
			    "attempt '%s': invalid volume claim '%s'", a->name,
			    a->volumes[i].claim != NULL ? a->volumes[i].claim :
			    "");
	}
	if (a->workdir != NULL &&
	    (stat(a->workdir, &st) < 0 || !S_ISDIR(st.st_mode)))
		return err_set(err, ERR_INVALID,
		    "working directory '%s' of attempt '%s' is not a directory",
		    a->workdir, a->name);
	return 0;
}

/*
 * Start `PROGRAM __supervise DIR` with the lock (lockfd, held) on fd 3,
 * in a new session, and wait for that first process, which forks the
 * real supervisor and exits at once.
 */
static int
spawn_supervisor(const struct exec_local *x, const char *dir, int lockfd,
    const char *name, struct err *err)
{
	char cmd[] = EXEC_LOCAL_SUPERVISE_CMD, dirarg[LIM_PATH];
	char logpath[LIM_PATH], *argv[4], **envp = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	size_t n = 0, k = 0;
	pid_t pid;
	int rc, st, fa_ok = 0, at_ok = 0, hifd = -1;

	if (str_copy(dirarg, sizeof(dirarg), dir) < 0 ||
	    exl_path(logpath, sizeof(logpath), dir, EXL_LOG) < 0)
		return err_set(err, ERR_TOOBIG, "path too long '%s'", dir);
	/*
	 * The file actions reopen fds 0-2 and move the lock to fd 3: the
	 * lock must not sit on one of those already.  A duplicate shares the
	 * lock (flock belongs to the open file description).
	 */
	if (lockfd <= EXL_LOCK_FD) {
		if ((hifd = fcntl(lockfd, F_DUPFD_CLOEXEC, 10)) < 0)
			return err_set(err, ERR_TRANSIENT, "dup: %s",
			    strerror(errno));
		lockfd = hifd;
	}
	argv[0] = x->program;
	argv[1] = cmd;
	argv[2] = dirarg;
	argv[3] = NULL;
	/* the controller's environment minus its own settings (secrets) */
	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 1, sizeof(*envp));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "SLUICE_", 7) != 0)
			envp[k++] = environ[i];
	}

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		goto spawn_error;
	fa_ok = 1;
	if ((rc = posix_spawnattr_init(&at)) != 0)
		goto spawn_error;
	at_ok = 1;
	sigemptyset(&none);
	sigfillset(&all);
	if ((rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO,
	    "/dev/null", O_RDONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logpath,
	    O_WRONLY | O_CREAT | O_APPEND, 0600)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO,
	    STDERR_FILENO)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, lockfd,
	    EXL_LOCK_FD)) != 0 ||
	    (rc = posix_spawn_file_actions_addclosefrom_np(&fa,
	    EXL_LOCK_FD + 1)) != 0 ||
	    (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (rc = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(&at, &all)) != 0)
		goto spawn_error;
	if ((rc = posix_spawn(&pid, x->program, &fa, &at, argv, envp)) != 0)
		goto spawn_error;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno == EINTR)
			continue;
		st = 0;		/* SIGCHLD ignored: already reaped */
		break;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		rc = err_set(err, ERR_TRANSIENT,
		    "the supervisor of attempt '%s' did not start (status %d)",
		    name, st);
		goto out;
	}
	rc = 0;
	goto out;
spawn_error:
	rc = err_set(err, ERR_TRANSIENT, "cannot start '%s' for attempt '%s': %s",
	    x->program, name, strerror(rc));
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	if (hifd >= 0)
		close(hifd);
	free(envp);
	return rc;
}

/* Create the directories an attempt uses (artifacts, volumes, work). */
static int
make_dirs(const struct exec_local *x, const struct exec_attempt *a,
    const char *dir, char *artdir, size_t artlen, struct err *err)
{
	char path[LIM_PATH];
	int rc;

	if (exl_path(artdir, artlen, x->artifacts, a->name) < 0)
		return err_set(err, ERR_TOOBIG, "state directory path too long");
	if ((rc = sys_mkdir_p(artdir, 0755, err)) < 0)
		return rc;
	for (size_t i = 0; i < a->nvolumes; i++) {
		if (exl_path(path, sizeof(path), x->volumes,
		    a->volumes[i].claim) < 0)
			return err_set(err, ERR_TOOBIG, "path too long");
		if ((rc = sys_mkdir_p(path, 0755, err)) < 0)
			return rc;
	}
	if (a->workdir == NULL) {
		if (exl_path(path, sizeof(path), dir, EXL_WORK) < 0)
			return err_set(err, ERR_TOOBIG, "path too long");
		if ((rc = sys_mkdir_p(path, 0755, err)) < 0)
			return rc;
	}
	return 0;
}

static int
local_submit(void *impl, const struct exec_attempt *a, struct err *err)
{
	struct exec_local *x = impl;
	char dir[LIM_PATH], artdir[LIM_PATH];
	char *spec = NULL;
	struct buf id;
	int rc, fd = -1;

	buf_init(&id, 4096);
	if ((rc = check_attempt(a, err)) < 0)
		goto out;
	if ((rc = identity_text(a, &id)) < 0) {
		rc = err_set(err, ERR_INVALID, "attempt '%s': identity too long",
		    a->name);
		goto out;
	}
	if ((rc = attempt_dir(x, a->name, dir, sizeof(dir), err)) < 0)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = err_set(err, ERR_TRANSIENT, "cannot create '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	if (exl_exists(dir, EXL_STATUS)) {
		rc = adopt(dir, a, &id, err);
		goto out;
	}
	if ((rc = lock_try(dir, 1, &fd, err)) < 0)
		goto out;
	if (rc == 0 || exl_exists(dir, EXL_STATUS) ||
	    exl_exists(dir, EXL_STARTED)) {
		/* a live supervisor, or one that ran and ended or died */
		rc = adopt(dir, a, &id, err);
		goto out;
	}
	/* the lock is ours and nothing ran: start it */
	if ((rc = make_dirs(x, a, dir, artdir, sizeof(artdir), err)) < 0) {
		/* a full disk passes; a path too long does not */
		rc = rc == ERR_TOOBIG ? ERR_INVALID : ERR_TRANSIENT;
		if (err != NULL)
			err->code = rc;
		goto out;
	}
	if ((rc = spec_json(x, a, dir, artdir, &spec, err)) < 0)
		goto out;
	if (exl_write(dir, EXL_IDENTITY, id.data, id.len) < 0 ||
	    exl_write(dir, EXL_SPEC, spec, strlen(spec)) < 0) {
		rc = err_set(err, ERR_TRANSIENT,
		    "cannot write the files of attempt '%s': %s", a->name,
		    strerror(errno));
		goto out;
	}
	if ((rc = spawn_supervisor(x, dir, fd, a->name, err)) < 0)
		goto out;
	log_info("attempt started", "attempt=%s dir=%s", a->name, dir);
	rc = 0;
out:
	unlock(&fd);
	free(spec);
	buf_release(&id);
	return rc;
}

static int64_t
read_started(const char *dir)
{
	char text[64];

	if (exl_read(dir, EXL_STARTED, text, sizeof(text)) < 0)
		return 0;
	return exl_i64(text, 0);
}

/*
 * With the lock held and no status written: the supervisor is gone.  If
 * it had started the command, kill what is left of the command's group
 * and record the attempt as failed (or canceled, if that was asked for).
 * Returns 1 when a status was written, 0 when the command never started.
 */
static int
settle_orphan(const char *dir, const char *name, int canceling,
    struct err *err)
{
	int64_t started = read_started(dir);
	int killed;

	if (!exl_exists(dir, EXL_STARTED)) {
		if (!canceling)
			return 0;
		if (exl_status_write(dir, EXEC_CANCELED, -1, 0, sys_wall_ms(),
		    "canceled before it started") < 0)
			return err_set(err, ERR_TRANSIENT,
			    "cannot write the status of attempt '%s': %s", name,
			    strerror(errno));
		return 1;
	}
	killed = exl_kill_recorded_group(dir);
	if (canceling || exl_exists(dir, EXL_CANCEL)) {
		if (exl_status_write(dir, EXEC_CANCELED, -1, started,
		    sys_wall_ms(), "canceled") < 0)
			goto error;
	} else if (exl_status_write(dir, EXEC_FAILED, -1, started,
	    sys_wall_ms(), killed ? "supervisor died; the stage's processes "
	    "were killed" : "supervisor died") < 0) {
		goto error;
	}
	log_warn("attempt supervisor died", "attempt=%s killed_group=%d", name,
	    killed);
	return 1;
error:
	return err_set(err, ERR_TRANSIENT,
	    "cannot write the status of attempt '%s': %s", name,
	    strerror(errno));
}

static int local_status(void *impl, const char *name,
    struct exec_status *out, struct err *err);

/* The status, and the node: this machine, for an attempt it knows. */
static int
local_status_here(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	int rc = local_status(impl, name, out, err);

	if (rc == 0 && out->state != EXEC_UNKNOWN &&
	    gethostname(out->node_name, sizeof(out->node_name) - 1) < 0)
		out->node_name[0] = '\0';
	out->node_name[sizeof(out->node_name) - 1] = '\0';
	return rc;
}

static int
local_status(void *impl, const char *name, struct exec_status *out,
    struct err *err)
{
	struct exec_local *x = impl;
	char dir[LIM_PATH];
	int rc, fd = -1;

	memset(out, 0, sizeof(*out));
	out->state = EXEC_UNKNOWN;
	out->exit_code = -1;
	if (!valid_name(name))
		return 0;
	if ((rc = attempt_dir(x, name, dir, sizeof(dir), err)) < 0)
		return rc;
	if (access(dir, F_OK) < 0)
		return 0;
	if (exl_status_read(dir, out) == 0)
		return 0;
	rc = lock_try(dir, 0, &fd, err);
	if (rc == ERR_NOTFOUND)
		return 0;	/* crashed before anything was started */
	if (rc < 0)
		return rc;
	if (rc == 0) {
		out->started_at = read_started(dir);
		if (out->started_at > 0) {
			out->state = EXEC_RUNNING;
		} else {
			out->state = EXEC_PENDING;
			(void)str_copy(out->waiting_reason,
			    sizeof(out->waiting_reason), "starting");
		}
		return 0;
	}
	/* no supervisor: it finished just now, never started, or died */
	rc = 0;
	if (exl_status_read(dir, out) < 0) {
		rc = settle_orphan(dir, name, 0, err);
		if (rc > 0 && exl_status_read(dir, out) < 0)
			rc = err_set(err, ERR_TRANSIENT,
			    "cannot read the status of attempt '%s'", name);
	}
	unlock(&fd);
	return rc < 0 ? rc : 0;
}

static int
local_logs(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err)
{
	struct exec_local *x = impl;
	char dir[LIM_PATH], path[LIM_PATH], file[32], chunk[65536];
	struct stat st;
	size_t room;
	int64_t pos = from;
	int fd = -1, rc = 0;

	*next = from;
	if (sourcelen > 0)
		source[0] = '\0';	/* one file per node: nothing replaces it */
	if (from < 0 || node < 0)
		return err_set(err, ERR_INVALID, "negative log offset or node");
	if (!valid_name(name))
		return err_set(err, ERR_NOTFOUND, "no log for attempt '%s'",
		    name != NULL ? name : "");
	if ((rc = attempt_dir(x, name, dir, sizeof(dir), err)) < 0)
		return rc;
	/* rank 0 writes "log", rank i > 0 "log.<i>" */
	if (node == 0)
		(void)snprintf(file, sizeof(file), "%s", EXL_LOG);
	else
		(void)snprintf(file, sizeof(file), "%s.%d", EXL_LOG, node);
	if (exl_path(path, sizeof(path), dir, file) < 0)
		return err_set(err, ERR_TOOBIG, "path too long");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return err_set(err, ERR_NOTFOUND,
			    "no log for attempt '%s'", name);
		return err_set(err, ERR_TRANSIENT, "cannot open '%s': %s", path,
		    strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = err_set(err, ERR_TRANSIENT, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (from >= st.st_size)
		goto out;
	room = out->max > out->len ? out->max - out->len : 0;
	if (room == 0) {
		rc = err_set(err, ERR_TOOBIG, "log buffer full");
		goto out;
	}
	while (pos < st.st_size && room > 0) {
		size_t want = sizeof(chunk);
		ssize_t n;

		if (want > room)
			want = room;
		if ((int64_t)want > st.st_size - pos)
			want = (size_t)(st.st_size - pos);
		n = pread(fd, chunk, want, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_TRANSIENT, "cannot read '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = buf_append(out, chunk, (size_t)n)) < 0) {
			rc = err_set(err, rc, "cannot hold the log of '%s'",
			    name);
			goto out;
		}
		pos += n;
		room -= (size_t)n;
	}
	*next = pos;
out:
	close(fd);
	return rc;
}

static int
local_cancel(void *impl, const char *name, struct err *err)
{
	struct exec_local *x = impl;
	char dir[LIM_PATH], path[LIM_PATH];
	int rc, fd = -1, f;

	if (!valid_name(name))
		return 0;
	if ((rc = attempt_dir(x, name, dir, sizeof(dir), err)) < 0)
		return rc;
	if (access(dir, F_OK) < 0 || exl_exists(dir, EXL_STATUS))
		return 0;
	rc = lock_try(dir, 1, &fd, err);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* a live supervisor: it polls for this file */
		if (exl_path(path, sizeof(path), dir, EXL_CANCEL) < 0)
			return err_set(err, ERR_TOOBIG, "path too long");
		f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (f < 0)
			return err_set(err, ERR_TRANSIENT, "cannot create '%s': %s",
			    path, strerror(errno));
		close(f);
		log_info("attempt cancel requested", "attempt=%s", name);
		return 0;
	}
	rc = 0;
	if (!exl_exists(dir, EXL_STATUS))
		rc = settle_orphan(dir, name, 1, err);
	unlock(&fd);
	return rc < 0 ? rc : 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

static int
local_release(void *impl, const char *name, struct err *err)
{
	static const char *const files[] = {
		EXL_SPEC, EXL_CANCEL, EXL_PGID, EXL_SUPERVISOR,
	};
	struct exec_local *x = impl;
	char dir[LIM_PATH], path[LIM_PATH];
	int rc, fd = -1;

	if (!valid_name(name))
		return 0;
	if ((rc = attempt_dir(x, name, dir, sizeof(dir), err)) < 0)
		return rc;
	if (access(dir, F_OK) < 0)
		return 0;
	/*
	 * Finished (a supervisor that wrote its status may still be exiting
	 * and hold the lock a moment: it touches nothing any more), or no
	 * supervisor alive to ask.
	 */
	if (!exl_exists(dir, EXL_STATUS)) {
		rc = lock_try(dir, 0, &fd, err);
		if (rc == ERR_NOTFOUND)
			rc = 1;		/* nothing was ever started */
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(err, ERR_CONFLICT,
			    "attempt '%s' is still running", name);
	}
	rc = 0;
	if (fd >= 0 && !exl_exists(dir, EXL_STATUS))
		rc = settle_orphan(dir, name, 0, err);
	if (rc >= 0) {
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			if (exl_path(path, sizeof(path), dir, files[i]) == 0)
				(void)unlink(path);
		}
		if (exl_path(path, sizeof(path), dir, EXL_WORK) == 0)
			(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	unlock(&fd);
	return rc < 0 ? rc : 0;
}

static void
local_free(void *impl)
{
	struct exec_local *x = impl;

	if (x == NULL)
		return;
	exl_waker_release(&x->waker);
	free(x->attempts);
	free(x->artifacts);
	free(x->volumes);
	free(x->program);
	free(x);
}

static int
local_set_wake(void *impl, void (*wake)(void *arg), void *arg)
{
	struct exec_local *x = impl;

	return exl_waker_set(&x->waker, x->attempts, wake, arg);
}

static const struct executor_ops local_ops = {
	.name = "local",
	.submit = local_submit,
	.status = local_status_here,
	.logs = local_logs,
	.cancel = local_cancel,
	.release = local_release,
	.set_wake = local_set_wake,
	.free = local_free,
};

static char *
join(const char *a, const char *b)
{
	char path[LIM_PATH];

	if (exl_path(path, sizeof(path), a, b) < 0)
		return NULL;
	return xstrdup(path);
}

int
exec_local_new_opts(struct executor *out, const struct exec_local_opts *opts,
    struct err *err)
{
	struct exec_local *x = NULL;
	char abs[PATH_MAX];
	int rc;

	out->ops = NULL;
	out->impl = NULL;
	if (opts->state_dir == NULL || opts->state_dir[0] == '\0')
		return err_set(err, ERR_INVALID, "state_dir is empty");
	if ((rc = sys_mkdir_p(opts->state_dir, 0755, err)) < 0)
		return rc;
	if (realpath(opts->state_dir, abs) == NULL)
		return err_set(err, ERR_GENERIC, "cannot resolve '%s': %s",
		    opts->state_dir, strerror(errno));
	x = xcalloc(1, sizeof(*x));
	exl_waker_init(&x->waker);
	x->attempts = join(abs, "attempts");
	x->artifacts = join(abs, "artifacts");
	x->volumes = join(abs, "volumes");
	x->program = xstrdup(opts->program != NULL ? opts->program :
	    "/proc/self/exe");
	x->grace_ms = opts->kill_grace_ms > 0 ? opts->kill_grace_ms :
	    EXEC_LOCAL_GRACE_MS;
	x->log_max = opts->log_max > 0 && opts->log_max < LIM_STAGE_LOG ?
	    opts->log_max : LIM_STAGE_LOG;
	if (x->attempts == NULL || x->artifacts == NULL || x->volumes == NULL) {
		rc = err_set(err, ERR_TOOBIG, "state_dir path too long '%s'",
		    abs);
		goto out;
	}
	if ((rc = sys_mkdir_p(x->attempts, 0755, err)) < 0)
		goto out;
	out->ops = &local_ops;
	out->impl = x;
	x = NULL;
	rc = 0;
out:
	local_free(x);
	return rc;
}

int
exec_local_new(struct executor *out, const char *state_dir, struct err *err)
{
	struct exec_local_opts o = { .state_dir = state_dir };

	return exec_local_new_opts(out, &o, err);
}
