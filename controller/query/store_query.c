/* store_query.c - pages and documents of JSON; see store_query.h. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/cursor.h"
#include "query/store_query.h"
#include "store/db.h"

int
store_query_page(struct db *db, const char *sql, const struct db_args *args,
    const char *list, int64_t limit, const char *kind, struct buf *out,
    size_t *nrows, struct err *err)
{
	struct db_res *res = NULL;
	char cursor[LIM_API_CURSOR + 1];
	size_t rows, shown;
	int rc;

	if ((rc = db_exec_prepared(db, sql, args, &res, err)) < 0)
		return rc;
	rows = db_res_rows(res);
	shown = rows > (size_t)limit ? (size_t)limit : rows;
	if (nrows != NULL)
		*nrows = shown;
	if ((rc = buf_printf(out, "{\"%s\":[", list)) < 0)
		goto toobig;
	for (size_t i = 0; i < shown; i++) {
		const char *j = db_res_text(res, i, 1);

		if ((i > 0 && (rc = buf_putc(out, ',')) < 0) ||
		    (rc = buf_puts(out, j != NULL ? j : "null")) < 0)
			goto toobig;
	}
	if (rows > shown && shown > 0) {
		const char *key = db_res_text(res, shown - 1, 0);

		if (key == NULL || cursor_encode(kind, key, cursor,
		    sizeof(cursor)) < 0) {
			rc = err_set(err, ERR_GENERIC, "cannot make a cursor "
			    "of the %s list", list);
			goto out;
		}
		rc = buf_printf(out, "],\"next_cursor\":\"%s\"}", cursor);
	} else {
		rc = buf_puts(out, "],\"next_cursor\":null}");
	}
	if (rc < 0)
		goto toobig;
	goto out;
toobig:
	rc = err_set(err, rc, "the %s list is too large to answer", list);
out:
	db_res_free(res);
	return rc;
}

int
store_query_json(struct db *db, const char *sql, const struct db_args *args,
    const char *what, char **json, struct err *err)
{
	struct db_res *res = NULL;
	const char *j;
	int rc;

	*json = NULL;
	if ((rc = db_exec_prepared(db, sql, args, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0 || (j = db_res_text(res, 0, 0)) == NULL)
		rc = err_set(err, ERR_NOTFOUND, "%s", what);
	else
		*json = xstrdup(j);
	db_res_free(res);
	return rc;
}
