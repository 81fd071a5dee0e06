/* err.c - error codes and messages; see err.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

void
err_clear(struct err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

int
err_setv(struct err *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	/* Truncation is acceptable for a message. */
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int
err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = err_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int
err_prefix(struct err *err, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	int n;

	if (err == NULL)
		return ERR_GENERIC;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg) - 2) {
		size_t len = (size_t)n, rest = sizeof(err->msg) - len - 2;
		size_t olen = strnlen(old, rest);

		err->msg[len++] = ':';
		err->msg[len++] = ' ';
		memcpy(err->msg + len, old, olen);
		err->msg[len + olen] = '\0';
	}
	return err->code;
}

const char *
err_code_name(int code)
{
	switch (code) {
	case ERR_OK:		return "ok";
	case ERR_NOTFOUND:	return "not_found";
	case ERR_CONFLICT:	return "conflict";
	case ERR_INVALID:	return "invalid";
	case ERR_TRANSIENT:	return "unavailable";
	case ERR_TOOBIG:	return "too_big";
	case ERR_NOMEM:		return "out_of_memory";
	case ERR_FORBIDDEN:	return "forbidden";
	case ERR_UNAUTHORIZED:	return "unauthorized";
	case ERR_UNPROCESSABLE:	return "unprocessable";
	default:		return "internal";
	}
}

void
err_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "BUG: %s:%d: %s\n", file, line, what);
	abort();
}
