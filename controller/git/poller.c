/*
 * poller.c - Git polling: scheduler, worker pool, and the processing of a
 * moved branch; see poller.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/sys.h"
#include "git/gitsrc.h"
#include "git/poller.h"
#include "pipeline/pipeline.h"
#include "store/db.h"
#include "store/store_commit.h"
#include "store/store_event.h"
#include "store/store_pipeline.h"
#include "store/store_repo.h"
#include "store/store_run.h"

/*
 * One repository as the pool sees it.  What it costs in memory is this
 * struct and its repository row (a few hundred bytes), and while src is
 * open the libgit2 repository and remote behind it; at most
 * LIM_POLL_OPEN_SOURCES sources stay open between polls
 * (docs/performance.md, "Repositories").
 */
struct slot {
	int64_t		 id;
	struct repo	 repo;		/* latest row, owned */
	struct gitsrc	*src;		/* kept open across polls, or NULL */
	char		*src_url;	/* the url src was opened for */
	int		 queued;	/* waiting for a worker */
	uint64_t	 queued_seq;	/* FIFO order */
	int		 in_flight;	/* a worker polls it now */
	int		 seen;		/* still listed (scan bookkeeping) */
	int		 refresh_seen;	/* a refresh was asked during the poll */
	int64_t		 due_at;	/* sys_now_ms() when to poll next */
	int64_t		 used_at;	/* sys_now_ms() of the last poll */
};

struct poller {
	const struct cfg	*cfg;
	pthread_mutex_t		 mu;
	pthread_cond_t		 work;		/* a slot was queued, or stop */
	struct slot		**slots;	/* sorted by id */
	size_t			 nslots;
	size_t			 cap;
	size_t			 nopen;		/* slots whose src is open */
	uint64_t		 seq;
	volatile int		 stopping;
	volatile int		 kick;		/* a worker finished: requeue */
	volatile int		 rescan;	/* ... and the list must be read */
	pthread_t		 scheduler;
	pthread_t		*workers;
	int			 nworkers;
	int			 started_scheduler;
	struct metric		*errors;	/* sluice_poll_errors_total, or NULL */
};

/* A factor in [0.9, 1.1) so that repositories do not poll in lockstep. */
static double
jitter(void)
{
	unsigned int r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned int)sys_now_ms();
	return 0.9 + 0.2 * ((double)(r % 10000) / 10000.0);
}

static int64_t
repo_interval(const struct cfg *cfg, const struct repo *r)
{
	return r->interval_ms > 0 ? r->interval_ms : cfg->poll_interval_ms;
}

/* After failures, interval * 2^failures, capped, with jitter. */
static int64_t
next_delay(const struct cfg *cfg, const struct repo *r, int failed)
{
	int64_t d = repo_interval(cfg, r);

	if (failed) {
		for (int i = 0; i < r->consecutive_failures && d <
		    LIM_POLL_BACKOFF_MS; i++)
			d *= 2;
		if (d > LIM_POLL_BACKOFF_MS)
			d = LIM_POLL_BACKOFF_MS;
	}
	return (int64_t)((double)d * jitter());
}

/* --- processing one moved branch ------------------------------------- */

struct found {
	struct pipeline	*p;		/* parsed, valid */
	char		*file;		/* repository path */
	int64_t		 version_id;
	int64_t		 pipeline_id;
};

static void
found_release(struct found *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pipeline_free(f[i].p);
		free(f[i].file);
	}
	free(f);
}

/*
 * Store one pipeline file of the new head as a version.  A valid one is
 * kept in *fo for trigger matching.
 */
static int
store_file(struct db *db, int64_t repo_id, int64_t commit_id,
    const struct gitsrc_file *file, struct found *fo, struct err *err)
{
	struct pipeline_version_in v;
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	struct err perr;
	char *json = NULL, *errjson = NULL;
	int rc;

	memset(&v, 0, sizeof(v));
	memset(fo, 0, sizeof(*fo));
	pipeline_errors_init(&errs);
	v.repo_id = repo_id;
	v.commit_id = commit_id;
	v.file_path = file->path;
	if (file->error != NULL) {
		if ((rc = pipeline_errors_add(&errs, file->path, 0, 0, "%s",
		    file->error)) < 0)
			goto out;
	} else if (pipeline_parse(&p, &errs, file->data, file->len,
	    file->path, &perr) == 0) {
		if ((rc = pipeline_to_json(p, &json, err)) < 0)
			goto out;
		v.name = p->name;
		v.definition = json;
	}
	if (v.definition == NULL &&
	    (rc = pipeline_errors_to_json(&errs, &errjson, err)) < 0)
		goto out;
	v.errors = errjson ? errjson : "[]";
	if ((rc = store_pipeline_version_put(db, &v, &fo->pipeline_id,
	    &fo->version_id, err)) < 0)
		goto out;
	if (v.definition == NULL) {
		log_warn("invalid pipeline file", "repository_id=%lld file=%s "
		    "errors=%zu", (long long)repo_id, file->path, errs.n);
	} else if (fo->pipeline_id != 0) {
		fo->p = p;
		fo->file = xstrdup(file->path);
		p = NULL;
	}
	rc = 0;
out:
	pipeline_free(p);
	pipeline_errors_release(&errs);
	free(json);
	free(errjson);
	return rc;
}

static int
append_event(struct db *db, int64_t repo_id, const char *action,
    const char *data, struct err *err)
{
	struct event_in ev = {
		.actor = "poller",
		.entity_type = "repository",
		.entity_id = repo_id,
		.action = action,
		.data = data,
	};

	return store_event_append(db, &ev, NULL, err);
}

/*
 * The commits a push brought, recorded; *head_id receives the id of the
 * new head's commit.
 */
static int
record_commits(struct db *db, struct gitsrc *src, int64_t repo_id,
    const char *old, const char *new, int64_t *head_id, size_t *ncommits,
    struct err *err)
{
	struct gitsrc_commit *c = NULL;
	size_t n = 0;
	int rc;

	*head_id = 0;
	*ncommits = 0;
	if ((rc = gitsrc_new_commits(src, new, old, LIM_POLL_COMMITS, &c, &n,
	    err)) < 0)
		return rc;
	/* Oldest first, so commit ids follow history. */
	for (size_t i = n; i-- > 0;) {
		struct commit_in ci;
		int64_t id;

		memset(&ci, 0, sizeof(ci));
		ci.sha = c[i].sha;
		ci.author_name = c[i].author_name;
		ci.author_email = c[i].author_email;
		ci.message = c[i].message;
		ci.committed_at = c[i].time;
		if ((rc = store_commit_put(db, repo_id, &ci, &id, err)) < 0)
			goto out;
		if (strcmp(c[i].sha, new) == 0)
			*head_id = id;
	}
	*ncommits = n;
	/* old == new never happens; a head outside the list is looked up */
	if (*head_id == 0)
		rc = store_commit_find(db, repo_id, new, head_id, err);
out:
	gitsrc_commits_free(c, n);
	return rc;
}

/*
 * Everything a moved branch leads to, in one transaction: commits,
 * pipeline versions, deleted pipelines, runs, an event, the new head.
 */
static int
process_branch(const struct cfg *cfg, struct db *db, struct gitsrc *src,
    const struct repo *r, const char *branch, const char *old,
    const char *new, struct err *err)
{
	struct gitsrc_file *files = NULL;
	struct found *found = NULL;
	char **changed = NULL;
	size_t nfiles = 0, nchanged = 0, ncommits = 0, nruns = 0;
	json_t *ids = json_array(), *runs = json_array(), *ev = NULL;
	json_t *paths = json_array();
	char *ids_text = NULL, *ev_text = NULL, *paths_text = NULL;
	int64_t head_id = 0;
	int rc, forward = 1, all_changed = 0;

	(void)cfg;
	if (old != NULL) {
		rc = gitsrc_is_descendant(src, new, old, &forward, err);
		if (rc == ERR_NOTFOUND)
			forward = 0;	/* old is gone from the mirror */
		else if (rc < 0)
			goto out;
	}
	if ((rc = gitsrc_read_dir(src, new, r->path, &files, &nfiles,
	    err)) < 0)
		goto out;
	if (old != NULL) {
		/*
		 * Diff against what was last processed, also after a
		 * force-push; when the mirror lost the old head or the diff
		 * is too large, every path counts as changed.
		 */
		rc = gitsrc_changed_paths(src, old, new, &changed, &nchanged,
		    err);
		if (rc == ERR_TOOBIG || rc == ERR_NOTFOUND)
			all_changed = 1;
		else if (rc < 0)
			goto out;
	}
	found = xcalloc(nfiles + 1, sizeof(*found));
	if ((rc = db_begin(db, err)) < 0)
		goto out;
	if ((rc = record_commits(db, src, r->id, old, new,
	    &head_id, &ncommits, err)) < 0)
		goto out;
	for (size_t i = 0; i < nfiles; i++) {
		if ((rc = store_file(db, r->id, head_id, &files[i], &found[i],
		    err)) < 0)
			goto out;
		if (found[i].pipeline_id != 0)
			json_array_append_new(ids,
			    json_integer(found[i].pipeline_id));
		if ((rc = store_pipeline_file_put(db, r->id, branch,
		    found[i].version_id, err)) < 0)
			goto out;
		json_array_append_new(paths, json_string(files[i].path));
	}
	if ((paths_text = json_dumps(paths, JSON_COMPACT)) == NULL)
		abort();
	if ((rc = store_pipeline_files_prune(db, r->id, branch, paths_text,
	    err)) < 0)
		goto out;
	if ((ids_text = json_dumps(ids, JSON_COMPACT)) == NULL)
		abort();
	if ((rc = store_pipeline_delete_missing(db, r->id, ids_text, "poller",
	    err)) < 0)
		goto out;
	for (size_t i = 0; old != NULL && i < nfiles; i++) {
		const char *file = found[i].file;
		struct run_new rn;
		char key[256], reason[128];
		int64_t run_id;
		int created, match;

		if (found[i].p == NULL)
			continue;
		if (all_changed)
			match = pipeline_push_matches(found[i].p, branch,
			    (const char *const *)&file, 1, file);
		else
			match = pipeline_push_matches(found[i].p, branch,
			    (const char *const *)changed, nchanged, file);
		if (!match)
			continue;
		memset(&rn, 0, sizeof(rn));
		(void)snprintf(key, sizeof(key), "push:%lld:%s:%s",
		    (long long)found[i].pipeline_id, branch, new);
		(void)snprintf(reason, sizeof(reason), "push to %s (%.12s)",
		    branch, new);
		rn.version_id = found[i].version_id;
		rn.branch = branch;
		rn.trigger = "push";
		rn.created_by = "poller";
		rn.reason = reason;
		rn.idempotency_key = key;
		if ((rc = store_run_create(db, &rn, &run_id, &created,
		    err)) < 0)
			goto out;
		if (created) {
			nruns++;
			json_array_append_new(runs, json_integer(run_id));
			log_info("run queued", "run=%lld pipeline=%s "
			    "repository=%s branch=%s commit=%.12s",
			    (long long)run_id, found[i].p->name, r->name,
			    branch, new);
		}
	}
	ev = json_pack("{s:s, s:s?, s:s, s:b, s:I, s:O}", "branch", branch,
	    "from", old, "to", new, "forward", forward,
	    "commits", (json_int_t)ncommits, "runs", runs);
	if (ev == NULL || (ev_text = json_dumps(ev, JSON_COMPACT)) == NULL)
		abort();
	if ((rc = append_event(db, r->id, old == NULL ? "branch.created" :
	    forward ? "branch.updated" : "branch.force_pushed", ev_text,
	    err)) < 0)
		goto out;
	if ((rc = store_branch_head_set(db, r->id, branch, new, err)) < 0)
		goto out;
	if ((rc = db_commit(db, err)) < 0)
		goto out;
	log_info(forward ? "branch moved" : "branch force-pushed",
	    "repository=%s branch=%s from=%.12s to=%.12s commits=%zu "
	    "pipelines=%zu runs=%zu", r->name, branch, old ? old : "-", new,
	    ncommits, nfiles, nruns);
out:
	db_rollback(db);
	if (found != NULL)
		found_release(found, nfiles);
	gitsrc_files_free(files, nfiles);
	gitsrc_paths_free(changed, nchanged);
	json_decref(ids);
	json_decref(runs);
	json_decref(ev);
	json_decref(paths);
	free(paths_text);
	free(ids_text);
	free(ev_text);
	return rc;
}

static int
process_deleted_branch(struct db *db, const struct repo *r,
    const char *branch, const char *old, struct err *err)
{
	json_t *ev = json_pack("{s:s, s:s}", "branch", branch, "from", old);
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	int rc;

	if (text == NULL)
		abort();
	if ((rc = db_begin(db, err)) < 0)
		goto out;
	if ((rc = append_event(db, r->id, "branch.deleted", text, err)) < 0)
		goto out;
	if ((rc = store_pipeline_files_prune(db, r->id, branch, "[]",
	    err)) < 0)
		goto out;
	if ((rc = store_branch_head_set(db, r->id, branch, NULL, err)) < 0)
		goto out;
	rc = db_commit(db, err);
	log_info("branch deleted", "repository=%s branch=%s last=%.12s",
	    r->name, branch, old);
out:
	db_rollback(db);
	json_decref(ev);
	free(text);
	return rc;
}

/* --- one poll ------------------------------------------------------------ */

/* The processed head of branch, or NULL. */
static const char *
head_of(const struct branch_head *heads, size_t n, const char *branch)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(heads[k].branch, branch) == 0)
			return heads[k].sha;
	return NULL;
}

/* The configured repository called name, or NULL (one added by the API). */
static const struct cfg_repo *
cfg_repo_of(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nrepositories; i++)
		if (strcmp(cfg->repositories[i].name, name) == 0)
			return &cfg->repositories[i];
	return NULL;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int
open_source(const struct cfg *cfg, struct slot *s, struct err *err)
{
	const struct cfg_repo *cr = cfg_repo_of(cfg, s->repo.name);
	struct gitsrc_auth auth;
	char dir[LIM_PATH];
	char *url = NULL, *password = NULL;
	int rc = 0;

	if (s->src != NULL && strcmp(s->src_url, s->repo.url) == 0)
		return 0;
	gitsrc_free(s->src);
	s->src = NULL;
	free(s->src_url);
	s->src_url = NULL;
	if (gitsrc_mirror_dir(dir, sizeof(dir), cfg->state_dir, s->repo.name,
	    err) < 0)
		return err->code;
	memset(&auth, 0, sizeof(auth));
	if (s->repo.token_env != NULL) {
		auth.token = getenv(s->repo.token_env);
		if (auth.token == NULL || auth.token[0] == '\0')
			return err_set(err, ERR_UNAUTHORIZED,
			    "environment variable '%s' (auth.token_env) is "
			    "not set", s->repo.token_env);
	}
	auth.ssh_key_file = s->repo.ssh_key_file;
	auth.known_hosts_file = s->repo.known_hosts_file;
	if (cr != NULL) {
		/*
		 * The database holds the url without its password (see
		 * sync_config); the password is only in the configuration,
		 * in memory.
		 */
		auth.allow_insecure_http = cr->allow_insecure_http;
		if (gitsrc_url_split(cr->url, &url, &password) == 0 &&
		    strcmp(url, s->repo.url) == 0)
			auth.password = password;
	}
	if (gitsrc_open(&s->src, dir, s->repo.url, &auth, err) < 0)
		rc = err->code;
	else
		s->src_url = xstrdup(s->repo.url);
	free(url);
	wipe_free(password);
	return rc;
}

/*
 * Write the configured repositories to the database with their urls
 * without passwords: a password stays in the configuration, in memory
 * (open_source), never in a table.
 */
static int
sync_config(struct db *db, const struct cfg *cfg, struct err *err)
{
	size_t n = cfg->nrepositories;
	struct cfg_repo *repos = xcalloc(n + 1, sizeof(*repos));
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		char *password = NULL;

		repos[i] = cfg->repositories[i];
		repos[i].url = NULL;
		if (gitsrc_url_split(cfg->repositories[i].url, &repos[i].url,
		    &password) < 0)
			rc = err_set(err, ERR_INVALID, "repository '%s': url is "
			    "too long", repos[i].name);
		wipe_free(password);
	}
	if (rc == 0)
		rc = store_repo_sync_config(db, repos, n, err);
	for (size_t i = 0; i < n; i++)
		free(repos[i].url);
	free(repos);
	return rc;
}

/*
 * Poll one repository: list, fetch what moved, process each moved or
 * deleted tracked branch.  The repository's poll state is not written
 * here (see finish_poll).
 */
static int
poll_slot(const struct cfg *cfg, struct db *db, struct slot *s,
    struct err *err)
{
	const struct repo *r = &s->repo;
	struct gitsrc_ref *refs = NULL;
	struct branch_head *heads = NULL;
	const char **moved = NULL;
	size_t nrefs = 0, nheads = 0, nmoved = 0;
	int rc;

	if ((rc = open_source(cfg, s, err)) < 0)
		return rc;
	if ((rc = gitsrc_ls_remote(s->src, &refs, &nrefs,
	    LIM_POLL_LS_TIMEOUT_MS, err)) < 0)
		goto out;
	if ((rc = store_branch_heads(db, r->id, &heads, &nheads, err)) < 0)
		goto out;
	moved = xcalloc(r->nbranches + 1, sizeof(*moved));
	for (size_t i = 0; i < r->nbranches; i++) {
		const struct gitsrc_ref *ref = gitsrc_refs_branch(refs, nrefs,
		    r->branches[i]);
		const char *old = head_of(heads, nheads, r->branches[i]);
		if (ref != NULL && (old == NULL || strcmp(old, ref->oid) != 0))
			moved[nmoved++] = r->branches[i];
	}
	if (nmoved == 0) {
		gitsrc_disconnect(s->src);
	} else if ((rc = gitsrc_fetch(s->src, moved, nmoved, 1,
	    LIM_POLL_FETCH_TIMEOUT_MS, err)) < 0) {
		goto out;
	}
	for (size_t i = 0; i < r->nbranches; i++) {
		const struct gitsrc_ref *ref = gitsrc_refs_branch(refs, nrefs,
		    r->branches[i]);
		const char *old = head_of(heads, nheads, r->branches[i]);
		if (ref == NULL && old != NULL)
			rc = process_deleted_branch(db, r, r->branches[i], old,
			    err);
		else if (ref != NULL && (old == NULL ||
		    strcmp(old, ref->oid) != 0))
			rc = process_branch(cfg, db, s->src, r, r->branches[i],
			    old, ref->oid, err);
		if (rc < 0) {
			err_prefix(err, "branch '%s'", r->branches[i]);
			goto out;
		}
	}
	rc = 0;
out:
	gitsrc_refs_free(refs, nrefs);
	free(heads);
	free(moved);
	return rc;
}

/*
 * Record the outcome; errors here are logged (the next poll retries).
 * Returns the time until the next poll (ms).
 */
static int64_t
finish_poll(const struct cfg *cfg, struct db *db, struct slot *s,
    int64_t started, int rc, const struct err *perr, struct metric *errors)
{
	struct err err;
	int64_t next;

	if (rc < 0 && errors != NULL)
		metric_inc(errors, METRIC_LABELS(s->repo.name));
	if (rc < 0)
		s->repo.consecutive_failures++;
	next = next_delay(cfg, &s->repo, rc < 0);
	if (rc == 0)
		s->repo.consecutive_failures = 0;
	if (rc < 0)
		log_warn("poll failed", "repository=%s error=\"%s\" "
		    "failures=%d retry_ms=%lld", s->repo.name, perr->msg,
		    s->repo.consecutive_failures, (long long)next);
	if (store_repo_polled(db, s->id, started, rc < 0 ? perr->msg : NULL,
	    next, &err) < 0)
		log_error("cannot record poll", "repository=%s error=\"%s\"",
		    s->repo.name, err.msg);
	return next;
}

int
poller_poll_now(const struct cfg *cfg, struct db *db, const char *name,
    struct err *err)
{
	struct slot s;
	int64_t started = sys_wall_ms() - 1;
	struct err perr;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = store_repo_get(db, name, &s.repo, err)) < 0)
		return rc;
	if ((rc = gitsrc_global_init(err)) < 0) {
		repo_release(&s.repo);
		return rc;
	}
	s.id = s.repo.id;
	err_clear(&perr);
	rc = poll_slot(cfg, db, &s, &perr);
	(void)finish_poll(cfg, db, &s, started, rc, &perr, NULL);
	if (rc < 0)
		(void)err_set(err, rc, "%s", perr.msg);
	gitsrc_free(s.src);
	free(s.src_url);
	repo_release(&s.repo);
	gitsrc_global_shutdown();
	return rc;
}

/* --- threads ------------------------------------------------------------- */

static int
slot_cmp(const void *a, const void *b)
{
	const struct slot *x = *(struct slot *const *)a;
	const struct slot *y = *(struct slot *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* The slot of repository id, or NULL (binary search: slots is sorted). */
static struct slot *
slot_find(struct poller *p, int64_t id)
{
	size_t lo = 0, hi = p->nslots;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->slots[mid]->id == id)
			return p->slots[mid];
		if (p->slots[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
slot_free(struct slot *s)
{
	gitsrc_free(s->src);
	free(s->src_url);
	repo_release(&s->repo);
	free(s);
}

/* The most repositories polled: max_repositories, within the hard cap. */
static size_t
max_slots(const struct cfg *cfg)
{
	return cfg->max_repositories > 0 && cfg->max_repositories <
	    LIM_POLL_SLOTS ? (size_t)cfg->max_repositories : LIM_POLL_SLOTS;
}

/*
 * Queue every slot that is due and not queued or polled already.  Called
 * with mu held; O(slots).  Returns the time until the next one is due
 * (ms), at most LIM_POLL_RESCAN_MS.
 */
static int64_t
queue_due(struct poller *p)
{
	int64_t now = sys_now_ms(), wait = LIM_POLL_RESCAN_MS;

	for (size_t i = 0; i < p->nslots; i++) {
		struct slot *s = p->slots[i];

		if (s->queued || s->in_flight)
			continue;
		if (s->due_at <= now) {
			s->queued = 1;
			s->queued_seq = ++p->seq;
			pthread_cond_signal(&p->work);
		} else if (s->due_at - now < wait) {
			wait = s->due_at - now;
		}
	}
	return wait;
}

/*
 * Take the repository list from the database: new, changed and deleted
 * repositories, refresh requests and when each is due.  Between two
 * scans the slots' due times are kept in memory (queue_due), so a
 * finished poll costs no read of the whole list.  Returns -1 when the
 * list could not be read (try again soon), else 0.
 */
static int
scan(struct poller *p, struct db *db)
{
	struct repo *list = NULL;
	size_t n = 0, k, added = 0, skipped = 0, max = max_slots(p->cfg);
	struct err err;
	int64_t now = sys_now_ms();

	/*
	 * A poll that ends after this read has set the slot's due time
	 * itself; the row read here predates it (used_at >= now below).
	 */
	if (store_repo_list(db, &list, &n, &err) < 0) {
		log_warn("cannot list repositories", "error=\"%s\"", err.msg);
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nslots; i++)
		p->slots[i]->seen = 0;
	for (size_t i = 0; i < n; i++) {
		struct slot *s = slot_find(p, list[i].id);

		if (s == NULL) {
			if (p->nslots >= max) {
				skipped++;
				continue;
			}
			if (sys_grow((void **)&p->slots, p->nslots, &p->cap,
			    sizeof(*p->slots), LIM_POLL_SLOTS) < 0)
				abort();
			s = xcalloc(1, sizeof(*s));
			s->id = list[i].id;
			p->slots[p->nslots++] = s;
			added++;
		}
		s->seen = 1;
		if (s->in_flight) {
			/* the worker owns s->repo now */
			if (list[i].refresh_requested)
				s->refresh_seen = 1;
			continue;
		}
		if (s->used_at >= now && !list[i].refresh_requested)
			continue;
		repo_release(&s->repo);
		s->repo = list[i];
		memset(&list[i], 0, sizeof(list[i]));
		s->due_at = s->repo.refresh_requested ? now :
		    now + s->repo.due_in_ms;
	}
	if (added > 0)
		qsort(p->slots, p->nslots, sizeof(*p->slots), slot_cmp);
	if (skipped > 0)
		log_warn("too many repositories, some are not polled",
		    "max_repositories=%zu not_polled=%zu", max, skipped);
	/*
	 * Deleted repositories: drop their slots when no worker holds them
	 * (the order by id stays).
	 */
	k = 0;
	for (size_t i = 0; i < p->nslots; i++) {
		struct slot *s = p->slots[i];

		if (!s->seen && !s->in_flight) {
			if (s->src != NULL)
				p->nopen--;
			slot_free(s);
			continue;
		}
		p->slots[k++] = s;
	}
	p->nslots = k;
	pthread_mutex_unlock(&p->mu);
	repo_list_free(list, n);
	return 0;
}

static struct db *
open_db_retrying(struct poller *p)
{
	struct db *db = NULL;
	struct err err;

	while (!p->stopping) {
		if (db_open(&db, p->cfg->database_url, &err) == 0)
			return db;
		log_warn("poller: database unavailable", "error=\"%s\"",
		    err.msg);
		for (int i = 0; i < 20 && !p->stopping; i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void *
scheduler_main(void *arg)
{
	struct poller *p = arg;
	struct db *db = open_db_retrying(p);
	struct err err;
	char ch[64], payload[256];
	int64_t scan_at = 0, due_at = 0;

	if (db == NULL)
		return NULL;
	if (db_listen(db, "sluice_refresh", &err) < 0)
		log_warn("poller: cannot listen", "error=\"%s\"", err.msg);
	while (!p->stopping) {
		int64_t now = sys_now_ms();
		int rc;

		if (p->rescan || now >= scan_at) {
			p->rescan = 0;
			scan_at = now + (scan(p, db) < 0 ? 1000 :
			    LIM_POLL_RESCAN_MS);
			due_at = 0;
		}
		if (p->kick || now >= due_at) {
			p->kick = 0;
			pthread_mutex_lock(&p->mu);
			due_at = now + queue_due(p);
			pthread_mutex_unlock(&p->mu);
		}
		/* Short waits: a worker's kick is seen within 200 ms. */
		rc = db_wait_notify(db, 200, ch, sizeof(ch), payload,
		    sizeof(payload), &err);
		if (rc == 1)
			scan_at = 0;
		else if (rc < 0) {
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	db_free(db);
	return NULL;
}

/* The queued slot waiting longest, or NULL.  Called with mu held. */
static struct slot *
next_slot(struct poller *p)
{
	struct slot *best = NULL;

	for (size_t i = 0; i < p->nslots; i++) {
		struct slot *s = p->slots[i];

		if (s->queued && !s->in_flight &&
		    (best == NULL || s->queued_seq < best->queued_seq))
			best = s;
	}
	return best;
}

/*
 * Past LIM_POLL_OPEN_SOURCES open sources, detach the source of the
 * repository polled longest ago (not being polled) and return it for the
 * caller to free without mu; NULL when under the cap.  Called with mu
 * held.  A closed source is opened again by its next poll, from the
 * mirror on disk.
 */
static struct gitsrc *
close_lru(struct poller *p)
{
	struct slot *lru = NULL;
	struct gitsrc *src;

	if (p->nopen <= LIM_POLL_OPEN_SOURCES)
		return NULL;
	for (size_t i = 0; i < p->nslots; i++) {
		struct slot *s = p->slots[i];

		if (s->src != NULL && !s->in_flight &&
		    (lru == NULL || s->used_at < lru->used_at))
			lru = s;
	}
	if (lru == NULL)
		return NULL;
	src = lru->src;
	lru->src = NULL;
	free(lru->src_url);
	lru->src_url = NULL;
	p->nopen--;
	return src;
}

static void *
worker_main(void *arg)
{
	struct poller *p = arg;
	struct db *db = open_db_retrying(p);

	if (db == NULL)
		return NULL;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		struct slot *s = next_slot(p);
		struct gitsrc *victim;
		struct err err;
		int64_t started, next;
		int rc, was_open;

		if (s == NULL) {
			pthread_cond_wait(&p->work, &p->mu);
			continue;
		}
		s->queued = 0;
		s->in_flight = 1;
		was_open = s->src != NULL;
		pthread_mutex_unlock(&p->mu);

		started = sys_wall_ms() - 1;
		err_clear(&err);
		rc = poll_slot(p->cfg, db, s, &err);
		next = finish_poll(p->cfg, db, s, started, rc, &err, p->errors);

		pthread_mutex_lock(&p->mu);
		s->in_flight = 0;
		s->used_at = sys_now_ms();
		s->due_at = s->used_at + next;
		if (s->refresh_seen)
			p->rescan = 1;	/* whether it still stands */
		s->refresh_seen = 0;
		p->nopen += (size_t)(s->src != NULL) - (size_t)was_open;
		victim = close_lru(p);
		p->kick = 1;
		if (victim != NULL) {
			pthread_mutex_unlock(&p->mu);
			gitsrc_free(victim);
			pthread_mutex_lock(&p->mu);
		}
	}
	pthread_mutex_unlock(&p->mu);
	db_free(db);
	return NULL;
}

int
poller_start(struct poller **out, const struct cfg *cfg, struct err *err)
{
	struct poller *p = NULL;
	struct db *db = NULL;
	int rc;

	*out = NULL;
	if ((rc = gitsrc_global_init(err)) < 0)
		return rc;
	if ((rc = db_open(&db, cfg->database_url, err)) < 0)
		goto fail;
	rc = sync_config(db, cfg, err);
	db_free(db);
	if (rc < 0)
		goto fail;
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	p->nworkers = cfg->poll_workers > 0 ? cfg->poll_workers : 1;
	p->workers = xcalloc((size_t)p->nworkers, sizeof(pthread_t));
	for (int i = 0; i < p->nworkers; i++) {
		if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
			p->nworkers = i;
			poller_stop(p);
			return err_set(err, ERR_GENERIC,
			    "cannot start poll workers");
		}
	}
	if (pthread_create(&p->scheduler, NULL, scheduler_main, p) != 0) {
		poller_stop(p);
		return err_set(err, ERR_GENERIC, "cannot start the scheduler");
	}
	p->started_scheduler = 1;
	log_info("poller started", "repositories=%zu workers=%d",
	    cfg->nrepositories, p->nworkers);
	*out = p;
	return 0;
fail:
	gitsrc_global_shutdown();
	return rc;
}

void
poller_count_errors(struct poller *p, struct metric *errors)
{
	pthread_mutex_lock(&p->mu);
	p->errors = errors;
	pthread_mutex_unlock(&p->mu);
}

void
poller_stop(struct poller *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	for (size_t i = 0; i < p->nslots; i++)
		if (p->slots[i]->in_flight && p->slots[i]->src != NULL)
			gitsrc_interrupt(p->slots[i]->src);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	if (p->started_scheduler)
		pthread_join(p->scheduler, NULL);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	for (size_t i = 0; i < p->nslots; i++)
		slot_free(p->slots[i]);
	free(p->slots);
	free(p->workers);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
	gitsrc_global_shutdown();
}
