/*
 * glob.c - trigger matching: branch and path globs ('*', '?', '**'), and
 * whether a push starts a pipeline (pipeline_push_matches).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pipeline/pipeline_int.h"

/*
 * Globs
 */

/* One segment: '*' any run, '?' one character, others literal. */
static int
seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
	uint32_t cp;

	while (si < sn) {
		size_t k = utf8_decode((const unsigned char *)s + si, sn - si,
		    &cp);

		if (k == 0)
			k = 1;
		if (pi < pn && p[pi] == '?') {
			pi++;
			si += k;
		} else if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			size_t mk = utf8_decode((const unsigned char *)s +
			    mark, sn - mark, &cp);

			pi = star + 1;
			mark += mk ? mk : 1;
			si = mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

struct span {
	const char	*s;
	size_t		 n;
};

static size_t
split(const char *s, struct span *v)
{
	size_t n = 0;
	const char *p = s, *q;

	for (;;) {
		q = strchr(p, '/');
		v[n].s = p;
		v[n].n = q != NULL ? (size_t)(q - p) : strlen(p);
		n++;
		if (q == NULL)
			return n;
		p = q + 1;
	}
}

static size_t
count_segs(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == '/';
	return n;
}

/*
 * Segment-wise dynamic programming, O(segments^2): '**' segments cannot
 * make it exponential.  With prefix set, a match of leading segments is
 * enough (a pattern matching a directory matches what is in it).
 */
static int
glob_match(const char *pattern, const char *path, int prefix)
{
	size_t m = count_segs(pattern), n = count_segs(path);
	struct span *ps = xcalloc(m, sizeof(*ps));
	struct span *ss = xcalloc(n, sizeof(*ss));
	unsigned char *dp = xcalloc(n + 1, 1), *nx = xcalloc(n + 1, 1), *t;
	int r;

	(void)split(pattern, ps);
	(void)split(path, ss);
	for (size_t j = 0; j <= n; j++)
		dp[j] = prefix ? 1 : j == n;
	for (size_t i = m; i-- > 0;) {
		if (ps[i].n == 2 && memcmp(ps[i].s, "**", 2) == 0) {
			nx[n] = dp[n];
			for (size_t j = n; j-- > 0;)
				nx[j] = dp[j] || nx[j + 1];
		} else {
			nx[n] = 0;
			for (size_t j = 0; j < n; j++)
				nx[j] = dp[j + 1] && seg_match(ps[i].s, ps[i].n,
				    ss[j].s, ss[j].n);
		}
		t = dp;
		dp = nx;
		nx = t;
	}
	r = dp[0];
	free(ps);
	free(ss);
	free(dp);
	free(nx);
	return r;
}

int
pipeline_glob_match(const char *pattern, const char *path)
{
	return glob_match(pattern, path, 1);
}

int
pipeline_push_matches(const struct pipeline *p, const char *branch,
    const char *const *changed, size_t n, const char *pipeline_file)
{
	size_t i, j;

	if (!p->triggers.push)
		return 0;
	if (p->triggers.branches.n > 0) {
		for (i = 0; i < p->triggers.branches.n; i++) {
			if (glob_match(p->triggers.branches.v[i], branch, 0))
				break;
		}
		if (i == p->triggers.branches.n)
			return 0;
	}
	if (p->triggers.paths.n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (pipeline_file != NULL && strcmp(changed[i],
		    pipeline_file) == 0)
			return 1;
		for (j = 0; j < p->triggers.paths.n; j++) {
			if (glob_match(p->triggers.paths.v[j], changed[i], 1))
				return 1;
		}
	}
	return 0;
}
