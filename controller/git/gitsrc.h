/*
 * gitsrc.h - the libgit2 edge: a bare mirror of one remote repository,
 * ls-remote, fetch, and reading commits, trees and blobs out of it.
 *
 * Nothing of libgit2 crosses this header: callers see hex object ids,
 * strings and our own structs.  A typical poll of one repository:
 *
 *	gitsrc_open(&src, "var/git/demo.git", url, &auth, err);
 *	gitsrc_ls_remote(src, &refs, &n, 10000, err);	   cheap: no objects
 *	... compare refs/heads/<branch> with the heads we know ...
 *	gitsrc_fetch(src, branches, nb, 0, 60000, err);	   only if one moved
 *	gitsrc_head(src, "main", hex, err);		   ERR_NOTFOUND: deleted
 *	gitsrc_is_descendant(src, hex, old, &ff, err);	   0: force-push
 *	gitsrc_new_commits(src, hex, old, 100, &commits, &nc, err);
 *	gitsrc_changed_paths(src, old, hex, &paths, &np, err);
 *	gitsrc_read_dir(src, hex, "pipelines", &files, &nf, err);
 *	gitsrc_free(src);
 *
 * Threads: call gitsrc_global_init() before any other function (it is
 * idempotent and thread-safe; libgit2 1.5 cannot be re-initialized after a
 * full shutdown, so the library stays initialized for the life of the
 * process and gitsrc_global_shutdown() does nothing).  A struct gitsrc is used by one thread
 * at a time (a poll worker); different gitsrc may be used by different
 * threads at once.  Only gitsrc_interrupt() may be called from another
 * thread.  Network calls (ls_remote, fetch) block up to their timeout;
 * every other call works on the local mirror and blocks on disk only.
 *
 * Errors: functions return 0 or a negative enum err_code and fill err
 * with a message that never contains a credential: URLs are shown with
 * their userinfo replaced by "***", and the token never appears.  The
 * network calls also record why they failed (gitsrc_last_failure()), for
 * the poller to store and to choose a backoff.
 *
 * Time bounds: libgit2 1.5 has no connect or read timeout of its own, so
 * gitsrc registers its own socket stream with libgit2 (used for git://,
 * http:// and https://, and for the TCP connection under ssh://) that
 * waits for the connection and every read and write no longer than the
 * operation's deadline.  libssh2 reads its socket directly, so for ssh://
 * a watchdog thread shuts the socket down when the deadline passes.  The
 * transfer and sideband progress callbacks abort a transfer that is past
 * its deadline (file://).  Name resolution (getaddrinfo) is bounded only
 * by the system resolver's own timeouts.
 */
#ifndef SLUICE_GITSRC_H
#define SLUICE_GITSRC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define GITSRC_OID_HEX	40	/* a SHA-1 object id in hex, without NUL */

struct gitsrc;

/*
 * Credentials for one remote.  All fields may be NULL; the strings are
 * copied by gitsrc_open().
 *
 * https (and http): when the server asks for credentials, the user name
 * of the URL is sent if it has one, else "x-access-token", with token as
 * the password: GitHub, GitLab (any user name works with a personal or
 * project access token) and Gitea accept this.  Without a token, the
 * password of the URL (https://user:pass@host/...) or, when the URL has
 * none, password is sent instead.  Credentials go over plain http:// (the
 * configured URL's, or one a server redirected to) only when
 * allow_insecure_http is set; otherwise the call fails with
 * GITSRC_FAIL_AUTH before anything secret is sent.
 *
 * A password in the URL is taken out of it by gitsrc_open(): it stays in
 * memory only (wiped by gitsrc_free), never in the mirror's config, in
 * gitsrc_url() or in a message.
 *
 * ssh: ssh_key_file is the private key (unencrypted; its ".pub" beside it
 * is not needed), the user name comes from the URL (default "git").  The
 * server's host key must be listed in known_hosts_file (OpenSSH format:
 * plain, [host]:port and hashed |1| entries; @revoked honoured,
 * @cert-authority ignored).  Without a known_hosts_file only hosts libgit2
 * itself finds in ~/.ssh/known_hosts are accepted.
 */
struct gitsrc_auth {
	const char	*token;		/* the secret itself, not a variable name */
	const char	*password;	/* for the URL's user, when the URL
					   holds none */
	int		 allow_insecure_http;	/* send credentials over
						   http:// too */
	const char	*ssh_key_file;
	const char	*known_hosts_file;
};

/* Why the last network call failed, for the poller to store and show. */
enum gitsrc_failure {
	GITSRC_FAIL_NONE = 0,
	GITSRC_FAIL_UNREACHABLE,	/* name resolution, refused, reset: ERR_TRANSIENT */
	GITSRC_FAIL_TIMEOUT,		/* the deadline passed: ERR_TRANSIENT */
	GITSRC_FAIL_AUTH,		/* credentials missing or rejected: ERR_UNAUTHORIZED */
	GITSRC_FAIL_HOSTKEY,		/* ssh host key or TLS certificate refused: ERR_FORBIDDEN */
	GITSRC_FAIL_NOTFOUND,		/* no such repository on the server: ERR_NOTFOUND */
	GITSRC_FAIL_REMOTE,		/* the server answered with an error: ERR_TRANSIENT */
	GITSRC_FAIL_INTERRUPTED,	/* gitsrc_interrupt(): ERR_TRANSIENT */
	GITSRC_FAIL_LOCAL,		/* the mirror itself (disk, corruption): ERR_GENERIC */
};

/* A short stable name: "none", "unreachable", "timeout", "auth", ... */
const char *gitsrc_failure_name(enum gitsrc_failure f);

/*
 * Initialize libgit2 and register gitsrc's socket stream.  Call once, from
 * one thread, before anything else; return 0 or ERR_GENERIC.
 */
int	gitsrc_global_init(struct err *err) __attribute__((warn_unused_result));
void	gitsrc_global_shutdown(void);

/*
 * Open the bare mirror at mirror_dir for url, creating it (and missing
 * parent folders) when absent, and record url as its remote "origin"
 * (updated when url changed) for people who inspect the mirror with git.
 * gitsrc itself fetches through an in-memory remote for url, so git's
 * url.<base>.insteadOf rewriting does not apply.  mirror_dir must end in
 * ".git" (it is state_dir/git/<name>.git): a mirror that fails to open,
 * is not bare, has an unreadable config or branch heads that cannot be
 * read (missing HEAD, deleted or truncated objects) is deleted and
 * re-created empty, which gitsrc_recreated() then reports and a warning
 * logs; the next fetch fills it again.  Nothing is fetched here and
 * nothing touches the network.  Keep a gitsrc open across polls rather
 * than opening one per poll.
 *
 * url: file://, git://, http(s)://, ssh:// or scp-like user@host:path.
 * auth may be NULL.  On success *out is owned by the caller (gitsrc_free).
 * Errors: ERR_INVALID (bad mirror_dir or url), ERR_GENERIC (disk).
 */
int	gitsrc_open(struct gitsrc **out, const char *mirror_dir,
	    const char *url, const struct gitsrc_auth *auth, struct err *err)
	    __attribute__((warn_unused_result));

/* Close the connection and the mirror, wipe the token.  NULL is a no-op. */
void	gitsrc_free(struct gitsrc *src);

/* 1 when gitsrc_open() had to delete and re-create a corrupt mirror. */
int	gitsrc_recreated(const struct gitsrc *src);

/* The remote URL with userinfo scrubbed, safe for logs (borrowed). */
const char *gitsrc_url(const struct gitsrc *src);

/* Why the last ls_remote or fetch failed (GITSRC_FAIL_NONE on success). */
enum gitsrc_failure gitsrc_last_failure(const struct gitsrc *src);

/*
 * Make the network call in progress on src (from another thread) fail
 * soon with GITSRC_FAIL_INTERRUPTED; used to stop polling on shutdown.
 * Thread-safe; does nothing when no call is in progress.
 */
void	gitsrc_interrupt(struct gitsrc *src);

struct gitsrc_ref {
	char	*name;			/* "refs/heads/main", "HEAD", ... */
	char	 oid[GITSRC_OID_HEX + 1];
};

/*
 * Connect and list the remote's refs (peeled "^{}" tag entries left out),
 * in the server's order, at most LIM_GIT_REFS (else ERR_TOOBIG).  The
 * connection is kept open afterwards so that a gitsrc_fetch() right after
 * reuses it without a second round trip; the next gitsrc_ls_remote()
 * reconnects to see new refs (a ref advertisement is only sent on
 * connect), and gitsrc_disconnect() closes it when no fetch follows.
 * Blocks up to timeout_ms (<= 0: no bound).  *refs is owned by the caller
 * (gitsrc_refs_free).  Errors: ERR_TRANSIENT, ERR_UNAUTHORIZED,
 * ERR_FORBIDDEN, ERR_NOTFOUND (see enum gitsrc_failure), ERR_TOOBIG.
 */
int	gitsrc_ls_remote(struct gitsrc *src, struct gitsrc_ref **refs,
	    size_t *n, int64_t timeout_ms, struct err *err)
	    __attribute__((warn_unused_result));
void	gitsrc_refs_free(struct gitsrc_ref *refs, size_t n);

/* The ref named "refs/heads/<branch>" in refs, or NULL (borrowed). */
const struct gitsrc_ref *gitsrc_refs_branch(const struct gitsrc_ref *refs,
	    size_t n, const char *branch);

/* Close a connection kept open by gitsrc_ls_remote().  Never fails. */
void	gitsrc_disconnect(struct gitsrc *src);

/*
 * Fetch the given branches into refs/heads/<branch> of the mirror, forced
 * (a force-push replaces the local head), without tags.  A requested
 * branch the remote no longer has is deleted from the mirror, so that
 * gitsrc_head() then answers ERR_NOTFOUND.  Reuses the connection of a
 * gitsrc_ls_remote() just before and reconnects once when it died.
 * depth is accepted and ignored: libgit2 1.5 cannot fetch shallow, so
 * every fetch is a full one (only the missing objects are transferred).
 * Blocks up to timeout_ms (<= 0: no bound) for the whole fetch.
 * Errors: ERR_INVALID (bad branch name), ERR_TOOBIG (more than
 * LIM_GIT_BRANCHES), and those of gitsrc_ls_remote().
 */
int	gitsrc_fetch(struct gitsrc *src, const char *const *branches, size_t n,
	    int depth, int64_t timeout_ms, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The commit refs/heads/<branch> of the mirror points at, in hex.
 * Errors: ERR_NOTFOUND (no such branch: never fetched or deleted),
 * ERR_INVALID (bad branch name), ERR_GENERIC.
 */
int	gitsrc_head(struct gitsrc *src, const char *branch,
	    char oid_hex[GITSRC_OID_HEX + 1], struct err *err)
	    __attribute__((warn_unused_result));

/*
 * *out = 1 when new_hex contains old_hex in its history (or equals it):
 * the branch moved forward.  0 means a force-push rewrote history.
 * Errors: ERR_INVALID (not a 40-digit hex id), ERR_NOTFOUND (a commit is
 * not in the mirror).
 */
int	gitsrc_is_descendant(struct gitsrc *src, const char *new_hex,
	    const char *old_hex, int *out, struct err *err)
	    __attribute__((warn_unused_result));

struct gitsrc_commit {
	char	 sha[GITSRC_OID_HEX + 1];
	char	*author_name;		/* valid UTF-8 (bad bytes become U+FFFD) */
	char	*author_email;
	char	*message;		/* first LIM_GIT_MESSAGE bytes, valid UTF-8 */
	int64_t	 time;			/* author time, Unix seconds */
	unsigned parents;
};

/*
 * The commits reachable from new_hex and not from old_hex, newest first
 * (topological, then by time), at most max (and LIM_GIT_COMMITS): the
 * commits a push brought.  old_hex NULL means first sight; an old_hex the
 * mirror does not have (a re-created mirror after a force-push) is
 * treated the same way.  *out is owned by the caller
 * (gitsrc_commits_free).  Errors: ERR_INVALID, ERR_NOTFOUND (new_hex not
 * in the mirror).
 */
int	gitsrc_new_commits(struct gitsrc *src, const char *new_hex,
	    const char *old_hex, size_t max, struct gitsrc_commit **out,
	    size_t *n, struct err *err) __attribute__((warn_unused_result));
void	gitsrc_commits_free(struct gitsrc_commit *commits, size_t n);

struct gitsrc_file {
	char	*path;		/* "pipelines/train.yaml", from the tree root */
	char	*data;		/* NUL-terminated contents, or NULL when skipped */
	size_t	 len;
	char	*error;		/* why it was skipped, or NULL */
};

/*
 * The files directly under dir (not recursive) in commit_hex's tree whose
 * names end in ".yaml" or ".yml", in name order.  No working checkout is
 * made.  A file larger than LIM_PIPELINE_FILE, a binary file (a NUL byte,
 * or libgit2's binary heuristic) and a symbolic link are returned with
 * error set and data NULL.  dir "" or "." is the root; a missing dir (or
 * a file of that name) gives an empty list, not an error.  *out is owned
 * by the caller (gitsrc_files_free).  Errors: ERR_INVALID (bad id, dir
 * with ".."), ERR_NOTFOUND (commit not in the mirror), ERR_TOOBIG (more
 * than LIM_GIT_DIR_FILES such files).
 */
int	gitsrc_read_dir(struct gitsrc *src, const char *commit_hex,
	    const char *dir, struct gitsrc_file **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));
void	gitsrc_files_free(struct gitsrc_file *files, size_t n);

/*
 * The paths of files added, modified, deleted or renamed (both names)
 * between the trees of old_hex and new_hex, sorted, without duplicates;
 * old_hex NULL lists every file of new_hex.  For path triggers.  *paths
 * is owned by the caller (gitsrc_paths_free).  Errors: ERR_INVALID,
 * ERR_NOTFOUND, ERR_TOOBIG (more than LIM_GIT_CHANGED_PATHS: the caller
 * should treat every path as changed).
 */
int	gitsrc_changed_paths(struct gitsrc *src, const char *old_hex,
	    const char *new_hex, char ***paths, size_t *n, struct err *err)
	    __attribute__((warn_unused_result));
void	gitsrc_paths_free(char **paths, size_t n);

/*
 * Write the tree of commit_hex into dest_dir (state_dir/work/<run>),
 * creating it and its missing parents; an existing dest_dir must be
 * empty (else ERR_CONFLICT).  Files get mode 0644, or 0755 when
 * executable in git; symbolic links are created as links; submodules
 * become empty folders.  Every file is created relative to its folder's
 * descriptor with O_NOFOLLOW|O_EXCL, so no link in the tree can make a
 * write land outside dest_dir.  A tree entry named "", ".", "..", ".git"
 * or containing '/' fails with ERR_INVALID.  On error, what was written
 * stays; remove it with gitsrc_remove_dir().  Errors: ERR_INVALID,
 * ERR_NOTFOUND, ERR_CONFLICT, ERR_TOOBIG (LIM_GIT_EXPORT_FILES,
 * LIM_GIT_TREE_DEPTH), ERR_GENERIC (disk).
 */
int	gitsrc_export(struct gitsrc *src, const char *commit_hex,
	    const char *dest_dir, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The mirror folder of repository name under state_dir,
 * "state_dir/git/<name>.git", into out.  ERR_INVALID for a name that is
 * not one folder name, ERR_TOOBIG when it does not fit.
 */
int	gitsrc_mirror_dir(char *out, size_t outlen, const char *state_dir,
	    const char *name, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Export the tree of commit_hex of repository name from its mirror under
 * state_dir (see gitsrc_mirror_dir) into dest_dir, as gitsrc_export (the
 * checkout of a run).  The mirror is only read: never created, repaired
 * or given another remote.  Initializes libgit2 when needed.  Errors as
 * gitsrc_export(); ERR_NOTFOUND when there is no mirror yet or it lacks
 * the commit.  Blocks on the disk.
 */
int	gitsrc_checkout_commit(const char *state_dir, const char *name,
	    const char *commit_hex, const char *dest_dir, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Remove dir and everything under it without following symbolic links
 * (for export folders when a run ends).  A missing dir is not an error.
 */
int	gitsrc_remove_dir(const char *dir, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Split the password out of url ("https://user:p%40ss@host/x"): *stripped
 * is url without it ("https://user@host/x"; an empty user name goes too),
 * *password the password percent-decoded ("p@ss"), or NULL when url holds
 * none.  Both owned by the caller (wipe the password before freeing it).
 * ERR_INVALID for a NULL url, ERR_TOOBIG past LIM_URL.
 */
int	gitsrc_url_split(const char *url, char **stripped, char **password);

/*
 * Copy url into out (size outlen) with any userinfo replaced by "***":
 * in "https://user:secret@host/r.git", "user:secret@" becomes "***@".  A user
 * name alone in an ssh:// URL is kept ("ssh://git@host/r.git"), it is not
 * a secret.  Return 0, or ERR_TOOBIG when out is too small (out then
 * holds "***", never a partial secret).
 */
int	gitsrc_scrub_url(char *out, size_t outlen, const char *url);

/*
 * Check an SSH host key against an OpenSSH known_hosts file.  key is the
 * raw public key blob (the base64-decoded middle field of a known_hosts
 * line, which starts with the key type); port 22 (or <= 0) matches plain
 * host entries, any other port matches "[host]:port" entries.
 * Return 0 when a line for host lists this key; ERR_FORBIDDEN when the
 * key is @revoked or host is listed with a different key of the same type
 * (a changed host key: possible man in the middle); ERR_NOTFOUND when
 * host is not listed with a key of this type; ERR_INVALID (bad key blob),
 * ERR_GENERIC (file unreadable), ERR_TOOBIG (file over
 * LIM_KNOWN_HOSTS_FILE).  Does not block on the network.
 */
int	gitsrc_known_hosts_check(const char *known_hosts_file,
	    const char *host, int port, const unsigned char *key,
	    size_t keylen, struct err *err) __attribute__((warn_unused_result));

#endif
