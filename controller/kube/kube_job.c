/*
 * kube_job.c - the Job manifest builder; see kube_job.h.  jansson stays in
 * this file: the manifest leaves as text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "git/gitsrc.h"
#include "kube/kube_job.h"
#include "pipeline/k8s_names.h"

static json_t *
labels_of(const struct exec_attempt *a)
{
	char num[32];
	json_t *l = json_object();

	json_object_set_new(l, "app.kubernetes.io/managed-by",
	    json_string("sluice"));
	(void)snprintf(num, sizeof(num), "%lld", (long long)a->run_id);
	json_object_set_new(l, "sluice/run", json_string(num));
	json_object_set_new(l, "sluice/stage", json_string(a->stage));
	(void)snprintf(num, sizeof(num), "%d", a->attempt);
	json_object_set_new(l, "sluice/attempt", json_string(num));
	json_object_set_new(l, "sluice/pipeline", json_string(a->pipeline));
	json_object_set_new(l, "sluice/kind",
	    json_string(a->kind ? a->kind : "job"));
	(void)snprintf(num, sizeof(num), "%d", a->step);
	json_object_set_new(l, "sluice/step", json_string(num));
	if (a->queue != NULL)
		json_object_set_new(l, "kueue.x-k8s.io/queue-name",
		    json_string(a->queue));
	return l;
}

static json_t *
resources_of(const struct exec_attempt *a)
{
	json_t *req = json_object(), *lim = json_object(), *r = json_object();

	if (a->cpu != NULL)
		json_object_set_new(req, "cpu", json_string(a->cpu));
	if (a->memory != NULL) {
		json_object_set_new(req, "memory", json_string(a->memory));
		/* a memory limit equal to the request: no surprise OOM kills
		 * from neighbours, and what the stage asked for is what it has */
		json_object_set_new(lim, "memory", json_string(a->memory));
	}
	if (a->gpus > 0) {
		const char *res = a->gpu_resource ? a->gpu_resource :
		    "nvidia.com/gpu";

		json_object_set_new(req, res, json_integer(a->gpus));
		json_object_set_new(lim, res, json_integer(a->gpus));
	}
	json_object_set_new(r, "requests", req);
	json_object_set_new(r, "limits", lim);
	return r;
}

/* The security context of a container: hardening, never identity. */
static json_t *
container_security(const struct podsec *sc)
{
	json_t *o = json_pack("{s:b, s:{s:[s]}, s:{s:s}}",
	    "allowPrivilegeEscalation", 0, "capabilities", "drop", "ALL",
	    "seccompProfile", "type", "RuntimeDefault");

	if (sc->run_as_non_root >= 0)
		json_object_set_new(o, "runAsNonRoot",
		    json_boolean(sc->run_as_non_root));
	return o;
}

int
kube_job_is_multinode(const struct exec_attempt *a)
{
	return a->nodes > 1;
}

/* The decimal digits of n >= 0. */
static size_t
digits(int n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/*
 * Whether a multi-node attempt can be one: the node count within the
 * hard cap, and the Job controller's host names <job>-<index> still
 * DNS-1123 labels (at most 63 characters).
 */
static int
check_nodes(const struct exec_attempt *a, struct err *err)
{
	if (!kube_job_is_multinode(a))
		return 0;
	if (a->nodes > LIM_STAGE_NODES)
		return err_set(err, ERR_INVALID, "stage '%s' asks for %d nodes "
		    "(the limit is %d)", a->stage, a->nodes, LIM_STAGE_NODES);
	if (strlen(a->name) + 1 + digits(a->nodes - 1) > LIM_NAME)
		return err_set(err, ERR_INVALID, "job name '%s' leaves no room "
		    "for the host names of %d nodes (<job>-<index> must fit "
		    "in %d characters): shorten the stage name", a->name,
		    a->nodes, LIM_NAME);
	return 0;
}

/*
 * The rendezvous environment of a multi-node pod, appended to env:
 * the rank from the completion index, the node count, and where rank 0
 * listens.
 */
static void
add_rendezvous_env(json_t *env, const struct exec_attempt *a)
{
	char num[32], master[2 * LIM_NAME + 16];

	json_array_append_new(env, json_pack("{s:s, s:{s:{s:s}}}", "name",
	    "SLUICE_NODE_RANK", "valueFrom", "fieldRef", "fieldPath",
	    "metadata.annotations['" KUBE_COMPLETION_INDEX "']"));
	(void)snprintf(num, sizeof(num), "%d", a->nodes);
	json_array_append_new(env, json_pack("{s:s, s:s}", "name",
	    "SLUICE_NUM_NODES", "value", num));
	(void)snprintf(master, sizeof(master), "%s-0.%s", a->name, a->name);
	json_array_append_new(env, json_pack("{s:s, s:s}", "name",
	    "SLUICE_MASTER_ADDR", "value", master));
	(void)snprintf(num, sizeof(num), "%d", STAGE_MASTER_PORT);
	json_array_append_new(env, json_pack("{s:s, s:s}", "name",
	    "SLUICE_MASTER_PORT", "value", num));
}

/* Make spec an Indexed Job of a->nodes pods behind the Service. */
static void
make_indexed(json_t *spec, json_t *pod, const struct exec_attempt *a)
{
	json_object_set_new(spec, "completionMode", json_string("Indexed"));
	json_object_set_new(spec, "completions", json_integer(a->nodes));
	json_object_set_new(spec, "parallelism", json_integer(a->nodes));
	json_object_set_new(pod, "subdomain", json_string(a->name));
}

static int
check_name(const struct exec_attempt *a, struct err *err)
{
	if (a->name == NULL || k8s_check_dns1123_label(a->name) != NULL)
		return err_set(err, ERR_INVALID, "job name '%s' is not a "
		    "DNS-1123 label of at most 63 characters",
		    a->name ? a->name : "");
	return 0;
}

int
kube_service_manifest(const struct exec_attempt *a,
    const struct kube_job_opts *o, char **out, struct err *err)
{
	json_t *svc = NULL, *labels;
	int rc;

	*out = NULL;
	if ((rc = check_name(a, err)) < 0)
		return rc;
	/* Kueue manages the Job; a queue label here would be noise */
	labels = labels_of(a);
	json_object_del(labels, "kueue.x-k8s.io/queue-name");
	svc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:b, s:{s:s}}}",
	    "apiVersion", "v1", "kind", "Service",
	    "metadata", "name", a->name, "namespace",
	    o->namespace ? o->namespace : "default", "labels", labels,
	    "spec", "clusterIP", "None", "publishNotReadyAddresses", 1,
	    "selector", KUBE_JOB_NAME_LABEL, a->name);
	if (svc == NULL)
		return err_set(err, ERR_INVALID, "stage '%s': a value is not "
		    "valid UTF-8", a->stage ? a->stage : "");
	if ((*out = json_dumps(svc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		rc = err_set(err, ERR_NOMEM, "cannot serialize the service");
	json_decref(svc);
	return rc;
}

/* The pod's securityContext: exactly the keys given, and seccomp. */
static json_t *
pod_security(const struct podsec *sc)
{
	static const char *const names[] = { "runAsUser", "runAsGroup",
	    "fsGroup" };
	json_t *o = json_pack("{s:{s:s}}", "seccompProfile", "type",
	    "RuntimeDefault");

	for (size_t i = 0; i < 3; i++) {
		if (sc->id[i] >= 0)
			json_object_set_new(o, names[i],
			    json_integer(sc->id[i]));
	}
	if (sc->run_as_non_root >= 0)
		json_object_set_new(o, "runAsNonRoot",
		    json_boolean(sc->run_as_non_root));
	return o;
}

/*
 * The clone script of the checkout init container; values come as env.
 * With the credentials Secret mounted at KUBE_JOB_CREDENTIALS_DIR, git
 * asks a credential helper that reads its files (https), or ssh uses its
 * key and known_hosts; nothing is copied or printed.
 */
static const char checkout_script[] =
    "set -eu\n"
    "c=" KUBE_JOB_CREDENTIALS_DIR "\n"
    "h=\n"
    "if [ -d \"$c\" ]; then\n"
    "  if [ -f \"$c/ssh-privatekey\" ]; then\n"
    "    if [ ! -f \"$c/known_hosts\" ]; then\n"
    "      echo \"checkout: the credentials Secret has ssh-privatekey but "
    "no known_hosts\" >&2\n"
    "      exit 1\n"
    "    fi\n"
    "    export GIT_SSH_COMMAND=\"ssh -i $c/ssh-privatekey "
    "-o IdentitiesOnly=yes -o UserKnownHostsFile=$c/known_hosts "
    "-o StrictHostKeyChecking=yes\"\n"
    "  fi\n"
    "  h='!f() { test \"$1\" = get || exit 0; c=" KUBE_JOB_CREDENTIALS_DIR "; "
    "if [ -f $c/token ]; then "
    "echo username=$(cat $c/username 2>/dev/null || echo x-access-token); "
    "echo password=$(cat $c/token); "
    "elif [ -f $c/password ]; then "
    "echo username=$(cat $c/username); echo password=$(cat $c/password); "
    "fi; }; f'\n"
    "fi\n"
    "git init -q /workspace\n"
    "cd /workspace\n"
    "git remote add origin \"$SLUICE_REPO_URL\"\n"
    "git -c credential.helper=\"$h\" fetch -q --depth 1 origin "
    "\"$SLUICE_COMMIT\" || "
    "git -c credential.helper=\"$h\" fetch -q origin\n"
    "git -c advice.detachedHead=false checkout -q \"$SLUICE_COMMIT\"\n";

/* The identity the pod runs with: the stage's, the cluster's, built in. */
static const struct podsec *
identity_of(const struct exec_attempt *a, const struct kube_job_opts *o,
    struct podsec *def)
{
	if (a->security_context != NULL && a->security_context->set)
		return a->security_context;
	if (o->security_context.set)
		return &o->security_context;
	podsec_default(def);
	return def;
}

int
kube_job_manifest(const struct exec_attempt *a, const struct kube_job_opts *o,
    char **out, struct err *err)
{
	json_t *job = NULL, *spec, *pod, *container, *env, *cmd, *containers;
	json_t *volumes, *mounts;
	struct podsec def;
	const struct podsec *sc = identity_of(a, o, &def);
	char *url = NULL, *password = NULL;
	int rc = 0;

	*out = NULL;
	if ((rc = check_name(a, err)) < 0 || (rc = check_nodes(a, err)) < 0)
		return rc;
	if (a->image == NULL || a->image[0] == '\0')
		return err_set(err, ERR_INVALID, "stage '%s' has no image",
		    a->stage);
	if (a->argc == 0)
		return err_set(err, ERR_INVALID, "stage '%s' has no command",
		    a->stage);
	if (a->checkout && (a->repo_url == NULL || a->commit == NULL ||
	    o->checkout_image == NULL))
		return err_set(err, ERR_INVALID, "stage '%s' wants a checkout "
		    "but the repository URL, commit or checkout image is "
		    "unknown", a->stage);
	if (a->service_account != NULL &&
	    k8s_check_dns1123_subdomain(a->service_account) != NULL)
		return err_set(err, ERR_INVALID, "stage '%s': service account "
		    "'%s' is not a valid name", a->stage, a->service_account);
	if (a->checkout && a->checkout_secret != NULL &&
	    k8s_check_dns1123_subdomain(a->checkout_secret) != NULL)
		return err_set(err, ERR_INVALID, "stage '%s': Secret name '%s' "
		    "is not a valid name", a->stage, a->checkout_secret);
	/* a Job is readable by many: never a password in it */
	if (a->checkout && gitsrc_url_split(a->repo_url, &url, &password) < 0)
		return err_set(err, ERR_INVALID, "stage '%s': the repository "
		    "URL is too long", a->stage);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}

	cmd = json_array();
	for (size_t i = 0; i < a->argc; i++)
		json_array_append_new(cmd, json_string(a->argv[i]));
	env = json_array();
	for (size_t i = 0; i < a->nenv; i++)
		json_array_append_new(env, json_pack("{s:s, s:s}", "name",
		    a->env[i].name, "value", a->env[i].value));
	if (kube_job_is_multinode(a))
		add_rendezvous_env(env, a);
	container = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s}",
	    "name", "stage", "image", a->image, "command", cmd, "env", env,
	    "resources", resources_of(a), "securityContext",
	    container_security(sc), "terminationMessagePolicy",
	    "FallbackToLogsOnError");
	containers = json_array();
	json_array_append_new(containers, container);
	pod = json_pack("{s:s, s:o}", "restartPolicy", "Never",
	    "containers", containers);
	/* a named account brings its token (its own automount setting
	   decides); the namespace's default account never does */
	if (a->service_account != NULL)
		json_object_set_new(pod, "serviceAccountName",
		    json_string(a->service_account));
	else
		json_object_set_new(pod, "automountServiceAccountToken",
		    json_false());
	json_object_set_new(pod, "securityContext", pod_security(sc));

	volumes = json_array();
	mounts = json_array();
	for (size_t i = 0; i < a->nvolumes; i++) {
		char vname[32];

		(void)snprintf(vname, sizeof(vname), "vol-%zu", i);
		json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:b}}",
		    "name", vname, "persistentVolumeClaim", "claimName",
		    a->volumes[i].claim, "readOnly", a->volumes[i].read_only));
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}",
		    "name", vname, "mountPath", a->volumes[i].mount,
		    "readOnly", a->volumes[i].read_only));
	}
	if (a->checkout) {
		json_t *init;

		json_array_append_new(volumes, json_pack("{s:s, s:{}}",
		    "name", "workspace", "emptyDir"));
		json_array_append_new(mounts, json_pack("{s:s, s:s}",
		    "name", "workspace", "mountPath", "/workspace"));
		init = json_pack("{s:s, s:s, s:[s, s, s], s:[{s:s, s:s}, "
		    "{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}], s:o, "
		    "s:{s:{s:s, s:s}, s:{s:s, s:s}}}",
		    "name", "checkout", "image", o->checkout_image,
		    "command", "sh", "-c", checkout_script,
		    "env", "name", "SLUICE_REPO_URL", "value", url,
		    "name", "SLUICE_COMMIT", "value", a->commit,
		    "name", "HOME", "value", "/tmp",
		    "volumeMounts", "name", "workspace", "mountPath",
		    "/workspace", "securityContext", container_security(sc),
		    "resources", "requests", "cpu", "100m", "memory", "128Mi",
		    "limits", "cpu", "1", "memory", "512Mi");
		/* the credentials: a volume only the init container mounts */
		if (init != NULL && a->checkout_secret != NULL) {
			json_array_append_new(volumes, json_pack("{s:s, "
			    "s:{s:s, s:i}}", "name",
			    KUBE_JOB_CREDENTIALS_VOLUME, "secret",
			    "secretName", a->checkout_secret, "defaultMode",
			    0400));
			json_array_append_new(json_object_get(init,
			    "volumeMounts"), json_pack("{s:s, s:s, s:b}",
			    "name", KUBE_JOB_CREDENTIALS_VOLUME, "mountPath",
			    KUBE_JOB_CREDENTIALS_DIR, "readOnly", 1));
		}
		json_object_set_new(pod, "initContainers", json_pack("[o]",
		    init));
		json_object_set_new(container, "workingDir",
		    json_string("/workspace"));
	}
	if (json_array_size(volumes) > 0) {
		json_object_set_new(pod, "volumes", volumes);
		json_object_set_new(container, "volumeMounts", mounts);
	} else {
		json_decref(volumes);
		json_decref(mounts);
	}
	if (a->nnode_selector > 0) {
		json_t *ns = json_object();

		for (size_t i = 0; i < a->nnode_selector; i++)
			json_object_set_new(ns, a->node_selector[i].key,
			    json_string(a->node_selector[i].value));
		json_object_set_new(pod, "nodeSelector", ns);
	}
	if (a->ntolerations > 0) {
		json_t *tl = json_array();

		for (size_t i = 0; i < a->ntolerations; i++) {
			const struct exec_toleration *t = &a->tolerations[i];
			json_t *o1 = json_object();

			if (t->key != NULL && t->key[0] != '\0')
				json_object_set_new(o1, "key",
				    json_string(t->key));
			json_object_set_new(o1, "operator", json_string(t->op ?
			    t->op : "Equal"));
			if (t->value != NULL && t->value[0] != '\0')
				json_object_set_new(o1, "value",
				    json_string(t->value));
			if (t->effect != NULL && t->effect[0] != '\0')
				json_object_set_new(o1, "effect",
				    json_string(t->effect));
			if (t->seconds >= 0)
				json_object_set_new(o1, "tolerationSeconds",
				    json_integer(t->seconds));
			json_array_append_new(tl, o1);
		}
		json_object_set_new(pod, "tolerations", tl);
	}
	if (a->priority_class != NULL)
		json_object_set_new(pod, "priorityClassName",
		    json_string(a->priority_class));

	spec = json_pack("{s:i, s:{s:{s:o}, s:o}}", "backoffLimit", 0,
	    "template", "metadata", "labels", labels_of(a), "spec", pod);
	if (kube_job_is_multinode(a))
		make_indexed(spec, pod, a);
	if (a->queue != NULL)
		json_object_set_new(spec, "suspend", json_true());
	if (a->timeout_ms > 0)
		json_object_set_new(spec, "activeDeadlineSeconds",
		    json_integer((a->timeout_ms + 999) / 1000));
	if (o->ttl_after_finished_s >= 0)
		json_object_set_new(spec, "ttlSecondsAfterFinished",
		    json_integer(o->ttl_after_finished_s));
	job = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}",
	    "apiVersion", "batch/v1", "kind", "Job",
	    "metadata", "name", a->name, "namespace",
	    o->namespace ? o->namespace : "default", "labels", labels_of(a),
	    "spec", spec);
	if (job == NULL) {
		rc = err_set(err, ERR_INVALID, "stage '%s': a value is not "
		    "valid UTF-8", a->stage);
		goto out;
	}
	if (kube_job_is_multinode(a)) {
		char num[32];

		/* the executor learns from the Job alone that a Service goes
		 * with it (after a restart) */
		(void)snprintf(num, sizeof(num), "%d", a->nodes);
		json_object_set_new(json_object_get(json_object_get(job,
		    "metadata"), "labels"), KUBE_NODES_LABEL, json_string(num));
	}
	if ((*out = json_dumps(job, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		rc = err_set(err, ERR_NOMEM, "cannot serialize the job");
out:
	json_decref(job);
	free(url);
	return rc;
}
