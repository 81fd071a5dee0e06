/*
 * table.c - aligned text tables sized to a width (table.h).
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sys.h"
#include "client/table.h"

#define GAP		2
#define SHRINK_MIN	4	/* a cut column keeps at least this much,
				   its heading cut too */
#define ELLIPSIS	"\xe2\x80\xa6"

static const char *const color_on[] = {
	[TC_NONE] = "", [TC_GREEN] = "\033[32m", [TC_RED] = "\033[31m",
	[TC_YELLOW] = "\033[33m", [TC_BLUE] = "\033[34m", [TC_DIM] = "\033[2m",
};

size_t
table_text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void
table_init(struct table *t, size_t ncols, const char *const *head,
    const unsigned *flags)
{
	BUG_ON(ncols == 0 || ncols > LIM_CLIENT_COLUMNS);
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		t->head[i] = head[i];
		t->flags[i] = flags != NULL ? flags[i] : 0;
	}
}

void
table_release(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A printable copy of s: control characters (and bytes of broken UTF-8
 * that could start one) become '?'. */
static char *
printable(const char *s)
{
	char *out = xstrdup(s != NULL ? s : "-");

	for (char *p = out; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch == 0x7f)
			*p = '?';
	}
	return out;
}

int
table_add(struct table *t, const char *const *cells,
    const enum table_color *colors)
{
	struct table_cell *row;
	int rc;

	/* an element of the array is a row of ncols cells */
	if ((rc = sys_grow((void **)&t->cells, t->nrows, &t->cap,
	    sizeof(*t->cells) * t->ncols, LIM_CLIENT_ROWS)) < 0)
		return rc;
	row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i].text = printable(cells[i]);
		row[i].width = table_text_width(row[i].text);
		row[i].color = colors != NULL ? colors[i] : TC_NONE;
	}
	t->nrows++;
	return 0;
}

/* Byte length of the first n characters of s. */
static size_t
prefix_bytes(const char *s, size_t n)
{
	size_t i = 0;

	for (; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == 0)
				break;
			n--;
		}
	}
	return i;
}

/* Column widths into w[]: natural, then the shrinkable ones cut to fit. */
static void
widths(const struct table *t, size_t width, size_t *w)
{
	size_t total = 0, i, r;

	for (i = 0; i < t->ncols; i++) {
		w[i] = table_text_width(t->head[i]);
		for (r = 0; r < t->nrows; r++)
			if (t->cells[r * t->ncols + i].width > w[i])
				w[i] = t->cells[r * t->ncols + i].width;
		total += w[i] + (i > 0 ? GAP : 0);
	}
	while (width > 0 && total > width) {
		size_t best = t->ncols;

		for (i = 0; i < t->ncols; i++) {
			if ((t->flags[i] & TABLE_SHRINK) && w[i] > SHRINK_MIN &&
			    (best == t->ncols || w[i] > w[best]))
				best = i;
		}
		if (best == t->ncols)
			break;		/* nothing gives way: let it wrap */
		w[best]--;
		total--;
	}
}

static int
put_cell(struct buf *out, const char *text, size_t tw, size_t w,
    unsigned flags, const char *on, int last)
{
	size_t pad = tw < w ? w - tw : 0;
	int rc = 0;

	if ((flags & TABLE_RIGHT) && pad > 0)
		for (size_t k = 0; k < pad && rc == 0; k++)
			rc = buf_putc(out, ' ');
	if (rc == 0 && *on != '\0')
		rc = buf_puts(out, on);
	if (rc == 0 && tw > w) {
		rc = buf_append(out, text, prefix_bytes(text, w - 1));
		if (rc == 0)
			rc = buf_puts(out, ELLIPSIS);
	} else if (rc == 0) {
		rc = buf_puts(out, text);
	}
	if (rc == 0 && *on != '\0')
		rc = buf_puts(out, "\033[0m");
	if (!(flags & TABLE_RIGHT) && !last)
		for (size_t k = 0; k < pad && rc == 0; k++)
			rc = buf_putc(out, ' ');
	return rc;
}

int
table_render(const struct table *t, size_t width, int color,
    struct buf *out)
{
	size_t w[LIM_CLIENT_COLUMNS];
	int rc = 0;

	widths(t, width, w);
	for (size_t r = 0; r <= t->nrows && rc == 0; r++) {
		for (size_t i = 0; i < t->ncols && rc == 0; i++) {
			const char *text, *on = "";
			size_t tw;

			if (i > 0)
				rc = buf_puts(out, "  ");
			if (rc < 0)
				break;
			if (r == 0) {
				text = t->head[i];
				tw = table_text_width(text);
				if (color)
					on = "\033[1m";
			} else {
				const struct table_cell *c =
				    &t->cells[(r - 1) * t->ncols + i];

				text = c->text;
				tw = c->width;
				if (color)
					on = color_on[c->color];
			}
			rc = put_cell(out, text, tw, w[i], t->flags[i], on,
			    i + 1 == t->ncols);
		}
		/* an empty last cell leaves the gap: no trailing blanks */
		while (rc == 0 && out->len > 0 && out->data[out->len - 1] == ' ')
			out->data[--out->len] = '\0';
		if (rc == 0)
			rc = buf_putc(out, '\n');
	}
	return rc;
}
