/*
 * notify_int.h - what the sender's files share; not for other modules.
 *
 *	sender.c	the thread: fan out, send, record, sleep
 *	message.c	the deliveries of one outbox row and their bodies
 *	post.c		one HTTP POST through libcurl
 */
#ifndef SLUICE_NOTIFY_INT_H
#define SLUICE_NOTIFY_INT_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

struct cfg;
struct db;
struct notify_outbox_row;

/*
 * Add the deliveries of row (one per notification subscribed to its kind,
 * one commit status when its repository has commit_status) inside the
 * caller's transaction.  A subject that cannot be read is logged and
 * yields no delivery.
 */
int	notify_fan_out(const struct cfg *cfg, struct db *db,
	    const struct notify_outbox_row *row, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The console's base URL with no trailing '/': public_url, else
 * http://LISTEN, into out.
 */
void	notify_console_url(const struct cfg *cfg, struct buf *out);

/*
 * POST body (JSON) to url with the extra headers (NULL-terminated, "Name:
 * value"), within timeout_ms.  *status receives the HTTP status (0 when
 * none came), answer (may be NULL) up to its cap of the answer's body.
 * Return 0 when an answer came (any status), else ERR_TRANSIENT with
 * curl's message.  Blocks up to timeout_ms.
 */
int	notify_post(const char *url, const char *const *headers,
	    const char *body, long timeout_ms, int *status, struct buf *answer,
	    struct err *err) __attribute__((warn_unused_result));

#endif
