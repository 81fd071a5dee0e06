/*
 * retention.h - the retention sweep: runs past their pipeline's policy go
 * with what hangs off them (store/store_retention.h says which and what
 * keeps a run), and then their files: the local executor's attempt
 * folders (state_dir/attempts/<job>) and run checkouts
 * (state_dir/work/<run>).  The database goes first, in one transaction
 * per batch; a file left by a crash between the two is an orphan nothing
 * reads, removed by hand or the next time its name is used.
 *
 * `sluice serve` runs one sweep every retention.interval on a thread of
 * its own, only while its engine is the active one (engine_active(): the
 * local executor's files are on the active controller's disk, so a
 * standby would delete rows and leave their files behind); one sweep at
 * a time, `sluice gc`'s included (an advisory lock, DB_LOCK_RETENTION).
 * `sluice gc` runs one sweep (cmd_gc.c).
 */
#ifndef SLUICE_RETENTION_H
#define SLUICE_RETENTION_H

#include "base/err.h"
#include "store/store_retention.h"

struct cfg;
struct db;

/* The configuration's defaults of cfg (retention.keep_runs, max_age). */
void	retention_defaults_of(const struct cfg *cfg,
	    struct retention_defaults *d);

/*
 * One sweep on db: batches of runs until none is deletable (or stop, when
 * not NULL, becomes non-zero); *total (may be NULL) receives what went.
 * Errors as store_retention_delete(); what earlier batches deleted stays
 * deleted.  Blocks on the database and the disk.
 */
int	retention_sweep(struct db *db, const struct cfg *cfg,
	    volatile int *stop, struct retention_counts *total,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The sweeper of `sluice serve`, for engine e (borrowed; NULL: sweep
 * whether or not an engine is active).  cfg is borrowed until
 * retention_stop().
 */
struct engine;
struct retention;
struct retention *retention_new(const struct cfg *cfg, struct engine *e);

/*
 * One round of the sweeper in the caller's thread: when e is active and
 * DB_LOCK_RETENTION is free, one sweep on the sweeper's own connection.
 * *swept: 1 when it swept, 0 when it was not its turn (a standby, or
 * `sluice gc` sweeping) or the sweep failed (logged).  Returns 0.
 */
int	retention_round(struct retention *r, int *swept);

/*
 * retention_new, then a thread that runs a round at start and every
 * cfg->retention_interval_ms.  Errors: ERR_GENERIC (thread).
 */
int	retention_start(struct retention **out, const struct cfg *cfg,
	    struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));
/* Stop the thread if any (waits for a batch in progress), free; NULL ok. */
void	retention_stop(struct retention *r);

#endif
