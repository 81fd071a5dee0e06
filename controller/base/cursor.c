/* cursor.c - opaque list cursors; see cursor.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cursor.h"

#define RAW_MAX	(CURSOR_KEY_MAX + 32)

static int
bad(struct err *err)
{
	return err_set(err, ERR_INVALID, "query parameter \"cursor\": not a "
	    "cursor of this list");
}

int
cursor_encode(const char *kind, const char *key, char *out, size_t outlen)
{
	unsigned char raw[RAW_MAX], b64[RAW_MAX * 2];
	size_t kl = strlen(kind), n = strlen(key), len;
	int enc;

	if (n > CURSOR_KEY_MAX || kl + 1 + n > sizeof(raw))
		return ERR_TOOBIG;
	memcpy(raw, kind, kl);
	raw[kl] = '.';
	memcpy(raw + kl + 1, key, n);
	enc = EVP_EncodeBlock(b64, raw, (int)(kl + 1 + n));
	len = (size_t)enc;
	while (len > 0 && b64[len - 1] == '=')
		len--;
	if (len + 1 > outlen)
		return ERR_TOOBIG;
	for (size_t i = 0; i < len; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' :
		    (char)b64[i];
	out[len] = '\0';
	return 0;
}

int
cursor_decode(const char *cursor, const char *kind, char *key, size_t keylen,
    struct err *err)
{
	unsigned char in[LIM_API_CURSOR + 4], raw[LIM_API_CURSOR];
	size_t n = strlen(cursor), kl = strlen(kind), pad = 0, rawlen;
	int dec;

	if (n == 0 || n > LIM_API_CURSOR || n % 4 == 1)
		return bad(err);
	for (size_t i = 0; i < n; i++) {
		char c = cursor[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')))
			return bad(err);
		in[i] = (unsigned char)c;
	}
	while ((n + pad) % 4 != 0)
		in[n + pad++] = '=';
	dec = EVP_DecodeBlock(raw, in, (int)(n + pad));
	if (dec < 0 || (size_t)dec < pad)
		return bad(err);
	rawlen = (size_t)dec - pad;	/* DecodeBlock counts the padding */
	if (rawlen <= kl + 1 || memcmp(raw, kind, kl) != 0 || raw[kl] != '.' ||
	    rawlen - kl - 1 >= keylen || memchr(raw, '\0', rawlen) != NULL)
		return bad(err);
	memcpy(key, raw + kl + 1, rawlen - kl - 1);
	key[rawlen - kl - 1] = '\0';
	return 0;
}

int
cursor_decode_id(const char *cursor, const char *kind, int64_t *id,
    struct err *err)
{
	char key[32], *end;
	long long v;
	int rc;

	if ((rc = cursor_decode(cursor, kind, key, sizeof(key), err)) < 0)
		return rc;
	errno = 0;
	v = strtoll(key, &end, 10);
	if (key[0] < '1' || key[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 1)
		return bad(err);
	*id = (int64_t)v;
	return 0;
}
