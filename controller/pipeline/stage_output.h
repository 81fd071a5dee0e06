/*
 * stage_output.h - read the results a stage reports on stdout (the stage protocol, docs/pipeline-reference.md)
 * out of its log:
 *
 *	::metric auc=0.934 loss=0.21
 *	::artifact model=s3://models/fraud/42 name=fraud-detector
 *
 * The parser is fed the log in chunks of any size (a chunk may end in the
 * middle of a line; the rest is kept until the next chunk) and numbers the
 * lines from 0, so that each value carries the line it came from: the
 * store uses (attempt, line, name) to make a second reading of the same
 * log add nothing.
 *
 * Rules.  A protocol line starts at the beginning of the line with
 * "::metric" or "::artifact" followed by a space or tab; a trailing CR is
 * dropped.  Items are separated by spaces or tabs.
 *   ::metric NAME=NUMBER...   names as pipeline_output_name_valid(),
 *                             numbers plain decimals (an optional sign,
 *                             digits, a fraction, an exponent), finite
 *   ::artifact NAME=URI [name=MODEL]   URI 1..LIM_URL bytes; the optional
 *                             name= (1..253 bytes) names the model
 * A malformed item is counted in `ignored` and skipped; the rest of the
 * line still counts.  A line longer than LIM_OUTPUT_LINE is not a
 * protocol line.  Artifacts: a later line with the same name replaces an
 * earlier one.  Past LIM_OUTPUT_METRICS values or LIM_OUTPUT_ARTIFACTS
 * artifacts, further ones are counted as ignored.
 *
 * Pure: no I/O.  Allocation failures abort (xcalloc) except where noted.
 */
#ifndef SLUICE_STAGE_OUTPUT_H
#define SLUICE_STAGE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct output_metric {
	char	 name[64];
	double	 value;
	int64_t	 line;		/* 0-based line of the log */
};

struct output_artifact {
	char	 name[64];
	char	*uri;		/* owned */
	char	*model_name;	/* owned; NULL unless name= was given */
	int64_t	 line;
};

struct stage_output {
	struct output_metric	*metrics;	/* in log order */
	size_t			 nmetrics;
	size_t			 ametrics;
	struct output_artifact	*artifacts;	/* one per name */
	size_t			 nartifacts;
	size_t			 aartifacts;
	size_t			 ignored;	/* malformed or over a cap */
	int64_t			 line;		/* number of the current line */
	struct buf		 partial;	/* the current, unfinished line */
	int			 overlong;	/* it passed LIM_OUTPUT_LINE */
};

/* An empty parser; nothing is allocated yet. */
void	stage_output_init(struct stage_output *o);

/* Free everything; the parser may be initialized again. */
void	stage_output_release(struct stage_output *o);

/*
 * Parse len bytes of log.  Complete lines are parsed now; an unfinished
 * last line waits for the next call or stage_output_finish().
 */
void	stage_output_feed(struct stage_output *o, const char *data,
	    size_t len);

/* The log has ended: parse an unfinished last line too. */
void	stage_output_finish(struct stage_output *o);

/*
 * Forget the metrics and artifacts collected so far (after the caller
 * stored them) but keep the line count and any unfinished line, for a
 * log read while it grows.
 */
void	stage_output_clear(struct stage_output *o);

/*
 * Go on from line number `line` of a log whose earlier part was parsed
 * by another parser (a restart): the next line fed is number `line`;
 * mid_line says that the first bytes fed continue a line that was
 * already too long to be a protocol line.  Any unfinished line is
 * forgotten.
 */
void	stage_output_resume(struct stage_output *o, int64_t line,
	    int mid_line);

/*
 * Add a value read back from the store (as if parsed at line `line`):
 * the parser's caps and the artifact rule (one per name, the later
 * replaces) apply.
 */
void	stage_output_put_metric(struct stage_output *o, const char *name,
	    double value, int64_t line);
void	stage_output_put_artifact(struct stage_output *o, const char *name,
	    const char *uri, const char *model_name, int64_t line);

/*
 * The value of the last line reporting metric name.  1 with *value set,
 * 0 when it was not reported.
 */
int	stage_output_metric(const struct stage_output *o, const char *name,
	    double *value);

/* The artifact called name, or NULL.  Borrowed from o. */
const struct output_artifact *stage_output_artifact(
	    const struct stage_output *o, const char *name);

#endif
