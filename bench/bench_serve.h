/*
 * bench_serve.h - what the end-to-end benchmarks (bench_e2e,
 * bench_failover) share: `sluice serve` as a child process, the fake
 * Kubernetes API server (tests/fakes/kube_fake.sh) and its timeline of
 * Job creations and completions, a git repository served as file://, and
 * a wall clock comparable with the fake's and PostgreSQL's.  static
 * inline: each bench/NAME.c is its own program.  Every failure prints
 * why and exits 1 (bench_fail).
 */
#ifndef SLUICE_BENCH_SERVE_H
#define SLUICE_BENCH_SERVE_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"

/* The program's name in messages; each bench sets it first. */
static const char *bench_prog = "bench";

static inline void
bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));
static inline void
bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * Seconds since the epoch, with fractions: the clock the fake
 * (time.time()) and PostgreSQL (now()) use, so times taken here, there
 * and in the database compare.
 */
static inline double
bench_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void
bench_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Run a shell command built like printf; exit when it fails. */
static inline void
bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
bench_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(cmd))
		bench_fail("command too long");
	if (system(cmd) != 0)
		bench_fail("failed: %s", cmd);
}

/* The first line a shell command prints (up to len - 1 bytes), in out. */
static inline void
bench_sh_line(char *out, size_t len, const char *cmd)
{
	FILE *fp = popen(cmd, "r");

	if (fp == NULL || fgets(out, (int)len, fp) == NULL)
		bench_fail("no output from: %s", cmd);
	out[strcspn(out, "\n")] = '\0';
	if (pclose(fp) != 0)
		bench_fail("failed: %s", cmd);
}

/* The 1-minute load average, or -1. */
static inline double
bench_loadavg(void)
{
	FILE *fp = fopen("/proc/loadavg", "r");
	char line[128];
	double v = -1;

	if (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
		v = strtod(line, NULL);
	if (fp != NULL)
		fclose(fp);
	return v;
}

/* CPU time (user + system) process pid has used, in ms; -1 if unknown. */
static inline double
bench_cpu_ms(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long ut, st;
	FILE *fp;
	int ok;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	ok = fgets(line, sizeof(line), fp) != NULL;
	fclose(fp);
	/* after "(comm)": state and 10 numbers, then utime and stime */
	if (!ok || (p = strrchr(line, ')')) == NULL)
		return -1;
	p += 2;
	for (int i = 0; i < 12 && p != NULL; i++)
		p = (p = strchr(p, ' ')) != NULL ? p + 1 : NULL;
	if (p == NULL)
		return -1;
	ut = strtoul(p, &p, 10);
	st = strtoul(p, NULL, 10);
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/*
 * What every end-to-end bench does first: check that SLUICE_BENCH_DB_URL,
 * SLUICE_BIN and SLUICE_TOP are set (exit 2 otherwise: `make bench` sets
 * them), log warnings to stderr, make dir (len bytes) as
 * SLUICE_BENCH_TMP/NAME.XXXXXX, ignore SIGPIPE and ready libcurl.
 */
static inline void
bench_serve_init(const char *prog, const char *name, char *dir, size_t len)
{
	const char *tmp = getenv("SLUICE_BENCH_TMP");

	bench_prog = prog;
	if (getenv("SLUICE_BENCH_DB_URL") == NULL ||
	    getenv("SLUICE_BIN") == NULL || getenv("SLUICE_TOP") == NULL) {
		fprintf(stderr, "%s: set SLUICE_BENCH_DB_URL, SLUICE_BIN and "
		    "SLUICE_TOP (make bench does)\n", prog);
		exit(2);
	}
	log_setup(LOG_WARN, LOG_TEXT, stderr);
	if (snprintf(dir, len, "%s/%s.XXXXXX", tmp != NULL ? tmp : "/tmp",
	    name) >= (int)len)
		bench_fail("SLUICE_BENCH_TMP is too long");
	if (mkdtemp(dir) == NULL)
		bench_fail("mkdtemp %s: %s", dir, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- HTTP ---------------------------------------------------------------- */

static inline size_t
bench_on_body(char *p, size_t size, size_t n, void *arg)
{
	return buf_append(arg, p, size * n) < 0 ? 0 : size * n;
}

/*
 * One request with c (a kept-alive easy handle, or NULL for a new one):
 * method, url, body (may be NULL), headers (may be NULL); the status, or
 * 0 when there was no answer.  The answer's body in out (when not NULL;
 * initialised here, the caller releases it).
 */
static inline long
bench_http(CURL *c, const char *method, const char *url, const char *ca,
    const char *body, struct curl_slist *headers, struct buf *out)
{
	struct buf b;
	CURL *own = NULL;
	long status = 0;

	buf_init(&b, 16 << 20);
	if (c == NULL)
		c = own = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (own != NULL)
		curl_easy_cleanup(own);
	if (out != NULL)
		*out = b;
	else
		buf_release(&b);
	return status;
}

/* ---- the fake Kubernetes API server ------------------------------------- */

struct bench_fake {
	char	dir[512];	/* ca.crt, kubeconfig, ... (kube_fake.sh) */
	char	url[128];	/* https://127.0.0.1:PORT */
	char	top[512];	/* the source tree */
};

/* Start it in dir with args for kube_apiserver.py. */
static inline void
bench_fake_start(struct bench_fake *f, const char *top, const char *dir,
    const char *args)
{
	char path[600], line[32];
	FILE *fp;
	long port = 0;

	(void)snprintf(f->top, sizeof(f->top), "%s", top);
	(void)snprintf(f->dir, sizeof(f->dir), "%s", dir);
	bench_sh("KUBE_FAKE_WATCH_PID=%ld bash '%s/tests/fakes/kube_fake.sh' "
	    "start '%s' %s >/dev/null", (long)getpid(), top, dir, args);
	(void)snprintf(path, sizeof(path), "%s/port", dir);
	if ((fp = fopen(path, "r")) == NULL)
		bench_fail("no %s", path);
	if (fgets(line, sizeof(line), fp) != NULL)
		port = strtol(line, NULL, 10);
	fclose(fp);
	if (port <= 0)
		bench_fail("no port in %s", path);
	(void)snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%ld", port);
}

static inline void
bench_fake_stop(const struct bench_fake *f)
{
	char cmd[1200];

	(void)snprintf(cmd, sizeof(cmd), "bash '%s/tests/fakes/kube_fake.sh' "
	    "stop '%s'", f->top, f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s: stopping the fake failed\n", bench_prog);
}

/* GET path of the fake's control API as JSON (the caller decrefs). */
static inline json_t *
bench_fake_get(const struct bench_fake *f, const char *path)
{
	char url[256], ca[600];
	struct buf b;
	json_error_t je;
	json_t *doc;

	(void)snprintf(url, sizeof(url), "%s%s", f->url, path);
	(void)snprintf(ca, sizeof(ca), "%s/ca.crt", f->dir);
	if (bench_http(NULL, "GET", url, ca, NULL, NULL, &b) != 200)
		bench_fail("GET %s failed", url);
	doc = json_loadb(b.data, b.len, 0, &je);
	buf_release(&b);
	if (doc == NULL)
		bench_fail("GET %s: %s", url, je.text);
	return doc;
}

/* One Job of the fake's /_fake/timeline. */
struct bench_job {
	char	name[96];
	char	token[32];	/* the bearer token that created it */
	double	posted;		/* its create request arrived */
	double	finished;	/* Complete or Failed; 0 before */
	int	complete;	/* 1: Complete */
};

/* The timeline's Jobs (the caller frees *out). */
static inline size_t
bench_fake_jobs(const struct bench_fake *f, struct bench_job **out)
{
	json_t *doc = bench_fake_get(f, "/_fake/timeline");
	json_t *jobs = json_object_get(doc, "jobs"), *j;
	struct bench_job *v;
	size_t i, n = json_array_size(jobs);

	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		bench_fail("out of memory");
	json_array_foreach(jobs, i, j) {
		const char *c = json_string_value(json_object_get(j,
		    "condition"));

		(void)snprintf(v[i].name, sizeof(v[i].name), "%s",
		    json_string_value(json_object_get(j, "name")));
		(void)snprintf(v[i].token, sizeof(v[i].token), "%s",
		    json_string_value(json_object_get(j, "token")));
		v[i].posted = json_number_value(json_object_get(j, "posted"));
		v[i].finished = json_number_value(json_object_get(j,
		    "finished"));
		v[i].complete = c != NULL && strcmp(c, "Complete") == 0;
	}
	json_decref(doc);
	*out = v;
	return n;
}

/* The Job called name among n, or NULL. */
static inline const struct bench_job *
bench_job_find(const struct bench_job *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* ---- git and serve -------------------------------------------------------- */

#define BENCH_GIT "git -c user.name=bench -c user.email=bench@example.com " \
	"-c init.defaultBranch=main"

/*
 * dir/repo.git (bare) and its clone dir/work with pipelines/NAME.yaml
 * holding yaml, pushed to main.
 */
static inline void
bench_git_repo(const char *dir, const char *name, const char *yaml)
{
	char path[700];
	FILE *fp;

	bench_sh(BENCH_GIT " init -q --bare '%s/repo.git' && " BENCH_GIT
	    " clone -q '%s/repo.git' '%s/work' 2>/dev/null && mkdir -p "
	    "'%s/work/pipelines'", dir, dir, dir, dir);
	(void)snprintf(path, sizeof(path), "%s/work/pipelines/%s.yaml", dir,
	    name);
	if ((fp = fopen(path, "w")) == NULL || fputs(yaml, fp) < 0 ||
	    fclose(fp) != 0)
		bench_fail("cannot write %s", path);
	bench_sh("cd '%s/work' && " BENCH_GIT " add -A && " BENCH_GIT
	    " commit -qm seed && " BENCH_GIT " push -q origin main", dir);
}

/* Commit a change to dir/work and push it; its sha in sha[41]. */
static inline void
bench_git_push(const char *dir, int i, char *sha)
{
	char cmd[1200];

	bench_sh("cd '%s/work' && echo %d >data.txt && " BENCH_GIT " add -A "
	    "&& " BENCH_GIT " commit -qm 'change %d' && " BENCH_GIT " push -q "
	    "origin main", dir, i, i);
	(void)snprintf(cmd, sizeof(cmd), "git -C '%s/work' rev-parse HEAD",
	    dir);
	bench_sh_line(sha, 41, cmd);
}

/*
 * Start `sluice serve --config config`, its output appended to log; the
 * child's pid.  The environment is this process's.
 */
static inline pid_t
bench_serve_start(const char *bin, const char *config, const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		FILE *fp = freopen(log, "a", stdout);

		if (fp == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execl(bin, bin, "serve", "--config", config, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Wait until http://127.0.0.1:port/readyz answers 200 (at most 120 s). */
static inline void
bench_serve_wait_ready(int port)
{
	char url[128];

	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
	for (int i = 0; i < 12000; i++) {
		if (bench_http(NULL, "GET", url, NULL, NULL, NULL, NULL) == 200)
			return;
		bench_sleep_ms(10);
	}
	bench_fail("%s never answered 200", url);
}

/* kill(pid, sig) and reap it. */
static inline void
bench_serve_kill(pid_t pid, int sig)
{
	int status;

	if (kill(pid, sig) < 0)
		bench_fail("kill %ld: %s", (long)pid, strerror(errno));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* A port nobody listens on now. */
static inline int
bench_free_port(void)
{
	char line[32];

	bench_sh_line(line, sizeof(line), "python3 -c 'import socket; "
	    "s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
	    "print(s.getsockname()[1])'");
	return (int)strtol(line, NULL, 10);
}

static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n values (sorted here), nearest rank. */
static inline double
bench_quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	i = (size_t)(q * (double)n + 0.999999);
	return v[i == 0 ? 0 : (i > n ? n - 1 : i - 1)];
}

#endif
