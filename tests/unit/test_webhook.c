/*
 * test_webhook.c - HMAC-SHA256 signatures as GitHub computes them, and the
 * comparable form of repository URLs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "http/webhook.h"

static void
webhook__signature_matches_githubs_documented_example(void **state)
{
	/* docs.github.com, "Validating webhook deliveries" */
	const char *secret = "It's a Secret to Everybody";
	const char *body = "Hello, World!";
	const char *want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d"
	    "7586c22c46f4379c8b043e17";
	char sig[WEBHOOK_SIG_LEN + 1];
	struct err err;

	(void)state;
	assert_int_equal(webhook_sign(secret, body, strlen(body), sig,
	    sizeof(sig)), 0);
	assert_string_equal(sig, want);
	assert_int_equal(webhook_verify(secret, body, strlen(body), want,
	    &err), 0);
	assert_int_equal(webhook_verify(secret, "Hello, World?", 13, want,
	    &err), ERR_FORBIDDEN);
	assert_int_equal(webhook_verify("other", body, strlen(body), want,
	    &err), ERR_FORBIDDEN);
	assert_int_equal(webhook_verify(secret, body, strlen(body), NULL,
	    &err), ERR_UNAUTHORIZED);
	assert_int_equal(webhook_verify(secret, body, strlen(body),
	    "sha256=757107", &err), ERR_UNAUTHORIZED);
	assert_int_equal(webhook_verify(secret, body, strlen(body),
	    "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b04"
	    "3e17", &err), ERR_UNAUTHORIZED);
	assert_int_equal(webhook_verify(secret, body, strlen(body),
	    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b"
	    "043e17ff", &err), ERR_UNAUTHORIZED);
	/* an empty body signs too */
	assert_int_equal(webhook_sign(secret, NULL, 0, sig, sizeof(sig)), 0);
	assert_int_equal(webhook_verify(secret, "", 0, sig, &err), 0);
}

static void
webhook__url_forms_of_one_repository_compare_equal(void **state)
{
	static const char *const same[] = {
		"https://github.com/Owner/Repo.git",
		"https://github.com/Owner/Repo",
		"https://github.com/owner/repo/",
		"http://user:token@github.com/Owner/Repo.git",
		"git@github.com:Owner/Repo.git",
		"ssh://git@github.com/Owner/Repo.git",
		"ssh://git@github.com:22/Owner/Repo",
		"git://github.com/Owner/Repo.git",
		"github.com:Owner/Repo",
	};
	char key[256];

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(webhook_url_key(same[i], key, sizeof(key)), 0);
		if (strcmp(key, "github.com/owner/repo") != 0)
			fail_msg("%s: got %s", same[i], key);
	}
	assert_int_equal(webhook_url_key("https://github.com/owner/other.git",
	    key, sizeof(key)), 0);
	assert_string_equal(key, "github.com/owner/other");
	assert_int_equal(webhook_url_key("https://gitlab.com/owner/repo", key,
	    sizeof(key)), 0);
	assert_string_equal(key, "gitlab.com/owner/repo");
	assert_int_equal(webhook_url_key("file:///srv/git/demo.git", key,
	    sizeof(key)), 0);
	assert_string_equal(key, "srv/git/demo");
	assert_int_equal(webhook_url_key("https://", key, sizeof(key)),
	    ERR_INVALID);
	assert_int_equal(webhook_url_key("https://github.com/a/very/long", key,
	    8), ERR_TOOBIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    webhook__signature_matches_githubs_documented_example),
		cmocka_unit_test(
		    webhook__url_forms_of_one_repository_compare_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
