/*
 * jsonin.c - strict JSON bodies, query strings and JSON replies; see
 * jsonin.h.  The only module of the HTTP edge that touches jansson.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "http/http.h"
#include "http/jsonin.h"

#define PATH_MAX_LEN	256

void
jsonin_map_release(struct jsonin_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

void
jsonin_list_release(struct jsonin_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static const char *
type_words(enum jsonin_type t)
{
	switch (t) {
	case JSONIN_STRING:	return "a string";
	case JSONIN_INT:	return "an integer";
	case JSONIN_NUMBER:	return "a number";
	case JSONIN_BOOL:	return "true or false";
	case JSONIN_STRMAP:	return "an object of strings";
	case JSONIN_OBJECT:	return "an object";
	case JSONIN_STRLIST:	return "an array of strings";
	}
	return "?";
}

/* "a.b" from a prefix ("" at the top) and a key. */
static void
join_path(char *out, size_t len, const char *prefix, const char *key)
{
	/* Paths are for messages: a cut one is still useful. */
	if (prefix[0] == '\0' ? snprintf(out, len, "%s", key) >= (int)len :
	    snprintf(out, len, "%s.%s", prefix, key) >= (int)len)
		out[len - 1] = '\0';
}

/* Reset every string and map out of a table (and of nested tables). */
static void
reset_outs(const struct jsonin_field *fields, int release)
{
	for (const struct jsonin_field *f = fields; f->name != NULL; f++) {
		if (f->type == JSONIN_STRING && f->out != NULL) {
			char **s = f->out;

			if (release)
				free(*s);
			*s = NULL;
		} else if (f->type == JSONIN_STRMAP && f->out != NULL) {
			if (release)
				jsonin_map_release(f->out);
			else
				memset(f->out, 0, sizeof(struct jsonin_map));
		} else if (f->type == JSONIN_STRLIST && f->out != NULL) {
			if (release)
				jsonin_list_release(f->out);
			else
				memset(f->out, 0, sizeof(struct jsonin_list));
		} else if (f->type == JSONIN_OBJECT && f->fields != NULL) {
			reset_outs(f->fields, release);
		}
	}
}

static int
take_string(const json_t *v, const char *path, size_t maxlen, char **out,
    struct err *err)
{
	size_t len = json_string_length(v);
	size_t cap = maxlen > 0 ? maxlen : LIM_JSON_STRING;

	if (len > cap)
		return err_set(err, ERR_INVALID, "field \"%s\": longer than "
		    "%zu bytes", path, cap);
	*out = strndup(json_string_value(v), len);
	BUG_ON(*out == NULL);
	return 0;
}

static int parse_object(const json_t *obj, const struct jsonin_field *fields,
    int open, const char *prefix, struct err *err);

static int
parse_value(const json_t *v, const struct jsonin_field *f, const char *path,
    struct err *err)
{
	int rc;

	switch (f->type) {
	case JSONIN_STRING:
		if (!json_is_string(v))
			goto type;
		return take_string(v, path, f->maxlen, f->out, err);
	case JSONIN_INT: {
		json_int_t i;

		if (!json_is_integer(v))
			goto type;
		i = json_integer_value(v);
		if ((f->min != 0 || f->max != 0) && (i < f->min || i > f->max))
			return err_set(err, ERR_INVALID, "field \"%s\": "
			    "expected an integer from %lld to %lld", path,
			    (long long)f->min, (long long)f->max);
		*(int64_t *)f->out = (int64_t)i;
		return 0;
	}
	case JSONIN_NUMBER:
		if (!json_is_number(v))
			goto type;
		*(double *)f->out = json_number_value(v);
		return 0;
	case JSONIN_BOOL:
		if (!json_is_boolean(v))
			goto type;
		*(int *)f->out = json_is_true(v);
		return 0;
	case JSONIN_STRMAP: {
		struct jsonin_map *m = f->out;
		size_t cap = f->maxn > 0 ? f->maxn : LIM_JSON_MAP;
		const char *key;
		json_t *val;

		if (!json_is_object(v))
			goto type;
		if (json_object_size(v) > cap)
			return err_set(err, ERR_INVALID, "field \"%s\": more "
			    "than %zu entries", path, cap);
		m->keys = xcalloc(json_object_size(v) + 1, sizeof(char *));
		m->values = xcalloc(json_object_size(v) + 1, sizeof(char *));
		json_object_foreach((json_t *)v, key, val) {
			char sub[PATH_MAX_LEN];

			join_path(sub, sizeof(sub), path, key);
			if (!json_is_string(val))
				return err_set(err, ERR_INVALID, "field \"%s\": "
				    "expected a string", sub);
			m->keys[m->n] = xstrdup(key);
			if ((rc = take_string(val, sub, f->maxlen, &m->values[m->n],
			    err)) < 0) {
				free(m->keys[m->n]);
				return rc;
			}
			m->n++;
		}
		return 0;
	}
	case JSONIN_OBJECT:
		if (!json_is_object(v))
			goto type;
		return parse_object(v, f->fields,
		    (f->flags & JSONIN_OPEN) != 0, path, err);
	case JSONIN_STRLIST: {
		struct jsonin_list *l = f->out;
		size_t cap = f->maxn > 0 ? f->maxn : LIM_JSON_MAP;
		size_t i;
		json_t *val;

		if (!json_is_array(v))
			goto type;
		if (json_array_size(v) > cap)
			return err_set(err, ERR_INVALID, "field \"%s\": more "
			    "than %zu items", path, cap);
		l->items = xcalloc(json_array_size(v) + 1, sizeof(char *));
		json_array_foreach(v, i, val) {
			char sub[PATH_MAX_LEN];

			if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >=
			    (int)sizeof(sub))
				sub[sizeof(sub) - 1] = '\0';
			if (!json_is_string(val))
				return err_set(err, ERR_INVALID, "field \"%s\": "
				    "expected a string", sub);
			if ((rc = take_string(val, sub, f->maxlen,
			    &l->items[l->n], err)) < 0)
				return rc;
			l->n++;
		}
		return 0;
	}
	}
type:
	return err_set(err, ERR_INVALID, "field \"%s\": expected %s", path,
	    type_words(f->type));
}

static int
parse_object(const json_t *obj, const struct jsonin_field *fields, int open,
    const char *prefix, struct err *err)
{
	const char *key;
	json_t *val;
	int rc;

	/* Unknown keys first, in document order: the likeliest typo. */
	if (!open) {
		json_object_foreach((json_t *)obj, key, val) {
			const struct jsonin_field *f;
			char path[PATH_MAX_LEN];

			for (f = fields; f->name != NULL; f++)
				if (strcmp(f->name, key) == 0)
					break;
			if (f->name == NULL) {
				join_path(path, sizeof(path), prefix, key);
				return err_set(err, ERR_INVALID,
				    "unknown field \"%s\"", path);
			}
		}
	}
	for (const struct jsonin_field *f = fields; f->name != NULL; f++) {
		char path[PATH_MAX_LEN];

		join_path(path, sizeof(path), prefix, f->name);
		val = json_object_get(obj, f->name);
		if (val != NULL && json_is_null(val) &&
		    (f->flags & JSONIN_NULLABLE))
			val = NULL;
		if (val == NULL) {
			if (f->flags & JSONIN_REQUIRED)
				return err_set(err, ERR_INVALID,
				    "missing field \"%s\"", path);
			continue;
		}
		if ((rc = parse_value(val, f, path, err)) < 0)
			return rc;
		if (f->present != NULL)
			*f->present = 1;
	}
	return 0;
}

/*
 * jansson's message for a duplicate key is "duplicate object key near
 * '"comment"'": keep the key, which is what the client needs.
 */
static int
load_error(const json_error_t *je, struct err *err)
{
	if (json_error_code(je) == json_error_duplicate_key) {
		const char *near = strstr(je->text, "near '");

		if (near != NULL) {
			const char *k = near + 6;
			size_t len = strlen(k);

			if (len > 0 && k[len - 1] == '\'')
				len--;
			if (len >= 2 && k[0] == '"' && k[len - 1] == '"')
				return err_set(err, ERR_INVALID,
				    "duplicate key %.*s", (int)len, k);
		}
		return err_set(err, ERR_INVALID, "duplicate key");
	}
	return err_set(err, ERR_INVALID, "invalid JSON at line %d, column %d: "
	    "%s", je->line, je->column, je->text);
}

int
jsonin_parse(const char *body, size_t len, const struct jsonin_field *fields,
    int flags, struct err *err)
{
	json_error_t je;
	json_t *root = NULL;
	int rc;

	reset_outs(fields, 0);
	if (len == 0) {
		rc = err_set(err, ERR_INVALID, "empty body: expected a JSON "
		    "object");
		goto out;
	}
	root = json_loadb(body != NULL ? body : "", len,
	    JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		rc = load_error(&je, err);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = err_set(err, ERR_INVALID, "body: expected a JSON object");
		goto out;
	}
	rc = parse_object(root, fields, (flags & JSONIN_OPEN) != 0, "", err);
out:
	if (rc < 0)
		reset_outs(fields, 1);
	json_decref(root);
	return rc;
}

/* --- query strings ---------------------------------------------------- */

struct qstate {
	const struct jsonin_qparam	*params;
	struct err			*err;
	const char			*seen[LIM_QUERY_PARAMS];
	size_t				 nseen;
	int				 rc;
};

static int
parse_qvalue(const struct jsonin_qparam *p, const char *v, struct err *err)
{
	switch (p->type) {
	case JSONIN_Q_STRING: {
		size_t cap = p->max > 0 ? (size_t)p->max : 1024;

		if (strlen(v) > cap)
			return err_set(err, ERR_INVALID, "query parameter "
			    "\"%s\": longer than %zu bytes", p->name, cap);
		*(const char **)p->out = v;
		return 0;
	}
	case JSONIN_Q_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (v[0] == '\0' || *end != '\0' || errno != 0 ||
		    n < p->min || n > p->max || v[0] == '+' || v[0] == ' ')
			return err_set(err, ERR_INVALID, "query parameter "
			    "\"%s\": expected an integer from %lld to %lld",
			    p->name, (long long)p->min, (long long)p->max);
		*(int64_t *)p->out = (int64_t)n;
		return 0;
	}
	case JSONIN_Q_ENUM: {
		struct buf list;
		int rc;

		for (int i = 0; p->choices[i] != NULL; i++) {
			if (strcmp(p->choices[i], v) == 0) {
				*(int *)p->out = i;
				return 0;
			}
		}
		buf_init(&list, 512);
		for (int i = 0; p->choices[i] != NULL; i++)
			if (buf_printf(&list, "%s%s", i ? ", " : "",
			    p->choices[i]) < 0)
				break;
		rc = err_set(err, ERR_INVALID, "query parameter \"%s\": "
		    "expected one of %s", p->name, list.data ? list.data : "");
		buf_release(&list);
		return rc;
	}
	case JSONIN_Q_BOOL:
		if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
		    v[0] == '\0') {
			*(int *)p->out = 1;
			return 0;
		}
		if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
			*(int *)p->out = 0;
			return 0;
		}
		return err_set(err, ERR_INVALID, "query parameter \"%s\": "
		    "expected 1, true, 0 or false", p->name);
	}
	return err_set(err, ERR_INVALID, "query parameter \"%s\"", p->name);
}

static int
query_cb(void *arg, const char *key, const char *value)
{
	struct qstate *qs = arg;
	const struct jsonin_qparam *p;

	for (p = qs->params; p->name != NULL; p++)
		if (strcmp(p->name, key) == 0)
			break;
	if (p->name == NULL) {
		qs->rc = err_set(qs->err, ERR_INVALID,
		    "unknown query parameter \"%.64s\"", key);
		return 1;
	}
	for (size_t i = 0; i < qs->nseen; i++) {
		if (qs->seen[i] == p->name) {
			qs->rc = err_set(qs->err, ERR_INVALID,
			    "query parameter \"%s\" given more than once",
			    p->name);
			return 1;
		}
	}
	if (qs->nseen >= LIM_QUERY_PARAMS) {
		qs->rc = err_set(qs->err, ERR_INVALID, "more than %d query "
		    "parameters", LIM_QUERY_PARAMS);
		return 1;
	}
	qs->seen[qs->nseen++] = p->name;
	if ((qs->rc = parse_qvalue(p, value, qs->err)) < 0)
		return 1;
	if (p->present != NULL)
		*p->present = 1;
	return 0;
}

int
jsonin_query(const struct http_request *rq,
    const struct jsonin_qparam *params, struct err *err)
{
	struct qstate qs;

	memset(&qs, 0, sizeof(qs));
	qs.params = params;
	qs.err = err;
	(void)http_query_each(rq, query_cb, &qs);
	return qs.rc;
}

int
jsonin_query_pairs(const char *const *keys, const char *const *values,
    size_t n, const struct jsonin_qparam *params, struct err *err)
{
	struct qstate qs;

	memset(&qs, 0, sizeof(qs));
	qs.params = params;
	qs.err = err;
	for (size_t i = 0; i < n; i++)
		if (query_cb(&qs, keys[i], values[i]) != 0)
			break;
	return qs.rc;
}

/* --- replies ---------------------------------------------------------- */

int
jsonin_reply(struct http_response *rs, int status, const char *fmt, ...)
{
	json_error_t je;
	json_t *v;
	char *text = NULL;
	va_list ap;
	int rc = 0;

	va_start(ap, fmt);
	v = json_vpack_ex(&je, 0, fmt, ap);
	va_end(ap);
	if (v == NULL || (text = json_dumps(v, JSON_COMPACT)) == NULL) {
		http_error(rs, 500, "internal", "cannot build the answer");
		rc = ERR_GENERIC;
		goto out;
	}
	if (http_reply(rs, status, "application/json", text,
	    strlen(text)) < 0 || buf_putc(&rs->body, '\n') < 0) {
		http_error(rs, 500, "internal", "answer too large");
		rc = ERR_GENERIC;
	}
out:
	free(text);
	json_decref(v);
	return rc;
}

int
jsonin_quote(struct buf *out, const char *s)
{
	json_t *v = json_string(s);
	char *text = NULL;
	int rc;

	if (v == NULL)		/* not UTF-8 */
		return buf_puts(out, "null");
	text = json_dumps(v, JSON_ENCODE_ANY);
	rc = text != NULL ? buf_puts(out, text) : ERR_NOMEM;
	free(text);
	json_decref(v);
	return rc;
}
