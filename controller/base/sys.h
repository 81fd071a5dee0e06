/*
 * sys.h - the small system helpers every layer needs, written once: the
 * monotonic clock, deadlines for condition variables, `mkdir -p`, reading
 * a whole file under a cap, checked array growth and a copy of a string
 * that may be NULL.
 *
 * None of them keeps state; all are safe from any thread.
 */
#ifndef SLUICE_SYS_H
#define SLUICE_SYS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct buf;
struct err;

/* Milliseconds of CLOCK_MONOTONIC (never goes back; not wall time). */
int64_t	sys_now_ms(void);
/* The same clock in microseconds, for durations that short. */
int64_t	sys_now_us(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t	sys_wall_ms(void);

/*
 * The CLOCK_MONOTONIC instant ms milliseconds from now, for
 * pthread_cond_timedwait on a condition variable whose clock was set to
 * CLOCK_MONOTONIC (sys_cond_init_monotonic).
 */
struct timespec sys_deadline_in(int64_t ms);

/*
 * Initialise a condition variable that waits on CLOCK_MONOTONIC, so a
 * change of the wall clock cannot stretch or cut a wait.  Aborts on
 * failure (it cannot fail with valid arguments).
 */
void	sys_cond_init_monotonic(pthread_cond_t *cond);

/*
 * Create path and every missing parent with mode (like `mkdir -p`); an
 * existing directory is fine, an existing file of another kind is not.
 * ERR_TOOBIG past LIM_PATH, ERR_GENERIC with the directory and the reason
 * otherwise.  Blocks on the file system.
 */
int	sys_mkdir_p(const char *path, mode_t mode, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Append the whole file at path to out, refusing past max bytes.  what
 * names the file in messages ("migration", "kubeconfig"), e.g. "cannot
 * read kubeconfig '/x': No such file or directory".  ERR_NOTFOUND when
 * the file does not exist, ERR_TOOBIG past max ("kubeconfig '/x' is
 * larger than N bytes"), ERR_INVALID when it holds a NUL byte and
 * text is set, ERR_GENERIC for other errors (a directory, a read error).
 * On error out holds what it held before the call (nothing of the file);
 * the caller releases it in any case.  Blocks on the file system.
 */
int	sys_read_file(const char *path, const char *what, size_t max, int text,
	    struct buf *out, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Make room for one more element of size bytes in the array *items that
 * holds n of *cap: doubles *cap (16 first) when n == *cap.  0, or
 * ERR_TOOBIG when the size overflows or passes max elements (0: no cap),
 * ERR_NOMEM when realloc fails; *items and *cap are unchanged on error.
 */
int	sys_grow(void **items, size_t n, size_t *cap, size_t size, size_t max)
	    __attribute__((warn_unused_result));

/* strdup that returns NULL for NULL and aborts when memory runs out. */
char	*sys_strdup_or_null(const char *s);

#endif
