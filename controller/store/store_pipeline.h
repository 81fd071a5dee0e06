/*
 * store_pipeline.h - pipelines and their versions (tables pipelines,
 * pipeline_versions): one version per pipeline file per commit, valid
 * (with its canonical JSON) or not (with its errors).
 * Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_PIPELINE_H
#define SLUICE_STORE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;

struct pipeline_version_in {
	int64_t		 repo_id;
	int64_t		 commit_id;
	const char	*file_path;	/* path in the repository */
	const char	*blob_sha;	/* the file's blob, or NULL */
	const char	*name;		/* metadata.name, NULL when unreadable */
	const char	*definition;	/* canonical JSON when valid, else NULL */
	const char	*errors;	/* JSON array of errors; "[]" when valid */
};

/*
 * Store a version (a no-op when this commit's file is already stored) and
 * make it the pipeline's latest, valid or not; a deleted pipeline that
 * comes back is live again.  A file whose name is unreadable (invalid)
 * belongs to the live pipeline last found at the same path, if any;
 * else *pipeline_id is 0.  When two
 * files of one commit use the same name, the second is stored invalid
 * with an error naming the first.
 */
int	store_pipeline_version_put(struct db *db,
	    const struct pipeline_version_in *v, int64_t *pipeline_id,
	    int64_t *version_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Soft-delete the live pipelines of a repository whose ids are not in
 * live_ids (a JSON array of numbers); their runs stay.  Appends an event
 * each.
 */
int	store_pipeline_delete_missing(struct db *db, int64_t repo_id,
	    const char *live_ids, const char *actor, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The pipeline files at branch heads (table pipeline_files): the poller
 * records each file of a processed head with its version (valid or not,
 * with the version's errors), in the same transaction as the version.
 */
int	store_pipeline_file_put(struct db *db, int64_t repo_id,
	    const char *branch, int64_t version_id, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Forget the files of a branch whose paths are not in paths (a JSON array
 * of strings; "[]" forgets them all, for a deleted branch).
 */
int	store_pipeline_files_prune(struct db *db, int64_t repo_id,
	    const char *branch, const char *paths, struct err *err)
	    __attribute__((warn_unused_result));

/* One pipeline file at a branch head, as store_pipeline_files_at() says. */
struct pipeline_file {
	char	*file_path;
	char	*branch;
	char	*sha;		/* the head commit */
	int	 valid;
	char	*first_error;	/* "FILE:LINE:COL: message"; NULL when valid */
};

/*
 * The pipeline files of repository repo_id at every processed branch head
 * whose commit is sha (e.g. to post a commit status per file), ordered by
 * branch then path.  *out (an array of *n) is the caller's: free it with
 * store_pipeline_files_free().
 */
int	store_pipeline_files_at(struct db *db, int64_t repo_id,
	    const char *sha, struct pipeline_file **out, size_t *n,
	    struct err *err) __attribute__((warn_unused_result));

void	store_pipeline_files_free(struct pipeline_file *f, size_t n);

#endif
