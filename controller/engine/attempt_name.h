/*
 * attempt_name.h - the deterministic name of a stage attempt, shared by
 * the engine (which writes it to stage_attempts.job_name before it calls
 * the executor) and every executor (the local attempt directory, the
 * Kubernetes Job name).
 *
 *	sluice-<run>-<stage>-<attempt>		a job stage's attempt
 *	sluice-<run>-<stage>-<attempt>-s<step>	a canary step
 *	sluice-<run>-<stage>-<attempt>-rb	a canary rollback
 *
 * The result is always a valid DNS-1123 label of at most 63 characters.
 * When the full name is longer, it is cut and given a hash suffix:
 * the first 54 characters (without a trailing '-'), '-', and the first 8
 * hex digits of the SHA-256 of the full name.  Different full names give
 * different short names (up to a 32-bit hash collision, which the UNIQUE
 * job_name column turns into a refused insert, never a shared Job).
 */
#ifndef SLUICE_ATTEMPT_NAME_H
#define SLUICE_ATTEMPT_NAME_H

#include <stddef.h>
#include <stdint.h>

#define ATTEMPT_NAME_MAX	63	/* without the NUL */

/*
 * Write the name into out (at least ATTEMPT_NAME_MAX + 1 bytes).  kind is
 * "job", "canary_step" (step >= 1) or "rollback".  Returns 0, or
 * ERR_INVALID for a run id < 1, an attempt < 1, a stage name that is not
 * a DNS-1123 label, an unknown kind, a canary step < 1, or an out that is
 * too small.  Pure: no allocation, no I/O.
 */
int	attempt_name(char *out, size_t outlen, int64_t run_id,
	    const char *stage, int attempt, const char *kind, int step)
	    __attribute__((warn_unused_result));

#endif
