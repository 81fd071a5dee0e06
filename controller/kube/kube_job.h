/*
 * kube_job.h - the Kubernetes Job of one stage attempt (docs/kubernetes.md): a pure
 * function from an exec_attempt to the Job manifest as JSON text.
 *
 * The manifest:
 * - metadata.name = the attempt's name (a DNS-1123 label of at most 63
 *   characters, built by the engine, stable for the same run, stage,
 *   attempt and step); labels app.kubernetes.io/managed-by=sluice,
 *   sluice/run, sluice/stage, sluice/attempt, sluice/pipeline, sluice/kind
 *   and sluice/step, and kueue.x-k8s.io/queue-name when a queue is set;
 * - spec.backoffLimit 0 (retries are the controller's), spec.suspend true
 *   with a Kueue queue (Kueue admits it), activeDeadlineSeconds from the
 *   timeout, ttlSecondsAfterFinished from the configuration;
 * - one container "stage" with the image, the command, the environment of
 *   stage protocol, resources (cpu, memory as requests; GPUs of gpu_resource as
 *   equal requests and limits), a no-privilege-escalation,
 *   all-capabilities-dropped container security context with the
 *   RuntimeDefault seccomp profile; restartPolicy Never; node selector,
 *   tolerations, priority class and PersistentVolumeClaim volumes as given;
 * - the pod's identity: the stage's security context (else the cluster
 *   default of the options, else base/podsec.h's default) as the pod
 *   securityContext, exactly the keys given (runAsUser, runAsGroup,
 *   fsGroup, runAsNonRoot; runAsNonRoot is repeated on the containers);
 *   serviceAccountName when the stage names one (the ServiceAccount's own
 *   automountServiceAccountToken then decides about the token; without
 *   one the token is not mounted);
 * - with checkout, an init container (checkout_image) that clones the
 *   repository at the pinned commit into an emptyDir mounted at /workspace,
 *   which is also the stage container's working directory.  With a
 *   checkout_secret, the Secret is a volume (mode 0400) mounted read-only
 *   at /etc/sluice/git into the init container only, and the clone script
 *   reads the credentials from its files (a git credential helper for
 *   username/password/token, GIT_SSH_COMMAND with ssh-privatekey and
 *   known_hosts); the manifest itself never holds a credential.
 *
 * A multi-node attempt (nodes N > 1) is one Indexed Job: completionMode
 * Indexed, completions = parallelism = N, backoffLimit 0 (one failed pod
 * fails the Job, so one failed index fails the attempt), the pod's
 * subdomain set to the attempt's headless Service (kube_service_manifest,
 * same name as the Job) so the pod of index i is reachable as
 * <job>-<i>.<service>, and the rendezvous environment appended to the
 * stage's: SLUICE_NODE_RANK from the pod's annotation
 * batch.kubernetes.io/job-completion-index (the Job controller's
 * JOB_COMPLETION_INDEX), SLUICE_NUM_NODES, SLUICE_MASTER_ADDR
 * (<job>-0.<service>) and SLUICE_MASTER_PORT (STAGE_MASTER_PORT).
 * Resources are per pod.
 */
#ifndef SLUICE_KUBE_JOB_H
#define SLUICE_KUBE_JOB_H

#include <stdint.h>

#include "base/err.h"
#include "base/podsec.h"
#include "exec/executor.h"

struct kube_job_opts {
	const char	*namespace;
	int64_t		 ttl_after_finished_s;	/* < 0: leave unset */
	const char	*checkout_image;	/* for checkout: true */
	struct podsec	 security_context;	/* the cluster default; set 0:
						   podsec_default() */
};

#define KUBE_JOB_CREDENTIALS_DIR	"/etc/sluice/git"
#define KUBE_JOB_CREDENTIALS_VOLUME	"git-credentials"

/*
 * Build the Job manifest of a into *out (JSON text, owned by the caller,
 * free()).  Errors: ERR_INVALID when a is not buildable (a missing image
 * or command, a name that is not a DNS-1123 label, checkout without a
 * repository URL or commit), with the reason in err.  Never blocks.
 */
int	kube_job_manifest(const struct exec_attempt *a,
	    const struct kube_job_opts *o, char **out, struct err *err)
	    __attribute__((warn_unused_result));

/* On the Job (not its pods) of a multi-node attempt: the node count. */
#define KUBE_NODES_LABEL	"sluice/nodes"
/* The label the Job controller puts on every pod of a Job. */
#define KUBE_JOB_NAME_LABEL	"batch.kubernetes.io/job-name"
/* The annotation (and label) holding a pod's completion index. */
#define KUBE_COMPLETION_INDEX	"batch.kubernetes.io/job-completion-index"

/* Whether the attempt needs a Service (more than one node). */
int	kube_job_is_multinode(const struct exec_attempt *a);

/*
 * Build the headless Service of a multi-node attempt into *out (JSON text,
 * owned by the caller, free()): v1 Service named like the Job, labelled
 * like it, clusterIP None, publishNotReadyAddresses (the rendezvous needs
 * the names before the pods are ready), selecting the Job's pods by
 * KUBE_JOB_NAME_LABEL.  The controller creates it before the Job and
 * deletes it with the Job.  ERR_INVALID as kube_job_manifest for a bad
 * name.  Never blocks.
 */
int	kube_service_manifest(const struct exec_attempt *a,
	    const struct kube_job_opts *o, char **out, struct err *err)
	    __attribute__((warn_unused_result));

#endif
