/* test_k8s_names.c - Kubernetes and image name rules, table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pipeline/k8s_names.h"

struct row {
	const char	*in;
	int		 ok;
};

static void
check(const char *what, const char *(*fn)(const char *), const struct row *t,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = fn(t[i].in);

		if ((why == NULL) != t[i].ok)
			fail_msg("%s(\"%s\"): want %s, got %s", what, t[i].in,
			    t[i].ok ? "valid" : "invalid",
			    why != NULL ? why : "valid");
	}
}

#define CHECK(fn, t)	check(#fn, fn, t, sizeof(t) / sizeof(t[0]))

/* 64 characters, one past the label limit */
#define L64 "a123456789012345678901234567890123456789012345678901234567890123"
#define L63 "a12345678901234567890123456789012345678901234567890123456789012"

static void
k8s_names__dns1123_labels(void **state)
{
	static const struct row t[] = {
		{ "fraud-detector", 1 }, { "a", 1 }, { "0", 1 }, { "a-1-b", 1 },
		{ L63, 1 }, { L64, 0 }, { "", 0 }, { "Fraud", 0 }, { "-a", 0 },
		{ "a-", 0 }, { "a.b", 0 }, { "a_b", 0 }, { "caf\xc3\xa9", 0 },
	};

	(void)state;
	CHECK(k8s_check_dns1123_label, t);
	assert_string_equal(k8s_check_dns1123_label(L64),
	    "must be at most 63 characters");
}

static void
k8s_names__dns1123_subdomains(void **state)
{
	static const struct row t[] = {
		{ "fraud-data", 1 }, { "batch.low-priority", 1 }, { "a.b.c", 1 },
		{ L63 "." L63, 1 }, { L64 ".a", 0 }, { "a..b", 0 }, { ".a", 0 },
		{ "a.", 0 }, { "A.b", 0 }, { "", 0 }, { "a_b", 0 },
	};
	char big[300];

	(void)state;
	CHECK(k8s_check_dns1123_subdomain, t);
	memset(big, 'a', 254);
	big[254] = '\0';
	for (int i = 50; i < 254; i += 51)
		big[i] = '.';
	assert_non_null(k8s_check_dns1123_subdomain(big));
	big[253] = '\0';
	assert_null(k8s_check_dns1123_subdomain(big));
}

static void
k8s_names__qualified_names_and_label_values(void **state)
{
	static const struct row keys[] = {
		{ "team", 1 }, { "nvidia.com/gpu.product", 1 },
		{ "kubernetes.io/arch", 1 }, { "a/B_c.d-e", 1 },
		{ "nvidia.com/mig-1g.10gb", 1 }, { "Team", 1 }, { "", 0 },
		{ "/x", 0 }, { "a/", 0 }, { "A.com/x", 0 }, { "a/-x", 0 },
		{ "a/b/c", 0 }, { "x/" L64, 0 }, { "_x", 0 }, { "x y", 0 },
	};
	static const struct row values[] = {
		{ "", 1 }, { "NVIDIA-H100-80GB-HBM3", 1 }, { "a.b_c-d", 1 },
		{ L63, 1 }, { L64, 0 }, { "-a", 0 }, { "a b", 0 }, { "a/b", 0 },
	};

	(void)state;
	CHECK(k8s_check_qualified_name, keys);
	CHECK(k8s_check_label_value, values);
}

static void
k8s_names__env_names(void **state)
{
	static const struct row t[] = {
		{ "PATH", 1 }, { "_x", 1 }, { "MLFLOW_TRACKING_URI", 1 },
		{ "a1", 1 }, { "", 0 }, { "1A", 0 }, { "MY-VAR", 0 },
		{ "A.B", 0 }, { "A=B", 0 }, { "\xc3\xa9", 0 },
	};

	(void)state;
	CHECK(k8s_check_env_name, t);
}

static void
k8s_names__quantities(void **state)
{
	static const struct row t[] = {
		{ "4", 1 }, { "500m", 1 }, { "16Gi", 1 }, { "1.5", 1 },
		{ "0.5Gi", 1 }, { ".5", 1 }, { "5.", 1 }, { "2e3", 1 },
		{ "2E-3", 1 }, { "1E", 1 }, { "100n", 1 }, { "10u", 1 },
		{ "1k", 1 }, { "+1", 1 }, { "-1", 1 }, { "1Ki", 1 },
		{ "", 0 }, { ".", 0 }, { "Gi", 0 }, { "16gb", 0 }, { "16GB", 0 },
		{ "1 Gi", 0 }, { "1e", 0 }, { "1e+", 0 }, { "1Kib", 0 },
		{ "1.2.3", 0 }, { "0x10", 0 }, { "1KiB", 0 }, { "--1", 0 },
	};

	(void)state;
	CHECK(k8s_check_quantity, t);
}

static void
k8s_names__image_references(void **state)
{
	static const struct row t[] = {
		{ "python", 1 }, { "python:3.12", 1 }, { "python:3.12-slim", 1 },
		{ "ghcr.io/acme/fraud:1.4", 1 }, { "library/ubuntu", 1 },
		{ "localhost:5000/team/model:v1", 1 },
		{ "registry.example.com:5000/ml/trainer:2024.06", 1 },
		{ "[::1]:5000/x:y", 1 }, { "a__b/c.d-e--f:_x", 1 },
		{ "Foo/bar", 1 },
		{ "ghcr.io/acme/fraud@sha256:0123456789abcdef0123456789abcdef", 1 },
		{ "x:1@sha256:0123456789abcdef0123456789abcdef0123456789", 1 },
		{ "", 0 }, { "python 3", 0 }, { "ghcr.io/Acme/fraud", 0 },
		{ "Python", 0 }, { "x:", 0 }, { "x:.a", 0 }, { "x@sha256:abc", 0 },
		{ "x@:0123456789abcdef0123456789abcdef", 0 }, { "/x", 0 },
		{ "x/", 0 }, { "a//b", 0 }, { "a_-b", 0 }, { "a___b", 0 },
		{ "host:port/x", 0 }, { "x::y", 0 },
		{ "x:" L64 L64 "a", 0 },
	};

	(void)state;
	CHECK(k8s_check_image_ref, t);
	assert_string_equal(k8s_check_image_ref("ghcr.io/Acme/fraud"),
	    "repository name must be lowercase");
	assert_string_equal(k8s_check_image_ref("x:" L64 L64 "a"),
	    "tag must be at most 128 characters");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(k8s_names__dns1123_labels),
		cmocka_unit_test(k8s_names__dns1123_subdomains),
		cmocka_unit_test(k8s_names__qualified_names_and_label_values),
		cmocka_unit_test(k8s_names__env_names),
		cmocka_unit_test(k8s_names__quantities),
		cmocka_unit_test(k8s_names__image_references),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
