/*
 * cmd_run.c - `sluice run PIPELINE [--param K=V]... [--ref REF] [--wait]`
 * (client_int.h): start a run, and with --wait follow it to its end,
 * showing stage progress on one updating line on a terminal (a plain
 * line per change otherwise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sys.h"
#include "client/client_int.h"
#include "client/table.h"

/* The body of POST /api/v1/pipelines/{name}/runs into *out (owned). */
static int
run_body(struct client *c, const struct cmdargs *a, char **out)
{
	json_t *body = json_object(), *params = json_object();
	int rc = EXIT_USAGE;

	*out = NULL;
	if (body == NULL || params == NULL)
		goto out;
	for (size_t i = 0; i < a->nparams; i++) {
		const char *eq = strchr(a->params[i], '=');
		char key[LIM_NAME + 1];

		if (eq == NULL || eq == a->params[i] ||
		    (size_t)(eq - a->params[i]) > LIM_NAME) {
			client_say(c, "--param wants KEY=VALUE, got '%s'",
			    a->params[i]);
			goto out;
		}
		(void)snprintf(key, sizeof(key), "%.*s",
		    (int)(eq - a->params[i]), a->params[i]);
		if (json_object_get(params, key) != NULL) {
			client_say(c, "--param %s is given twice", key);
			goto out;
		}
		if (json_object_set_new(params, key, json_string(eq + 1)) < 0) {
			client_say(c, "--param %s: the value is not UTF-8", key);
			goto out;
		}
	}
	if (json_object_size(params) > 0 &&
	    json_object_set(body, "params", params) < 0)
		goto out;
	if (a->ref != NULL && json_object_set_new(body, "ref",
	    json_string(a->ref)) < 0) {
		client_say(c, "--ref is not UTF-8");
		goto out;
	}
	if ((*out = json_dumps(body, JSON_COMPACT)) != NULL)
		rc = 0;
out:
	json_decref(params);
	json_decref(body);
	return rc;
}

/* One stage's mark on the progress line. */
static const char *
mark(const char *st, int utf8)
{
	static const struct {
		const char	*status, *utf8, *ascii;
	} marks[] = {
		{ "succeeded", "\xe2\x9c\x93", "ok" },
		{ "failed", "\xe2\x9c\x97", "FAILED" },
		{ "canceled", "\xe2\x8a\x98", "canceled" },
		{ "skipped", "-", "skipped" },
		{ "pending", "\xc2\xb7", "pending" },
		{ "submitted", "\xe2\x80\xa6", "submitted" },
		{ "running", "\xe2\x96\xb8", "running" },
		{ "waiting_approval", "\xe2\x8f\xb8", "waiting" },
	};

	for (size_t i = 0; st != NULL && i < sizeof(marks) / sizeof(marks[0]);
	    i++)
		if (strcmp(st, marks[i].status) == 0)
			return utf8 ? marks[i].utf8 : marks[i].ascii;
	return st != NULL ? st : "?";
}

/*
 * The progress of a run as one line into out: "run 7 demo running 1m05s
 * | prepare ✓ train ▸ evaluate · rollout ·", and the waiting reason of a
 * waiting stage.
 */
static void
progress_line(const json_t *run, int utf8, char *out, size_t outlen)
{
	const char *why = NULL;
	char took[32];
	size_t len;
	json_t *s;
	size_t i;
	int n;

	{
		int64_t st = jv_time(jv_str(run, "started_at"));
		int64_t fi = jv_time(jv_str(run, "finished_at"));

		if (st < 0)
			(void)snprintf(took, sizeof(took), "-");
		else
			jv_duration((fi >= 0 ? fi : sys_wall_ms()) - st, took,
			    sizeof(took));
	}
	n = snprintf(out, outlen, "run %lld %s %s %s |", jv_int(run, "id", 0),
	    jv_str(run, "pipeline") != NULL ? jv_str(run, "pipeline") : "-",
	    jv_str(run, "status") != NULL ? jv_str(run, "status") : "-", took);
	len = n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
	json_array_foreach(jv_arr(run, "stages"), i, s) {
		if (why == NULL)
			why = jv_str(s, "waiting_reason");
		n = snprintf(out + len, outlen - len, " %s %s",
		    jv_str(s, "name") != NULL ? jv_str(s, "name") : "?",
		    mark(jv_str(s, "status"), utf8));
		if (n < 0 || (size_t)n >= outlen - len)
			return;
		len += (size_t)n;
	}
	if (why != NULL)
		(void)snprintf(out + len, outlen - len, " (%s)", why);
}

/* A line a terminal shows as it is: control characters from the server
 * made '?', cut to width characters. */
static void
fit(char *line, size_t width)
{
	size_t chars = 0;

	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
		if (((unsigned char)*p & 0xc0) != 0x80 && width > 0 &&
		    ++chars > width) {
			*p = '\0';
			break;
		}
	}
}

static int
utf8_locale(void)
{
	const char *v = getenv("LC_ALL");

	if (v == NULL || *v == '\0')
		v = getenv("LC_CTYPE");
	if (v == NULL || *v == '\0')
		v = getenv("LANG");
	return v != NULL && (strcasestr(v, "utf-8") != NULL ||
	    strcasestr(v, "utf8") != NULL);
}

/* Follow run id to its end: 0 succeeded, 1 failed or canceled. */
static int
wait_run(struct client *c, long long id)
{
	char line[2048], last[2048 + 32] = "";
	int utf8 = utf8_locale(), live = c->tty && !c->json, rc;
	const char *st = NULL;
	json_t *run = NULL;

	for (;;) {
		json_decref(run);
		if ((rc = client_run_doc(c, id, &run)) != 0)
			break;
		if ((st = jv_str(run, "status")) == NULL) {
			client_say(c, "the answer for run %lld has no status",
			    id);
			rc = EXIT_USAGE;
			break;
		}
		progress_line(run, utf8 && live, line, sizeof(line));
		fit(line, live ? (c->width > 1 ? c->width - 1 : 79) : 0);
		if (live) {
			fprintf(stderr, "\r\033[K%s", line);
			fflush(stderr);
		} else if (!c->json) {
			/* a line per change (of status or stages, not of
			 * the clock) */
			char key[sizeof(line) + 32];
			const char *cut = strchr(line, '|');

			(void)snprintf(key, sizeof(key), "%.20s %s",
			    st != NULL ? st : "-", cut != NULL ? cut : line);
			if (strcmp(key, last) != 0) {
				printf("%s\n", line);
				fflush(stdout);
				memcpy(last, key, sizeof(last));
			}
		}
		if (jv_run_done(st))
			break;
		usleep(LIM_CLIENT_POLL_MS * 1000);
	}
	if (live)
		fputc('\n', stderr);
	if (rc != 0)
		goto out;
	if (c->json) {
		char *text = json_dumps(run, JSON_COMPACT);

		if (text != NULL)
			printf("%s\n", text);
		free(text);
	}
	if (strcmp(st, "succeeded") == 0) {
		if (!c->json)
			printf("run %lld succeeded\n", id);
		rc = EXIT_OK;
	} else {
		const char *why = jv_str(run, "message");

		fprintf(stderr, "run %lld %s%s%s\n", id, st,
		    why != NULL ? ": " : "", why != NULL ? why : "");
		rc = EXIT_REFUSED;
	}
out:
	json_decref(run);
	return rc;
}

int
cmd_run(struct client *c, const struct cmdargs *a)
{
	struct buf path;
	char *body = NULL, sha[16];
	json_t *run = NULL;
	int json = c->json, rc;

	buf_init(&path, LIM_URL);
	if ((rc = run_body(c, a, &body)) != 0)
		goto out;
	if (buf_puts(&path, "/api/v1/pipelines/") < 0 ||
	    client_escape(&path, a->pos[0]) < 0 ||
	    buf_puts(&path, "/runs") < 0) {
		client_say(c, "pipeline name too long");
		rc = EXIT_USAGE;
		goto out;
	}
	/* with --wait, --json prints the finished run, not the queued one */
	c->json = json && !a->wait;
	rc = client_post(c, path.data, body, &run);
	c->json = json;
	if (rc != 0)
		goto out;
	(void)snprintf(sha, sizeof(sha), "%.7s",
	    jv_str(jv_obj(run, "commit"), "sha") != NULL ?
	    jv_str(jv_obj(run, "commit"), "sha") : "-");
	if (!c->json)
		printf("run %lld of %s queued at %s%s%s\n", jv_int(run, "id", 0),
		    a->pos[0], jv_str(run, "branch") != NULL ?
		    jv_str(run, "branch") : "", jv_str(run, "branch") != NULL ?
		    "@" : "", sha);
	fflush(stdout);
	if (a->wait)
		rc = wait_run(c, jv_int(run, "id", 0));
out:
	json_decref(run);
	free(body);
	buf_release(&path);
	return rc;
}
