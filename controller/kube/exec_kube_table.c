/*
 * exec_kube_table.c - the table of the Kubernetes executor: entries by
 * name under one mutex, the sweep of tombstones and orphans, the log
 * cache within its budget, the queue of the workers.
 */

#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"

/* ---- the table (under mu) ---------------------------------------------------- */

static size_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

struct kentry *
kx_find(struct kexec *x, const char *name)
{
	struct kentry *e;

	if (x->nbuckets == 0)
		return NULL;
	for (e = x->buckets[hash(name) & (x->nbuckets - 1)]; e != NULL;
	    e = e->next) {
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* The entry of name when it is still the one of generation gen. */
struct kentry *
kx_find_gen(struct kexec *x, const char *name, uint64_t gen)
{
	struct kentry *e = kx_find(x, name);

	return e != NULL && e->gen == gen ? e : NULL;
}

static void
grow_table(struct kexec *x)
{
	struct kentry **nb, *e, *next;
	size_t nn = x->nbuckets ? x->nbuckets * 2 : 256, i, h;

	nb = xcalloc(nn, sizeof(*nb));
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			h = hash(e->name) & (nn - 1);
			e->next = nb[h];
			nb[h] = e;
		}
	}
	free(x->buckets);
	x->buckets = nb;
	x->nbuckets = nn;
}

/* Find or make the entry of name (a name longer than a label: NULL). */
struct kentry *
kx_find_by_field(struct kexec *x, size_t off, const char *value)
{
	struct kentry *e;
	size_t i;

	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = e->next) {
			if (strcmp((const char *)e + off, value) == 0)
				return e;
		}
	}
	return NULL;
}

struct kentry *
kx_add(struct kexec *x, const char *name)
{
	struct kentry *e = kx_find(x, name);
	size_t h;

	if (e != NULL)
		return e;
	if (strlen(name) >= sizeof(e->name))
		return NULL;
	if (x->n >= x->nbuckets)
		grow_table(x);
	e = xcalloc(1, sizeof(*e));
	(void)str_copy(e->name, sizeof(e->name), name);
	e->gen = ++x->gens;
	e->first_ms = sys_now_ms();
	e->exit_code = -1;
	e->pod_phase = KUBE_POD_PENDING;
	h = hash(name) & (x->nbuckets - 1);
	e->next = x->buckets[h];
	x->buckets[h] = e;
	x->n++;
	return e;
}

void
kx_drop_log(struct kexec *x, struct kentry *e)
{
	x->log_bytes -= e->log_len;
	free(e->log);
	e->log = NULL;
	e->log_len = 0;
	e->log_final = 0;
}

void
kx_remove_entry(struct kexec *x, struct kentry *e)
{
	struct kentry **pp = &x->buckets[hash(e->name) & (x->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = e->next;
	x->n--;
	kx_stream_stop(x, e);
	kx_index_forget(e);
	kx_drop_log(x, e);
	free(e);
}

void
kx_sweep(struct kexec *x)
{
	struct kentry *e, *next;
	int64_t now = sys_now_ms();
	size_t i;

	if (now - x->sweep_ms < SWEEP_EVERY_MS)
		return;
	x->sweep_ms = now;
	for (i = 0; i < x->nbuckets; i++) {
		for (e = x->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (e->log_busy)
				continue;
			if ((e->job_deleted && now - e->deleted_ms >
			    TOMBSTONE_MS) || (!known(e) && now - e->first_ms >
			    ORPHAN_MS) || (e->released && now -
			    e->deleted_ms > ORPHAN_MS))
				kx_remove_entry(x, e);
		}
	}
}

/* Keep a log read into e, within the memory budget. */
void
kx_keep_log(struct kexec *x, struct kentry *e, struct buf *b, int final)
{
	struct kentry *o;
	size_t i;

	kx_drop_log(x, e);
	e->log_len = b->len;
	e->log = buf_detach(b);
	if (e->log == NULL)
		e->log_len = 0;
	e->log_final = final;
	e->log_ms = sys_now_ms();
	x->log_bytes += e->log_len;
	/* over budget: forget other finished logs (they can be read again) */
	for (i = 0; i < x->nbuckets && x->log_bytes > LIM_KUBE_LOG_CACHE; i++) {
		for (o = x->buckets[i]; o != NULL &&
		    x->log_bytes > LIM_KUBE_LOG_CACHE; o = o->next) {
			if (o != e && o->log != NULL && !o->log_busy)
				kx_drop_log(x, o);
		}
	}
}

/* Put t at the end of the workers' queue (under mu). */
void
kx_append_task(struct kexec *x, struct task *t)
{
	if (x->tasks_tail != NULL)
		x->tasks_tail->next = t;
	else
		x->tasks = t;
	x->tasks_tail = t;
	x->ntasks++;
}

/* Queue work for the workers (under mu). */
void
kx_enqueue(struct kexec *x, enum task_kind kind, const char *name)
{
	struct task *t;

	if (x->nworkers == 0 || x->stopping)
		return;
	t = xcalloc(1, sizeof(*t));
	t->kind = kind;
	(void)str_copy(t->name, sizeof(t->name), name);
	kx_append_task(x, t);
	pthread_cond_signal(&x->task_cv);
}
