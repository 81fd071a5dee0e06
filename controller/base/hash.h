/*
 * hash.h - SHA-256 through libcrypto, the one place that computes it
 * (migration checksums, token and session hashes).
 */
#ifndef SLUICE_HASH_H
#define SLUICE_HASH_H

#include <stddef.h>

#include "base/err.h"

/* SHA-256 of len bytes into md.  Errors: ERR_GENERIC when libcrypto fails. */
int	hash_sha256(const void *data, size_t len, unsigned char md[32],
	    struct err *err) __attribute__((warn_unused_result));

/*
 * HMAC-SHA256 of len bytes under key, written as "sha256=" and 64
 * lowercase hex digits into out (at least HASH_HMAC_SIG_LEN + 1 bytes):
 * the X-Sluice-Signature-256 of inbound hooks and of json notifications.
 * Errors: ERR_GENERIC when libcrypto fails.
 */
#define HASH_HMAC_SIG_LEN	71
int	hash_hmac_sha256(const char *key, const void *data, size_t len,
	    unsigned char md[32]) __attribute__((warn_unused_result));
int	hash_hmac_sig(const char *key, const void *data, size_t len,
	    char *out, size_t outlen) __attribute__((warn_unused_result));

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void	hash_hex(const unsigned char *in, size_t n, char *out);

/* The value of one hex digit (either case), or -1. */
int	hash_hex_digit(int c);

/* SHA-256 as 64 hex digits and a NUL. */
int	hash_sha256_hex(const void *data, size_t len, char out[65],
	    struct err *err) __attribute__((warn_unused_result));

/*
 * A new secret: prefix followed by 43 characters of unpadded base64url
 * from 32 bytes of the OpenSSL CSPRNG (API tokens, session ids, CSRF
 * tokens).  outlen must hold strlen(prefix) + 44 bytes (a programmer
 * error otherwise).  Errors: ERR_GENERIC when no randomness is available.
 */
#define HASH_SECRET_CHARS	43
int	hash_random_secret(const char *prefix, char *out, size_t outlen,
	    struct err *err) __attribute__((warn_unused_result));

#endif
