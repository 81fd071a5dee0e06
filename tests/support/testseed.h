/*
 * testseed.h - lineage rows for API tests, written the way the poller and
 * the engine write them (store_commit_put, store_pipeline_version_put,
 * store_run_create) or, for what has no store function yet (attempts,
 * metrics, approvals), with plain SQL.  Every call aborts the test on
 * failure, printing why.
 */
#ifndef SLUICE_TESTSEED_H
#define SLUICE_TESTSEED_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_token.h"
#include "testapi.h"

struct db;

/*
 * The fixture of the API tests: a server (testapi), a connection for
 * seeding and checking, and a token of each role.
 */
struct apifix {
	struct testapi	*a;
	struct db	*db;
	char		 viewer[TOKEN_LEN + 1];
	char		 operator[TOKEN_LEN + 1];
	char		 approver[TOKEN_LEN + 1];
	char		 admin[TOKEN_LEN + 1];
};

/* Start one (settings and secret as testapi_start); NULL on failure. */
struct apifix *apifix_start(const char *const *settings, const char *secret);
void	apifix_stop(struct apifix *f);

/* A repository (source 'config') watching branches (a SQL array literal
 * such as "{main}"); returns its id. */
/*
 * The number of runs whose kept list document (runs.summary) is not the
 * one their fields make now; the first is printed on stderr.  0 after any
 * sequence of writes, whoever wrote them.
 */
size_t	seed_stale_summaries(struct db *db);

int64_t	seed_repo(struct db *db, const char *name, const char *branches);

/* A commit of repo with sha (40 hex digits), message and author. */
int64_t	seed_commit(struct db *db, int64_t repo, const char *sha,
	    const char *message, const char *author);

/*
 * The pipeline file path (in the repository) at commit, from yaml text:
 * parsed and stored valid with its canonical JSON, or invalid with its
 * errors (name then names the pipeline).  Returns the version id and the
 * pipeline's id in *pipeline_id.
 */
int64_t	seed_version(struct db *db, int64_t repo, int64_t commit,
	    const char *path, const char *yaml, const char *name,
	    int64_t *pipeline_id);

/* The processed head of branch. */
void	seed_head(struct db *db, int64_t repo, const char *branch,
	    const char *sha);

/* A run of version (trigger push, branch main) by store_run_create. */
int64_t	seed_run(struct db *db, int64_t version, const char *trigger,
	    const char *branch, const char *params_json);

/*
 * Run sql (constant text, no parameters, several statements allowed) and
 * return the first column of the first row of the last statement as a
 * number (0 when none).
 */
int64_t	seed_sql(struct db *db, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * An attempt of stage (by name) of run, in status (a finished one gets
 * its times and exit code 0); step 0 is a job attempt, step >= 1 a
 * canary step (weight 10 * step).  Job name sluice-<run>-<stage>-<attempt>
 * and -s<step>.
 */
int64_t	seed_attempt(struct db *db, int64_t run, const char *stage,
	    int attempt, int step, const char *status);

/* A metric reported by an attempt, secs seconds ago. */
void	seed_metric(struct db *db, int64_t attempt, const char *name,
	    double value, int secs_ago);

/*
 * A model version name/version registered from a "model" artifact of
 * attempt (uri s3://models/<name>/<version>), with status, target (NULL
 * for none) and metrics (a JSON object).
 */
int64_t	seed_model(struct db *db, int64_t attempt, const char *name,
	    int version, const char *status, const char *target,
	    const char *metrics);

/* A rollout of the canary stage of run, waiting for approval. */
int64_t	seed_rollout(struct db *db, int64_t run, const char *stage,
	    const char *target, int64_t model, int64_t previous, int step,
	    int weight);

/* An approval of a rollout's step; decided_by NULL unless decided. */
int64_t	seed_approval(struct db *db, int64_t rollout, int step, int weight,
	    const char *status, const char *decided_by);

/* The text of $SLUICE_TOP/rel (caller frees); aborts when unreadable. */
char	*seed_file(const char *rel);

#endif
