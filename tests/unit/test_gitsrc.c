/*
 * test_gitsrc.c - the offline parts of the git edge: URL scrubbing and the
 * OpenSSH known_hosts check (with keys made by ssh-keygen when present).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"
#include "git/gitsrc.h"

static void
scrub(const char *url, const char *want)
{
	char out[256];

	assert_int_equal(gitsrc_scrub_url(out, sizeof(out), url), 0);
	assert_string_equal(out, want);
}

static void
gitsrc__scrubs_credentials_from_urls(void **state)
{
	(void)state;
	scrub("https://user:s3cret@github.com/acme/ml.git",
	    "https://***@github.com/acme/ml.git");
	scrub("https://ghp_token@github.com/acme/ml.git",
	    "https://***@github.com/acme/ml.git");
	scrub("http://a:b@127.0.0.1:8080/r.git?x=1",
	    "http://***@127.0.0.1:8080/r.git?x=1");
	scrub("ssh://git:pw@host:2222/r.git", "ssh://***@host:2222/r.git");
	/* a bare ssh user name is not a secret */
	scrub("ssh://git@host/r.git", "ssh://git@host/r.git");
	scrub("git@github.com:acme/ml.git", "git@github.com:acme/ml.git");
	/* an @ after the host is part of the path */
	scrub("https://host/r.git/@v1", "https://host/r.git/@v1");
	scrub("file:///srv/git/r.git", "file:///srv/git/r.git");
	scrub("", "");
}

static void
gitsrc__scrub_never_returns_a_partial_secret(void **state)
{
	char out[12];

	(void)state;
	assert_int_equal(gitsrc_scrub_url(out, sizeof(out),
	    "https://u:secret@host/some/long/path.git"), ERR_TOOBIG);
	assert_string_equal(out, "***");
}

static void
gitsrc__failure_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_NONE), "none");
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_UNREACHABLE),
	    "unreachable");
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_TIMEOUT),
	    "timeout");
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_AUTH), "auth");
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_HOSTKEY),
	    "hostkey");
	assert_string_equal(gitsrc_failure_name(GITSRC_FAIL_NOTFOUND),
	    "not_found");
}

/* ---- known_hosts ------------------------------------------------------- */

struct kh {
	char		 dir[256];
	char		 file[300];
	unsigned char	 k1[1024], k2[1024], k3[1024];
	size_t		 k1len, k2len, k3len;
	char		 k1b64[1024], k2b64[1024];
	int		 have_keygen;
};

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* Read "type base64 comment" from a .pub file into b64 and the blob. */
static void
read_pub(const char *path, char *b64, size_t b64len, unsigned char *blob,
    size_t *bloblen)
{
	char line[2048], *sp, *end;
	FILE *f = fopen(path, "r");
	int n;

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	sp = strchr(line, ' ');
	assert_non_null(sp);
	end = strchr(sp + 1, ' ');
	if (end == NULL)
		end = sp + 1 + strcspn(sp + 1, "\n");
	*end = '\0';
	assert_int_equal(str_copy(b64, b64len, sp + 1), 0);
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)strlen(b64));
	assert_true(n > 0);
	/* EVP_DecodeBlock counts padding as zero bytes */
	if (strlen(b64) > 0 && b64[strlen(b64) - 1] == '=')
		n--;
	if (strlen(b64) > 1 && b64[strlen(b64) - 2] == '=')
		n--;
	*bloblen = (size_t)n;
}

static int
kh_setup(void **state)
{
	const char *base = getenv("SLUICE_TEST_TMP");
	struct kh *k = calloc(1, sizeof(*k));
	FILE *f;

	if (k == NULL)
		return -1;
	(void)snprintf(k->dir, sizeof(k->dir), "%s/kh-XXXXXX",
	    base != NULL ? base : "/tmp");
	if (mkdtemp(k->dir) == NULL)
		return -1;
	(void)snprintf(k->file, sizeof(k->file), "%s/known_hosts", k->dir);
	k->have_keygen = system("command -v ssh-keygen >/dev/null 2>&1") == 0;
	*state = k;
	if (!k->have_keygen)
		return 0;
	sh("ssh-keygen -q -t ed25519 -N '' -C k1 -f %s/k1", k->dir);
	sh("ssh-keygen -q -t ed25519 -N '' -C k2 -f %s/k2", k->dir);
	sh("ssh-keygen -q -t ecdsa -N '' -C k3 -f %s/k3", k->dir);
	{
		char p[400], unused[1024];

		(void)snprintf(p, sizeof(p), "%s/k1.pub", k->dir);
		read_pub(p, k->k1b64, sizeof(k->k1b64), k->k1, &k->k1len);
		(void)snprintf(p, sizeof(p), "%s/k2.pub", k->dir);
		read_pub(p, k->k2b64, sizeof(k->k2b64), k->k2, &k->k2len);
		(void)snprintf(p, sizeof(p), "%s/k3.pub", k->dir);
		read_pub(p, unused, sizeof(unused), k->k3, &k->k3len);
	}
	f = fopen(k->file, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "# a comment, then entries\n\n");
	fprintf(f, "example.com,10.0.0.1 ssh-ed25519 %s\n", k->k1b64);
	fprintf(f, "[example.org]:2222 ssh-ed25519 %s comment here\n",
	    k->k1b64);
	fprintf(f, "changed.example ssh-ed25519 %s\n", k->k2b64);
	fprintf(f, "@revoked revoked.example ssh-ed25519 %s\n", k->k1b64);
	fprintf(f, "revoked.example ssh-ed25519 %s\n", k->k1b64);
	fprintf(f, "@cert-authority *.ca.example ssh-ed25519 %s\n", k->k1b64);
	fprintf(f, "*.wild.example,!bad.wild.example ssh-ed25519 %s\n",
	    k->k1b64);
	fprintf(f, "garbage line\n");
	fclose(f);
	return 0;
}

static int
kh_teardown(void **state)
{
	struct kh *k = *state;
	char cmd[400];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	if (system(cmd) != 0)
		return -1;
	free(k);
	return 0;
}

static void
known_hosts__plain_entries_match_by_host_and_key(void **state)
{
	struct kh *k = *state;
	struct err err;

	if (!k->have_keygen)
		skip();
	err_clear(&err);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.com", 22,
	    k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "EXAMPLE.com", 0,
	    k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "10.0.0.1", 22,
	    k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "a.wild.example",
	    22, k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "bad.wild.example",
	    22, k->k1, k->k1len, &err), ERR_NOTFOUND);
}

static void
known_hosts__port_entries_need_the_port(void **state)
{
	struct kh *k = *state;
	struct err err;

	if (!k->have_keygen)
		skip();
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.org",
	    2222, k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.org", 22,
	    k->k1, k->k1len, &err), ERR_NOTFOUND);
	/* a plain entry does not cover another port */
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.com",
	    2222, k->k1, k->k1len, &err), ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "host '[example.com]:2222' has no "
	    "ssh-ed25519 key in"));
}

static void
known_hosts__changed_or_revoked_key_is_refused(void **state)
{
	struct kh *k = *state;
	struct err err;

	if (!k->have_keygen)
		skip();
	assert_int_equal(gitsrc_known_hosts_check(k->file, "changed.example",
	    22, k->k1, k->k1len, &err), ERR_FORBIDDEN);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_non_null(strstr(err.msg, "man in the middle"));
	assert_int_equal(gitsrc_known_hosts_check(k->file, "changed.example",
	    22, k->k2, k->k2len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "revoked.example",
	    22, k->k1, k->k1len, &err), ERR_FORBIDDEN);
	assert_non_null(strstr(err.msg, "revoked"));
	/* @cert-authority lines are not host keys */
	assert_int_equal(gitsrc_known_hosts_check(k->file, "x.ca.example",
	    22, k->k1, k->k1len, &err), ERR_NOTFOUND);
}

static void
known_hosts__unknown_host_or_key_type_is_not_found(void **state)
{
	struct kh *k = *state;
	struct err err;

	if (!k->have_keygen)
		skip();
	assert_int_equal(gitsrc_known_hosts_check(k->file, "unknown.example",
	    22, k->k1, k->k1len, &err), ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "host 'unknown.example' has no "
	    "ssh-ed25519 key"));
	/* example.com is listed, but only with an ed25519 key */
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.com", 22,
	    k->k3, k->k3len, &err), ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "ecdsa-sha2-nistp256"));
}

static void
known_hosts__hashed_entries_match(void **state)
{
	struct kh *k = *state;
	char hashed[400], line[2048];
	struct err err;
	FILE *f;

	if (!k->have_keygen)
		skip();
	(void)snprintf(hashed, sizeof(hashed), "%s/hashed", k->dir);
	f = fopen(hashed, "w");
	assert_non_null(f);
	fprintf(f, "hashed.example ssh-ed25519 %s\n", k->k1b64);
	fprintf(f, "[hashed.example]:2200 ssh-ed25519 %s\n", k->k1b64);
	fclose(f);
	sh("ssh-keygen -q -H -f %s >/dev/null 2>&1", hashed);
	f = fopen(hashed, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_memory_equal(line, "|1|", 3);	/* really hashed */
	assert_int_equal(gitsrc_known_hosts_check(hashed, "hashed.example", 22,
	    k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(hashed, "hashed.example",
	    2200, k->k1, k->k1len, &err), 0);
	assert_int_equal(gitsrc_known_hosts_check(hashed, "other.example", 22,
	    k->k1, k->k1len, &err), ERR_NOTFOUND);
	assert_int_equal(gitsrc_known_hosts_check(hashed, "hashed.example", 22,
	    k->k2, k->k2len, &err), ERR_FORBIDDEN);
}

static void
known_hosts__bad_input_is_an_error(void **state)
{
	static const unsigned char junk[] = { 0, 0, 0, 200, 'x' };
	struct kh *k = *state;
	char missing[400];
	struct err err;

	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.com", 22,
	    junk, sizeof(junk), &err), ERR_INVALID);
	assert_int_equal(gitsrc_known_hosts_check(k->file, "example.com", 22,
	    junk, 2, &err), ERR_INVALID);
	if (!k->have_keygen)
		return;
	(void)snprintf(missing, sizeof(missing), "%s/none", k->dir);
	assert_int_equal(gitsrc_known_hosts_check(missing, "example.com", 22,
	    k->k1, k->k1len, &err), ERR_GENERIC);
	assert_non_null(strstr(err.msg, "cannot read"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gitsrc__scrubs_credentials_from_urls),
		cmocka_unit_test(gitsrc__scrub_never_returns_a_partial_secret),
		cmocka_unit_test(gitsrc__failure_names_are_stable),
		cmocka_unit_test(known_hosts__plain_entries_match_by_host_and_key),
		cmocka_unit_test(known_hosts__port_entries_need_the_port),
		cmocka_unit_test(known_hosts__changed_or_revoked_key_is_refused),
		cmocka_unit_test(known_hosts__unknown_host_or_key_type_is_not_found),
		cmocka_unit_test(known_hosts__hashed_entries_match),
		cmocka_unit_test(known_hosts__bad_input_is_an_error),
	};

	return cmocka_run_group_tests(tests, kh_setup, kh_teardown);
}
