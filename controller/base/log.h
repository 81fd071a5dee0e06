/*
 * log.h - one line per event, key=value (or JSON).
 *
 *	log_info("run queued", "run=%ld pipeline=%s", id, name);
 *
 * The first argument is the event (a short constant phrase), the rest a
 * printf-style list of key=value pairs separated by spaces; a value may
 * be put in double quotes in the format to hold spaces of its own text
 * (what="cannot read %s").  The format is parsed here and each value is
 * formatted on its own and escaped (log_escape), so what a conversion
 * produces -- a request path, a file name, a server's message -- can
 * never end the line, add a key or fake a level.  The macros test the
 * level before evaluating their arguments.  Never pass a credential to a
 * format string.  Text lines look like
 *
 *	ts=2026-11-21T21:50:00.123Z level=info msg="run queued" run=42 pipeline=demo path="/a b\n"
 *
 * and JSON lines like {"ts":"...","level":"info","msg":"run queued",
 * "run":"42","pipeline":"demo"}.  Output goes to stderr; the sink is the
 * one file-scope mutable besides signal flags, and is thread-safe.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT = 0, LOG_JSON };

/* Set the threshold and format; the default is info, text, stderr. */
void	log_setup(enum log_level level, enum log_format format, FILE *out);
int	log_enabled(enum log_level level);
/* Parse "debug|info|warn|error" into *out; -1 when unknown. */
int	log_level_parse(const char *s, enum log_level *out);

/*
 * Append the n bytes of v to out as one log value of format: for text,
 * bare when it has no space, quote, backslash, '=', control character or
 * invalid UTF-8 and is not empty, else in double quotes with \" \\ \n \r
 * \t and \xNN escapes; for JSON, always a JSON string (\u00NN for control
 * characters, \ufffd for bytes that are not UTF-8).  Return 0, or
 * ERR_TOOBIG / ERR_NOMEM from out.
 */
struct buf;
int	log_escape(struct buf *out, enum log_format format, const char *v,
	    size_t n) __attribute__((warn_unused_result));

void	log_write(enum log_level level, const char *msg, const char *kvfmt, ...)
	    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, msg, ...)                                               \
	do {                                                                \
		if (log_enabled(lvl))                                       \
			log_write(lvl, msg, __VA_ARGS__);                   \
	} while (0)
#define log_debug(msg, ...)	LOG_AT(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)	LOG_AT(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)	LOG_AT(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...)	LOG_AT(LOG_ERROR, msg, __VA_ARGS__)

#endif
