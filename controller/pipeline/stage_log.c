/* stage_log.c - the cut of each read of a log; see stage_log.h. */
#include <stdio.h>
#include <string.h>

#include "base/units.h"
#include "pipeline/stage_log.h"

/* The length up to and including the last newline of data[0, len), or 0. */
static size_t
whole_lines(const char *data, size_t len)
{
	while (len > 0 && data[len - 1] != '\n')
		len--;
	return len;
}

void
stage_log_cut(struct stage_log_pos *p, int64_t cap, const char *data,
    size_t len, int final, int full, struct stage_log_cut *out)
{
	size_t take, keep, room;

	memset(out, 0, sizeof(*out));
	take = final ? len : whole_lines(data, len);
	if (take == 0 && full)
		take = len;	/* one line longer than the whole read */
	if (take == 0)
		return;
	out->take = take;
	out->mid_line = data[take - 1] != '\n';
	room = p->kept >= cap ? 0 : (size_t)(cap - p->kept);
	if (p->dropped > 0)
		keep = 0;	/* once cut, the kept log has ended */
	else if (take <= room)
		keep = take;
	else
		keep = whole_lines(data, room);
	out->keep = keep;
	p->kept += (int64_t)keep;
	p->dropped += (int64_t)(take - keep);
	if (keep > 0)
		p->open_line = data[keep - 1] != '\n';
}

/* snprintf's count, as what was written (never more than len - 1). */
static size_t
written(int n, size_t len)
{
	if (n < 0 || len == 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

size_t
stage_log_truncated(const struct stage_log_pos *p, int64_t cap, char *out,
    size_t len)
{
	char size[32];

	if (len > 0)
		out[0] = '\0';
	if (p->dropped == 0)
		return 0;
	units_format_size(cap, size, sizeof(size));
	return written(snprintf(out, len, "%s[sluice] log truncated at %s: "
	    "%lld more bytes not kept\n", p->open_line ? "\n" : "", size,
	    (long long)p->dropped), len);
}

size_t
stage_log_source_changed(const struct stage_log_pos *p, const char *source,
    char *out, size_t len)
{
	return written(snprintf(out, len, "%s[sluice] now reading pod %s\n",
	    p->open_line ? "\n" : "", source), len);
}
