/*
 * notify.h - the notification sender (docs/notifications.md): one thread
 * that turns the outbox (store_notify.h) into deliveries and posts them
 * to the configured notifications (Slack-compatible or signed JSON) and
 * to the Git hosts' commit status APIs (GitHub, GitLab), with timeouts
 * and retries with backoff.
 *
 * Woken by NOTIFY sluice_notify (the outbox trigger sends it at commit),
 * so a new event is delivered at once; otherwise it sleeps until the next
 * retry is due.  Several controllers may run one each: rows are taken
 * with FOR UPDATE SKIP LOCKED, so none is sent by two at once.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include "base/err.h"

struct cfg;
struct notify;

/*
 * Start the sender with cfg (borrowed until notify_stop).  *out is owned
 * by the caller.  Errors: ERR_GENERIC when the thread cannot start.  The
 * database is connected to by the thread, waiting for it as long as
 * needed.
 */
int	notify_start(struct notify **out, const struct cfg *cfg,
	    struct err *err) __attribute__((warn_unused_result));

/* Stop the thread (a post in flight ends within its timeout); NULL ok. */
void	notify_stop(struct notify *n);

#endif
