/*
 * units.h - strict parsers for durations and sizes, shared by the
 * configuration and the pipeline parser.
 *
 * Durations: one or more <integer><unit> groups with units h, m, s, ms in
 * decreasing order, each at most once ("500ms", "30s", "5m", "2h",
 * "1h30m").  No sign, fraction, space or bare number.  Result in ms.
 * Sizes: an integer with an optional suffix B, KiB, MiB, GiB, TiB (powers
 * of 1024) or kB, MB, GB, TB (powers of 1000).
 * Both return 0, or ERR_INVALID on any other text or on overflow; they
 * never write *out on failure.
 */
#ifndef SLUICE_UNITS_H
#define SLUICE_UNITS_H

#include <stdint.h>

int	units_parse_duration(const char *s, int64_t *ms)
	    __attribute__((warn_unused_result));
int	units_parse_size(const char *s, int64_t *bytes)
	    __attribute__((warn_unused_result));

/*
 * An age: a duration, or days first ("90d", "1d12h"), as for retention's
 * max_age.  0 or ERR_INVALID; *ms is not written on failure.
 */
int	units_parse_age(const char *s, int64_t *ms)
	    __attribute__((warn_unused_result));

/*
 * An RFC 3339 instant ("2026-11-21T21:50:00Z", "...00.123+01:00") as Unix
 * milliseconds (fractions past milliseconds are dropped).  0, or
 * ERR_INVALID for any other text, a date that does not exist or a year
 * before 1970; *ms is not written on failure.
 */
int	units_parse_rfc3339(const char *s, int64_t *ms)
	    __attribute__((warn_unused_result));

/*
 * Format a duration in ms the way units_parse_duration reads it back
 * ("1h30m", "500ms", "0s") into out (at least 32 bytes).
 */
void	units_format_duration(int64_t ms, char *out, unsigned long outlen);

/*
 * Format a size the way units_parse_size reads it back, in the largest
 * power of 1024 that divides it ("16MiB", "512KiB", "100B").
 */
void	units_format_size(int64_t bytes, char *out, unsigned long outlen);

/* Whether units_parse_rfc3339() reads s: 1 or 0. */
int	units_rfc3339_valid(const char *s);

#endif
