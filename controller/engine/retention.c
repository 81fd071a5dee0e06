/* retention.c - the retention sweep and its thread; see retention.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "engine/retention.h"
#include "git/gitsrc.h"
#include "store/db.h"

/* Runs deleted per transaction. */
#define BATCH	100

/* How often the sweeper of a standby looks whether its engine is active. */
#define STANDBY_LOOK_MS	2000

void
retention_defaults_of(const struct cfg *cfg, struct retention_defaults *d)
{
	d->keep_runs = cfg->retention_keep_runs;
	d->max_age_ms = cfg->retention_max_age_ms;
}

/* Remove state_dir/<sub>/<name>[suffix]; failures are logged. */
static void
remove_under(const struct cfg *cfg, const char *sub, const char *name,
    const char *suffix)
{
	char dir[LIM_PATH];
	struct err err;

	if (cfg->state_dir == NULL || snprintf(dir, sizeof(dir), "%s/%s/%s%s",
	    cfg->state_dir, sub, name, suffix) >= (int)sizeof(dir))
		return;
	if (gitsrc_remove_dir(dir, &err) < 0)
		log_warn("retention: cannot remove", "dir=%s error=\"%s\"", dir,
		    err.msg);
}

static void
counts_add(struct retention_counts *t, const struct retention_counts *c)
{
	t->runs += c->runs;
	t->stages += c->stages;
	t->attempts += c->attempts;
	t->model_versions += c->model_versions;
	t->events += c->events;
	t->log_bytes += c->log_bytes;
}

int
retention_sweep(struct db *db, const struct cfg *cfg, volatile int *stop,
    struct retention_counts *total, struct err *err)
{
	struct retention_defaults d;
	struct retention_counts sum;
	int rc = 0;

	memset(&sum, 0, sizeof(sum));
	retention_defaults_of(cfg, &d);
	while (stop == NULL || !*stop) {
		struct retention_run *plan = NULL;
		struct retention_counts c;
		int64_t ids[BATCH], *runs = NULL;
		char **jobs = NULL, name[32];
		size_t n = 0, njobs = 0, nruns = 0;

		if ((rc = store_retention_plan(db, &d, 1, BATCH, &plan, &n,
		    err)) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			ids[i] = plan[i].id;
		free(plan);
		if (n == 0)
			break;
		rc = store_retention_delete(db, &d, ids, n, &c, &jobs, &njobs,
		    &runs, &nruns, err);
		for (size_t i = 0; i < njobs; i++) {
			remove_under(cfg, "attempts", jobs[i], "");
			free(jobs[i]);
		}
		free(jobs);
		for (size_t i = 0; i < nruns; i++) {
			(void)snprintf(name, sizeof(name), "%lld",
			    (long long)runs[i]);
			remove_under(cfg, "work", name, "");
			remove_under(cfg, "work", name, ".tmp");
		}
		free(runs);
		if (rc < 0)
			break;
		counts_add(&sum, &c);
		log_info("retention: runs deleted", "runs=%lld stages=%lld "
		    "attempts=%lld model_versions=%lld events=%lld "
		    "log_bytes=%lld", (long long)c.runs, (long long)c.stages,
		    (long long)c.attempts, (long long)c.model_versions,
		    (long long)c.events, (long long)c.log_bytes);
		if (c.runs == 0)
			break;	/* the rest gained a reason to stay meanwhile */
	}
	if (sum.runs > 0) {
		struct err verr;

		if (store_retention_vacuum(db, &verr) < 0)
			log_warn("retention: vacuum failed", "error=\"%s\"",
			    verr.msg);
	}
	if (total != NULL)
		*total = sum;
	return rc;
}

/* --- the thread ---------------------------------------------------------- */

struct retention {
	const struct cfg	*cfg;
	struct engine		*engine;	/* NULL: sweep anyway */
	struct db		*db;		/* the sweeper's, opened lazily */
	pthread_t		 thread;
	int			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	volatile int		 stop;
};

int
retention_round(struct retention *r, int *swept)
{
	struct err err;
	int got = 0;

	*swept = 0;
	/*
	 * Only the active controller sweeps: the local executor's attempt
	 * folders and checkouts are on its disk, and a standby deleting the
	 * rows would leave them behind for good.
	 */
	if (r->engine != NULL && !engine_active(r->engine))
		return 0;
	if (r->db == NULL && db_open(&r->db, r->cfg->database_url, &err) < 0) {
		log_warn("retention: no database", "error=\"%s\"", err.msg);
		return 0;
	}
	if (db_advisory_try_lock(r->db, DB_LOCK_RETENTION, &got, &err) < 0) {
		log_warn("retention: cannot take the lock", "error=\"%s\"",
		    err.msg);
		db_free(r->db);
		r->db = NULL;
		return 0;
	}
	if (!got)
		return 0;	/* `sluice gc` sweeps */
	if (retention_sweep(r->db, r->cfg, &r->stop, NULL, &err) < 0)
		log_warn("retention: sweep failed", "error=\"%s\"", err.msg);
	else
		*swept = 1;
	if (db_advisory_unlock(r->db, DB_LOCK_RETENTION, &err) < 0) {
		db_free(r->db);
		r->db = NULL;
	}
	return 0;
}

static void *
retention_main(void *arg)
{
	struct retention *r = arg;

	for (;;) {
		int64_t wait = r->cfg->retention_interval_ms;
		struct timespec ts;
		int swept;

		/* a standby looks often, so it sweeps soon after taking over */
		if (r->engine != NULL && !engine_active(r->engine)) {
			if (wait > STANDBY_LOOK_MS)
				wait = STANDBY_LOOK_MS;
		} else {
			(void)retention_round(r, &swept);
		}
		pthread_mutex_lock(&r->mu);
		ts = sys_deadline_in(wait);
		while (!r->stop &&
		    pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
			;
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

struct retention *
retention_new(const struct cfg *cfg, struct engine *e)
{
	struct retention *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	r->engine = e;
	pthread_mutex_init(&r->mu, NULL);
	sys_cond_init_monotonic(&r->cv);
	return r;
}

int
retention_start(struct retention **out, const struct cfg *cfg,
    struct engine *e, struct err *err)
{
	struct retention *r = retention_new(cfg, e);

	*out = NULL;
	if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
		retention_stop(r);
		return err_set(err, ERR_GENERIC, "cannot start the retention "
		    "thread");
	}
	r->started = 1;
	*out = r;
	return 0;
}

void
retention_stop(struct retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->started)
		pthread_join(r->thread, NULL);
	db_free(r->db);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
