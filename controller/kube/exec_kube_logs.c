/*
 * exec_kube_logs.c - the logs of attempts: logs() from one followed read
 * per running pod (a stream), and exec_kube_follow() from a whole read.
 *
 * The stream.  The first logs() of an attempt whose pod has started
 * starts a thread that follows the pod's log (follow=true,
 * timestamps=true) into a buffer of at most LIM_KUBE_LOG_STREAM bytes;
 * when the buffer is full the thread waits (and the connection with it)
 * until the engine has taken some, so a log of any size never sits in
 * memory.  logs(from) serves the buffer and forgets what lies before
 * `from` (the engine has stored it).  A stream that breaks is resumed
 * with sinceTime = the last line's time, cut to the second; lines older
 * than the last one seen, and as many lines of that very time as were
 * seen, are skipped, so no line is repeated or lost.  A stream that ends
 * while its pod still runs is resumed the same way; once the pod has
 * ended (or is gone) the end of the stream is the end of the log.
 *
 * A multi-node attempt (an Indexed Job) has one stream per index, each
 * following the pod labelled with that job-completion-index, resumed and
 * stopped alike; their buffers share LIM_KUBE_LOG_STREAM (an index gets
 * its share, at least LIM_KUBE_LOG_STREAM / LIM_STAGE_NODES bytes), so N
 * nodes hold no more than one.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"

/* ---- logs ------------------------------------------------------------------------ */

/* The newest pod of job name, by a list (the pod watch had none). */
static int
lookup_pod(struct kexec *x, const char *job, char *pod, size_t len,
    struct err *err)
{
	struct kube_pod_list pods;
	const struct kube_pod *best = NULL;
	char sel[128];
	size_t i;
	int rc;

	textf(sel, sizeof(sel), "job-name=%s", job);
	pthread_mutex_lock(&x->mu);
	x->st.pod_lookups++;
	pthread_mutex_unlock(&x->mu);
	if ((rc = kube_api_pod_list(x->k, x->ns, sel, &pods, err)) < 0)
		return rc;
	for (i = 0; i < pods.n; i++) {
		if (best == NULL || pods.items[i].created_ms >= best->created_ms)
			best = &pods.items[i];
	}
	if (best == NULL)
		rc = err_set(err, ERR_NOTFOUND, "job '%s' has no pod", job);
	else
		(void)str_copy(pod, len, best->name);
	kube_pod_list_release(&pods);
	return rc;
}

/*
 * Read the log of job's pod (pod may be empty: look it up; the name found
 * is copied back) into b.  No lock held.
 */
int
kx_read_log(struct kexec *x, const char *job, char *pod, size_t podlen,
    struct buf *b, struct err *err)
{
	int rc;

	buf_init(b, LIM_STAGE_LOG);
	if (pod[0] == '\0' &&
	    (rc = lookup_pod(x, job, pod, podlen, err)) < 0)
		return rc;
	pthread_mutex_lock(&x->mu);
	x->st.log_reads++;
	pthread_mutex_unlock(&x->mu);
	return kube_api_pod_log(x->k, x->ns, pod, CONTAINER, b, err);
}

/* Append data[from, len) to out, as much as fits; set *next. */
static void
serve(const char *data, size_t len, int64_t from, struct buf *out,
    int64_t *next)
{
	size_t n, room = out->max > out->len ? out->max - out->len : 0;

	if (from < 0 || (uint64_t)from >= len) {
		*next = from < 0 ? 0 : from;
		if (from > (int64_t)len)
			*next = (int64_t)len;
		return;
	}
	n = len - (size_t)from;
	if (n > room)
		n = room;
	if (n > 0 && buf_append(out, data + from, n) < 0)
		n = 0;
	*next = from + (int64_t)n;
}

/* The whole log of an attempt, read at once and cached: for follow. */
static int
cached_logs(void *impl, const char *name, int64_t from, struct buf *out,
    int64_t *next, struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	struct buf b;
	char pod[KUBE_NAME_MAX];
	uint64_t gen;
	int rc = 0, fin;

	*next = from;
	buf_init(&b, LIM_STAGE_LOG);
	pthread_mutex_lock(&x->mu);
	while ((e = kx_find(x, name)) != NULL && e->log_busy)
		pthread_cond_wait(&x->cv, &x->mu);
	if (!known(e)) {
		rc = err_set(err, ERR_NOTFOUND, "no attempt '%s' in namespace "
		    "'%s'", name, x->ns);
		goto out;
	}
	fin = finished(e);
	if (e->log != NULL && (e->log_final || e->job_deleted ||
	    e->pod_deleted || (!fin && sys_now_ms() - e->log_ms <
	    LOG_REFRESH_MS))) {
		serve(e->log, e->log_len, from, out, next);
		goto out;
	}
	if (e->job_deleted || e->pod_deleted) {
		rc = err_set(err, ERR_NOTFOUND, "the log of attempt '%s' is "
		    "gone with its job", name);
		goto out;
	}
	if (!pod_started(e))
		goto out;	/* nothing written yet */
	e->log_busy = 1;
	gen = e->gen;
	(void)str_copy(pod, sizeof(pod), e->pod);
	pthread_mutex_unlock(&x->mu);
	rc = kx_read_log(x, name, pod, sizeof(pod), &b, err);
	pthread_mutex_lock(&x->mu);
	if ((e = kx_find_gen(x, name, gen)) != NULL) {
		e->log_busy = 0;
		if (e->pod[0] == '\0')
			(void)str_copy(e->pod, sizeof(e->pod), pod);
	}
	pthread_cond_broadcast(&x->cv);
	if (rc == ERR_INVALID) {
		rc = 0;		/* the container is waiting to start */
		goto out;
	}
	if (rc < 0) {
		if (rc != ERR_NOTFOUND)
			rc = for_engine(rc, err);
		goto out;
	}
	if (e != NULL) {
		kx_keep_log(x, e, &b, fin);
		serve(e->log, e->log_len, from, out, next);
	} else {
		serve(b.data, b.len, from, out, next);
	}
out:
	pthread_mutex_unlock(&x->mu);
	buf_release(&b);
	return rc;
}

/* ---- the stream of a running pod ---------------------------------------------------- */

struct kstream {
	struct kexec	*x;
	char		 job[64];
	int		 node;		/* the index whose pod it reads */
	char		 pod[KUBE_NAME_MAX];
	int		 stop;		/* asked to end, and no entry holds it
					   any more (under mu) */
	int		 done;		/* its thread has ended */
	int		 eof;		/* the log has ended: all of it is in
					   the buffer or was taken */
	struct buf	 data;		/* content bytes [base, base + len) */
	int64_t		 base;
	int64_t		 at;		/* content bytes of the log passed */
	int64_t		 skip_to;	/* drop content below this offset */
	/* the line being received */
	int		 in_time;	/* reading its "TIME " prefix */
	char		 time[48];
	size_t		 tlen;
	int		 skip_line;	/* seen before a resume: drop it */
	/* the resume point */
	int64_t		 last_ns;	/* time of the last line kept */
	int64_t		 same;		/* lines kept with that time */
	int64_t		 resume_ns;	/* after a resume: skip lines up to */
	int64_t		 resume_same;	/* ... and this many at resume_ns */
	int		 resumes;
};

/* "2026-12-07T16:03:45.123456789Z" as ns since the epoch; -1 when bad. */
static int64_t
parse_time(const char *s)
{
	struct tm tm;
	int64_t ns = 0, scale = 100000000;
	const char *p;
	char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	p = end;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "Z") != 0 || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (int64_t)t * 1000000000 + ns;
}

/* Wait (under mu) until the buffer has room; 0, or -1 when stopping. */
static int
wait_room(struct kstream *ks)
{
	struct timespec ts;

	while (ks->data.len >= ks->data.max) {
		if (ks->stop || ks->x->stopping)
			return -1;
		ts = sys_deadline_in(1000);
		(void)pthread_cond_timedwait(&ks->x->cv, &ks->x->mu, &ts);
	}
	return ks->stop || ks->x->stopping ? -1 : 0;
}

/* Content bytes p[0, n) of one line: into the buffer (under mu). */
static int
take_content(struct kstream *ks, const char *p, size_t n)
{
	while (n > 0) {
		size_t k, room;

		if (ks->at < ks->skip_to) {
			k = (uint64_t)(ks->skip_to - ks->at) < n ?
			    (size_t)(ks->skip_to - ks->at) : n;
			ks->at += (int64_t)k;
			p += k;
			n -= k;
			ks->base = ks->at;
			continue;
		}
		if (wait_room(ks) < 0)
			return -1;
		room = ks->data.max - ks->data.len;
		k = n < room ? n : room;
		if (buf_append(&ks->data, p, k) < 0)
			return -1;
		ks->at += (int64_t)k;
		p += k;
		n -= k;
		pthread_cond_broadcast(&ks->x->cv);
	}
	return 0;
}

/* A line's time has been read: keep the line or skip it (resume). */
static void
line_time(struct kstream *ks)
{
	int64_t ns;

	ks->time[ks->tlen] = '\0';
	ns = parse_time(ks->time);
	ks->skip_line = 0;
	if (ns >= 0 && ks->resume_ns > 0 && (ns < ks->resume_ns ||
	    (ns == ks->resume_ns && ks->resume_same > 0))) {
		if (ns == ks->resume_ns)
			ks->resume_same--;
		ks->skip_line = 1;
		return;
	}
	ks->resume_ns = 0;
	if (ns >= 0 && ns == ks->last_ns) {
		ks->same++;
	} else if (ns >= 0) {
		ks->last_ns = ns;
		ks->same = 1;
	}
}

/* The stream's bytes ("TIME TEXT\n" lines) as they come. */
static int
stream_cb(void *arg, const char *p, size_t n)
{
	struct kstream *ks = arg;
	struct kexec *x = ks->x;
	int rc = 0;

	pthread_mutex_lock(&x->mu);
	while (n > 0 && rc == 0 && !ks->stop) {
		const char *nl;
		size_t k;

		if (ks->in_time) {
			if (*p == ' ') {
				line_time(ks);
				ks->in_time = 0;
				p++;
				n--;
			} else if (*p == '\n' ||
			    ks->tlen + 1 >= sizeof(ks->time)) {
				/* no time in front: the line is all text */
				line_time(ks);
				ks->in_time = 0;
				if (!ks->skip_line)
					rc = take_content(ks, ks->time,
					    ks->tlen);
			} else {
				ks->time[ks->tlen++] = *p;
				p++;
				n--;
			}
			continue;
		}
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (!ks->skip_line)
			rc = take_content(ks, p, k);
		p += k;
		n -= k;
		if (nl != NULL) {
			ks->in_time = 1;
			ks->tlen = 0;
		}
	}
	if (ks->stop || x->stopping)
		rc = 1;
	pthread_mutex_unlock(&x->mu);
	return rc;
}

/* The nodes of e: one log each. */
static int
nodes_of(const struct kentry *e)
{
	return e->nodes > 1 ? e->nodes : 1;
}

/* The pod of e's index node as far as the pod watch told ("": none). */
static const char *
pod_of(const struct kentry *e, int node)
{
	if (node == 0)
		return e->pod;
	return node < e->nidx ? e->idx[node].pod : "";
}

static int
phase_ended(enum kube_pod_phase phase)
{
	return phase == KUBE_POD_SUCCEEDED || phase == KUBE_POD_FAILED;
}

/* Has the pod of index node written anything (may it have)?  Under mu. */
static int
started_at(const struct kentry *e, int node)
{
	if (node == 0)
		return pod_started(e);
	if (node >= e->nidx || e->idx[node].pod[0] == '\0')
		return 0;
	return e->idx[node].phase == KUBE_POD_RUNNING ||
	    phase_ended(e->idx[node].phase) || job_done(e);
}

/* Will the pod of index node write no more: ended, or gone?  Under mu. */
static int
over_at(const struct kentry *e, int node)
{
	if (finished(e))
		return 1;
	if (node == 0)
		return e->pod_deleted || phase_ended(e->pod_phase);
	return node < e->nidx && (e->idx[node].deleted ||
	    phase_ended(e->idx[node].phase));
}

/* The stream following index node of e, or NULL.  Under mu. */
static struct kstream *
ks_at(const struct kentry *e, int node)
{
	return node >= 0 && node < e->nks ? e->ks[node] : NULL;
}

/* Has the pod of ks ended (or gone)?  Under mu. */
static int
pod_ended(struct kexec *x, const struct kstream *ks)
{
	struct kentry *e = kx_find(x, ks->job);

	return e == NULL || ks_at(e, ks->node) != ks || over_at(e, ks->node);
}

static void *
stream_main(void *arg)
{
	struct kstream *ks = arg;
	struct kexec *x = ks->x;
	struct timespec ts;
	struct err err;
	char since[32] = "";
	int rc, ended;

	for (;;) {
		pthread_mutex_lock(&x->mu);
		if (ks->stop || x->stopping || ks->eof) {
			pthread_mutex_unlock(&x->mu);
			break;
		}
		x->st.log_reads++;
		ks->in_time = 1;
		ks->tlen = 0;
		pthread_mutex_unlock(&x->mu);
		rc = kube_api_pod_log_stream(x->k, x->ns, ks->pod, CONTAINER,
		    since, stream_cb, ks, &err);
		pthread_mutex_lock(&x->mu);
		ended = pod_ended(x, ks);
		log_debug("kubernetes log stream ended", "job=%s pod=%s rc=%d "
		    "pod_ended=%d bytes=%lld error=\"%s\"", ks->job, ks->pod,
		    rc, ended, (long long)ks->at, rc < 0 ? err.msg : "");
		if (rc == ERR_NOTFOUND || (ended && (rc == 0 ||
		    rc == ERR_INVALID))) {
			/* the end of the log, or the pod is gone with it */
			ks->eof = 1;
			kx_changed(x);	/* the engine may keep the rest now */
		} else if (!ks->stop && !x->stopping) {
			if (rc < 0 && rc != ERR_INVALID)
				log_info("kubernetes log stream resumed",
				    "job=%s pod=%s error=\"%s\"", ks->job,
				    ks->pod, err.msg);
			/* again from the last line's second (see the top) */
			if (ks->last_ns > 0) {
				time_t t = (time_t)(ks->last_ns / 1000000000);
				struct tm tm;

				gmtime_r(&t, &tm);
				(void)strftime(since, sizeof(since),
				    "%Y-%m-%dT%H:%M:%SZ", &tm);
				ks->resume_ns = ks->last_ns;
				ks->resume_same = ks->same;
			}
			ks->resumes++;
			ts = sys_deadline_in(rc == 0 || rc == ERR_INVALID ?
			    1000 : 250);
			(void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
		}
		pthread_mutex_unlock(&x->mu);
	}
	pthread_mutex_lock(&x->mu);
	/* an entry that still holds it frees it (kx_stream_stop) */
	ks->done = 1;
	if (ks->stop) {
		buf_release(&ks->data);
		free(ks);
	}
	x->nstreams--;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/*
 * Follow the log of the pod of e's index node from content offset `from`
 * (under mu).
 */
static int
stream_start(struct kexec *x, struct kentry *e, int node, int64_t from,
    struct err *err)
{
	struct kstream *ks;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (node < 0 || node >= nodes_of(e))
		return err_set(err, ERR_NOTFOUND, "no node %d of '%s'", node,
		    e->name);
	ks = xcalloc(1, sizeof(*ks));
	ks->x = x;
	ks->node = node;
	(void)str_copy(ks->job, sizeof(ks->job), e->name);
	(void)str_copy(ks->pod, sizeof(ks->pod), pod_of(e, node));
	/* N nodes share one stream's bound (see the top) */
	buf_init(&ks->data, LIM_KUBE_LOG_STREAM / (size_t)nodes_of(e));
	ks->base = ks->skip_to = from;
	ks->in_time = 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, stream_main, ks);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		buf_release(&ks->data);
		free(ks);
		return err_set(err, ERR_TRANSIENT, "cannot start a log stream: "
		    "%s", strerror(rc));
	}
	x->nstreams++;
	kx_grow_zeroed((void **)&e->ks, &e->nks, nodes_of(e), sizeof(*e->ks));
	e->ks[node] = ks;
	return 0;
}

void
kx_logs_follow_now(struct kexec *x, struct kentry *e)
{
	struct err err;

	for (int node = 0; node < nodes_of(e); node++)
		if (ks_at(e, node) == NULL && pod_of(e, node)[0] != '\0' &&
		    started_at(e, node))
			(void)stream_start(x, e, node, 0, &err);
}

/* Stop the stream of e's index node, if any (under mu). */
static void
stop_at(struct kexec *x, struct kentry *e, int node)
{
	struct kstream *ks = ks_at(e, node);

	if (ks == NULL)
		return;
	e->ks[node] = NULL;
	if (ks->done) {
		buf_release(&ks->data);
		free(ks);
		return;
	}
	ks->stop = 1;		/* its thread frees it */
	pthread_cond_broadcast(&x->cv);
}

void
kx_stream_stop(struct kexec *x, struct kentry *e)
{
	for (int node = 0; node < e->nks; node++)
		stop_at(x, e, node);
	free(e->ks);
	e->ks = NULL;
	e->nks = 0;
}

void
kx_index_forget(struct kentry *e)
{
	free(e->idx);
	e->idx = NULL;
	e->nidx = 0;
}

void
kx_streams_wait(struct kexec *x)
{
	struct timespec ts;

	while (x->nstreams > 0) {
		ts = sys_deadline_in(100);
		(void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
	}
}

/* Tell the caller which pod is read (source may be NULL with len 0). */
static void
name_source(char *source, size_t len, const char *pod)
{
	if (len > 0)
		(void)str_copy(source, len, pod);
}

int
kx_logs(void *impl, const char *name, int node, int64_t from,
    struct buf *out, int64_t *next, char *source, size_t sourcelen,
    struct err *err)
{
	struct kexec *x = impl;
	struct kentry *e;
	struct kstream *ks;
	const char *pod;
	size_t n, room;
	int rc = 0;

	*next = from;
	if (sourcelen > 0)
		source[0] = '\0';
	if (node < 0 || from < 0)
		return err_set(err, ERR_NOTFOUND, "no log of node %d of '%s'",
		    node, name);
	pthread_mutex_lock(&x->mu);
	e = kx_find(x, name);
	if (!known(e)) {
		rc = err_set(err, ERR_NOTFOUND, "no attempt '%s' in namespace "
		    "'%s'", name, x->ns);
		goto out;
	}
	if (node >= nodes_of(e)) {
		rc = err_set(err, ERR_NOTFOUND, "no log of node %d of '%s' "
		    "(it runs on %d)", node, name, nodes_of(e));
		goto out;
	}
	pod = pod_of(e, node);
	if ((ks = ks_at(e, node)) != NULL && pod[0] != '\0' &&
	    strcmp(ks->pod, pod) != 0) {
		stop_at(x, e, node);	/* a new pod: read it from 0 */
		ks = NULL;
		from = 0;
	} else if (ks != NULL && from < ks->base) {
		stop_at(x, e, node);	/* asked again: read it again */
		ks = NULL;
	}
	if (ks == NULL) {
		if (pod[0] == '\0' || !started_at(e, node)) {
			if (over_at(e, node))
				rc = err_set(err, ERR_NOTFOUND, "attempt '%s' "
				    "ended without a pod log of node %d",
				    name, node);
			goto out;	/* nothing written yet */
		}
		if ((rc = stream_start(x, e, node, from, err)) < 0)
			goto out;
		ks = ks_at(e, node);
		*next = from;
		name_source(source, sourcelen, ks->pod);
		if (over_at(e, node))
			rc = err_set(err, ERR_TRANSIENT, "the log of pod '%s' "
			    "is being read", ks->pod);
		goto out;
	}
	name_source(source, sourcelen, ks->pod);
	/* what lies before from has been stored: forget it */
	if (from > ks->base) {
		n = (uint64_t)(from - ks->base) < ks->data.len ?
		    (size_t)(from - ks->base) : ks->data.len;
		memmove(ks->data.data, ks->data.data + n, ks->data.len - n);
		ks->data.len -= n;
		ks->base += (int64_t)n;
		if (from > ks->base && ks->skip_to < from)
			ks->skip_to = from;
		if (ks->data.len == 0 && ks->at < from)
			ks->base = from;
		pthread_cond_broadcast(&x->cv);
	}
	room = out->max > out->len ? out->max - out->len : 0;
	n = ks->data.len < room ? ks->data.len : room;
	if (n > 0 && buf_append(out, ks->data.data, n) < 0)
		n = 0;
	*next = ks->base + (int64_t)n;
	if (n == 0 && !ks->eof && over_at(e, node))
		rc = err_set(err, ERR_TRANSIENT, "the log of pod '%s' is still "
		    "being read", ks->pod);
out:
	pthread_mutex_unlock(&x->mu);
	return rc;
}


struct follow {
	int	(*cb)(void *arg, const char *data, size_t len);
	void	*arg;
	int64_t	 from;
	int64_t	 at;		/* bytes of the stream seen */
};

static int
follow_cb(void *arg, const char *data, size_t len)
{
	struct follow *f = arg;
	size_t skip = 0;

	if (len == 0)
		return f->cb(f->arg, NULL, 0);
	if (f->at < f->from)
		skip = (size_t)(f->from - f->at) < len ?
		    (size_t)(f->from - f->at) : len;
	f->at += (int64_t)len;
	if (skip == len)
		return 0;
	return f->cb(f->arg, data + skip, len - skip);
}

int
exec_kube_follow(void *impl, const char *name, int64_t from,
    int (*cb)(void *arg, const char *data, size_t len), void *arg,
    struct err *err)
{
	struct kexec *x = impl;
	struct follow f = { cb, arg, from, 0 };
	struct kentry *e;
	struct timespec ts;
	struct buf b;
	char pod[KUBE_NAME_MAX];
	int64_t next;
	int rc, stream = 0, fin = 0;

	for (;;) {
		pthread_mutex_lock(&x->mu);
		e = kx_find(x, name);
		if (!known(e)) {
			pthread_mutex_unlock(&x->mu);
			return err_set(err, ERR_NOTFOUND, "no attempt '%s' in "
			    "namespace '%s'", name, x->ns);
		}
		fin = finished(e) || e->pod_deleted;
		if (!fin && pod_started(e) && e->pod[0] != '\0') {
			(void)str_copy(pod, sizeof(pod), e->pod);
			stream = 1;
		}
		if (fin || stream) {
			pthread_mutex_unlock(&x->mu);
			break;
		}
		ts = sys_deadline_in(1000);
		(void)pthread_cond_timedwait(&x->cv, &x->mu, &ts);
		pthread_mutex_unlock(&x->mu);
		if (cb(arg, NULL, 0) != 0)
			return 0;
	}
	if (stream) {
		rc = kube_api_pod_log_follow(x->k, x->ns, pod, CONTAINER,
		    follow_cb, &f, err);
		if (rc != ERR_NOTFOUND && rc != ERR_INVALID)
			return rc;
		from = f.at > from ? f.at : from;	/* the rest, below */
	}
	/* finished (or its pod went away): the whole log, once */
	buf_init(&b, LIM_STAGE_LOG);
	rc = cached_logs(impl, name, from, &b, &next, err);
	if (rc == 0 && b.len > 0)
		(void)cb(arg, b.data, b.len);
	buf_release(&b);
	return rc;
}
