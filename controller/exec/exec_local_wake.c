/*
 * exec_local_wake.c - how a supervisor tells the controller that its
 * attempt started or ended, so the engine does not poll for it.
 *
 * Each controller process that drives the local executor keeps a FIFO
 * state_dir/attempts/.wake/<pid> open for reading (a dotted name cannot be
 * an attempt's).  A supervisor writes one byte into every FIFO there after
 * it records the start (DIR/started) and after it writes DIR/status; the
 * controller's reader thread then calls the engine's wake (set_wake in
 * exec/executor.h).  A FIFO nobody reads any more (its controller died)
 * refuses the open with ENXIO and the supervisor removes it.  Everything
 * here is best effort: a byte lost (the FIFO full, the directory gone)
 * costs the engine's safety sweep, never an outcome, which stays in
 * DIR/status.  Supervisors started by a previous controller find the new
 * one's FIFO the same way, so adopted attempts wake it too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/caps.h"
#include "base/log.h"
#include "exec/exec_local_int.h"

/* The .wake directory beside attempt directory dir (its parent's). */
static int
wake_dir_of(const char *dir, char *out, size_t outlen)
{
	const char *slash = strrchr(dir, '/');
	int n;

	if (slash == NULL || slash == dir)
		return -1;
	n = snprintf(out, outlen, "%.*s/%s", (int)(slash - dir), dir,
	    EXL_WAKE_DIR);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
exl_wake_notify(const char *dir)
{
	char wdir[LIM_PATH], path[LIM_PATH];
	struct dirent *de;
	DIR *d;
	int fd, n;

	if (wake_dir_of(dir, wdir, sizeof(wdir)) < 0 ||
	    (d = opendir(wdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", wdir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENXIO)
				(void)unlink(path);	/* nobody reads it */
			continue;
		}
		/* SIGPIPE is ignored by the caller; EAGAIN: already woken */
		(void)!write(fd, "w", 1);
		(void)close(fd);
	}
	(void)closedir(d);
}

/* The reader: drain the FIFO, wake the engine; stop on the stop pipe. */
static void *
waker_main(void *arg)
{
	struct exl_waker *w = arg;
	struct pollfd p[2];
	char b[256];

	p[0].fd = w->fifo;
	p[0].events = POLLIN;
	p[1].fd = w->stop_r;
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		while (read(w->fifo, b, sizeof(b)) > 0)
			;
		pthread_mutex_lock(&w->mu);
		if (w->wake != NULL)
			w->wake(w->arg);
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

void
exl_waker_init(struct exl_waker *w)
{
	memset(w, 0, sizeof(*w));
	w->fifo = w->stop_r = w->stop_w = -1;
	pthread_mutex_init(&w->mu, NULL);
}

/*
 * Make the FIFO under a temporary name and open it before it is renamed
 * into place, so a supervisor never finds it unread (and removes it).
 */
static int
waker_open(struct exl_waker *w, const char *attempts)
{
	char wdir[LIM_PATH], tmp[LIM_PATH];
	int n;

	n = snprintf(wdir, sizeof(wdir), "%s/%s", attempts, EXL_WAKE_DIR);
	if (n < 0 || (size_t)n >= sizeof(wdir) ||
	    (mkdir(wdir, 0700) < 0 && errno != EEXIST))
		return -1;
	n = snprintf(w->path, sizeof(w->path), "%s/%ld", wdir,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(w->path))
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s/.%ld.tmp", wdir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	(void)unlink(tmp);
	if (mkfifo(tmp, 0600) < 0)
		return -1;
	/* read-write: never an end of file while no supervisor writes */
	if ((w->fifo = open(tmp, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    rename(tmp, w->path) < 0) {
		(void)unlink(tmp);
		w->path[0] = '\0';
		return -1;
	}
	return 0;
}

int
exl_waker_set(struct exl_waker *w, const char *attempts,
    void (*wake)(void *arg), void *arg)
{
	int pfd[2];

	pthread_mutex_lock(&w->mu);
	w->wake = wake;
	w->arg = arg;
	pthread_mutex_unlock(&w->mu);
	if (wake == NULL || w->running)
		return w->running;
	if (waker_open(w, attempts) < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		log_warn("local executor cannot wake the engine, it polls",
		    "dir=%s/%s error=\"%s\"", attempts, EXL_WAKE_DIR,
		    strerror(errno));
		exl_waker_release(w);
		exl_waker_init(w);
		return 0;
	}
	w->stop_r = pfd[0];
	w->stop_w = pfd[1];
	if (pthread_create(&w->thread, NULL, waker_main, w) != 0) {
		log_warn("local executor cannot wake the engine, it polls",
		    "error=\"no thread\"");
		exl_waker_release(w);
		exl_waker_init(w);
		return 0;
	}
	w->running = 1;
	return 1;
}

void
exl_waker_release(struct exl_waker *w)
{
	if (w->running) {
		(void)!write(w->stop_w, "s", 1);
		pthread_join(w->thread, NULL);
		w->running = 0;
	}
	if (w->path[0] != '\0')
		(void)unlink(w->path);
	if (w->fifo >= 0)
		(void)close(w->fifo);
	if (w->stop_r >= 0)
		(void)close(w->stop_r);
	if (w->stop_w >= 0)
		(void)close(w->stop_w);
	pthread_mutex_destroy(&w->mu);
}
