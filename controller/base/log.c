/*
 * log.c - structured logging; see log.h.
 *
 * The key=value format of a call is the program's own text and is parsed
 * here; what its conversions produce is data, from a request path, a file
 * name or a server's message, and goes through one escaper (put_value):
 * in text lines a value with a space, quote, backslash, '=' or a control
 * character is quoted and escaped, in JSON lines every value is a JSON
 * string.  So no value can end a line, start a key or fake a level.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/log.h"

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

/* The length of the UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Whether a text value must be quoted to read back as one value. */
static int
needs_quotes(const char *v, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)v[i];
		size_t ul = utf8_len((const unsigned char *)v + i, n - i);

		if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\' ||
		    c == '=' || ul == 0)
			return 1;
		i += ul;
	}
	return 0;
}

int
log_escape(struct buf *out, enum log_format format, const char *v, size_t n)
{
	const unsigned char *s = (const unsigned char *)v;
	int json = format == LOG_JSON, rc = 0;

	if (!json && !needs_quotes(v, n))
		return buf_append(out, v, n);
	rc = buf_putc(out, '"');
	for (size_t i = 0; i < n && rc == 0;) {
		unsigned char c = s[i];
		size_t ul = c >= 0x80 ? utf8_len(s + i, n - i) : 1;

		if (c == '"' || c == '\\')
			rc = buf_printf(out, "\\%c", c);
		else if (c == '\n')
			rc = buf_puts(out, "\\n");
		else if (c == '\r')
			rc = buf_puts(out, "\\r");
		else if (c == '\t')
			rc = buf_puts(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			rc = buf_printf(out, json ? "\\u%04x" : "\\x%02x", c);
		else if (ul == 0)	/* not UTF-8 */
			rc = json ? buf_puts(out, "\\ufffd") :
			    buf_printf(out, "\\x%02x", c);
		else
			rc = buf_append(out, s + i, ul);
		i += ul == 0 ? 1 : ul;
	}
	return rc == 0 ? buf_putc(out, '"') : rc;
}

/*
 * Append what fits of n bytes of s to val: a value past its cap is kept
 * cut short, never dropped.  Only ERR_NOMEM fails.
 */
static int
append_cut(struct buf *val, const char *s, size_t n)
{
	size_t room = val->max - val->len;
	int rc;

	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	rc = buf_append(val, s, n);
	return rc == ERR_TOOBIG ? 0 : rc;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/*
 * Format the one conversion at *pp (its '%') with the next arguments of
 * ap into val, and move *pp past it.  The format was checked against the
 * arguments by the compiler (log_write's format attribute).
 */
static int
put_conversion(struct buf *val, const char **pp, va_list *ap)
{
	char spec[32], tmp[LIM_LOG_LINE];
	const char *p = *pp + 1;
	int star[2], nstar = 0, lng = 0, shrt = 0, n = 0;
	size_t sl;
	char conv, size = 0;

	p += strspn(p, "-+ #0");
	if (*p == '*')
		star[nstar++] = va_arg(*ap, int), p++;
	else
		p += strspn(p, "0123456789");
	if (*p == '.') {
		p++;
		if (*p == '*')
			star[nstar++] = va_arg(*ap, int), p++;
		else
			p += strspn(p, "0123456789");
	}
	for (; *p == 'l'; p++)
		lng++;
	for (; *p == 'h'; p++)
		shrt++;
	if (*p == 'z' || *p == 'j' || *p == 't' || *p == 'L')
		size = *p++;
	conv = *p;
	if (conv == '\0' || (sl = (size_t)(p + 1 - *pp)) >= sizeof(spec))
		return -1;	/* cannot happen with a checked format */
	memcpy(spec, *pp, sl);
	spec[sl] = '\0';
	*pp = p + 1;
#define FMT(x)                                                              \
	(nstar == 0 ? snprintf(tmp, sizeof(tmp), spec, x) :                 \
	 nstar == 1 ? snprintf(tmp, sizeof(tmp), spec, star[0], x) :        \
	 snprintf(tmp, sizeof(tmp), spec, star[0], star[1], x))
	switch (conv) {
	case '%':
		return append_cut(val, "%", 1);
	case 'd': case 'i':
		if (size == 'z')	n = FMT(va_arg(*ap, ssize_t));
		else if (size == 'j')	n = FMT(va_arg(*ap, intmax_t));
		else if (size == 't')	n = FMT(va_arg(*ap, ptrdiff_t));
		else if (lng >= 2)	n = FMT(va_arg(*ap, long long));
		else if (lng == 1)	n = FMT(va_arg(*ap, long));
		else			n = FMT(va_arg(*ap, int));
		break;
	case 'o': case 'u': case 'x': case 'X':
		if (size == 'z')	n = FMT(va_arg(*ap, size_t));
		else if (size == 'j')	n = FMT(va_arg(*ap, uintmax_t));
		else if (size == 't')	n = FMT(va_arg(*ap, ptrdiff_t));
		else if (lng >= 2)	n = FMT(va_arg(*ap, unsigned long long));
		else if (lng == 1)	n = FMT(va_arg(*ap, unsigned long));
		else			n = FMT(va_arg(*ap, unsigned));
		break;
	case 'c':
		n = FMT(va_arg(*ap, int));
		break;
	case 's': {
		const char *s = va_arg(*ap, const char *);

		if (s == NULL)
			s = "(null)";
		if (sl == 2)	/* plain %s: no copy */
			return append_cut(val, s, strlen(s));
		n = FMT(s);
		break;
	}
	case 'p':
		n = FMT(va_arg(*ap, void *));
		break;
	case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
	case 'a': case 'A':
		if (size == 'L')
			n = FMT(va_arg(*ap, long double));
		else
			n = FMT(va_arg(*ap, double));
		break;
	default:
		return -1;
	}
#undef FMT
	(void)shrt;	/* h and hh values arrive promoted to int */
	if (n < 0)
		return -1;
	return append_cut(val, tmp, (size_t)n < sizeof(tmp) ? (size_t)n :
	    sizeof(tmp) - 1);
}
#pragma GCC diagnostic pop

/*
 * Read the next pair of the format at *pp: the key (a word before '=')
 * into key, the value (bare up to a space, or between double quotes in
 * the format) formatted into val.  A word without '=' is kept under the
 * key "extra".  Return 1 for a pair, 0 at the end, -1 on a bad format.
 */
static int
next_pair(const char **pp, char *key, size_t keylen, struct buf *val,
    va_list *ap)
{
	const char *p = *pp, *k;
	size_t kl;
	int quoted = 0, rc = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	k = p;
	kl = strcspn(p, "= \"%");
	if (p[kl] == '=' && kl > 0) {
		p += kl + 1;
	} else {
		k = "extra";
		kl = 5;
	}
	if (kl >= keylen)
		kl = keylen - 1;
	for (size_t i = 0; i < kl; i++) {
		char c = k[i];

		key[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ? c : '_';
	}
	key[kl] = '\0';
	buf_reset(val);
	if (*p == '"') {
		quoted = 1;
		p++;
	}
	while (*p != '\0' && rc == 0) {
		if (quoted && *p == '"') {
			p++;
			break;
		}
		if (!quoted && *p == ' ')
			break;
		if (*p == '%') {
			rc = put_conversion(val, &p, ap);
		} else {
			rc = append_cut(val, p, 1);
			p++;
		}
	}
	*pp = p;
	/* The arguments are out of step after a failure: stop the line. */
	return rc < 0 ? -1 : 1;
}

/* Append "," or " " and the pair; undo a pair that does not fit. */
static int
put_pair(struct buf *b, enum log_format f, const char *key, const char *v,
    size_t n)
{
	size_t mark = b->len;
	int rc;

	if (f == LOG_JSON) {
		if ((rc = buf_putc(b, ',')) == 0 &&
		    (rc = log_escape(b, f, key, strlen(key))) == 0 &&
		    (rc = buf_putc(b, ':')) == 0)
			rc = log_escape(b, f, v, n);
	} else {
		if ((rc = buf_printf(b, " %s=", key)) == 0)
			rc = log_escape(b, f, v, n);
	}
	if (rc < 0 && b->data != NULL) {
		b->len = mark;
		b->data[mark] = '\0';
	}
	return rc;
}

void
log_write(enum log_level level, const char *msg, const char *kvfmt, ...)
{
	enum log_format f = sink.format;
	char ts[64], key[64];
	struct timespec now;
	struct buf b, val;
	const char *p = kvfmt;
	struct tm tm;
	FILE *out;
	va_list ap;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	(void)snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
	/* room for the closing "}\n" however much was cut */
	buf_init(&b, LIM_LOG_LINE * 2 - 4);
	buf_init(&val, LIM_LOG_LINE);
	if (f == LOG_JSON)
		rc = buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":",
		    ts, level_names[level]);
	else
		rc = buf_printf(&b, "ts=%s level=%s msg=", ts,
		    level_names[level]);
	if (rc == 0 && f == LOG_TEXT && !needs_quotes(msg, strlen(msg)))
		rc = buf_printf(&b, "\"%s\"", msg);	/* always quoted */
	else if (rc == 0)
		rc = log_escape(&b, f, msg, strlen(msg));
	va_start(ap, kvfmt);
	while (rc == 0 && next_pair(&p, key, sizeof(key), &val, &ap) == 1) {
		if (put_pair(&b, f, key, val.data ? val.data : "", val.len) <
		    0) {
			(void)put_pair(&b, f, "truncated", "1", 1);
			break;
		}
	}
	va_end(ap);
	b.max += 4;
	if (b.data != NULL && buf_puts(&b, f == LOG_JSON ? "}\n" : "\n") == 0) {
		pthread_mutex_lock(&sink.lock);
		out = sink.out ? sink.out : stderr;
		fputs(b.data, out);
		fflush(out);
		pthread_mutex_unlock(&sink.lock);
	}
	buf_release(&val);
	buf_release(&b);
}
