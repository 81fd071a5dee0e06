/*
 * cmd_gc.c - `sluice gc [--config FILE] [--set KEY=VALUE]... [--dry-run]`:
 * one retention sweep against the configuration's database, as the
 * controller runs every retention.interval (engine/retention.h).
 *
 * Prints each run past its pipeline's policy, one per line,
 *
 *	delete  run 12  demo  succeeded  2026-11-21T21:50:00.000Z  beyond keep_runs 5
 *	keep    run 7   demo  succeeded  2026-11-20T08:00:00.000Z  beyond keep_runs 5: model demo v3 is production
 *
 * then deletes (without --dry-run) and ends with a summary line.  With
 * --dry-run nothing is changed.  Exit status 0, 1 on an error, 2 for bad
 * arguments.  Waits for a sweeping controller to finish its batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfg.h"
#include "engine/retention.h"
#include "store/db.h"
#include "cmd.h"

static const char usage[] =
    "usage: sluice gc [--config FILE] [--set KEY=VALUE]... [--dry-run]\n";

/* The plan, printed; *ndel and *nkept count its lines. */
static int
print_plan(struct db *db, const struct cfg *cfg, size_t *ndel, size_t *nkept,
    struct err *err)
{
	struct retention_defaults d;
	struct retention_run *plan = NULL;
	size_t n = 0;
	int rc;

	*ndel = *nkept = 0;
	retention_defaults_of(cfg, &d);
	if ((rc = store_retention_plan(db, &d, 0, INT64_MAX, &plan, &n,
	    err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct retention_run *r = &plan[i];

		printf("%-6s  run %lld  %s  %s  %s  %s%s%s\n",
		    r->kept[0] != '\0' ? "keep" : "delete", (long long)r->id,
		    r->pipeline, r->status, r->created_at, r->past,
		    r->kept[0] != '\0' ? ": " : "", r->kept);
		if (r->kept[0] != '\0')
			(*nkept)++;
		else
			(*ndel)++;
	}
	free(plan);
	return 0;
}

int
cmd_gc(int argc, char **argv)
{
	struct retention_counts c;
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct err err;
	size_t ndel = 0, nkept = 0;
	int dry = 0, rc = 1;

	err_clear(&err);
	if ((cfg = cli_load_config(&argc, argv)) == NULL)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			dry = 1;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		} else {
			fprintf(stderr, "sluice gc: unknown argument '%s'\n%s",
			    argv[i], usage);
			rc = 2;
			goto out;
		}
	}
	if (db_open(&db, cfg->database_url, &err) < 0 ||
	    print_plan(db, cfg, &ndel, &nkept, &err) < 0)
		goto fail;
	if (dry) {
		printf("gc: %zu run%s to delete, %zu kept (dry run: nothing "
		    "changed)\n", ndel, ndel == 1 ? "" : "s", nkept);
		rc = 0;
		goto out;
	}
	/* one sweeper at a time: wait for a controller's batch */
	if (db_advisory_lock(db, DB_LOCK_RETENTION, &err) < 0 ||
	    retention_sweep(db, cfg, NULL, &c, &err) < 0)
		goto fail;
	printf("gc: deleted %lld run%s (%lld stages, %lld attempts, %lld "
	    "model versions, %lld events, %lld log bytes), %zu kept\n",
	    (long long)c.runs, c.runs == 1 ? "" : "s", (long long)c.stages,
	    (long long)c.attempts, (long long)c.model_versions,
	    (long long)c.events, (long long)c.log_bytes, nkept);
	rc = 0;
	goto out;
fail:
	fflush(stdout);
	fprintf(stderr, "sluice gc: %s\n", err.msg);
out:
	db_free(db);
	cfg_free(cfg);
	return rc;
}
