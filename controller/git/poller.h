/*
 * poller.h - watch Git repositories and turn pushes into pipeline versions
 * and runs (docs/architecture.md, "The data path").
 *
 * One scheduler thread decides which repository is due (its interval with
 * jitter, or a refresh request) and hands it to a bounded pool of
 * cfg->poll_workers worker threads, so a slow or dead remote holds one
 * worker and never the others.  Each thread has its own database
 * connection; a repository is polled by one worker at a time.
 *
 * Scale: at most cfg->max_repositories repositories are polled (the rest
 * are logged).  The scheduler reads the repository list at start, every
 * LIM_POLL_RESCAN_MS and on NOTIFY sluice_refresh, and keeps each one's
 * next poll time in memory in between.  A repository costs its slot (a
 * few KiB); only the LIM_POLL_OPEN_SOURCES mirrors polled most recently
 * stay open between polls, so memory is bounded whatever the count.
 *
 * A poll lists the remote's refs (kept-alive connection), fetches only when
 * a tracked branch moved, and for each moved branch, in one transaction:
 * records the new commits, stores a pipeline version per pipeline file of
 * the new head (valid, with canonical JSON, or invalid, with its errors),
 * soft-deletes pipelines whose file is gone, queues one run per valid
 * pipeline whose push trigger matches the branch and the changed paths,
 * appends an event, and advances the branch head.  Because the head moves
 * in the same transaction as the runs it causes, a crash at any point
 * neither loses nor duplicates a run (and runs carry an idempotency key).
 *
 * The first sight of a branch records its pipelines but starts nothing:
 * adding a repository must not launch every training pipeline in it.  A
 * force-push (the new head does not contain the old) and a deleted branch
 * are recorded as events; runs already made stay.
 *
 * Failures (unreachable remote, authentication, timeouts) are stored on
 * the repository (last_error, consecutive_failures) and retried with
 * exponential backoff up to LIM_POLL_BACKOFF_MS.
 */
#ifndef SLUICE_POLLER_H
#define SLUICE_POLLER_H

#include "base/err.h"

struct cfg;
struct poller;

/*
 * Synchronise the configured repositories into the database and start the
 * threads.  cfg is borrowed and must outlive the poller.  Errors:
 * ERR_TRANSIENT (database), ERR_CONFLICT (a configured name is taken by an
 * API repository).
 */
int	poller_start(struct poller **out, const struct cfg *cfg,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Count failed polls in errors (a counter labelled by repository, which
 * must outlive the poller); NULL stops counting.
 */
struct metric;
void	poller_count_errors(struct poller *p, struct metric *errors);

/* Stop the threads (interrupting network calls) and free.  NULL is a no-op. */
void	poller_stop(struct poller *p);

/*
 * Poll the repository called name now, in this thread, with the given
 * database connection (for tests and `refresh` from a process without a
 * running poller).  Errors: ERR_NOTFOUND, and the poll's own failure.
 */
struct db;
int	poller_poll_now(const struct cfg *cfg, struct db *db, const char *name,
	    struct err *err) __attribute__((warn_unused_result));

#endif
