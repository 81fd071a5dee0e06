/*
 * cmd_migrate.c - `sluice migrate [--config FILE] [--status]
 * [--migrations-dir DIR]`.
 *
 * Without --status: apply the pending migrations and print one line per
 * migration applied ("applied  0002_x.sql"), or "no pending migrations".
 * With --status: print every migration, one per line,
 *
 *	applied  0001_lineage.sql  2026-11-21T21:50:00Z
 *	pending  0002_runs_notes.sql
 *
 * with "changed" or "missing" for an applied migration whose file changed
 * or disappeared (and exit 1).  Errors go to stderr; the exit status is 1
 * on any error, 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "store/db.h"
#include "store/migrate.h"
#include "cmd.h"

static const char usage[] =
    "usage: sluice migrate [--config FILE] [--status] [--migrations-dir DIR]\n";

static int
print_status(struct db *db, const char *dir, struct err *err)
{
	struct migration_list l = { NULL, 0 };
	size_t i, bad = 0;
	int rc;

	if ((rc = migrate_status(db, dir, &l, err)) < 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		const struct migration *m = &l.items[i];

		if (m->state == MIGRATION_PENDING)
			printf("%s  %s\n", migration_state_name(m->state),
			    m->name);
		else
			printf("%s  %s  %s\n", migration_state_name(m->state),
			    m->name, m->applied_at);
		if (m->state == MIGRATION_CHANGED ||
		    m->state == MIGRATION_MISSING)
			bad++;
	}
	if (l.n == 0)
		printf("no migrations in '%s'\n", dir);
	if (bad > 0)
		rc = err_set(err, ERR_CONFLICT,
		    "%zu applied migration%s changed or missing in '%s'", bad,
		    bad == 1 ? " is" : "s are", dir);
	migration_list_release(&l);
	return rc;
}

static int
apply(struct db *db, const char *dir, struct err *err)
{
	struct migration_list done = { NULL, 0 };
	size_t i;
	int rc;

	rc = migrate_apply(db, dir, &done, err);
	for (i = 0; i < done.n; i++)
		printf("applied  %s\n", done.items[i].name);
	if (rc == 0 && done.n == 0)
		printf("no pending migrations\n");
	migration_list_release(&done);
	return rc;
}

int
cmd_migrate(int argc, char **argv)
{
	const char *flag_dir = NULL;
	char dir[LIM_PATH];
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct err err;
	int status = 0, i, rc = 1;

	err_clear(&err);
	if ((cfg = cli_load_config(&argc, argv)) == NULL)
		return 1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--status") == 0) {
			status = 1;
		} else if (strcmp(argv[i], "--migrations-dir") == 0 &&
		    i + 1 < argc) {
			flag_dir = argv[++i];
		} else if (strncmp(argv[i], "--migrations-dir=", 17) == 0) {
			flag_dir = argv[i] + 17;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		} else {
			fprintf(stderr, "sluice migrate: unknown argument '%s'\n%s",
			    argv[i], usage);
			rc = 2;
			goto out;
		}
	}
	if (migrate_find_dir(dir, sizeof(dir), flag_dir,
	    getenv("SLUICE_MIGRATIONS_DIR"), &err) < 0 ||
	    db_open(&db, cfg->database_url, &err) < 0 ||
	    (status ? print_status(db, dir, &err) : apply(db, dir, &err)) < 0) {
		fflush(stdout);
		fprintf(stderr, "sluice migrate: %s\n", err.msg);
		goto out;
	}
	rc = 0;
out:
	db_free(db);
	cfg_free(cfg);
	return rc;
}
