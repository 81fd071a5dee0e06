/* units.c - duration and size parsers; see units.h. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/units.h"

/* Read a run of decimal digits; ERR_INVALID when none or on overflow. */
static int
read_uint(const char **pp, int64_t *out)
{
	const char *p = *pp;
	int64_t v = 0;

	if (*p < '0' || *p > '9')
		return ERR_INVALID;
	while (*p >= '0' && *p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *p - '0', &v))
			return ERR_INVALID;
		p++;
	}
	*pp = p;
	*out = v;
	return 0;
}

int
units_parse_duration(const char *s, int64_t *ms)
{
	static const struct { const char *name; int64_t ms; } units[] = {
		{ "h", 3600000 }, { "ms", 1 }, { "m", 60000 }, { "s", 1000 },
	};
	/* rank gives the required decreasing order: h > m > s > ms */
	static const int rank[] = { 4, 1, 3, 2 };
	const char *p = s;
	int64_t total = 0, v, part;
	int last = 5;

	if (s == NULL || *s == '\0')
		return ERR_INVALID;
	while (*p != '\0') {
		size_t i;

		if (read_uint(&p, &v) < 0)
			return ERR_INVALID;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].name);

			if (strncmp(p, units[i].name, n) == 0 &&
			    (p[n] == '\0' || (p[n] >= '0' && p[n] <= '9')))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]) || rank[i] >= last)
			return ERR_INVALID;
		last = rank[i];
		p += strlen(units[i].name);
		if (__builtin_mul_overflow(v, units[i].ms, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return ERR_INVALID;
	}
	*ms = total;
	return 0;
}

int
units_parse_size(const char *s, int64_t *bytes)
{
	static const struct { const char *name; int64_t mult; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "KiB", 1LL << 10 }, { "MiB", 1LL << 20 },
		{ "GiB", 1LL << 30 }, { "TiB", 1LL << 40 },
		{ "kB", 1000LL }, { "MB", 1000000LL },
		{ "GB", 1000000000LL }, { "TB", 1000000000000LL },
	};
	const char *p = s;
	int64_t v;

	if (s == NULL || read_uint(&p, &v) < 0)
		return ERR_INVALID;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].name) == 0) {
			if (__builtin_mul_overflow(v, units[i].mult, &v))
				return ERR_INVALID;
			*bytes = v;
			return 0;
		}
	}
	return ERR_INVALID;
}

void
units_format_duration(int64_t ms, char *out, unsigned long outlen)
{
	int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
	int64_t r = ms % 1000;
	size_t n = 0;

	out[0] = '\0';
	if (ms <= 0) {
		(void)snprintf(out, outlen, "0s");
		return;
	}
#define PART(v, u)                                                          \
	if ((v) > 0 && n < outlen) {                                        \
		int k = snprintf(out + n, outlen - n, "%lld" u, (long long)(v)); \
		n += k > 0 ? (size_t)k : 0;                                 \
	}
	PART(h, "h")
	PART(m, "m")
	PART(s, "s")
	PART(r, "ms")
#undef PART
}

void
units_format_size(int64_t bytes, char *out, unsigned long outlen)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (u < 4 && bytes != 0 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	(void)snprintf(out, outlen, "%lld%s", (long long)bytes, unit[u]);
}

/* n digits at s as a number, or -1 when they are not all digits. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
units_rfc3339_valid(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, sec, n = 0;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return 0;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return 0;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return 0;
	s += 19;
	if (*s == '.') {
		while (s[1 + n] >= '0' && s[1 + n] <= '9')
			n++;
		if (n < 1 || n > 9)
			return 0;
		s += 1 + n;
	}
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		return 1;
	return (s[0] == '+' || s[0] == '-') && strlen(s) == 6 && s[3] == ':' &&
	    digits(s + 1, 2) >= 0 && digits(s + 1, 2) <= 23 &&
	    digits(s + 4, 2) >= 0 && digits(s + 4, 2) <= 59;
}
