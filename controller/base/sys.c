/* sys.c - clock, directories, files and arrays; see sys.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"

int64_t
sys_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
sys_now_ms(void)
{
	return sys_now_us() / 1000;
}

int64_t
sys_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec
sys_deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void
sys_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t ca;

	BUG_ON(pthread_condattr_init(&ca) != 0);
	BUG_ON(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0);
	BUG_ON(pthread_cond_init(cond, &ca) != 0);
	pthread_condattr_destroy(&ca);
}

/* mkdir path, or accept a directory already there (not another file). */
static int
mkdir_one(const char *path, mode_t mode, struct err *err)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return err_set(err, ERR_GENERIC, "cannot create directory '%s': %s",
	    path, errno == EEXIST ? "not a directory" : strerror(errno));
}

int
sys_mkdir_p(const char *path, mode_t mode, struct err *err)
{
	char tmp[LIM_PATH];
	int rc;

	if (str_copy(tmp, sizeof(tmp), path) < 0)
		return err_set(err, ERR_TOOBIG, "path too long '%s'", path);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if ((rc = mkdir_one(tmp, mode, err)) < 0)
			return rc;
		*p = '/';
	}
	return mkdir_one(tmp, mode, err);
}

int
sys_read_file(const char *path, const char *what, size_t max, int text,
    struct buf *out, struct err *err)
{
	char chunk[16384];
	size_t total = 0, start = out->len;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(err, errno == ENOENT ? ERR_NOTFOUND :
		    ERR_GENERIC, "cannot read %s '%s': %s", what, path,
		    strerror(errno));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_GENERIC,
			    "cannot read %s '%s': %s", what, path,
			    strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (total + (size_t)n > max) {
			rc = err_set(err, ERR_TOOBIG,
			    "%s '%s' is larger than %zu bytes", what, path,
			    max);
			break;
		}
		if (text && memchr(chunk, '\0', (size_t)n) != NULL) {
			rc = err_set(err, ERR_INVALID,
			    "%s '%s' contains a NUL byte", what, path);
			break;
		}
		if ((rc = buf_append(out, chunk, (size_t)n)) < 0) {
			rc = err_set(err, rc,
			    "%s '%s' does not fit in its buffer", what, path);
			break;
		}
		total += (size_t)n;
	}
	close(fd);
	/* The file may hold a secret (a token, a key): leave no copy here. */
	explicit_bzero(chunk, sizeof(chunk));
	if (rc < 0 && out->len > start) {
		/* Drop (and wipe) the part read, so out is as it was. */
		explicit_bzero(out->data + start, out->len - start);
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

int
sys_grow(void **items, size_t n, size_t *cap, size_t size, size_t max)
{
	size_t ncap, bytes;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (max != 0 && ncap > max)
		ncap = max;
	if (ncap <= n)
		return ERR_TOOBIG;
	if (__builtin_mul_overflow(ncap, size, &bytes))
		return ERR_TOOBIG;
	if ((p = realloc(*items, bytes)) == NULL)
		return ERR_NOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

char *
sys_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}
