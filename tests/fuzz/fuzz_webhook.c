/*
 * fuzz_webhook.c - libFuzzer target for the webhook payloads
 * (http/webhook.c; `make fuzz`, scripts/fuzz.sh): every input is given
 * to the GitHub push parser as JSON, to the form decoder (and what it
 * decodes to the push parser again, as a form-encoded delivery), and to
 * the retrain parser.  The signature and the database come before and
 * after these and are not fuzzed here.
 *
 * Besides crashes, leaks and timeouts it checks what must always hold: a
 * refused payload says why and leaves nothing to free; an accepted push
 * has a ref within 1024 bytes and 1 to 5 repository keys, each non-empty,
 * lowercase, without a trailing '/', within LIM_URL; a form payload
 * decodes to no more bytes than it had; an accepted retrain request has
 * at most LIM_HOOK_PARAMS params and a reason within LIM_HOOK_REASON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "http/webhook.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_webhook: %s\n", what);
	abort();
}

static void
push(const char *body, size_t len)
{
	struct webhook_push p;
	struct err err;

	memset(&p, 0, sizeof(p));
	if (webhook_push_parse(&p, body, len, &err) < 0) {
		if (err.code != ERR_INVALID || err.msg[0] == '\0')
			fail("a refused push without ERR_INVALID and a message");
		if (p.ref != NULL || p.nkeys != 0)
			fail("a refused push left something to free");
		return;
	}
	if (p.ref == NULL || strlen(p.ref) > 1024)
		fail("an accepted push without a ref within its cap");
	if (p.nkeys < 1 || p.nkeys > WEBHOOK_PUSH_URLS)
		fail("an accepted push without 1 to 5 keys");
	for (size_t i = 0; i < p.nkeys; i++) {
		size_t n = strnlen(p.keys[i], sizeof(p.keys[i]));

		if (n == 0 || n > LIM_URL || p.keys[i][n - 1] == '/')
			fail("a repository key empty, too long or ending in /");
		for (size_t k = 0; k < n; k++)
			if (p.keys[i][k] >= 'A' && p.keys[i][k] <= 'Z')
				fail("a repository key not lowercased");
	}
	webhook_push_release(&p);
}

static void
form(const char *body, size_t len)
{
	struct buf out;

	buf_init(&out, LIM_HTTP_BODY);
	if (webhook_form_payload(body, len, &out) == 0) {
		if (out.len > len)
			fail("a form payload decoded to more bytes");
		push(out.data != NULL ? out.data : "", out.len);
	}
	buf_release(&out);
}

static void
retrain(const char *body, size_t len)
{
	struct webhook_retrain r;
	struct err err;

	if (webhook_retrain_parse(&r, body, len, &err) < 0) {
		if (err.code != ERR_INVALID || err.msg[0] == '\0')
			fail("a refused retrain without ERR_INVALID and a "
			    "message");
		if (r.reason != NULL || r.params.n != 0 ||
		    r.params.keys != NULL)
			fail("a refused retrain left something to free");
		return;
	}
	if (r.params.n > LIM_HOOK_PARAMS ||
	    (r.reason != NULL && strlen(r.reason) > LIM_HOOK_REASON))
		fail("an accepted retrain past its caps");
	for (size_t i = 0; i < r.params.n; i++)
		if (r.params.keys[i] == NULL || r.params.values[i] == NULL)
			fail("a retrain param is NULL");
	webhook_retrain_release(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;

	push(body, size);
	form(body, size);
	retrain(body, size);
	return 0;
}
