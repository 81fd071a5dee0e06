/*
 * gitsrc_known_hosts.c - ssh host key checking against an OpenSSH
 * known_hosts file (plain, [host]:port and hashed |1| entries, @revoked);
 * see gitsrc_known_hosts_check in gitsrc.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/sys.h"
#include "git/gitsrc.h"

/* Decode base64 into out (size outlen); the decoded length or -1. */
static long
b64_decode(unsigned char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	size_t i, n = 0;
	int bits = 0, pad = 0;

	for (i = 0; i < inlen; i++) {
		const char *p;

		if (in[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (p = strchr(tbl, in[i])) == NULL || in[i] == '\0')
			return -1;
		acc = (acc << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outlen)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2)
		return -1;
	return (long)n;
}

/* The key type at the start of an SSH key blob ("ssh-ed25519"). */
static int
blob_key_type(char *out, size_t outlen, const unsigned char *key,
    size_t keylen)
{
	size_t tlen;

	if (keylen < 4)
		return -1;
	tlen = ((size_t)key[0] << 24) | ((size_t)key[1] << 16) |
	    ((size_t)key[2] << 8) | key[3];
	if (tlen == 0 || tlen >= outlen || tlen > keylen - 4)
		return -1;
	memcpy(out, key + 4, tlen);
	out[tlen] = '\0';
	return 0;
}

/* OpenSSH's match_pattern: '*' and '?' only, case-insensitive. */
static int
wild_match(const char *p, const char *s)
{
	for (; *p != '\0'; p++, s++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			if (p[1] == '\0')
				return 1;
			for (; *s != '\0'; s++)
				if (wild_match(p + 1, s))
					return 1;
			return 0;
		}
		if (*s == '\0' || (*p != '?' &&
		    tolower((unsigned char)*p) != tolower((unsigned char)*s)))
			return 0;
	}
	return *s == '\0';
}

/* Does one pattern (plain, wildcard or |1|salt|hash) match name? */
static int
host_pattern_match(const char *pat, size_t plen, const char *name)
{
	char p[512];

	if (plen == 0 || plen >= sizeof(p))
		return 0;
	memcpy(p, pat, plen);
	p[plen] = '\0';
	if (strncmp(p, "|1|", 3) == 0) {
		unsigned char salt[64], hash[64], mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		char *bar = strchr(p + 3, '|');
		long sl, hl;

		if (bar == NULL)
			return 0;
		sl = b64_decode(salt, sizeof(salt), p + 3, (size_t)(bar - p - 3));
		hl = b64_decode(hash, sizeof(hash), bar + 1, strlen(bar + 1));
		if (sl <= 0 || hl != 20)
			return 0;
		if (HMAC(EVP_sha1(), salt, (int)sl, (const unsigned char *)name,
		    strlen(name), mac, &maclen) == NULL || maclen != 20)
			return 0;
		return CRYPTO_memcmp(mac, hash, 20) == 0;
	}
	return wild_match(p, name);
}

/* Do the comma-separated patterns match name ("!pat" negates)? */
static int
host_list_match(const char *list, size_t len, const char *name)
{
	const char *p = list, *end = list + len;
	int matched = 0;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t plen = (size_t)((comma != NULL ? comma : end) - p);

		if (plen > 0 && p[0] == '!') {
			if (host_pattern_match(p + 1, plen - 1, name))
				return 0;
		} else if (host_pattern_match(p, plen, name))
			matched = 1;
		p += plen + 1;
	}
	return matched;
}

int
gitsrc_known_hosts_check(const char *known_hosts_file, const char *host,
    int port, const unsigned char *key, size_t keylen, struct err *err)
{
	char keytype[64], name[300], lower[256];
	unsigned char *dec = NULL;
	struct buf text;
	char *line, *save = NULL;
	int rc, n, mismatch = 0, revoked = 0, found = 0;
	size_t i;

	if (blob_key_type(keytype, sizeof(keytype), key, keylen) < 0)
		return err_set(err, ERR_INVALID, "host key of '%s' is not a "
		    "valid ssh key", host);
	for (i = 0; host[i] != '\0' && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)host[i]);
	lower[i] = '\0';
	if (port <= 0 || port == 22)
		n = snprintf(name, sizeof(name), "%s", lower);
	else
		n = snprintf(name, sizeof(name), "[%s]:%d", lower, port);
	if (n < 0 || (size_t)n >= sizeof(name))
		return err_set(err, ERR_INVALID, "host name is too long");
	buf_init(&text, LIM_KNOWN_HOSTS_FILE);
	if ((rc = sys_read_file(known_hosts_file, "known_hosts_file",
	    LIM_KNOWN_HOSTS_FILE, 1, &text, err)) < 0 ||
	    (text.data == NULL && (rc = buf_puts(&text, "")) < 0)) {
		buf_release(&text);
		if (rc == ERR_NOTFOUND && err != NULL)
			err->code = ERR_GENERIC;	/* a setup problem */
		return rc == ERR_NOTFOUND ? ERR_GENERIC : rc;
	}
	dec = xcalloc(1, keylen + 4);
	for (line = strtok_r(text.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = { NULL, NULL, NULL, NULL }, *p = line;
		int nf = 0, is_revoked = 0;
		long dl;

		while (nf < 4) {
			while (*p == ' ' || *p == '\t' || *p == '\r')
				p++;
			if (*p == '\0' || *p == '#')
				break;
			f[nf++] = p;
			p += strcspn(p, " \t\r");
			if (*p != '\0')
				*p++ = '\0';
		}
		if (nf > 0 && f[0][0] == '@') {
			if (strcmp(f[0], "@revoked") == 0)
				is_revoked = 1;
			else
				continue;	/* @cert-authority: unsupported */
			memmove(f, f + 1, 3 * sizeof(f[0]));
			f[3] = NULL;
			nf--;
		}
		if (nf < 3 || strcmp(f[1], keytype) != 0 ||
		    !host_list_match(f[0], strlen(f[0]), name))
			continue;
		dl = b64_decode(dec, keylen + 4, f[2], strlen(f[2]));
		if (dl == (long)keylen && memcmp(dec, key, keylen) == 0) {
			if (is_revoked)
				revoked = 1;
			else
				found = 1;
		} else if (!is_revoked)
			mismatch = 1;
	}
	free(dec);
	buf_release(&text);
	if (revoked)
		return err_set(err, ERR_FORBIDDEN, "host key of '%s' is "
		    "revoked in '%s'", name, known_hosts_file);
	if (found)
		return 0;
	if (mismatch)
		return err_set(err, ERR_FORBIDDEN, "host key of '%s' does not "
		    "match '%s' (%s): possible man in the middle", name,
		    known_hosts_file, keytype);
	return err_set(err, ERR_NOTFOUND, "host '%s' has no %s key in '%s'",
	    name, keytype, known_hosts_file);
}
