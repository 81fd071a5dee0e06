/*
 * fuzz_cursor.c - libFuzzer target for list cursors (base/cursor.c;
 * `make fuzz`, scripts/fuzz.sh).  The input, up to its first NUL, is a
 * ?cursor= value decoded for every list kind (as a key and as an id),
 * and a key encoded for every kind.
 *
 * Besides crashes it checks what must always hold: a cursor that decodes
 * re-encodes, and the new cursor decodes to the same key (or id); a
 * refused one says why; any key of 1 to CURSOR_KEY_MAX bytes encodes
 * into LIM_API_CURSOR bytes and decodes back to itself.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/cursor.h"
#include "base/err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[] = { "r1", "p1", "a1", "m1", "v1", "g1" };

static void
fail(const char *what, const char *kind, const char *s)
{
	fprintf(stderr, "fuzz_cursor: %s (kind %s, '%s')\n", what, kind, s);
	abort();
}

static void
decode(const char *c, const char *kind)
{
	char key[CURSOR_KEY_MAX + 1], key2[CURSOR_KEY_MAX + 1];
	char c2[LIM_API_CURSOR + 1];
	int64_t id, id2;
	struct err err;

	if (cursor_decode(c, kind, key, sizeof(key), &err) < 0) {
		if (err.code != ERR_INVALID || err.msg[0] == '\0')
			fail("a refusal without ERR_INVALID and a message",
			    kind, c);
	} else {
		if (key[0] == '\0')
			fail("a cursor decoded to an empty key", kind, c);
		if (cursor_encode(kind, key, c2, sizeof(c2)) != 0)
			fail("a decoded key does not encode again", kind, c);
		if (cursor_decode(c2, kind, key2, sizeof(key2), &err) != 0 ||
		    strcmp(key, key2) != 0)
			fail("a re-encoded cursor decodes differently", kind, c);
	}
	if (cursor_decode_id(c, kind, &id, &err) == 0) {
		char num[32];

		if (id < 1)
			fail("an id below 1", kind, c);
		(void)snprintf(num, sizeof(num), "%" PRId64, id);
		if (cursor_encode(kind, num, c2, sizeof(c2)) != 0 ||
		    cursor_decode_id(c2, kind, &id2, &err) != 0 || id2 != id)
			fail("an id does not survive a round trip", kind, c);
	}
}

static void
encode(const char *key, const char *kind)
{
	char c[LIM_API_CURSOR + 1], back[CURSOR_KEY_MAX + 1];
	size_t n = strlen(key);
	struct err err;
	int rc;

	rc = cursor_encode(kind, key, c, sizeof(c));
	if (n > CURSOR_KEY_MAX) {
		if (rc != ERR_TOOBIG)
			fail("an overlong key was encoded", kind, key);
		return;
	}
	if (rc != 0)
		fail("a key within the cap does not encode", kind, key);
	if (n == 0)
		return;		/* lists never make empty keys */
	if (cursor_decode(c, kind, back, sizeof(back), &err) != 0 ||
	    strcmp(back, key) != 0)
		fail("an encoded key does not decode back", kind, key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		decode(s, kinds[i]);
		encode(s, kinds[i]);
	}
	free(s);
	return 0;
}
