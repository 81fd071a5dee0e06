/* api_lineage.c - lineage from a commit, the audit export; see api_lineage.h. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/units.h"
#include "http/api_common.h"
#include "http/api_lineage.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_audit.h"
#include "query/store_query_runs.h"
#include "store/dbpool.h"

/* A commit prefix: 7 to 64 hex digits, lowercased into out (65 bytes). */
static int
commit_prefix(const char *s, char *out, struct err *err)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (s == NULL)
		return err_set(err, ERR_INVALID, "query parameter \"commit\" "
		    "is required");
	if (n < 7 || n > 64)
		return err_set(err, ERR_INVALID, "query parameter \"commit\": "
		    "expected 7 to 64 hex digits of a commit id, got %zu "
		    "characters", n);
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return err_set(err, ERR_INVALID, "query parameter "
			    "\"commit\": '%.64s' is not a hex commit id", s);
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[n] = '\0';
	return 0;
}

void
api_lineage_commit(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct ctl *ctl = ctx;
	const char *commit = NULL;
	const struct jsonin_qparam params[] = {
		{ .name = "commit", .type = JSONIN_Q_STRING, .out = &commit,
		  .max = 128 },
		{ .name = NULL },
	};
	struct db *db = NULL;
	struct err err;
	char prefix[65], *json = NULL;
	int rc;

	err_clear(&err);
	if (jsonin_query(rq, params, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	/* the database first, as every route: an outage is 503 whatever */
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if ((rc = commit_prefix(commit, prefix, &err)) == 0)
		rc = store_query_commit_lineage(db, prefix, &json, &err);
	if (rc == ERR_CONFLICT)
		http_error(rs, 409, "ambiguous", "%s", err.msg);
	else if (rc < 0)
		http_error_from(rs, &err);
	else
		api_reply_json(rs, 200, json, strlen(json));
	free(json);
	api_db_done(ctl, db);
}

/* --- audit ------------------------------------------------------------ */

/* Records read per page of the CSV stream. */
#define AUDIT_CSV_PAGE	200

static const char *const audit_formats[] = { "json", "csv", NULL };

struct audit_query {
	const char		*since;
	const char		*until;
	int			 format;	/* of audit_formats; -1: json */
	struct audit_window	 w;
};

/* The window from ?since= and ?until=. */
static int
audit_window(struct audit_query *q, struct err *err)
{
	q->w.since_ms = 0;
	q->w.until_ms = INT64_MAX;
	if (q->since != NULL && units_parse_rfc3339(q->since,
	    &q->w.since_ms) < 0)
		return err_set(err, ERR_INVALID, "query parameter \"since\": "
		    "'%.64s' is not an RFC 3339 time "
		    "(2026-11-21T21:50:00Z)", q->since);
	if (q->until != NULL && units_parse_rfc3339(q->until,
	    &q->w.until_ms) < 0)
		return err_set(err, ERR_INVALID, "query parameter \"until\": "
		    "'%.64s' is not an RFC 3339 time "
		    "(2026-11-21T21:50:00Z)", q->until);
	if (q->w.until_ms <= q->w.since_ms)
		return err_set(err, ERR_INVALID, "query parameter \"until\" "
		    "must be later than \"since\"");
	return 0;
}

static int
audit_json(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	struct audit_query *q = arg;
	int rc;

	if ((rc = audit_window(q, err)) < 0)
		return rc;
	return store_query_audit_page(db, &q->w, in, out, err);
}

/* The CSV stream: pages read as the client takes them. */
struct auditstream {
	struct ctl		*ctl;
	struct audit_window	 w;
	int64_t			 after;		/* last event id read */
	int			 done;		/* the last page was read */
	struct buf		 pending;	/* read, not yet sent */
	size_t			 pos;		/* sent of pending */
};

static void
auditstream_free(void *arg)
{
	struct auditstream *as = arg;

	if (as == NULL)
		return;
	buf_release(&as->pending);
	free(as);
}

/* Read the next page into as->pending (emptied first; the header first). */
static int
auditstream_fill(struct auditstream *as, struct db *db, int header,
    struct err *err)
{
	size_t rows;
	int rc;

	buf_reset(&as->pending);
	as->pos = 0;
	if (header && (rc = buf_puts(&as->pending,
	    store_query_audit_csv_header)) < 0)
		return err_set(err, rc, "the audit export's buffer is full");
	if ((rc = store_query_audit_csv(db, &as->w, &as->after,
	    AUDIT_CSV_PAGE, &as->pending, &rows, err)) < 0)
		return rc;
	if (rows < AUDIT_CSV_PAGE)
		as->done = 1;
	return 0;
}

static long
auditstream_read(void *arg, char *out, size_t max)
{
	struct auditstream *as = arg;
	size_t n;

	if (as->pos == as->pending.len) {
		struct db *db = NULL;
		struct err err;
		int rc;

		if (as->done)
			return -1;
		if (dbpool_acquire(as->ctl->dbpool, &db, &err) < 0) {
			log_warn("audit export cut short", "error=\"%s\"",
			    err.msg);
			return -1;
		}
		rc = auditstream_fill(as, db, 0, &err);
		dbpool_release(as->ctl->dbpool, db);
		if (rc < 0) {
			log_warn("audit export cut short", "error=\"%s\"",
			    err.msg);
			return -1;
		}
		if (as->pending.len == 0)
			return -1;
	}
	n = as->pending.len - as->pos;
	if (n > max)
		n = max;
	memcpy(out, as->pending.data + as->pos, n);
	as->pos += n;
	return (long)n;
}

/*
 * The CSV answer: the header and the first page are read before the
 * answer starts, so a bad window or a database outage is still a proper
 * error status.
 */
static void
audit_csv(struct ctl *ctl, struct audit_query *q, struct http_response *rs)
{
	struct auditstream *as = NULL;
	struct db *db = NULL;
	struct err err;

	err_clear(&err);
	if (audit_window(q, &err) < 0)
		goto fail;
	as = xcalloc(1, sizeof(*as));
	as->ctl = ctl;
	as->w = q->w;
	buf_init(&as->pending, LIM_HTTP_RESPONSE);
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (auditstream_fill(as, db, 1, &err) < 0)
		goto fail;
	if (http_set_header(rs, "Content-Disposition",
	    "attachment; filename=\"sluice-audit.csv\"") < 0 ||
	    http_set_header(rs, "Cache-Control", "no-store") < 0) {
		http_error(rs, 500, "internal", "too many headers");
		goto out;
	}
	http_stream(rs, "text/csv; charset=utf-8; header=present",
	    auditstream_read, as, auditstream_free);
	as = NULL;	/* the response owns it */
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	auditstream_free(as);
}

void
api_audit(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct audit_query q = { .since = NULL, .until = NULL, .format = -1 };
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "since", .type = JSONIN_Q_STRING, .out = &q.since,
		  .max = 64 },
		{ .name = "until", .type = JSONIN_Q_STRING, .out = &q.until,
		  .max = 64 },
		{ .name = "format", .type = JSONIN_Q_ENUM, .out = &q.format,
		  .choices = audit_formats },
		{ .name = NULL },
	};
	const char *fmt = http_query(rq, "format");

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	if (fmt != NULL && strcmp(fmt, "csv") == 0) {
		struct err err;

		err_clear(&err);
		if (jsonin_query(rq, params, &err) < 0) {
			http_error_from(rs, &err);
			return;
		}
		if (pg.cursor != NULL) {
			http_error(rs, 400, "invalid", "query parameter "
			    "\"cursor\" is for format=json only");
			return;
		}
		audit_csv(ctx, &q, rs);
		return;
	}
	api_list_reply(ctx, rq, rs, params, &pg, "au1", 1, audit_json, &q);
}
