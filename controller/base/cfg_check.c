/*
 * cfg_check.c - one configuration value: the checks of strings (listen
 * addresses, URLs, branch names, ...) and cfg_set_text(), which parses a
 * value as its key's type, checks it against the key's row and stores it.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg_int.h"
#include "base/units.h"

#define BRANCH_MAX	255

/* ---- checks: NULL when v is fine, else why it is not ---- */

static int
is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || is_digit(ch);
}

const char *
cfg_check_text(const char *v)
{
	for (; *v != '\0'; v++) {
		if (is_ctl((unsigned char)*v))
			return "contains a control character";
	}
	return NULL;
}

const char *
cfg_check_label(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > LIM_NAME || v[0] == '-' || v[n - 1] == '-')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(v[i]) && v[i] != '-')
			goto bad;
	}
	return NULL;
bad:
	return "is not a DNS-1123 label (lowercase letters, digits and '-', "
	    "at most 63 characters, starting and ending with a letter or "
	    "digit)";
}

/* A DNS-1123 subdomain (a Secret's name): labels joined by '.'. */
const char *
cfg_check_subdomain(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253 || v[0] == '-' || v[0] == '.' ||
	    v[n - 1] == '-' || v[n - 1] == '.')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(v[i]) && v[i] != '-' && v[i] != '.')
			goto bad;
		if (v[i] == '.' && (v[i + 1] == '.' || v[i + 1] == '-' ||
		    v[i - 1] == '-'))
			goto bad;
	}
	return NULL;
bad:
	return "is not a DNS-1123 subdomain (lowercase letters, digits, '-' "
	    "and '.', at most 253 characters, each part starting and ending "
	    "with a letter or digit)";
}

const char *
cfg_check_namespace(const char *v)
{
	return v[0] == '\0' ? NULL : cfg_check_label(v);
}

const char *
cfg_check_image(const char *v)
{
	for (; *v != '\0'; v++) {
		if (is_ctl((unsigned char)*v) || *v == ' ')
			return "is not an image reference";
	}
	return NULL;
}

const char *
cfg_check_envname(const char *v)
{
	if (is_digit(v[0]))
		goto bad;
	for (const char *p = v; *p != '\0'; p++) {
		if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
		    !is_digit(*p) && *p != '_')
			goto bad;
	}
	return NULL;
bad:
	return "is not an environment variable name (letters, digits and "
	    "'_', not starting with a digit)";
}

/* A variable name, where '*' stands for any run of characters. */
const char *
cfg_check_envpattern(const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
		    !is_digit(*p) && *p != '_' && *p != '*')
			return "is not a variable name pattern (letters, "
			    "digits, '_' and '*' for any run of characters)";
	}
	return NULL;
}

/* host:port, host empty, a name, IPv4 or [IPv6]; port 1..65535. */
const char *
cfg_check_listen(const char *v)
{
	static const char *why =
	    "is not host:port with a port from 1 to 65535";
	const char *colon = strrchr(v, ':'), *p;
	long port = 0;

	if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5)
		return why;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!is_digit(*p))
			return why;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return why;
	if (v[0] == '[') {
		if (colon == v || colon[-1] != ']' || colon - v < 3)
			return why;
		for (p = v + 1; p < colon - 1; p++) {
			if (!is_digit(*p) && *p != ':' && *p != '.' &&
			    !(*p >= 'a' && *p <= 'f') &&
			    !(*p >= 'A' && *p <= 'F'))
				return why;
		}
		return NULL;
	}
	for (p = v; p < colon; p++) {
		if (*p == ':' || *p == '[' || *p == ']' || *p == ' ' ||
		    *p == '/' || is_ctl((unsigned char)*p))
			return why;
	}
	return NULL;
}

/* An http:// or https:// URL with a host (public_url, api_url). */
const char *
cfg_check_http_url(const char *v)
{
	const char *p;

	if (strncmp(v, "https://", 8) == 0)
		p = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		p = v + 7;
	else
		return "is not an http:// or https:// URL";
	if (p[0] == '\0' || p[0] == '/' || p[0] == ':' || p[0] == '@')
		return "has no host";
	for (; *p != '\0'; p++) {
		if (is_ctl((unsigned char)*p) || *p == ' ')
			return "is not a valid URL";
	}
	return NULL;
}

const char *
cfg_check_url(const char *v)
{
	static const char *const schemes[] = {
		"file://", "https://", "http://", "ssh://", "git://"
	};
	static const char *bad = "is not a valid URL";
	const char *p, *at, *colon;

	for (p = v; *p != '\0'; p++) {
		if (is_ctl((unsigned char)*p) || *p == ' ')
			return bad;
	}
	if (strstr(v, "://") != NULL) {
		for (size_t i = 0; i < NKEYS(schemes); i++) {
			size_t n = strlen(schemes[i]);

			if (strncmp(v, schemes[i], n) != 0)
				continue;
			p = v + n;
			if (i == 0)	/* file:///abs/path */
				return p[0] == '/' && p[1] != '\0' ? NULL :
				    bad;
			return p[0] != '\0' && p[0] != '/' && p[0] != ':' &&
			    p[0] != '@' ? NULL : bad;
		}
		goto scheme;
	}
	/* scp-like user@host:path, as git and ssh read it */
	if ((at = strchr(v, '@')) == NULL || at == v ||
	    (colon = strchr(at, ':')) == NULL || colon == at + 1 ||
	    colon[1] == '\0')
		goto scheme;
	for (p = v; p < colon; p++) {
		if (*p == '/' || *p == ':')
			goto scheme;
	}
	return NULL;
scheme:
	return "has an unsupported scheme (use file://, https://, http://, "
	    "ssh://, git:// or user@host:path)";
}

/* A branch name git would accept (git check-ref-format, simplified). */
const char *
cfg_check_branch(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > BRANCH_MAX || v[0] == '-' || v[0] == '/' ||
	    v[n - 1] == '/' || v[n - 1] == '.' || strstr(v, "..") != NULL ||
	    strstr(v, "//") != NULL || strstr(v, "@{") != NULL ||
	    (n >= 5 && strcmp(v + n - 5, ".lock") == 0) || strcmp(v, "@") == 0)
		goto bad;
	for (const char *p = v; *p != '\0'; p++) {
		if (is_ctl((unsigned char)*p) || strchr(" ~^:?*[\\", *p))
			goto bad;
	}
	return NULL;
bad:
	return "is not a valid branch name";
}

const char *
cfg_check_relpath(const char *v)
{
	const char *p = v, *why;

	if ((why = cfg_check_text(v)) != NULL)
		return why;
	if (v[0] == '/')
		return "is an absolute path (it must be relative to the "
		    "repository root)";
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "leaves the repository (no '..' allowed)";
		p += n;
		if (*p == '/')
			p++;
	}
	return NULL;
}

/* ---- setting values ---- */

/* Decimal integer, optional '-'.  -1: not one, -2: overflow. */
static int
parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t v = 0;
	int neg = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		if (!is_digit(*p))
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *p - '0', &v))
			return -2;
	}
	*out = neg ? -v : v;
	return 0;
}

/* Plain decimal number: digits, optionally '.' and digits. */
static int
parse_num(const char *s, double *out)
{
	const char *p = s;
	char *end;

	if (!is_digit(*p))
		return -1;
	while (is_digit(*p))
		p++;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -1;
		while (is_digit(*p))
			p++;
	}
	if (*p != '\0' || p - s > 32)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

void
cfg_range_text(const struct key *k, char *out, size_t outlen)
{
	char a[32], b[32];

	if (k->type == K_DUR) {
		units_format_duration(k->min, a, sizeof(a));
		(void)snprintf(out, outlen, "at least %s", a);
		if (k->max != DUR_MAX) {
			units_format_duration(k->max, b, sizeof(b));
			(void)snprintf(out, outlen, "%s..%s", a, b);
		}
	} else if (k->type == K_SIZE) {
		units_format_size(k->min, a, sizeof(a));
		units_format_size(k->max, b, sizeof(b));
		(void)snprintf(out, outlen, "%s..%s", a, b);
	} else if (k->type == K_NUM) {
		(void)snprintf(out, outlen, "greater than %lld, at most %lld",
		    (long long)k->min, (long long)k->max);
	} else if (k->max == INT_MAX) {
		(void)snprintf(out, outlen, "at least %lld",
		    (long long)k->min);
	} else {
		(void)snprintf(out, outlen, "%lld..%lld", (long long)k->min,
		    (long long)k->max);
	}
}

/* Check a string value against k: length, emptiness, k->check. */
int
cfg_check_str(struct ld *ld, const struct key *k, const char *label,
    const char *v, size_t len, const char *q, const yaml_mark_t *at)
{
	size_t maxlen = k->max > 0 ? (size_t)k->max : LIM_PATH;
	const char *why;

	if (len > maxlen)
		return cfg_fail(ld, at, label,
		    "%s is too long (at most %zu bytes)", q, maxlen);
	if (len == 0 && (k->flags & CFG_NONEMPTY))
		return cfg_fail(ld, at, label, "must not be empty");
	if (len > 0 && k->check != NULL && (why = k->check(v)) != NULL)
		return cfg_fail(ld, at, label, "%s %s", q, why);
	return 0;
}

static int
is_true(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE");
}

static int
is_false(const char *v)
{
	return !strcmp(v, "false") || !strcmp(v, "False") ||
	    !strcmp(v, "FALSE");
}

/*
 * Parse v (len bytes, NUL-terminated) as k's type, check it and store it
 * into base.  label names the key (or the variable) in errors.
 */
int
cfg_set_text(struct ld *ld, const struct key *k, void *base, const char *label,
    const char *v, size_t len, const yaml_mark_t *at)
{
	char q[QUOTE_MAX], range[96], names[128];
	int64_t i;
	double d;
	int rc;

	if (k->flags & CFG_SECRET)
		memcpy(q, "\"***\"", 6);
	else
		cfg_quote(q, sizeof(q), v, len);
	if (memchr(v, '\0', len) != NULL)
		return cfg_fail(ld, at, label, "%s contains a NUL byte", q);
	switch (k->type) {
	case K_STR:
		if ((rc = cfg_check_str(ld, k, label, v, len, q, at)) < 0)
			return rc;
		free(*FIELD(base, k, char *));
		*FIELD(base, k, char *) = len == 0 &&
		    (k->flags & CFG_NULLABLE) ? NULL : xstrdup(v);
		return 0;
	case K_BOOL:
		if (!is_true(v) && !is_false(v))
			return cfg_fail(ld, at, label,
			    "%s is not a boolean (true or false)", q);
		*FIELD(base, k, int) = is_true(v);
		return 0;
	case K_INT:
		if ((rc = parse_int(v, &i)) == -1)
			return cfg_fail(ld, at, label, "%s is not an integer",
			    q);
		if (rc < 0 || i < k->min || i > k->max) {
			cfg_range_text(k, range, sizeof(range));
			return cfg_fail(ld, at, label,
			    "%s is out of range (%s)", q, range);
		}
		*FIELD(base, k, int) = (int)i;
		return 0;
	case K_NUM:
		if (parse_num(v, &d) < 0)
			return cfg_fail(ld, at, label, "%s is not a number", q);
		if (!(d > (double)k->min) || d > (double)k->max) {
			cfg_range_text(k, range, sizeof(range));
			return cfg_fail(ld, at, label,
			    "%s is out of range (%s)", q, range);
		}
		*FIELD(base, k, double) = d;
		return 0;
	case K_DUR:
		if (((k->flags & CFG_DAYS) ? units_parse_age(v, &i) :
		    units_parse_duration(v, &i)) < 0)
			return cfg_fail(ld, at, label, "%s is not a duration",
			    q);
		if (i < k->min || i > k->max) {
			cfg_range_text(k, range, sizeof(range));
			return cfg_fail(ld, at, label,
			    "%s is out of range (%s)", q, range);
		}
		*FIELD(base, k, int64_t) = i;
		return 0;
	case K_SIZE:
		if (units_parse_size(v, &i) < 0)
			return cfg_fail(ld, at, label, "%s is not a size (like "
			    "16MiB)", q);
		if (i < k->min || i > k->max) {
			cfg_range_text(k, range, sizeof(range));
			return cfg_fail(ld, at, label,
			    "%s is out of range (%s)", q, range);
		}
		*FIELD(base, k, int64_t) = i;
		return 0;
	case K_ENUM:
		names[0] = '\0';
		for (int j = 0; k->names[j] != NULL; j++) {
			size_t o = strlen(names);

			if (strcmp(v, k->names[j]) == 0) {
				*FIELD(base, k, int) = j;
				return 0;
			}
			(void)snprintf(names + o, sizeof(names) - o, "%s%s",
			    j ? ", " : "", k->names[j]);
		}
		return cfg_fail(ld, at, label, "%s is not one of %s", q, names);
	default:
		BUG_ON(1);
	}
	return ERR_GENERIC;
}

void
cfg_list_free(char **l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/* Replace a K_LIST field with l (n strings), which it now owns. */
void
cfg_list_store(const struct key *k, void *base, char **l, size_t n)
{
	cfg_list_free(*FIELD(base, k, char **));
	*FIELD(base, k, char **) = l;
	*(size_t *)(void *)((char *)base + k->off2) = n;
}

void
cfg_fields_free(const struct key *tab, size_t ntab, void *base)
{
	for (size_t i = 0; i < ntab; i++) {
		if (tab[i].type == K_STR)
			free(*FIELD(base, &tab[i], char *));
		else if (tab[i].type == K_LIST)
			cfg_list_free(*FIELD(base, &tab[i], char **));
	}
}

/* Set k of base to its default, if it has one (a list: one entry). */
void
cfg_set_default(struct ld *ld, const struct key *k, void *base,
    const char *label)
{
	int rc;

	if (k->def == NULL)
		return;
	if (k->type == K_LIST) {
		char **l = xcalloc(2, sizeof(*l));

		l[0] = xstrdup(k->def);
		cfg_list_store(k, base, l, 1);
		return;
	}
	rc = cfg_set_text(ld, k, base, label, k->def, strlen(k->def), NULL);
	BUG_ON(rc < 0);
}
