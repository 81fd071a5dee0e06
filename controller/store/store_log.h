/*
 * store_log.h - the logs of attempts kept in PostgreSQL (tables
 * attempt_log_heads and attempt_log_chunks, migration 0002).
 *
 * Each attempt and node (the index of a multi-node stage, 0 otherwise)
 * has one head row saying how far the engine has read its source (the
 * pod, or the local log file) and how much it kept, and a sequence of
 * chunks that tile the kept log.  Only the engine writes them
 * (store_log_append); the HTTP threads read them (store_log_head,
 * store_log_read), from this replica or another.  Blocks on the
 * database; errors as db_exec().
 */
#ifndef SLUICE_STORE_LOG_H
#define SLUICE_STORE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"

struct db;
struct stage_output;

struct log_head {
	int		 exists;	/* a row was found */
	char		 source[LIM_LOG_SOURCE + 1];	/* pod name, "" locally */
	int64_t		 offset;	/* bytes of the source consumed */
	int64_t		 bytes;		/* bytes kept */
	int64_t		 lines;		/* lines consumed (next line's number) */
	int64_t		 dropped;	/* bytes past the cap, not kept */
	int		 mid_line;	/* the read position is inside a line */
	int		 open_line;	/* the kept log ends inside a line */
	int		 complete;	/* the whole log has been read */
};

/* The head of (attempt, node); out->exists 0 (all zero) when none. */
int	store_log_head(struct db *db, int64_t attempt_id, int node,
	    struct log_head *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * One step of the engine, in one transaction: the chunk data[0, len)
 * stored at old->bytes (nothing when len is 0), the head moved from *old
 * to *now, and the metrics and artifacts parsed into o (may be NULL)
 * stored with reported_ms as store_output_save().  ERR_CONFLICT (nothing
 * written) when the stored head is no longer *old, or is complete.
 */
int	store_log_append(struct db *db, int64_t attempt_id, int node,
	    const struct log_head *old, const struct log_head *now,
	    const char *data, size_t len, const struct stage_output *o,
	    int64_t reported_ms, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Append the kept log of (attempt, node) from byte pos (any position
 * below the head's bytes) to out: the rest of the chunk holding pos, then
 * whole chunks, as many as fit in out's room (ERR_TOOBIG when out has not
 * room for one chunk of LIM_LOG_KEEP_CHUNK plus a marker).  *next
 * receives the position after what was appended (pos when nothing was).
 */
int	store_log_read(struct db *db, int64_t attempt_id, int node,
	    int64_t pos, struct buf *out, int64_t *next, struct err *err)
	    __attribute__((warn_unused_result));

#endif
