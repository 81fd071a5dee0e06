/*
 * log.c - structured logging; see log.h.
 *
 * Values in the key=value part are written as given; the JSON form parses
 * that part back into pairs so both formats carry the same fields.  A value
 * with spaces must be quoted by the caller ("msg=\"%s\"" is not needed for
 * the msg itself, which is always quoted here).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/log.h"

/* A log line past its cap is written truncated, never dropped. */
#define PUT(x)	do { if ((x) < 0) truncated = 1; } while (0)

static struct {
	enum log_level	level;
	enum log_format	format;
	FILE		*out;
	pthread_mutex_t	lock;
} sink = { LOG_INFO, LOG_TEXT, NULL, PTHREAD_MUTEX_INITIALIZER };

static const char *level_names[] = { "debug", "info", "warn", "error" };

void
log_setup(enum log_level level, enum log_format format, FILE *out)
{
	pthread_mutex_lock(&sink.lock);
	sink.level = level;
	sink.format = format;
	sink.out = out;
	pthread_mutex_unlock(&sink.lock);
}

int
log_enabled(enum log_level level)
{
	return level >= sink.level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
json_str(struct buf *b, const char *s, size_t n)
{
	int truncated = 0;
	int rc = buf_putc(b, '"');

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			rc = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_printf(b, "\\u%04x", c);
		else
			rc = buf_putc(b, (char)c);
	}
	if (rc == 0)
		PUT(buf_putc(b, '"'));
	(void)truncated;
}

/* Turn `a=1 b="x y"` into ,"a":"1","b":"x y". */
static void
kv_to_json(struct buf *b, const char *kv)
{
	const char *p = kv;
	int truncated = 0;

	while (*p != '\0') {
		const char *k, *v;
		size_t kl, vl;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		k = p;
		while (*p != '\0' && *p != '=' && *p != ' ')
			p++;
		kl = (size_t)(p - k);
		if (*p != '=') {
			v = k;
			vl = kl;
			k = "extra";
			kl = 5;
		} else {
			p++;
			if (*p == '"') {
				v = ++p;
				while (*p != '\0' && !(*p == '"' && p[-1] != '\\'))
					p++;
				vl = (size_t)(p - v);
				if (*p == '"')
					p++;
			} else {
				v = p;
				while (*p != '\0' && *p != ' ')
					p++;
				vl = (size_t)(p - v);
			}
		}
		PUT(buf_putc(b, ','));
		json_str(b, k, kl);
		PUT(buf_putc(b, ':'));
		json_str(b, v, vl);
	}
	(void)truncated;
}

void
log_write(enum log_level level, const char *msg, const char *kvfmt, ...)
{
	char ts[64], kv[LIM_LOG_LINE];
	int truncated = 0;
	struct timespec now;
	struct tm tm;
	struct buf b;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	(void)snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
	va_start(ap, kvfmt);
	(void)vsnprintf(kv, sizeof(kv), kvfmt, ap);
	va_end(ap);

	buf_init(&b, LIM_LOG_LINE * 2);
	if (sink.format == LOG_JSON) {
		PUT(buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":",
		    ts, level_names[level]));
		json_str(&b, msg, strlen(msg));
		kv_to_json(&b, kv);
		PUT(buf_puts(&b, "}\n"));
	} else {
		PUT(buf_printf(&b, "ts=%s level=%s msg=\"%s\"%s%s\n", ts,
		    level_names[level], msg, kv[0] ? " " : "", kv));
	}
	pthread_mutex_lock(&sink.lock);
	if (b.data != NULL) {
		FILE *out = sink.out ? sink.out : stderr;
		fputs(b.data, out);
		fflush(out);
	}
	pthread_mutex_unlock(&sink.lock);
	(void)truncated;
	buf_release(&b);
}
