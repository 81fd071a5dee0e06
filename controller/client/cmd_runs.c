/*
 * cmd_runs.c - `sluice runs list|get|logs|cancel|retry` and `sluice run`
 * (client_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sys.h"
#include "client/client_int.h"
#include "client/table.h"

const char *const client_run_statuses[] = {
	"queued", "running", "waiting_approval", "succeeded", "failed",
	"canceled", NULL,
};

/* Whether v is one of names[]; else says so and what would be. */
int
client_check_enum(const struct client *c, const char *flag, const char *v,
    const char *const *names)
{
	char all[256] = "";

	for (size_t i = 0; names[i] != NULL; i++) {
		if (strcmp(v, names[i]) == 0)
			return 0;
		if (strlen(all) + strlen(names[i]) + 3 < sizeof(all)) {
			if (i > 0)
				strncat(all, ", ", sizeof(all) - strlen(all) - 1);
			strncat(all, names[i], sizeof(all) - strlen(all) - 1);
		}
	}
	client_say(c, "%s '%s' is none of %s", flag, v, all);
	return EXIT_USAGE;
}

int
client_id(const struct client *c, const char *what, const char *s,
    long long *id)
{
	char *end;

	*id = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || *id < 1) {
		client_say(c, "%s '%s' is not a positive number", what, s);
		return EXIT_USAGE;
	}
	return 0;
}

int
client_limit(const struct client *c, const char *limit, long long def,
    struct buf *q)
{
	long long n = def;
	char *end;

	if (limit != NULL) {
		n = strtoll(limit, &end, 10);
		if (*limit == '\0' || *end != '\0' || n < 1 ||
		    n > LIM_API_PAGE) {
			client_say(c, "--limit '%s' is not a number from 1 "
			    "to %d", limit, LIM_API_PAGE);
			return EXIT_USAGE;
		}
	}
	return buf_printf(q, "limit=%lld", n) < 0 ? EXIT_USAGE : 0;
}

/* ---- runs list --------------------------------------------------------- */

/* "3/4 train": stages done of all, and the one in progress or failed. */
static void
stages_text(json_t *stages, char *out, size_t outlen)
{
	size_t i, n = json_array_size(stages), done = 0;
	const char *now = NULL;
	json_t *s;

	json_array_foreach(stages, i, s) {
		const char *st = jv_str(s, "status");

		if (st == NULL)
			continue;
		if (strcmp(st, "succeeded") == 0 || strcmp(st, "skipped") == 0)
			done++;
		else if (now == NULL && strcmp(st, "pending") != 0)
			now = jv_str(s, "name");
	}
	(void)snprintf(out, outlen, "%zu/%zu%s%s", done, n,
	    now != NULL ? " " : "", now != NULL ? now : "");
}

static void
short_sha(const json_t *run, char *out, size_t outlen)
{
	const char *sha = jv_str(jv_obj(run, "commit"), "sha");

	(void)snprintf(out, outlen, "%.7s", sha != NULL ? sha : "-");
}

int
cmd_runs_list(struct client *c, const struct cmdargs *a)
{
	static const char *const head[] = { "ID", "PIPELINE", "STATUS",
	    "TRIGGER", "BRANCH", "COMMIT", "STAGES", "AGE", "MESSAGE" };
	static const unsigned flags[] = { TABLE_RIGHT, TABLE_SHRINK, 0, 0,
	    TABLE_SHRINK, 0, TABLE_SHRINK, TABLE_RIGHT, TABLE_SHRINK };
	struct table t;
	struct buf q;
	json_t *j = NULL, *run;
	size_t i;
	int rc;

	buf_init(&q, LIM_URL);
	table_init(&t, 9, head, flags);
	if (a->status != NULL && (rc = client_check_enum(c, "--status", a->status,
	    client_run_statuses)) != 0)
		goto out;
	if (buf_puts(&q, "/api/v1/runs?") < 0)
		goto fail;
	if ((rc = client_limit(c, a->limit, LIM_API_PAGE_DEFAULT, &q)) != 0)
		goto out;
	if (a->pipeline != NULL && ((rc = buf_puts(&q, "&pipeline=")) < 0 ||
	    (rc = client_escape(&q, a->pipeline)) < 0))
		goto fail;
	if (a->status != NULL && (rc = buf_printf(&q, "&status=%s",
	    a->status)) < 0)
		goto fail;
	if ((rc = client_get(c, q.data, &j)) != 0 || c->json)
		goto out;
	json_array_foreach(jv_arr(j, "runs"), i, run) {
		char id[24], sha[16], stages[LIM_NAME + 32], age[16];
		const char *st = jv_str(run, "status");
		const char *cells[9];
		enum table_color colors[9] = { 0 };

		(void)snprintf(id, sizeof(id), "%lld", jv_int(run, "id", 0));
		short_sha(run, sha, sizeof(sha));
		stages_text(jv_arr(run, "stages"), stages, sizeof(stages));
		jv_age(jv_str(run, "created_at"), age, sizeof(age));
		cells[0] = id;
		cells[1] = jv_str(run, "pipeline");
		cells[2] = st;
		cells[3] = jv_str(run, "trigger");
		cells[4] = jv_str(run, "branch");
		cells[5] = sha;
		cells[6] = stages;
		cells[7] = age;
		cells[8] = jv_str(run, "message") != NULL ?
		    jv_str(run, "message") : "";
		colors[2] = (enum table_color)jv_status_color(st);
		if ((rc = table_add(&t, cells, colors)) < 0)
			goto fail;
	}
	if (t.nrows == 0) {
		fprintf(stderr, "no runs\n");
		goto out;
	}
	rc = client_print_table(c, &t);
	goto out;
fail:
	client_say(c, "out of room building the request or table");
	rc = EXIT_USAGE;
out:
	json_decref(j);
	table_release(&t);
	buf_release(&q);
	return rc;
}

/* ---- runs get ---------------------------------------------------------- */

static void
field(const struct client *c, const char *name, const char *value)
{
	printf("%s%-10s%s %s\n", c->color ? "\033[1m" : "", name,
	    c->color ? "\033[0m" : "", value != NULL ? value : "-");
}

/* "name=value ..." of an object of numbers or strings. */
static void
pairs_text(json_t *o, char *out, size_t outlen)
{
	const char *k;
	json_t *v;
	size_t len = 0;

	out[0] = '\0';
	json_object_foreach(o, k, v) {
		char val[64];
		int n;

		jv_text(v, val, sizeof(val));
		n = snprintf(out + len, outlen - len, "%s%s=%s",
		    len > 0 ? " " : "", k, val);
		if (n < 0 || (size_t)n >= outlen - len) {
			out[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
}

/* From started to finished (or now, while it runs). */
static void
span_text(const json_t *o, char *out, size_t outlen)
{
	int64_t s = jv_time(jv_str(o, "started_at"));
	int64_t f = jv_time(jv_str(o, "finished_at"));

	if (s < 0) {
		(void)snprintf(out, outlen, "-");
		return;
	}
	jv_duration((f >= 0 ? f : sys_wall_ms()) - s, out, outlen);
}

static int
print_stages(struct client *c, json_t *run)
{
	static const char *const head[] = { "STAGE", "TYPE", "STATUS",
	    "ATTEMPTS", "TIME", "DETAIL" };
	static const unsigned flags[] = { TABLE_SHRINK, 0, 0, TABLE_RIGHT,
	    TABLE_RIGHT, TABLE_SHRINK };
	struct table t;
	json_t *s;
	size_t i;
	int rc = 0;

	table_init(&t, 6, head, flags);
	json_array_foreach(jv_arr(run, "stages"), i, s) {
		char n[16], span[32], detail[1024];
		const char *cells[6], *st = jv_str(s, "status");
		enum table_color colors[6] = { 0 };

		(void)snprintf(n, sizeof(n), "%zu",
		    json_array_size(jv_arr(s, "attempts")));
		span_text(s, span, sizeof(span));
		if (jv_str(s, "waiting_reason") != NULL)
			(void)snprintf(detail, sizeof(detail), "%s",
			    jv_str(s, "waiting_reason"));
		else if (jv_str(s, "message") != NULL)
			(void)snprintf(detail, sizeof(detail), "%s",
			    jv_str(s, "message"));
		else
			pairs_text(jv_obj(s, "metrics"), detail, sizeof(detail));
		cells[0] = jv_str(s, "name");
		cells[1] = jv_str(s, "type");
		cells[2] = st;
		cells[3] = n;
		cells[4] = span;
		cells[5] = detail;
		colors[2] = (enum table_color)jv_status_color(st);
		if ((rc = table_add(&t, cells, colors)) < 0)
			break;
	}
	if (rc == 0 && t.nrows > 0)
		rc = client_print_table(c, &t);
	table_release(&t);
	return rc;
}

static int
print_approvals(struct client *c, json_t *run)
{
	static const char *const head[] = { "APPROVAL", "STAGE", "STEP",
	    "WEIGHT", "STATUS", "BY", "COMMENT" };
	static const unsigned flags[] = { TABLE_RIGHT, TABLE_SHRINK,
	    TABLE_RIGHT, TABLE_RIGHT, 0, TABLE_SHRINK, TABLE_SHRINK };
	struct table t;
	json_t *ap;
	size_t i;
	int rc = 0;

	table_init(&t, 7, head, flags);
	json_array_foreach(jv_arr(run, "approvals"), i, ap) {
		char id[24], step[16], weight[16];
		const char *cells[7], *st = jv_str(ap, "status");
		enum table_color colors[7] = { 0 };

		(void)snprintf(id, sizeof(id), "%lld", jv_int(ap, "id", 0));
		(void)snprintf(step, sizeof(step), "%lld",
		    jv_int(ap, "step", 0));
		(void)snprintf(weight, sizeof(weight), "%lld%%",
		    jv_int(ap, "weight", 0));
		cells[0] = id;
		cells[1] = jv_str(ap, "stage");
		cells[2] = step;
		cells[3] = weight;
		cells[4] = st;
		cells[5] = jv_str(ap, "decided_by");
		cells[6] = jv_str(ap, "comment");
		colors[4] = (enum table_color)jv_status_color(st);
		if ((rc = table_add(&t, cells, colors)) < 0)
			break;
	}
	if (rc == 0 && t.nrows > 0) {
		putchar('\n');
		rc = client_print_table(c, &t);
	}
	table_release(&t);
	return rc;
}

int
cmd_runs_get(struct client *c, const struct cmdargs *a)
{
	char path[64], line[1024], when[64];
	json_t *j = NULL, *commit;
	long long id;
	const char *msg;
	int rc;

	if ((rc = client_id(c, "run", a->pos[0], &id)) != 0)
		return rc;
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld", id);
	if ((rc = client_get(c, path, &j)) != 0 || c->json)
		goto out;
	(void)snprintf(line, sizeof(line), "%lld", id);
	field(c, "Run", line);
	field(c, "Pipeline", jv_str(j, "pipeline"));
	printf("%s%-10s%s %s%s%s\n", c->color ? "\033[1m" : "", "Status",
	    c->color ? "\033[0m" : "", c->color ? (jv_status_color(
	    jv_str(j, "status")) == TC_GREEN ? "\033[32m" :
	    jv_status_color(jv_str(j, "status")) == TC_RED ? "\033[31m" :
	    "\033[33m") : "", jv_str(j, "status") != NULL ?
	    jv_str(j, "status") : "-", c->color ? "\033[0m" : "");
	if ((msg = jv_str(j, "message")) != NULL)
		field(c, "Message", msg);
	commit = jv_obj(j, "commit");
	msg = jv_str(commit, "message");
	(void)snprintf(line, sizeof(line), "%.12s%s%.*s",
	    jv_str(commit, "sha") != NULL ? jv_str(commit, "sha") : "-",
	    msg != NULL ? " " : "", msg != NULL ? (int)strcspn(msg, "\n") : 0,
	    msg != NULL ? msg : "");
	field(c, "Commit", line);
	field(c, "Branch", jv_str(j, "branch"));
	(void)snprintf(line, sizeof(line), "%s by %s",
	    jv_str(j, "trigger") != NULL ? jv_str(j, "trigger") : "-",
	    jv_str(j, "created_by") != NULL ? jv_str(j, "created_by") : "-");
	field(c, "Trigger", line);
	if (jv_int(j, "parent_run", 0) > 0) {
		(void)snprintf(line, sizeof(line), "retry of run %lld",
		    jv_int(j, "parent_run", 0));
		field(c, "Parent", line);
	}
	pairs_text(jv_obj(j, "params"), line, sizeof(line));
	field(c, "Params", line[0] != '\0' ? line : "-");
	jv_age(jv_str(j, "created_at"), when, sizeof(when));
	(void)snprintf(line, sizeof(line), "%s (%s ago)",
	    jv_str(j, "created_at") != NULL ? jv_str(j, "created_at") : "-",
	    when);
	field(c, "Created", line);
	span_text(j, when, sizeof(when));
	field(c, "Duration", when);
	putchar('\n');
	if ((rc = print_stages(c, j)) != 0 || (rc = print_approvals(c, j)) != 0)
		goto out;
out:
	json_decref(j);
	return rc;
}

/* ---- runs logs --------------------------------------------------------- */

static int
to_stdout(void *arg, const char *data, size_t len)
{
	(void)arg;
	if (fwrite(data, 1, len, stdout) != len)
		return -1;
	return fflush(stdout) == 0 ? 0 : -1;
}

/* One log request into stdout; *job is the attempt it showed. */
static int
stream_log(struct client *c, const char *path, char *job, size_t joblen)
{
	struct reply r;
	int rc;

	reply_init(&r);
	if ((rc = client_call(c, "GET", path, NULL, to_stdout, NULL,
	    &r)) == 0 && (r.status < 200 || r.status > 299))
		rc = client_refused(c, &r);
	if (rc == 0 && r.job[0] != '\0')
		(void)snprintf(job, joblen, "%s", r.job);
	reply_release(&r);
	return rc;
}

/* The stage named name of a run document, or NULL. */
static json_t *
find_stage(json_t *run, const char *name)
{
	json_t *s;
	size_t i;

	json_array_foreach(jv_arr(run, "stages"), i, s) {
		const char *n = jv_str(s, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return s;
	}
	return NULL;
}

static int
stage_done(const char *st)
{
	return st != NULL && (strcmp(st, "succeeded") == 0 ||
	    strcmp(st, "failed") == 0 || strcmp(st, "canceled") == 0 ||
	    strcmp(st, "skipped") == 0);
}

int
client_run_doc(struct client *c, long long id, json_t **out)
{
	int64_t since = -1;
	struct reply r;
	char path[64];
	int rc;

	*out = NULL;
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld", id);
	reply_init(&r);
	for (;;) {
		int quiet = c->quiet;

		c->quiet = 1;
		rc = client_call(c, "GET", path, NULL, NULL, NULL, &r);
		c->quiet = quiet;
		if (rc == 0 && r.status < 500) {
			rc = client_object(c, &r, out);
			break;
		}
		if (since < 0)
			since = sys_now_ms();
		if (sys_now_ms() - since > LIM_CLIENT_RETRY_MS) {
			client_say(c, "no answer from %s for %d s (%s)",
			    c->server, LIM_CLIENT_RETRY_MS / 1000, rc == 0 ?
			    "5xx" : "unreachable");
			rc = EXIT_USAGE;
			break;
		}
		usleep(LIM_CLIENT_POLL_MS * 1000);
	}
	reply_release(&r);
	return rc;
}

int
cmd_runs_logs(struct client *c, const struct cmdargs *a)
{
	char job[LIM_NAME + 1] = "";
	struct buf path;
	json_t *run = NULL;
	long long id;
	int rc;

	buf_init(&path, LIM_URL);
	if ((rc = client_id(c, "run", a->pos[0], &id)) != 0)
		goto out;
	if (buf_printf(&path, "/api/v1/runs/%lld/stages/", id) < 0 ||
	    client_escape(&path, a->pos[1]) < 0 ||
	    buf_puts(&path, a->follow ? "/logs?follow=1" : "/logs") < 0) {
		client_say(c, "stage name too long");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = stream_log(c, path.data, job, sizeof(job))) != 0 ||
	    !a->follow)
		goto out;
	/*
	 * The stream ends with its attempt.  Later attempts (a retry, the
	 * next canary step, a rollback) come after it in the stage's list,
	 * by id: follow each, until the stage has ended.
	 */
	for (;;) {
		json_t *stage, *att, *next;
		size_t i, n, start;

		json_decref(run);
		if ((rc = client_run_doc(c, id, &run)) != 0)
			goto out;
		if ((stage = find_stage(run, a->pos[1])) == NULL) {
			client_say(c, "run %lld has no stage '%s'", id,
			    a->pos[1]);
			rc = EXIT_REFUSED;
			goto out;
		}
		n = json_array_size(jv_arr(stage, "attempts"));
		start = job[0] == '\0' ? 0 : n;
		json_array_foreach(jv_arr(stage, "attempts"), i, att) {
			const char *name = jv_str(att, "job");

			if (job[0] != '\0' && name != NULL &&
			    strcmp(name, job) == 0)
				start = i + 1;
		}
		next = json_array_get(jv_arr(stage, "attempts"), start);
		if (next != NULL) {
			buf_reset(&path);
			if (buf_printf(&path, "/api/v1/runs/%lld/stages/", id) < 0 ||
			    client_escape(&path, a->pos[1]) < 0 ||
			    buf_printf(&path, "/logs?follow=1&attempt=%lld"
			    "&step=%lld", jv_int(next, "attempt", 1),
			    jv_int(next, "step", 0)) < 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			fprintf(stderr, "--- %s %s attempt %lld%s%.0lld ---\n",
			    a->pos[1], jv_str(next, "kind") != NULL ?
			    jv_str(next, "kind") : "", jv_int(next, "attempt", 1),
			    jv_int(next, "step", 0) > 0 ? " step " : "",
			    jv_int(next, "step", 0));
			(void)snprintf(job, sizeof(job), "%s",
			    jv_str(next, "job") != NULL ? jv_str(next, "job") :
			    "");
			if ((rc = stream_log(c, path.data, job,
			    sizeof(job))) != 0)
				goto out;
			continue;
		}
		if (stage_done(jv_str(stage, "status")))
			break;
		usleep(LIM_CLIENT_POLL_MS * 1000);
	}
out:
	json_decref(run);
	buf_release(&path);
	return rc;
}

/* ---- runs cancel, runs retry ------------------------------------------- */

int
cmd_runs_act(struct client *c, const struct cmdargs *a)
{
	const char *verb = strchr(c->cmd, ' ') + 1;
	char path[64];
	json_t *j = NULL;
	long long id;
	int rc;

	if ((rc = client_id(c, "run", a->pos[0], &id)) != 0)
		return rc;
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/%s", id, verb);
	if ((rc = client_post(c, path, NULL, &j)) == 0 && !c->json) {
		if (strcmp(verb, "cancel") == 0)
			printf("run %lld: cancel requested (%s)\n", id,
			    jv_str(j, "status") != NULL ? jv_str(j, "status") :
			    "-");
		else
			printf("run %lld queued: a retry of run %lld\n",
			    jv_int(j, "id", 0), id);
	}
	json_decref(j);
	return rc;
}
