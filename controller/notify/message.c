/*
 * message.c - the deliveries of one outbox row; see notify_int.h.
 *
 * Bodies are made here, once, and stored with the delivery, so a retry
 * sends the same bytes.  The subject is a JSON object built by the store
 * (store_notify_outbox_claim): run, pipeline, repository, sha, branch,
 * message, failed_stage, approval, model, rollout, validate, event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "notify/notify_int.h"
#include "store/store_notify.h"

/* GitHub refuses a description over 140 characters. */
#define DESCRIPTION_MAX	140

/*
 * Text past a buffer's cap is cut there (the caps are far above any real
 * message); the outcome of an append is deliberately not acted on.
 */
static void
capped(int rc)
{
	(void)rc;
}

void
notify_console_url(const struct cfg *cfg, struct buf *out)
{
	const char *u = cfg->public_url;
	size_t n;

	if (u == NULL || u[0] == '\0') {
		capped(buf_printf(out, "http://%s", cfg->listen));
		return;
	}
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		n--;
	capped(buf_append(out, u, n));
}

static const char *
str_of(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

static long long
int_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* Whether notification n subscribes to kind. */
static int
subscribes(const struct cfg_notification *n, const char *kind)
{
	for (size_t i = 0; i < n->nevents; i++) {
		if (strcmp(n->events[i], kind) == 0)
			return 1;
	}
	return 0;
}

/* Cut s to at most max bytes on a UTF-8 character boundary. */
static void
cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

/*
 * One line for people about the subject (also the description of a
 * commit status, cut to DESCRIPTION_MAX).
 */
static void
describe(const char *kind, const json_t *s, struct buf *out)
{
	const json_t *ap = json_object_get(s, "approval");
	const json_t *fs = json_object_get(s, "failed_stage");
	const json_t *m = json_object_get(s, "model");
	const json_t *ro = json_object_get(s, "rollout");
	const json_t *v = json_object_get(s, "validate");
	const json_t *fe = json_object_get(v, "first_error");

	if (strcmp(kind, "approval_requested") == 0)
		capped(buf_printf(out, "waiting for approval of %s step %lld "
		    "(weight %lld%%) on %s", str_of(ap, "stage"),
		    int_of(ap, "step"), int_of(ap, "weight"),
		    str_of(ap, "target")));
	else if (strcmp(kind, "run_queued") == 0)
		capped(buf_printf(out, "run %lld queued", int_of(s, "run")));
	else if (strcmp(kind, "run_succeeded") == 0)
		capped(buf_printf(out, "run %lld succeeded", int_of(s, "run")));
	else if (strcmp(kind, "run_canceled") == 0)
		capped(buf_printf(out, "run %lld canceled", int_of(s, "run")));
	else if (strcmp(kind, "run_failed") == 0 && fs != NULL)
		capped(buf_printf(out, "stage %s failed%s%s", str_of(fs, "name"),
		    json_object_get(fs, "message") ? ": " : "",
		    str_of(fs, "message")));
	else if (strcmp(kind, "run_failed") == 0)
		capped(buf_printf(out, "run %lld failed%s%s", int_of(s, "run"),
		    json_object_get(s, "message") ? ": " : "",
		    str_of(s, "message")));
	else if (strcmp(kind, "model_promoted") == 0)
		capped(buf_printf(out, "model %s version %lld promoted to "
		    "production on %s", str_of(m, "name"),
		    int_of(m, "version"), str_of(m, "target")));
	else if (strcmp(kind, "rollout_rolled_back") == 0)
		capped(buf_printf(out, "rollout on %s rolled back%s%s",
		    str_of(ro, "target"), json_object_get(ro, "message") ?
		    ": " : "", str_of(ro, "message")));
	else if (strcmp(kind, "commit_validated") == 0 && fe != NULL)
		capped(buf_printf(out, "%s:%lld:%lld: %s", str_of(fe, "file"),
		    int_of(fe, "line"), int_of(fe, "col"),
		    str_of(fe, "message")));
	else if (strcmp(kind, "commit_validated") == 0)
		capped(buf_printf(out, "%lld pipeline file%s valid",
		    int_of(v, "files"), int_of(v, "files") == 1 ? "" : "s"));
}

/* The console page of the subject: its run, else the pipelines. */
static void
page_url(const struct cfg *cfg, const json_t *s, struct buf *out)
{
	notify_console_url(cfg, out);
	if (int_of(s, "run") > 0)
		capped(buf_printf(out, "/#/runs/%lld", int_of(s, "run")));
	else
		capped(buf_puts(out, "/#/pipelines"));
}

static char *
dump(json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	if (t == NULL)
		abort();
	json_decref(o);
	return t;
}

/* The body of a notification in format fmt. */
static char *
notification_body(const struct cfg *cfg, const char *kind, int64_t outbox_id,
    const json_t *s, const char *fmt)
{
	struct buf line, url, text;
	char *body;

	buf_init(&line, LIM_NOTIFY_BODY);
	buf_init(&url, LIM_URL + 64);
	buf_init(&text, LIM_NOTIFY_BODY);
	describe(kind, s, &line);
	page_url(cfg, s, &url);
	if (strcmp(fmt, "json") == 0) {
		body = dump(json_pack("{s:s, s:I, s:s, s:s, s:O}", "event", kind,
		    "id", (json_int_t)outbox_id, "summary",
		    line.data ? line.data : "", "url", url.data ? url.data : "",
		    "subject", s));
	} else {
		/* Slack's mrkdwn: <url|label>; &, < and > are escaped. */
		if (json_object_get(s, "run") != NULL)
			capped(buf_printf(&text, "[sluice] %s run %lld: ",
			    str_of(s, "pipeline"), int_of(s, "run")));
		else
			capped(buf_puts(&text, "[sluice] "));
		for (const char *p = line.data ? line.data : ""; *p; p++) {
			if (*p == '&')
				capped(buf_puts(&text, "&amp;"));
			else if (*p == '<')
				capped(buf_puts(&text, "&lt;"));
			else if (*p == '>')
				capped(buf_puts(&text, "&gt;"));
			else
				capped(buf_putc(&text, *p));
		}
		capped(buf_printf(&text, " <%s|%s>", url.data ? url.data : "",
		    json_object_get(s, "run") ? "Open the run" :
		    "Open the console"));
		body = dump(json_pack("{s:s}", "text", text.data ?
		    text.data : ""));
	}
	buf_release(&line);
	buf_release(&url);
	buf_release(&text);
	return body;
}

/* Percent-encode a GitLab project path ("group/name" -> group%2Fname). */
static void
put_encoded(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~')
			capped(buf_putc(out, (char)ch));
		else
			capped(buf_printf(out, "%%%02X", ch));
	}
}

/* The commit status state of kind, in the provider's words. */
static const char *
status_state(const char *kind, const json_t *s, int github)
{
	if (strcmp(kind, "commit_validated") == 0)
		return int_of(json_object_get(s, "validate"), "invalid") > 0 ?
		    (github ? "failure" : "failed") : "success";
	if (strcmp(kind, "run_succeeded") == 0)
		return "success";
	if (strcmp(kind, "run_failed") == 0)
		return github ? "failure" : "failed";
	if (strcmp(kind, "run_canceled") == 0)
		return github ? "error" : "canceled";
	if (strcmp(kind, "run_queued") == 0 ||
	    strcmp(kind, "approval_requested") == 0)
		return "pending";
	return NULL;		/* no commit status for this kind */
}

/* The commit status of row, when its repository asks for them. */
static int
add_commit_status(const struct cfg *cfg, struct db *db,
    const struct notify_outbox_row *row, const json_t *s, struct err *err)
{
	struct notify_delivery_in d;
	const struct cfg_repo *r;
	const json_t *v = json_object_get(s, "validate");
	const char *repo, *sha, *state;
	struct buf desc, url, path, ctx, seq;
	char *body = NULL;
	int github, rc;

	repo = v != NULL ? str_of(v, "repository") : str_of(s, "repository");
	sha = v != NULL ? str_of(v, "sha") : str_of(s, "sha");
	if ((r = cfg_repo_find(cfg, repo)) == NULL || r->cs_provider == NULL ||
	    sha[0] == '\0')
		return 0;
	github = strcmp(r->cs_provider, "github") == 0;
	if ((state = status_state(row->kind, s, github)) == NULL)
		return 0;
	buf_init(&desc, LIM_NOTIFY_BODY);
	buf_init(&url, LIM_URL + 64);
	buf_init(&path, LIM_URL);
	buf_init(&ctx, 256);
	buf_init(&seq, LIM_URL);
	describe(row->kind, s, &desc);
	if (desc.data != NULL)
		cut_utf8(desc.data, DESCRIPTION_MAX);
	page_url(cfg, s, &url);
	if (v != NULL)
		capped(buf_puts(&ctx, "sluice/validate"));
	else
		capped(buf_printf(&ctx, "sluice/%s", str_of(s, "pipeline")));
	if (github) {
		capped(buf_printf(&path, "/repos/%s/statuses/%s", r->cs_repo,
		    sha));
		body = dump(json_pack("{s:s, s:s, s:s, s:s}", "state", state,
		    "target_url", url.data ? url.data : "", "description",
		    desc.data ? desc.data : "", "context", ctx.data));
	} else {
		capped(buf_puts(&path, "/projects/"));
		put_encoded(&path, r->cs_project);
		capped(buf_printf(&path, "/statuses/%s", sha));
		body = dump(json_pack("{s:s, s:s, s:s, s:s}", "state", state,
		    "target_url", url.data ? url.data : "", "description",
		    desc.data ? desc.data : "", "name", ctx.data));
	}
	capped(buf_printf(&seq, "%s|%s|%s", repo, sha, ctx.data));
	memset(&d, 0, sizeof(d));
	d.outbox_id = row->id;
	d.channel = "commit_status";
	d.target = repo;
	d.kind = row->kind;
	d.format = r->cs_provider;
	d.run_id = int_of(s, "run");
	d.context = ctx.data;
	d.sha = sha;
	d.path = path.data;
	d.body = body;
	d.seq_key = seq.data;
	rc = store_notify_delivery_add(db, &d, err);
	free(body);
	buf_release(&desc);
	buf_release(&url);
	buf_release(&path);
	buf_release(&ctx);
	buf_release(&seq);
	return rc;
}

int
notify_fan_out(const struct cfg *cfg, struct db *db,
    const struct notify_outbox_row *row, struct err *err)
{
	json_error_t je;
	json_t *s = NULL;
	int rc = 0;

	if (row->subject == NULL ||
	    (s = json_loads(row->subject, 0, &je)) == NULL ||
	    !json_is_object(s)) {
		log_warn("notify: unreadable subject", "outbox=%lld kind=%s",
		    (long long)row->id, row->kind ? row->kind : "-");
		goto out;
	}
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		const struct cfg_notification *n = &cfg->notifications[i];
		struct notify_delivery_in d;
		char *body;

		if (!subscribes(n, row->kind))
			continue;
		body = notification_body(cfg, row->kind, row->id, s,
		    n->format);
		memset(&d, 0, sizeof(d));
		d.outbox_id = row->id;
		d.channel = "notification";
		d.target = n->name;
		d.kind = row->kind;
		d.format = n->format;
		d.run_id = int_of(s, "run");
		d.body = body;
		rc = store_notify_delivery_add(db, &d, err);
		free(body);
		if (rc < 0)
			goto out;
	}
	rc = add_commit_status(cfg, db, row, s, err);
out:
	json_decref(s);
	return rc;
}
