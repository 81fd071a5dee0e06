/* api_runs.c - /api/v1/runs; see api_runs.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "http/api_common.h"
#include "http/api_runs.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_runs.h"
#include "store/dbpool.h"
#include "store/store_log.h"

/* The filters of GET /runs, as the query string gave them. */
struct runs_query {
	const char	*pipeline;
	int		 status;	/* of store_run_statuses; -1: any */
};

static int
runs_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	const struct runs_query *q = arg;
	struct runs_filter f;

	f.pipeline = q->pipeline;
	f.status = q->status >= 0 ? store_run_statuses[q->status] : NULL;
	return store_query_runs_list(db, &f, in, out, err);
}

void
api_runs_list(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct runs_query q = { .pipeline = NULL, .status = -1 };
	struct api_page pg;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "pipeline", .type = JSONIN_Q_STRING,
		  .out = &q.pipeline, .max = LIM_NAME },
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &q.status,
		  .choices = store_run_statuses },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	api_list_reply(ctx, rq, rs, params, &pg, "r1", 1, runs_query, &q);
}

/* GET of one run document (detail or lineage). */
static void
run_document(struct ctl *ctl, struct http_request *rq,
    struct http_response *rs,
    int (*get)(struct db *, int64_t, char **, struct err *))
{
	struct db *db = NULL;
	struct err err;
	char *json = NULL;
	int64_t id;

	err_clear(&err);
	if (jsonin_query(rq, (const struct jsonin_qparam[]){ { .name = NULL } },
	    &err) < 0 || api_path_id(rq->params[0], "run", &id, &err) < 0) {
		http_error_from(rs, &err);
		return;
	}
	if ((db = api_db(ctl, rs)) == NULL)
		return;
	if (get(db, id, &json, &err) < 0)
		http_error_from(rs, &err);
	else
		api_reply_json(rs, 200, json, strlen(json));
	free(json);
	api_db_done(ctl, db);
}

void
api_runs_get(void *ctx, struct http_request *rq, struct http_response *rs)
{
	run_document(ctx, rq, rs, store_query_run_get);
}

void
api_runs_lineage(void *ctx, struct http_request *rq, struct http_response *rs)
{
	run_document(ctx, rq, rs, store_query_run_lineage);
}

/* --- logs ------------------------------------------------------------- */

/*
 * The log comes from PostgreSQL, where the engine keeps it
 * (store/store_log.h), so it reads the same after the Job is gone, after
 * a restart and on every replica.  An attempt with no kept log yet (the
 * engine has not read it, or it ran before logs were kept) is read from
 * its local log file, if it has one, until the kept log appears.
 */
struct logstream {
	struct ctl		*ctl;
	int64_t			 run_id;
	char			 stage[LIM_NAME + 1];
	int			 attempt;	/* as asked: 0 = latest */
	int			 step;		/* as asked: -1 = any */
	int			 node;
	int			 follow;
	struct log_source	 src;		/* what is shown */
	int			 kept;		/* reading the kept log */
	int			 complete;	/* the kept log is complete */
	int64_t			 offset;	/* of the next byte to read */
	struct buf		 pending;	/* read, not yet sent */
	size_t			 pos;		/* sent of pending */
	int64_t			 sent;
	int			 final;		/* finished: drain, then end */
	int64_t			 started;	/* sys_now_ms() */
	int64_t			 checked;	/* sys_now_ms() */
};

static void
logstream_free(void *arg)
{
	struct logstream *ls = arg;

	if (ls == NULL)
		return;
	buf_release(&ls->pending);
	free(ls);
}

/*
 * Read a log file from ls->offset into ls->pending, as much as it has
 * room for (the part not read yet, not the whole file); 0 when absent.
 */
static int
read_log_from(struct logstream *ls, const char *path, struct err *err)
{
	char chunk[8192];
	size_t room = ls->pending.max - ls->pending.len;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, ERR_TRANSIENT, "cannot open the log of "
		    "'%s': %s", ls->src.job, strerror(errno));
	}
	while (room > 0) {
		size_t want = room < sizeof(chunk) ? room : sizeof(chunk);
		ssize_t n = pread(fd, chunk, want, (off_t)ls->offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_TRANSIENT, "cannot read the log "
			    "of '%s': %s", ls->src.job, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = buf_append(&ls->pending, chunk, (size_t)n)) < 0)
			break;
		ls->offset += n;
		room -= (size_t)n;
	}
	close(fd);
	return rc;
}

/* The local log file of an attempt that has no kept log. */
static int
read_file(struct logstream *ls, struct err *err)
{
	char path[LIM_PATH], name[16] = "log";

	if (ls->node == 0 && ls->src.log_path[0] != '\0')
		return read_log_from(ls, ls->src.log_path, err);
	if (strcmp(ls->src.executor, "local") != 0 || ls->ctl->cfg == NULL ||
	    ls->ctl->cfg->state_dir == NULL)
		return 0;
	if (ls->node > 0)
		(void)snprintf(name, sizeof(name), "log.%d", ls->node);
	/* The job name is a checked DNS label: no path tricks. */
	if (snprintf(path, sizeof(path), "%s/attempts/%s/%s",
	    ls->ctl->cfg->state_dir, ls->src.job, name) >= (int)sizeof(path))
		return err_set(err, ERR_TOOBIG, "log path too long");
	return read_log_from(ls, path, err);
}

/*
 * Is there a kept log now?  Switch to it (at the position reached in the
 * file, which the kept log repeats byte for byte).
 */
static int
look_for_kept(struct logstream *ls, struct db *db, struct err *err)
{
	struct log_head h;
	int rc;

	if ((rc = store_log_head(db, ls->src.attempt_id, ls->node, &h,
	    err)) < 0)
		return rc;
	if (!h.exists)
		return 0;
	if (!ls->kept && ls->offset > h.bytes)
		return 0;	/* the file is ahead: finish from the file */
	ls->kept = 1;
	ls->complete = h.complete;
	return 0;
}

/* Read what is new of the attempt's log into ls->pending. */
static int
read_more(struct logstream *ls, struct err *err)
{
	struct db *db = NULL;
	int64_t next;
	int rc;

	if (ls->src.attempt_id == 0)
		return 0;
	if ((rc = dbpool_acquire(ls->ctl->dbpool, &db, err)) < 0)
		return rc;
	if (!ls->kept && (rc = look_for_kept(ls, db, err)) < 0)
		goto out;
	if (ls->kept) {
		rc = store_log_read(db, ls->src.attempt_id, ls->node,
		    ls->offset, &ls->pending, &next, err);
		if (rc == 0)
			ls->offset = next;
	} else {
		rc = read_file(ls, err);
	}
out:
	dbpool_release(ls->ctl->dbpool, db);
	return rc;
}

/*
 * Look at the attempt in the database again (following): pick up an
 * attempt that started, notice one that finished and a kept log that is
 * complete.
 */
static void
recheck(struct logstream *ls)
{
	struct log_source now;
	struct db *db = NULL;
	struct err err;

	ls->checked = sys_now_ms();
	if (dbpool_acquire(ls->ctl->dbpool, &db, &err) < 0)
		return;		/* try again at the next check */
	if (store_query_log_source(db, ls->run_id, ls->stage, ls->attempt,
	    ls->step, &now, &err) < 0) {
		if (err.code == ERR_NOTFOUND)
			ls->final = 1;	/* the run went away */
		dbpool_release(ls->ctl->dbpool, db);
		return;
	}
	if (ls->src.attempt_id == 0 && now.attempt_id != 0) {
		ls->src = now;	/* the first attempt started */
		ls->offset = 0;
	} else if (ls->src.attempt_id == now.attempt_id) {
		ls->src.attempt_done = now.attempt_done;
		if (ls->src.log_path[0] == '\0')
			memcpy(ls->src.log_path, now.log_path,
			    sizeof(now.log_path));
	}
	if (ls->src.attempt_id != 0)
		(void)look_for_kept(ls, db, &err);
	dbpool_release(ls->ctl->dbpool, db);
	if ((ls->src.attempt_id != 0 && (ls->kept ? ls->complete :
	    ls->src.attempt_done)) ||
	    (ls->src.attempt_id == 0 && now.stage_done))
		ls->final = 1;
}

static long
logstream_read(void *arg, char *out, size_t max)
{
	struct logstream *ls = arg;
	struct err err;
	size_t n;

	if (ls->pos >= ls->pending.len) {
		buf_reset(&ls->pending);
		ls->pos = 0;
		if (ls->sent >= LIM_STAGE_LOG ||
		    sys_now_ms() - ls->started > (int64_t)LIM_LOG_FOLLOW_S * 1000)
			return -1;
		if (read_more(ls, &err) < 0) {
			log_warn("log view", "run=%lld stage=%s error=\"%s\"",
			    (long long)ls->run_id, ls->stage, err.msg);
			return -1;
		}
		if (ls->pending.len == 0) {
			if (!ls->follow || ls->final)
				return -1;
			if (sys_now_ms() - ls->checked >= LIM_LOG_POLL_MS)
				recheck(ls);
			return 0;	/* called again after a short wait */
		}
	}
	n = ls->pending.len - ls->pos;
	if (n > max)
		n = max;
	if ((int64_t)n > LIM_STAGE_LOG - ls->sent)
		n = (size_t)(LIM_STAGE_LOG - ls->sent);
	memcpy(out, ls->pending.data + ls->pos, n);
	ls->pos += n;
	ls->sent += (int64_t)n;
	return (long)n;
}

void
api_runs_logs(void *ctx, struct http_request *rq, struct http_response *rs)
{
	struct ctl *ctl = ctx;
	struct logstream *ls = NULL;
	int64_t attempt = 0, step = -1, node = 0;
	int follow = 0, has_attempt = 0;
	struct db *db = NULL;
	struct err err;
	char v[32];
	const struct jsonin_qparam params[] = {
		{ .name = "attempt", .type = JSONIN_Q_INT, .out = &attempt,
		  .present = &has_attempt, .min = 1, .max = 1000000 },
		{ .name = "step", .type = JSONIN_Q_INT, .out = &step,
		  .min = 0, .max = LIM_CANARY_STEPS },
		{ .name = "node", .type = JSONIN_Q_INT, .out = &node,
		  .min = 0, .max = LIM_LOG_NODES - 1 },
		{ .name = "follow", .type = JSONIN_Q_BOOL, .out = &follow },
		{ .name = NULL },
	};

	err_clear(&err);
	ls = xcalloc(1, sizeof(*ls));
	if (jsonin_query(rq, params, &err) < 0 ||
	    api_path_id(rq->params[0], "run", &ls->run_id, &err) < 0)
		goto fail;
	if (str_copy(ls->stage, sizeof(ls->stage), rq->params[1]) < 0) {
		err_set(&err, ERR_NOTFOUND, "run %lld has no stage '%.64s'",
		    (long long)ls->run_id, rq->params[1]);
		goto fail;
	}
	ls->ctl = ctl;
	ls->attempt = (int)attempt;
	ls->step = (int)step;
	ls->node = (int)node;
	ls->follow = follow;
	buf_init(&ls->pending, LIM_LOG_KEEP_CHUNK + LIM_LOG_KEEP_MARKER);
	ls->started = sys_now_ms();
	ls->checked = ls->started;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	if (store_query_log_source(db, ls->run_id, ls->stage, ls->attempt,
	    ls->step, &ls->src, &err) < 0)
		goto fail;
	if (ls->src.attempt_id == 0 && (has_attempt || step >= 0)) {
		err_set(&err, ERR_NOTFOUND, "stage '%s' of run %lld has no "
		    "such attempt", ls->stage, (long long)ls->run_id);
		goto fail;
	}
	if (ls->src.attempt_id != 0 && ls->node >= ls->src.nodes) {
		err_set(&err, ERR_NOTFOUND, "attempt %d of stage '%s' of run "
		    "%lld has no node %d (it runs on %d)", ls->src.attempt,
		    ls->stage, (long long)ls->run_id, ls->node, ls->src.nodes);
		goto fail;
	}
	if (ls->src.attempt_id != 0 && look_for_kept(ls, db, &err) < 0)
		goto fail;
	if ((ls->src.attempt_id != 0 && (ls->kept ? ls->complete :
	    ls->src.attempt_done)) ||
	    (ls->src.attempt_id == 0 && ls->src.stage_done))
		ls->final = 1;
	if (ls->src.attempt_id != 0) {
		(void)snprintf(v, sizeof(v), "%d", ls->src.attempt);
		if (http_set_header(rs, "X-Sluice-Attempt", v) < 0 ||
		    http_set_header(rs, "X-Sluice-Job", ls->src.job) < 0) {
			http_error(rs, 500, "internal", "too many headers");
			goto out;
		}
	}
	if (http_set_header(rs, "Cache-Control", "no-store") < 0) {
		http_error(rs, 500, "internal", "too many headers");
		goto out;
	}
	http_stream(rs, "text/plain; charset=utf-8", logstream_read, ls,
	    logstream_free);
	ls = NULL;	/* the response owns it */
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	logstream_free(ls);
}
