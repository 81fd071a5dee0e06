/*
 * podsec.h - the identity a stage's pod runs with: the four keys of a
 * `security_context` (docs/pipeline-reference.md, docs/configuration.md),
 * shared by the pipeline parser, the configuration and the Job builder so
 * that the three agree on names, bounds and the one contradiction.
 *
 * Keys (all optional; an unset key is left out of the pod spec, so the
 * image or the cluster decides):
 *	run_as_user	 0..2147483647	pod securityContext.runAsUser
 *	run_as_group	 0..2147483647	runAsGroup
 *	fs_group	 0..2147483647	fsGroup
 *	run_as_non_root	 true | false	runAsNonRoot
 */
#ifndef SLUICE_PODSEC_H
#define SLUICE_PODSEC_H

#include <stddef.h>
#include <stdint.h>

#define PODSEC_ID_MAX		2147483647	/* Kubernetes' int64 range is
						   capped at int32 by Linux */
#define PODSEC_DEFAULT_UID	65532		/* "nonroot" of distroless */

enum podsec_key {
	PODSEC_RUN_AS_USER = 0,
	PODSEC_RUN_AS_GROUP,
	PODSEC_FS_GROUP,
	PODSEC_RUN_AS_NON_ROOT,
	PODSEC_NKEYS
};

struct podsec {
	int	set;		/* 1: a security_context was given (even {}) */
	int64_t	id[3];		/* by enum podsec_key; -1 = unset */
	int	run_as_non_root;	/* -1 unset, 0, 1 */
};

/* The key names, by enum podsec_key ("run_as_user", ...). */
extern const char *const podsec_keys[PODSEC_NKEYS];

/* Not given: set 0, every key unset. */
void	podsec_init(struct podsec *s);

/*
 * The cluster default of today: run_as_user 65532, fs_group 65532,
 * run_as_non_root true (set 1).
 */
void	podsec_default(struct podsec *s);

/* The index of key name[0..len) in podsec_keys, or -1. */
int	podsec_key_index(const char *name, size_t len);

/*
 * NULL when s is consistent, else why not: run_as_non_root true with
 * run_as_user 0 is a pod the kubelet refuses to start.
 */
const char *podsec_contradiction(const struct podsec *s);

#endif
