/*
 * test_gitsrc.c - the git edge against real repositories built with the
 * git CLI, served over file://, git:// (git daemon) and http:// (git
 * http-backend behind Basic auth), plus servers that refuse or hang.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/caps.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sys.h"
#include "git/gitsrc.h"
#include "testchild.h"
#include "testdb.h"
#include "testsh.h"

#define TIMEOUT_MS	20000		/* generous: never hit on a good day */

/*
 * libgit2 1.5's ssh transport (and libssh2's userauth list) leak 64 to
 * 123 bytes per ssh connection, failed or not; everything allocated under
 * a connect belongs to the remote, which gitsrc frees, so this
 * suppression hides nothing of ours.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

/* Full stacks through libgit2 (built without frame pointers). */
const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0:malloc_context_size=40";
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:git_remote_connect_ext\n";
}

static char base[256];			/* this run's temp folder (HOME) */

struct fx {
	char	dir[300];		/* this test's folder */
	char	up[400];		/* the upstream bare repository */
	char	work[400];		/* a clone to commit and push from */
	char	mirror[400];		/* state_dir/git/demo.git */
	char	url[500];		/* file:// URL of up */
	struct gitsrc *src;
};

/* ---- helpers ----------------------------------------------------------- */

static void write_file(struct fx *f, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
write_file(struct fx *f, const char *rel, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	FILE *fp;

	test_sh("mkdir -p \"$(dirname '%s/%s')\"", f->work, rel);
	(void)snprintf(path, sizeof(path), "%s/%s", f->work, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(fp), 0);
}

/* Commit everything in the work tree, push it to main, return its id. */
static void
commit_push(struct fx *f, const char *msg, char hex[GITSRC_OID_HEX + 1])
{
	test_sh("cd '%s' && git add -A && git commit -q --allow-empty "
	    "-m '%s' && git push -q origin HEAD:main 2>/dev/null", f->work,
	    msg);
	test_capture(hex, GITSRC_OID_HEX + 1, "git -C '%s' rev-parse HEAD",
	    f->work);
	assert_int_equal(strlen(hex), GITSRC_OID_HEX);
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "%s/t-XXXXXX", base);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->up, sizeof(f->up), "%s/up.git", f->dir);
	(void)snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	(void)snprintf(f->mirror, sizeof(f->mirror),
	    "%s/state/git/demo.git", f->dir);
	(void)snprintf(f->url, sizeof(f->url), "file://%s", f->up);
	if (system("true") != 0)
		return -1;
	test_git_remote(f->up, f->work);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	struct err err;

	gitsrc_free(f->src);
	if (gitsrc_remove_dir(f->dir, &err) < 0)
		return -1;
	free(f);
	return 0;
}

static void
open_src(struct fx *f, const char *url)
{
	struct err err;

	err_clear(&err);
	if (gitsrc_open(&f->src, f->mirror, url != NULL ? url : f->url, NULL,
	    &err) != 0)
		fail_msg("gitsrc_open: %s", err.msg);
}

static void
fetch(struct fx *f, const char *const *branches, size_t n)
{
	struct err err;

	err_clear(&err);
	if (gitsrc_fetch(f->src, branches, n, 1, TIMEOUT_MS, &err) != 0)
		fail_msg("gitsrc_fetch: %s", err.msg);
}

static void
fetch_main(struct fx *f)
{
	static const char *const main_only[] = { "main" };

	fetch(f, main_only, 1);
}

static void
assert_head(struct fx *f, const char *branch, const char *want)
{
	char hex[GITSRC_OID_HEX + 1];
	struct err err;

	if (gitsrc_head(f->src, branch, hex, &err) != 0)
		fail_msg("gitsrc_head: %s", err.msg);
	assert_string_equal(hex, want);
}

static int
port_accepts(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* testchild_spawn, asserted. */
static void
spawn(struct testchild *c, const char *const argv[], int read_port)
{
	assert_int_equal(testchild_spawn(c, argv, read_port), 0);
}

static void
start_git_daemon(struct testchild *c, const char *root, const char *extra)
{
	char bp[512], port[32];
	int i;

	c->port = test_free_port();
	(void)snprintf(bp, sizeof(bp), "--base-path=%s", root);
	(void)snprintf(port, sizeof(port), "--port=%d", c->port);
	{
		const char *const argv[] = { "git", "daemon", "--reuseaddr",
		    "--export-all", "--informative-errors",
		    "--listen=127.0.0.1", port, bp, extra, NULL };

		spawn(c, argv, 0);
	}
	for (i = 0; i < 200 && !port_accepts(c->port); i++)
		usleep(50 * 1000);
	assert_true(port_accepts(c->port));
}

/*
 * The processes under pid (its children, theirs, ...): the git daemon
 * forks one for each connection it serves.
 */
static int
descendants(pid_t pid)
{
	char path[64];
	int n = 0;
	long child;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
	    (int)pid, (int)pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 0;	/* it has just ended */
	while (fscanf(fp, "%ld", &child) == 1)
		n += 1 + descendants((pid_t)child);
	(void)fclose(fp);
	return n;
}

/*
 * Wait until the git daemon c is back to idle processes under it: the
 * server side of the connection it kept has hung up.  At most 60 s (a
 * bound against a hang on a loaded machine, not a measure).
 */
static void
wait_daemon_idle(const struct testchild *c, int idle)
{
	int64_t end = sys_now_ms() + 60000;
	int n;

	while ((n = descendants(c->pid)) > idle) {
		if (sys_now_ms() > end)
			fail_msg("the git daemon still has %d processes, %d when "
			    "idle", n, idle);
		usleep(50 * 1000);
	}
}

/* ---- tests: file:// ---------------------------------------------------- */

static void
gitsrc__creates_the_mirror_and_fetch_brings_the_branch(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], hex[GITSRC_OID_HEX + 1];
	struct gitsrc_ref *refs = NULL;
	const struct gitsrc_ref *r;
	struct stat st;
	struct err err;
	size_t n = 0;

	write_file(f, "README", "hello\n");
	commit_push(f, "first", c1);
	open_src(f, NULL);
	assert_int_equal(stat(f->mirror, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(gitsrc_recreated(f->src), 0);
	assert_string_equal(gitsrc_url(f->src), f->url);

	/* nothing fetched yet */
	assert_int_equal(gitsrc_head(f->src, "main", hex, &err), ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "branch 'main' not found"));

	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	r = gitsrc_refs_branch(refs, n, "main");
	assert_non_null(r);
	assert_string_equal(r->oid, c1);
	assert_null(gitsrc_refs_branch(refs, n, "dev"));
	gitsrc_refs_free(refs, n);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_NONE);

	fetch_main(f);
	assert_head(f, "main", c1);

	/* a second open finds the mirror as it was */
	gitsrc_free(f->src);
	f->src = NULL;
	open_src(f, NULL);
	assert_int_equal(gitsrc_recreated(f->src), 0);
	assert_head(f, "main", c1);
}

static void
gitsrc__ls_remote_sees_a_new_push_and_fetch_brings_it(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], c2[GITSRC_OID_HEX + 1];
	struct gitsrc_commit *commits = NULL;
	struct gitsrc_ref *refs = NULL;
	struct err err;
	size_t n = 0;

	write_file(f, "a.txt", "1\n");
	commit_push(f, "one", c1);
	open_src(f, NULL);
	fetch_main(f);

	write_file(f, "a.txt", "2\n");
	commit_push(f, "two", c2);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c2);
	gitsrc_refs_free(refs, n);
	assert_head(f, "main", c1);	/* ls-remote fetches nothing */

	fetch_main(f);			/* on the connection ls-remote opened */
	assert_head(f, "main", c2);
	assert_int_equal(gitsrc_new_commits(f->src, c2, c1, 100, &commits, &n,
	    &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(commits[0].sha, c2);
	assert_string_equal(commits[0].message, "two\n");
	gitsrc_commits_free(commits, n);

	/* ls-remote then no fetch: the connection can be dropped */
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	gitsrc_refs_free(refs, n);
	gitsrc_disconnect(f->src);
	fetch_main(f);
	assert_head(f, "main", c2);
}

static void
gitsrc__deleted_branch_is_pruned_from_the_mirror(void **state)
{
	static const char *const both[] = { "main", "dev" };
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], hex[GITSRC_OID_HEX + 1];
	struct gitsrc_ref *refs = NULL;
	struct err err;
	size_t n = 0;

	commit_push(f, "one", c1);
	test_sh("cd '%s' && git push -q origin HEAD:dev 2>/dev/null", f->work);
	open_src(f, NULL);
	fetch(f, both, 2);
	assert_head(f, "dev", c1);

	test_sh("cd '%s' && git push -q origin :dev 2>/dev/null", f->work);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	assert_null(gitsrc_refs_branch(refs, n, "dev"));
	gitsrc_refs_free(refs, n);
	fetch(f, both, 2);
	assert_int_equal(gitsrc_head(f->src, "dev", hex, &err), ERR_NOTFOUND);
	assert_head(f, "main", c1);

	/* a branch that never existed is no error either */
	{
		static const char *const ghost[] = { "ghost" };

		fetch(f, ghost, 1);
		assert_int_equal(gitsrc_head(f->src, "ghost", hex, &err),
		    ERR_NOTFOUND);
	}
	/* bad branch names are refused before any network */
	{
		static const char *const bad[] = { "a..b" };

		assert_int_equal(gitsrc_fetch(f->src, bad, 1, 0, TIMEOUT_MS,
		    &err), ERR_INVALID);
		assert_int_equal(gitsrc_head(f->src, "-x", hex, &err),
		    ERR_INVALID);
	}
}

static void
gitsrc__force_push_is_not_a_descendant(void **state)
{
	struct fx *f = *state;
	char a[GITSRC_OID_HEX + 1], b[GITSRC_OID_HEX + 1];
	char c[GITSRC_OID_HEX + 1];
	struct gitsrc_commit *commits = NULL;
	struct err err;
	size_t n = 0;
	int desc = -1;

	write_file(f, "f", "a\n");
	commit_push(f, "A", a);
	write_file(f, "f", "b\n");
	commit_push(f, "B", b);
	open_src(f, NULL);
	fetch_main(f);

	test_sh("cd '%s' && git reset -q --hard HEAD~1", f->work);
	write_file(f, "f", "c\n");
	test_sh("cd '%s' && git commit -qam C && git push -qf origin HEAD:main "
	    "2>/dev/null", f->work);
	test_capture(c, sizeof(c), "git -C '%s' rev-parse HEAD", f->work);
	fetch_main(f);
	assert_head(f, "main", c);

	assert_int_equal(gitsrc_is_descendant(f->src, c, b, &desc, &err), 0);
	assert_int_equal(desc, 0);		/* history was rewritten */
	assert_int_equal(gitsrc_is_descendant(f->src, c, a, &desc, &err), 0);
	assert_int_equal(desc, 1);
	assert_int_equal(gitsrc_is_descendant(f->src, a, a, &desc, &err), 0);
	assert_int_equal(desc, 1);
	assert_int_equal(gitsrc_is_descendant(f->src, a, "zz", &desc, &err),
	    ERR_INVALID);
	assert_int_equal(gitsrc_is_descendant(f->src, a,
	    "0123456789012345678901234567890123456789", &desc, &err),
	    ERR_NOTFOUND);

	/* the commits the force-push brought: C only */
	assert_int_equal(gitsrc_new_commits(f->src, c, b, 100, &commits, &n,
	    &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(commits[0].sha, c);
	gitsrc_commits_free(commits, n);
}

static void
gitsrc__new_commits_are_newest_first_and_bounded(void **state)
{
	struct fx *f = *state;
	char hex[GITSRC_OID_HEX + 1], first[GITSRC_OID_HEX + 1];
	struct gitsrc_commit *commits = NULL;
	struct err err;
	size_t n = 0;
	int i;

	for (i = 1; i <= 5; i++) {
		char msg[16];

		write_file(f, "n", "%d\n", i);
		(void)snprintf(msg, sizeof(msg), "c%d", i);
		commit_push(f, msg, hex);
		if (i == 1)
			memcpy(first, hex, sizeof(first));
	}
	open_src(f, NULL);
	fetch_main(f);
	assert_int_equal(gitsrc_new_commits(f->src, hex, NULL, 3, &commits, &n,
	    &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(commits[0].sha, hex);
	assert_string_equal(commits[0].message, "c5\n");
	assert_string_equal(commits[1].message, "c4\n");
	assert_string_equal(commits[2].message, "c3\n");
	assert_string_equal(commits[0].author_name, "t");
	assert_string_equal(commits[0].author_email, "t@e");
	assert_true(commits[0].time > 1600000000);
	assert_int_equal(commits[0].parents, 1);
	gitsrc_commits_free(commits, n);

	assert_int_equal(gitsrc_new_commits(f->src, hex, NULL, 100, &commits,
	    &n, &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(commits[4].sha, first);
	assert_int_equal(commits[4].parents, 0);
	gitsrc_commits_free(commits, n);

	assert_int_equal(gitsrc_new_commits(f->src, hex, hex, 100, &commits,
	    &n, &err), 0);
	assert_int_equal(n, 0);
	gitsrc_commits_free(commits, n);

	/* an old head the mirror never had counts as first sight */
	assert_int_equal(gitsrc_new_commits(f->src, hex,
	    "0123456789012345678901234567890123456789", 2, &commits, &n,
	    &err), 0);
	assert_int_equal(n, 2);
	gitsrc_commits_free(commits, n);
}

static void
gitsrc__commit_text_is_valid_utf8_and_capped(void **state)
{
	struct fx *f = *state;
	char hex[GITSRC_OID_HEX + 1], path[600];
	struct gitsrc_commit *commits = NULL;
	struct err err;
	size_t n = 0, i;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/msg", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("bad \xff byte, caf\xc3\xa9\n\n", fp);
	for (i = 0; i < 1000; i++)
		fputs("\xe2\x82\xac long body ", fp);	/* euro signs */
	fclose(fp);
	test_sh("cd '%s' && git -c i18n.commitEncoding=latin1 commit -q "
	    "--allow-empty --cleanup=verbatim -F '%s' && git push -q origin "
	    "HEAD:main 2>/dev/null", f->work, path);
	test_capture(hex, sizeof(hex), "git -C '%s' rev-parse HEAD", f->work);
	open_src(f, NULL);
	fetch_main(f);
	assert_int_equal(gitsrc_new_commits(f->src, hex, NULL, 1, &commits, &n,
	    &err), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(commits[0].message, "bad \xef\xbf\xbd byte, "
	    "caf\xc3\xa9\n", 20);
	assert_true(strlen(commits[0].message) <= LIM_GIT_MESSAGE);
	assert_true(strlen(commits[0].message) > LIM_GIT_MESSAGE - 16);
	/* cut on a character boundary: ends with a whole euro sign or text */
	{
		const char *m = commits[0].message;
		size_t len = strlen(m);

		assert_true((unsigned char)m[len - 1] < 0x80 ||
		    memcmp(m + len - 3, "\xe2\x82\xac", 3) == 0);
	}
	gitsrc_commits_free(commits, n);
}

static void
gitsrc__read_dir_returns_pipeline_files_and_skips_bad_ones(void **state)
{
	struct fx *f = *state;
	char hex[GITSRC_OID_HEX + 1];
	struct gitsrc_file *files = NULL;
	struct err err;
	size_t n = 0;

	write_file(f, "pipelines/a.yaml", "kind: Pipeline\n");
	write_file(f, "pipelines/b.yml", "kind: Pipeline # b\n");
	write_file(f, "pipelines/notes.txt", "not yaml\n");
	write_file(f, "pipelines/sub/deep.yaml", "kind: Pipeline\n");
	write_file(f, "pipelines/bin.yaml", "a%cb\n", 0);
	test_sh("head -c %d /dev/zero | tr '\\0' 'x' > '%s/pipelines/big.yaml'",
	    2 * 1024 * 1024, f->work);
	test_sh("ln -s a.yaml '%s/pipelines/link.yaml'", f->work);
	write_file(f, "top.yaml", "kind: Pipeline\n");
	commit_push(f, "files", hex);
	open_src(f, NULL);
	fetch_main(f);

	assert_int_equal(gitsrc_read_dir(f->src, hex, "pipelines", &files, &n,
	    &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(files[0].path, "pipelines/a.yaml");
	assert_string_equal(files[0].data, "kind: Pipeline\n");
	assert_int_equal(files[0].len, 15);
	assert_null(files[0].error);
	assert_string_equal(files[1].path, "pipelines/b.yml");
	assert_string_equal(files[1].data, "kind: Pipeline # b\n");
	assert_string_equal(files[2].path, "pipelines/big.yaml");
	assert_null(files[2].data);
	assert_non_null(strstr(files[2].error, "larger than 1048576 bytes"));
	assert_string_equal(files[3].path, "pipelines/bin.yaml");
	assert_null(files[3].data);
	assert_string_equal(files[3].error, "binary file skipped");
	assert_string_equal(files[4].path, "pipelines/link.yaml");
	assert_null(files[4].data);
	assert_string_equal(files[4].error, "symbolic link skipped");
	gitsrc_files_free(files, n);

	/* the same folder spelled differently */
	assert_int_equal(gitsrc_read_dir(f->src, hex, "./pipelines/", &files,
	    &n, &err), 0);
	assert_int_equal(n, 5);
	gitsrc_files_free(files, n);

	/* the root */
	assert_int_equal(gitsrc_read_dir(f->src, hex, "", &files, &n, &err),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(files[0].path, "top.yaml");
	gitsrc_files_free(files, n);

	/* missing folder, or a file of that name: empty, not an error */
	assert_int_equal(gitsrc_read_dir(f->src, hex, "nope", &files, &n,
	    &err), 0);
	assert_int_equal(n, 0);
	gitsrc_files_free(files, n);
	assert_int_equal(gitsrc_read_dir(f->src, hex, "top.yaml", &files, &n,
	    &err), 0);
	assert_int_equal(n, 0);
	gitsrc_files_free(files, n);

	assert_int_equal(gitsrc_read_dir(f->src, hex, "../etc", &files, &n,
	    &err), ERR_INVALID);
	assert_int_equal(gitsrc_read_dir(f->src, "nothex", "pipelines", &files,
	    &n, &err), ERR_INVALID);
	assert_int_equal(gitsrc_read_dir(f->src,
	    "0123456789012345678901234567890123456789", "pipelines", &files,
	    &n, &err), ERR_NOTFOUND);
}

static void
assert_paths(char **paths, size_t n, const char *const *want, size_t nwant)
{
	size_t i;

	for (i = 0; i < n && i < nwant; i++)
		assert_string_equal(paths[i], want[i]);
	assert_int_equal(n, nwant);
}

static void
gitsrc__changed_paths_cover_add_modify_delete_rename(void **state)
{
	static const char *const first[] = {
		"a.txt", "b.txt", "c.txt", "dir/d.txt",
	};
	static const char *const second[] = {
		"a.txt", "b.txt", "c.txt", "dir/c2.txt", "e.txt",
	};
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], c2[GITSRC_OID_HEX + 1];
	char **paths = NULL;
	struct err err;
	size_t n = 0;

	write_file(f, "a.txt", "a\n");
	write_file(f, "b.txt", "b\n");
	write_file(f, "c.txt", "a file long enough to be seen as renamed\n"
	    "line two\nline three\nline four\n");
	write_file(f, "dir/d.txt", "d\n");
	commit_push(f, "one", c1);
	write_file(f, "a.txt", "a changed\n");
	write_file(f, "e.txt", "e\n");
	test_sh("cd '%s' && git rm -q b.txt && git mv c.txt dir/c2.txt",
	    f->work);
	commit_push(f, "two", c2);
	open_src(f, NULL);
	fetch_main(f);

	assert_int_equal(gitsrc_changed_paths(f->src, NULL, c1, &paths, &n,
	    &err), 0);
	assert_paths(paths, n, first, 4);
	gitsrc_paths_free(paths, n);

	assert_int_equal(gitsrc_changed_paths(f->src, c1, c2, &paths, &n,
	    &err), 0);
	assert_paths(paths, n, second, 5);
	gitsrc_paths_free(paths, n);

	assert_int_equal(gitsrc_changed_paths(f->src, c2, c2, &paths, &n,
	    &err), 0);
	assert_int_equal(n, 0);
	gitsrc_paths_free(paths, n);
}

static void
gitsrc__export_writes_the_tree_with_modes_and_links(void **state)
{
	struct fx *f = *state;
	char hex[GITSRC_OID_HEX + 1], dest[600], path[700], buf[64];
	struct stat st;
	struct err err;
	ssize_t len;
	FILE *fp;

	write_file(f, "run.sh", "#!/bin/sh\necho hi\n");
	test_sh("chmod +x '%s/run.sh'", f->work);
	write_file(f, "data/x.txt", "x\n");
	write_file(f, "data/deeper/y.txt", "y\n");
	test_sh("cd '%s' && ln -s data/x.txt link && "
	    "ln -s ../../../etc escape && mkdir -p ln && ln -s /tmp ln/abs",
	    f->work);
	commit_push(f, "tree", hex);
	open_src(f, NULL);
	fetch_main(f);

	(void)snprintf(dest, sizeof(dest), "%s/state/work/42", f->dir);
	if (gitsrc_export(f->src, hex, dest, &err) != 0)
		fail_msg("gitsrc_export: %s", err.msg);
	(void)snprintf(path, sizeof(path), "%s/run.sh", dest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	(void)snprintf(path, sizeof(path), "%s/data/x.txt", dest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "x\n");
	(void)snprintf(path, sizeof(path), "%s/data/deeper/y.txt", dest);
	assert_int_equal(stat(path, &st), 0);
	(void)snprintf(path, sizeof(path), "%s/link", dest);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	len = readlink(path, buf, sizeof(buf) - 1);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_string_equal(buf, "data/x.txt");
	(void)snprintf(path, sizeof(path), "%s/escape", dest);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));	/* created, never followed */
	assert_false(S_ISDIR(st.st_mode));
	(void)snprintf(path, sizeof(path), "%s/.git", dest);
	assert_int_not_equal(lstat(path, &st), 0);

	/* an export never writes into a folder that has files */
	assert_int_equal(gitsrc_export(f->src, hex, dest, &err), ERR_CONFLICT);

	assert_int_equal(gitsrc_remove_dir(dest, &err), 0);
	assert_int_not_equal(lstat(dest, &st), 0);
	assert_int_equal(gitsrc_remove_dir(dest, &err), 0);	/* gone: ok */
	(void)snprintf(path, sizeof(path), "%s/data", f->work);
	assert_int_equal(stat(path, &st), 0);	/* links were not followed */
}

static void
gitsrc__export_refuses_a_tree_entry_named_dot_git(void **state)
{
	struct fx *f = *state;
	char blob[64], tree[64], commit[GITSRC_OID_HEX + 1], dest[600];
	struct err err;

	/* git itself refuses to check this out; build it by hand */
	test_capture(blob, sizeof(blob), "printf 'evil\\n' | git -C '%s' "
	    "hash-object -w --stdin", f->up);
	test_capture(tree, sizeof(tree), "printf '100644 blob %s\\t.git\\n' | "
	    "git -C '%s' mktree", blob, f->up);
	test_capture(commit, sizeof(commit),
	    "git -C '%s' commit-tree %s -m evil", f->up, tree);
	test_sh("git -C '%s' update-ref refs/heads/main %s", f->up, commit);
	open_src(f, NULL);
	fetch_main(f);
	(void)snprintf(dest, sizeof(dest), "%s/state/work/7", f->dir);
	assert_int_equal(gitsrc_export(f->src, commit, dest, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "'.git' is not a safe path"));
}

static void
gitsrc__corrupt_mirror_is_recreated(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], path[600];

	commit_push(f, "one", c1);
	open_src(f, NULL);
	fetch_main(f);
	gitsrc_free(f->src);
	f->src = NULL;

	/* HEAD gone: not a repository any more */
	(void)snprintf(path, sizeof(path), "%s/HEAD", f->mirror);
	assert_int_equal(unlink(path), 0);
	open_src(f, NULL);
	assert_int_equal(gitsrc_recreated(f->src), 1);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	/* every object truncated: the head commit cannot be read */
	test_sh("find '%s/objects' -type f -exec truncate -s 0 {} +",
	    f->mirror);
	open_src(f, NULL);
	assert_int_equal(gitsrc_recreated(f->src), 1);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a config file that is not a config file */
	(void)snprintf(path, sizeof(path), "%s/config", f->mirror);
	test_sh("printf '[[[ not a config\\n' > '%s'", path);
	open_src(f, NULL);
	assert_int_equal(gitsrc_recreated(f->src), 1);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a healthy mirror is left alone */
	open_src(f, NULL);
	assert_int_equal(gitsrc_recreated(f->src), 0);
}

static void
gitsrc__changed_url_updates_the_remote(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], other[600], url[700];

	commit_push(f, "one", c1);
	(void)snprintf(other, sizeof(other), "%s/other.git", f->dir);
	test_sh("git clone -q --bare '%s' '%s'", f->up, other);
	test_sh("cd '%s' && git commit -q --allow-empty -m two && git push -q "
	    "'%s' HEAD:main 2>/dev/null", f->work, other);
	open_src(f, NULL);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	(void)snprintf(url, sizeof(url), "file://%s", other);
	open_src(f, url);
	assert_string_equal(gitsrc_url(f->src), url);
	fetch_main(f);
	test_capture(c1, sizeof(c1), "git -C '%s' rev-parse main", other);
	assert_head(f, "main", c1);
}

static void
gitsrc__bad_arguments_are_refused(void **state)
{
	struct fx *f = *state;
	struct gitsrc *src = NULL;
	struct err err;

	assert_int_equal(gitsrc_open(&src, "/tmp/not-a-mirror", f->url, NULL,
	    &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "must end in .git"));
	assert_int_equal(gitsrc_open(&src, f->mirror, "", NULL, &err),
	    ERR_INVALID);
	assert_int_equal(gitsrc_open(&src, f->mirror, "gopher://x/y.git",
	    NULL, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "unsupported url scheme 'gopher'"));
	assert_int_equal(gitsrc_open(&src, f->mirror, "https://u:pw@/x.git",
	    NULL, &err), ERR_INVALID);
	assert_null(strstr(err.msg, "pw"));
	assert_null(src);
}

static void
gitsrc__missing_local_repository_is_not_found(void **state)
{
	struct fx *f = *state;
	struct gitsrc_ref *refs = NULL;
	char url[600];
	struct err err;
	size_t n = 0;

	(void)snprintf(url, sizeof(url), "file://%s/nope.git", f->dir);
	open_src(f, url);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_NOTFOUND);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_NOTFOUND);
	assert_non_null(strstr(err.msg, "ls-remote 'file://"));
	assert_null(refs);
}

/* ---- tests: git:// ----------------------------------------------------- */

static void
gitsrc__git_daemon_serves_ls_remote_and_fetch(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], c2[GITSRC_OID_HEX + 1], url[600];
	struct gitsrc_ref *refs = NULL;
	struct testchild d;
	struct err err;
	size_t n = 0;

	commit_push(f, "one", c1);
	start_git_daemon(&d, f->dir, NULL);
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/up.git", d.port);
	open_src(f, url);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c1);
	gitsrc_refs_free(refs, n);
	fetch_main(f);			/* reuses the ls-remote connection */
	assert_head(f, "main", c1);

	commit_push(f, "two", c2);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c2);
	gitsrc_refs_free(refs, n);
	fetch_main(f);
	assert_head(f, "main", c2);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a repository the daemon does not have */
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/nope.git",
	    d.port);
	(void)snprintf(f->mirror, sizeof(f->mirror), "%s/state/git/nope.git",
	    f->dir);
	open_src(f, url);
	if (gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS, &err) !=
	    ERR_NOTFOUND)
		fail_msg("want not found, got: %s", err.msg);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_NOTFOUND);
	testchild_stop(&d);
}

static void
gitsrc__fetch_reconnects_when_the_kept_connection_died(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], url[600];
	struct gitsrc_ref *refs = NULL;
	struct testchild d;
	struct err err;
	size_t n = 0;
	int idle;

	commit_push(f, "one", c1);
	/* upload-pack gives up after one idle second */
	start_git_daemon(&d, f->dir, "--timeout=1");
	idle = descendants(d.pid);
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/up.git", d.port);
	open_src(f, url);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), 0);
	gitsrc_refs_free(refs, n);
	assert_true(descendants(d.pid) > idle);	/* the connection is kept */
	/* the server hangs up the kept connection */
	wait_daemon_idle(&d, idle);
	fetch_main(f);
	assert_head(f, "main", c1);
	testchild_stop(&d);
}

static void
gitsrc__unreachable_remote_fails_fast_and_clearly(void **state)
{
	struct fx *f = *state;
	struct gitsrc_ref *refs = NULL;
	char url[600], want[800];
	struct err err;
	size_t n = 0;
	int port = test_free_port();		/* nobody listens there */

	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/up.git", port);
	open_src(f, url);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_TRANSIENT);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_UNREACHABLE);
	(void)snprintf(want, sizeof(want), "ls-remote '%s': failed to connect "
	    "to 127.0.0.1 port %d: Connection refused", url, port);
	assert_string_equal(err.msg, want);
	assert_int_equal(gitsrc_fetch(f->src, (const char *const[]){ "main" },
	    1, 0, TIMEOUT_MS, &err), ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "fetch 'git://127.0.0.1:"));
	gitsrc_free(f->src);
	f->src = NULL;

	open_src(f, "https://user:hunter2@nonexistent.invalid/r.git");
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_TRANSIENT);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_UNREACHABLE);
	assert_non_null(strstr(err.msg, "ls-remote "
	    "'https://***@nonexistent.invalid/r.git': failed to resolve "
	    "address for nonexistent.invalid"));
	assert_null(strstr(err.msg, "hunter2"));
}

/* ---- tests: servers that hang ------------------------------------------ */

static void
expect_timeout(struct fx *f, const char *url)
{
	struct gitsrc_ref *refs = NULL;
	char want[700];
	struct err err;
	size_t n = 0;

	open_src(f, url);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, 700, &err),
	    ERR_TRANSIENT);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_TIMEOUT);
	(void)snprintf(want, sizeof(want), "ls-remote '%s': timed out after "
	    "700 ms", url);
	assert_string_equal(err.msg, want);
	assert_int_equal(gitsrc_fetch(f->src, (const char *const[]){ "main" },
	    1, 0, 700, &err), ERR_TRANSIENT);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_TIMEOUT);
	gitsrc_free(f->src);
	f->src = NULL;
	test_sh("rm -rf '%s'", f->mirror);
}

static void
gitsrc__hanging_server_is_cut_by_the_timeout(void **state)
{
	struct fx *f = *state;
	char script[600], log[600], url[600], seen[256];
	struct testchild h;

	alarm(120);	/* a broken timeout must not hang the whole suite */
	(void)snprintf(log, sizeof(log), "%s/hang.log", f->dir);
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "hang_server.py"), log, NULL };

		spawn(&h, argv, 1);
	}
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/up.git", h.port);
	expect_timeout(f, url);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/up.git", h.port);
	expect_timeout(f, url);
	/* https: the TLS handshake waits for an answer that never comes */
	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%d/up.git",
	    h.port);
	expect_timeout(f, url);
	/* ssh: libssh2 reads the socket itself; the watchdog cuts it */
	(void)snprintf(url, sizeof(url), "ssh://git@127.0.0.1:%d/up.git",
	    h.port);
	expect_timeout(f, url);
	testchild_stop(&h);
	alarm(0);
	/* the ssh client did talk through our socket */
	test_capture(seen, sizeof(seen), "grep -c 'SSH-2.0' '%s' || true", log);
	assert_true(strtol(seen, NULL, 10) >= 1);
	test_capture(seen, sizeof(seen),
	    "grep -c 'GET /up.git/info/refs' '%s' || true", log);
	assert_true(strtol(seen, NULL, 10) >= 1);
}

struct interrupter {
	struct gitsrc	*src;
	int		 stop;
};

static void *
interrupter_main(void *arg)
{
	struct interrupter *in = arg;

	/* keep poking until the call notices; timing is not asserted */
	while (!__atomic_load_n(&in->stop, __ATOMIC_SEQ_CST)) {
		usleep(100 * 1000);
		gitsrc_interrupt(in->src);
	}
	return NULL;
}

static void
gitsrc__interrupt_stops_a_call_from_another_thread(void **state)
{
	struct fx *f = *state;
	char script[600], log[600], url[600];
	struct gitsrc_ref *refs = NULL;
	struct interrupter in;
	struct testchild h;
	pthread_t th;
	struct err err;
	size_t n = 0;

	alarm(120);
	(void)snprintf(log, sizeof(log), "%s/hang.log", f->dir);
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "hang_server.py"), log, NULL };

		spawn(&h, argv, 1);
	}
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/up.git", h.port);
	open_src(f, url);
	in.src = f->src;
	in.stop = 0;
	assert_int_equal(pthread_create(&th, NULL, interrupter_main, &in), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, 0, &err),
	    ERR_TRANSIENT);
	__atomic_store_n(&in.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_INTERRUPTED);
	assert_non_null(strstr(err.msg, "interrupted"));
	testchild_stop(&h);
	alarm(0);
}

/* ---- tests: http:// with a token --------------------------------------- */

static void
gitsrc__http_token_is_sent_and_never_shown(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], script[600], url[600];
	/* plain http: only because the configuration says so */
	struct gitsrc_auth auth = { .token = "s3cr3t-t0ken",
	    .allow_insecure_http = 1 };
	struct gitsrc_auth url_only = { .allow_insecure_http = 1 };
	struct gitsrc_ref *refs = NULL;
	struct testchild h;
	struct err err;
	size_t n = 0;

	commit_push(f, "one", c1);
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "git_http_server.py"), f->dir,
		    "s3cr3t-t0ken", NULL };

		spawn(&h, argv, 1);
	}
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/up.git", h.port);

	/* the right token */
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	if (gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS, &err) != 0)
		fail_msg("ls-remote: %s", err.msg);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c1);
	gitsrc_refs_free(refs, n);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a wrong token: auth failure, and the token is nowhere */
	auth.token = "wrong-t0ken";
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_UNAUTHORIZED);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_AUTH);
	assert_non_null(strstr(err.msg, "authentication failed"));
	assert_null(strstr(err.msg, "wrong-t0ken"));
	gitsrc_free(f->src);
	f->src = NULL;

	/* no token at all */
	open_src(f, url);
	assert_int_equal(gitsrc_fetch(f->src, (const char *const[]){ "main" },
	    1, 0, TIMEOUT_MS, &err), ERR_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "no token is configured"));
	gitsrc_free(f->src);
	f->src = NULL;

	/* a token in the URL itself never shows up either */
	(void)snprintf(url, sizeof(url),
	    "http://x-access-token:wrong-t0ken@127.0.0.1:%d/up.git", h.port);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &url_only, &err),
	    0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "rejected the credentials in the url"));
	assert_null(strstr(err.msg, "wrong-t0ken"));
	assert_null(strstr(gitsrc_url(f->src), "wrong-t0ken"));
	testchild_stop(&h);
}

static void
gitsrc__https_with_an_unknown_certificate_is_refused(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], script[600], url[600];
	char cert[600], key[600];
	struct gitsrc_auth auth = { .token = "s3cr3t-t0ken" };
	struct gitsrc_ref *refs = NULL;
	struct testchild h;
	struct err err;
	size_t n = 0;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	commit_push(f, "one", c1);
	(void)snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
	(void)snprintf(key, sizeof(key), "%s/key.pem", f->dir);
	test_sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
	    "/CN=127.0.0.1 -keyout '%s' -out '%s' >/dev/null 2>&1", key, cert);
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "git_http_server.py"), f->dir,
		    "s3cr3t-t0ken", cert, key, NULL };

		spawn(&h, argv, 1);
	}
	(void)snprintf(url, sizeof(url), "https://127.0.0.1:%d/up.git",
	    h.port);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_FORBIDDEN);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_HOSTKEY);
	assert_non_null(strstr(err.msg, "certificate"));
	assert_null(strstr(err.msg, "s3cr3t"));
	testchild_stop(&h);
}

/*
 * Start git_http_server.py on f->dir with the token "s3cr3t-t0ken",
 * logging the Authorization header of every request to log (a file
 * under f->dir, its name written into log).
 */
static void
http_server_logging(struct fx *f, struct testchild *h, char *log,
    size_t loglen)
{
	char script[600];

	(void)snprintf(log, loglen, "%s/auth.log", f->dir);
	assert_int_equal(setenv("GIT_HTTP_AUTH_LOG", log, 1), 0);
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "git_http_server.py"), f->dir,
		    "s3cr3t-t0ken", NULL };

		spawn(h, argv, 1);
	}
	assert_int_equal(unsetenv("GIT_HTTP_AUTH_LOG"), 0);
}

static void
gitsrc__credentials_never_go_over_plain_http_unless_allowed(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], url[600], log[600];
	struct gitsrc_auth auth = { .token = "s3cr3t-t0ken" };
	struct gitsrc_ref *refs = NULL;
	struct testchild h;
	struct err err;
	size_t n = 0;

	commit_push(f, "one", c1);
	http_server_logging(f, &h, log, sizeof(log));

	/* a token: the server asks, sluice refuses to answer in clear */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/up.git", h.port);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_UNAUTHORIZED);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_AUTH);
	assert_non_null(strstr(err.msg, "plain http"));
	assert_non_null(strstr(err.msg, "allow_insecure_http"));
	gitsrc_free(f->src);
	f->src = NULL;

	/* a password in the url: the same */
	(void)snprintf(url, sizeof(url),
	    "http://x-access-token:s3cr3t-t0ken@127.0.0.1:%d/up.git", h.port);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, NULL, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_UNAUTHORIZED);
	assert_non_null(strstr(err.msg, "plain http"));
	assert_null(strstr(err.msg, "s3cr3t"));
	gitsrc_free(f->src);
	f->src = NULL;

	/*
	 * The server was asked, but never got the token: no Authorization
	 * header with it (libgit2 may try the url's user name alone).
	 */
	assert_true(test_file_has(log, "GET /up.git/info/refs"));
	assert_false(test_file_has(log, "Basic eC1hY2Nlc3MtdG9rZW46czNjcjN0LXQwa2Vu"));
	testchild_stop(&h);
}

static void
gitsrc__a_password_in_the_url_stays_out_of_the_mirror(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], url[600], log[600], config[600];
	struct gitsrc_auth auth = { .allow_insecure_http = 1 };
	struct gitsrc_ref *refs = NULL;
	char *stripped = NULL, *password = NULL;
	struct testchild h;
	struct err err;
	size_t n = 0;

	commit_push(f, "one", c1);
	http_server_logging(f, &h, log, sizeof(log));

	/* percent-encoded in the url ("%2D" is '-'), as git reads it */
	(void)snprintf(url, sizeof(url),
	    "http://bot:s3cr3t%%2Dt0ken@127.0.0.1:%d/up.git", h.port);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	if (gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS, &err) != 0)
		fail_msg("ls-remote: %s", err.msg);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c1);
	gitsrc_refs_free(refs, n);
	fetch_main(f);
	assert_head(f, "main", c1);
	/* sent as Basic bot:s3cr3t-t0ken */
	assert_true(test_file_has(log, "Basic Ym90OnMzY3IzdC10MGtlbg=="));

	/* the mirror's config names the remote without the password */
	(void)snprintf(config, sizeof(config), "%s/config", f->mirror);
	assert_true(test_file_has(config, "url = http://bot@127.0.0.1:"));
	assert_false(test_file_has(config, "s3cr3t"));
	assert_null(strstr(gitsrc_url(f->src), "s3cr3t"));
	gitsrc_free(f->src);
	f->src = NULL;

	/* the split itself */
	assert_int_equal(gitsrc_url_split("https://u:p%40ss@h/x.git",
	    &stripped, &password), 0);
	assert_string_equal(stripped, "https://u@h/x.git");
	assert_string_equal(password, "p@ss");
	free(stripped);
	free(password);
	assert_int_equal(gitsrc_url_split("https://:tok@h:8443/x.git",
	    &stripped, &password), 0);
	assert_string_equal(stripped, "https://h:8443/x.git");
	assert_string_equal(password, "tok");
	free(stripped);
	free(password);
	assert_int_equal(gitsrc_url_split("git@h:x.git", &stripped,
	    &password), 0);
	assert_string_equal(stripped, "git@h:x.git");
	assert_null(password);
	free(stripped);
	testchild_stop(&h);
}

/*
 * A real sshd on a free port with its own host key, when openssh-server
 * is installed (scripts/bootstrap.sh does not install it; skipped then).
 */
static void
gitsrc__ssh_uses_the_key_and_checks_known_hosts(void **state)
{
	struct fx *f = *state;
	char c1[GITSRC_OID_HEX + 1], url[800], cfg[600], kh[600], pub[1024];
	char key[600], user[64], other[600];
	struct gitsrc_auth auth = { 0 };
	struct gitsrc_ref *refs = NULL;
	struct testchild d;
	struct err err;
	size_t n = 0;
	FILE *fp;
	int i;

	if (access("/usr/sbin/sshd", X_OK) != 0 ||
	    system("command -v ssh-keygen >/dev/null 2>&1") != 0)
		skip();
	alarm(120);
	commit_push(f, "one", c1);
	test_capture(user, sizeof(user), "id -un");
	test_sh("cd '%s' && ssh-keygen -q -t ed25519 -N '' -f host && "
	    "ssh-keygen -q -t ed25519 -N '' -f client && "
	    "ssh-keygen -q -t ed25519 -N '' -f stranger && "
	    "cp client.pub authorized_keys && mkdir -p /run/sshd 2>/dev/null; "
	    "true", f->dir);
	if (getuid() != 0 || access("/run/sshd", F_OK) != 0) {
		alarm(0);
		skip();		/* sshd needs root for privilege separation */
	}
	(void)snprintf(cfg, sizeof(cfg), "%s/sshd_config", f->dir);
	d.port = test_free_port();
	fp = fopen(cfg, "w");
	assert_non_null(fp);
	fprintf(fp, "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\n"
	    "AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin yes\n"
	    "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
	    "KbdInteractiveAuthentication no\nPidFile %s/sshd.pid\n",
	    d.port, f->dir, f->dir, f->dir);
	fclose(fp);
	{
		const char *const argv[] = { "/usr/sbin/sshd", "-D", "-e", "-f",
		    cfg, NULL };
		int port = d.port;

		spawn(&d, argv, 0);
		d.port = port;
	}
	for (i = 0; i < 200 && !port_accepts(d.port); i++)
		usleep(50 * 1000);
	assert_true(port_accepts(d.port));

	(void)snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
	test_capture(pub, sizeof(pub), "cut -d' ' -f1,2 '%s/host.pub'", f->dir);
	test_sh("echo '[127.0.0.1]:%d %s' > '%s'", d.port, pub, kh);
	(void)snprintf(key, sizeof(key), "%s/client", f->dir);
	(void)snprintf(url, sizeof(url), "ssh://%s@127.0.0.1:%d%s", user,
	    d.port, f->up);
	auth.ssh_key_file = key;
	auth.known_hosts_file = kh;
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	if (gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS, &err) != 0)
		fail_msg("ls-remote over ssh: %s", err.msg);
	assert_string_equal(gitsrc_refs_branch(refs, n, "main")->oid, c1);
	gitsrc_refs_free(refs, n);
	fetch_main(f);
	assert_head(f, "main", c1);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a key the server does not know */
	(void)snprintf(other, sizeof(other), "%s/stranger", f->dir);
	auth.ssh_key_file = other;
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_UNAUTHORIZED);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_AUTH);
	gitsrc_free(f->src);
	f->src = NULL;

	/* a host key that changed */
	auth.ssh_key_file = key;
	test_capture(pub, sizeof(pub), "cut -d' ' -f1,2 '%s/stranger.pub'",
	    f->dir);
	test_sh("echo '[127.0.0.1]:%d %s' > '%s'", d.port, pub, kh);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_FORBIDDEN);
	assert_int_equal(gitsrc_last_failure(f->src), GITSRC_FAIL_HOSTKEY);
	assert_non_null(strstr(err.msg, "does not match"));
	gitsrc_free(f->src);
	f->src = NULL;

	/* an unknown host */
	test_sh(": > '%s'", kh);
	assert_int_equal(gitsrc_open(&f->src, f->mirror, url, &auth, &err), 0);
	assert_int_equal(gitsrc_ls_remote(f->src, &refs, &n, TIMEOUT_MS,
	    &err), ERR_FORBIDDEN);
	assert_non_null(strstr(err.msg, "has no ssh-ed25519 key"));
	testchild_stop(&d);
	alarm(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
		T(gitsrc__creates_the_mirror_and_fetch_brings_the_branch),
		T(gitsrc__ls_remote_sees_a_new_push_and_fetch_brings_it),
		T(gitsrc__deleted_branch_is_pruned_from_the_mirror),
		T(gitsrc__force_push_is_not_a_descendant),
		T(gitsrc__new_commits_are_newest_first_and_bounded),
		T(gitsrc__commit_text_is_valid_utf8_and_capped),
		T(gitsrc__read_dir_returns_pipeline_files_and_skips_bad_ones),
		T(gitsrc__changed_paths_cover_add_modify_delete_rename),
		T(gitsrc__export_writes_the_tree_with_modes_and_links),
		T(gitsrc__export_refuses_a_tree_entry_named_dot_git),
		T(gitsrc__corrupt_mirror_is_recreated),
		T(gitsrc__changed_url_updates_the_remote),
		T(gitsrc__bad_arguments_are_refused),
		T(gitsrc__missing_local_repository_is_not_found),
		T(gitsrc__git_daemon_serves_ls_remote_and_fetch),
		T(gitsrc__fetch_reconnects_when_the_kept_connection_died),
		T(gitsrc__unreachable_remote_fails_fast_and_clearly),
		T(gitsrc__hanging_server_is_cut_by_the_timeout),
		T(gitsrc__interrupt_stops_a_call_from_another_thread),
		T(gitsrc__http_token_is_sent_and_never_shown),
		T(gitsrc__credentials_never_go_over_plain_http_unless_allowed),
		T(gitsrc__a_password_in_the_url_stays_out_of_the_mirror),
		T(gitsrc__https_with_an_unknown_certificate_is_refused),
		T(gitsrc__ssh_uses_the_key_and_checks_known_hosts),
#undef T
	};
	const char *tmp = getenv("SLUICE_TEST_TMP");
	struct err err;
	char cfg[400];
	FILE *fp;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	(void)snprintf(base, sizeof(base), "%s/gitsrc-XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	/* git and libgit2 see only this run's configuration */
	setenv("HOME", base, 1);
	setenv("XDG_CONFIG_HOME", base, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	(void)snprintf(cfg, sizeof(cfg), "%s/.gitconfig", base);
	if ((fp = fopen(cfg, "w")) == NULL)
		return 1;
	fputs("[user]\n\tname = t\n\temail = t@e\n[init]\n\t"
	    "defaultBranch = main\n[protocol \"file\"]\n\tallow = always\n"
	    "[advice]\n\tdetachedHead = false\n", fp);
	fclose(fp);
	log_setup(LOG_ERROR, LOG_TEXT, stderr);
	if (gitsrc_global_init(&err) != 0) {
		fprintf(stderr, "gitsrc_global_init: %s\n", err.msg);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	gitsrc_global_shutdown();
	if (gitsrc_remove_dir(base, &err) < 0)
		fprintf(stderr, "%s\n", err.msg);
	return rc;
}
