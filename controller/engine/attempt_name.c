/* attempt_name.c - deterministic attempt names; see attempt_name.h. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "engine/attempt_name.h"
#include "pipeline/k8s_names.h"

/* Characters kept before the hash suffix: 54 + '-' + 8 hex = 63. */
#define KEEP	54
#define HASHLEN	8

int
attempt_name(char *out, size_t outlen, int64_t run_id, const char *stage,
    int attempt, const char *kind, int step)
{
	char full[256], suffix[32];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n, keep;
	int len;

	if (outlen < ATTEMPT_NAME_MAX + 1 || run_id < 1 || attempt < 1 ||
	    stage == NULL || k8s_check_dns1123_label(stage) != NULL ||
	    kind == NULL)
		return ERR_INVALID;
	if (strcmp(kind, "job") == 0) {
		suffix[0] = '\0';
	} else if (strcmp(kind, "canary_step") == 0) {
		if (step < 1)
			return ERR_INVALID;
		(void)snprintf(suffix, sizeof(suffix), "-s%d", step);
	} else if (strcmp(kind, "rollback") == 0) {
		(void)snprintf(suffix, sizeof(suffix), "-rb");
	} else {
		return ERR_INVALID;
	}
	len = snprintf(full, sizeof(full), "sluice-%lld-%s-%d%s",
	    (long long)run_id, stage, attempt, suffix);
	if (len < 0 || (size_t)len >= sizeof(full))
		return ERR_INVALID;
	n = (size_t)len;
	if (n <= ATTEMPT_NAME_MAX) {
		memcpy(out, full, n + 1);
		return 0;
	}
	if (EVP_Digest(full, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < HASHLEN / 2)
		return ERR_INVALID;
	keep = KEEP;
	while (keep > 0 && full[keep - 1] == '-')
		keep--;
	memcpy(out, full, keep);
	out[keep++] = '-';
	for (size_t i = 0; i < HASHLEN / 2; i++) {
		static const char hex[] = "0123456789abcdef";

		out[keep++] = hex[md[i] >> 4];
		out[keep++] = hex[md[i] & 0xf];
	}
	out[keep] = '\0';
	return 0;
}
