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
 * Format a duration in ms the way units_parse_duration reads it back
 * ("1h30m", "500ms", "0s") into out (at least 32 bytes).
 */
void	units_format_duration(int64_t ms, char *out, unsigned long outlen);

/*
 * Format a size the way units_parse_size reads it back, in the largest
 * power of 1024 that divides it ("16MiB", "512KiB", "100B").
 */
void	units_format_size(int64_t bytes, char *out, unsigned long outlen);

/*
 * Whether s is an RFC 3339 date-time, "2026-12-07T19:30:00Z" with an
 * optional fraction of 1 to 9 digits and "Z", "z" or an offset "+01:00",
 * with fields in range (month 1-12, day 1 up to the month's last, hour
 * 0-23, minute 0-59, second 0-60).  1 or 0.
 */
int	units_rfc3339_valid(const char *s);

#endif
