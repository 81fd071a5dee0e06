/* hash.c - SHA-256; see hash.h. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/hash.h"

int
hash_sha256(const void *data, size_t len, unsigned char md[32],
    struct err *err)
{
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, buf, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return err_set(err, ERR_GENERIC, "sha-256 failed");
	for (int i = 0; i < 32; i++)
		md[i] = buf[i];
	return 0;
}

void
hash_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
hash_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hash_sha256_hex(const void *data, size_t len, char out[65], struct err *err)
{
	unsigned char md[32];
	int rc;

	if ((rc = hash_sha256(data, len, md, err)) < 0)
		return rc;
	hash_hex(md, 32, out);
	return 0;
}

int
hash_random_secret(const char *prefix, char *out, size_t outlen,
    struct err *err)
{
	unsigned char raw[32];
	char b64[((sizeof(raw) + 2) / 3) * 4 + 1];
	size_t p = strlen(prefix);
	int n;

	BUG_ON(outlen < p + HASH_SECRET_CHARS + 1);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_set(err, ERR_GENERIC, "no randomness available");
	n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	memcpy(out, prefix, p);
	for (int i = 0; i < n && b64[i] != '='; i++)
		out[p++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[p] = '\0';
	explicit_bzero(b64, sizeof(b64));
	return 0;
}

int
hash_hmac_sha256(const char *key, const void *data, size_t len,
    unsigned char md[32])
{
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), key, (int)strlen(key),
	    data != NULL ? data : (const void *)"", len, md, &mdlen) == NULL ||
	    mdlen != 32)
		return ERR_GENERIC;
	return 0;
}

int
hash_hmac_sig(const char *key, const void *data, size_t len, char *out,
    size_t outlen)
{
	unsigned char md[32];

	BUG_ON(outlen < HASH_HMAC_SIG_LEN + 1);
	if (hash_hmac_sha256(key, data, len, md) < 0)
		return ERR_GENERIC;
	memcpy(out, "sha256=", 7);
	hash_hex(md, 32, out + 7);
	return 0;
}
