/*
 * test_cfg.c - configuration: defaults, the YAML file, SLUICE_* variables,
 * --set overrides, every class of error with its key path, and the masked
 * dump.  Files live in a mkdtemp directory removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/err.h"

static char dir[64];

/* envp entries are char *; cfg_load never writes through them */
#define E(s)	((char *)(s))

/* dir/name with text in it; returns the path in a static buffer. */
static const char *
write_file(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) <
	    (int)sizeof(path));
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load text as the config file "sluice.yaml" of dir. */
static int
load_text(struct cfg **c, const char *text, char *const *envp,
    const struct cfg_override *ov, size_t n, struct err *err)
{
	const char *path = write_file("sluice.yaml", text, strlen(text));

	err_clear(err);
	return cfg_load(c, path, envp, ov, n, err);
}

/* Expect text to fail with exactly msgfmt, its "%s" standing for dir. */
static void
expect_error(const char *text, char *const *envp, const char *msgfmt)
{
	char want[ERR_MSG_MAX];
	struct cfg *c = (struct cfg *)&c;	/* must be cleared */
	struct err err;
	int rc;

	const char *at = strstr(msgfmt, "%s");

	rc = load_text(&c, text, envp, NULL, 0, &err);
	if (at == NULL)
		(void)snprintf(want, sizeof(want), "%s", msgfmt);
	else
		(void)snprintf(want, sizeof(want), "%.*s%s%s",
		    (int)(at - msgfmt), msgfmt, dir, at + 2);
	assert_string_equal(err.msg, want);
	assert_int_equal(rc, ERR_INVALID);
	assert_int_equal(err.code, ERR_INVALID);
	assert_null(c);
}

static int
group_setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/sluice-cfg-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	static const char *names[] = { "sluice.yaml", "big.yaml", "x.yaml" };
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	return rmdir(dir);
}

static char *const no_env[] = { NULL };

static void
cfg__defaults_without_a_file(void **state)
{
	char cwd[4096];
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	(void)unlink("sluice.yaml");
	err_clear(&err);
	assert_int_equal(cfg_load(&c, NULL, no_env, NULL, 0, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_null(c->file);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	assert_string_equal(c->database_url, "postgresql:///sluice");
	assert_string_equal(c->state_dir, "./var");
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->log_format, LOG_TEXT);
	assert_int_equal(c->executor, EXECUTOR_LOCAL);
	assert_int_equal(c->max_parallel_stages, 32);
	assert_int_equal(c->max_nodes, 16);
	assert_string_equal(c->kubernetes.kubeconfig, "");
	assert_string_equal(c->kubernetes.context, "");
	assert_string_equal(c->kubernetes.namespace, "");
	assert_true(c->kubernetes.qps == 20.0);
	assert_int_equal(c->kubernetes.burst, 40);
	assert_int_equal(c->kubernetes.max_gpus, 0);
	assert_int_equal(c->kubernetes.ttl_after_finished_ms, 3600000);
	assert_string_equal(c->kubernetes.checkout_image,
	    "alpine/git:2.45.2");
	assert_int_equal(c->poll_interval_ms, 30000);
	assert_int_equal(c->logs_max_bytes, 16 * 1024 * 1024);
	assert_int_equal(c->poll_workers, 4);
	assert_int_equal(c->session_ttl_ms, 12 * 3600000);
	assert_null(c->repositories);
	assert_int_equal(c->nrepositories, 0);
	assert_string_equal(c->webhook_secret_env, "SLUICE_WEBHOOK_SECRET");
	assert_int_equal(c->anonymous_read, 0);
	assert_string_equal(c->web_dir, "web");
	cfg_free(c);
}

static void
cfg__reads_sluice_yaml_of_the_working_directory(void **state)
{
	char cwd[4096];
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	write_file("sluice.yaml", "listen: 0.0.0.0:9000\n", 21);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	err_clear(&err);
	assert_int_equal(cfg_load(&c, NULL, no_env, NULL, 0, &err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(c->file, "sluice.yaml");
	assert_string_equal(c->listen, "0.0.0.0:9000");
	cfg_free(c);
}

static const char full_yaml[] =
    "# every key\n"
    "listen: \"[::1]:9090\"\n"
    "database_url: postgresql://sluice:s3cret@db.internal:5432/sluice\n"
    "state_dir: /var/lib/sluice\n"
    "log_level: debug\n"
    "log_format: json\n"
    "executor: kubernetes\n"
    "max_parallel_stages: 100\n"
    "kubernetes:\n"
    "  kubeconfig: /etc/sluice/kubeconfig\n"
    "  context: prod\n"
    "  namespace: ml-pipelines\n"
    "  qps: 7.5\n"
    "  burst: 15\n"
    "  max_gpus: 8\n"
    "  ttl_after_finished: 30m\n"
    "  checkout_image: registry.local/git:1\n"
    "poll_interval: 1m\n"
    "poll_workers: 16\n"
    "session_ttl: 8h\n"
    "repositories:\n"
    "  - name: demo\n"
    "    url: file:///srv/git/demo.git\n"
    "    branches: [main, release/v1]\n"
    "    path: ml/pipelines\n"
    "    interval: 15s\n"
    "    auth: { token_env: GIT_TOKEN }\n"
    "  - name: models-2\n"
    "    url: git@github.com:acme/models.git\n"
    "    auth:\n"
    "      ssh_key_file: /etc/sluice/id_ed25519\n"
    "      known_hosts_file: /etc/sluice/known_hosts\n"
    "webhook_secret_env: HOOK_SECRET\n"
    "anonymous_read: true\n"
    "web_dir: /usr/share/sluice/web\n";

static void
cfg__full_file_sets_every_key(void **state)
{
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_int_equal(load_text(&c, full_yaml, no_env, NULL, 0, &err), 0);
	assert_non_null(strstr(c->file, "/sluice.yaml"));
	assert_string_equal(c->listen, "[::1]:9090");
	assert_string_equal(c->database_url,
	    "postgresql://sluice:s3cret@db.internal:5432/sluice");
	assert_string_equal(c->state_dir, "/var/lib/sluice");
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->log_format, LOG_JSON);
	assert_int_equal(c->executor, EXECUTOR_KUBERNETES);
	assert_int_equal(c->max_parallel_stages, 100);
	assert_string_equal(c->kubernetes.kubeconfig, "/etc/sluice/kubeconfig");
	assert_string_equal(c->kubernetes.context, "prod");
	assert_string_equal(c->kubernetes.namespace, "ml-pipelines");
	assert_true(c->kubernetes.qps == 7.5);
	assert_int_equal(c->kubernetes.burst, 15);
	assert_int_equal(c->kubernetes.max_gpus, 8);
	assert_int_equal(c->kubernetes.ttl_after_finished_ms, 1800000);
	assert_string_equal(c->kubernetes.checkout_image,
	    "registry.local/git:1");
	assert_int_equal(c->poll_interval_ms, 60000);
	assert_int_equal(c->poll_workers, 16);
	assert_int_equal(c->session_ttl_ms, 8 * 3600000);
	assert_int_equal(c->nrepositories, 2);
	assert_string_equal(c->repositories[0].name, "demo");
	assert_string_equal(c->repositories[0].url,
	    "file:///srv/git/demo.git");
	assert_int_equal(c->repositories[0].nbranches, 2);
	assert_string_equal(c->repositories[0].branches[0], "main");
	assert_string_equal(c->repositories[0].branches[1], "release/v1");
	assert_null(c->repositories[0].branches[2]);
	assert_string_equal(c->repositories[0].path, "ml/pipelines");
	assert_int_equal(c->repositories[0].interval_ms, 15000);
	assert_string_equal(c->repositories[0].token_env, "GIT_TOKEN");
	assert_null(c->repositories[0].ssh_key_file);
	assert_null(c->repositories[0].known_hosts_file);
	/* the second one gets the defaults */
	assert_string_equal(c->repositories[1].name, "models-2");
	assert_string_equal(c->repositories[1].url,
	    "git@github.com:acme/models.git");
	assert_int_equal(c->repositories[1].nbranches, 1);
	assert_string_equal(c->repositories[1].branches[0], "main");
	assert_null(c->repositories[1].branches[1]);
	assert_string_equal(c->repositories[1].path, "pipelines");
	assert_int_equal(c->repositories[1].interval_ms, 60000);
	assert_null(c->repositories[1].token_env);
	assert_string_equal(c->repositories[1].ssh_key_file,
	    "/etc/sluice/id_ed25519");
	assert_string_equal(c->repositories[1].known_hosts_file,
	    "/etc/sluice/known_hosts");
	assert_string_equal(c->webhook_secret_env, "HOOK_SECRET");
	assert_int_equal(c->anonymous_read, 1);
	assert_string_equal(c->web_dir, "/usr/share/sluice/web");
	cfg_free(c);
}

static void
cfg__empty_file_and_nulls_keep_defaults(void **state)
{
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_int_equal(load_text(&c, "# nothing yet\n", no_env, NULL, 0,
	    &err), 0);
	assert_string_equal(c->listen, "127.0.0.1:8080");
	cfg_free(c);
	assert_int_equal(load_text(&c, "kubernetes:\nrepositories: ~\n"
	    "webhook_secret_env: X\n", no_env, NULL, 0, &err), 0);
	assert_true(c->kubernetes.qps == 20.0);
	assert_int_equal(c->nrepositories, 0);
	cfg_free(c);
}

static const char two_repos_bad_interval[] =
    "repositories:\n"
    "  - name: a\n"
    "    url: https://git.example.com/a.git\n"
    "  - name: b\n"
    "    url: https://git.example.com/b.git\n"
    "    interval: 5x\n";

static const struct {
	const char	*yaml;
	const char	*msg;	/* %s: the temp dir */
} bad_files[] = {
	{ "listen: 127.0.0.1:8080\nlisne: 1\n",
	  "lisne: unknown key (%s/sluice.yaml:2:1)" },
	{ "kubernetes:\n  namespace: ml\n  qpz: 5\n",
	  "kubernetes.qpz: unknown key (%s/sluice.yaml:3:3)" },
	{ "kubernetes.qps: 5\n",
	  "kubernetes.qps: unknown key (%s/sluice.yaml:1:1)" },
	{ two_repos_bad_interval,
	  "repositories[1].interval: \"5x\" is not a duration "
	  "(%s/sluice.yaml:6:15)" },
	{ "poll_interval: 30\n",
	  "poll_interval: \"30\" is not a duration (%s/sluice.yaml:1:16)" },
	{ "executor: docker\n",
	  "executor: \"docker\" is not one of local, kubernetes "
	  "(%s/sluice.yaml:1:11)" },
	{ "log_level: verbose\n",
	  "log_level: \"verbose\" is not one of debug, info, warn, error "
	  "(%s/sluice.yaml:1:12)" },
	{ "log_format: xml\n",
	  "log_format: \"xml\" is not one of text, json (%s/sluice.yaml:1:13)" },
	{ "poll_workers: 65\n",
	  "poll_workers: \"65\" is out of range (1..64) (%s/sluice.yaml:1:15)" },
	{ "max_parallel_stages: 0\n",
	  "max_parallel_stages: \"0\" is out of range (1..100000) "
	  "(%s/sluice.yaml:1:22)" },
	{ "max_nodes: 0\n",
	  "max_nodes: \"0\" is out of range (1..1024) (%s/sluice.yaml:1:12)" },
	{ "max_nodes: 2000\n",
	  "max_nodes: \"2000\" is out of range (1..1024) "
	  "(%s/sluice.yaml:1:12)" },
	{ "poll_workers: four\n",
	  "poll_workers: \"four\" is not an integer (%s/sluice.yaml:1:15)" },
	{ "kubernetes:\n  qps: 0\n",
	  "kubernetes.qps: \"0\" is out of range (greater than 0, at most "
	  "100000) (%s/sluice.yaml:2:8)" },
	{ "kubernetes:\n  burst: 0\n",
	  "kubernetes.burst: \"0\" is out of range (1..100000) "
	  "(%s/sluice.yaml:2:10)" },
	{ "kubernetes:\n  max_gpus: -1\n",
	  "kubernetes.max_gpus: \"-1\" is out of range (at least 0) "
	  "(%s/sluice.yaml:2:13)" },
	{ "poll_interval: 0s\n",
	  "poll_interval: \"0s\" is out of range (at least 1s) "
	  "(%s/sluice.yaml:1:16)" },
	{ "anonymous_read: maybe\n",
	  "anonymous_read: \"maybe\" is not a boolean (true or false) "
	  "(%s/sluice.yaml:1:17)" },
	{ "listen: 127.0.0.1\n",
	  "listen: \"127.0.0.1\" is not host:port with a port from 1 to 65535 "
	  "(%s/sluice.yaml:1:9)" },
	{ "listen: \":70000\"\n",
	  "listen: \":70000\" is not host:port with a port from 1 to 65535 "
	  "(%s/sluice.yaml:1:9)" },
	{ "listen: \"\"\n",
	  "listen: must not be empty (%s/sluice.yaml:1:9)" },
	{ "webhook_secret_env: 1SECRET\n",
	  "webhook_secret_env: \"1SECRET\" is not an environment variable "
	  "name (letters, digits and '_', not starting with a digit) "
	  "(%s/sluice.yaml:1:21)" },
	{ "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
	  "listen: duplicate key (%s/sluice.yaml:2:1)" },
	{ "kubernetes: {qps: 1, qps: 2}\n",
	  "kubernetes.qps: duplicate key (%s/sluice.yaml:1:22)" },
	{ "listen: [a, b]\n",
	  "listen: expected a scalar, found a sequence (%s/sluice.yaml:1:9)" },
	{ "kubernetes: default\n",
	  "kubernetes: expected a mapping, found a scalar "
	  "(%s/sluice.yaml:1:13)" },
	{ "repositories: {name: a}\n",
	  "repositories: expected a sequence, found a mapping "
	  "(%s/sluice.yaml:1:15)" },
	{ "repositories: [x]\n",
	  "repositories[0]: expected a mapping, found a scalar "
	  "(%s/sluice.yaml:1:16)" },
	{ "[listen]\n",
	  "expected a mapping at the top level, found a sequence "
	  "(%s/sluice.yaml:1:1)" },
	{ "? [a]\n: b\n",
	  "a key must be a scalar, found a sequence (%s/sluice.yaml:1:3)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "  - name: a\n    url: https://h/b.git\n",
	  "repositories[1].name: \"a\" is a duplicate of repositories[0].name "
	  "(%s/sluice.yaml:4:11)" },
	{ "repositories:\n  - name: Demo_1\n    url: https://h/a.git\n",
	  "repositories[0].name: \"Demo_1\" is not a DNS-1123 label "
	  "(lowercase letters, digits and '-', at most 63 characters, "
	  "starting and ending with a letter or digit) "
	  "(%s/sluice.yaml:2:11)" },
	{ "repositories:\n  - name: a\n    url: ftp://h/a.git\n",
	  "repositories[0].url: \"ftp://h/a.git\" has an unsupported scheme "
	  "(use file://, https://, http://, ssh://, git:// or user@host:path) "
	  "(%s/sluice.yaml:3:10)" },
	{ "repositories:\n  - name: a\n    url: /srv/a.git\n",
	  "repositories[0].url: \"/srv/a.git\" has an unsupported scheme "
	  "(use file://, https://, http://, ssh://, git:// or user@host:path) "
	  "(%s/sluice.yaml:3:10)" },
	{ "repositories:\n  - name: a\n    url: https://\n",
	  "repositories[0].url: \"https://\" is not a valid URL "
	  "(%s/sluice.yaml:3:10)" },
	{ "repositories:\n  - name: a\n",
	  "repositories[0]: \"url\" is required (%s/sluice.yaml:2:5)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    auth: { token_env: T, ssh_key_file: /k }\n",
	  "repositories[0].auth: token_env and ssh_key_file cannot both be set "
	  "(%s/sluice.yaml:4:11)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    auth: { known_hosts_file: /k }\n",
	  "repositories[0].auth: known_hosts_file needs ssh_key_file "
	  "(%s/sluice.yaml:4:11)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    auth: { password: x }\n",
	  "repositories[0].auth.password: unknown key (%s/sluice.yaml:4:13)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    branches: []\n",
	  "repositories[0].branches: must be a non-empty list "
	  "(%s/sluice.yaml:4:15)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    branches: [main, \"\"]\n",
	  "repositories[0].branches[1]: must not be empty "
	  "(%s/sluice.yaml:4:22)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    branches: main\n",
	  "repositories[0].branches: expected a sequence, found a scalar "
	  "(%s/sluice.yaml:4:15)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    path: ../other\n",
	  "repositories[0].path: \"../other\" leaves the repository "
	  "(no '..' allowed) (%s/sluice.yaml:4:11)" },
	{ "repositories:\n  - name: a\n    url: https://h/a.git\n"
	  "    path: /etc\n",
	  "repositories[0].path: \"/etc\" is an absolute path (it must be "
	  "relative to the repository root) (%s/sluice.yaml:4:11)" },
	{ "listen: \"a\\0b:1\"\n",
	  "listen: \"a\\x00b:1\" contains a NUL byte (%s/sluice.yaml:1:9)" },
	{ "listen: 127.0.0.1:8080\n\tstate_dir: x\n",
	  "invalid YAML: found a tab character that violates indentation "
	  "while scanning a plain scalar (%s/sluice.yaml:2:1)" },
	{ "kubernetes:\n  qps: [1\n",
	  "invalid YAML: did not find expected ',' or ']' while parsing a "
	  "flow sequence (%s/sluice.yaml:3:1)" },
	{ "listen: *nope\n",
	  "invalid YAML: found undefined alias (%s/sluice.yaml:1:9)" },
	{ "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n",
	  "only one YAML document is allowed (%s/sluice.yaml:3:1)" },
	{ "logs:\n  max_bytes: lots\n",
	  "logs.max_bytes: \"lots\" is not a size (like 16MiB) "
	  "(%s/sluice.yaml:2:14)" },
	{ "logs:\n  max_bytes: 100\n",
	  "logs.max_bytes: \"100\" is out of range (1KiB..1TiB) "
	  "(%s/sluice.yaml:2:14)" },
};

static void
cfg__pod_identity_and_checkout_secrets(void **state)
{
	static char var[] = "SLUICE_KUBERNETES_SECURITY_CONTEXT_RUN_AS_GROUP=3000";
	char *const env[] = { var, NULL };
	struct cfg *c = NULL;
	struct podsec sc;
	struct err err;
	struct buf b;

	(void)state;
	/* the default is today's: non-root 65532 */
	assert_int_equal(load_text(&c, "", no_env, NULL, 0, &err), 0);
	cfg_kube_podsec(&c->kubernetes, &sc);
	assert_true(sc.set);
	assert_int_equal(sc.id[PODSEC_RUN_AS_USER], 65532);
	assert_int_equal(sc.id[PODSEC_RUN_AS_GROUP], -1);
	assert_int_equal(sc.id[PODSEC_FS_GROUP], 65532);
	assert_int_equal(sc.run_as_non_root, 1);
	cfg_free(c);
	/* keys given replace their defaults; -1 leaves one unset */
	assert_int_equal(load_text(&c, "kubernetes:\n  security_context:\n"
	    "    run_as_user: 1000\n    fs_group: -1\n"
	    "repositories:\n  - name: private\n"
	    "    url: https://git.example.com/acme/ml.git\n"
	    "    kubernetes_secret: acme-git\n", env, NULL, 0, &err), 0);
	cfg_kube_podsec(&c->kubernetes, &sc);
	assert_int_equal(sc.id[PODSEC_RUN_AS_USER], 1000);
	assert_int_equal(sc.id[PODSEC_RUN_AS_GROUP], 3000);
	assert_int_equal(sc.id[PODSEC_FS_GROUP], -1);
	assert_int_equal(sc.run_as_non_root, 1);
	assert_string_equal(c->repositories[0].kubernetes_secret, "acme-git");
	/* the dump says what differs from the default, nested */
	buf_init(&b, 1 << 16);
	assert_int_equal(cfg_dump(c, &b), 0);
	assert_non_null(strstr(b.data, "\n  security_context:\n"
	    "    run_as_user: 1000\n    run_as_group: 3000\n"
	    "    fs_group: -1\n"));
	assert_null(strstr(b.data, "run_as_non_root"));
	assert_non_null(strstr(b.data, "    kubernetes_secret: acme-git\n"));
	buf_release(&b);
	cfg_free(c);
	/* root must be said twice */
	assert_int_equal(load_text(&c, "kubernetes:\n  security_context:\n"
	    "    run_as_user: 0\n    run_as_non_root: false\n", no_env, NULL,
	    0, &err), 0);
	cfg_free(c);
	expect_error("kubernetes:\n  security_context:\n    run_as_user: 0\n",
	    no_env, "kubernetes.security_context: run_as_non_root: true "
	    "contradicts run_as_user: 0 (the kubelet would refuse to start "
	    "the pod)");
	expect_error("kubernetes:\n  security_context:\n    run_as_usr: 1\n",
	    no_env, "kubernetes.security_context.run_as_usr: unknown key "
	    "(%s/sluice.yaml:3:5)");
	expect_error("kubernetes:\n  security_context: {run_as_user: root}\n",
	    no_env, "kubernetes.security_context.run_as_user: \"root\" is not "
	    "an integer (%s/sluice.yaml:2:35)");
	expect_error("kubernetes:\n  security_context: {fs_group: -2}\n",
	    no_env, "kubernetes.security_context.fs_group: \"-2\" is out of "
	    "range (at least -1) (%s/sluice.yaml:2:32)");
	expect_error("repositories:\n  - name: a\n    url: https://x.org/a.git\n"
	    "    kubernetes_secret: Acme_Git\n", no_env,
	    "repositories[0].kubernetes_secret: \"Acme_Git\" is not a DNS-1123 "
	    "subdomain (lowercase letters, digits, '-' and '.', at most 253 "
	    "characters, each part starting and ending with a letter or "
	    "digit) (%s/sluice.yaml:4:24)");
}

static void
cfg__bad_files_fail_with_the_key_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++)
		expect_error(bad_files[i].yaml, no_env, bad_files[i].msg);
}

static void
cfg__deep_nesting_is_refused_before_parsing_it_all(void **state)
{
	size_t depth = 200000, len = 8 + 2 * depth + 1;
	char *text = malloc(len + 1), want[ERR_MSG_MAX];
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_non_null(text);
	memcpy(text, "listen: ", 8);
	memset(text + 8, '[', depth);
	memset(text + 8 + depth, ']', depth);
	text[len - 1] = '\n';
	text[len] = '\0';
	assert_int_equal(load_text(&c, text, no_env, NULL, 0, &err),
	    ERR_INVALID);
	free(text);
	assert_null(c);
	/* the top-level mapping is level 1, the 64th '[' level 65 */
	(void)snprintf(want, sizeof(want), "YAML nested deeper than %d levels "
	    "(%s/sluice.yaml:1:%d)", LIM_YAML_DEPTH, dir, 8 + LIM_YAML_DEPTH);
	assert_string_equal(err.msg, want);
}

static void
cfg__database_url_is_never_echoed_in_errors(void **state)
{
	(void)state;
	expect_error("database_url: \"host=db password=s3cret\\x01\"\n", no_env,
	    "database_url: \"***\" contains a control character "
	    "(%s/sluice.yaml:1:15)");
}

static void
cfg__missing_explicit_file_is_not_found(void **state)
{
	char path[256];
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/absent.yaml", dir);
	err_clear(&err);
	assert_int_equal(cfg_load(&c, path, no_env, NULL, 0, &err),
	    ERR_NOTFOUND);
	assert_null(c);
	assert_true(strstr(err.msg, "config file '") == err.msg);
	assert_non_null(strstr(err.msg, "/absent.yaml' does not exist"));
	/* a directory is not a config file either */
	assert_int_equal(cfg_load(&c, dir, no_env, NULL, 0, &err),
	    ERR_INVALID);
	assert_null(c);
	assert_non_null(strstr(err.msg, "' is not a regular file"));
}

static void
cfg__oversized_file_is_too_big(void **state)
{
	size_t len = LIM_CONFIG_FILE + 1;
	char *text = malloc(len);
	const char *path;
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_non_null(text);
	memset(text, '#', len);
	text[len - 1] = '\n';
	path = write_file("big.yaml", text, len);
	free(text);
	err_clear(&err);
	assert_int_equal(cfg_load(&c, path, no_env, NULL, 0, &err),
	    ERR_TOOBIG);
	assert_null(c);
	assert_non_null(strstr(err.msg, "/big.yaml' is larger than 1048576 "
	    "bytes"));
}

static void
cfg__environment_wins_over_the_file(void **state)
{
	char *const env[] = {
		E("HOME=/root"),
		E("SLUICE_LISTEN=0.0.0.0:8443"),
		E("SLUICE_DATABASE_URL=host=db dbname=sluice"),
		E("SLUICE_KUBERNETES_NAMESPACE=from-env"),
		E("SLUICE_KUBERNETES_MAX_GPUS=4"),
		E("SLUICE_POLL_INTERVAL=45s"),
		E("SLUICE_ANONYMOUS_READ=true"),
		E("SLUICE_EXECUTOR=kubernetes"),
		/* not keys: ignored, never errors */
		E("SLUICE_WEBHOOK_SECRET=s3cret"),
		E("SLUICE_BIN=/x/bin/sluice"),
		E("SLUICE_TEST_PG_URL=host=/tmp"),
		E("SLUICE_KUBERNETES=whatever"),
		/* the first of a name wins, like getenv */
		E("SLUICE_LISTEN=127.0.0.1:1"),
		NULL,
	};
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_int_equal(load_text(&c,
	    "listen: 127.0.0.1:9000\n"
	    "kubernetes: { namespace: from-file, burst: 7 }\n"
	    "poll_interval: 10s\n"
	    "repositories: [{ name: a, url: \"https://h/a.git\" },\n"
	    "  { name: b, url: \"https://h/b.git\", interval: 5s }]\n",
	    env, NULL, 0, &err), 0);
	assert_string_equal(c->listen, "0.0.0.0:8443");
	assert_string_equal(c->database_url, "host=db dbname=sluice");
	assert_string_equal(c->kubernetes.namespace, "from-env");
	assert_int_equal(c->kubernetes.burst, 7);
	assert_int_equal(c->kubernetes.max_gpus, 4);
	assert_int_equal(c->poll_interval_ms, 45000);
	assert_int_equal(c->anonymous_read, 1);
	assert_int_equal(c->executor, EXECUTOR_KUBERNETES);
	/* a repository without interval follows the effective default */
	assert_int_equal(c->nrepositories, 2);
	assert_int_equal(c->repositories[0].interval_ms, 45000);
	assert_int_equal(c->repositories[1].interval_ms, 5000);
	cfg_free(c);
}

static void
cfg__bad_environment_value_names_the_variable(void **state)
{
	char *const dur[] = { E("SLUICE_POLL_INTERVAL=5x"), NULL };
	char *const gpus[] = { E("SLUICE_KUBERNETES_MAX_GPUS=lots"), NULL };
	char *const lvl[] = { E("SLUICE_LOG_LEVEL=loud"), NULL };
	char *const empty[] = { E("SLUICE_LISTEN="), NULL };

	(void)state;
	expect_error("", dur, "SLUICE_POLL_INTERVAL: \"5x\" is not a duration");
	expect_error("", gpus,
	    "SLUICE_KUBERNETES_MAX_GPUS: \"lots\" is not an integer");
	expect_error("", lvl, "SLUICE_LOG_LEVEL: \"loud\" is not one of "
	    "debug, info, warn, error");
	expect_error("", empty, "SLUICE_LISTEN: must not be empty");
}

static void
cfg__environment_repositories_replace_the_list(void **state)
{
	char *const env[] = {
		E("SLUICE_REPOSITORIES=[{\"name\": \"x\", \"url\": "
		    "\"ssh://git@h/x.git\", \"branches\": [\"dev\"]}]"),
		NULL,
	};
	char *const none[] = { E("SLUICE_REPOSITORIES=[]"), NULL };
	char *const bad[] = {
		E("SLUICE_REPOSITORIES=[{name: x, url: \"https://h/x\", "
		    "interval: 5x}]"),
		NULL,
	};
	char *const broken[] = { E("SLUICE_REPOSITORIES=[{name: x"), NULL };
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_int_equal(load_text(&c, "repositories:\n  - name: a\n"
	    "    url: https://h/a.git\n", env, NULL, 0, &err), 0);
	assert_int_equal(c->nrepositories, 1);
	assert_string_equal(c->repositories[0].name, "x");
	assert_string_equal(c->repositories[0].url, "ssh://git@h/x.git");
	assert_string_equal(c->repositories[0].branches[0], "dev");
	assert_int_equal(c->repositories[0].interval_ms, 30000);
	cfg_free(c);
	assert_int_equal(load_text(&c, "repositories:\n  - name: a\n"
	    "    url: https://h/a.git\n", none, NULL, 0, &err), 0);
	assert_int_equal(c->nrepositories, 0);
	cfg_free(c);
	expect_error("", bad, "repositories[0].interval: \"5x\" is not a "
	    "duration (SLUICE_REPOSITORIES:1:42)");
	expect_error("", broken, "invalid YAML: did not find expected ',' or "
	    "'}' while parsing a flow mapping (SLUICE_REPOSITORIES:2:1)");
}

static void
cfg__overrides_win_over_everything(void **state)
{
	char *const env[] = {
		E("SLUICE_LISTEN=0.0.0.0:8443"),
		E("SLUICE_KUBERNETES_QPS=50"),
		NULL,
	};
	const struct cfg_override ov[] = {
		{ "listen", "127.0.0.1:7000" },
		{ "kubernetes.qps", "2.5" },
		{ "log_level", "warn" },
		{ "repositories", "[{name: o, url: \"git://h/o.git\"}]" },
	};
	const struct cfg_override unknown[] = { { "kubernetes.qpz", "1" } };
	const struct cfg_override map[] = { { "kubernetes", "x" } };
	const struct cfg_override bad[] = { { "poll_workers", "0" } };
	struct cfg *c = NULL;
	struct err err;

	(void)state;
	assert_int_equal(load_text(&c, "listen: 127.0.0.1:9000\n", env, ov, 4,
	    &err), 0);
	assert_string_equal(c->listen, "127.0.0.1:7000");
	assert_true(c->kubernetes.qps == 2.5);
	assert_int_equal(c->log_level, LOG_WARN);
	assert_int_equal(c->nrepositories, 1);
	assert_string_equal(c->repositories[0].url, "git://h/o.git");
	cfg_free(c);

	assert_int_equal(load_text(&c, "", no_env, unknown, 1, &err),
	    ERR_INVALID);
	assert_null(c);
	assert_string_equal(err.msg, "kubernetes.qpz: unknown key "
	    "(command line)");
	assert_int_equal(load_text(&c, "", no_env, map, 1, &err), ERR_INVALID);
	assert_string_equal(err.msg, "kubernetes: is a mapping, set one of "
	    "its keys (kubernetes.KEY) (command line)");
	assert_int_equal(load_text(&c, "", no_env, bad, 1, &err), ERR_INVALID);
	assert_string_equal(err.msg, "poll_workers: \"0\" is out of range "
	    "(1..64) (command line)");
}

/* The dump of a config loaded from text, into a caller-freed string. */
static char *
dump_of(const char *text)
{
	struct cfg *c = NULL;
	struct err err;
	struct buf b;

	assert_int_equal(load_text(&c, text, no_env, NULL, 0, &err), 0);
	buf_init(&b, 65536);
	assert_int_equal(cfg_dump(c, &b), 0);
	cfg_free(c);
	return buf_detach(&b);
}

static void
cfg__dump_masks_the_database_password(void **state)
{
	static const struct { const char *yaml, *shown; } cases[] = {
		{ "postgresql://u:pw@h/db",
		  "database_url: postgresql://u:***@h/db\n" },
		{ "\"postgres://u:p%40ss@h:5432/db?sslmode=require&password=x\"",
		  "database_url: postgres://u:***@h:5432/db?sslmode=require&"
		  "password=***\n" },
		{ "postgresql://u@h/db",
		  "database_url: postgresql://u@h/db\n" },
		{ "host=db user=u password=pw dbname=sluice",
		  "database_url: \"host=db user=u password=*** dbname=sluice\"\n" },
		{ "\"host=db password = 'p w\\\\' x' dbname=sluice\"",
		  "database_url: \"host=db password=*** dbname=sluice\"\n" },
		{ "\"host=db password='unterminated\"",
		  "database_url: \"***\"\n" },
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d;

		(void)snprintf(text, sizeof(text), "database_url: %s\n",
		    cases[i].yaml);
		d = dump_of(text);
		assert_non_null(strstr(d, cases[i].shown));
		assert_null(strstr(d, "pw"));
		assert_null(strstr(d, "p w"));
		assert_null(strstr(d, "unterminated"));
		free(d);
	}
}

static void
cfg__dump_prints_the_effective_config(void **state)
{
	char *d;

	(void)state;
	d = dump_of(full_yaml);
	assert_non_null(strstr(d, "# file: "));
	assert_non_null(strstr(d, "\nlisten: \"[::1]:9090\"\n"
	    "database_url: postgresql://sluice:***@db.internal:5432/sluice\n"
	    "state_dir: /var/lib/sluice\n"
	    "log_level: debug\n"
	    "log_format: json\n"
	    "executor: kubernetes\n"
	    "max_parallel_stages: 100\n"
	    "kubernetes:\n"
	    "  kubeconfig: /etc/sluice/kubeconfig\n"
	    "  context: prod\n"
	    "  namespace: ml-pipelines\n"
	    "  qps: 7.5\n"
	    "  burst: 15\n"
	    "  max_gpus: 8\n"
	    "  ttl_after_finished: 30m\n"
	    "  checkout_image: registry.local/git:1\n"
	    "poll_interval: 1m\n"
	    "poll_workers: 16\n"
	    "session_ttl: 8h\n"
	    "repositories:\n"
	    "  - name: demo\n"
	    "    url: file:///srv/git/demo.git\n"
	    "    branches: [main, release/v1]\n"
	    "    path: ml/pipelines\n"
	    "    interval: 15s\n"
	    "    auth:\n"
	    "      token_env: GIT_TOKEN\n"
	    "  - name: models-2\n"
	    "    url: git@github.com:acme/models.git\n"
	    "    branches: [main]\n"
	    "    path: pipelines\n"
	    "    interval: 1m\n"
	    "    auth:\n"
	    "      ssh_key_file: /etc/sluice/id_ed25519\n"
	    "      known_hosts_file: /etc/sluice/known_hosts\n"
	    "webhook_secret_env: HOOK_SECRET\n"
	    "anonymous_read: true\n"
	    "web_dir: /usr/share/sluice/web\n"));
	assert_null(strstr(d, "s3cret"));
	free(d);
	d = dump_of("");
	assert_non_null(strstr(d, "kubeconfig: \"\"\n"));
	assert_non_null(strstr(d, "listen: \"127.0.0.1:8080\"\n"));
	assert_non_null(strstr(d, "repositories: []\n"));
	free(d);
}

static void
cfg__dump_reads_back_as_the_same_config(void **state)
{
	struct cfg *a = NULL, *b = NULL;
	struct buf da, db;
	struct err err;

	(void)state;
	/* no password in this URL, so the dump is loadable as is */
	assert_int_equal(load_text(&a, "database_url: postgresql:///x\n"
	    "state_dir: \"a b\"\nkubernetes: { context: \"true\" }\n"
	    "repositories: [{ name: r, url: \"u@h:p\" }]\n", no_env, NULL, 0,
	    &err), 0);
	buf_init(&da, 65536);
	buf_init(&db, 65536);
	assert_int_equal(cfg_dump(a, &da), 0);
	assert_int_equal(load_text(&b, da.data, no_env, NULL, 0, &err), 0);
	assert_int_equal(cfg_dump(b, &db), 0);
	assert_string_equal(strchr(da.data, '\n'), strchr(db.data, '\n'));
	assert_string_equal(b->state_dir, "a b");
	assert_string_equal(b->kubernetes.context, "true");
	buf_release(&da);
	buf_release(&db);
	cfg_free(a);
	cfg_free(b);
}

static void
cfg__repo_check_applies_the_loader_rules(void **state)
{
	char *branches[] = { E("main"), NULL };
	char *bad_branches[] = { E("a..b"), NULL };
	struct cfg_repo r = {
		.name = E("demo"), .url = E("https://h/demo.git"),
		.branches = branches, .nbranches = 1, .path = E("pipelines"),
	};
	struct err err;

	(void)state;
	err_clear(&err);
	assert_int_equal(cfg_repo_check(&r, &err), 0);
	r.url = E("ftp://h");
	assert_int_equal(cfg_repo_check(&r, &err), ERR_INVALID);
	assert_string_equal(err.msg, "url: \"ftp://h\" has an unsupported "
	    "scheme (use file://, https://, http://, ssh://, git:// or "
	    "user@host:path)");
	r.url = E("https://h/demo.git");
	r.branches = bad_branches;
	assert_int_equal(cfg_repo_check(&r, &err), ERR_INVALID);
	assert_string_equal(err.msg,
	    "branches[0]: \"a..b\" is not a valid branch name");
	r.branches = branches;
	r.token_env = E("T");
	r.ssh_key_file = E("/k");
	assert_int_equal(cfg_repo_check(&r, &err), ERR_INVALID);
	assert_string_equal(err.msg,
	    "auth: token_env and ssh_key_file cannot both be set");
	r.ssh_key_file = NULL;
	r.name = NULL;
	assert_int_equal(cfg_repo_check(&r, &err), ERR_INVALID);
	assert_string_equal(err.msg, "name: is required");
}

/*
 * api_env_allowlist: the variables the API may name (auth.token_env);
 * SLUICE_GIT_* by default, '*' for any run, [] for none.
 */
static void
cfg__api_env_allowlist_limits_what_the_api_may_name(void **state)
{
	char *const env[] = { E("SLUICE_API_ENV_ALLOWLIST=[GIT_*, "
	    "VISION_TOKEN]"), NULL };
	char *const none[] = { E("SLUICE_API_ENV_ALLOWLIST=[]"), NULL };
	char *const scalar[] = { E("SLUICE_API_ENV_ALLOWLIST=GIT_*"), NULL };
	char text[128];
	struct cfg *c = NULL;
	struct err err;
	char *d;

	(void)state;
	assert_int_equal(load_text(&c, "", no_env, NULL, 0, &err), 0);
	assert_int_equal(c->napi_env_allowlist, 1);
	assert_true(cfg_api_env_allowed(c, "SLUICE_GIT_TOKEN"));
	assert_false(cfg_api_env_allowed(c, "SLUICE_WEBHOOK_SECRET"));
	assert_false(cfg_api_env_allowed(c, "PGPASSWORD"));
	assert_false(cfg_api_env_allowed(c, "X_SLUICE_GIT_TOKEN"));
	cfg_api_env_allowlist_text(c, text, sizeof(text));
	assert_string_equal(text, "SLUICE_GIT_*");
	cfg_free(c);

	assert_int_equal(load_text(&c, "api_env_allowlist: [A_*_TOKEN, B]\n",
	    no_env, NULL, 0, &err), 0);
	assert_true(cfg_api_env_allowed(c, "A_X_TOKEN"));
	assert_true(cfg_api_env_allowed(c, "B"));
	assert_false(cfg_api_env_allowed(c, "BB"));
	assert_false(cfg_api_env_allowed(c, "SLUICE_GIT_TOKEN"));
	cfg_api_env_allowlist_text(c, text, sizeof(text));
	assert_string_equal(text, "A_*_TOKEN, B");
	cfg_free(c);

	assert_int_equal(load_text(&c, "", env, NULL, 0, &err), 0);
	assert_true(cfg_api_env_allowed(c, "GIT_X"));
	assert_true(cfg_api_env_allowed(c, "VISION_TOKEN"));
	cfg_free(c);
	assert_int_equal(load_text(&c, "", none, NULL, 0, &err), 0);
	assert_int_equal(c->napi_env_allowlist, 0);
	assert_false(cfg_api_env_allowed(c, "SLUICE_GIT_TOKEN"));
	cfg_api_env_allowlist_text(c, text, sizeof(text));
	assert_string_equal(text, "none");
	cfg_free(c);

	expect_error("api_env_allowlist: [\"A-B\"]\n", no_env,
	    "api_env_allowlist[0]: \"A-B\" is not a variable name pattern "
	    "(letters, digits, '_' and '*' for any run of characters) "
	    "(%s/sluice.yaml:1:21)");
	expect_error("", scalar, "api_env_allowlist: expected a sequence, "
	    "found a scalar (SLUICE_API_ENV_ALLOWLIST:1:1)");
	d = dump_of("api_env_allowlist: [X_*, ZZ]\n");
	assert_non_null(strstr(d, "\napi_env_allowlist: [X_*, ZZ]\n"));
	free(d);
	d = dump_of("api_env_allowlist: []\n");
	assert_non_null(strstr(d, "\napi_env_allowlist: []\n"));
	free(d);
}

static void
cfg__notifications_and_commit_statuses_are_checked(void **state)
{
	struct cfg *c = NULL;
	struct err err;
	char *d;

	(void)state;
	assert_int_equal(load_text(&c, "public_url: https://sluice.example.com/\n"
	    "notifications:\n"
	    "  - {name: team, url_env: SLACK_URL, events: [run_failed]}\n"
	    "  - name: hook\n    url_env: HOOK_URL\n    format: json\n"
	    "    secret_env: HOOK_KEY\n"
	    "    events: [approval_requested, model_promoted]\n"
	    "repositories:\n  - name: demo\n    url: https://x.example/a.git\n"
	    "    commit_status: {provider: gitlab, token_env: GL, "
	    "project: acme/ml}\n", no_env, NULL, 0, &err), 0);
	assert_string_equal(c->public_url, "https://sluice.example.com/");
	assert_int_equal(c->nnotifications, 2);
	assert_string_equal(c->notifications[0].format, "slack");
	assert_int_equal(c->notifications[1].nevents, 2);
	assert_string_equal(c->notifications[1].secret_env, "HOOK_KEY");
	assert_string_equal(c->repositories[0].cs_provider, "gitlab");
	assert_string_equal(c->repositories[0].cs_project, "acme/ml");
	assert_null(c->repositories[0].cs_api_url);
	cfg_free(c);
	expect_error("notifications:\n  - {name: a, url_env: U, events: "
	    "[run_done]}\n", no_env, "notifications[0].events[0]: "
	    "\"run_done\" is not an event (approval_requested, run_failed, "
	    "model_promoted, rollout_rolled_back) (%s/sluice.yaml:2:36)");
	expect_error("notifications:\n  - {name: a, url_env: U, events: []}\n",
	    no_env, "notifications[0].events: must be a non-empty list "
	    "(%s/sluice.yaml:2:35)");
	expect_error("notifications:\n  - {name: a, url_env: U, format: json, "
	    "events: [run_failed]}\n", no_env, "notifications[0]: "
	    "\"secret_env\" is required with format json (the key of "
	    "X-Sluice-Signature-256) (%s/sluice.yaml:2:5)");
	expect_error("notifications:\n  - {name: a, events: [run_failed]}\n",
	    no_env, "notifications[0]: \"url_env\" is required "
	    "(%s/sluice.yaml:2:5)");
	expect_error("notifications:\n  - {name: a, url_env: U, events: "
	    "[run_failed]}\n  - {name: a, url_env: V, events: [run_failed]}\n",
	    no_env, "notifications[1].name: \"a\" is a duplicate of "
	    "notifications[0].name (%s/sluice.yaml:3:12)");
	expect_error("public_url: ftp://x\n", no_env, "public_url: \"ftp://x\" "
	    "is not an http:// or https:// URL (%s/sluice.yaml:1:13)");
	expect_error("repositories:\n  - name: demo\n    url: file:///r\n"
	    "    commit_status: {provider: github, token_env: T}\n", no_env,
	    "repositories[0].commit_status: \"repo\" (owner/name) is required "
	    "with provider github (%s/sluice.yaml:4:20)");
	expect_error("repositories:\n  - name: demo\n    url: file:///r\n"
	    "    commit_status: {provider: bitbucket}\n", no_env,
	    "repositories[0].commit_status.provider: \"bitbucket\" is not a "
	    "commit status provider (github or gitlab) (%s/sluice.yaml:4:31)");
	expect_error("repositories:\n  - name: demo\n    url: file:///r\n"
	    "    commit_status: {provider: github, token_env: T, repo: acme}\n",
	    no_env, "repositories[0].commit_status.repo: \"acme\" is not "
	    "owner/name (%s/sluice.yaml:4:59)");
	d = dump_of("notifications:\n  - {name: a, url_env: U, events: "
	    "[run_failed]}\n");
	assert_non_null(strstr(d, "\nnotifications:\n  - name: a\n"
	    "    url_env: U\n    format: slack\n    events: [run_failed]\n"));
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cfg__defaults_without_a_file),
		cmocka_unit_test(cfg__reads_sluice_yaml_of_the_working_directory),
		cmocka_unit_test(cfg__full_file_sets_every_key),
		cmocka_unit_test(cfg__empty_file_and_nulls_keep_defaults),
		cmocka_unit_test(cfg__bad_files_fail_with_the_key_path),
		cmocka_unit_test(cfg__pod_identity_and_checkout_secrets),
		cmocka_unit_test(cfg__deep_nesting_is_refused_before_parsing_it_all),
		cmocka_unit_test(cfg__database_url_is_never_echoed_in_errors),
		cmocka_unit_test(cfg__missing_explicit_file_is_not_found),
		cmocka_unit_test(cfg__oversized_file_is_too_big),
		cmocka_unit_test(cfg__environment_wins_over_the_file),
		cmocka_unit_test(cfg__bad_environment_value_names_the_variable),
		cmocka_unit_test(cfg__environment_repositories_replace_the_list),
		cmocka_unit_test(cfg__overrides_win_over_everything),
		cmocka_unit_test(cfg__dump_masks_the_database_password),
		cmocka_unit_test(cfg__dump_prints_the_effective_config),
		cmocka_unit_test(cfg__dump_reads_back_as_the_same_config),
		cmocka_unit_test(cfg__repo_check_applies_the_loader_rules),
		cmocka_unit_test(cfg__api_env_allowlist_limits_what_the_api_may_name),
		cmocka_unit_test(cfg__notifications_and_commit_statuses_are_checked),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
