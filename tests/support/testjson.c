/* testjson.c - JSON paths for tests; see testjson.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testjson.h"

json_t *
tj_parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);

	if (j == NULL)
		fail_msg("not JSON (%s): %.2000s", je.text, text);
	return j;
}

json_t *
tj_get(json_t *root, const char *path)
{
	json_t *v = root;
	const char *p = path;

	while (v != NULL && *p != '\0') {
		char key[256];
		size_t n;

		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (*end != ']')
				return NULL;
			v = json_array_get(v, (size_t)i);
			p = end + 1;
			continue;
		}
		n = strcspn(p, ".[");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		v = json_object_get(v, key);
		p += n;
	}
	return v;
}

static json_t *
need(json_t *root, const char *path, int type, const char *what)
{
	json_t *v = tj_get(root, path);

	if (v == NULL || (type >= 0 && (int)json_typeof(v) != type &&
	    !(type == JSON_REAL && json_is_integer(v)))) {
		char *text = json_dumps(root, JSON_COMPACT);

		fail_msg("%s: expected %s in %.3000s", path, what,
		    text != NULL ? text : "?");
	}
	return v;
}

const char *
tj_str(json_t *root, const char *path)
{
	return json_string_value(need(root, path, (int)JSON_STRING, "a string"));
}

long long
tj_int(json_t *root, const char *path)
{
	return json_integer_value(need(root, path, JSON_INTEGER,
	    "an integer"));
}

double
tj_num(json_t *root, const char *path)
{
	return json_number_value(need(root, path, JSON_REAL, "a number"));
}

int
tj_bool(json_t *root, const char *path)
{
	json_t *v = need(root, path, -1, "a boolean");

	if (!json_is_boolean(v))
		fail_msg("%s: expected a boolean", path);
	return json_is_true(v);
}

int
tj_is_null(json_t *root, const char *path)
{
	return json_is_null(need(root, path, -1, "a value"));
}

size_t
tj_len(json_t *root, const char *path)
{
	json_t *v = need(root, path, -1, "an array or object");

	if (json_is_array(v))
		return json_array_size(v);
	if (json_is_object(v))
		return json_object_size(v);
	fail_msg("%s: expected an array or object", path);
	return 0;
}
