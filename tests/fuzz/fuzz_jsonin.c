/*
 * fuzz_jsonin.c - libFuzzer target for strict JSON request bodies and query
 * strings (http/jsonin.c; `make fuzz`, scripts/fuzz.sh).
 *
 * An input starting with '?' is a query string: it is split at '&' and
 * the first '=', %XX decoded (as libmicrohttpd hands the pairs to
 * jsonin_query) and checked against a table of every parameter type.
 * Any other input is a request body, parsed against a closed table of
 * every field type and against an open one.
 *
 * Besides crashes, leaks and timeouts it checks what must always hold:
 * a refused input says why (ERR_INVALID and a message) and leaves every
 * string, map and list empty; an accepted one has every string within its
 * cap, every integer in its range, every number finite and every map and
 * list within its count.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/err.h"
#include "http/http.h"
#include "http/jsonin.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNSET	(-77)

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_jsonin: %s\n", what);
	abort();
}

static void
check_str(const char *s, size_t cap)
{
	if (s != NULL && strlen(s) > cap)
		fail("a string passed its cap");
}

static void
check_map(const struct jsonin_map *m, size_t maxn, size_t maxlen)
{
	if (m->n > maxn)
		fail("a map passed its count");
	for (size_t i = 0; i < m->n; i++) {
		if (m->keys[i] == NULL || m->values[i] == NULL)
			fail("a map entry is NULL");
		check_str(m->values[i], maxlen);
		for (size_t k = 0; k < i; k++)
			if (strcmp(m->keys[k], m->keys[i]) == 0)
				fail("a map has a key twice");
	}
}

static void
check_list(const struct jsonin_list *l, size_t maxn, size_t maxlen)
{
	if (l->n > maxn || (l->n > 0 && l->items[l->n] != NULL))
		fail("a list passed its count or is not NULL-terminated");
	for (size_t i = 0; i < l->n; i++) {
		if (l->items[i] == NULL)
			fail("a list item is NULL");
		check_str(l->items[i], maxlen);
	}
}

static void
check_refused(int rc, const struct err *err)
{
	if (rc != ERR_INVALID || err->code != ERR_INVALID ||
	    err->msg[0] == '\0')
		fail("a refusal without ERR_INVALID and a message");
}

/* The closed table: every type, ranges, caps, nesting. */
static void
body_closed(const char *body, size_t len)
{
	char *s = NULL, *id = NULL, *nul = NULL;
	int64_t n = UNSET, any = UNSET, k = UNSET;
	double x = UNSET;
	int b = UNSET, z = UNSET, has_n = 0;
	struct jsonin_map m;
	struct jsonin_list l;
	const struct jsonin_field inner[] = {
		{ .name = "id", .type = JSONIN_STRING, .flags = JSONIN_REQUIRED,
		  .out = &id, .maxlen = 32 },
		{ .name = "k", .type = JSONIN_INT, .flags = JSONIN_NULLABLE,
		  .out = &k, .min = 1, .max = 9 },
		{ .name = NULL },
	};
	const struct jsonin_field open_inner[] = {
		{ .name = "z", .type = JSONIN_BOOL, .out = &z },
		{ .name = NULL },
	};
	const struct jsonin_field fields[] = {
		{ .name = "s", .type = JSONIN_STRING, .out = &s, .maxlen = 16 },
		{ .name = "n", .type = JSONIN_INT, .out = &n, .present = &has_n,
		  .min = -5, .max = 100 },
		{ .name = "any", .type = JSONIN_INT, .out = &any },
		{ .name = "x", .type = JSONIN_NUMBER, .out = &x },
		{ .name = "b", .type = JSONIN_BOOL, .out = &b },
		{ .name = "m", .type = JSONIN_STRMAP, .out = &m, .maxn = 4,
		  .maxlen = 8 },
		{ .name = "o", .type = JSONIN_OBJECT, .fields = inner },
		{ .name = "l", .type = JSONIN_STRLIST, .out = &l, .maxn = 3,
		  .maxlen = 10 },
		{ .name = "open", .type = JSONIN_OBJECT, .flags = JSONIN_OPEN,
		  .fields = open_inner },
		{ .name = "nul", .type = JSONIN_STRING, .flags = JSONIN_NULLABLE,
		  .out = &nul },
		{ .name = NULL },
	};
	struct err err;
	int rc;

	memset(&m, 0xa5, sizeof(m));
	memset(&l, 0xa5, sizeof(l));
	rc = jsonin_parse(body, len, fields, 0, &err);
	if (rc < 0) {
		check_refused(rc, &err);
		if (s != NULL || id != NULL || nul != NULL || m.n != 0 ||
		    m.keys != NULL || l.n != 0 || l.items != NULL)
			fail("a refused body left an out filled");
		return;
	}
	if (rc != 0)
		fail("jsonin_parse returned a positive value");
	check_str(s, 16);
	check_str(id, 32);
	check_str(nul, LIM_JSON_STRING);
	if (has_n ? n < -5 || n > 100 : n != UNSET)
		fail("an integer out of its range, or set while absent");
	if (k != UNSET && (k < 1 || k > 9))
		fail("a nested integer out of its range");
	if (x != UNSET && !isfinite(x))
		fail("a number is not finite");
	if ((b != UNSET && b != 0 && b != 1) ||
	    (z != UNSET && z != 0 && z != 1))
		fail("a boolean is neither 0 nor 1");
	check_map(&m, 4, 8);
	check_list(&l, 3, 10);
	(void)any;
	free(s);
	free(id);
	free(nul);
	jsonin_map_release(&m);
	jsonin_list_release(&l);
}

/* The open table, with defaults for the caps (as the GitHub hooks use). */
static void
body_open(const char *body, size_t len)
{
	char *ref = NULL;
	struct jsonin_map params;
	const struct jsonin_field fields[] = {
		{ .name = "ref", .type = JSONIN_STRING, .out = &ref },
		{ .name = "params", .type = JSONIN_STRMAP, .out = &params },
		{ .name = NULL },
	};
	struct err err;
	int rc;

	rc = jsonin_parse(body, len, fields, JSONIN_OPEN, &err);
	if (rc < 0) {
		check_refused(rc, &err);
		if (ref != NULL || params.n != 0)
			fail("a refused body left an out filled");
		return;
	}
	check_str(ref, LIM_JSON_STRING);
	check_map(&params, LIM_JSON_MAP, LIM_JSON_STRING);
	free(ref);
	jsonin_map_release(&params);
}

#define MAXPAIRS	64

static void
query(const char *qs, size_t len)
{
	static const char *const statuses[] = { "pending", "running", "done",
		NULL };
	const char *cursor = NULL, *q = NULL;
	int64_t limit = UNSET;
	int status = UNSET, follow = UNSET, has_limit = 0;
	const struct jsonin_qparam params[] = {
		{ .name = "limit", .type = JSONIN_Q_INT, .out = &limit,
		  .present = &has_limit, .min = 1, .max = 500 },
		{ .name = "cursor", .type = JSONIN_Q_STRING, .out = &cursor,
		  .max = LIM_API_CURSOR },
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &status,
		  .choices = statuses },
		{ .name = "follow", .type = JSONIN_Q_BOOL, .out = &follow },
		{ .name = "q", .type = JSONIN_Q_STRING, .out = &q },
		{ .name = NULL },
	};
	const char *keys[MAXPAIRS], *values[MAXPAIRS];
	char *copy = malloc(len + 1), *p, *amp;
	size_t n = 0;
	struct err err;
	int rc;

	memcpy(copy, qs, len);
	copy[len] = '\0';
	for (p = copy; p != NULL && n < MAXPAIRS; p = amp) {
		char *eq;

		if ((amp = strchr(p, '&')) != NULL)
			*amp++ = '\0';
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) != NULL)
			*eq++ = '\0';
		if (http_unescape(p) < 0 || (eq != NULL &&
		    http_unescape(eq) < 0))
			continue;	/* libmicrohttpd would keep it raw */
		keys[n] = p;
		values[n++] = eq != NULL ? eq : "";
	}
	rc = jsonin_query_pairs(keys, values, n, params, &err);
	if (rc < 0) {
		check_refused(rc, &err);
	} else {
		if (rc != 0)
			fail("jsonin_query_pairs returned a positive value");
		if (has_limit ? limit < 1 || limit > 500 : limit != UNSET)
			fail("limit out of its range, or set while absent");
		check_str(cursor, LIM_API_CURSOR);
		check_str(q, 1024);
		if (status != UNSET && (status < 0 || status > 2))
			fail("an enum index out of its choices");
		if (follow != UNSET && follow != 0 && follow != 1)
			fail("a boolean is neither 0 nor 1");
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '?') {
		query((const char *)data + 1, size - 1);
		return 0;
	}
	body_closed((const char *)data, size);
	body_open((const char *)data, size);
	return 0;
}
