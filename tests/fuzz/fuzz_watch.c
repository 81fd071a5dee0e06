/*
 * fuzz_watch.c - libFuzzer target for Kubernetes watch streams
 * (kube_api_decode_watch_of in kube/kube_api.c; `make fuzz`,
 * scripts/fuzz.sh).  The input is a stream as the API server sends it:
 * split into lines as kube_watch.c does (trailing CR and spaces dropped,
 * empty lines skipped, lines past LIM_KUBE_OBJECT refused), each line
 * decoded as an event of Jobs, of Pods and of Kueue Workloads.  An
 * unfinished last line is decoded too (kube_watch.c would wait for its
 * end).
 *
 * Besides crashes, leaks and timeouts it checks what must always hold: a
 * refused line says why (ERR_INVALID and a message); a decoded event has
 * a known type, every string NUL-terminated within its field, at most
 * KUBE_LABELS_MAX labels, a known Job state or Pod phase, a finish
 * time only for a Job that finished, Workload condition flags of -1, 0 or
 * 1 and no negative eviction count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/err.h"
#include "kube/kube_api.h"
#include "kube/kube_api_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_watch: %s\n", what);
	abort();
}

#define TERMINATED(field) \
	(strnlen((field), sizeof(field)) < sizeof(field))

static void
check_job(const struct kube_job *j)
{
	if (!TERMINATED(j->name) || !TERMINATED(j->namespace) ||
	    !TERMINATED(j->uid) || !TERMINATED(j->resource_version) ||
	    !TERMINATED(j->reason) || !TERMINATED(j->message))
		fail("a Job string not terminated within its field");
	if (j->nlabels > KUBE_LABELS_MAX)
		fail("more labels than KUBE_LABELS_MAX");
	for (size_t i = 0; i < j->nlabels; i++)
		if (!TERMINATED(j->labels[i].key) ||
		    !TERMINATED(j->labels[i].value))
			fail("a label not terminated within its field");
	if (j->state < KUBE_JOB_PENDING || j->state > KUBE_JOB_FAILED)
		fail("an unknown Job state");
	if (j->finished_ms != 0 && j->state != KUBE_JOB_SUCCEEDED &&
	    j->state != KUBE_JOB_FAILED)
		fail("a finish time on a Job that did not finish");
}

static void
check_pod(const struct kube_pod *p)
{
	if (!TERMINATED(p->name) || !TERMINATED(p->namespace) ||
	    !TERMINATED(p->job_name) || !TERMINATED(p->node) ||
	    !TERMINATED(p->resource_version) ||
	    !TERMINATED(p->sched_reason) || !TERMINATED(p->sched_message) ||
	    !TERMINATED(p->waiting_reason) ||
	    !TERMINATED(p->waiting_message) ||
	    !TERMINATED(p->term_reason) || !TERMINATED(p->term_message) ||
	    !TERMINATED(p->reason) || !TERMINATED(p->message))
		fail("a Pod string not terminated within its field");
	if (p->phase < KUBE_POD_PENDING || p->phase > KUBE_POD_UNKNOWN)
		fail("an unknown Pod phase");
	if (p->scheduled < -1 || p->scheduled > 1)
		fail("scheduled is not -1, 0 or 1");
}

static void
check_workload(const struct kube_workload *w)
{
	if (!TERMINATED(w->name) || !TERMINATED(w->namespace) ||
	    !TERMINATED(w->uid) || !TERMINATED(w->resource_version) ||
	    !TERMINATED(w->job) || !TERMINATED(w->job_uid) ||
	    !TERMINATED(w->queue) || !TERMINATED(w->reserve_reason) ||
	    !TERMINATED(w->reserve_message) || !TERMINATED(w->evict_reason) ||
	    !TERMINATED(w->evict_message) || !TERMINATED(w->cluster_queue) ||
	    !TERMINATED(w->flavor))
		fail("a Workload string not terminated within its field");
	if (w->quota_reserved < -1 || w->quota_reserved > 1 ||
	    w->admitted < -1 || w->admitted > 1 || w->evicted < -1 ||
	    w->evicted > 1 || w->finished < -1 || w->finished > 1)
		fail("a Workload condition is not -1, 0 or 1");
	if (w->evictions < 0)
		fail("a negative eviction count");
}

static void
line(const char *s, size_t len, enum kube_resource res)
{
	struct kube_watch_msg m;
	struct err err;

	if (kube_api_decode_watch_of(s, len, res, &m, &err) < 0) {
		if (err.code != ERR_INVALID || err.msg[0] == '\0')
			fail("a refused event without ERR_INVALID and a message");
		return;
	}
	if (!TERMINATED(m.resource_version) || !TERMINATED(m.message))
		fail("an event string not terminated within its field");
	switch (m.type) {
	case KUBE_MSG_ADDED:
	case KUBE_MSG_MODIFIED:
	case KUBE_MSG_DELETED:
		if (res == KUBE_RES_PODS)
			check_pod(&m.pod);
		else if (res == KUBE_RES_WORKLOADS)
			check_workload(&m.workload);
		else
			check_job(&m.job);
		break;
	case KUBE_MSG_BOOKMARK:
	case KUBE_MSG_ERROR:
		break;
	default:
		fail("an unknown event type");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);
		size_t n = len;

		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
			n--;
		if (n > 0 && len <= LIM_KUBE_OBJECT) {
			line(p, n, KUBE_RES_JOBS);
			line(p, n, KUBE_RES_PODS);
			line(p, n, KUBE_RES_WORKLOADS);
		}
		p += len + 1;
	}
	return 0;
}
