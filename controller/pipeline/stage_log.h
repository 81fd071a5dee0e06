/*
 * stage_log.h - how much of what an attempt printed is kept: the cut the
 * engine makes in each read of a log before storing it (store_log.h).
 *
 * A read of the log is cut after its last newline: the partial line
 * after it stays in the source and is read again next time, so what is
 * stored (and parsed for ::metric lines) is always whole lines, and a
 * restart resumes at a line boundary.  Two exceptions take everything:
 * the last read of a finished attempt (its last line may have no
 * newline), and a read that filled its buffer without any newline (a
 * line longer than one read is cut where the buffer ends; the rest of the
 * line is taken by the next reads).
 *
 * The kept log is capped (logs.max_bytes).  Whole lines are kept while
 * they fit; the first line that does not fit and everything after it are
 * not kept, only counted (they are still parsed), and the finished log
 * ends with a marker line saying how much was left out.
 *
 * Pure: no I/O, no allocation.
 */
#ifndef SLUICE_STAGE_LOG_H
#define SLUICE_STAGE_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Where the kept log stands (a head row of attempt_log_heads). */
struct stage_log_pos {
	int64_t		 kept;		/* bytes kept so far */
	int64_t		 dropped;	/* bytes read past the cap, not kept */
	int		 open_line;	/* the kept log ends inside a line */
};

/* What to do with one read. */
struct stage_log_cut {
	size_t		 take;		/* bytes consumed from the read */
	size_t		 keep;		/* the first `keep` of them are stored */
	int		 mid_line;	/* the taken part ends inside a line */
};

/*
 * Cut len bytes read at the current position p, with cap bytes allowed
 * in the kept log.  final: the attempt has ended and this is all there
 * is; full: the read filled the reader's buffer.  Updates p (kept,
 * dropped, open_line) for what the cut keeps and drops.
 */
void	stage_log_cut(struct stage_log_pos *p, int64_t cap, const char *data,
	    size_t len, int final, int full, struct stage_log_cut *out);

/*
 * The line that ends a log that was cut at cap bytes, dropped bytes not
 * kept ("[sluice] log truncated at 16MiB: 1234 more bytes not kept\n"),
 * with a newline in front when the kept log ends inside a line.  The
 * length written (< len), or 0 when nothing was dropped.
 */
size_t	stage_log_truncated(const struct stage_log_pos *p, int64_t cap,
	    char *out, size_t len);

/*
 * The line written into the kept log when the executor reads from a new
 * source (a pod that replaced an evicted one): "[sluice] now reading pod
 * NAME\n", with a newline in front when the kept log ends inside a line.
 * The length written (< len).
 */
size_t	stage_log_source_changed(const struct stage_log_pos *p,
	    const char *source, char *out, size_t len);

#endif
