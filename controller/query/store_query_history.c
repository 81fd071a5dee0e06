/* store_query_history.c - production history; see the header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "query/store_query_history.h"
#include "store/db.h"

#define ENTRY_JSON                                                          \
	"json_build_object('id', h.id, 'target', h.target,"                 \
	" 'model', m.name, 'version', m.version, 'uri', m.uri,"             \
	" 'previous', (SELECT json_build_object('model', p.name,"           \
	"   'version', p.version) FROM model_versions p"                    \
	"   WHERE p.id = h.previous_model_version_id),"                     \
	" 'changed_at', rfc3339(h.changed_at), 'actor', h.actor,"           \
	" 'source', h.source, 'reason', h.reason, 'run', h.run_id,"          \
	" 'rollout', h.rollout_id, 'traffic', (SELECT json_build_object("     \
	"   'provider', t.provider, 'object', t.object, 'state', t.state,"   \
	"   'message', t.message, 'tries', t.tries,"                         \
	"   'updated_at', rfc3339(t.updated_at))"                            \
	"   FROM production_traffic t WHERE t.history_id = h.id))"

#define ENTRY_FROM                                                          \
	" FROM production_history h"                                        \
	" JOIN model_versions m ON m.id = h.model_version_id"

static const char sql_list[] =
    "SELECT h.id, " ENTRY_JSON "::text" ENTRY_FROM
    " WHERE h.target = $1 AND h.id < $2"
    " ORDER BY h.id DESC LIMIT $3::bigint + 1";

static const char sql_at[] =
    "SELECT json_build_object('target', $1::text,"
    "  'at', rfc3339($2::timestamptz), 'entry', " ENTRY_JSON ")::text"
    ENTRY_FROM
    " WHERE h.target = $1 AND h.changed_at <= $2::timestamptz"
    " ORDER BY h.changed_at DESC, h.id DESC LIMIT 1";

static const char sql_latest[] =
    "SELECT " ENTRY_JSON "::text" ENTRY_FROM
    " WHERE h.target = $1 ORDER BY h.id DESC LIMIT 1";

/* Whether target is known, and when its history begins (NULL: none). */
static const char sql_target[] =
    "SELECT target_known($1), (SELECT rfc3339(min(changed_at))"
    "  FROM production_history WHERE target = $1)";

/* ERR_NOTFOUND naming target when nothing names it; *begins, when given,
 * receives the start of its history (caller frees, NULL: none). */
static int
target_check(struct db *db, const char *target, char **begins,
    struct err *err)
{
	struct db_res *res = NULL;
	struct db_args a;
	int rc;

	if (begins != NULL)
		*begins = NULL;
	db_args_init(&a);
	db_args_str(&a, target);
	if ((rc = db_exec(db, sql_target, &a, &res, err)) < 0)
		return rc;
	if (db_res_rows(res) == 0 || db_res_is_null(res, 0, 0) ||
	    db_res_text(res, 0, 0)[0] != 't')
		rc = err_set(err, ERR_NOTFOUND, "target '%.253s' not found: no "
		    "pipeline, rollout or model version names it", target);
	else if (begins != NULL && !db_res_is_null(res, 0, 1))
		*begins = xstrdup(db_res_text(res, 0, 1));
	db_res_free(res);
	return rc;
}

int
store_query_history_list(struct db *db, const char *target,
    const struct page_in *pg, struct buf *out, struct err *err)
{
	struct db_args a;
	int rc;

	if ((rc = target_check(db, target, NULL, err)) < 0)
		return rc;
	db_args_init(&a);
	db_args_str(&a, target);
	if (pg->after != NULL)
		db_args_str(&a, pg->after);
	else
		db_args_int64(&a, INT64_MAX);
	db_args_int64(&a, pg->limit);
	return store_query_page(db, sql_list, &a, "history", pg->limit, "h1",
	    out, NULL, err);
}

int
store_query_history_at(struct db *db, const char *target, const char *at,
    char **json, struct err *err)
{
	struct db_args a;
	char *begins = NULL;
	int rc;

	*json = NULL;
	if ((rc = target_check(db, target, &begins, err)) < 0)
		goto out;
	db_args_init(&a);
	db_args_str(&a, target);
	db_args_str(&a, at);
	if ((rc = store_query_json(db, sql_at, &a, "", json, err)) ==
	    ERR_NOTFOUND) {
		if (begins != NULL)
			rc = err_set(err, ERR_NOTFOUND, "nothing was in "
			    "production on target '%.253s' at %.64s: its "
			    "history begins at %s", target, at, begins);
		else
			rc = err_set(err, ERR_NOTFOUND, "nothing was in "
			    "production on target '%.253s' at %.64s: it has no "
			    "history yet", target, at);
	}
out:
	free(begins);
	return rc;
}

int
store_query_history_latest(struct db *db, const char *target, char **json,
    struct err *err)
{
	struct db_args a;
	char what[320];

	db_args_init(&a);
	db_args_str(&a, target);
	(void)snprintf(what, sizeof(what), "target '%.253s' has no "
	    "production history", target);
	return store_query_json(db, sql_latest, &a, what, json, err);
}
