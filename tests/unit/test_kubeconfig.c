/*
 * test_kubeconfig.c - cluster access: every auth form of a kubeconfig
 * (token, tokenFile, client certificate and key as files or data, CA as
 * file or data, insecure-skip-tls-verify), named and current contexts,
 * relative paths, $KUBECONFIG merging, the in-cluster service account, the
 * order of sources, and every class of bad file with its message.
 * Fixtures are in tests/fixtures/kubeconfig/; generated files go to a
 * mkdtemp directory removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/testdb.h"
#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "kube/kubeconfig.h"

static char fixtures[1024];	/* absolute tests/fixtures/kubeconfig */
static char tmp[256];

#define E(s)	((char *)(s))

static const char *
fx(const char *name)
{
	static char path[2][1200];
	static int i;

	i = !i;
	assert_true(snprintf(path[i], sizeof(path[i]), "%s/%s", fixtures,
	    name) < (int)sizeof(path[i]));
	return path[i];
}

static int
setup(void **state)
{
	const char *top = getenv("SLUICE_TOP");
	char cwd[512];

	(void)state;
	if (top == NULL || top[0] == '\0') {
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		top = cwd;
	}
	assert_true(snprintf(fixtures, sizeof(fixtures),
	    "%s/tests/fixtures/kubeconfig", top) < (int)sizeof(fixtures));
	return test_tmpdir(tmp, sizeof(tmp));
}

static int
teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	return 0;
}

/* Load one fixture (or path) with an optional context; expect success. */
static struct kube_auth *
load_ok(const char *path, const char *context)
{
	struct kube_auth *a = NULL;
	struct err err;
	int rc;

	err_clear(&err);
	rc = kube_auth_from_kubeconfig(&a, path, context, &err);
	if (rc != 0)
		fail_msg("%s: %s", path, err.msg);
	assert_non_null(a);
	return a;
}

/* Expect path to fail with code and a message containing each of want. */
static void
expect_fail(const char *path, const char *context, int code,
    const char *want1, const char *want2)
{
	struct kube_auth *a = (struct kube_auth *)&a;
	struct err err;
	int rc;

	err_clear(&err);
	rc = kube_auth_from_kubeconfig(&a, path, context, &err);
	assert_null(a);
	if (rc != code)
		fail_msg("%s: want %d, got %d: %s", path, code, rc, err.msg);
	if (want1 != NULL && strstr(err.msg, want1) == NULL)
		fail_msg("'%s' not in '%s'", want1, err.msg);
	if (want2 != NULL && strstr(err.msg, want2) == NULL)
		fail_msg("'%s' not in '%s'", want2, err.msg);
}

static int
starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
kubeconfig__token_and_ca_data_come_from_the_current_context(void **state)
{
	struct kube_auth *a;

	(void)state;
	a = load_ok(fx("token.yaml"), NULL);
	assert_string_equal(a->context, "prod");
	assert_string_equal(a->cluster, "prod-cluster");
	assert_string_equal(a->user, "prod-user");
	/* the trailing slash goes, so paths can be appended */
	assert_string_equal(a->server, "https://prod.example.com:6443");
	assert_string_equal(a->namespace, "ml");
	assert_string_equal(a->token, "s3cr3t-prod-token");
	assert_null(a->token_file);
	assert_true(starts_with(a->ca.data, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(a->ca.len, strlen(a->ca.data));
	assert_null(a->cert.data);
	assert_null(a->key.data);
	assert_int_equal(a->insecure, 0);
	kube_auth_free(a);
}

static void
kubeconfig__a_named_context_wins_over_current_context(void **state)
{
	struct kube_auth *a;

	(void)state;
	a = load_ok(fx("token.yaml"), "dev");
	assert_string_equal(a->context, "dev");
	assert_string_equal(a->server, "https://dev.example.com");
	assert_string_equal(a->namespace, "default");
	assert_string_equal(a->token, "dev-token");
	assert_int_equal(a->insecure, 1);
	assert_null(a->ca.data);
	kube_auth_free(a);
}

static void
kubeconfig__relative_token_file_and_ca_resolve_against_the_file(void **state)
{
	struct kube_auth *a;
	char want[1200];

	(void)state;
	a = load_ok(fx("tokenfile.yaml"), NULL);
	snprintf(want, sizeof(want), "%s/token", fixtures);
	assert_string_equal(a->token_file, want);
	assert_null(a->token);
	assert_string_equal(a->namespace, "training");
	assert_true(starts_with(a->ca.data, "-----BEGIN CERTIFICATE-----"));
	kube_auth_free(a);
}

static void
kubeconfig__client_certificate_and_key_as_files(void **state)
{
	struct kube_auth *a;

	(void)state;
	a = load_ok(fx("cert-files.yaml"), NULL);
	assert_true(starts_with(a->cert.data, "-----BEGIN CERTIFICATE-----"));
	assert_true(starts_with(a->key.data, "-----BEGIN PRIVATE KEY-----"));
	assert_true(starts_with(a->ca.data, "-----BEGIN CERTIFICATE-----"));
	assert_null(a->token);
	assert_null(a->token_file);
	assert_string_equal(a->namespace, "default");
	kube_auth_free(a);
}

static void
kubeconfig__client_certificate_and_key_as_data(void **state)
{
	struct kube_auth *a;
	struct buf want;
	struct err err;

	(void)state;
	a = load_ok(fx("cert-data.yaml"), NULL);
	/* the decoded data is byte for byte the fixture file */
	buf_init(&want, LIM_KUBE_PEM);
	{
		FILE *f = fopen(fx("client.crt"), "r");
		char chunk[4096];
		size_t n;

		assert_non_null(f);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			assert_int_equal(buf_append(&want, chunk, n), 0);
		fclose(f);
	}
	assert_int_equal(a->cert.len, want.len);
	assert_memory_equal(a->cert.data, want.data, want.len);
	assert_true(starts_with(a->key.data, "-----BEGIN PRIVATE KEY-----"));
	assert_string_equal(a->namespace, "team-a");
	buf_release(&want);
	err_clear(&err);
	kube_auth_free(a);
}

static void
kubeconfig__describe_names_the_auth_form_but_no_secret(void **state)
{
	struct kube_auth *a;
	struct buf b;

	(void)state;
	a = load_ok(fx("token.yaml"), NULL);
	buf_init(&b, 1024);
	assert_int_equal(kube_auth_describe(a, &b), 0);
	assert_non_null(strstr(b.data, "server=https://prod.example.com:6443"));
	assert_non_null(strstr(b.data, "auth=token"));
	assert_non_null(strstr(b.data, "namespace=ml"));
	assert_null(strstr(b.data, "s3cr3t"));
	buf_release(&b);
	kube_auth_free(a);

	a = load_ok(fx("cert-data.yaml"), NULL);
	buf_init(&b, 1024);
	assert_int_equal(kube_auth_describe(a, &b), 0);
	assert_non_null(strstr(b.data, "auth=client-cert"));
	assert_null(strstr(b.data, "BEGIN"));
	buf_release(&b);
	kube_auth_free(a);
}

static void
kubeconfig__unsupported_auth_forms_fail_with_a_clear_message(void **state)
{
	(void)state;
	expect_fail(fx("exec.yaml"), NULL, ERR_INVALID,
	    "kubeconfig user 'aws' uses an exec credential plugin, which "
	    "sluice does not support; use a token or client certificate",
	    NULL);
	expect_fail(fx("auth-provider.yaml"), NULL, ERR_INVALID,
	    "kubeconfig user 'gcp' uses an auth provider", "token or client");
	expect_fail(fx("basic-auth.yaml"), NULL, ERR_INVALID,
	    "kubeconfig user 'u' uses basic auth", NULL);
}

static void
kubeconfig__bad_certificates_and_keys_fail_at_load(void **state)
{
	(void)state;
	expect_fail(fx("cert-mismatch.yaml"), NULL, ERR_INVALID,
	    "kubeconfig user 'u'", "client-key does not match");
	expect_fail(fx("cert-no-key.yaml"), NULL, ERR_INVALID,
	    "kubeconfig user 'u'", "client-certificate but no client-key");
	expect_fail(fx("bad-base64.yaml"), NULL, ERR_INVALID,
	    "kubeconfig cluster 'c'",
	    "certificate-authority-data is not valid base64");
	expect_fail(fx("bad-pem.yaml"), NULL, ERR_INVALID,
	    "kubeconfig cluster 'c'", "no PEM certificate");
	expect_fail(fx("missing-file.yaml"), NULL, ERR_NOTFOUND,
	    "kubeconfig cluster 'c'", "does-not-exist.crt' does not exist");
	expect_fail(fx("insecure-with-ca.yaml"), NULL, ERR_INVALID,
	    "certificate-authority and insecure-skip-tls-verify cannot be "
	    "used together", NULL);
}

static void
kubeconfig__contexts_that_do_not_resolve_are_errors(void **state)
{
	struct kube_auth *a;

	(void)state;
	expect_fail(fx("no-current.yaml"), NULL, ERR_INVALID,
	    "has no current-context; set kubernetes.context", NULL);
	a = load_ok(fx("no-current.yaml"), "only");
	assert_string_equal(a->context, "only");
	kube_auth_free(a);
	expect_fail(fx("token.yaml"), "staging", ERR_NOTFOUND,
	    "context 'staging' is not defined in kubeconfig", NULL);
	expect_fail(fx("dangling.yaml"), NULL, ERR_NOTFOUND,
	    "cluster 'nowhere' of context 'ctx' is not defined", NULL);
	expect_fail(fx("no-server.yaml"), NULL, ERR_INVALID,
	    "kubeconfig cluster 'c' has no server", NULL);
}

static void
kubeconfig__bad_files_fail_with_the_file_and_line(void **state)
{
	char path[512], *big;
	size_t i, n = LIM_KUBECONFIG_FILE + 10;
	FILE *f;

	(void)state;
	expect_fail(fx("bad-syntax.yaml"), NULL, ERR_INVALID,
	    "bad-syntax.yaml' is not valid YAML", "line");
	expect_fail(fx("not-a-map.yaml"), NULL, ERR_INVALID,
	    "is not a mapping of clusters, contexts and users", NULL);
	expect_fail(fx("nonexistent.yaml"), NULL, ERR_NOTFOUND,
	    "nonexistent.yaml' does not exist", NULL);

	/* nesting past the cap is refused before libyaml builds it */
	big = malloc(n + 1);
	assert_non_null(big);
	for (i = 0; i < 200; i++)
		big[i] = '[';
	big[200] = '\0';
	assert_int_equal(test_write_file(tmp, "deep.yaml", big), 0);
	snprintf(path, sizeof(path), "%s/deep.yaml", tmp);
	expect_fail(path, NULL, ERR_INVALID, "nests deeper than", NULL);

	/* and so is a file past LIM_KUBECONFIG_FILE */
	snprintf(path, sizeof(path), "%s/big.yaml", tmp);
	assert_non_null(f = fopen(path, "w"));
	memset(big, '#', n);
	assert_int_equal(fwrite(big, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(big);
	expect_fail(path, NULL, ERR_TOOBIG, "larger than", NULL);

	/* a field of the wrong type names the entry and the line */
	assert_int_equal(test_write_file(tmp, "typed.yaml",
	    "clusters:\n"
	    "  - name: c\n"
	    "    cluster:\n"
	    "      server: [not, a, string]\n"
	    "contexts:\n"
	    "  - {name: x, context: {cluster: c}}\n"
	    "current-context: x\n"), 0);
	snprintf(path, sizeof(path), "%s/typed.yaml", tmp);
	expect_fail(path, NULL, ERR_INVALID,
	    "line 4: kubeconfig cluster 'c': server must be a string", NULL);

	assert_int_equal(test_write_file(tmp, "insecure-word.yaml",
	    "clusters:\n"
	    "  - name: c\n"
	    "    cluster: {server: 'https://k', insecure-skip-tls-verify: "
	    "maybe}\n"
	    "contexts:\n"
	    "  - {name: x, context: {cluster: c}}\n"
	    "current-context: x\n"), 0);
	snprintf(path, sizeof(path), "%s/insecure-word.yaml", tmp);
	expect_fail(path, NULL, ERR_INVALID,
	    "insecure-skip-tls-verify must be true or false", NULL);
}

static void
kubeconfig__a_context_without_user_is_anonymous(void **state)
{
	struct kube_auth *a;
	char path[512];

	(void)state;
	assert_int_equal(test_write_file(tmp, "anon.yaml",
	    "clusters:\n"
	    "  - {name: c, cluster: {server: 'http://127.0.0.1:8001/'}}\n"
	    "contexts:\n"
	    "  - {name: x, context: {cluster: c, namespace: ''}}\n"
	    "current-context: x\n"), 0);
	snprintf(path, sizeof(path), "%s/anon.yaml", tmp);
	a = load_ok(path, NULL);
	assert_string_equal(a->server, "http://127.0.0.1:8001");
	assert_null(a->user);
	assert_null(a->token);
	assert_null(a->token_file);
	assert_string_equal(a->namespace, "default");
	kube_auth_free(a);
}

static void
kubeconfig__kubeconfig_list_merges_first_definition_wins(void **state)
{
	struct kube_auth *a = NULL;
	struct kube_auth_opts o;
	struct err err;
	char env[3000];
	char *envp[2];

	(void)state;
	snprintf(env, sizeof(env), "KUBECONFIG=%s:%s/missing.yaml:%s",
	    fx("merge-a.yaml"), fixtures, fx("merge-b.yaml"));
	envp[0] = env;
	envp[1] = NULL;
	memset(&o, 0, sizeof(o));
	o.envp = envp;
	err_clear(&err);
	if (kube_auth_load(&a, &o, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(a->context, "a");
	assert_string_equal(a->namespace, "from-a");
	assert_string_equal(a->token, "token-from-a");
	assert_string_equal(a->server, "https://merged.example.com");
	/* merge-b's relative certificate-authority resolves next to it */
	assert_true(starts_with(a->ca.data, "-----BEGIN CERTIFICATE-----"));
	kube_auth_free(a);
}

/* A service account directory with token, ca.crt and namespace. */
static void
make_sa(const char *sub, const char *token, const char *ns)
{
	char dir[512], ca[4096];
	FILE *f;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, sub);
	assert_int_equal(mkdir(dir, 0700), 0);
	if (token != NULL)
		assert_int_equal(test_write_file(dir, "token", token), 0);
	if (ns != NULL)
		assert_int_equal(test_write_file(dir, "namespace", ns), 0);
	assert_non_null(f = fopen(fx("ca.crt"), "r"));
	n = fread(ca, 1, sizeof(ca) - 1, f);
	ca[n] = '\0';
	fclose(f);
	assert_int_equal(test_write_file(dir, "ca.crt", ca), 0);
}

static void
kubeconfig__in_cluster_service_account(void **state)
{
	struct kube_auth *a = NULL;
	struct kube_auth_opts o;
	struct err err;
	char sa[512], want[600];
	char *envp[] = { E("KUBERNETES_SERVICE_HOST=10.96.0.1"),
		E("KUBERNETES_SERVICE_PORT=443"), NULL };

	(void)state;
	make_sa("sa", "eyJhbGciOi.sa-token\n", "jobs\n");
	snprintf(sa, sizeof(sa), "%s/sa", tmp);
	memset(&o, 0, sizeof(o));
	o.envp = envp;
	o.sa_dir = sa;
	err_clear(&err);
	if (kube_auth_load(&a, &o, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(a->server, "https://10.96.0.1:443");
	assert_string_equal(a->namespace, "jobs");
	snprintf(want, sizeof(want), "%s/token", sa);
	assert_string_equal(a->token_file, want);
	assert_null(a->token);
	assert_null(a->context);
	assert_true(starts_with(a->ca.data, "-----BEGIN CERTIFICATE-----"));
	kube_auth_free(a);

	/* the configured namespace wins over the service account's */
	o.namespace = "override";
	assert_int_equal(kube_auth_load(&a, &o, &err), 0);
	assert_string_equal(a->namespace, "override");
	kube_auth_free(a);

	/* IPv6 service addresses are bracketed */
	assert_int_equal(kube_auth_in_cluster(&a, "fd00::1", "6443", sa, &err),
	    0);
	assert_string_equal(a->server, "https://[fd00::1]:6443");
	kube_auth_free(a);

	/* a context makes no sense in a cluster */
	o.namespace = NULL;
	o.context = "prod";
	assert_int_equal(kube_auth_load(&a, &o, &err), ERR_INVALID);
	assert_non_null(strstr(err.msg, "needs a kubeconfig"));
}

static void
kubeconfig__in_cluster_needs_its_files_and_variables(void **state)
{
	struct kube_auth *a = NULL;
	struct err err;
	char sa[512];

	(void)state;
	make_sa("nons", "tok", NULL);
	snprintf(sa, sizeof(sa), "%s/nons", tmp);
	assert_int_equal(kube_auth_in_cluster(&a, "k", "443", sa, &err), 0);
	assert_string_equal(a->namespace, "default");
	kube_auth_free(a);

	make_sa("notoken", NULL, "x");
	snprintf(sa, sizeof(sa), "%s/notoken", tmp);
	assert_int_equal(kube_auth_in_cluster(&a, "k", "443", sa, &err),
	    ERR_NOTFOUND);
	assert_null(a);
	assert_non_null(strstr(err.msg, "in-cluster service account"));
	assert_non_null(strstr(err.msg, "token"));

	make_sa("emptytoken", " \n", "x");
	snprintf(sa, sizeof(sa), "%s/emptytoken", tmp);
	assert_int_equal(kube_auth_in_cluster(&a, "k", "443", sa, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "is empty"));

	assert_int_equal(kube_auth_in_cluster(&a, "k", "", sa, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_PORT"));
	assert_int_equal(kube_auth_in_cluster(&a, "k", "99999", sa, &err),
	    ERR_INVALID);
	assert_int_equal(kube_auth_in_cluster(&a, "bad host/x", "443", sa,
	    &err), ERR_INVALID);
}

static void
kubeconfig__sources_are_tried_in_order(void **state)
{
	struct kube_auth *a = NULL;
	struct kube_auth_opts o;
	struct err err;
	char kc[1300], home[600], kdir[600];
	char *envp[4];

	(void)state;
	make_sa("order", "tok", "in-cluster-ns");
	memset(&o, 0, sizeof(o));
	snprintf(kc, sizeof(kc), "KUBECONFIG=%s", fx("cert-data.yaml"));
	envp[0] = kc;
	envp[1] = E("KUBERNETES_SERVICE_HOST=10.0.0.1");
	envp[2] = E("KUBERNETES_SERVICE_PORT=443");
	envp[3] = NULL;
	o.envp = envp;

	/* an explicit kubeconfig beats $KUBECONFIG and the cluster */
	o.kubeconfig = fx("tokenfile.yaml");
	assert_int_equal(kube_auth_load(&a, &o, &err), 0);
	assert_string_equal(a->namespace, "training");
	kube_auth_free(a);

	/* $KUBECONFIG beats the cluster */
	o.kubeconfig = "";
	assert_int_equal(kube_auth_load(&a, &o, &err), 0);
	assert_string_equal(a->namespace, "team-a");
	kube_auth_free(a);

	/* nothing configured at all */
	envp[0] = E("HOME=/nonexistent-home");
	envp[1] = NULL;
	assert_int_equal(kube_auth_load(&a, &o, &err), ERR_NOTFOUND);
	assert_null(a);
	assert_non_null(strstr(err.msg, "no Kubernetes access configured"));

	/* ~/.kube/config as the last resort */
	snprintf(home, sizeof(home), "%s/home", tmp);
	snprintf(kdir, sizeof(kdir), "%s/home/.kube", tmp);
	assert_int_equal(mkdir(home, 0700), 0);
	assert_int_equal(mkdir(kdir, 0700), 0);
	assert_int_equal(test_write_file(kdir, "config",
	    "clusters: [{name: c, cluster: {server: 'https://home:6443'}}]\n"
	    "users: [{name: u, user: {token: home-token}}]\n"
	    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
	    "current-context: x\n"), 0);
	snprintf(kc, sizeof(kc), "HOME=%s", home);
	envp[0] = kc;
	assert_int_equal(kube_auth_load(&a, &o, &err), 0);
	assert_string_equal(a->server, "https://home:6443");
	assert_string_equal(a->token, "home-token");
	kube_auth_free(a);

	/* an explicit file must exist and be one file */
	o.kubeconfig = "/nonexistent/kubeconfig";
	assert_int_equal(kube_auth_load(&a, &o, &err), ERR_NOTFOUND);
	o.kubeconfig = "a:b";
	assert_int_equal(kube_auth_load(&a, &o, &err), ERR_INVALID);
}

static void
kubeconfig__token_file_is_read_trimmed(void **state)
{
	struct buf b;
	struct err err;
	char path[512];

	(void)state;
	buf_init(&b, LIM_KUBE_TOKEN);
	assert_int_equal(test_write_file(tmp, "tok", "  abc.def \n\n"), 0);
	snprintf(path, sizeof(path), "%s/tok", tmp);
	assert_int_equal(kube_auth_read_token(path, &b, &err), 0);
	assert_string_equal(b.data, "abc.def");
	snprintf(path, sizeof(path), "%s/none", tmp);
	assert_int_equal(kube_auth_read_token(path, &b, &err), ERR_NOTFOUND);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    kubeconfig__token_and_ca_data_come_from_the_current_context),
		cmocka_unit_test(
		    kubeconfig__a_named_context_wins_over_current_context),
		cmocka_unit_test(
		    kubeconfig__relative_token_file_and_ca_resolve_against_the_file),
		cmocka_unit_test(kubeconfig__client_certificate_and_key_as_files),
		cmocka_unit_test(kubeconfig__client_certificate_and_key_as_data),
		cmocka_unit_test(
		    kubeconfig__describe_names_the_auth_form_but_no_secret),
		cmocka_unit_test(
		    kubeconfig__unsupported_auth_forms_fail_with_a_clear_message),
		cmocka_unit_test(
		    kubeconfig__bad_certificates_and_keys_fail_at_load),
		cmocka_unit_test(
		    kubeconfig__contexts_that_do_not_resolve_are_errors),
		cmocka_unit_test(
		    kubeconfig__bad_files_fail_with_the_file_and_line),
		cmocka_unit_test(kubeconfig__a_context_without_user_is_anonymous),
		cmocka_unit_test(
		    kubeconfig__kubeconfig_list_merges_first_definition_wins),
		cmocka_unit_test(kubeconfig__in_cluster_service_account),
		cmocka_unit_test(
		    kubeconfig__in_cluster_needs_its_files_and_variables),
		cmocka_unit_test(kubeconfig__sources_are_tried_in_order),
		cmocka_unit_test(kubeconfig__token_file_is_read_trimmed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
