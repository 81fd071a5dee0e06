/*
 * cursor.h - opaque cursors of keyset-paginated lists (?cursor=).
 *
 * A list is read newest first with "WHERE key < $last ORDER BY key DESC
 * LIMIT n + 1": the extra row says whether there is a next page, and the
 * key of the last row shown becomes the next cursor.  Rows inserted while
 * a client pages (newer keys) can neither shift a page nor repeat a row,
 * unlike OFFSET.
 *
 * The cursor is the base64url text (no padding) of "<kind>.<key>": kind
 * names the list and the format version ("r1" for runs), so a cursor of
 * one list given to another, or one from an older format, is refused
 * rather than misread.  Cursors are not secret and not signed: forging
 * one only moves where a list the caller may read anyway starts.
 */
#ifndef SLUICE_CURSOR_H
#define SLUICE_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Room for any cursor this module makes (LIM_API_CURSOR bytes). */
#define CURSOR_KEY_MAX	160

/*
 * Encode kind and key into out (outlen bytes, NUL-terminated).  Returns 0,
 * or ERR_TOOBIG when key is longer than CURSOR_KEY_MAX or out too small.
 */
int	cursor_encode(const char *kind, const char *key, char *out,
	    size_t outlen) __attribute__((warn_unused_result));

/*
 * Decode cursor, which must be of kind, into key (keylen bytes).  Errors:
 * ERR_INVALID 'query parameter "cursor": not a cursor of this list'.
 */
int	cursor_decode(const char *cursor, const char *kind, char *key,
	    size_t keylen, struct err *err) __attribute__((warn_unused_result));

/* cursor_decode of a key that must be an id from 1 to INT64_MAX. */
int	cursor_decode_id(const char *cursor, const char *kind, int64_t *id,
	    struct err *err) __attribute__((warn_unused_result));

#endif
