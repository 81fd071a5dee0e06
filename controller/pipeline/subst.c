/*
 * subst.c - ${...} references in pipeline strings: finding and parsing
 * them (pipeline_refs_next), output names, and substitution with "$${"
 * kept as a literal "${" (pipeline_substitute).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "pipeline/pipeline_int.h"

/*
 * References and substitution
 */

const char *const pipeline_run_fields[] = {
	"id", "commit", "branch", "trigger", "pipeline", NULL,
};

static int
ident_ok(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

int
pipeline_output_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !((s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-' || s[i] == '/'))
			return 0;
	}
	return 1;
}

/* Parse the inside of "${...}" into ref; 0 or -1. */
static int
ref_parse(const char *s, size_t n, struct pipeline_ref *ref)
{
	const char *dot;

	if (n > 7 && memcmp(s, "params.", 7) == 0) {
		ref->kind = PIPELINE_REF_PARAM;
		ref->name = s + 7;
		ref->name_len = n - 7;
		return ident_ok(ref->name, ref->name_len) ? 0 : -1;
	}
	if (n > 4 && memcmp(s, "run.", 4) == 0) {
		ref->kind = PIPELINE_REF_RUN;
		ref->name = s + 4;
		ref->name_len = n - 4;
		for (size_t i = 0; i < ref->name_len; i++) {
			if (!(ref->name[i] >= 'a' && ref->name[i] <= 'z') &&
			    ref->name[i] != '_')
				return -1;
		}
		return 0;
	}
	if (n > 7 && memcmp(s, "stages.", 7) == 0) {
		const char *rest;
		size_t rn;

		ref->stage = s + 7;
		if ((dot = memchr(ref->stage, '.', n - 7)) == NULL)
			return -1;
		ref->stage_len = (size_t)(dot - ref->stage);
		if (ref->stage_len == 0 || ref->stage_len > 63)
			return -1;
		for (size_t i = 0; i < ref->stage_len; i++) {
			char ch = ref->stage[i];

			if (!((ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9') || ch == '-'))
				return -1;
		}
		rest = dot + 1;
		rn = n - (size_t)(rest - s);
		if (rn > 10 && memcmp(rest, "artifacts.", 10) == 0) {
			ref->kind = PIPELINE_REF_ARTIFACT;
			ref->name = rest + 10;
			ref->name_len = rn - 10;
		} else if (rn > 8 && memcmp(rest, "metrics.", 8) == 0) {
			ref->kind = PIPELINE_REF_METRIC;
			ref->name = rest + 8;
			ref->name_len = rn - 8;
		} else {
			return -1;
		}
		return pipeline_output_name_valid(ref->name, ref->name_len) ?
		    0 : -1;
	}
	return -1;
}

/*
 * Whether the inside of "${...}" starts like one of our references; when
 * it does not, it is most likely meant for the shell (${HOME},
 * ${OUT:-/tmp}), and the error says how to escape it.
 */
static int
ours(const char *s, size_t n)
{
	static const char *const prefixes[] = { "params.", "run.",
	    "stages." };

	for (size_t k = 0; k < NELEM(prefixes); k++) {
		size_t pn = strlen(prefixes[k]);

		if (n >= pn && memcmp(s, prefixes[k], pn) == 0)
			return 1;
	}
	return 0;
}

int
pipeline_refs_next(const char *s, size_t *pos, struct pipeline_ref *ref,
    struct err *err)
{
	char q[QUOTE_MAX];
	const char *close;
	size_t i = *pos;

	for (; s[i] != '\0'; i++) {
		if (s[i] != '$')
			continue;
		if (s[i + 1] == '$' && s[i + 2] == '{') {
			i += 2;		/* "$${" is a literal "${" */
			continue;
		}
		if (s[i + 1] == '{')
			break;
	}
	if (s[i] == '\0') {
		*pos = i;
		return 0;
	}
	memset(ref, 0, sizeof(*ref));
	ref->off = i;
	if ((close = strchr(s + i + 2, '}')) == NULL) {
		ref->len = strlen(s + i);
		*pos = i + ref->len;
		return err_set(err, ERR_INVALID, "unterminated reference %s "
		    "(a \"}\" is missing)", quote_into(q, s + i, ref->len));
	}
	ref->len = (size_t)(close - (s + i)) + 1;
	*pos = i + ref->len;
	if (ref_parse(s + i + 2, ref->len - 3, ref) < 0) {
		ref->stage = ref->name = NULL;
		ref->stage_len = ref->name_len = 0;
		return err_set(err, ERR_INVALID, "invalid reference %s "
		    "(expected ${params.NAME}, ${run.FIELD}, "
		    "${stages.STAGE.artifacts.NAME} or "
		    "${stages.STAGE.metrics.NAME})%s",
		    quote_into(q, s + i, ref->len),
		    ours(s + i + 2, ref->len - 3) ? "" : "; for a literal "
		    "shell ${VAR}, write $${VAR}");
	}
	return 1;
}

/* Append s[0..n) with "$${" turned into "${". */
static int
append_literal(struct buf *out, const char *s, size_t n)
{
	size_t i = 0, start = 0;
	int rc;

	while (i < n) {
		if (s[i] == '$' && i + 2 < n + 0 && s[i + 1] == '$' &&
		    s[i + 2] == '{') {
			if ((rc = buf_append(out, s + start, i - start)) < 0)
				return rc;
			start = i + 1;	/* drop one '$' */
			i += 3;
			continue;
		}
		i++;
	}
	return buf_append(out, s + start, n - start);
}

int
pipeline_substitute(const char *tmpl,
    int (*lookup)(void *arg, const struct pipeline_ref *ref, struct buf *out,
	struct err *err),
    void *arg, struct buf *out, struct err *err)
{
	struct pipeline_ref ref;
	size_t pos = 0, last = 0;
	char q[QUOTE_MAX];
	int r, rc;

	for (;;) {
		if ((r = pipeline_refs_next(tmpl, &pos, &ref, err)) < 0)
			return r;
		if (r == 0)
			break;
		if ((rc = append_literal(out, tmpl + last, ref.off - last)) < 0)
			return err_set(err, rc, "substituted text is too long");
		if ((rc = lookup(arg, &ref, out, err)) < 0) {
			if (rc == ERR_NOTFOUND)
				return err_set(err, rc, "no value for %s",
				    quote_into(q, tmpl + ref.off, ref.len));
			if (rc == ERR_TOOBIG)
				return err_set(err, rc, "substituted text is "
				    "too long");
			return rc;
		}
		last = pos;
	}
	if ((rc = append_literal(out, tmpl + last, strlen(tmpl + last))) < 0)
		return err_set(err, rc, "substituted text is too long");
	return 0;
}
