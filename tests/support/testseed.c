/* testseed.c - lineage rows for API tests; see testseed.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pipeline/pipeline.h"
#include "query/store_query_runs.h"
#include "store/db.h"
#include "store/store_commit.h"
#include "store/store_pipeline.h"
#include "store/store_repo.h"
#include "store/store_run.h"
#include "testapi.h"
#include "testseed.h"

static void
die(const char *what, const struct err *err)
{
	fprintf(stderr, "seed: %s: %s\n", what, err != NULL ? err->msg : "");
	abort();
}

int64_t
seed_sql(struct db *db, const char *fmt, ...)
{
	struct db_res *res = NULL;
	struct err err;
	char sql[16384];
	int64_t v = 0;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(sql, sizeof(sql), fmt, ap) >= (int)sizeof(sql))
		die("statement too long", NULL);
	va_end(ap);
	if (strchr(sql, ';') != NULL) {
		if (db_exec_script(db, sql, &err) < 0)
			die(sql, &err);
		return 0;
	}
	if (db_exec(db, sql, NULL, &res, &err) < 0)
		die(sql, &err);
	if (db_res_rows(res) > 0 && db_res_cols(res) > 0 &&
	    !db_res_is_null(res, 0, 0) && db_res_int64(res, 0, 0, &v,
	    &err) < 0)
		die(sql, &err);
	db_res_free(res);
	return v;
}

size_t
seed_stale_summaries(struct db *db)
{
	struct db_res *res = NULL;
	struct err err;
	size_t stale = 0;

	if (db_exec(db, store_query_run_summary_sql, NULL, &res, &err) < 0)
		die("run summaries", &err);
	for (size_t i = 0; i < db_res_rows(res); i++) {
		if (strcmp(db_res_text(res, i, 1), db_res_text(res, i, 2)) == 0)
			continue;
		if (stale++ == 0)
			fprintf(stderr, "run %s: kept summary\n  %s\nis not\n"
			    "  %s\n", db_res_text(res, i, 0),
			    db_res_text(res, i, 2), db_res_text(res, i, 1));
	}
	db_res_free(res);
	return stale;
}

int64_t
seed_repo(struct db *db, const char *name, const char *branches)
{
	struct db_res *res = NULL;
	struct db_args a;
	struct err err;
	int64_t id = 0;

	db_args_init(&a);
	db_args_str(&a, name);
	db_args_str(&a, branches);
	if (db_exec(db, "INSERT INTO repositories (name, url, branches,"
	    " source) VALUES ($1, 'file:///srv/git/' || $1 || '.git', $2,"
	    " 'config') RETURNING id", &a, &res, &err) < 0 ||
	    db_res_int64(res, 0, 0, &id, &err) < 0)
		die("repository", &err);
	db_res_free(res);
	return id;
}

int64_t
seed_commit(struct db *db, int64_t repo, const char *sha,
    const char *message, const char *author)
{
	struct commit_in c;
	struct err err;
	int64_t id = 0;

	memset(&c, 0, sizeof(c));
	c.sha = sha;
	c.author_name = author;
	c.author_email = "dev@example.org";
	c.message = message;
	c.committed_at = 1795000000;
	if (store_commit_put(db, repo, &c, &id, &err) < 0)
		die("commit", &err);
	return id;
}

int64_t
seed_version(struct db *db, int64_t repo, int64_t commit, const char *path,
    const char *yaml, const char *name, int64_t *pipeline_id)
{
	struct pipeline_version_in v;
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	char *def = NULL, *errors = NULL;
	int64_t pid = 0, vid = 0;
	struct err err;

	pipeline_errors_init(&errs);
	memset(&v, 0, sizeof(v));
	v.repo_id = repo;
	v.commit_id = commit;
	v.file_path = path;
	if (pipeline_parse(&p, &errs, yaml, strlen(yaml), path, &err) == 0) {
		if (pipeline_to_json(p, &def, &err) < 0)
			die("canonical JSON", &err);
		v.name = p->name;
		v.definition = def;
		v.errors = "[]";
	} else {
		if (pipeline_errors_to_json(&errs, &errors, &err) < 0)
			die("errors", &err);
		v.name = name;
		v.errors = errors;
	}
	if (store_pipeline_version_put(db, &v, &pid, &vid, &err) < 0)
		die("version", &err);
	if (pipeline_id != NULL)
		*pipeline_id = pid;
	free(def);
	free(errors);
	pipeline_free(p);
	pipeline_errors_release(&errs);
	return vid;
}

void
seed_head(struct db *db, int64_t repo, const char *branch, const char *sha)
{
	struct err err;

	if (store_branch_head_set(db, repo, branch, sha, &err) < 0)
		die("head", &err);
}

int64_t
seed_run(struct db *db, int64_t version, const char *trigger,
    const char *branch, const char *params_json)
{
	struct run_new rn;
	struct err err;
	int64_t id = 0;
	int created = 0;

	memset(&rn, 0, sizeof(rn));
	rn.version_id = version;
	rn.branch = branch;
	rn.trigger = trigger;
	rn.params = params_json;
	rn.created_by = "poller";
	if (store_run_create(db, &rn, &id, &created, &err) < 0)
		die("run", &err);
	return id;
}

char *
seed_file(const char *rel)
{
	size_t len = 0;
	char *text = test_read_top_file(rel, &len);

	if (text == NULL)
		die(rel, NULL);
	return text;
}

struct apifix *
apifix_start(const char *const *settings, const char *secret)
{
	struct apifix *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->a = testapi_start(NULL, settings, secret)) == NULL)
		goto fail;
	if (testapi_token(f->a, "ana-viewer", "viewer", f->viewer) < 0 ||
	    testapi_token(f->a, "oli-operator", "operator", f->operator) < 0 ||
	    testapi_token(f->a, "amy-approver", "approver", f->approver) < 0 ||
	    testapi_token(f->a, "ada-admin", "admin", f->admin) < 0)
		goto fail;
	f->db = testdb_open(&f->a->t);
	return f;
fail:
	apifix_stop(f);
	return NULL;
}

void
apifix_stop(struct apifix *f)
{
	if (f == NULL)
		return;
	db_free(f->db);
	testapi_stop(f->a);
	free(f);
}

int64_t
seed_attempt(struct db *db, int64_t run, const char *stage, int attempt,
    int step, const char *status)
{
	int done = strcmp(status, "succeeded") == 0 ||
	    strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0;
	char job[128];

	if (step > 0)
		(void)snprintf(job, sizeof(job), "sluice-%lld-%s-%d-s%d",
		    (long long)run, stage, attempt, step);
	else
		(void)snprintf(job, sizeof(job), "sluice-%lld-%s-%d",
		    (long long)run, stage, attempt);
	return seed_sql(db, "INSERT INTO stage_attempts (stage_id, kind, step,"
	    " attempt, weight, executor, job_name, status, submitted_at,"
	    " started_at, finished_at, exit_code) SELECT id, '%s', %d, %d, %s,"
	    " 'local', '%s', '%s', now(), now(), %s, %s FROM stages WHERE"
	    " run_id = %lld AND name = '%s' RETURNING id",
	    step > 0 ? "canary_step" : "job", step, attempt,
	    step > 0 ? (step == 1 ? "10" : step == 2 ? "50" : "100") : "NULL",
	    job, status, done ? "now()" : "NULL", done ? "0" : "NULL",
	    (long long)run, stage);
}

void
seed_metric(struct db *db, int64_t attempt, const char *name, double value,
    int secs_ago)
{
	(void)seed_sql(db, "INSERT INTO metrics (attempt_id, name, value,"
	    " source_line, reported_at) VALUES (%lld, '%s', %.17g,"
	    " (SELECT count(*) FROM metrics WHERE attempt_id = %lld),"
	    " now() - make_interval(secs => %d))", (long long)attempt, name,
	    value, (long long)attempt, secs_ago);
}

int64_t
seed_model(struct db *db, int64_t attempt, const char *name, int version,
    const char *status, const char *target, const char *metrics)
{
	char tq[128];

	if (target != NULL)
		(void)snprintf(tq, sizeof(tq), "'%s'", target);
	else
		(void)snprintf(tq, sizeof(tq), "NULL");
	return seed_sql(db, "WITH ar AS (INSERT INTO artifacts (attempt_id,"
	    " name, uri, model_name, source_line) VALUES (%lld, 'model',"
	    " 's3://models/%s/%d', '%s', 99) RETURNING id, uri)"
	    " INSERT INTO model_versions (name, version, uri, artifact_id,"
	    " run_id, stage_id, attempt_id, status, target, metrics,"
	    " promoted_at, retired_at) SELECT '%s', %d, ar.uri, ar.id,"
	    " s.run_id, s.id, a.id, '%s', %s, '%s',"
	    " CASE WHEN '%s' IN ('production', 'retired') THEN now() END,"
	    " CASE WHEN '%s' = 'retired' THEN now() END"
	    " FROM ar, stage_attempts a JOIN stages s ON s.id = a.stage_id"
	    " WHERE a.id = %lld RETURNING id", (long long)attempt, name,
	    version, name, name, version, status, tq, metrics, status, status,
	    (long long)attempt);
}

int64_t
seed_rollout(struct db *db, int64_t run, const char *stage,
    const char *target, int64_t model, int64_t previous, int step,
    int weight)
{
	return seed_sql(db, "INSERT INTO rollouts (run_id, stage_id, target,"
	    " model_version_id, previous_model_version_id, status, steps,"
	    " current_step, current_weight, analysis_started_at)"
	    " SELECT %lld, id, '%s', nullif(%lld, 0), nullif(%lld, 0),"
	    " 'waiting_approval', 3, %d, %d, now() - interval '1 minute'"
	    " FROM stages WHERE run_id = %lld AND name = '%s' RETURNING id",
	    (long long)run, target, (long long)model, (long long)previous,
	    step, weight, (long long)run, stage);
}

int64_t
seed_approval(struct db *db, int64_t rollout, int step, int weight,
    const char *status, const char *decided_by)
{
	int pending = strcmp(status, "pending") == 0;
	char who[128];

	if (decided_by != NULL)
		(void)snprintf(who, sizeof(who), "'%s'", decided_by);
	else
		(void)snprintf(who, sizeof(who), "NULL");
	return seed_sql(db, "INSERT INTO approvals (rollout_id, run_id,"
	    " stage_id, step, weight, target, status, expires_at, decided_by,"
	    " decided_at, comment) SELECT id, run_id, stage_id, %d, %d, target,"
	    " '%s', now() + interval '1 day', %s, %s, %s FROM rollouts"
	    " WHERE id = %lld RETURNING id", step, weight, status, who,
	    pending ? "NULL" : "now()", pending ? "NULL" : "'ok'",
	    (long long)rollout);
}
