/* api_common.c - shared parts of the REST handlers; see api_common.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "http/api_common.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query.h"
#include "store/dbpool.h"

struct db *
api_db(struct ctl *ctl, struct http_response *rs)
{
	struct db *db = NULL;
	struct err err;

	err_clear(&err);
	if (dbpool_acquire(ctl->dbpool, &db, &err) < 0) {
		http_error_from(rs, &err);
		return NULL;
	}
	return db;
}

void
api_db_done(struct ctl *ctl, struct db *db)
{
	dbpool_release(ctl->dbpool, db);
}

void
api_reply_json(struct http_response *rs, int status, const char *json,
    size_t len)
{
	if (http_reply(rs, status, "application/json", json, len) < 0 ||
	    buf_putc(&rs->body, '\n') < 0)
		http_error(rs, 500, "internal", "answer too large");
}

int
api_no_query(const struct http_request *rq, struct http_response *rs)
{
	const struct jsonin_qparam none[] = { { .name = NULL } };
	struct err err;

	if (jsonin_query(rq, none, &err) < 0) {
		http_error_from(rs, &err);
		return -1;
	}
	return 0;
}

int
api_no_body(const struct http_request *rq, struct err *err)
{
	const struct jsonin_field none[] = { { .name = NULL } };

	if (rq->body.len == 0)
		return 0;
	return jsonin_parse(rq->body.data, rq->body.len, none, 0, err);
}

int
api_path_id(const char *s, const char *what, int64_t *id, struct err *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '1' || s[0] > '9' || *end != '\0' || errno != 0)
		return err_set(err, ERR_NOTFOUND, "%s '%.64s' not found", what,
		    s);
	*id = (int64_t)v;
	return 0;
}

void
api_page_init(struct api_page *p, int64_t default_limit)
{
	memset(p, 0, sizeof(*p));
	p->limit = default_limit;
}

int
api_page_after(struct api_page *p, const char *kind, int numeric,
    struct err *err)
{
	int64_t id;
	int rc;

	p->after[0] = '\0';
	if (p->cursor == NULL)
		return 1;
	if (numeric) {
		if ((rc = cursor_decode_id(p->cursor, kind, &id, err)) < 0)
			return rc;
		(void)snprintf(p->after, sizeof(p->after), "%lld",
		    (long long)id);
		return 0;
	}
	return cursor_decode(p->cursor, kind, p->after, sizeof(p->after), err);
}

void
api_list_reply(struct ctl *ctl, struct http_request *rq,
    struct http_response *rs, const struct jsonin_qparam *params,
    struct api_page *p, const char *kind, int numeric, api_list_fn query,
    void *arg)
{
	struct page_in in;
	struct db *db = NULL;
	struct buf out;
	struct err err;

	err_clear(&err);
	buf_init(&out, LIM_HTTP_RESPONSE);
	if (jsonin_query(rq, params, &err) < 0 ||
	    api_page_after(p, kind, numeric, &err) < 0)
		goto fail;
	if ((db = api_db(ctl, rs)) == NULL)
		goto out;
	in.limit = p->limit;
	in.after = p->after[0] != '\0' ? p->after : NULL;
	if (query(db, arg, &in, &out, &err) < 0)
		goto fail;
	api_reply_json(rs, 200, out.data, out.len);
	goto out;
fail:
	http_error_from(rs, &err);
out:
	api_db_done(ctl, db);
	buf_release(&out);
}
