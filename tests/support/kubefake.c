/*
 * kubefake.c - start, stop and steer the fake Kubernetes API server; see
 * kubefake.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/sys.h"

#include "kubefake.h"
#include "testdb.h"

static long
read_number(const char *path)
{
	FILE *fp = fopen(path, "r");
	long v = 0;
	char line[64];

	if (fp == NULL)
		return -1;
	if (fgets(line, sizeof(line), fp) != NULL)
		v = strtol(line, NULL, 10);
	fclose(fp);
	return v;
}

const char *
kubefake_path(const struct kubefake *f, const char *name)
{
	static char path[2][512];
	static int i;

	i = !i;
	if (snprintf(path[i], sizeof(path[i]), "%s/%s", f->dir, name) >=
	    (int)sizeof(path[i]))
		abort();
	return path[i];
}

int
kubefake_start(struct kubefake *f, const char *const *args)
{
	const char *top = getenv("SLUICE_TOP");
	char script[1024], watch[32];
	const char *argv[64];
	int n = 0, ready = 0, status;
	int64_t end;
	pid_t pid;

	memset(f, 0, sizeof(f[0]));
	if (top == NULL || top[0] == '\0')
		top = ".";
	snprintf(script, sizeof(script), "%s/tests/fakes/kube_fake.sh", top);
	if (test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	snprintf(watch, sizeof(watch), "%ld", (long)getpid());
	argv[n++] = "bash";
	argv[n++] = script;
	argv[n++] = "run";
	argv[n++] = f->dir;
	while (args != NULL && *args != NULL && n < 62)
		argv[n++] = *args++;
	argv[n] = NULL;
	/* the script stays our child, so that we can wait for it */
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		setenv("KUBE_FAKE_WATCH_PID", watch, 1);
		execvp("bash", (char *const *)argv);
		_exit(127);
	}
	f->pid = pid;
	/* at most 300 s: a bound against a hang, not a measure (a fake
	 * took over a minute to start on a machine loaded 30 times over) */
	for (end = sys_now_ms() + 300000; sys_now_ms() < end;) {
		if (access(kubefake_path(f, "ready"), F_OK) == 0) {
			ready = 1;
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			f->pid = 0;
			fprintf(stderr, "kubefake: %s run exited\n", script);
			return -1;
		}
		usleep(25000);
	}
	f->port = (int)read_number(kubefake_path(f, "port"));
	if (!ready || f->port <= 0) {
		fprintf(stderr, "kubefake: the fake did not start in %s\n",
		    f->dir);
		kubefake_stop(f);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d", f->port);
	return 0;
}

void
kubefake_stop(struct kubefake *f)
{
	int i, status;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		for (i = 0; i < 250; i++) {
			if (waitpid(f->pid, &status, WNOHANG) == f->pid)
				break;
			usleep(20000);
		}
		if (i == 250) {
			kill(f->pid, SIGKILL);
			while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		f->pid = 0;
	}
	if (f->dir[0] != '\0' && getenv("SLUICE_KEEP_KUBEFAKE") == NULL)
		test_rmtree(f->dir);
}

struct body {
	char	*data;
	size_t	 len;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *nb = realloc(b->data, b->len + size * n + 1);

	if (nb == NULL)
		return 0;
	b->data = nb;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

int
kubefake_call(const struct kubefake *f, const char *method, const char *path,
    const char *json, char **out)
{
	struct curl_slist *h = NULL;
	struct body b = { NULL, 0 };
	char url[512];
	long status = -1;
	CURL *c;

	if (out != NULL)
		*out = NULL;
	if ((c = curl_easy_init()) == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", f->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, kubefake_path(f, "ca.crt"));
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (json != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (out != NULL)
		*out = b.data;
	else
		free(b.data);
	return (int)status;
}

void
kubefake_post(const struct kubefake *f, const char *path, const char *json)
{
	char *body = NULL;
	int st = kubefake_call(f, "POST", path, json ? json : "{}", &body);

	if (st != 200) {
		fprintf(stderr, "kubefake: POST %s %s: %d %s\n", path,
		    json ? json : "", st, body ? body : "");
		abort();
	}
	free(body);
}

long
kubefake_stat(const struct kubefake *f, const char *key)
{
	char *body = NULL, sect[64];
	const char *dot = strchr(key, '.');
	json_t *o, *v;
	json_error_t je;
	long n = 0;

	if (kubefake_call(f, "GET", "/_fake/stats", NULL, &body) != 200 ||
	    (o = json_loads(body, 0, &je)) == NULL) {
		fprintf(stderr, "kubefake: no stats\n");
		abort();
	}
	if (dot != NULL && (size_t)(dot - key) < sizeof(sect) &&
	    (strncmp(key, "requests.", 9) == 0 ||
	    strncmp(key, "by_token.", 9) == 0)) {
		memcpy(sect, key, (size_t)(dot - key));
		sect[dot - key] = '\0';
		v = json_object_get(json_object_get(o, sect), dot + 1);
	} else {
		v = json_object_get(o, key);
	}
	if (json_is_integer(v))
		n = (long)json_integer_value(v);
	json_decref(o);
	free(body);
	return n;
}
