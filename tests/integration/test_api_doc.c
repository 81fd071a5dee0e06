/*
 * test_api_doc.c - docs/api.yaml describes exactly the routes of
 * controller/routes.c: every route has an operation with the same method
 * and path, every operation has a route, and each operation's
 * x-sluice-role is the route's least role ("none" for ROUTE_NO_AUTH).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <yaml.h>

#include "../support/testapi.h"
#include "base/role.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/routes.h"

#define MAX_OPS	512

struct op {
	char	method[16];
	char	path[256];
	char	role[32];
};

static const char *
scalar(yaml_document_t *d, int id)
{
	yaml_node_t *n = yaml_document_get_node(d, id);

	return n != NULL && n->type == YAML_SCALAR_NODE ?
	    (const char *)n->data.scalar.value : NULL;
}

/* The value node of key in mapping node id, or NULL. */
static yaml_node_t *
lookup(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(d, p->key);

		if (k != NULL && strcmp(k, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static size_t
doc_ops(struct op *ops)
{
	static const char *const methods[] = { "get", "put", "post", "delete",
	    "patch", "head", "options", "trace" };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *paths;
	size_t len = 0, n = 0;
	char *text = test_read_top_file("docs/api.yaml", &len);

	assert_non_null(text);
	assert_int_equal(yaml_parser_initialize(&parser), 1);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc) != 1)
		fail_msg("docs/api.yaml: %s at line %zu", parser.problem,
		    parser.problem_mark.line + 1);
	paths = lookup(&doc, yaml_document_get_root_node(&doc), "paths");
	assert_non_null(paths);
	assert_int_equal(paths->type, YAML_MAPPING_NODE);
	for (yaml_node_pair_t *p = paths->data.mapping.pairs.start;
	    p < paths->data.mapping.pairs.top; p++) {
		const char *path = scalar(&doc, p->key);
		yaml_node_t *item = yaml_document_get_node(&doc, p->value);

		assert_non_null(path);
		assert_int_equal(item->type, YAML_MAPPING_NODE);
		for (yaml_node_pair_t *q = item->data.mapping.pairs.start;
		    q < item->data.mapping.pairs.top; q++) {
			const char *m = scalar(&doc, q->key), *role;
			size_t i;

			for (i = 0; i < sizeof(methods) / sizeof(methods[0]);
			    i++)
				if (m != NULL && strcmp(m, methods[i]) == 0)
					break;
			if (i == sizeof(methods) / sizeof(methods[0]))
				continue;	/* parameters, summary, ... */
			assert_true(n < MAX_OPS);
			role = NULL;
			{
				yaml_node_t *r = lookup(&doc,
				    yaml_document_get_node(&doc, q->value),
				    "x-sluice-role");

				if (r != NULL && r->type == YAML_SCALAR_NODE)
					role = (const char *)
					    r->data.scalar.value;
			}
			(void)snprintf(ops[n].method, sizeof(ops[n].method),
			    "%s", m);
			for (char *c = ops[n].method; *c != '\0'; c++)
				*c = (char)(*c - 'a' + 'A');
			(void)snprintf(ops[n].path, sizeof(ops[n].path), "%s",
			    path);
			(void)snprintf(ops[n].role, sizeof(ops[n].role), "%s",
			    role != NULL ? role : "(missing x-sluice-role)");
			n++;
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(text);
	return n;
}

static size_t
code_ops(struct op *ops)
{
	size_t n = 0;

	for (const struct route *r = ctl_routes; r->method != NULL; r++) {
		assert_true(n < MAX_OPS);
		(void)snprintf(ops[n].method, sizeof(ops[n].method), "%s",
		    r->method);
		(void)snprintf(ops[n].path, sizeof(ops[n].path), "%s",
		    r->pattern);
		(void)snprintf(ops[n].role, sizeof(ops[n].role), "%s",
		    (r->flags & ROUTE_NO_AUTH) ? "none" :
		    role_name(r->role > 0 ? (enum role)r->role : ROLE_VIEWER));
		n++;
	}
	return n;
}

static const struct op *
find(const struct op *ops, size_t n, const struct op *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].method, want->method) == 0 &&
		    strcmp(ops[i].path, want->path) == 0)
			return &ops[i];
	return NULL;
}

static void
api_doc__describes_exactly_the_routes_of_the_table(void **state)
{
	static struct op doc[MAX_OPS], code[MAX_OPS];
	size_t nd = doc_ops(doc), nc = code_ops(code);
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < nc; i++) {
		const struct op *o = find(doc, nd, &code[i]);

		if (o == NULL) {
			fprintf(stderr, "route %s %s is not in docs/api.yaml\n",
			    code[i].method, code[i].path);
			bad++;
		} else if (strcmp(o->role, code[i].role) != 0) {
			fprintf(stderr, "%s %s: docs/api.yaml says "
			    "x-sluice-role %s, routes.c says %s\n",
			    code[i].method, code[i].path, o->role,
			    code[i].role);
			bad++;
		}
	}
	for (size_t i = 0; i < nd; i++) {
		if (find(code, nc, &doc[i]) == NULL) {
			fprintf(stderr, "docs/api.yaml has %s %s, which is "
			    "not a route in controller/routes.c\n",
			    doc[i].method, doc[i].path);
			bad++;
		}
	}
	assert_true(nc > 0);
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    api_doc__describes_exactly_the_routes_of_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
