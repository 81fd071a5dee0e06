/*
 * table.h - aligned text tables for people, sized to a width: the
 * client's lists (`sluice runs list`, `sluice approvals list`, ...).
 *
 * Cells are copied; control characters in them (an escape sequence in a
 * commit message, a newline) are shown as '?', so nothing from the server
 * can move the cursor or recolour the terminal.  Widths count characters
 * (UTF-8 code points), not bytes.  When the columns do not fit the width,
 * the columns marked TABLE_SHRINK give way, the widest first, and their
 * cut cells end with "…"; the other columns keep their width.  Colour is
 * added around the padded text, so it never breaks the alignment.
 *
 * Not thread-safe; no I/O.
 */
#ifndef SLUICE_CLIENT_TABLE_H
#define SLUICE_CLIENT_TABLE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/caps.h"

#define TABLE_SHRINK	0x01	/* may be cut to fit the width */
#define TABLE_RIGHT	0x02	/* right-aligned (numbers) */

enum table_color {
	TC_NONE, TC_GREEN, TC_RED, TC_YELLOW, TC_BLUE, TC_DIM,
};

struct table_cell {
	char		*text;		/* owned, printable */
	size_t		 width;		/* in characters */
	enum table_color color;
};

struct table {
	size_t		 ncols;
	const char	*head[LIM_CLIENT_COLUMNS];	/* borrowed, static */
	unsigned	 flags[LIM_CLIENT_COLUMNS];
	struct table_cell *cells;	/* nrows * ncols, owned */
	size_t		 nrows, cap;
};

/*
 * A table of ncols columns (at most LIM_CLIENT_COLUMNS) with the headings
 * head[] (borrowed for the table's life) and flags[] (NULL: none).  No
 * allocation.
 */
void	table_init(struct table *t, size_t ncols, const char *const *head,
	    const unsigned *flags);
void	table_release(struct table *t);

/*
 * Append a row of ncols cells (NULL is shown as "-"); colors may be NULL.
 * ERR_TOOBIG past LIM_CLIENT_ROWS rows.
 */
int	table_add(struct table *t, const char *const *cells,
	    const enum table_color *colors)
	    __attribute__((warn_unused_result));

/*
 * The table as text into out: the headings, then one line per row,
 * columns two spaces apart, no trailing blanks.  width 0: no limit.
 * color: wrap coloured cells (and the headings, bold) in ANSI escapes.
 * ERR_TOOBIG when out's cap is reached.
 */
int	table_render(const struct table *t, size_t width, int color,
	    struct buf *out) __attribute__((warn_unused_result));

/* Characters (UTF-8 code points) of s. */
size_t	table_text_width(const char *s);

#endif
