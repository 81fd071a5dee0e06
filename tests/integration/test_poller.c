/*
 * test_poller.c - from `git push` to a queued run, with real repositories
 * made by the git CLI, a real PostgreSQL, and `git daemon` for git://.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/cfg.h"
#include "git/gitsrc.h"
#include "git/poller.h"
#include "store/db.h"
#include "store/store_pipeline.h"
#include "store/store_repo.h"
#include "testchild.h"
#include "testdb.h"
#include "testsh.h"

struct fx {
	struct testdb	 t;
	struct db	*db;
	struct cfg	*cfg;
	char		 dir[512];	/* temp dir: remotes, clones, state */
};

static const char demo_yaml[] =
    "apiVersion: sluice/v1\n"
    "kind: Pipeline\n"
    "metadata: {name: demo}\n"
    "spec:\n"
    "  triggers:\n"
    "    push: {branches: [main], paths: [\"models/**\"]}\n"
    "  defaults: {image: \"alpine:3.20\"}\n"
    "  stages:\n"
    "    - {name: train, command: [\"true\"]}\n"
    "    - {name: evaluate, needs: [train], command: [\"true\"]}\n";

/* A bare remote NAME.git with one clone NAME, seeded with the demo. */
static void
make_remote(struct fx *f, const char *name)
{
	char bare[600], work[600];

	(void)snprintf(bare, sizeof(bare), "%s/%s.git", f->dir, name);
	(void)snprintf(work, sizeof(work), "%s/%s", f->dir, name);
	test_git_remote(bare, work);
	test_sh("cd %s && mkdir -p pipelines models && "
	    "printf '%%s' \"$DEMO\" > pipelines/demo.yaml && "
	    "echo v1 > models/weights.txt && " TEST_GIT "add -A && "
	    TEST_GIT "commit -qm seed && " TEST_GIT "push -q origin main",
	    work);
}

/* Commit a change in the clone NAME and push it. */
static void
push(struct fx *f, const char *name, const char *file, const char *text,
    const char *msg)
{
	test_sh("cd %s/%s && mkdir -p \"$(dirname '%s')\" && "
	    "printf '%%s' '%s' > '%s' && " TEST_GIT "add -A && "
	    TEST_GIT "commit -qm '%s' && "
	    TEST_GIT "push -q -f origin HEAD:main", f->dir, name, file, text,
	    file, msg);
}

static void
load_cfg(struct fx *f, const char *repos)
{
	char dburl[2200], state[600], reposenv[2048];
	char *envp[5];
	struct err err;

	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    f->t.url);
	(void)snprintf(state, sizeof(state), "SLUICE_STATE_DIR=%s/state",
	    f->dir);
	(void)snprintf(reposenv, sizeof(reposenv), "SLUICE_REPOSITORIES=%s",
	    repos);
	envp[0] = dburl;
	envp[1] = state;
	envp[2] = reposenv;
	envp[3] = (char *)"SLUICE_POLL_WORKERS=2";
	envp[4] = NULL;
	cfg_free(f->cfg);
	f->cfg = NULL;
	if (cfg_load(&f->cfg, NULL, envp, NULL, 0, &err) < 0)
		fail_msg("config: %s", err.msg);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || testdb_create_migrated(&f->t) < 0 ||
	    test_tmpdir(f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->db = testdb_open(&f->t);
	setenv("DEMO", demo_yaml, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", f->dir, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	cfg_free(f->cfg);
	db_free(f->db);
	testdb_drop(&f->t);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static char *
q(struct fx *f, const char *sql)
{
	return testdb_value(&f->t, sql);
}

static void
assert_q(struct fx *f, const char *sql, const char *want)
{
	char *v = q(f, sql), got[512];
	int same = v != NULL && strcmp(v, want) == 0;

	(void)snprintf(got, sizeof(got), "%s", v ? v : "(null)");
	free(v);
	if (!same)
		fail_msg("%s\n  got:  %s\n  want: %s", sql, got, want);
}

static void
poll_now(struct fx *f, const char *name)
{
	struct err err;

	if (poller_poll_now(f->cfg, f->db, name, &err) < 0)
		fail_msg("poll %s: %s", name, err.msg);
}

/* Load a config whose repositories are fmt with the temp dir for %s. */
static void
sync_cfg(struct fx *f, const char *fmt)
{
	char yaml[2048];
	struct err err;
	const char *mark = strstr(fmt, "%s");

	assert_non_null(mark);
	(void)snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(mark - fmt), fmt,
	    f->dir, mark + 2);
	load_cfg(f, yaml);
	/* poller_start syncs; here the sync alone, for poll_now tests */
	struct poller *p = NULL;
	if (poller_start(&p, f->cfg, &err) < 0)
		fail_msg("poller_start: %s", err.msg);
	poller_stop(p);
}

static const char one_repo[] =
    "[{name: alpha, url: \"file://%s/alpha.git\", branches: [main], "
    "interval: 1h}]";

static void
poller__a_push_creates_a_run_at_the_pushed_commit(void **state)
{
	struct fx *f = *state;
	char sql[512], *sha;

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);
	poll_now(f, "alpha");
	/* first sight records the pipeline, starts nothing */
	assert_q(f, "SELECT count(*) FROM pipeline_versions WHERE valid", "1");
	assert_q(f, "SELECT count(*) FROM runs", "0");
	assert_q(f, "SELECT poll_status FROM repositories", "ok");

	push(f, "alpha", "models/weights.txt", "v2", "better weights");
	poll_now(f, "alpha");
	sha = NULL;
	{
		char cmd[700];
		FILE *pf;
		char line[128] = "";

		(void)snprintf(cmd, sizeof(cmd),
		    "git -C %s/alpha rev-parse HEAD", f->dir);
		pf = popen(cmd, "r");
		assert_non_null(pf);
		assert_non_null(fgets(line, sizeof(line), pf));
		pclose(pf);
		line[strcspn(line, "\n")] = '\0';
		sha = strdup(line);
	}
	assert_q(f, "SELECT count(*) FROM runs", "1");
	(void)snprintf(sql, sizeof(sql), "SELECT c.sha || ' ' || r.trigger || "
	    "' ' || r.branch || ' ' || r.status FROM runs r JOIN commits c "
	    "ON c.id = r.commit_id");
	{
		char want[200];

		(void)snprintf(want, sizeof(want), "%s push main queued", sha);
		assert_q(f, sql, want);
	}
	assert_q(f, "SELECT string_agg(name || ':' || status, ',' ORDER BY "
	    "position) FROM stages", "train:pending,evaluate:pending");
	assert_q(f, "SELECT message FROM commits ORDER BY id DESC LIMIT 1",
	    "better weights\n");
	/* polling again with nothing new changes nothing */
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM runs", "1");
	free(sha);
}

static void
poller__paths_filter_which_pushes_start_runs(void **state)
{
	struct fx *f = *state;

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);
	poll_now(f, "alpha");
	push(f, "alpha", "docs/README.md", "hello", "docs only");
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM runs", "0");
	/* a commit that changes only the pipeline file runs it */
	{
		char yaml[1024];

		(void)snprintf(yaml, sizeof(yaml), "%s    - {name: extra, "
		    "command: [\"true\"]}\n", demo_yaml);
		push(f, "alpha", "pipelines/demo.yaml", yaml, "add a stage");
	}
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM runs", "1");
	assert_q(f, "SELECT count(*) FROM stages", "3");
}

static void
poller__an_invalid_pipeline_stores_its_error_and_starts_nothing(void **state)
{
	struct fx *f = *state;
	static const char bad[] =
	    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: demo}\n"
	    "spec:\n  stages:\n    - {name: train, needs: [trian], "
	    "image: alpine, command: [\"true\"]}\n";

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);
	poll_now(f, "alpha");
	push(f, "alpha", "pipelines/demo.yaml", bad, "typo");
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM runs", "0");
	assert_q(f, "SELECT valid::text || ' ' || (errors->0->>'line') || ':' "
	    "|| (errors->0->>'column') FROM pipeline_versions ORDER BY id DESC "
	    "LIMIT 1", "false 6:29");
	assert_q(f, "SELECT errors->0->>'message' LIKE '%unknown stage \"trian\""
	    "%' FROM pipeline_versions ORDER BY id DESC LIMIT 1", "t");
	/* the pipeline is still there (not deleted) and shows the error */
	assert_q(f, "SELECT (deleted_at IS NULL)::text || ' ' || "
	    "(SELECT valid FROM pipeline_versions WHERE id = latest_version_id)"
	    " FROM pipelines WHERE name = 'demo'", "true false");
}

static void
poller__force_push_and_branch_deletion_are_recorded(void **state)
{
	struct fx *f = *state;

	make_remote(f, "alpha");
	sync_cfg(f, "[{name: alpha, url: \"file://%s/alpha.git\", "
	    "branches: [main, dev], interval: 1h}]");
	test_sh("cd %s/alpha && " TEST_GIT "push -q origin main:dev", f->dir);
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM branch_heads", "2");
	/* rewrite main's history */
	test_sh("cd %s/alpha && " TEST_GIT "checkout -q --orphan fresh && "
	    "echo v9 > models/weights.txt && " TEST_GIT "add -A && "
	    TEST_GIT "commit -qm rewritten && "
	    TEST_GIT "push -q -f origin fresh:main && "
	    TEST_GIT "push -q origin :dev", f->dir);
	poll_now(f, "alpha");
	assert_q(f, "SELECT string_agg(action, ',' ORDER BY id) FROM events "
	    "WHERE entity_type = 'repository' AND action LIKE 'branch.%'",
	    "branch.created,branch.created,branch.force_pushed,branch.deleted");
	assert_q(f, "SELECT string_agg(branch, ',') FROM branch_heads", "main");
	/* models/ changed relative to the old head: a run at the new head */
	assert_q(f, "SELECT count(*) FROM runs", "1");
}

static void
poller__a_removed_pipeline_is_marked_deleted_and_keeps_its_runs(void **state)
{
	struct fx *f = *state;

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);
	poll_now(f, "alpha");
	push(f, "alpha", "models/weights.txt", "v2", "train");
	poll_now(f, "alpha");
	test_sh("cd %s/alpha && " TEST_GIT "rm -q pipelines/demo.yaml && "
	    TEST_GIT "commit -qm 'remove pipeline' && "
	    TEST_GIT "push -q origin main", f->dir);
	poll_now(f, "alpha");
	assert_q(f, "SELECT (deleted_at IS NOT NULL)::text FROM pipelines",
	    "true");
	assert_q(f, "SELECT count(*) FROM runs", "1");
}

static void
poller__each_file_at_each_head_is_recorded_valid_or_not(void **state)
{
	struct fx *f = *state;
	struct pipeline_file *files = NULL;
	struct err err;
	size_t n = 0;
	int64_t repo;
	char *sha, *id;

	make_remote(f, "alpha");
	sync_cfg(f, "[{name: alpha, url: \"file://%s/alpha.git\", "
	    "branches: [main, dev], interval: 1h}]");
	test_sh("cd %s/alpha && " TEST_GIT "push -q origin main:dev", f->dir);
	/* invalid from its first commit, without a readable name */
	push(f, "alpha", "pipelines/nameless.yaml", "kind: Pipeline\n",
	    "nameless");
	poll_now(f, "alpha");
	assert_q(f, "SELECT string_agg(branch || ' ' || file_path || ' ' || "
	    "valid, ', ' ORDER BY branch, file_path) FROM pipeline_files",
	    "dev pipelines/demo.yaml true, main pipelines/demo.yaml true, "
	    "main pipelines/nameless.yaml false");
	/* what a commit status reads */
	sha = q(f, "SELECT sha FROM branch_heads WHERE branch = 'main'");
	id = q(f, "SELECT id FROM repositories WHERE name = 'alpha'");
	assert_non_null(sha);
	assert_non_null(id);
	repo = strtoll(id, NULL, 10);
	if (store_pipeline_files_at(f->db, repo, sha, &files, &n, &err) < 0)
		fail_msg("store_pipeline_files_at: %s", err.msg);
	assert_int_equal(n, 2);
	assert_string_equal(files[0].file_path, "pipelines/demo.yaml");
	assert_true(files[0].valid);
	assert_null(files[0].first_error);
	assert_string_equal(files[1].branch, "main");
	assert_false(files[1].valid);
	assert_non_null(files[1].first_error);
	assert_true(strncmp(files[1].first_error, "pipelines/nameless.yaml:1:1: ",
	    29) == 0);
	store_pipeline_files_free(files, n);
	free(sha);
	free(id);
	/* gone from the head, gone from the table; a deleted branch too */
	test_sh("cd %s/alpha && " TEST_GIT "rm -q pipelines/nameless.yaml && "
	    TEST_GIT "commit -qm 'remove it' && " TEST_GIT "push -q origin main "
	    "&& " TEST_GIT "push -q origin :dev", f->dir);
	poll_now(f, "alpha");
	assert_q(f, "SELECT string_agg(branch || ' ' || file_path, ', ') FROM "
	    "pipeline_files", "main pipelines/demo.yaml");
}

/* Start `git daemon` on a free port serving dir; returns its pid. */
static pid_t
start_daemon(const char *dir, int *port)
{
	for (int tries = 0; tries < 5; tries++) {
		pid_t pid;
		char portarg[32];

		*port = 20000 + (int)((unsigned)getpid() * 7 + (unsigned)tries *
		    131) % 20000;
		(void)snprintf(portarg, sizeof(portarg), "--port=%d", *port);
		pid = fork();
		if (pid == 0) {
			char base[600];

			(void)snprintf(base, sizeof(base), "--base-path=%s", dir);
			execlp("git", "git", "daemon", "--reuseaddr",
			    "--export-all", "--listen=127.0.0.1", portarg, base,
			    dir, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 50; i++) {
			char cmd[200];

			(void)snprintf(cmd, sizeof(cmd), "git ls-remote "
			    "git://127.0.0.1:%d/alpha.git >/dev/null 2>&1",
			    *port);
			if (system(cmd) == 0)
				return pid;
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			if (waitpid(pid, NULL, WNOHANG) == pid)
				break;
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static void
poller__repositories_over_git_daemon_are_polled(void **state)
{
	struct fx *f = *state;
	char repos[512];
	pid_t daemon;
	int port;

	make_remote(f, "alpha");
	daemon = start_daemon(f->dir, &port);
	assert_true(daemon > 0);
	(void)snprintf(repos, sizeof(repos), "[{name: alpha, url: "
	    "\"git://127.0.0.1:%d/alpha.git\", interval: 1h}]", port);
	load_cfg(f, repos);
	{
		struct poller *p = NULL;
		struct err err;

		assert_int_equal(poller_start(&p, f->cfg, &err), 0);
		poller_stop(p);
	}
	poll_now(f, "alpha");
	push(f, "alpha", "models/weights.txt", "v3", "over git://");
	poll_now(f, "alpha");
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	assert_q(f, "SELECT count(*) FROM runs", "1");
	assert_q(f, "SELECT poll_status FROM repositories", "ok");
}

static void
poller__a_dead_remote_backs_off_while_others_keep_polling(void **state)
{
	struct fx *f = *state;
	struct poller *p = NULL;
	struct err err;
	char repos[1024], *v;
	int ok = 0;

	make_remote(f, "alpha");
	/* 127.0.0.1:9 (discard) refuses connections */
	(void)snprintf(repos, sizeof(repos), "[{name: alpha, url: "
	    "\"file://%s/alpha.git\", interval: 1s}, {name: dead, url: "
	    "\"git://127.0.0.1:9/nothing.git\", interval: 1s}]", f->dir);
	load_cfg(f, repos);
	assert_int_equal(poller_start(&p, f->cfg, &err), 0);
	/* wait (bounded) until alpha is polled and dead failed twice */
	for (int i = 0; i < 300 && !ok; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		v = q(f, "SELECT count(*) FROM repositories WHERE "
		    "(name = 'alpha' AND poll_status = 'ok') OR "
		    "(name = 'dead' AND consecutive_failures >= 2)");
		ok = v != NULL && strcmp(v, "2") == 0;
		free(v);
	}
	assert_true(ok);
	/* a push to alpha is picked up while dead keeps failing */
	push(f, "alpha", "models/weights.txt", "v4", "keep going");
	ok = 0;
	for (int i = 0; i < 300 && !ok; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		v = q(f, "SELECT count(*) FROM runs");
		ok = v != NULL && strcmp(v, "1") == 0;
		free(v);
	}
	poller_stop(p);
	assert_true(ok);
	assert_q(f, "SELECT poll_status FROM repositories WHERE name = 'dead'",
	    "failing");
	/* the error names the remote and is kept for the API */
	assert_q(f, "SELECT last_error <> '' FROM repositories WHERE "
	    "name = 'dead'", "t");
	/* backoff: the next poll of dead is further away than its interval */
	assert_q(f, "SELECT next_poll_at - last_poll_at > interval '1.5 s' "
	    "FROM repositories WHERE name = 'dead'", "t");
}

static void
poller__a_refresh_polls_now_and_repeated_refreshes_coalesce(void **state)
{
	struct fx *f = *state;
	struct poller *p = NULL;
	struct err err;
	char *v;
	int ok = 0;

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);		/* interval 1h: only a refresh polls */
	poll_now(f, "alpha");
	assert_int_equal(poller_start(&p, f->cfg, &err), 0);
	push(f, "alpha", "models/weights.txt", "v5", "refresh me");
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_repo_request_refresh(f->db, "alpha",
		    &err), 0);
	for (int i = 0; i < 300 && !ok; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		v = q(f, "SELECT count(*) || ' ' || (SELECT "
		    "(refresh_requested_at IS NULL)::text FROM repositories) "
		    "FROM runs");
		ok = v != NULL && strcmp(v, "1 true") == 0;
		free(v);
	}
	poller_stop(p);
	assert_true(ok);
	/* five requests, one new head processed once */
	assert_q(f, "SELECT count(*) FROM events WHERE action = "
	    "'branch.updated'", "1");
	assert_int_equal(store_repo_request_refresh(f->db, "nope", &err),
	    ERR_NOTFOUND);
}

static void
poller__checkout_exports_the_commit(void **state)
{
	struct fx *f = *state;
	char dest[700], path[800], *head;
	struct err err;
	FILE *fp;
	char buf[64] = "";

	make_remote(f, "alpha");
	sync_cfg(f, one_repo);
	poll_now(f, "alpha");
	head = q(f, "SELECT sha FROM branch_heads");
	assert_non_null(head);
	(void)snprintf(dest, sizeof(dest), "%s/state/work/1", f->dir);
	assert_int_equal(gitsrc_checkout_commit(f->cfg->state_dir, "alpha", head,
	    dest, &err), 0);
	(void)snprintf(path, sizeof(path), "%s/models/weights.txt", dest);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "v1\n");
	free(head);
}

static void
poller__a_password_in_the_url_is_used_but_stored_nowhere(void **state)
{
	struct fx *f = *state;
	char script[600], repos[1024], want[600], config[700], *url;
	struct testchild h = { 0 };

	make_remote(f, "alpha");
	{
		const char *const argv[] = { "python3", test_fixture(script,
		    sizeof(script), "git_http_server.py"), f->dir,
		    "s3cr3t-t0ken", NULL };

		assert_int_equal(testchild_spawn(&h, argv, 1), 0);
	}
	(void)snprintf(repos, sizeof(repos), "[{name: alpha, url: "
	    "\"http://bot:s3cr3t-t0ken@127.0.0.1:%d/alpha.git\", branches: "
	    "[main], interval: 1h, auth: {allow_insecure_http: true}}]",
	    h.port);
	load_cfg(f, repos);
	{
		struct poller *p = NULL;
		struct err err;

		if (poller_start(&p, f->cfg, &err) < 0)
			fail_msg("poller_start: %s", err.msg);
		poller_stop(p);
	}
	/* the database has the url without the password */
	url = q(f, "SELECT url FROM repositories WHERE name = 'alpha'");
	(void)snprintf(want, sizeof(want), "http://bot@127.0.0.1:%d/alpha.git",
	    h.port);
	assert_non_null(url);
	assert_string_equal(url, want);
	free(url);
	/* the password, kept in memory, still opens the repository */
	poll_now(f, "alpha");
	assert_q(f, "SELECT count(*) FROM branch_heads", "1");
	/* and the mirror's config has none either */
	(void)snprintf(config, sizeof(config), "%s/state/git/alpha.git/config",
	    f->dir);
	assert_true(test_file_has(config, want));
	assert_false(test_file_has(config, "s3cr3t"));
	testchild_stop(&h);
}

/* One replica's sync of the configuration, started at the barrier. */
struct racer {
	struct fx		*f;
	struct db		*db;
	pthread_barrier_t	*go;
	int			 rc;
	struct err		 err;
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	(void)pthread_barrier_wait(r->go);
	r->rc = store_repo_sync_config(r->db, r->f->cfg->repositories,
	    r->f->cfg->nrepositories, &r->err);
	return NULL;
}

/*
 * Two replicas started together sync the same new repositories at the
 * same moment, round after round: both succeed (neither fails on the
 * unique name), each repository is created once and the previous round's
 * are deleted once.
 */
static void
poller__replicas_syncing_the_config_together_both_succeed(void **state)
{
	struct fx *f = *state;
	enum { ROUNDS = 15 };
	pthread_barrier_t go;
	struct racer r[2];
	pthread_t th[2];
	char yaml[2048];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 2; i++) {
		r[i].f = f;
		r[i].db = testdb_open(&f->t);
		r[i].go = &go;
	}
	for (int round = 0; round < ROUNDS; round++) {
		(void)snprintf(yaml, sizeof(yaml),
		    "[{name: r%da, url: \"file://%s/a.git\", branches: [main]},"
		    " {name: r%db, url: \"file://%s/b.git\", branches: [main]}]",
		    round, f->dir, round, f->dir);
		load_cfg(f, yaml);
		assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL,
			    racer_main, &r[i]), 0);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		(void)pthread_barrier_destroy(&go);
		for (int i = 0; i < 2; i++)
			if (r[i].rc < 0)
				fail_msg("round %d, replica %d: %s", round, i,
				    r[i].err.msg);
	}
	assert_q(f, "SELECT string_agg(name, ',' ORDER BY name) FROM "
	    "repositories WHERE deleted_at IS NULL", "r14a,r14b");
	assert_q(f, "SELECT count(*) FROM repositories", "30");
	assert_q(f, "SELECT count(*) FILTER (WHERE action = 'created') || ' ' ||"
	    " count(*) FILTER (WHERE action = 'deleted') FROM events"
	    " WHERE entity_type = 'repository'", "30 28");
	for (int i = 0; i < 2; i++)
		db_free(r[i].db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    poller__a_push_creates_a_run_at_the_pushed_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__paths_filter_which_pushes_start_runs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__an_invalid_pipeline_stores_its_error_and_starts_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__force_push_and_branch_deletion_are_recorded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__each_file_at_each_head_is_recorded_valid_or_not,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__a_removed_pipeline_is_marked_deleted_and_keeps_its_runs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__repositories_over_git_daemon_are_polled,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__a_dead_remote_backs_off_while_others_keep_polling,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__a_refresh_polls_now_and_repeated_refreshes_coalesce,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__checkout_exports_the_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__a_password_in_the_url_is_used_but_stored_nowhere,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    poller__replicas_syncing_the_config_together_both_succeed,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
