/*
 * buf.h - bounded, growable byte buffers (git's strbuf, curl's dynbuf).
 *
 * A buf always holds a NUL-terminated string when data is not NULL, and
 * never grows past its cap: an append that would exceed it fails with
 * ERR_TOOBIG and leaves the buffer unchanged.
 *
 *	struct buf b;
 *	buf_init(&b, LIM_LOG_LINE);
 *	if (buf_printf(&b, "run=%ld", id) < 0) ...
 *	use(b.data);
 *	buf_release(&b);
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stddef.h>

struct buf {
	char	*data;		/* owned; NULL until the first append */
	size_t	 len;		/* bytes used, not counting the NUL */
	size_t	 alloc;		/* bytes allocated */
	size_t	 max;		/* cap on len */
	int	 secret;	/* wiped on growth and release */
};

/* Initialize an empty buffer with cap max (no allocation). */
void	buf_init(struct buf *b, size_t max);

/*
 * Like buf_init, for a buffer that will hold a secret (a password, a
 * token): every block it leaves behind, on growth or release, is wiped
 * first, so no copy lingers in freed memory.  buf_detach hands the
 * secret to the caller, who wipes it.
 */
void	buf_init_secret(struct buf *b, size_t max);

/* Free the contents; the buffer may be used again after buf_init. */
void	buf_release(struct buf *b);

/* Forget the contents but keep the allocation. */
void	buf_reset(struct buf *b);

/*
 * Append bytes.  Return 0, ERR_TOOBIG past the cap or ERR_NOMEM.
 */
int	buf_append(struct buf *b, const void *data, size_t len)
	    __attribute__((warn_unused_result));
int	buf_puts(struct buf *b, const char *s)
	    __attribute__((warn_unused_result));
int	buf_putc(struct buf *b, char c) __attribute__((warn_unused_result));
int	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), warn_unused_result));

/*
 * Take ownership of the data (never NULL: an empty string when nothing was
 * appended, or NULL on allocation failure).  The buffer is left empty.
 */
char	*buf_detach(struct buf *b);

/*
 * Copy src into dst of size dstlen, always NUL-terminated.  Return 0 or
 * ERR_TOOBIG when src did not fit (dst then holds a truncated copy).  The
 * replacement for strlcpy, which glibc 2.36 lacks.
 */
int	str_copy(char *dst, size_t dstlen, const char *src);

/* strdup that aborts on allocation failure, for small internal strings. */
char	*xstrdup(const char *s);
void	*xcalloc(size_t n, size_t size);

#endif
