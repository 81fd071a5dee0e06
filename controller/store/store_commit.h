/*
 * store_commit.h - commits Sluice has seen (table commits).
 * Blocks on the database; errors as db_exec().
 */
#ifndef SLUICE_STORE_COMMIT_H
#define SLUICE_STORE_COMMIT_H

#include <stdint.h>

#include "base/err.h"

struct db;

struct commit_in {
	const char	*sha;		/* 40 or 64 hex digits */
	const char	*parents_json;	/* JSON array of shas, or NULL */
	const char	*author_name;
	const char	*author_email;
	const char	*message;
	int64_t		 committed_at;	/* unix seconds */
};

/*
 * Record a commit of a repository (a no-op when already known) and give
 * its id.  ERR_INVALID for a malformed sha.
 */
int	store_commit_put(struct db *db, int64_t repo_id,
	    const struct commit_in *c, int64_t *id, struct err *err)
	    __attribute__((warn_unused_result));

/* The id of a known commit; ERR_NOTFOUND. */
int	store_commit_find(struct db *db, int64_t repo_id, const char *sha,
	    int64_t *id, struct err *err) __attribute__((warn_unused_result));

#endif
