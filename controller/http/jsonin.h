/*
 * jsonin.h - strict JSON request bodies and query strings, into C values.
 *
 * A handler declares the fields it accepts in a table and gets plain C
 * values back; jansson stays inside jsonin.c.
 *
 *	char *reason = NULL;
 *	struct jsonin_map params;
 *	const struct jsonin_field fields[] = {
 *		{ .name = "params", .type = JSONIN_STRMAP, .out = &params },
 *		{ .name = "reason", .type = JSONIN_STRING, .out = &reason,
 *		  .maxlen = LIM_HOOK_REASON },
 *		{ .name = NULL },
 *	};
 *
 *	if (jsonin_parse(rq->body.data, rq->body.len, fields, 0, err) < 0)
 *		return http_error_from(rs, err);	(400 naming the field)
 *	...
 *	free(reason);
 *	jsonin_map_release(&params);
 *
 * Strict means: the body is one JSON object; duplicate keys, unknown
 * fields (unless JSONIN_OPEN), wrong types, missing required fields,
 * strings past their cap and NUL characters are all refused with
 * ERR_INVALID and a message naming the field by its path:
 *
 *	field "params.epochs": expected a string
 *	unknown field "parms"
 *	duplicate key "comment"
 *	missing field "token"
 *	invalid JSON at line 1, column 9: unexpected token near '}'
 *
 * The output side lives here too (jsonin_reply), so that no other module
 * handles jansson objects.
 */
#ifndef SLUICE_JSONIN_H
#define SLUICE_JSONIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct http_request;
struct http_response;

enum jsonin_type {
	JSONIN_STRING = 1,	/* out: char ** (new string, caller frees) */
	JSONIN_INT,		/* out: int64_t *; range min..max unless both 0 */
	JSONIN_NUMBER,		/* out: double * (integers accepted) */
	JSONIN_BOOL,		/* out: int * (1 or 0) */
	JSONIN_STRMAP,		/* out: struct jsonin_map *, string values */
	JSONIN_OBJECT,		/* members in .fields; out unused */
	JSONIN_STRLIST,		/* out: struct jsonin_list *, string items */
};

/* Field flags */
#define JSONIN_REQUIRED	0x01	/* absent is an error */
#define JSONIN_NULLABLE	0x02	/* null reads as absent */
#define JSONIN_OPEN	0x04	/* OBJECT (or whole body): unknown keys ok */

struct jsonin_field {
	const char			*name;	/* NULL ends a table */
	enum jsonin_type		 type;
	int				 flags;
	void				*out;
	int				*present;	/* set to 1 if given */
	int64_t				 min, max;	/* INT range; both 0: any */
	size_t				 maxlen;	/* STRING, STRMAP values: bytes
							   (0: LIM_JSON_STRING) */
	size_t				 maxn;		/* STRMAP entries (0: LIM_JSON_MAP) */
	const struct jsonin_field	*fields;	/* OBJECT members */
};

/* An object of string values, in document order; owned by the caller. */
struct jsonin_map {
	size_t	 n;
	char	**keys;
	char	**values;
};

void	jsonin_map_release(struct jsonin_map *m);

/*
 * An array of strings, in document order; owned by the caller.  maxn caps
 * the items (0: LIM_JSON_MAP), maxlen each item.
 */
struct jsonin_list {
	size_t	 n;
	char	**items;	/* n strings and a NULL */
};

void	jsonin_list_release(struct jsonin_list *l);

/*
 * Parse body (len bytes, need not be NUL-terminated) against fields;
 * flags may hold JSONIN_OPEN for the top level.  Outs of absent fields are
 * left as they were, except that strings and maps are always initialized
 * (NULL, empty).  On error nothing needs freeing: every string and map
 * already filled is freed and reset.  Errors: ERR_INVALID as above.
 */
int	jsonin_parse(const char *body, size_t len,
	    const struct jsonin_field *fields, int flags, struct err *err)
	    __attribute__((warn_unused_result));

/* Query parameters ------------------------------------------------------ */

enum jsonin_qtype {
	JSONIN_Q_STRING = 1,	/* out: const char ** borrowed from rq */
	JSONIN_Q_INT,		/* out: int64_t *, in min..max */
	JSONIN_Q_ENUM,		/* out: int * index into choices */
	JSONIN_Q_BOOL,		/* out: int *; "1", "true", "" → 1; "0", "false" → 0 */
};

struct jsonin_qparam {
	const char		*name;		/* NULL ends a table */
	enum jsonin_qtype	 type;
	void			*out;
	int			*present;
	int64_t			 min, max;	/* INT range; STRING max bytes (0: 1024) */
	const char *const	*choices;	/* ENUM, NULL-terminated */
};

/*
 * Check every query parameter of rq against params: unknown parameters,
 * repeated ones, integers not in range, values not among the choices are
 * refused with ERR_INVALID naming them:
 *
 *	unknown query parameter "limt"
 *	query parameter "limit": expected an integer from 1 to 500
 *	query parameter "status": expected one of pending, running, done
 *
 * Outs of absent parameters are left as they were.
 */
int	jsonin_query(const struct http_request *rq,
	    const struct jsonin_qparam *params, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The same checks on n decoded pairs keys[i]=values[i] (values "" when
 * absent), in order, as a request without a connection (the fuzz target).
 * values are borrowed by the JSONIN_Q_STRING outs.
 */
int	jsonin_query_pairs(const char *const *keys, const char *const *values,
	    size_t n, const struct jsonin_qparam *params, struct err *err)
	    __attribute__((warn_unused_result));

/* Replies ---------------------------------------------------------------- */

/*
 * Answer status with a JSON body built from fmt and its arguments in
 * jansson's json_pack() language ("{s:s, s:I, s:b, s:[s]}": s a
 * const char *, s? one that may be NULL (null), I a long long (cast
 * int64_t values), i an int, b an int as a boolean; o and O are not
 * for callers, who have no jansson values).  Adds a newline.  On a packing error (a NULL where s was promised, invalid
 * UTF-8) answers 500 and returns ERR_GENERIC.
 */
int	jsonin_reply(struct http_response *rs, int status, const char *fmt, ...);

/*
 * Escape s as a JSON string, with quotes, into out (for bodies assembled
 * from parts).  Returns 0 or ERR_TOOBIG at out's cap.
 */
struct buf;
int	jsonin_quote(struct buf *out, const char *s)
	    __attribute__((warn_unused_result));

#endif
