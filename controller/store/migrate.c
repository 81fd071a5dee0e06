/*
 * migrate.c - numbered SQL migrations; see migrate.h for the rules.
 *
 * The checksum is taken over the file's bytes exactly, so a changed
 * comment or trailing newline counts as a change: the recorded file is the
 * one that ran, and anything else would let two databases with the "same"
 * migration differ.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/sys.h"
#include "store/db.h"
#include "store/migrate.h"

static const char sql_table_exists[] =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";

static const char sql_create_table[] =
    "CREATE TABLE schema_migrations ("
    " version integer PRIMARY KEY CHECK (version >= 1),"
    " name text NOT NULL,"
    " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static const char sql_applied[] =
    "SELECT version, name, checksum,"
    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " FROM schema_migrations ORDER BY version";

static const char sql_record[] =
    "INSERT INTO schema_migrations (version, name, checksum)"
    " VALUES ($1, $2, $3)";

void
migration_list_release(struct migration_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

const char *
migration_state_name(enum migration_state s)
{
	switch (s) {
	case MIGRATION_PENDING:	return "pending";
	case MIGRATION_APPLIED:	return "applied";
	case MIGRATION_CHANGED:	return "changed";
	case MIGRATION_MISSING:	return "missing";
	}
	return "unknown";
}

static struct migration *
list_add(struct migration_list *l)
{
	struct migration *p;
	size_t size;

	if (__builtin_mul_overflow(l->n + 1, sizeof(*p), &size) ||
	    (p = realloc(l->items, size)) == NULL)
		abort();
	l->items = p;
	p = &l->items[l->n++];
	memset(p, 0, sizeof(*p));
	return p;
}

int
migrate_find_dir(char *out, size_t outlen, const char *flag,
    const char *env, struct err *err)
{
	char exe[LIM_PATH], cand[LIM_PATH];
	const char *choice = "migrations";
	struct stat st;
	ssize_t n;
	int k;

	if (flag != NULL) {
		choice = flag;
	} else if (env != NULL && env[0] != '\0') {
		choice = env;
	} else if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) >
	    0) {
		exe[n] = '\0';
		k = snprintf(cand, sizeof(cand), "%s/../migrations",
		    dirname(exe));
		if (k > 0 && (size_t)k < sizeof(cand) &&
		    stat(cand, &st) == 0 && S_ISDIR(st.st_mode))
			choice = cand;
	}
	if (str_copy(out, outlen, choice) < 0)
		return err_set(err, ERR_TOOBIG,
		    "migrations directory name is too long");
	return 0;
}

/*
 * Parse "NNNN_description.sql" into *version.  Returns 0, or -1 when the
 * name does not have that shape (or the number is 0000).
 */
static int
parse_name(const char *name, int *version)
{
	size_t len = strlen(name), i;
	int v = 0;

	if (len < 4 + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	for (i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (name[4] != '_' || v == 0)
		return -1;
	for (i = 5; i < len - 4; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return -1;
	}
	*version = v;
	return 0;
}

static int
sha256_hex(const void *data, size_t len, char out[65], struct err *err)
{
	return hash_sha256_hex(data, len, out, err);
}

/* Read one migration file and its checksum. */
static int
load_file(const char *dir, const char *name, struct buf *content,
    char checksum[65], struct err *err)
{
	char path[LIM_PATH];
	int n, rc;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(err, ERR_TOOBIG, "migration path is too long");
	if ((rc = sys_read_file(path, "migration", LIM_MIGRATION_FILE, 1,
	    content, err)) < 0)
		return rc;
	return sha256_hex(content->len > 0 ? content->data : "", content->len,
	    checksum, err);
}

static int
by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
migrate_scan(const char *dir, struct migration_list *out, struct err *err)
{
	struct migration_list l = { NULL, 0 };
	struct buf content;
	struct dirent *de;
	struct migration *m;
	struct stat st;
	char path[LIM_PATH];
	DIR *d = NULL;
	int version, n, rc = 0;
	size_t i;

	out->items = NULL;
	out->n = 0;
	buf_init(&content, LIM_MIGRATION_FILE);
	if ((d = opendir(dir)) == NULL) {
		rc = err_set(err, ERR_NOTFOUND,
		    "migrations directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		if (len > LIM_MIGRATION_NAME || parse_name(de->d_name,
		    &version) < 0) {
			rc = err_set(err, ERR_INVALID,
			    "migrations: '%s' is not named "
			    "NNNN_description.sql (NNNN from 0001)",
			    de->d_name);
			goto out;
		}
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			rc = err_set(err, ERR_TOOBIG,
			    "migration path is too long");
			goto out;
		}
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			rc = err_set(err, ERR_INVALID,
			    "migrations: '%s' is not a regular file",
			    de->d_name);
			goto out;
		}
		if (l.n >= LIM_MIGRATIONS) {
			rc = err_set(err, ERR_TOOBIG,
			    "migrations: more than %d files in '%s'",
			    LIM_MIGRATIONS, dir);
			goto out;
		}
		m = list_add(&l);
		m->version = version;
		(void)str_copy(m->name, sizeof(m->name), de->d_name);
		buf_reset(&content);
		if ((rc = load_file(dir, m->name, &content, m->checksum,
		    err)) < 0)
			goto out;
	}
	if (l.n > 0)
		qsort(l.items, l.n, sizeof(*l.items), by_version);
	for (i = 0; i < l.n; i++) {
		if (i > 0 && l.items[i].version == l.items[i - 1].version) {
			rc = err_set(err, ERR_INVALID,
			    "migrations: '%s' and '%s' have the same number",
			    l.items[i - 1].name, l.items[i].name);
			goto out;
		}
		if (l.items[i].version != (int)i + 1) {
			rc = err_set(err, ERR_INVALID,
			    "migrations: number %04zu is missing (next file is "
			    "'%s')", i + 1, l.items[i].name);
			goto out;
		}
	}
	*out = l;
	l.items = NULL;
out:
	if (d != NULL)
		closedir(d);
	buf_release(&content);
	migration_list_release(&l);
	return rc;
}

/* Merge the applied rows of the database into the files' list. */
static int
merge_applied(struct db *db, struct migration_list *l, struct err *err)
{
	struct db_res *res = NULL;
	struct migration *m;
	size_t row, nfiles = l->n;
	int64_t v;
	int exists = 0, rc;

	if ((rc = db_exec(db, sql_table_exists, NULL, &res, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 0, &exists, err)) < 0 || !exists)
		goto out;
	db_res_free(res);
	res = NULL;
	if ((rc = db_exec(db, sql_applied, NULL, &res, err)) < 0)
		goto out;
	for (row = 0; row < db_res_rows(res); row++) {
		const char *name = db_res_text(res, row, 1);
		const char *sum = db_res_text(res, row, 2);
		const char *at = db_res_text(res, row, 3);

		if ((rc = db_res_int64(res, row, 0, &v, err)) < 0)
			goto out;
		if (v >= 1 && (uint64_t)v <= nfiles) {
			m = &l->items[v - 1];
		} else {
			m = list_add(l);
			m->version = (int)v;
			m->state = MIGRATION_MISSING;
			(void)str_copy(m->name, sizeof(m->name), name);
		}
		(void)str_copy(m->applied_name, sizeof(m->applied_name), name);
		(void)str_copy(m->applied_checksum,
		    sizeof(m->applied_checksum), sum);
		(void)str_copy(m->applied_at, sizeof(m->applied_at), at);
		if (m->state == MIGRATION_MISSING)
			continue;
		if (strcmp(m->name, name) == 0 && strcmp(m->checksum, sum) == 0)
			m->state = MIGRATION_APPLIED;
		else
			m->state = MIGRATION_CHANGED;
	}
	qsort(l->items, l->n, sizeof(*l->items), by_version);
out:
	db_res_free(res);
	return rc;
}

int
migrate_status(struct db *db, const char *dir, struct migration_list *out,
    struct err *err)
{
	int rc;

	if ((rc = migrate_scan(dir, out, err)) < 0)
		return rc;
	if ((rc = merge_applied(db, out, err)) < 0)
		migration_list_release(out);
	return rc;
}

/*
 * Refuse a list that cannot be migrated forward: a changed or missing
 * applied migration, or a pending one below an applied one.  Counts the
 * pending ones into *pending and points *first at the first of them.
 */
static int
verify(const struct migration_list *l, const char *dir, size_t *pending,
    const struct migration **first, struct err *err)
{
	const struct migration *m, *last_applied = NULL;
	size_t i;

	*pending = 0;
	*first = NULL;
	for (i = 0; i < l->n; i++) {
		m = &l->items[i];
		switch (m->state) {
		case MIGRATION_CHANGED:
			if (strcmp(m->name, m->applied_name) != 0)
				return err_set(err, ERR_CONFLICT,
				    "migration %04d was applied as '%s' but "
				    "the file is now '%s'", m->version,
				    m->applied_name, m->name);
			return err_set(err, ERR_CONFLICT,
			    "migration %s was changed after it was applied "
			    "(checksum %s applied, %s now); add a new "
			    "migration instead", m->name, m->applied_checksum,
			    m->checksum);
		case MIGRATION_MISSING:
			return err_set(err, ERR_CONFLICT,
			    "migration %s was applied but is not in '%s' (is "
			    "this sluice older than the database?)", m->name,
			    dir);
		case MIGRATION_APPLIED:
			last_applied = m;
			break;
		case MIGRATION_PENDING:
			if (*first == NULL)
				*first = m;
			(*pending)++;
			break;
		}
	}
	if (*first != NULL && last_applied != NULL &&
	    last_applied->version > (*first)->version)
		return err_set(err, ERR_CONFLICT,
		    "migration %s is pending but the later %s is applied",
		    (*first)->name, last_applied->name);
	return 0;
}

/* Run one migration and record it, in one transaction. */
static int
apply_one(struct db *db, const char *dir, const struct migration *m,
    struct err *err)
{
	struct buf content;
	struct db_args a;
	char sum[65];
	int rc;

	buf_init(&content, LIM_MIGRATION_FILE);
	if ((rc = load_file(dir, m->name, &content, sum, err)) < 0)
		goto out;
	if (strcmp(sum, m->checksum) != 0) {
		rc = err_set(err, ERR_CONFLICT,
		    "migration %s changed while migrating", m->name);
		goto out;
	}
	if ((rc = db_begin(db, err)) < 0)
		goto out;
	if ((rc = db_exec_script(db, content.len > 0 ? content.data : "",
	    err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_int64(&a, m->version);
	db_args_str(&a, m->name);
	db_args_str(&a, m->checksum);
	if ((rc = db_exec(db, sql_record, &a, NULL, err)) < 0)
		goto out;
	rc = db_commit(db, err);
out:
	db_rollback(db);
	buf_release(&content);
	if (rc < 0)
		(void)err_prefix(err, "migration %s", m->name);
	return rc;
}

int
migrate_apply(struct db *db, const char *dir, struct migration_list *done,
    struct err *err)
{
	struct migration_list l = { NULL, 0 };
	const struct migration *first;
	struct db_res *res = NULL;
	struct err uerr;
	size_t pending, i;
	int got = 0, locked = 0, exists = 0, rc;

	if (done != NULL) {
		done->items = NULL;
		done->n = 0;
	}
	if ((rc = db_advisory_try_lock(db, DB_LOCK_MIGRATE, &got, err)) < 0)
		goto out;
	if (!got) {
		log_info("waiting for migration lock",
		    "reason=\"another sluice is migrating\"");
		if ((rc = db_advisory_lock(db, DB_LOCK_MIGRATE, err)) < 0)
			goto out;
	}
	locked = 1;
	if ((rc = db_exec(db, sql_table_exists, NULL, &res, err)) < 0 ||
	    (rc = db_res_bool(res, 0, 0, &exists, err)) < 0)
		goto out;
	if (!exists && (rc = db_exec(db, sql_create_table, NULL, NULL,
	    err)) < 0)
		goto out;
	if ((rc = migrate_status(db, dir, &l, err)) < 0)
		goto out;
	if ((rc = verify(&l, dir, &pending, &first, err)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (l.items[i].state != MIGRATION_PENDING)
			continue;
		if ((rc = apply_one(db, dir, &l.items[i], err)) < 0)
			goto out;
		log_info("migration applied", "name=%s", l.items[i].name);
		if (done != NULL) {
			*list_add(done) = l.items[i];
			done->items[done->n - 1].state = MIGRATION_APPLIED;
		}
	}
out:
	db_res_free(res);
	if (locked && db_advisory_unlock(db, DB_LOCK_MIGRATE, &uerr) < 0 &&
	    rc == 0)
		rc = err_set(err, uerr.code, "%s", uerr.msg);
	migration_list_release(&l);
	return rc;
}

int
migrate_pending(struct db *db, const char *dir, size_t *count,
    struct err *err)
{
	struct migration_list l = { NULL, 0 };
	const struct migration *first;
	int rc;

	*count = 0;
	if ((rc = migrate_status(db, dir, &l, err)) < 0)
		return rc;
	rc = verify(&l, dir, count, &first, err);
	migration_list_release(&l);
	return rc;
}

int
migrate_ensure(struct db *db, const char *dir, int apply, struct err *err)
{
	struct migration_list l = { NULL, 0 };
	const struct migration *first;
	size_t pending;
	int rc;

	if (apply)
		return migrate_apply(db, dir, NULL, err);
	if ((rc = migrate_status(db, dir, &l, err)) < 0)
		return rc;
	if ((rc = verify(&l, dir, &pending, &first, err)) == 0 &&
	    pending > 0)
		rc = err_set(err, ERR_CONFLICT,
		    "%zu pending migration%s (first %s): run 'sluice migrate' "
		    "or start with --migrate", pending, pending == 1 ? "" : "s",
		    first->name);
	migration_list_release(&l);
	return rc;
}
