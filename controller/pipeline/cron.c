/*
 * cron.c - cron expressions, TZif zones and next fire times; see cron.h.
 * Civil time arithmetic is Howard Hinnant's days_from_civil.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/sys.h"
#include "pipeline/cron.h"

/* --- civil time -------------------------------------------------------- */

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* 0 = Sunday */
static int
weekday(int64_t days)
{
	int64_t w = (days + 4) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int64_t y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31 };

	return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* --- expressions --------------------------------------------------------- */

struct cron_field {
	const char		*name;
	int			 lo, hi;
	const char *const	*names;		/* index + lo = value */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr",
	"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const wday_names[] = { "sun", "mon", "tue", "wed", "thu",
	"fri", "sat", NULL };

static const struct cron_field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day-of-week", 0, 7, wday_names },
};

/* A number or a name at *s; *s advances. */
static int
read_value(const struct cron_field *f, const char **s, int *v,
    struct err *err)
{
	const char *p = *s;
	long n = 0;

	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p - '0');
			if (n > 10000)
				n = 10000;
			p++;
		}
	} else if (f->names != NULL && isalpha((unsigned char)*p)) {
		size_t i;

		for (i = 0; f->names[i] != NULL; i++)
			if (strncasecmp(p, f->names[i], 3) == 0 &&
			    !isalpha((unsigned char)p[3]))
				break;
		if (f->names[i] == NULL)
			return err_set(err, ERR_INVALID, "%s: unknown name "
			    "\"%.*s\"", f->name, (int)strcspn(p, ",-/"), p);
		n = (long)i + (f->lo == 1 ? 1 : 0);
		p += 3;
	} else {
		return err_set(err, ERR_INVALID, "%s: expected a number%s at "
		    "\"%.20s\"", f->name, f->names ? " or a name" : "", p);
	}
	if (n < f->lo || n > f->hi)
		return err_set(err, ERR_INVALID, "%s: %ld is out of range %d-%d",
		    f->name, n, f->lo, f->hi);
	*v = (int)n;
	*s = p;
	return 0;
}

/* One field's text (NUL-terminated) into a bit set. */
static int
parse_field(const struct cron_field *f, const char *text, uint64_t *bits,
    int *star, struct err *err)
{
	const char *s = text;
	int rc;

	*bits = 0;
	*star = *s == '*';
	for (;;) {
		int lo, hi, step = 1, range = 0;

		if (*s == '*') {
			lo = f->lo;
			hi = f->hi == 7 ? 6 : f->hi;
			range = 1;
			s++;
		} else {
			if ((rc = read_value(f, &s, &lo, err)) < 0)
				return rc;
			hi = lo;
			if (*s == '-') {
				s++;
				if ((rc = read_value(f, &s, &hi, err)) < 0)
					return rc;
				if (hi < lo)
					return err_set(err, ERR_INVALID, "%s: "
					    "range %d-%d goes backwards",
					    f->name, lo, hi);
				range = 1;
			}
		}
		if (*s == '/') {
			long n = 0;

			s++;
			if (!isdigit((unsigned char)*s))
				return err_set(err, ERR_INVALID, "%s: expected "
				    "a step after '/'", f->name);
			while (isdigit((unsigned char)*s)) {
				n = n * 10 + (*s++ - '0');
				if (n > 10000)
					n = 10000;
			}
			if (n < 1 || n > f->hi - f->lo + 1)
				return err_set(err, ERR_INVALID, "%s: step %ld "
				    "is out of range 1-%d", f->name, n,
				    f->hi - f->lo + 1);
			step = (int)n;
			if (!range)	/* N/STEP: from N to the end */
				hi = f->hi == 7 ? 6 : f->hi;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
		if (*s == '\0')
			break;
		if (*s != ',')
			return err_set(err, ERR_INVALID, "%s: unexpected '%c' in "
			    "\"%s\"", f->name, *s, text);
		s++;
	}
	return 0;
}

int
cron_parse(struct cron *out, const char *expr, struct err *err)
{
	char text[5][128];
	uint64_t bits[5];
	int star[5], nf = 0, rc;
	const char *s = expr;
	int64_t next;

	memset(out, 0, sizeof(*out));
	while (*s != '\0') {
		size_t n;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		n = strcspn(s, " \t");
		if (nf == 5)
			return err_set(err, ERR_INVALID, "expected 5 fields "
			    "(minute hour day-of-month month day-of-week), got "
			    "more");
		if (n >= sizeof(text[0]))
			return err_set(err, ERR_INVALID, "%s: too long",
			    fields[nf].name);
		memcpy(text[nf], s, n);
		text[nf][n] = '\0';
		nf++;
		s += n;
	}
	if (nf != 5)
		return err_set(err, ERR_INVALID, "expected 5 fields (minute hour "
		    "day-of-month month day-of-week), got %d", nf);
	for (int i = 0; i < 5; i++)
		if ((rc = parse_field(&fields[i], text[i], &bits[i], &star[i],
		    err)) < 0)
			return rc;
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->mdays = (uint32_t)bits[2];
	out->months = (uint32_t)bits[3];
	out->wdays = (uint32_t)bits[4];
	out->mday_star = star[2];
	out->wday_star = star[4];
	if (cron_next(out, NULL, 0, &next) < 0)
		return err_set(err, ERR_INVALID, "day-of-month: \"%s\" never "
		    "occurs in month \"%s\"", text[2], text[3]);
	return 0;
}

static int
day_matches(const struct cron *c, int64_t days, int mday)
{
	int dom = (c->mdays >> mday) & 1;
	int dow = (c->wdays >> weekday(days)) & 1;

	if (c->mday_star || c->wday_star)
		return dom && dow;
	return dom || dow;
}

/*
 * The first matching civil minute at or after civil time lt (seconds since
 * the epoch, as if UTC), within the horizon.
 */
static int
next_civil(const struct cron *c, int64_t lt, int64_t *out)
{
	int64_t days = floor_div(lt, 86400), end, y;
	int m, d, mins = (int)((lt - days * 86400 + 59) / 60);

	if (mins >= 1440) {
		days++;
		mins = 0;
	}
	end = days + 366 * CRON_HORIZON_YEARS;
	for (; days < end; days++, mins = 0) {
		civil_from_days(days, &y, &m, &d);
		if (!((c->months >> m) & 1)) {
			days += month_days(y, m) - d;	/* to the month's end */
			continue;
		}
		if (!day_matches(c, days, d))
			continue;
		for (int h = mins / 60; h < 24; h++) {
			if (!((c->hours >> h) & 1))
				continue;
			for (int mi = h == mins / 60 ? mins % 60 : 0; mi < 60;
			    mi++) {
				if ((c->minutes >> mi) & 1) {
					*out = days * 86400 + h * 3600 +
					    mi * 60;
					return 0;
				}
			}
		}
	}
	return ERR_NOTFOUND;
}

/* --- zones --------------------------------------------------------------- */

const char *
cron_zone_name_check(const char *name)
{
	const char *s = name;

	if (*name == '\0')
		return "empty";
	if (strlen(name) > 128)
		return "longer than 128 characters";
	if (*name == '/')
		return "must not start with '/'";
	while (*s != '\0') {
		size_t n = strcspn(s, "/");

		if (n == 0)
			return "has an empty component";
		if ((n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return "must not contain '.' or '..' components";
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)s[i]) &&
			    strchr("._+-", s[i]) == NULL)
				return "may hold only letters, digits, '.', "
				    "'_', '+', '-' and '/'";
		s += n;
		if (*s == '/') {
			s++;
			if (*s == '\0')
				return "must not end with '/'";
		}
	}
	return NULL;
}

void
cron_zone_release(struct cron_zone *z)
{
	free(z->trans);
	free(z->idx);
	free(z->offs);
	memset(z, 0, sizeof(*z));
}

static int64_t
be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

/* POSIX TZ: a name (alphabetic or <quoted>). */
static const char *
tz_name(const char *s)
{
	if (*s == '<') {
		const char *e = strchr(s, '>');

		return e != NULL ? e + 1 : NULL;
	}
	while (isalpha((unsigned char)*s))
		s++;
	return s;
}

/* [+-]hh[:mm[:ss]] into *secs. */
static const char *
tz_time(const char *s, int32_t *secs)
{
	int sign = 1, part = 0;
	int32_t v[3] = { 0, 0, 0 };

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*s))
		return NULL;
	for (;;) {
		while (isdigit((unsigned char)*s)) {
			v[part] = v[part] * 10 + (*s++ - '0');
			if (v[part] > 1000)
				return NULL;
		}
		if (*s != ':' || part == 2)
			break;
		s++;
		part++;
	}
	*secs = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
	return s;
}

static const char *
tz_date(const char *s, struct cron_tzdate *d)
{
	char *e;

	memset(d, 0, sizeof(*d));
	d->secs = 7200;
	if (*s == 'J' || isdigit((unsigned char)*s)) {
		d->kind = *s == 'J' ? 'J' : 'n';
		if (*s == 'J')
			s++;
		d->n = (int)strtol(s, &e, 10);
		s = e;
	} else if (*s == 'M') {
		d->kind = 'M';
		d->m = (int)strtol(s + 1, &e, 10);
		if (*e != '.')
			return NULL;
		d->w = (int)strtol(e + 1, &e, 10);
		if (*e != '.')
			return NULL;
		d->d = (int)strtol(e + 1, &e, 10);
		s = e;
		if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0 ||
		    d->d > 6)
			return NULL;
	} else {
		return NULL;
	}
	if (*s == '/')
		s = tz_time(s + 1, &d->secs);
	return s;
}

/* The footer "STD off[DST[off][,start[/t],end[/t]]]"; 0 or -1. */
static int
tz_rule(struct cron_zone *z, const char *s)
{
	int32_t off;

	if ((s = tz_name(s)) == NULL || (s = tz_time(s, &off)) == NULL)
		return -1;
	z->std_off = -off;
	z->has_rule = 1;
	if (*s == '\0')
		return 0;
	if ((s = tz_name(s)) == NULL)
		return -1;
	z->rule_dst = 1;
	z->dst_off = z->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if ((s = tz_time(s, &off)) == NULL)
			return -1;
		z->dst_off = -off;
	}
	if (*s == '\0') {	/* the US rules, POSIX's default */
		s = "M3.2.0,M11.1.0";
	} else if (*s != ',') {
		return -1;
	} else {
		s++;
	}
	if ((s = tz_date(s, &z->start)) == NULL || *s != ',' ||
	    (s = tz_date(s + 1, &z->end)) == NULL || *s != '\0')
		return -1;
	return 0;
}

int
cron_zone_parse(struct cron_zone *out, const unsigned char *data, size_t len,
    struct err *err)
{
	const unsigned char *p = data, *end = data + len;
	int64_t cnt[6];
	size_t tsize = 4, need;
	int version;
	int rc = ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return err_set(err, ERR_INVALID, "not a TZif file");
	version = p[4] == 0 ? 1 : p[4] - '0';
	for (;;) {
		for (int i = 0; i < 6; i++) {
			cnt[i] = be(p + 20 + 4 * i, 4);
			if (cnt[i] < 0 || cnt[i] > 1000000)
				goto bad;
		}
		/* isut, isstd, leap, time, type, char */
		need = 44 + (size_t)cnt[3] * (tsize + 1) + (size_t)cnt[4] * 6 +
		    (size_t)cnt[5] + (size_t)cnt[2] * (tsize + 4) +
		    (size_t)cnt[1] + (size_t)cnt[0];
		if ((size_t)(end - p) < need || cnt[4] < 1)
			goto bad;
		if (version >= 2 && tsize == 4) {
			p += need;
			if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0)
				goto bad;
			tsize = 8;
			continue;
		}
		break;
	}
	out->ntrans = (size_t)cnt[3];
	out->ntypes = (size_t)cnt[4];
	out->trans = xcalloc(out->ntrans + 1, sizeof(*out->trans));
	out->idx = xcalloc(out->ntrans + 1, sizeof(*out->idx));
	out->offs = xcalloc(out->ntypes, sizeof(*out->offs));
	{
		const unsigned char *q = p + 44;

		for (size_t i = 0; i < out->ntrans; i++, q += tsize)
			out->trans[i] = be(q, (int)tsize);
		for (size_t i = 0; i < out->ntrans; i++, q++) {
			if (*q >= out->ntypes)
				goto bad;
			out->idx[i] = *q;
		}
		for (size_t i = 0; i < out->ntypes; i++, q += 6)
			out->offs[i] = (int32_t)be(q, 4);
		p += need;
	}
	if (tsize == 8 && p < end && *p == '\n') {
		const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
		char footer[256];
		size_t n;

		if (nl == NULL || (n = (size_t)(nl - p - 1)) >= sizeof(footer))
			goto bad;
		memcpy(footer, p + 1, n);
		footer[n] = '\0';
		if (n > 0 && tz_rule(out, footer) < 0)
			goto bad;
	}
	return 0;
bad:
	cron_zone_release(out);
	return err_set(err, rc, "malformed TZif file");
}

int
cron_zone_load(struct cron_zone *out, const char *name, struct err *err)
{
	char path[LIM_PATH];
	const char *why;
	struct buf b;
	int rc, n;

	memset(out, 0, sizeof(*out));
	buf_init(&b, 1024 * 1024);
	if ((why = cron_zone_name_check(name)) != NULL) {
		rc = err_set(err, ERR_INVALID, "invalid time zone name \"%.128s\": "
		    "%s", name, why);
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", CRON_ZONEINFO_DIR, name);
	if (n < 0 || n >= (int)sizeof(path)) {
		rc = err_set(err, ERR_INVALID, "time zone name too long");
		goto out;
	}
	if ((rc = sys_read_file(path, "time zone", 1024 * 1024, 0, &b,
	    err)) < 0) {
		if (rc == ERR_NOTFOUND || rc == ERR_GENERIC)
			rc = err_set(err, ERR_NOTFOUND, "unknown time zone "
			    "\"%s\" (no such zone in %s)", name, CRON_ZONEINFO_DIR);
		goto out;
	}
	if ((rc = cron_zone_parse(out, (const unsigned char *)b.data, b.len,
	    err)) < 0)
		rc = err_set(err, ERR_INVALID, "unknown time zone \"%s\" "
		    "(%s/%s is not a zone file)", name, CRON_ZONEINFO_DIR, name);
out:
	buf_release(&b);
	return rc;
}

/* The instant, in year y, of rule date d at local offset off. */
static int64_t
rule_instant(int64_t y, const struct cron_tzdate *d, int32_t off)
{
	int64_t days;

	if (d->kind == 'J') {
		days = days_from_civil(y, 1, 1) + d->n - 1;
		if (is_leap(y) && d->n >= 60)
			days++;
	} else if (d->kind == 'n') {
		days = days_from_civil(y, 1, 1) + d->n;
	} else {
		int64_t first = days_from_civil(y, d->m, 1);
		int delta = (d->d - weekday(first) + 7) % 7;

		days = first + delta + 7 * (d->w - 1);
		while (days >= first + month_days(y, d->m))
			days -= 7;
	}
	return days * 86400 + d->secs - off;
}

static int32_t
rule_offset(const struct cron_zone *z, int64_t t)
{
	int64_t y, s, e;
	int m, d;

	if (!z->rule_dst)
		return z->std_off;
	civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
	s = rule_instant(y, &z->start, z->std_off);
	e = rule_instant(y, &z->end, z->dst_off);
	if (s < e)
		return t >= s && t < e ? z->dst_off : z->std_off;
	return t >= e && t < s ? z->std_off : z->dst_off;
}

int32_t
cron_zone_offset(const struct cron_zone *z, int64_t t)
{
	size_t lo = 0, hi;

	if (z == NULL || z->ntypes == 0)
		return 0;
	if (z->ntrans == 0 || t < z->trans[0])
		return z->ntrans == 0 && z->has_rule ? rule_offset(z, t) :
		    z->offs[0];
	if (t >= z->trans[z->ntrans - 1] && z->has_rule)
		return rule_offset(z, t);
	hi = z->ntrans;
	while (hi - lo > 1) {	/* the last transition at or before t */
		size_t mid = lo + (hi - lo) / 2;

		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->offs[z->idx[lo]];
}

/*
 * The instant of civil time lt: the first when it occurs twice, the end of
 * the jump when the clock skips it.
 */
static int64_t
civil_instant(const struct cron_zone *z, int64_t lt)
{
	int32_t oa = cron_zone_offset(z, lt - 86400);
	int32_t ob = cron_zone_offset(z, lt + 86400);
	int64_t ia = lt - oa, ib = lt - ob, lo, hi, best = INT64_MAX;

	if (cron_zone_offset(z, ia) == oa)
		best = ia;
	if (cron_zone_offset(z, ib) == ob && ib < best)
		best = ib;
	if (best != INT64_MAX)
		return best;
	/* a gap: the first instant with the later offset, in (ib, ia] */
	lo = ib < ia ? ib : ia;
	hi = ib < ia ? ia : ib;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (cron_zone_offset(z, mid) == cron_zone_offset(z, lo))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

int
cron_next(const struct cron *c, const struct cron_zone *z, int64_t t,
    int64_t *next)
{
	/* Civil times map to instants in order, and t's own civil time to
	 * an instant at or before t: no slot before it can be the next. */
	int64_t lt = t + cron_zone_offset(z, t), s;

	for (int guard = 0; guard < 100000; guard++) {
		int64_t i;

		if (next_civil(c, lt, &s) < 0)
			return ERR_NOTFOUND;
		i = z != NULL ? civil_instant(z, s) : s;
		if (i > t) {
			*next = i;
			return 0;
		}
		lt = s + 60;
	}
	return ERR_NOTFOUND;
}

int
cron_last(const struct cron *c, const struct cron_zone *z, int64_t after,
    int64_t t, int64_t *last)
{
	static const int64_t windows[] = { 3600, 86400, 31 * 86400,
	    366 * 86400, INT64_MAX };

	for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
		int64_t from = windows[w] == INT64_MAX || t - after <
		    windows[w] ? after : t - windows[w];
		int64_t s = from, found = 0, have = 0;

		while (cron_next(c, z, s, &s) == 0 && s <= t) {
			found = s;
			have = 1;
		}
		if (have) {
			*last = found;
			return 0;
		}
		if (from == after)
			break;
	}
	return ERR_NOTFOUND;
}
