/*
 * gitsrc_tree.c - the read-only calls on a mirror: branch heads, commits
 * and their ancestry, pipeline files of a tree, changed paths between two
 * commits, and the export of a commit's tree into a folder (the checkout
 * of a run); see gitsrc.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "git/gitsrc_int.h"

int
gitsrc_head(struct gitsrc *src, const char *branch,
    char oid_hex[GITSRC_OID_HEX + 1], struct err *err)
{
	char name[LIM_PATH];
	git_oid id;
	int rc;

	oid_hex[0] = '\0';
	if ((rc = gitsrc_branch_ref(name, sizeof(name), branch, err)) < 0)
		return rc;
	if ((rc = git_reference_name_to_id(&id, src->repo, name)) < 0) {
		if (rc == GIT_ENOTFOUND) {
			git_error_clear();
			return err_set(err, ERR_NOTFOUND, "branch '%s' not found "
			    "in '%s'", branch, src->url_safe);
		}
		return gitsrc_local_fail(src, err, "cannot read branch");
	}
	git_oid_tostr(oid_hex, GITSRC_OID_HEX + 1, &id);
	return 0;
}

static int
lookup_commit(git_commit **out, struct gitsrc *src, const char *hex,
    struct err *err)
{
	git_oid id;
	int rc;

	*out = NULL;
	if ((rc = gitsrc_parse_oid(&id, hex, err)) < 0)
		return rc;
	if ((rc = git_commit_lookup(out, src->repo, &id)) < 0) {
		if (rc == GIT_ENOTFOUND) {
			git_error_clear();
			return err_set(err, ERR_NOTFOUND, "commit '%s' not found "
			    "in the mirror of '%s'", hex, src->url_safe);
		}
		return gitsrc_local_fail(src, err, "cannot read commit");
	}
	return 0;
}

int
gitsrc_is_descendant(struct gitsrc *src, const char *new_hex,
    const char *old_hex, int *out, struct err *err)
{
	git_commit *nc = NULL, *oc = NULL;
	int rc;

	*out = 0;
	if ((rc = lookup_commit(&nc, src, new_hex, err)) < 0 ||
	    (rc = lookup_commit(&oc, src, old_hex, err)) < 0)
		goto out;
	if (git_oid_equal(git_commit_id(nc), git_commit_id(oc))) {
		*out = 1;
		goto out;
	}
	if ((rc = git_graph_descendant_of(src->repo, git_commit_id(nc),
	    git_commit_id(oc))) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot walk history");
		goto out;
	}
	*out = rc;
	rc = 0;
out:
	git_commit_free(nc);
	git_commit_free(oc);
	return rc;
}

void
gitsrc_commits_free(struct gitsrc_commit *commits, size_t n)
{
	size_t i;

	if (commits == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(commits[i].author_name);
		free(commits[i].author_email);
		free(commits[i].message);
	}
	free(commits);
}

int
gitsrc_new_commits(struct gitsrc *src, const char *new_hex,
    const char *old_hex, size_t max, struct gitsrc_commit **out, size_t *n,
    struct err *err)
{
	struct gitsrc_commit *list = NULL;
	git_commit *head = NULL, *c = NULL;
	git_revwalk *walk = NULL;
	size_t count = 0;
	git_oid id, old;
	int rc;

	*out = NULL;
	*n = 0;
	if (max > LIM_GIT_COMMITS)
		max = LIM_GIT_COMMITS;
	if (old_hex != NULL && (rc = gitsrc_parse_oid(&old, old_hex, err)) < 0)
		return rc;
	if ((rc = lookup_commit(&head, src, new_hex, err)) < 0)
		return rc;
	if (git_revwalk_new(&walk, src->repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) <
	    0 || git_revwalk_push(walk, git_commit_id(head)) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot walk history");
		goto out;
	}
	if (old_hex != NULL && git_revwalk_hide(walk, &old) < 0) {
		/* not in the mirror: treated as first sight (see gitsrc.h) */
		log_debug("git old head unknown", "url=%s commit=%s",
		    src->url_safe, old_hex);
		git_error_clear();
	}
	list = xcalloc(max > 0 ? max : 1, sizeof(*list));
	while (count < max && (rc = git_revwalk_next(&id, walk)) == 0) {
		struct gitsrc_commit *e = &list[count];
		const git_signature *a;

		if (git_commit_lookup(&c, src->repo, &id) < 0) {
			rc = gitsrc_local_fail(src, err, "cannot read commit");
			goto out;
		}
		a = git_commit_author(c);
		git_oid_tostr(e->sha, sizeof(e->sha), &id);
		e->author_name = gitsrc_utf8_dup(a != NULL ? a->name : "", LIM_NAME *
		    4);
		e->author_email = gitsrc_utf8_dup(a != NULL ? a->email : "",
		    LIM_NAME * 4);
		e->message = gitsrc_utf8_dup(git_commit_message(c), LIM_GIT_MESSAGE);
		e->time = a != NULL ? (int64_t)a->when.time :
		    (int64_t)git_commit_time(c);
		e->parents = git_commit_parentcount(c);
		count++;
		git_commit_free(c);
		c = NULL;
	}
	if (rc < 0 && rc != GIT_ITEROVER && count < max) {
		rc = gitsrc_local_fail(src, err, "cannot walk history");
		goto out;
	}
	git_error_clear();
	*out = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	gitsrc_commits_free(list, count);
	git_commit_free(c);
	git_commit_free(head);
	git_revwalk_free(walk);
	return rc;
}

/* "", ".", "./x/", "x/" -> "" or "x"; ERR_INVALID for ".." or "//". */
static int
clean_dir(char *out, size_t outlen, const char *dir, struct err *err)
{
	const char *p = dir != NULL ? dir : "";
	size_t len;

	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (strcmp(p, ".") == 0)
		p = "";
	if (p[0] == '/' || str_copy(out, outlen, p) < 0)
		goto bad;
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	if (strstr(out, "//") != NULL || strcmp(out, "..") == 0 ||
	    strncmp(out, "../", 3) == 0 || strstr(out, "/../") != NULL ||
	    gitsrc_has_suffix(out, "/..") || strstr(out, "/./") != NULL)
		goto bad;
	return 0;
bad:
	return err_set(err, ERR_INVALID, "'%.128s' is not a valid folder in "
	    "a repository", p);
}

void
gitsrc_files_free(struct gitsrc_file *files, size_t n)
{
	size_t i;

	if (files == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(files[i].path);
		free(files[i].data);
		free(files[i].error);
	}
	free(files);
}

static int
is_pipeline_name(const char *name)
{
	return gitsrc_has_suffix(name, ".yaml") || gitsrc_has_suffix(name, ".yml");
}

/* Read one blob into f, or set f->error when it is skipped. */
static int
read_pipeline_blob(struct gitsrc *src, const git_tree_entry *e,
    struct gitsrc_file *f, struct err *err)
{
	git_object_t type;
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	const char *data;
	size_t size;
	int rc = 0;

	if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
		f->error = xstrdup("symbolic link skipped");
		return 0;
	}
	if (git_repository_odb(&odb, src->repo) < 0 ||
	    git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot read file");
		goto out;
	}
	if (size > LIM_PIPELINE_FILE) {
		char msg[128];

		(void)snprintf(msg, sizeof(msg), "file is larger than %d bytes "
		    "(%zu bytes), skipped", LIM_PIPELINE_FILE, size);
		f->error = xstrdup(msg);
		goto out;
	}
	if (git_blob_lookup(&blob, src->repo, git_tree_entry_id(e)) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot read file");
		goto out;
	}
	data = git_blob_rawcontent(blob);
	size = (size_t)git_blob_rawsize(blob);
	if (memchr(data, '\0', size) != NULL || git_blob_is_binary(blob)) {
		f->error = xstrdup("binary file skipped");
		goto out;
	}
	f->data = malloc(size + 1);
	if (f->data == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(f->data, data, size);
	f->data[size] = '\0';
	f->len = size;
out:
	git_blob_free(blob);
	git_odb_free(odb);
	return rc;
}

/* The tree of a commit, or of dir inside it (NULL *out when missing). */
static int
commit_tree(git_tree **out, struct gitsrc *src, const char *hex,
    const char *dir, struct err *err)
{
	git_commit *c = NULL;
	git_tree *root = NULL;
	git_tree_entry *e = NULL;
	int rc;

	*out = NULL;
	if ((rc = lookup_commit(&c, src, hex, err)) < 0)
		return rc;
	if (git_commit_tree(&root, c) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot read tree");
		goto out;
	}
	if (dir == NULL || dir[0] == '\0') {
		*out = root;
		root = NULL;
		goto out;
	}
	if ((rc = git_tree_entry_bypath(&e, root, dir)) < 0) {
		if (rc == GIT_ENOTFOUND) {
			git_error_clear();
			rc = 0;
		} else
			rc = gitsrc_local_fail(src, err, "cannot read tree");
		goto out;
	}
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE &&
	    git_tree_lookup(out, src->repo, git_tree_entry_id(e)) < 0)
		rc = gitsrc_local_fail(src, err, "cannot read tree");
out:
	git_tree_entry_free(e);
	git_tree_free(root);
	git_commit_free(c);
	return rc;
}

int
gitsrc_read_dir(struct gitsrc *src, const char *commit_hex, const char *dir,
    struct gitsrc_file **out, size_t *n, struct err *err)
{
	struct gitsrc_file *list = NULL;
	char clean[LIM_PATH];
	git_tree *tree = NULL;
	size_t i, count = 0, entries;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = clean_dir(clean, sizeof(clean), dir, err)) < 0)
		return rc;
	if ((rc = commit_tree(&tree, src, commit_hex, clean, err)) < 0)
		return rc;
	entries = tree != NULL ? git_tree_entrycount(tree) : 0;
	list = xcalloc(1, sizeof(*list));
	for (i = 0; i < entries; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		struct gitsrc_file *f;
		struct buf path;

		if (!is_pipeline_name(name) || (mode != GIT_FILEMODE_BLOB &&
		    mode != GIT_FILEMODE_BLOB_EXECUTABLE &&
		    mode != GIT_FILEMODE_LINK))
			continue;
		if (count >= LIM_GIT_DIR_FILES) {
			rc = err_set(err, ERR_TOOBIG, "more than %d pipeline "
			    "files in '%s'", LIM_GIT_DIR_FILES, clean);
			goto out;
		}
		list = realloc(list, (count + 1) * sizeof(*list));
		if (list == NULL)
			abort();
		f = &list[count++];
		memset(f, 0, sizeof(*f));
		buf_init(&path, LIM_PATH);
		if ((clean[0] != '\0' && buf_printf(&path, "%s/", clean) < 0) ||
		    buf_puts(&path, name) < 0) {
			buf_release(&path);
			rc = err_set(err, ERR_TOOBIG, "path in '%s' is too "
			    "long", clean);
			goto out;
		}
		f->path = buf_detach(&path);
		if (f->path == NULL)
			abort();
		if ((rc = read_pipeline_blob(src, e, f, err)) < 0)
			goto out;
	}
	*out = list;
	*n = count;
	list = NULL;
out:
	gitsrc_files_free(list, count);
	git_tree_free(tree);
	return rc;
}

void
gitsrc_paths_free(char **paths, size_t n)
{
	size_t i;

	if (paths == NULL)
		return;
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
gitsrc_changed_paths(struct gitsrc *src, const char *old_hex,
    const char *new_hex, char ***paths, size_t *n, struct err *err)
{
	git_diff_options dopts;
	git_diff_find_options fopts;
	git_tree *old = NULL, *new = NULL;
	git_diff *diff = NULL;
	char **list = NULL;
	size_t i, nd, count = 0, cap;
	int rc;

	*paths = NULL;
	*n = 0;
	if ((rc = commit_tree(&new, src, new_hex, NULL, err)) < 0 ||
	    (old_hex != NULL &&
	    (rc = commit_tree(&old, src, old_hex, NULL, err)) < 0))
		goto out;
	if (git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION) < 0 ||
	    git_diff_find_options_init(&fopts,
	    GIT_DIFF_FIND_OPTIONS_VERSION) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot diff trees");
		goto out;
	}
	dopts.flags = GIT_DIFF_SKIP_BINARY_CHECK;
	dopts.ignore_submodules = GIT_SUBMODULE_IGNORE_NONE;
	if (git_diff_tree_to_tree(&diff, src->repo, old, new, &dopts) < 0) {
		rc = gitsrc_local_fail(src, err, "cannot diff trees");
		goto out;
	}
	if (old != NULL) {
		fopts.flags = GIT_DIFF_FIND_RENAMES;
		if (git_diff_find_similar(diff, &fopts) < 0) {
			rc = gitsrc_local_fail(src, err, "cannot find renames");
			goto out;
		}
	}
	nd = git_diff_num_deltas(diff);
	if (nd > LIM_GIT_CHANGED_PATHS) {
		rc = err_set(err, ERR_TOOBIG, "more than %d changed paths",
		    LIM_GIT_CHANGED_PATHS);
		goto out;
	}
	cap = nd * 2 + 1;
	list = xcalloc(cap, sizeof(*list));
	for (i = 0; i < nd; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		if (d->old_file.path != NULL &&
		    d->status != GIT_DELTA_ADDED)
			list[count++] = xstrdup(d->old_file.path);
		if (d->new_file.path != NULL &&
		    d->status != GIT_DELTA_DELETED &&
		    (count == 0 || d->old_file.path == NULL ||
		    d->status == GIT_DELTA_ADDED ||
		    strcmp(d->old_file.path, d->new_file.path) != 0))
			list[count++] = xstrdup(d->new_file.path);
	}
	qsort(list, count, sizeof(*list), cmp_str);
	for (i = 1, nd = count, count = count > 0 ? 1 : 0; i < nd; i++) {
		if (strcmp(list[i], list[count - 1]) == 0)
			free(list[i]);
		else
			list[count++] = list[i];
	}
	if (count > LIM_GIT_CHANGED_PATHS) {
		rc = err_set(err, ERR_TOOBIG, "more than %d changed paths",
		    LIM_GIT_CHANGED_PATHS);
		goto out;
	}
	*paths = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	gitsrc_paths_free(list, count);
	git_diff_free(diff);
	git_tree_free(old);
	git_tree_free(new);
	return rc;
}

/* ---- export ------------------------------------------------------------ */

struct export {
	struct gitsrc	*src;
	size_t		 files;
	struct buf	 path;		/* for messages */
};

static int
safe_entry_name(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strchr(name, '/') == NULL &&
	    strcasecmp(name, ".git") != 0;
}

static int
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
export_tree(struct export *x, const git_tree *tree, int dfd, int depth,
    struct err *err)
{
	size_t i, n = git_tree_entrycount(tree), mark = x->path.len;
	int rc = 0;

	if (depth > LIM_GIT_TREE_DEPTH)
		return err_set(err, ERR_TOOBIG, "export: folders nested more "
		    "than %d deep at '%s'", LIM_GIT_TREE_DEPTH, x->path.data);
	for (i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		git_tree *sub = NULL;
		git_blob *blob = NULL;
		int fd = -1;

		x->path.len = mark;
		if (x->path.data != NULL)
			x->path.data[mark] = '\0';
		if (buf_printf(&x->path, "%s%s", mark > 0 ? "/" : "", name) < 0)
			return err_set(err, ERR_TOOBIG, "export: path too long");
		if (!safe_entry_name(name))
			return err_set(err, ERR_INVALID, "export: tree entry "
			    "'%s' is not a safe path", x->path.data);
		if (++x->files > LIM_GIT_EXPORT_FILES)
			return err_set(err, ERR_TOOBIG, "export: more than %d "
			    "files", LIM_GIT_EXPORT_FILES);
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (mkdirat(dfd, name, 0755) < 0 ||
			    (fd = openat(dfd, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC)) < 0) {
				rc = err_set(err, ERR_GENERIC, "export: cannot "
				    "create '%s': %s", x->path.data,
				    strerror(errno));
				break;
			}
			if (git_tree_lookup(&sub, x->src->repo,
			    git_tree_entry_id(e)) < 0) {
				rc = gitsrc_local_fail(x->src, err, "cannot read tree");
				break;
			}
			rc = export_tree(x, sub, fd, depth + 1, err);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK: {
			mode_t perm = mode == GIT_FILEMODE_BLOB_EXECUTABLE ?
			    0755 : 0644;
			const char *data;
			size_t size;

			if (git_blob_lookup(&blob, x->src->repo,
			    git_tree_entry_id(e)) < 0) {
				rc = gitsrc_local_fail(x->src, err, "cannot read file");
				break;
			}
			data = git_blob_rawcontent(blob);
			size = (size_t)git_blob_rawsize(blob);
			if (mode == GIT_FILEMODE_LINK) {
				char target[LIM_PATH + 1];

				if (size == 0 || size > LIM_PATH ||
				    memchr(data, '\0', size) != NULL) {
					rc = err_set(err, ERR_INVALID, "export: "
					    "bad link '%s'", x->path.data);
					break;
				}
				memcpy(target, data, size);
				target[size] = '\0';
				if (symlinkat(target, dfd, name) < 0)
					rc = err_set(err, ERR_GENERIC, "export: "
					    "cannot link '%s': %s",
					    x->path.data, strerror(errno));
				break;
			}
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, perm);
			if (fd < 0 || write_all(fd, data, size) < 0 ||
			    fchmod(fd, perm) < 0)
				rc = err_set(err, ERR_GENERIC, "export: cannot "
				    "write '%s': %s", x->path.data,
				    strerror(errno));
			break;
		}
		case GIT_FILEMODE_COMMIT:	/* a submodule: empty folder */
			if (mkdirat(dfd, name, 0755) < 0)
				rc = err_set(err, ERR_GENERIC, "export: cannot "
				    "create '%s': %s", x->path.data,
				    strerror(errno));
			break;
		default:
			rc = err_set(err, ERR_INVALID, "export: unknown mode "
			    "%o of '%s'", (unsigned)mode, x->path.data);
			break;
		}
		if (fd >= 0 && close(fd) < 0 && rc == 0)
			rc = err_set(err, ERR_GENERIC, "export: cannot write "
			    "'%s': %s", x->path.data, strerror(errno));
		git_blob_free(blob);
		git_tree_free(sub);
	}
	return rc;
}

int
gitsrc_export(struct gitsrc *src, const char *commit_hex,
    const char *dest_dir, struct err *err)
{
	struct export x = { .src = src };
	git_tree *tree = NULL;
	int rc, dfd = -1;
	DIR *d;

	if (dest_dir == NULL || dest_dir[0] == '\0')
		return err_set(err, ERR_INVALID, "export: no folder given");
	if ((rc = commit_tree(&tree, src, commit_hex, NULL, err)) < 0)
		return rc;
	if ((rc = sys_mkdir_p(dest_dir, 0755, err)) < 0)
		goto out;
	if ((dfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		rc = err_set(err, ERR_GENERIC, "export: cannot open '%s': %s",
		    dest_dir, strerror(errno));
		goto out;
	}
	{
		int fd2 = dup(dfd);
		struct dirent *de;
		int empty = 1;

		if (fd2 < 0 || (d = fdopendir(fd2)) == NULL) {
			if (fd2 >= 0)
				close(fd2);
			rc = err_set(err, ERR_GENERIC, "export: cannot read "
			    "'%s': %s", dest_dir, strerror(errno));
			goto out;
		}
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				empty = 0;
		closedir(d);
		if (!empty) {
			rc = err_set(err, ERR_CONFLICT, "export: folder '%s' is "
			    "not empty", dest_dir);
			goto out;
		}
	}
	buf_init(&x.path, LIM_PATH);
	rc = export_tree(&x, tree, dfd, 0, err);
	buf_release(&x.path);
out:
	if (dfd >= 0)
		close(dfd);
	git_tree_free(tree);
	return rc;
}

int
gitsrc_mirror_dir(char *out, size_t outlen, const char *state_dir,
    const char *name, struct err *err)
{
	int n;

	if (state_dir == NULL || name == NULL || name[0] == '\0' ||
	    strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return err_set(err, ERR_INVALID, "'%s' is not a repository name",
		    name != NULL ? name : "(null)");
	n = snprintf(out, outlen, "%s/git/%s.git", state_dir, name);
	if (n < 0 || (size_t)n >= outlen)
		return err_set(err, ERR_TOOBIG, "state_dir path too long");
	return 0;
}

int
gitsrc_checkout_commit(const char *state_dir, const char *name,
    const char *commit_hex, const char *dest_dir, struct err *err)
{
	struct gitsrc *src;
	char dir[LIM_PATH];
	int rc;

	if ((rc = gitsrc_mirror_dir(dir, sizeof(dir), state_dir, name,
	    err)) < 0 || (rc = gitsrc_global_init(err)) < 0)
		return rc;
	/*
	 * Only the repository: no remote, no watchdog, and the mirror is
	 * neither created, repaired nor given another origin here.
	 */
	src = xcalloc(1, sizeof(*src));
	src->dir = xstrdup(dir);
	if (git_repository_open_ext(&src->repo, dir,
	    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
	    NULL) < 0) {
		rc = git_error_last() != NULL && access(dir, F_OK) < 0 ?
		    err_set(err, ERR_NOTFOUND, "repository '%s' has no mirror "
		    "at '%s' yet", name, dir) :
		    gitsrc_local_fail(src, err, "cannot open");
		goto out;
	}
	rc = gitsrc_export(src, commit_hex, dest_dir, err);
out:
	git_repository_free(src->repo);
	free(src->dir);
	free(src);
	gitsrc_global_shutdown();
	return rc;
}
