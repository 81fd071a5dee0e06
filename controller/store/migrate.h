/*
 * migrate.h - numbered SQL migrations: migrations/NNNN_description.sql.
 *
 * Rules (docs/database.md):
 *   - A file is named NNNN_description.sql: four digits from 0001, an
 *     underscore, letters, digits, '_' or '-'.  Numbers are contiguous from
 *     0001; a gap, a duplicate number or another *.sql name is an error.
 *     Files not ending in .sql and hidden files are ignored.
 *   - Migrations only move forward and run in number order, each in its
 *     own transaction together with its row in schema_migrations (version,
 *     name, SHA-256 of the file, applied_at).  A file must not hold
 *     BEGIN/COMMIT or statements that cannot run in a transaction.  A
 *     migration that fails is rolled back entirely and nothing is recorded.
 *   - A landed migration is never edited: when an applied file's checksum
 *     (or name) differs from the recorded one, or an applied migration is
 *     missing from the directory, nothing runs and the error says which.
 *   - Concurrent runs (two `sluice migrate`, or `sluice serve --migrate`
 *     on several replicas) are serialized by an advisory lock
 *     (DB_LOCK_MIGRATE): the second waits, then finds nothing to do.
 *
 * The schema_migrations table is created by migrate_apply() itself.
 */
#ifndef SLUICE_MIGRATE_H
#define SLUICE_MIGRATE_H

#include <stddef.h>

#include "base/caps.h"
#include "base/err.h"

struct db;

enum migration_state {
	MIGRATION_PENDING = 0,	/* on disk, not applied */
	MIGRATION_APPLIED,	/* applied, file unchanged */
	MIGRATION_CHANGED,	/* applied, but the file differs now */
	MIGRATION_MISSING,	/* applied, but no file has its number */
};

struct migration {
	int			version;
	char			name[LIM_MIGRATION_NAME + 1];	/* file name */
	char			checksum[65];	/* of the file; "" if missing */
	enum migration_state	state;
	char			applied_at[32];	/* RFC 3339, "" if pending */
	char			applied_name[LIM_MIGRATION_NAME + 1];
	char			applied_checksum[65];
};

/* A list of migrations in version order; items owned by the list. */
struct migration_list {
	struct migration	*items;
	size_t			 n;
};

void	migration_list_release(struct migration_list *l);

/* "pending", "applied", "changed" or "missing". */
const char *migration_state_name(enum migration_state s);

/*
 * Choose the migrations directory: flag (--migrations-dir) when not NULL,
 * else env (the value of SLUICE_MIGRATIONS_DIR) when not NULL or empty,
 * else <directory of the running executable>/../migrations when it is a
 * directory, else "migrations" (relative to the working directory).
 * Writes the choice into out.  Errors: ERR_TOOBIG when it does not fit.
 */
int	migrate_find_dir(char *out, size_t outlen, const char *flag,
	    const char *env, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Read the migration files of dir (names checked, numbers contiguous from
 * 1, SHA-256 of each file) into out, all in state MIGRATION_PENDING.
 * Errors: ERR_NOTFOUND when dir cannot be opened, ERR_INVALID for a bad
 * name, a duplicate or missing number or a NUL byte in a file, ERR_TOOBIG
 * past LIM_MIGRATIONS files or LIM_MIGRATION_FILE bytes.  out is empty on
 * error.
 */
int	migrate_scan(const char *dir, struct migration_list *out,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * The files of dir merged with what the database recorded: every migration
 * in version order with its state.  Changed and missing migrations are
 * listed, not refused (this is what `sluice migrate --status` prints).
 * Errors: those of migrate_scan and of db_exec.
 */
int	migrate_status(struct db *db, const char *dir,
	    struct migration_list *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Apply every pending migration of dir, in order, under the migration
 * lock (blocks while another process holds it).  When done is not NULL it
 * receives the migrations applied by this call (possibly none; the caller
 * releases it), also when a later one failed.  Errors: ERR_CONFLICT when
 * an applied migration changed or is missing, or a pending one is older
 * than an applied one; the error of the failing statement, prefixed with
 * "migration NNNN_x.sql: line N", when a migration fails; ERR_TRANSIENT
 * when the database is unavailable.
 */
int	migrate_apply(struct db *db, const char *dir, struct migration_list *done,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Count the pending migrations of dir into *count, without the lock.
 * Errors: as migrate_apply for changed or missing migrations.
 */
int	migrate_pending(struct db *db, const char *dir, size_t *count,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * For `sluice serve [--migrate]`: with apply, migrate_apply(); without,
 * fail with ERR_CONFLICT when migrations are pending:
 *	2 pending migrations (first 0002_x.sql): run 'sluice migrate' or
 *	start with --migrate
 */
int	migrate_ensure(struct db *db, const char *dir, int apply,
	    struct err *err) __attribute__((warn_unused_result));

#endif
