/*
 * testjson.h - reading JSON answers in tests by path:
 *
 *	json_t *j = tj_parse(reply.body);
 *	assert_string_equal(tj_str(j, "runs[0].stages[1].name"), "train");
 *	assert_int_equal(tj_int(j, "runs[0].id"), 42);
 *	json_decref(j);
 *
 * A missing path or a wrong type fails the test with the path and the
 * document (cmocka fail_msg), so assertions read as sentences.
 */
#ifndef SLUICE_TESTJSON_H
#define SLUICE_TESTJSON_H

#include <stddef.h>

#include <jansson.h>

/* Parse text (fails the test when it is not JSON). */
json_t	*tj_parse(const char *text);
/* The value at path ("a.b[2].c", "" = root), or NULL. Borrowed. */
json_t	*tj_get(json_t *root, const char *path);
/* Typed values at path; fail the test when absent or of another type. */
const char *tj_str(json_t *root, const char *path);
long long tj_int(json_t *root, const char *path);
double	tj_num(json_t *root, const char *path);
int	tj_bool(json_t *root, const char *path);
/* 1 when the value at path is JSON null. */
int	tj_is_null(json_t *root, const char *path);
/* Elements of the array (or members of the object) at path. */
size_t	tj_len(json_t *root, const char *path);

#endif
