/* store_log.c - the kept logs of attempts; see store_log.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/sys.h"
#include "pipeline/stage_output.h"
#include "store/db.h"
#include "store/store_log.h"
#include "store/store_output.h"

static const char sql_head[] =
    "SELECT source, source_offset, bytes, lines, dropped, mid_line,"
    "  open_line, complete"
    " FROM attempt_log_heads WHERE attempt_id = $1 AND node = $2";

/* $3.. the new head; $11.. the old one (source, offset, bytes). */
static const char sql_move[] =
    "INSERT INTO attempt_log_heads AS h (attempt_id, node, source,"
    "  source_offset, bytes, lines, dropped, mid_line, open_line, complete)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (attempt_id, node) DO UPDATE SET source = excluded.source,"
    "  source_offset = excluded.source_offset, bytes = excluded.bytes,"
    "  lines = excluded.lines, dropped = excluded.dropped,"
    "  mid_line = excluded.mid_line, open_line = excluded.open_line,"
    "  complete = excluded.complete"
    " WHERE h.source = $11 AND h.source_offset = $12 AND h.bytes = $13"
    "  AND NOT h.complete";

static const char sql_chunk[] =
    "INSERT INTO attempt_log_chunks (attempt_id, node, pos, data)"
    " VALUES ($1, $2, $3, decode($4, 'hex'))";

static const char sql_read[] =
    "SELECT pos, data FROM attempt_log_chunks"
    " WHERE attempt_id = $1 AND node = $2 AND pos > $3::bigint - $5::bigint"
    "  AND pos + length(data) > $3::bigint"
    " ORDER BY pos LIMIT $4";

int
store_log_head(struct db *db, int64_t attempt_id, int node,
    struct log_head *out, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	memset(out, 0, sizeof(*out));
	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, node);
	if ((rc = db_exec(db, sql_head, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0)
		goto out;
	if ((rc = db_res_int64(res, 0, 1, &out->offset, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 2, &out->bytes, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 3, &out->lines, err)) < 0 ||
	    (rc = db_res_int64(res, 0, 4, &out->dropped, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 5, &out->mid_line, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 6, &out->open_line, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 7, &out->complete, err)) < 0)
		goto out;
	(void)str_copy(out->source, sizeof(out->source), db_res_text(res, 0, 0));
	out->exists = 1;
out:
	db_res_free(res);
	return rc;
}

static int
append_in_tx(struct db *db, int64_t attempt_id, int node,
    const struct log_head *old, const struct log_head *now, const char *data,
    size_t len, const struct stage_output *o, int64_t reported_ms,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	char *hex = NULL;
	int rc;

	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, node);
	db_args_str(&a, now->source);
	db_args_int64(&a, now->offset);
	db_args_int64(&a, now->bytes);
	db_args_int64(&a, now->lines);
	db_args_int64(&a, now->dropped);
	db_args_bool(&a, now->mid_line);
	db_args_bool(&a, now->open_line);
	db_args_bool(&a, now->complete);
	db_args_str(&a, old->source);
	db_args_int64(&a, old->offset);
	db_args_int64(&a, old->bytes);
	if ((rc = db_exec(db, sql_move, &a, &res, err)) < 0)
		return rc;
	if (db_res_affected(res) != 1) {
		db_res_free(res);
		return err_set(err, ERR_CONFLICT, "the kept log of attempt %lld "
		    "node %d moved meanwhile", (long long)attempt_id, node);
	}
	db_res_free(res);
	if (len > 0) {
		hex = xcalloc(2 * len + 1, 1);
		hash_hex((const unsigned char *)data, len, hex);
		db_args_init(&a);
		db_args_int64(&a, attempt_id);
		db_args_int64(&a, node);
		db_args_int64(&a, old->bytes);
		db_args_str(&a, hex);
		rc = db_exec(db, sql_chunk, &a, NULL, err);
		free(hex);
		if (rc < 0)
			return rc;
	}
	if (o != NULL)
		rc = store_output_save(db, attempt_id, o, reported_ms, err);
	return rc;
}

int
store_log_append(struct db *db, int64_t attempt_id, int node,
    const struct log_head *old, const struct log_head *now, const char *data,
    size_t len, const struct stage_output *o, int64_t reported_ms,
    struct err *err)
{
	int rc;

	/* only the head moves: one statement is its own transaction */
	if (len == 0 && (o == NULL || (o->nmetrics == 0 &&
	    o->nartifacts == 0)))
		return append_in_tx(db, attempt_id, node, old, now, data, len,
		    o, reported_ms, err);
	if ((rc = db_begin(db, err)) < 0)
		return rc;
	if ((rc = append_in_tx(db, attempt_id, node, old, now, data, len, o,
	    reported_ms, err)) < 0) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db, err);
}

int
store_log_read(struct db *db, int64_t attempt_id, int node, int64_t pos,
    struct buf *out, int64_t *next, struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	size_t room = out->max > out->len ? out->max - out->len : 0;
	size_t fit = room / (LIM_LOG_KEEP_CHUNK + LIM_LOG_KEEP_MARKER);
	int rc;

	*next = pos;
	if (fit == 0)
		return err_set(err, ERR_TOOBIG, "no room for a log chunk");
	db_args_init(&a);
	db_args_int64(&a, attempt_id);
	db_args_int64(&a, node);
	db_args_int64(&a, pos);
	db_args_int64(&a, (int64_t)fit);
	db_args_int64(&a, LIM_LOG_KEEP_CHUNK + LIM_LOG_KEEP_MARKER);
	if ((rc = db_exec(db, sql_read, &a, &res, err)) < 0)
		return rc;
	for (size_t i = 0; i < db_res_rows(res); i++) {
		int64_t at;
		size_t before = out->len;

		if ((rc = db_res_int64(res, i, 0, &at, err)) < 0)
			break;
		if (at > *next || (i > 0 && at != *next)) {
			rc = err_set(err, ERR_INVALID, "the kept log of attempt "
			    "%lld has a gap at byte %lld", (long long)attempt_id,
			    (long long)*next);
			break;
		}
		if ((rc = db_res_bytea(res, i, 1, (size_t)(*next - at), out,
		    err)) < 0)
			break;
		*next += (int64_t)(out->len - before);
	}
	db_res_free(res);
	return rc;
}
