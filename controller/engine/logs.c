/*
 * logs.c - what the engine keeps of an attempt's log and what it reads
 * back from it (metrics, artifacts) when the attempt ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "exec/executor.h"
#include "pipeline/stage_log.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/store_log.h"
#include "store/store_output.h"
/*
 * The engine keeps every attempt's log in PostgreSQL (store_log.h): each
 * pass reads what a running attempt printed since the last one through
 * the executor, cuts it after its last newline (stage_log.h) and stores
 * the chunk, the head's new position and the metrics and artifacts of
 * those lines in one transaction.  A finished attempt's log is read to
 * its end and marked complete before the attempt is released (its Job
 * deleted).
 */

static int64_t
log_cap(const struct engine *e)
{
	if (e->o.log_max_bytes > 0)
		return e->o.log_max_bytes;
	return e->cfg->logs_max_bytes > 0 ? e->cfg->logs_max_bytes :
	    DEFAULT_LOG_MAX_BYTES;
}

static struct eng_tail *
tail_get(struct engine *e, int64_t attempt_id, int node)
{
	struct eng_tail *t;

	for (size_t i = 0; i < e->ntails; i++)
		if (e->tails[i].attempt_id == attempt_id &&
		    e->tails[i].node == node)
			return &e->tails[i];
	if (e->ntails >= LIM_ENGINE_TAILS)
		return NULL;
	if (sys_grow((void **)&e->tails, e->ntails, &e->tails_cap,
	    sizeof(*e->tails), 0) < 0)
		abort();
	t = &e->tails[e->ntails++];
	memset(t, 0, sizeof(*t));
	t->attempt_id = attempt_id;
	t->node = node;
	t->fresh = 1;
	buf_init(&t->rest, LIM_LOG_KEEP_CHUNK);
	return t;
}

static void
tail_drop_at(struct engine *e, size_t i)
{
	buf_release(&e->tails[i].rest);
	e->tails[i] = e->tails[--e->ntails];
}

void
eng_log_drop(struct engine *e, int64_t attempt_id)
{
	for (size_t i = 0; i < e->ntails;) {
		if (e->tails[i].attempt_id == attempt_id)
			tail_drop_at(e, i);
		else
			i++;
	}
}

/* Forget the tails of attempts the last pass did not look at. */
void
eng_log_gc(struct engine *e)
{
	for (size_t i = 0; i < e->ntails;) {
		if (e->tails[i].seen != e->pass)
			tail_drop_at(e, i);
		else
			i++;
	}
}

/* Start again from what is stored (after a failed or refused write). */
static int
tail_load(struct engine *e, struct eng_tail *t, struct err *err)
{
	int rc;

	t->loaded = 0;
	t->fresh = 0;
	buf_reset(&t->rest);
	if ((rc = store_log_head(engine_db(e), t->attempt_id, t->node,
	    &t->head, err)) < 0)
		return rc;
	t->read_pos = t->head.offset;
	t->loaded = 1;
	return 0;
}

/* A new tail starts from the head the pass's snapshot read (node 0). */
static void
tail_seed(struct eng_tail *t, const struct snap_log *h)
{
	memset(&t->head, 0, sizeof(t->head));
	t->head.exists = h->exists;
	(void)str_copy(t->head.source, sizeof(t->head.source),
	    h->source != NULL ? h->source : "");
	t->head.offset = h->offset;
	t->head.bytes = h->bytes;
	t->head.lines = h->lines;
	t->head.dropped = h->dropped;
	t->head.mid_line = h->mid_line;
	t->head.open_line = h->open_line;
	t->head.complete = h->complete;
	buf_reset(&t->rest);
	t->read_pos = t->head.offset;
	t->fresh = 0;
	t->loaded = 1;
}

/*
 * Store a new head (with the chunk data[0, len) and the outputs o) and
 * make it the tail's.  ERR_CONFLICT: the tail is reloaded.
 */
static int
tail_store(struct engine *e, struct eng_tail *t, const struct log_head *now,
    const char *data, size_t len, const struct stage_output *o,
    int64_t reported_ms, struct err *err)
{
	struct err lerr;
	int rc;

	rc = store_log_append(engine_db(e), t->attempt_id, t->node, &t->head,
	    now, data, len, o, reported_ms, err);
	if (rc == ERR_CONFLICT) {
		(void)tail_load(e, t, &lerr);
		return rc;
	}
	if (rc < 0)
		return rc;
	t->head = *now;
	return 0;
}

/* The source changed (a new pod): mark it in the kept log, read it from 0. */
static int
tail_new_source(struct engine *e, struct eng_tail *t, const char *source,
    struct err *err)
{
	struct log_head now = t->head;
	struct stage_log_pos p = { t->head.bytes, t->head.dropped,
	    t->head.open_line };
	char m[LIM_LOG_KEEP_MARKER];
	size_t n = stage_log_source_changed(&p, source, m, sizeof(m));
	int rc;

	if (p.dropped > 0)
		n = 0;		/* the kept log has ended */
	(void)str_copy(now.source, sizeof(now.source), source);
	now.offset = 0;
	now.mid_line = 0;
	now.bytes += (int64_t)n;
	if (n > 0)
		now.open_line = 0;
	if ((rc = tail_store(e, t, &now, m, n, NULL, 0, err)) < 0)
		return rc;
	buf_reset(&t->rest);
	t->read_pos = 0;
	log_info("attempt log source changed", "attempt=%lld node=%d "
	    "source=%s", (long long)t->attempt_id, t->node, source);
	return 0;
}

/*
 * One step: read on from the tail's read position, store the whole lines
 * (with final, an ended attempt's last line too, the truncation marker
 * and the head marked complete).  *moved: bytes read or stored (0: the
 * executor had nothing new).  Errors: the executor's and the database's
 * (the caller tries again later).
 */
static int
tail_step(struct engine *e, struct eng_tail *t, const char *job, int final,
    int64_t reported_ms, size_t *moved, struct err *err)
{
	struct log_head now;
	struct stage_log_pos p;
	struct stage_log_cut c;
	struct stage_output out;
	struct buf chunk;
	char source[LIM_LOG_SOURCE + 1];
	size_t before = t->rest.len, got = 0, n;
	int64_t next = t->read_pos;
	int rc = 0, end = 0;

	*moved = 0;
	stage_output_init(&out);
	buf_init(&chunk, LIM_LOG_KEEP_CHUNK + LIM_LOG_KEEP_MARKER);
	source[0] = '\0';
	if (t->rest.len < t->rest.max) {
		rc = e->ex.ops->logs(e->ex.impl, job, t->node, t->read_pos,
		    &t->rest, &next, source, sizeof(source), err);
		if (rc == ERR_NOTFOUND) {
			/* no log yet, or (ended) none any more: what we have */
			rc = 0;
			(void)str_copy(source, sizeof(source), t->head.source);
			next = t->read_pos;
		}
		if (rc < 0) {
			t->rest.len = before;
			goto out;
		}
		got = t->rest.len - before;
		if ((got > 0 || source[0] != '\0') &&
		    strcmp(source, t->head.source) != 0) {
			if (t->head.source[0] != '\0' || t->head.offset > 0) {
				t->rest.len = before;
				rc = tail_new_source(e, t, source, err);
				*moved = 1;
				goto out;
			}
			/* the first read names the source */
			(void)str_copy(t->head.source, sizeof(t->head.source),
			    source);
		}
		t->read_pos = next;
		end = final && got == 0;
	} else {
		end = 0;	/* a line as long as the buffer: cut below */
	}
	if (t->rest.len == 0 && !end)
		goto out;
	now = t->head;
	p.kept = now.bytes;
	p.dropped = now.dropped;
	p.open_line = now.open_line;
	stage_log_cut(&p, log_cap(e), t->rest.data, t->rest.len, end,
	    t->rest.len == t->rest.max, &c);
	if (c.take == 0 && !end)
		goto out;
	stage_output_resume(&out, now.lines, now.mid_line);
	stage_output_feed(&out, t->rest.data, c.take);
	if (end)
		stage_output_finish(&out);
	if (c.keep > 0 && buf_append(&chunk, t->rest.data, c.keep) < 0)
		abort();	/* keep <= LIM_LOG_KEEP_CHUNK */
	now.offset += (int64_t)c.take;
	now.bytes = p.kept;
	now.dropped = p.dropped;
	now.open_line = p.open_line;
	now.lines = out.line;
	now.mid_line = c.mid_line;
	if (end) {
		char m[LIM_LOG_KEEP_MARKER];

		n = stage_log_truncated(&p, log_cap(e), m, sizeof(m));
		if (n > 0 && buf_append(&chunk, m, n) < 0)
			abort();
		now.bytes += (int64_t)n;
		now.complete = 1;
	}
	/* metrics and artifacts are node 0's (the others' logs are kept) */
	if ((rc = tail_store(e, t, &now, chunk.data, chunk.len,
	    t->node == 0 ? &out : NULL, reported_ms, err)) < 0)
		goto out;
	if (t->node == 0 && out.ignored > 0)
		log_warn("malformed ::metric/::artifact items ignored",
		    "job=%s count=%zu", job, out.ignored);
	/* what was not taken (a partial line) waits for the next read */
	memmove(t->rest.data, t->rest.data + c.take, t->rest.len - c.take);
	t->rest.len -= c.take;
	*moved = c.take + (end ? 1 : 0);
out:
	if (got > *moved)
		*moved = got;
	buf_release(&chunk);
	stage_output_release(&out);
	return rc;
}

/* What keep_log() saw of a log this pass. */
enum { LOG_IDLE, LOG_GREW, LOG_MORE };

/*
 * Keep what node `node` of an attempt printed, at most LIM_LOG_KEEP_PASS
 * bytes this pass.  final: the attempt has ended; 1 is returned once its
 * log is complete.  0: not complete yet.  *more: LOG_MORE when there is
 * more to read at once, LOG_GREW when some was kept, else LOG_IDLE.
 * Errors: tail_step()'s.
 */
static int
keep_log(struct eng_pass *ps, const struct snap_attempt *att, int node,
    int final, int64_t reported_ms, int *more, struct err *err)
{
	struct engine *e = ps->e;
	struct eng_tail *t = tail_get(e, att->id, node);
	const char *job = att->job_name;
	size_t moved, total = 0;
	int rc;

	*more = LOG_IDLE;
	if (t == NULL)
		return err_set(err, ERR_TRANSIENT, "too many logs read at once");
	t->seen = e->pass;
	if (!t->loaded && t->fresh && node == 0 && att->log0_read)
		tail_seed(t, &att->log0);
	if (!t->loaded && (rc = tail_load(e, t, err)) < 0)
		return rc;
	while (!t->head.complete) {
		if ((rc = tail_step(e, t, job, final, reported_ms, &moved,
		    err)) < 0)
			return rc;
		if (moved == 0) {
			*more = total > 0 ? LOG_GREW : LOG_IDLE;
			return 0;
		}
		total += moved;
		if (total >= LIM_LOG_KEEP_PASS) {
			*more = LOG_MORE;
			return 0;
		}
	}
	return 1;
}

/* The number of nodes an attempt runs on (one log each). */
static int
attempt_nodes(const struct snap_attempt *att)
{
	return att->nodes > 1 ? att->nodes : 1;
}

/*
 * The log of node node of the attempt is kept whole (complete) and had
 * not a byte: it reported nothing.
 */
static int
log_empty(struct engine *e, int64_t attempt_id, int node)
{
	for (size_t i = 0; i < e->ntails; i++) {
		const struct log_head *h = &e->tails[i].head;

		if (e->tails[i].attempt_id == attempt_id &&
		    e->tails[i].node == node)
			return e->tails[i].loaded && h->complete &&
			    h->bytes == 0 && h->dropped == 0 &&
			    h->lines == 0 && !h->mid_line;
	}
	return 0;
}

/* Keep what a running attempt printed since the last pass. */
void
eng_log_keep_running(struct eng_pass *ps, const struct snap_attempt *att)
{
	struct err err;
	int more;

	for (int node = 0; node < attempt_nodes(att); node++) {
		if (keep_log(ps, att, node, 0, 0, &more, &err) < 0) {
			log_warn("cannot keep attempt log, will retry", "job=%s "
			    "node=%d error=\"%s\"", att->job_name, node,
			    err.msg);
			continue;
		}
		/*
		 * A log that grew is read again a poll later, not only at the
		 * next sweep: what a running stage prints reaches the API
		 * about as it prints it; a quiet stage costs nothing.
		 */
		if (more != LOG_IDLE)
			pass_wake_in(ps, more == LOG_MORE ? 0 : ps->e->o.poll_ms);
	}
}

/*
 * Keep the rest of an ended attempt's log and read back what it
 * reported.  1 when every node's log is complete (out filled), 0 when
 * not yet (the caller tries again at the next pass).  Errors: keep_log()'s
 * and the database's.
 */
int
eng_log_read_output(struct eng_pass *ps, const struct snap_attempt *att,
    int64_t finished_ms, struct stage_output *out, struct err *err)
{
	int rc, more, done = 1, empty = 1;

	for (int node = 0; node < attempt_nodes(att); node++) {
		if ((rc = keep_log(ps, att, node, 1, finished_ms, &more,
		    err)) < 0)
			return rc;
		if (rc == 0) {
			done = 0;
			pass_wake_in(ps, more == LOG_MORE ? 0 : ps->e->o.poll_ms);
		}
	}
	if (!done)
		return 0;
	/* logs without a line (every node's) reported nothing: no read */
	for (int node = 0; node < attempt_nodes(att); node++)
		empty &= log_empty(ps->e, att->id, node);
	if (empty)
		return 1;
	if ((rc = store_output_load(pass_db(ps), att->id, out, err)) < 0)
		return rc;
	return 1;
}

