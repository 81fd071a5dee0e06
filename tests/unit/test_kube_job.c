/* test_kube_job.c - the Job manifest builder (a pure function). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "kube/kube_job.h"

static const char *const argv_train[] = { "python3", "train.py", "--epochs",
    "10" };
static const struct exec_env env_train[] = {
	{ "SLUICE_RUN_ID", "42" }, { "SLUICE_STAGE", "train" },
	{ "SLUICE_ATTEMPT", "1" },
};
static const struct exec_kv selector[] = {
	{ "nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB" },
};
static const struct exec_toleration tolerations[] = {
	{ "nvidia.com/gpu", "Exists", NULL, "NoSchedule", -1 },
};
static const struct exec_volume volumes[] = {
	{ "fraud-data", "/data", 1 },
};

static struct exec_attempt
gpu_attempt(void)
{
	struct exec_attempt a;

	memset(&a, 0, sizeof(a));
	a.name = "sluice-42-train-1";
	a.run_id = 42;
	a.pipeline = "fraud-detector";
	a.stage = "train";
	a.attempt = 1;
	a.kind = "job";
	a.image = "ghcr.io/acme/fraud:1.4";
	a.argv = argv_train;
	a.argc = 4;
	a.env = env_train;
	a.nenv = 3;
	a.timeout_ms = 2 * 3600 * 1000 + 1;
	a.cpu = "4";
	a.memory = "16Gi";
	a.gpus = 1;
	a.gpu_resource = "nvidia.com/mig-1g.10gb";
	a.node_selector = selector;
	a.nnode_selector = 1;
	a.tolerations = tolerations;
	a.ntolerations = 1;
	a.queue = "team-a";
	a.priority_class = "ml-high";
	a.volumes = volumes;
	a.nvolumes = 1;
	return a;
}

static const struct kube_job_opts opts = { .namespace = "ml",
    .ttl_after_finished_s = 3600, .checkout_image = "alpine/git:2.45.2" };

/* A manifest built by fn (the Job's or the Service's), parsed. */
static json_t *
build_with(int (*fn)(const struct exec_attempt *,
    const struct kube_job_opts *, char **, struct err *),
    const struct exec_attempt *a)
{
	struct err err;
	json_error_t jerr;
	char *text = NULL;
	json_t *j;

	if (fn(a, &opts, &text, &err) < 0)
		fail_msg("manifest: %s", err.msg);
	j = json_loads(text, 0, &jerr);
	free(text);
	assert_non_null(j);
	return j;
}

static json_t *
build(const struct exec_attempt *a)
{
	return build_with(kube_job_manifest, a);
}

static const char *
str_at(json_t *j, const char *path)
{
	json_t *v = j;
	char buf[256], *save = NULL, *tok;

	(void)snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, "/", &save); tok != NULL && v != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		char *t;

		/* "~1" stands for '/' inside a key */
		while ((t = strstr(tok, "~1")) != NULL) {
			*t = '/';
			memmove(t + 1, t + 2, strlen(t + 2) + 1);
		}
		if (json_is_array(v))
			v = json_array_get(v, strtoul(tok, NULL, 10));
		else
			v = json_object_get(v, tok);
	}
	if (json_is_integer(v)) {
		static char num[32];
		(void)snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		return num;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return json_is_string(v) ? json_string_value(v) : "(missing)";
}

#define EXPECT(j, path, want) assert_string_equal(str_at(j, path), want)

static void
kube_job__gpu_stage_maps_every_field(void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j = build(&a);

	(void)state;
	EXPECT(j, "apiVersion", "batch/v1");
	EXPECT(j, "metadata/name", "sluice-42-train-1");
	EXPECT(j, "metadata/namespace", "ml");
	EXPECT(j, "metadata/labels/app.kubernetes.io~1managed-by", "sluice");
	EXPECT(j, "spec/backoffLimit", "0");
	EXPECT(j, "spec/suspend", "true");
	EXPECT(j, "spec/activeDeadlineSeconds", "7201");
	EXPECT(j, "spec/ttlSecondsAfterFinished", "3600");
	EXPECT(j, "spec/template/spec/restartPolicy", "Never");
	EXPECT(j, "spec/template/spec/priorityClassName", "ml-high");
	EXPECT(j, "spec/template/spec/nodeSelector/nvidia.com~1gpu.product",
	    "NVIDIA-A100-SXM4-80GB");
	EXPECT(j, "spec/template/spec/tolerations/0/operator", "Exists");
	EXPECT(j, "spec/template/spec/tolerations/0/effect", "NoSchedule");
	EXPECT(j, "spec/template/spec/containers/0/image",
	    "ghcr.io/acme/fraud:1.4");
	EXPECT(j, "spec/template/spec/containers/0/command/3", "10");
	EXPECT(j, "spec/template/spec/containers/0/env/0/name",
	    "SLUICE_RUN_ID");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "runAsNonRoot", "true");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "allowPrivilegeEscalation", "false");
	EXPECT(j, "spec/template/spec/volumes/0/persistentVolumeClaim/"
	    "claimName", "fraud-data");
	EXPECT(j, "spec/template/spec/containers/0/volumeMounts/0/mountPath",
	    "/data");
	json_decref(j);
}

/* Keys with '/' are written with "~1" (JSON pointer style) in the paths. */
static void
kube_job__labels_and_gpu_resources(void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j = build(&a), *labels, *res;

	(void)state;
	labels = json_object_get(json_object_get(j, "metadata"), "labels");
	assert_string_equal(json_string_value(json_object_get(labels,
	    "sluice/run")), "42");
	assert_string_equal(json_string_value(json_object_get(labels,
	    "sluice/stage")), "train");
	assert_string_equal(json_string_value(json_object_get(labels,
	    "sluice/attempt")), "1");
	assert_string_equal(json_string_value(json_object_get(labels,
	    "sluice/pipeline")), "fraud-detector");
	assert_string_equal(json_string_value(json_object_get(labels,
	    "kueue.x-k8s.io/queue-name")), "team-a");
	res = json_object_get(json_array_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(j, "spec"), "template"), "spec"),
	    "containers"), 0), "resources");
	/* GPUs: equal requests and limits of the MIG resource */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    res, "requests"), "nvidia.com/mig-1g.10gb")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    res, "limits"), "nvidia.com/mig-1g.10gb")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    res, "requests"), "cpu")), "4");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    res, "requests"), "memory")), "16Gi");
	json_decref(j);
}

static void
kube_job__checkout_adds_an_init_container_and_workspace(void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j, *pod;

	(void)state;
	a.checkout = 1;
	a.repo_url = "https://git.example.com/acme/fraud.git";
	a.commit = "0123456789abcdef0123456789abcdef01234567";
	a.queue = NULL;
	j = build(&a);
	pod = json_object_get(json_object_get(json_object_get(j, "spec"),
	    "template"), "spec");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(pod, "initContainers"), 0), "image")),
	    "alpine/git:2.45.2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(pod, "containers"), 0), "workingDir")),
	    "/workspace");
	assert_non_null(json_object_get(json_array_get(json_object_get(pod,
	    "volumes"), 1), "emptyDir"));
	/* without a queue the job is not suspended */
	assert_null(json_object_get(json_object_get(j, "spec"), "suspend"));
	json_decref(j);
}

static void
kube_job__checkout_url_never_carries_a_password(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct err err;
	char *x = NULL;

	(void)state;
	a.checkout = 1;
	a.repo_url = "https://bot:s3cr3t@git.example.com/acme/fraud.git";
	a.commit = "0123456789abcdef0123456789abcdef01234567";
	assert_int_equal(kube_job_manifest(&a, &opts, &x, &err), 0);
	assert_null(strstr(x, "s3cr3t"));
	assert_non_null(strstr(x, "https://bot@git.example.com/acme/fraud.git"));
	free(x);
}

static void
kube_job__same_attempt_gives_the_same_bytes(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct err err;
	char *x = NULL, *y = NULL;

	(void)state;
	assert_int_equal(kube_job_manifest(&a, &opts, &x, &err), 0);
	assert_int_equal(kube_job_manifest(&a, &opts, &y, &err), 0);
	assert_string_equal(x, y);
	free(x);
	free(y);
}

static void
kube_job__refuses_what_cannot_be_a_job(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct err err;
	char *out = NULL;

	(void)state;
	a.name = "Sluice_42";
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "DNS-1123"));
	a = gpu_attempt();
	a.image = NULL;
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "no image"));
	a = gpu_attempt();
	a.checkout = 1;
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_null(out);
}

static json_t *
pod_of(json_t *j)
{
	return json_object_get(json_object_get(json_object_get(j, "spec"),
	    "template"), "spec");
}

static void
kube_job__default_identity_is_non_root_65532_without_token(void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j = build(&a), *pod = pod_of(j);

	(void)state;
	EXPECT(j, "spec/template/spec/securityContext/runAsUser", "65532");
	EXPECT(j, "spec/template/spec/securityContext/fsGroup", "65532");
	EXPECT(j, "spec/template/spec/securityContext/runAsNonRoot", "true");
	EXPECT(j, "spec/template/spec/securityContext/runAsGroup",
	    "(missing)");
	EXPECT(j, "spec/template/spec/automountServiceAccountToken", "false");
	assert_null(json_object_get(pod, "serviceAccountName"));
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "capabilities/drop/0", "ALL");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "seccompProfile/type", "RuntimeDefault");
	json_decref(j);
}

static void
kube_job__stage_identity_sets_exactly_what_is_given(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct podsec sc;
	json_t *j, *pod;

	(void)state;
	podsec_init(&sc);
	sc.set = 1;
	sc.id[PODSEC_RUN_AS_USER] = 1000;
	sc.id[PODSEC_RUN_AS_GROUP] = 1001;
	sc.id[PODSEC_FS_GROUP] = 1002;
	sc.run_as_non_root = 1;
	a.security_context = &sc;
	a.service_account = "trainer";
	j = build(&a);
	pod = pod_of(j);
	EXPECT(j, "spec/template/spec/serviceAccountName", "trainer");
	/* the account's own automount setting decides */
	assert_null(json_object_get(pod, "automountServiceAccountToken"));
	EXPECT(j, "spec/template/spec/securityContext/runAsUser", "1000");
	EXPECT(j, "spec/template/spec/securityContext/runAsGroup", "1001");
	EXPECT(j, "spec/template/spec/securityContext/fsGroup", "1002");
	EXPECT(j, "spec/template/spec/securityContext/runAsNonRoot", "true");
	/* the container keeps its hardening and carries no identity */
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "allowPrivilegeEscalation", "false");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "capabilities/drop/0", "ALL");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "runAsUser", "(missing)");
	json_decref(j);

	/* root, and nothing else: no runAsNonRoot, no groups */
	podsec_init(&sc);
	sc.set = 1;
	sc.id[PODSEC_RUN_AS_USER] = 0;
	j = build(&a);
	EXPECT(j, "spec/template/spec/securityContext/runAsUser", "0");
	EXPECT(j, "spec/template/spec/securityContext/runAsNonRoot",
	    "(missing)");
	EXPECT(j, "spec/template/spec/securityContext/fsGroup", "(missing)");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "runAsNonRoot", "(missing)");
	EXPECT(j, "spec/template/spec/containers/0/securityContext/"
	    "allowPrivilegeEscalation", "false");
	json_decref(j);
}

static void
kube_job__cluster_default_applies_when_the_stage_gives_none(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct kube_job_opts o = opts;
	struct err err;
	json_error_t jerr;
	char *text = NULL;
	json_t *j;

	(void)state;
	podsec_init(&o.security_context);
	o.security_context.set = 1;
	o.security_context.id[PODSEC_RUN_AS_USER] = 2000;
	o.security_context.run_as_non_root = 1;
	assert_int_equal(kube_job_manifest(&a, &o, &text, &err), 0);
	j = json_loads(text, 0, &jerr);
	free(text);
	EXPECT(j, "spec/template/spec/securityContext/runAsUser", "2000");
	EXPECT(j, "spec/template/spec/securityContext/fsGroup", "(missing)");
	json_decref(j);
}

static void
kube_job__credentials_secret_is_mounted_only_into_the_init_container(
    void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j, *pod, *vols, *v, *init;
	struct err err;
	char *text = NULL;
	size_t i;
	int found = 0;

	(void)state;
	a.checkout = 1;
	a.repo_url = "https://git.example.com/acme/private.git";
	a.commit = "0123456789abcdef0123456789abcdef01234567";
	a.checkout_secret = "acme-git";
	j = build(&a);
	pod = pod_of(j);
	vols = json_object_get(pod, "volumes");
	json_array_foreach(vols, i, v) {
		json_t *sec = json_object_get(v, "secret");

		if (sec == NULL)
			continue;
		found++;
		assert_string_equal(json_string_value(json_object_get(v,
		    "name")), "git-credentials");
		assert_string_equal(json_string_value(json_object_get(sec,
		    "secretName")), "acme-git");
		assert_int_equal(json_integer_value(json_object_get(sec,
		    "defaultMode")), 0400);
	}
	assert_int_equal(found, 1);
	init = json_array_get(json_object_get(pod, "initContainers"), 0);
	EXPECT(init, "volumeMounts/1/name", "git-credentials");
	EXPECT(init, "volumeMounts/1/mountPath", "/etc/sluice/git");
	EXPECT(init, "volumeMounts/1/readOnly", "true");
	/* the stage container never sees it */
	json_array_foreach(json_object_get(json_array_get(json_object_get(pod,
	    "containers"), 0), "volumeMounts"), i, v)
		assert_string_not_equal(json_string_value(json_object_get(v,
		    "name")), "git-credentials");
	/* no credential reaches the spec: no env from Secrets either */
	assert_int_equal(kube_job_manifest(&a, &opts, &text, &err), 0);
	assert_null(strstr(text, "secretKeyRef"));
	assert_null(strstr(text, "valueFrom"));
	assert_non_null(strstr(text, "GIT_SSH_COMMAND"));
	free(text);
	json_decref(j);

	/* without a secret, no volume and no mount */
	a.checkout_secret = NULL;
	assert_int_equal(kube_job_manifest(&a, &opts, &text, &err), 0);
	assert_null(strstr(text, "git-credentials"));
	free(text);
	/* a name Kubernetes would refuse is refused here */
	a.checkout_secret = "Not_A_Name";
	assert_int_equal(kube_job_manifest(&a, &opts, &text, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "Not_A_Name"));
	a.checkout_secret = NULL;
	a.service_account = "bad/name";
	assert_int_equal(kube_job_manifest(&a, &opts, &text, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "service account"));
}

/* The env entry called name in the stage container, or NULL. */
static json_t *
env_entry(json_t *job, const char *name)
{
	json_t *tmpl = json_object_get(json_object_get(job, "spec"),
	    "template");
	json_t *ctr = json_array_get(json_object_get(json_object_get(tmpl,
	    "spec"), "containers"), 0);
	json_t *env = json_object_get(ctr, "env");
	size_t i;
	json_t *e;

	json_array_foreach(env, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")),
		    name) == 0)
			return e;
	}
	return NULL;
}

static void
kube_job__four_nodes_make_one_indexed_job_behind_a_headless_service(
    void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j, *s, *e;

	(void)state;
	a.nodes = 4;
	a.gpus = 8;
	a.gpu_resource = "nvidia.com/gpu";
	j = build(&a);
	EXPECT(j, "spec/completionMode", "Indexed");
	EXPECT(j, "spec/completions", "4");
	EXPECT(j, "spec/parallelism", "4");
	EXPECT(j, "spec/backoffLimit", "0");
	EXPECT(j, "spec/suspend", "true");	/* Kueue admits the gang */
	EXPECT(j, "metadata/labels/kueue.x-k8s.io~1queue-name", "team-a");
	EXPECT(j, "spec/template/spec/subdomain", "sluice-42-train-1");
	/* GPUs are per pod */
	EXPECT(j, "spec/template/spec/containers/0/resources/limits/"
	    "nvidia.com~1gpu", "8");
	e = env_entry(j, "SLUICE_NODE_RANK");
	assert_non_null(e);
	assert_null(json_object_get(e, "value"));
	EXPECT(e, "valueFrom/fieldRef/fieldPath", "metadata.annotations["
	    "'batch.kubernetes.io/job-completion-index']");
	EXPECT(env_entry(j, "SLUICE_NUM_NODES"), "value", "4");
	EXPECT(env_entry(j, "SLUICE_MASTER_ADDR"), "value",
	    "sluice-42-train-1-0.sluice-42-train-1");
	EXPECT(env_entry(j, "SLUICE_MASTER_PORT"), "value", "29500");
	/* the stage's own environment is still there */
	EXPECT(env_entry(j, "SLUICE_STAGE"), "value", "train");

	s = build_with(kube_service_manifest, &a);
	EXPECT(s, "apiVersion", "v1");
	EXPECT(s, "kind", "Service");
	EXPECT(s, "metadata/name", "sluice-42-train-1");
	EXPECT(s, "metadata/namespace", "ml");
	EXPECT(s, "metadata/labels/sluice~1run", "42");
	EXPECT(s, "metadata/labels/app.kubernetes.io~1managed-by", "sluice");
	assert_null(json_object_get(json_object_get(json_object_get(s,
	    "metadata"), "labels"), "kueue.x-k8s.io/queue-name"));
	EXPECT(s, "spec/clusterIP", "None");
	EXPECT(s, "spec/publishNotReadyAddresses", "true");
	EXPECT(s, "spec/selector/batch.kubernetes.io~1job-name",
	    "sluice-42-train-1");
	json_decref(s);
	json_decref(j);
}

static void
kube_job__one_node_stays_a_plain_job(void **state)
{
	struct exec_attempt a = gpu_attempt();
	json_t *j;

	(void)state;
	a.nodes = 1;
	j = build(&a);
	EXPECT(j, "spec/completionMode", "(missing)");
	EXPECT(j, "spec/completions", "(missing)");
	EXPECT(j, "spec/template/spec/subdomain", "(missing)");
	assert_null(env_entry(j, "SLUICE_NODE_RANK"));
	assert_null(env_entry(j, "SLUICE_MASTER_ADDR"));
	assert_int_equal(kube_job_is_multinode(&a), 0);
	a.nodes = 0;		/* unset reads as one node */
	assert_int_equal(kube_job_is_multinode(&a), 0);
	json_decref(j);
}

static void
kube_job__refuses_nodes_whose_host_names_cannot_fit(void **state)
{
	struct exec_attempt a = gpu_attempt();
	struct err err;
	char *out = NULL;
	/* 62 characters: "<name>-1" is 64 */
	const char *longname =
	    "sluice-42-abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij-1";

	(void)state;
	a.name = longname;
	a.nodes = 2;
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_null(out);
	assert_non_null(strstr(err.msg, "host names of 2 nodes"));
	a.nodes = 1;		/* a single node has no host name to fit */
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err), 0);
	free(out);
	out = NULL;
	a = gpu_attempt();
	a.nodes = 100000;
	assert_int_equal(kube_job_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "100000 nodes"));
	a = gpu_attempt();
	a.name = "Bad_Name";
	a.nodes = 2;
	assert_int_equal(kube_service_manifest(&a, &opts, &out, &err),
	    ERR_INVALID);
	assert_null(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kube_job__gpu_stage_maps_every_field),
		cmocka_unit_test(kube_job__labels_and_gpu_resources),
		cmocka_unit_test(
		    kube_job__checkout_adds_an_init_container_and_workspace),
		cmocka_unit_test(kube_job__checkout_url_never_carries_a_password),
		cmocka_unit_test(kube_job__same_attempt_gives_the_same_bytes),
		cmocka_unit_test(
		    kube_job__default_identity_is_non_root_65532_without_token),
		cmocka_unit_test(
		    kube_job__stage_identity_sets_exactly_what_is_given),
		cmocka_unit_test(
		    kube_job__cluster_default_applies_when_the_stage_gives_none),
		cmocka_unit_test(
		    kube_job__credentials_secret_is_mounted_only_into_the_init_container),
		cmocka_unit_test(kube_job__refuses_what_cannot_be_a_job),
		cmocka_unit_test(
		    kube_job__four_nodes_make_one_indexed_job_behind_a_headless_service),
		cmocka_unit_test(kube_job__one_node_stays_a_plain_job),
		cmocka_unit_test(
		    kube_job__refuses_nodes_whose_host_names_cannot_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
