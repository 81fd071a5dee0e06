/* units.c - duration and size parsers; see units.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

int
units_parse_age(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t days = 0, rest = 0;

	if (s == NULL)
		return ERR_INVALID;
	if (read_uint(&p, &days) == 0 && *p == 'd') {
		p++;
		if (*p != '\0' && units_parse_duration(p, &rest) < 0)
			return ERR_INVALID;
	} else if (units_parse_duration(s, &rest) < 0) {
		return ERR_INVALID;
	} else {
		days = 0;
	}
	if (__builtin_mul_overflow(days, INT64_C(86400000), &days) ||
	    __builtin_add_overflow(days, rest, &days))
		return ERR_INVALID;
	*ms = days;
	return 0;
}

/* Exactly n digits at *pp into *out. */
static int
read_digits(const char **pp, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*pp)[i];

		if (c < '0' || c > '9')
			return ERR_INVALID;
		v = v * 10 + (c - '0');
	}
	*pp += n;
	*out = v;
	return 0;
}

int
units_parse_rfc3339(const char *s, int64_t *ms)
{
	struct tm tm;
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
	int64_t t;

	if (s == NULL || read_digits(&p, 4, &y) < 0 || *p++ != '-' ||
	    read_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    read_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't') ||
	    (p++, read_digits(&p, 2, &h) < 0) || *p++ != ':' ||
	    read_digits(&p, 2, &mi) < 0 || *p++ != ':' ||
	    read_digits(&p, 2, &sec) < 0)
		return ERR_INVALID;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return ERR_INVALID;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (read_digits(&p, 2, &oh) < 0 || *p++ != ':' ||
		    read_digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
			return ERR_INVALID;
	} else {
		return ERR_INVALID;
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60)
		return ERR_INVALID;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	if (tm.tm_mday != d && sec < 60)
		return ERR_INVALID;	/* February 30th and the like */
	*ms = (t - sign * (oh * 3600 + om * 60)) * 1000 + frac;
	return 0;
}

int
units_rfc3339_valid(const char *s)
{
	int64_t ms;

	return units_parse_rfc3339(s, &ms) == 0;
}
