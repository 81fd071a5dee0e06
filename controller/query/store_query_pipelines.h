/*
 * store_query_pipelines.h - pipelines as the REST API shows them, and the
 * lookups that start a run of one: which pipeline a name means, and which
 * commit and version a ref or commit means.
 *
 * A pipeline in the list:
 *	{"name", "repository", "file", "deleted", "created_at", "updated_at",
 *	 "latest": {"version", "commit", "valid", "created_at"} | null,
 *	 "last_run": {"id", "status", "created_at"} | null}
 * In detail, also:
 *	"version": the latest valid version's id | null,
 *	"definition": its canonical JSON | null, "params": its params,
 *	"definition_commit": {"sha", "message", "author", "time"} | null,
 *	"latest": {... , "commit": {"sha", "message", "author", "time"},
 *	           "errors": [{"file", "line", "column", "message"}]},
 *	"heads": [{"branch", "commit", "version", "valid"}]  (the
 *	          repository's processed branches and this pipeline there)
 *
 * All calls block on the database and fail as db_exec() does.
 */
#ifndef SLUICE_STORE_QUERY_PIPELINES_H
#define SLUICE_STORE_QUERY_PIPELINES_H

#include <stdint.h>

#include "base/caps.h"
#include "base/err.h"
#include "query/store_query.h"

struct buf;
struct db;

/*
 * Pipelines by name then repository: {"pipelines": [...], "next_cursor"}.
 * repository (NULL: all) narrows to one; deleted pipelines are listed
 * only when with_deleted.
 */
int	store_query_pipelines_list(struct db *db, const char *repository,
	    int with_deleted, const struct page_in *pg, struct buf *out,
	    struct err *err) __attribute__((warn_unused_result));

/* The pipeline a name means. */
struct pipeline_ref {
	int64_t	 id;
	int64_t	 repo_id;
	char	 name[LIM_NAME + 1];
	char	 repository[LIM_NAME + 1];
	int	 deleted;
};

/*
 * The pipeline called name in repository (NULL: any live repository).
 * A live pipeline wins over deleted ones.  Errors: ERR_NOTFOUND; and
 * ERR_CONFLICT when the name is used in several repositories, the message
 * naming them ("pipeline 'x' is in repositories a, b: add ?repository=").
 */
int	store_query_pipeline_find(struct db *db, const char *name,
	    const char *repository, struct pipeline_ref *out, struct err *err)
	    __attribute__((warn_unused_result));

/* The pipeline of id in detail (new string in *json).  ERR_NOTFOUND. */
int	store_query_pipeline_get(struct db *db, int64_t id, char **json,
	    struct err *err) __attribute__((warn_unused_result));

/* Where a run of a pipeline would start. */
struct run_target {
	int64_t	 version_id;
	char	 branch[256];	/* "" when started at a bare commit */
	char	 sha[65];
	int	 webhook;	/* spec.triggers.webhook of that version */
};

/*
 * Resolve a run of p: at the processed head of branch ref, or at the known
 * commit whose sha starts with commit (7 to 64 hex digits), or, with
 * neither, at the head of the repository's first branch; then the
 * pipeline's version at that commit, which must be valid, and params (a
 * JSON object text, or NULL), whose names it must declare.  Errors:
 * ERR_UNPROCESSABLE naming why (an unwatched or unprocessed branch, an
 * unknown or ambiguous commit, no version or an invalid one there, unknown
 * params).
 */
int	store_query_run_target(struct db *db, const struct pipeline_ref *p,
	    const char *ref, const char *commit, const char *params,
	    struct run_target *out, struct err *err)
	    __attribute__((warn_unused_result));

#endif
