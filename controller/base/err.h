/*
 * err.h - error codes and a caller-owned error message.
 *
 * Every fallible function returns 0 on success or a negative enum err_code,
 * and fills a caller-owned struct err with a message that can be shown to a
 * user.  Messages are lowercase, without a full stop, the problem first and
 * the subject in quotes:
 *
 *	return err_set(err, ERR_NOTFOUND, "pipeline '%s' not found", name);
 *
 * A NULL err is allowed: the message is then dropped.
 */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

#include <stdarg.h>

enum err_code {
	ERR_OK = 0,
	ERR_GENERIC = -1,	/* anything callers do not branch on */
	ERR_NOTFOUND = -2,
	ERR_CONFLICT = -3,
	ERR_INVALID = -4,	/* bad input from outside */
	ERR_TRANSIENT = -5,	/* try again later (database down, 5xx) */
	ERR_TOOBIG = -6,	/* a cap of caps.h was reached */
	ERR_NOMEM = -7,
	ERR_FORBIDDEN = -8,
	ERR_UNAUTHORIZED = -9,
	ERR_UNPROCESSABLE = -10,	/* well-formed but not acceptable (HTTP 422) */
};

#define ERR_MSG_MAX 1024

struct err {
	int	code;
	char	msg[ERR_MSG_MAX];
};

/* Clear an error so that it holds no message and code 0. */
void	err_clear(struct err *err);

/*
 * Record code and a printf-style message in err and return code, so that
 * failing is one line.  The message is truncated to ERR_MSG_MAX - 1 bytes.
 */
int	err_set(struct err *err, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	err_setv(struct err *err, int code, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));

/*
 * Prefix the message already in err with "prefix: ", keeping its code, and
 * return the code.  Used to add context while an error travels up.
 */
int	err_prefix(struct err *err, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* A short stable name for a code ("not_found", "invalid", ...). */
const char *err_code_name(int code);

/* Programmer errors abort, never compiled out (git's BUG()). */
#define BUG_ON(cond)                                                        \
	do {                                                                \
		if (cond)                                                   \
			err_bug(__FILE__, __LINE__, #cond);                 \
	} while (0)
void	err_bug(const char *file, int line, const char *what)
	    __attribute__((noreturn));

#endif
