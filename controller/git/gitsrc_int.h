/*
 * gitsrc_int.h - what the files of the libgit2 edge share; not for other
 * modules.
 *
 *   gitsrc.c              the mirror, URLs and credentials, one network
 *                         call's deadline and errors, ls-remote and fetch
 *   gitsrc_stream.c       our socket stream, with deadlines and interrupt
 *   gitsrc_tree.c         reading the mirror: heads, commits, trees,
 *                         diffs, and the export of a commit into a folder
 *   gitsrc_known_hosts.c  ssh host keys against an OpenSSH known_hosts
 */
#ifndef SLUICE_GITSRC_INT_H
#define SLUICE_GITSRC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "base/err.h"
#include "git/gitsrc.h"

#define GITSRC_MAX_SOCKS	8	/* sockets of one gitsrc open at once */
#define WAIT_SLICE_MS		250	/* how often a wait re-checks interrupt */
#define HOSTKEY_MSG_MAX		512

struct gitsrc {
	git_repository	*repo;
	git_remote	*remote;
	char		*dir;
	char		*url;		/* as configured, without a password */
	char		*url_safe;	/* scrubbed, for messages */
	char		*token;		/* owned, wiped by gitsrc_free */
	char		*password;	/* the url's or auth's; owned, wiped */
	char		*ssh_key_file;
	char		*known_hosts_file;
	char		 host[256];	/* from the URL, for known_hosts */
	int		 port;
	int		 is_ssh;
	int		 is_plain_http;	/* http:// (not https) */
	int		 allow_insecure_http;	/* auth.allow_insecure_http */
	int		 url_has_password;
	int		 recreated;
	enum gitsrc_failure failure;

	/* The network call in progress (owner thread only, unless noted). */
	int64_t		 deadline;	/* CLOCK_MONOTONIC ms, 0: none */
	int64_t		 timeout_ms;
	int		 userpass_tries;
	int		 sshkey_tries;
	int		 auth_failed;
	int		 hostkey_failed;
	int		 net_failed;	/* our stream could not connect */
	char		 auth_msg[HOSTKEY_MSG_MAX];
	char		 hostkey_msg[HOSTKEY_MSG_MAX];
	atomic_int	 timed_out;	/* set by the stream or the watchdog */
	atomic_int	 interrupted;	/* set by gitsrc_interrupt() */

	/* Shared with the watchdog and gitsrc_interrupt(), under mu. */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 socks[GITSRC_MAX_SOCKS];
	size_t		 nsocks;
	int		 wd_done;
	int		 wd_running;
	pthread_t	 wd_thread;
};

/*
 * The gitsrc whose call runs on this thread.  libgit2 creates streams
 * without a payload, so this is how a new stream finds its deadline.
 * Per thread, set only between the start and the end of a network call.
 */
extern _Thread_local struct gitsrc *gitsrc_tls;

/* ---- gitsrc.c --------------------------------------------------------- */

/* Milliseconds left before src's deadline: -1 without one, 0 when past. */
int64_t	gitsrc_remaining_ms(const struct gitsrc *src);

/* A failed call on the mirror itself: ERR_GENERIC with libgit2's words. */
int	gitsrc_local_fail(const struct gitsrc *src, struct err *err,
	    const char *what);

/* hex (GITSRC_OID_HEX digits) as an object id, else ERR_INVALID. */
int	gitsrc_parse_oid(git_oid *out, const char *hex, struct err *err)
	    __attribute__((warn_unused_result));

/* "refs/heads/<branch>" into out, when branch is a valid branch name. */
int	gitsrc_branch_ref(char *out, size_t outlen, const char *branch,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * A copy of at most max bytes of s (NULL: "") as valid UTF-8: malformed
 * sequences become U+FFFD and a character is never cut in half.
 */
char	*gitsrc_utf8_dup(const char *s, size_t max);

/* Whether s ends in suffix. */
int	gitsrc_has_suffix(const char *s, const char *suffix);

/* ---- gitsrc_stream.c -------------------------------------------------- */

/* The stream registration's constructor (GIT_STREAM_STANDARD). */
int	gitsrc_stream_new(git_stream **out, const char *host,
	    const char *port);

/* Wake every blocked reader of src's sockets.  Call with src->mu held. */
void	gitsrc_socks_shutdown_locked(struct gitsrc *src);

#endif
