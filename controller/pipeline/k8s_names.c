/*
 * k8s_names.c - Kubernetes and image name syntax; see k8s_names.h.
 *
 * Hand-written scanners rather than regular expressions: each rule is a
 * short loop, runs in linear time on hostile input and needs no state.
 */
#include <stddef.h>
#include <string.h>

#include "pipeline/k8s_names.h"

static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One DNS-1123 label in s[0..n): [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static int
label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return 0;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return 0;
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return 0;
	}
	return 1;
}

const char *
k8s_check_dns1123_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "must be at most 63 characters";
	if (!label_ok(s, n))
		return "a DNS-1123 label must consist of lower case alphanumeric "
		    "characters or '-', and must start and end with an "
		    "alphanumeric character";
	return NULL;
}

static int
subdomain_ok(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!label_ok(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

const char *
k8s_check_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 253)
		return "must be at most 253 characters";
	if (!subdomain_ok(s, n))
		return "a DNS-1123 subdomain must consist of lower case "
		    "alphanumeric characters, '-' or '.', and must start and "
		    "end with an alphanumeric character";
	return NULL;
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 characters */
static int
name_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return 0;
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return 0;
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return 0;
	}
	return 1;
}

const char *
k8s_check_qualified_name(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = s;

	if (slash != NULL) {
		size_t plen = (size_t)(slash - s);

		if (plen == 0)
			return "prefix part must not be empty";
		if (plen > 253)
			return "prefix part must be at most 253 characters";
		if (!subdomain_ok(s, plen))
			return "prefix part must be a DNS-1123 subdomain (lower "
			    "case alphanumeric characters, '-' or '.')";
		name = slash + 1;
	}
	if (*name == '\0')
		return "name part must not be empty";
	if (strlen(name) > 63)
		return "name part must be at most 63 characters";
	if (!name_part_ok(name, strlen(name)))
		return "name part must consist of alphanumeric characters, "
		    "'-', '_' or '.', and must start and end with an "
		    "alphanumeric character";
	return NULL;
}

const char *
k8s_check_label_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL;
	if (n > 63)
		return "must be at most 63 characters";
	if (!name_part_ok(s, n))
		return "a label value must be empty or consist of alphanumeric "
		    "characters, '-', '_' or '.', and must start and end with "
		    "an alphanumeric character";
	return NULL;
}

const char *
k8s_check_env_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 255)
		return "must be at most 255 characters";
	if (!(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= 'a' && s[0] <= 'z')))
		return "must start with a letter or '_' and consist of letters, "
		    "digits and '_'";
	for (size_t i = 1; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '_')
			return "must start with a letter or '_' and consist of "
			    "letters, digits and '_'";
	}
	return NULL;
}

const char *
k8s_check_quantity(const char *s)
{
	static const char *const suffixes[] = {
		"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
		"n", "u", "m", "k", "M", "G", "T", "P", "E",
	};
	static const char bad[] = "must be a quantity such as \"500m\", "
	    "\"4\" or \"16Gi\"";
	const char *p = s;
	size_t before = 0, after = 0;

	if (*p == '+' || *p == '-')
		p++;
	while (is_digit(*p)) {
		p++;
		before++;
	}
	if (*p == '.') {
		p++;
		while (is_digit(*p)) {
			p++;
			after++;
		}
	}
	if (before + after == 0)
		return bad;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(p, suffixes[i]) == 0)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return bad;
		while (is_digit(*p))
			p++;
		if (*p == '\0')
			return NULL;
	}
	return bad;
}

/*
 * Image references.  The scanners below take [s, e) and return 1 when the
 * whole range matches.
 */

/* domain-component: [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static int
domain_component_ok(const char *s, const char *e)
{
	if (s == e || !is_alnum(s[0]) || !is_alnum(e[-1]))
		return 0;
	for (const char *p = s; p < e; p++) {
		if (!is_alnum(*p) && *p != '-')
			return 0;
	}
	return 1;
}

/* host [':' port]; host: domain-name | IPv4 (a domain-name) | [IPv6] */
static int
domain_ok(const char *s, const char *e)
{
	const char *host_end = e, *p;

	if (s == e)
		return 0;
	if (*s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));

		if (close == NULL || close == s + 1)
			return 0;
		for (p = s + 1; p < close; p++) {
			if (!is_digit(*p) && !(*p >= 'a' && *p <= 'f') &&
			    !(*p >= 'A' && *p <= 'F') && *p != ':')
				return 0;
		}
		host_end = close + 1;
	} else {
		const char *start = s;

		for (p = s; p < e && *p != ':'; p++)
			;
		host_end = p;
		for (p = s; p <= host_end; p++) {
			if (p == host_end || *p == '.') {
				if (!domain_component_ok(start, p))
					return 0;
				start = p + 1;
			}
		}
	}
	if (host_end == e)
		return 1;
	if (*host_end != ':' || host_end + 1 == e)
		return 0;
	for (p = host_end + 1; p < e; p++) {
		if (!is_digit(*p))
			return 0;
	}
	return 1;
}

/* path-component: [a-z0-9]+ ((?:[._]|__|[-]+)[a-z0-9]+)* */
static int
path_component_ok(const char *s, const char *e)
{
	const char *p = s;

	if (p == e || !is_lower_alnum(*p))
		return 0;
	while (p < e) {
		while (p < e && is_lower_alnum(*p))
			p++;
		if (p == e)
			return 1;
		if (*p == '.') {
			p++;
		} else if (*p == '_') {
			p++;
			if (p < e && *p == '_')
				p++;
		} else if (*p == '-') {
			while (p < e && *p == '-')
				p++;
		} else {
			return 0;
		}
		if (p == e || !is_lower_alnum(*p))
			return 0;
	}
	return 1;
}

/* path-component ('/' path-component)* */
static int
path_ok(const char *s, const char *e)
{
	const char *start = s;

	for (const char *p = s; p <= e; p++) {
		if (p == e || *p == '/') {
			if (!path_component_ok(start, p))
				return 0;
			start = p + 1;
		}
	}
	return 1;
}

static int
name_ok(const char *s, const char *e)
{
	const char *slash = memchr(s, '/', (size_t)(e - s));

	if (slash != NULL && domain_ok(s, slash) && path_ok(slash + 1, e))
		return 1;
	return path_ok(s, e);
}

static int
tag_ok(const char *s, const char *e)
{
	if (s == e || e - s > 128)
		return 0;
	if (!is_alnum(*s) && *s != '_')
		return 0;
	for (const char *p = s + 1; p < e; p++) {
		if (!is_alnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return 0;
	}
	return 1;
}

/*
 * algorithm: [A-Za-z][A-Za-z0-9]*([+._-][A-Za-z][A-Za-z0-9]*)*
 * ':' [0-9a-fA-F]{32,}
 */
static int
digest_ok(const char *s, const char *e)
{
	const char *colon = memchr(s, ':', (size_t)(e - s));
	const char *p = s;

	if (colon == NULL)
		return 0;
	while (p < colon) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
		p++;
		while (p < colon && is_alnum(*p))
			p++;
		if (p < colon) {
			if (*p != '+' && *p != '.' && *p != '_' && *p != '-')
				return 0;
			p++;
			if (p == colon)
				return 0;
		}
	}
	if (colon == s || e - (colon + 1) < 32)
		return 0;
	for (p = colon + 1; p < e; p++) {
		if (!is_digit(*p) && !(*p >= 'a' && *p <= 'f') &&
		    !(*p >= 'A' && *p <= 'F'))
			return 0;
	}
	return 1;
}

/* Split and check; *why gets the reason on failure. */
static int
image_ok(const char *s, const char **why)
{
	const char *end = s + strlen(s), *at, *name_end, *slash, *colon;

	at = memchr(s, '@', (size_t)(end - s));
	name_end = at != NULL ? at : end;
	if (at != NULL && !digest_ok(at + 1, end)) {
		*why = "digest must be ALGORITHM:HEX with at least 32 "
		    "hexadecimal digits";
		return 0;
	}
	/* A tag is the part after the last ':' that follows the last '/'. */
	slash = NULL;
	for (const char *p = s; p < name_end; p++) {
		if (*p == '/')
			slash = p;
	}
	colon = NULL;
	for (const char *p = slash != NULL ? slash : s; p < name_end; p++) {
		if (*p == ':')
			colon = p;
	}
	if (colon != NULL) {
		if (!tag_ok(colon + 1, name_end)) {
			*why = name_end - (colon + 1) > 128 ?
			    "tag must be at most 128 characters" :
			    "tag must consist of letters, digits, '_', '.' or "
			    "'-' and must not start with '.' or '-'";
			return 0;
		}
		name_end = colon;
	}
	if (name_end - s > 255) {
		*why = "repository name must be at most 255 characters";
		return 0;
	}
	if (!name_ok(s, name_end)) {
		*why = "must be an image reference such as "
		    "\"ghcr.io/acme/fraud:1.4\"";
		for (const char *p = s; p < name_end; p++) {
			if (*p >= 'A' && *p <= 'Z') {
				*why = "repository name must be lowercase";
				break;
			}
		}
		return 0;
	}
	return 1;
}

const char *
k8s_check_image_ref(const char *s)
{
	const char *why = NULL;

	if (*s == '\0')
		return "must not be empty";
	if (!image_ok(s, &why))
		return why;
	return NULL;
}
