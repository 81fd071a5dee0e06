/*
 * bench_util.h - what the benchmarks share: failing loudly, the clock, an
 * integer setting from the environment, one integer from a query, a
 * repository, commit and valid version of a pipeline, a fake executor's
 * logs op that has none, and wrk's durations.  static inline:
 * each bench/NAME.c is its own program (the Makefile links one per file).
 */
#ifndef SLUICE_BENCH_UTIL_H
#define SLUICE_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sys.h"
#include "exec/executor.h"
#include "pipeline/pipeline.h"
#include "store/db.h"
#include "store/store_commit.h"
#include "store/store_pipeline.h"

/* "PROGRAM: what: message" on stderr, exit 1. */
static inline void
bench_die(const char *prog, const char *what, const struct err *err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, err->msg);
	exit(1);
}

/* Seconds of the monotonic clock, for intervals. */
static inline double
bench_now_s(void)
{
	return (double)sys_now_us() / 1e6;
}

/* The positive integer in variable name (below max), else def. */
static inline int
bench_env_int(const char *name, int def, long max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, &end, 10);
	return *end == '\0' && n > 0 && n < max ? (int)n : def;
}

/* The first column of the first row of sql, an integer. */
static inline int64_t
bench_one_int(const char *prog, struct db *db, const char *sql)
{
	struct db_res *res = NULL;
	struct err err;
	int64_t v = 0;

	if (db_exec(db, sql, NULL, &res, &err) < 0 ||
	    db_res_int64(res, 0, 0, &v, &err) < 0)
		bench_die(prog, sql, &err);
	db_res_free(res);
	return v;
}

/*
 * A repository called name, a commit and a valid version of the pipeline
 * yaml (metadata.name must be name) at pipelines/NAME.yaml; its id.
 */
static inline int64_t
bench_make_version(const char *prog, struct db *db, const char *name,
    const char *yaml)
{
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct pipeline_version_in v;
	struct commit_in c;
	struct db_args a;
	struct db_res *res = NULL;
	struct err err;
	char *json = NULL, path[128];
	int64_t repo = 0, commit, pid, vid;

	db_args_init(&a);
	db_args_str(&a, name);
	if (db_exec(db, "INSERT INTO repositories (name, url, source) VALUES"
	    " ($1, 'file:///nonexistent.git', 'api') RETURNING id", &a, &res,
	    &err) < 0 || db_res_int64(res, 0, 0, &repo, &err) < 0)
		bench_die(prog, "repository", &err);
	db_res_free(res);
	pipeline_errors_init(&errs);
	if (pipeline_parse(&p, &errs, yaml, strlen(yaml), "bench.yaml",
	    &err) < 0 || pipeline_to_json(p, &json, &err) < 0)
		bench_die(prog, "pipeline", &err);
	pipeline_errors_release(&errs);
	memset(&c, 0, sizeof(c));
	c.sha = "0123456789012345678901234567890123456789";
	c.author_name = c.author_email = c.message = "bench";
	c.committed_at = 1700000000;
	if (store_commit_put(db, repo, &c, &commit, &err) < 0)
		bench_die(prog, "commit", &err);
	(void)snprintf(path, sizeof(path), "pipelines/%s.yaml", name);
	memset(&v, 0, sizeof(v));
	v.repo_id = repo;
	v.commit_id = commit;
	v.file_path = path;
	v.name = name;
	v.definition = json;
	v.errors = "[]";
	if (store_pipeline_version_put(db, &v, &pid, &vid, &err) < 0)
		bench_die(prog, "version", &err);
	free(json);
	pipeline_free(p);
	return vid;
}

/* An executor's logs op for attempts without output (executor.h). */
static inline int
bench_logs_none(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err)
{
	(void)impl;
	(void)node;
	(void)out;
	if (sourcelen > 0)
		source[0] = '\0';
	*next = from;
	return err_set(err, ERR_NOTFOUND, "no log for '%s'", name);
}

/* A duration as wrk prints it ("12.34ms", "800.00us", "1.20s") in ms. */
static inline double
bench_wrk_ms(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (strncmp(end, "us", 2) == 0)
		return v / 1000;
	if (strncmp(end, "ms", 2) == 0)
		return v;
	if (strncmp(end, "s", 1) == 0)
		return v * 1000;
	if (strncmp(end, "m", 1) == 0)
		return v * 60000;
	return v;
}

#endif
