/*
 * cron.h - schedule triggers: standard 5-field cron expressions and IANA
 * time zones read from the system's tzdata (TZif files), and the next fire
 * time of an expression in a zone.  Pure computation except
 * cron_zone_load(), which reads one file.
 *
 * Expressions: "minute hour day-of-month month day-of-week", each field a
 * comma list of `*`, `N`, `N-M`, with an optional `/STEP` (`*` and `N-M`
 * only; `N/STEP` means N-max/STEP as in Vixie cron).  Months may be named
 * jan..dec, days of the week sun..sat (0 and 7 are Sunday); names are not
 * case-sensitive but ranges of names are allowed (mon-fri).  When both
 * day-of-month and day-of-week are restricted (neither starts with `*`),
 * a day matches when EITHER matches (the usual cron rule); otherwise both
 * must.  Macros (@daily) and seconds are not supported.
 *
 * Time zones and daylight saving time.  Slots are civil (wall-clock)
 * minutes of the zone:
 *   - a slot that does not exist because the clock jumps forward (02:30
 *     on a spring-forward night) fires at the instant the jump ends (03:00
 *     new time); several such slots fire once, together;
 *   - a slot that exists twice because the clock goes back fires once, at
 *     its first occurrence.
 */
#ifndef SLUICE_CRON_H
#define SLUICE_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The directory of the system's tzdata. */
#define CRON_ZONEINFO_DIR	"/usr/share/zoneinfo"

struct cron {
	uint64_t	minutes;	/* bit m: minute m, 0..59 */
	uint32_t	hours;		/* 0..23 */
	uint32_t	mdays;		/* bit d: day d, 1..31 */
	uint32_t	months;		/* bit m: month m, 1..12 */
	uint32_t	wdays;		/* bit d: 0 = Sunday .. 6 */
	int		mday_star;	/* the field started with '*' */
	int		wday_star;
};

/* A POSIX TZ rule date: Jn, n or Mm.w.d, with a time of day. */
struct cron_tzdate {
	char		kind;		/* 'J', 'n' or 'M' */
	int		n, m, w, d;
	int32_t		secs;		/* local time of day, may be < 0 */
};

/*
 * A time zone: UTC offsets by transition, then a POSIX rule for the
 * instants after the last transition.  Owned by the caller; release with
 * cron_zone_release().
 */
struct cron_zone {
	int64_t		*trans;		/* transition instants, ascending */
	uint8_t		*idx;		/* type index per transition */
	size_t		 ntrans;
	int32_t		*offs;		/* UTC offset (seconds east) per type */
	size_t		 ntypes;
	int		 has_rule;	/* the TZ footer applies after the end */
	int		 rule_dst;	/* the rule has daylight saving time */
	int32_t		 std_off, dst_off;
	struct cron_tzdate start, end;
};

/*
 * Parse expr into *out.  On a bad expression return ERR_INVALID with a
 * message naming the field ("minute: 61 is out of range 0-59").  An
 * expression that can never fire ("0 0 30 2 *") is refused too.
 */
int	cron_parse(struct cron *out, const char *expr, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * NULL when name is a well-formed IANA zone name (components of
 * [A-Za-z0-9._+-], none "." or "..", no leading '/'), else why not.
 */
const char *cron_zone_name_check(const char *name);

/*
 * Parse a TZif file (versions 1 to 4) into *out.  ERR_INVALID when data
 * is not one; ERR_NOMEM.
 */
int	cron_zone_parse(struct cron_zone *out, const unsigned char *data,
	    size_t len, struct err *err) __attribute__((warn_unused_result));

/*
 * Load zone name ("Europe/Berlin", "UTC") from CRON_ZONEINFO_DIR.
 * ERR_INVALID for a malformed name, ERR_NOTFOUND for an unknown zone (the
 * message says "unknown time zone"), ERR_INVALID for a file that is not a
 * zone.  Reads one file; blocks on it.
 */
int	cron_zone_load(struct cron_zone *out, const char *name,
	    struct err *err) __attribute__((warn_unused_result));

/* Free what *z holds; safe on a zeroed or released zone. */
void	cron_zone_release(struct cron_zone *z);

/* The UTC offset (seconds east) of zone z at instant t (Unix seconds). */
int32_t	cron_zone_offset(const struct cron_zone *z, int64_t t);

/*
 * The first slot of c strictly after instant t (Unix seconds), in zone z
 * (NULL: UTC), into *next.  ERR_NOTFOUND when there is none within
 * CRON_HORIZON_YEARS (cron_parse() refuses such expressions).
 */
#define CRON_HORIZON_YEARS	8
int	cron_next(const struct cron *c, const struct cron_zone *z, int64_t t,
	    int64_t *next) __attribute__((warn_unused_result));

/*
 * The last slot of c at or before instant t and strictly after `after`,
 * into *last.  ERR_NOTFOUND when there is none.  Looks back through
 * growing windows (an hour, a day, a month, a year, then all of it), so a
 * frequent schedule costs a few steps whatever `after` is.
 */
int	cron_last(const struct cron *c, const struct cron_zone *z, int64_t after,
	    int64_t t, int64_t *last) __attribute__((warn_unused_result));

#endif
