/*
 * cfg.c - configuration as a table (validate all, then swap); see cfg.h.
 *
 * Every key is one row of top_keys[] or repo_keys[]: its path, type, where
 * it lives in the struct, its default as text, bounds and flags.  Defaults,
 * the YAML file, the environment and overrides all go through one setter,
 * set_text(), so a value is checked the same way wherever it comes from,
 * and a default that would not pass its own check is a BUG.  Everything
 * lands in a fresh struct cfg that is handed out only when all of it is
 * valid; on the first error it is freed and nothing is returned.
 *
 * YAML is read with libyaml's document API and its types stay in this
 * file.  The walk descends only into keys the table knows, so its depth
 * is bounded by the table even when aliases make the node graph cyclic.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/units.h"

enum ktype {
	K_MAP,		/* a mapping of further keys, no storage */
	K_STR,		/* char *, owned; max = longest length (0: LIM_PATH) */
	K_BOOL,		/* int, true or false */
	K_INT,		/* int within [min, max] */
	K_NUM,		/* double within (min, max] */
	K_DUR,		/* int64_t ms within [min, max] */
	K_ENUM,		/* int, the index of the value in names[] */
	K_LIST,		/* char **, NULL-terminated, size_t count at off2 */
	K_REPOS,	/* the repositories list of struct cfg */
};

#define CFG_SECRET	0x01	/* masked by cfg_dump and in errors */
#define CFG_NONEMPTY	0x02	/* "" is an error */
#define CFG_NULLABLE	0x04	/* "" (or null) is stored as NULL */
#define CFG_REQUIRED	0x08	/* must be given (inside a repository) */
#define CFG_EMPTYLIST	0x10	/* K_LIST: [] is allowed */

struct key {
	const char	*path;		/* dotted, relative to the table */
	enum ktype	 type;
	size_t		 off;		/* of the field */
	size_t		 off2;		/* K_LIST: of its count */
	const char	*def;		/* default as text; NULL: none */
	int64_t		 min, max;
	const char *const *names;	/* K_ENUM, NULL-terminated */
	const char	*(*check)(const char *v);	/* NULL or why v is bad */
	int		(*mask)(const char *v, struct buf *out);  /* secrets */
	unsigned	 flags;
};

_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_executor) == sizeof(int), "enum size");

#define SEC		((int64_t)1000)
#define DUR_MAX		((int64_t)366 * 24 * 3600 * SEC)
#define QUOTE_MAX	(64 * 4 + 8)	/* a quoted value in a message */
#define LABEL_MAX	256		/* a key path in a message */
#define BRANCH_MAX	255

static const char *check_listen(const char *v);
static const char *check_text(const char *v);
static const char *check_namespace(const char *v);
static const char *check_image(const char *v);
static const char *check_envname(const char *v);
static const char *check_envpattern(const char *v);
static const char *check_label(const char *v);
static const char *check_url(const char *v);
static const char *check_branch(const char *v);
static const char *check_relpath(const char *v);
static int mask_dburl(const char *v, struct buf *out);

static const char *const level_names[] = {
	"debug", "info", "warn", "error", NULL
};
static const char *const format_names[] = { "text", "json", NULL };
static const char *const executor_names[] = { "local", "kubernetes", NULL };

#define C(f)	offsetof(struct cfg, f)
static const struct key top_keys[] = {
	{ .path = "listen", .type = K_STR, .off = C(listen),
	  .def = "127.0.0.1:8080", .check = check_listen,
	  .flags = CFG_NONEMPTY },
	{ .path = "database_url", .type = K_STR, .off = C(database_url),
	  .def = "postgresql:///sluice", .max = LIM_DB_URL,
	  .check = check_text, .mask = mask_dburl,
	  .flags = CFG_NONEMPTY | CFG_SECRET },
	{ .path = "state_dir", .type = K_STR, .off = C(state_dir),
	  .def = "./var", .check = check_text, .flags = CFG_NONEMPTY },
	{ .path = "log_level", .type = K_ENUM, .off = C(log_level),
	  .def = "info", .names = level_names },
	{ .path = "log_format", .type = K_ENUM, .off = C(log_format),
	  .def = "text", .names = format_names },
	{ .path = "executor", .type = K_ENUM, .off = C(executor),
	  .def = "local", .names = executor_names },
	{ .path = "max_parallel_stages", .type = K_INT,
	  .off = C(max_parallel_stages), .def = "32", .min = 1,
	  .max = 100000 },
	{ .path = "kubernetes", .type = K_MAP },
	{ .path = "kubernetes.kubeconfig", .type = K_STR,
	  .off = C(kubernetes.kubeconfig), .def = "", .check = check_text },
	{ .path = "kubernetes.context", .type = K_STR,
	  .off = C(kubernetes.context), .def = "", .check = check_text },
	{ .path = "kubernetes.namespace", .type = K_STR,
	  .off = C(kubernetes.namespace), .def = "",
	  .check = check_namespace },
	{ .path = "kubernetes.qps", .type = K_NUM, .off = C(kubernetes.qps),
	  .def = "20", .min = 0, .max = 100000 },
	{ .path = "kubernetes.burst", .type = K_INT,
	  .off = C(kubernetes.burst), .def = "40", .min = 1, .max = 100000 },
	{ .path = "kubernetes.max_gpus", .type = K_INT,
	  .off = C(kubernetes.max_gpus), .def = "0", .min = 0,
	  .max = INT_MAX },
	{ .path = "kubernetes.ttl_after_finished", .type = K_DUR,
	  .off = C(kubernetes.ttl_after_finished_ms), .def = "1h",
	  .min = SEC, .max = DUR_MAX },
	{ .path = "kubernetes.checkout_image", .type = K_STR,
	  .off = C(kubernetes.checkout_image), .def = "alpine/git:2.45.2",
	  .check = check_image, .flags = CFG_NONEMPTY },
	{ .path = "poll_interval", .type = K_DUR, .off = C(poll_interval_ms),
	  .def = "30s", .min = SEC, .max = DUR_MAX },
	{ .path = "poll_workers", .type = K_INT, .off = C(poll_workers),
	  .def = "4", .min = 1, .max = 64 },
	{ .path = "session_ttl", .type = K_DUR, .off = C(session_ttl_ms),
	  .def = "12h", .min = 60 * SEC, .max = DUR_MAX },
	{ .path = "repositories", .type = K_REPOS },
	{ .path = "webhook_secret_env", .type = K_STR,
	  .off = C(webhook_secret_env), .def = "SLUICE_WEBHOOK_SECRET",
	  .check = check_envname, .flags = CFG_NONEMPTY },
	{ .path = "anonymous_read", .type = K_BOOL, .off = C(anonymous_read),
	  .def = "false" },
	{ .path = "web_dir", .type = K_STR, .off = C(web_dir), .def = "web",
	  .check = check_text, .flags = CFG_NONEMPTY },
	{ .path = "api_env_allowlist", .type = K_LIST,
	  .off = C(api_env_allowlist), .off2 = C(napi_env_allowlist),
	  .def = "SLUICE_GIT_*", .max = LIM_CONFIG_ENV_PATTERNS,
	  .check = check_envpattern, .flags = CFG_EMPTYLIST },
};
#undef C

/* Inside one repositories entry; interval 0 means poll_interval. */
#define R(f)	offsetof(struct cfg_repo, f)
static const struct key repo_keys[] = {
	{ .path = "name", .type = K_STR, .off = R(name), .check = check_label,
	  .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "url", .type = K_STR, .off = R(url), .max = LIM_URL,
	  .check = check_url, .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "branches", .type = K_LIST, .off = R(branches),
	  .off2 = R(nbranches), .def = "main", .max = LIM_CONFIG_BRANCHES,
	  .check = check_branch },
	{ .path = "path", .type = K_STR, .off = R(path), .def = "pipelines",
	  .check = check_relpath, .flags = CFG_NONEMPTY },
	{ .path = "interval", .type = K_DUR, .off = R(interval_ms),
	  .min = SEC, .max = DUR_MAX },
	{ .path = "auth", .type = K_MAP },
	{ .path = "auth.token_env", .type = K_STR, .off = R(token_env),
	  .check = check_envname, .flags = CFG_NULLABLE },
	{ .path = "auth.ssh_key_file", .type = K_STR, .off = R(ssh_key_file),
	  .check = check_text, .flags = CFG_NULLABLE },
	{ .path = "auth.known_hosts_file", .type = K_STR,
	  .off = R(known_hosts_file), .check = check_text,
	  .flags = CFG_NULLABLE },
};
#undef R

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))

/* The state of one load: where values come from, for messages. */
struct ld {
	yaml_document_t	*doc;	/* the document being walked, or NULL */
	const char	*src;	/* " (SRC:LINE:COL)" in messages, or NULL */
	struct err	*err;
};

#define FIELD(base, k, type)	((type *)(void *)((char *)(base) + (k)->off))

/* ---- messages ---- */

/*
 * Fail with ERR_INVALID and "LABEL: MESSAGE (SRC:LINE:COL)"; without a
 * mark just " (SRC)", without a source no suffix, without a label no
 * prefix.
 */
static int __attribute__((format(printf, 4, 5)))
fail(struct ld *ld, const yaml_mark_t *at, const char *label,
    const char *fmt, ...)
{
	char msg[ERR_MSG_MAX], where[LABEL_MAX + 48];
	va_list ap;

	va_start(ap, fmt);
	/* Truncation is acceptable for a message. */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where[0] = '\0';
	if (ld->src != NULL && at != NULL)
		(void)snprintf(where, sizeof(where), " (%s:%zu:%zu)", ld->src,
		    at->line + 1, at->column + 1);
	else if (ld->src != NULL)
		(void)snprintf(where, sizeof(where), " (%s)", ld->src);
	if (label != NULL)
		return err_set(ld->err, ERR_INVALID, "%s: %s%s", label, msg,
		    where);
	return err_set(ld->err, ERR_INVALID, "%s%s", msg, where);
}

/* v (len bytes) double-quoted and escaped for a message, cut at 64. */
static void
quote(char *out, size_t outlen, const char *v, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	BUG_ON(outlen < QUOTE_MAX);
	out[o++] = '"';
	for (i = 0; i < len && i < 64; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* prefix + name into out, name made printable, cut with "..." to fit. */
static void
label_of(char *out, size_t outlen, const char *prefix, const char *name,
    size_t namelen)
{
	size_t o = 0, i;

	BUG_ON(outlen < 8);
	for (i = 0; prefix[i] != '\0' && o + 4 < outlen; i++)
		out[o++] = prefix[i];
	for (i = 0; i < namelen && o + 4 < outlen; i++) {
		unsigned char ch = (unsigned char)name[i];

		out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (i < namelen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* snprintf into a label; a label cut to fit ends in "...". */
static void __attribute__((format(printf, 3, 4)))
labelf(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		out[0] = '\0';
	else if ((size_t)n >= outlen && outlen >= 4)
		memcpy(out + outlen - 4, "...", 4);
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* ---- checks: NULL when v is fine, else why it is not ---- */

static int
is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || is_digit(ch);
}

static const char *
check_text(const char *v)
{
	for (; *v != '\0'; v++) {
		if (is_ctl((unsigned char)*v))
			return "contains a control character";
	}
	return NULL;
}

static const char *
check_label(const char *v)
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

static const char *
check_namespace(const char *v)
{
	return v[0] == '\0' ? NULL : check_label(v);
}

static const char *
check_image(const char *v)
{
	for (; *v != '\0'; v++) {
		if (is_ctl((unsigned char)*v) || *v == ' ')
			return "is not an image reference";
	}
	return NULL;
}

static const char *
check_envname(const char *v)
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
static const char *
check_envpattern(const char *v)
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
static const char *
check_listen(const char *v)
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

static const char *
check_url(const char *v)
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
static const char *
check_branch(const char *v)
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

static const char *
check_relpath(const char *v)
{
	const char *p = v, *why;

	if ((why = check_text(v)) != NULL)
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

static void
range_text(const struct key *k, char *out, size_t outlen)
{
	char a[32], b[32];

	if (k->type == K_DUR) {
		units_format_duration(k->min, a, sizeof(a));
		(void)snprintf(out, outlen, "at least %s", a);
		if (k->max != DUR_MAX) {
			units_format_duration(k->max, b, sizeof(b));
			(void)snprintf(out, outlen, "%s..%s", a, b);
		}
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
static int
check_str(struct ld *ld, const struct key *k, const char *label,
    const char *v, size_t len, const char *q, const yaml_mark_t *at)
{
	size_t maxlen = k->max > 0 ? (size_t)k->max : LIM_PATH;
	const char *why;

	if (len > maxlen)
		return fail(ld, at, label, "%s is too long (at most %zu bytes)",
		    q, maxlen);
	if (len == 0 && (k->flags & CFG_NONEMPTY))
		return fail(ld, at, label, "must not be empty");
	if (len > 0 && k->check != NULL && (why = k->check(v)) != NULL)
		return fail(ld, at, label, "%s %s", q, why);
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
static int
set_text(struct ld *ld, const struct key *k, void *base, const char *label,
    const char *v, size_t len, const yaml_mark_t *at)
{
	char q[QUOTE_MAX], range[96], names[128];
	int64_t i;
	double d;
	int rc;

	if (k->flags & CFG_SECRET)
		memcpy(q, "\"***\"", 6);
	else
		quote(q, sizeof(q), v, len);
	if (memchr(v, '\0', len) != NULL)
		return fail(ld, at, label, "%s contains a NUL byte", q);
	switch (k->type) {
	case K_STR:
		if ((rc = check_str(ld, k, label, v, len, q, at)) < 0)
			return rc;
		free(*FIELD(base, k, char *));
		*FIELD(base, k, char *) = len == 0 &&
		    (k->flags & CFG_NULLABLE) ? NULL : xstrdup(v);
		return 0;
	case K_BOOL:
		if (!is_true(v) && !is_false(v))
			return fail(ld, at, label,
			    "%s is not a boolean (true or false)", q);
		*FIELD(base, k, int) = is_true(v);
		return 0;
	case K_INT:
		if ((rc = parse_int(v, &i)) == -1)
			return fail(ld, at, label, "%s is not an integer", q);
		if (rc < 0 || i < k->min || i > k->max) {
			range_text(k, range, sizeof(range));
			return fail(ld, at, label, "%s is out of range (%s)", q,
			    range);
		}
		*FIELD(base, k, int) = (int)i;
		return 0;
	case K_NUM:
		if (parse_num(v, &d) < 0)
			return fail(ld, at, label, "%s is not a number", q);
		if (!(d > (double)k->min) || d > (double)k->max) {
			range_text(k, range, sizeof(range));
			return fail(ld, at, label, "%s is out of range (%s)", q,
			    range);
		}
		*FIELD(base, k, double) = d;
		return 0;
	case K_DUR:
		if (units_parse_duration(v, &i) < 0)
			return fail(ld, at, label, "%s is not a duration", q);
		if (i < k->min || i > k->max) {
			range_text(k, range, sizeof(range));
			return fail(ld, at, label, "%s is out of range (%s)", q,
			    range);
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
		return fail(ld, at, label, "%s is not one of %s", q, names);
	default:
		BUG_ON(1);
	}
	return ERR_GENERIC;
}

static void
list_free(char **l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/* Replace a K_LIST field with l (n strings), which it now owns. */
static void
list_store(const struct key *k, void *base, char **l, size_t n)
{
	list_free(*FIELD(base, k, char **));
	*FIELD(base, k, char **) = l;
	*(size_t *)(void *)((char *)base + k->off2) = n;
}

/* ---- walking YAML ---- */

static int
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
	    !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int
wrong_type(struct ld *ld, const yaml_node_t *n, const char *label,
    const char *want)
{
	return fail(ld, &n->start_mark, label, "expected %s, found %s", want,
	    node_kind(n));
}

/* The row of tab for key (keylen bytes) inside the mapping at rel. */
static const struct key *
find_key(const struct key *tab, size_t ntab, const char *rel,
    const char *key, size_t keylen)
{
	size_t rl = strlen(rel);

	if (keylen == 0 || memchr(key, '.', keylen) != NULL ||
	    memchr(key, '\0', keylen) != NULL)
		return NULL;
	for (size_t i = 0; i < ntab; i++) {
		const char *p = tab[i].path;

		if (rl > 0) {
			if (strncmp(p, rel, rl) != 0 || p[rl] != '.')
				continue;
			p += rl + 1;
		}
		if (strlen(p) == keylen && memcmp(p, key, keylen) == 0)
			return &tab[i];
	}
	return NULL;
}

static int walk_map(struct ld *ld, yaml_node_t *map, const struct key *tab,
    size_t ntab, const char *rel, void *base, const char *lprefix,
    unsigned char *seen);
static int walk_repos(struct ld *ld, yaml_node_t *seq, struct cfg *c);

static int
walk_list(struct ld *ld, const struct key *k, void *base, const char *label,
    yaml_node_t *seq)
{
	char ilabel[LABEL_MAX], q[QUOTE_MAX];
	size_t n = 0, i = 0;
	char **l = NULL;
	int rc = 0;

	if (!is_null(seq))
		n = (size_t)(seq->data.sequence.items.top -
		    seq->data.sequence.items.start);
	if (n == 0 && (k->flags & CFG_EMPTYLIST)) {
		list_store(k, base, xcalloc(1, sizeof(char *)), 0);
		return 0;
	}
	if (n == 0)
		return fail(ld, &seq->start_mark, label,
		    "must be a non-empty list");
	if (n > (size_t)k->max)
		return fail(ld, &seq->start_mark, label,
		    "has more than %lld entries", (long long)k->max);
	l = xcalloc(n + 1, sizeof(*l));
	for (i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(ld->doc,
		    seq->data.sequence.items.start[i]);
		const char *v;
		size_t len;

		labelf(ilabel, sizeof(ilabel), "%s[%zu]", label, i);
		if (it->type != YAML_SCALAR_NODE) {
			rc = wrong_type(ld, it, ilabel, "a scalar");
			goto out;
		}
		v = is_null(it) ? "" : (const char *)it->data.scalar.value;
		len = is_null(it) ? 0 : it->data.scalar.length;
		quote(q, sizeof(q), v, len);
		if (len == 0) {
			rc = fail(ld, &it->start_mark, ilabel,
			    "must not be empty");
			goto out;
		}
		if (memchr(v, '\0', len) != NULL) {
			rc = fail(ld, &it->start_mark, ilabel,
			    "%s contains a NUL byte", q);
			goto out;
		}
		if (k->check != NULL && k->check(v) != NULL) {
			rc = fail(ld, &it->start_mark, ilabel, "%s %s", q,
			    k->check(v));
			goto out;
		}
		l[i] = xstrdup(v);
	}
	list_store(k, base, l, n);
	l = NULL;
out:
	list_free(l);
	return rc;
}

/* Set key k of base from node n, whatever k's type. */
static int
walk_value(struct ld *ld, const struct key *k, const struct key *tab,
    size_t ntab, void *base, const char *lprefix, unsigned char *seen,
    yaml_node_t *n)
{
	char label[LABEL_MAX];

	label_of(label, sizeof(label), lprefix, k->path, strlen(k->path));
	switch (k->type) {
	case K_MAP:
		if (is_null(n))
			return 0;
		if (n->type != YAML_MAPPING_NODE)
			return wrong_type(ld, n, label, "a mapping");
		return walk_map(ld, n, tab, ntab, k->path, base, lprefix, seen);
	case K_REPOS:
		if (n->type != YAML_SEQUENCE_NODE && !is_null(n))
			return wrong_type(ld, n, label, "a sequence");
		return walk_repos(ld, n, base);
	case K_LIST:
		if (n->type != YAML_SEQUENCE_NODE && !is_null(n))
			return wrong_type(ld, n, label, "a sequence");
		return walk_list(ld, k, base, label, n);
	default:
		if (n->type != YAML_SCALAR_NODE)
			return wrong_type(ld, n, label, "a scalar");
		if (is_null(n))
			return set_text(ld, k, base, label, "", 0,
			    &n->start_mark);
		return set_text(ld, k, base, label,
		    (const char *)n->data.scalar.value, n->data.scalar.length,
		    &n->start_mark);
	}
}

/*
 * Walk a mapping whose keys are the rows of tab under rel ("" for the
 * table's root).  lprefix comes before key paths in messages; seen[i] is
 * set for each row i given (seen may be NULL).
 */
static int
walk_map(struct ld *ld, yaml_node_t *map, const struct key *tab, size_t ntab,
    const char *rel, void *base, const char *lprefix, unsigned char *seen)
{
	yaml_node_pair_t *pair;
	char label[LABEL_MAX], prefix[LABEL_MAX];
	int rc;

	if (rel[0] != '\0')
		labelf(prefix, sizeof(prefix), "%s%s.", lprefix, rel);
	else
		labelf(prefix, sizeof(prefix), "%s", lprefix);
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(ld->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(ld->doc, pair->value);
		const struct key *k;
		const char *name;
		size_t len;

		if (kn->type != YAML_SCALAR_NODE) {
			len = strlen(prefix);
			if (len > 0)	/* "kubernetes." names "kubernetes" */
				prefix[len - 1] = '\0';
			return fail(ld, &kn->start_mark,
			    len > 0 ? prefix : NULL,
			    "a key must be a scalar, found %s", node_kind(kn));
		}
		name = (const char *)kn->data.scalar.value;
		len = kn->data.scalar.length;
		label_of(label, sizeof(label), prefix, name, len);
		for (yaml_node_pair_t *prev = map->data.mapping.pairs.start;
		    prev < pair; prev++) {
			yaml_node_t *pn = yaml_document_get_node(ld->doc,
			    prev->key);

			if (pn->data.scalar.length == len &&
			    memcmp(pn->data.scalar.value, name, len) == 0)
				return fail(ld, &kn->start_mark, label,
				    "duplicate key");
		}
		if ((k = find_key(tab, ntab, rel, name, len)) == NULL)
			return fail(ld, &kn->start_mark, label, "unknown key");
		if (seen != NULL)
			seen[k - tab] = 1;
		if ((rc = walk_value(ld, k, tab, ntab, base, lprefix, seen,
		    vn)) < 0)
			return rc;
	}
	return 0;
}

/* The value of key name in mapping map, or NULL. */
static yaml_node_t *
map_get(struct ld *ld, yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);

		if (kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, name) == 0)
			return yaml_document_get_node(ld->doc, p->value);
	}
	return NULL;
}

/* Checks across the fields of one repository. */
static int
repo_cross(struct ld *ld, const struct cfg_repo *r, const char *label,
    const yaml_mark_t *at)
{
	if (r->token_env != NULL && r->ssh_key_file != NULL)
		return fail(ld, at, label,
		    "token_env and ssh_key_file cannot both be set");
	if (r->known_hosts_file != NULL && r->ssh_key_file == NULL)
		return fail(ld, at, label,
		    "known_hosts_file needs ssh_key_file");
	return 0;
}

/* Set k of base to its default, if it has one (a list: one entry). */
static void
set_default(struct ld *ld, const struct key *k, void *base,
    const char *label)
{
	int rc;

	if (k->def == NULL)
		return;
	if (k->type == K_LIST) {
		char **l = xcalloc(2, sizeof(*l));

		l[0] = xstrdup(k->def);
		list_store(k, base, l, 1);
		return;
	}
	rc = set_text(ld, k, base, label, k->def, strlen(k->def), NULL);
	BUG_ON(rc < 0);
}

/* After repos[i] was walked from item: required keys, defaults, cross. */
static int
repo_finish(struct ld *ld, yaml_node_t *item, struct cfg_repo *repos,
    size_t i, const unsigned char *seen, const char *label)
{
	char alabel[LABEL_MAX];
	struct cfg_repo *r = &repos[i];
	yaml_node_t *n;
	int rc;

	for (size_t j = 0; j < NKEYS(repo_keys); j++) {
		const struct key *k = &repo_keys[j];

		if (seen[j])
			continue;
		if (k->flags & CFG_REQUIRED)
			return fail(ld, &item->start_mark, label,
			    "\"%s\" is required", k->path);
		set_default(ld, k, r, label);
	}
	n = map_get(ld, item, "auth");
	labelf(alabel, sizeof(alabel), "%s.auth", label);
	if ((rc = repo_cross(ld, r, alabel, n ? &n->start_mark : NULL)) < 0)
		return rc;
	for (size_t j = 0; j < i; j++) {
		if (strcmp(repos[j].name, r->name) != 0)
			continue;
		n = map_get(ld, item, "name");
		labelf(alabel, sizeof(alabel), "%s.name", label);
		return fail(ld, n ? &n->start_mark : NULL, alabel,
		    "\"%s\" is a duplicate of repositories[%zu].name", r->name,
		    j);
	}
	return 0;
}

/* Replace c's repositories with repos (n of them), which it now owns. */
static void
repos_store(struct cfg *c, struct cfg_repo *repos, size_t n)
{
	for (size_t i = 0; i < c->nrepositories; i++)
		cfg_repo_release(&c->repositories[i]);
	free(c->repositories);
	c->repositories = repos;
	c->nrepositories = n;
}

/* Replace c's repositories with the sequence seq (none for a null). */
static int
walk_repos(struct ld *ld, yaml_node_t *seq, struct cfg *c)
{
	unsigned char seen[NKEYS(repo_keys)];
	char label[LABEL_MAX], lprefix[LABEL_MAX];
	struct cfg_repo *repos = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!is_null(seq))
		n = (size_t)(seq->data.sequence.items.top -
		    seq->data.sequence.items.start);
	if (n > LIM_CONFIG_REPOS)
		return fail(ld, &seq->start_mark, "repositories",
		    "has more than %d entries", LIM_CONFIG_REPOS);
	repos = xcalloc(n, sizeof(*repos));
	for (i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ld->doc,
		    seq->data.sequence.items.start[i]);

		labelf(label, sizeof(label), "repositories[%zu]", i);
		labelf(lprefix, sizeof(lprefix), "repositories[%zu].",
		    i);
		if (item->type != YAML_MAPPING_NODE) {
			rc = wrong_type(ld, item, label, "a mapping");
			goto out;
		}
		memset(seen, 0, sizeof(seen));
		if ((rc = walk_map(ld, item, repo_keys, NKEYS(repo_keys), "",
		    &repos[i], lprefix, seen)) < 0)
			goto out;
		if ((rc = repo_finish(ld, item, repos, i, seen, label)) < 0)
			goto out;
	}
	repos_store(c, n > 0 ? repos : NULL, n);
	if (n > 0)
		repos = NULL;
out:
	for (i = 0; repos != NULL && i < n; i++)
		cfg_repo_release(&repos[i]);
	free(repos);
	return rc;
}

/* libyaml's error as ours, with its position. */
static int
yaml_fail(struct ld *ld, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	case YAML_READER_ERROR:
		return fail(ld, NULL, NULL, "invalid YAML: %s at byte %zu",
		    problem, p->problem_offset);
	default:
		if (p->context != NULL)
			return fail(ld, &p->problem_mark, NULL,
			    "invalid YAML: %s %s", problem, p->context);
		return fail(ld, &p->problem_mark, NULL, "invalid YAML: %s",
		    problem);
	}
}

/*
 * A first pass over the events, before the document is built: libyaml's
 * scanner is quadratic in the nesting depth and the document API holds
 * every node, so depth and node count are capped here (LIM_YAML_DEPTH,
 * LIM_YAML_NODES), which also stops the scan early on hostile input.
 */
static int
yaml_precheck(struct ld *ld, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	long depth = 0, nodes = 0;
	int rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_fail(ld, &parser);
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > LIM_YAML_DEPTH)
				rc = fail(ld, &ev.start_mark, NULL,
				    "YAML nested deeper than %d levels",
				    LIM_YAML_DEPTH);
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
		    ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = 1;
		}
		if (rc == 0 && (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_SCALAR_EVENT ||
		    ev.type == YAML_ALIAS_EVENT) && ++nodes > LIM_YAML_NODES)
			rc = fail(ld, &ev.start_mark, NULL,
			    "more than %d YAML nodes", LIM_YAML_NODES);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/*
 * Parse text as one YAML document and apply it: as the whole
 * configuration when as is NULL, else as the value of key as.
 */
static int
load_yaml(struct ld *ld, struct cfg *c, const char *text, size_t len,
    const struct key *as)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	int have_doc = 0, rc = 0;
	yaml_node_t *root;

	if ((rc = yaml_precheck(ld, text, len)) < 0)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return err_set(ld->err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = yaml_fail(ld, &parser);
		goto out;
	}
	have_doc = 1;
	if (!yaml_parser_load(&parser, &extra)) {
		rc = yaml_fail(ld, &parser);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		rc = fail(ld, &root->start_mark, NULL,
		    "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (rc < 0)
		goto out;
	ld->doc = &doc;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		if (as != NULL && as->type == K_REPOS)	/* an empty list */
			repos_store(c, NULL, 0);
		else if (as != NULL)
			rc = fail(ld, NULL, as->path, "expected a sequence "
			    "such as [A, B] or []");
	} else if (as != NULL) {
		rc = walk_value(ld, as, top_keys, NKEYS(top_keys), c, "", NULL,
		    root);
	} else if (root->type == YAML_MAPPING_NODE) {
		rc = walk_map(ld, root, top_keys, NKEYS(top_keys), "", c, "",
		    NULL);
	} else if (!is_null(root)) {
		rc = fail(ld, &root->start_mark, NULL,
		    "expected a mapping at the top level, found %s",
		    node_kind(root));
	}
out:
	ld->doc = NULL;
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- sources ---- */

/*
 * Read path into out.  A missing file is ERR_NOTFOUND when explicit,
 * else *found is cleared and 0 returned.
 */
static int
read_file(const char *path, int explicit, struct buf *out, int *found,
    struct err *err)
{
	char chunk[65536];
	struct stat st;
	int fd, rc = 0;
	ssize_t n;

	*found = 1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !explicit) {
			*found = 0;
			return 0;
		}
		if (errno == ENOENT)
			return err_set(err, ERR_NOTFOUND,
			    "config file '%s' does not exist", path);
		return err_set(err, ERR_GENERIC,
		    "cannot open config file '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = err_set(err, ERR_GENERIC, "cannot stat config file '%s': "
		    "%s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(err, ERR_INVALID,
		    "config file '%s' is not a regular file", path);
		goto out;
	}
	if (st.st_size > LIM_CONFIG_FILE)
		goto toobig;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_GENERIC,
			    "cannot read config file '%s': %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = buf_append(out, chunk, (size_t)n)) == ERR_TOOBIG)
			goto toobig;
		if (rc < 0) {
			rc = err_set(err, rc, "out of memory");
			goto out;
		}
	}
	goto out;
toobig:
	rc = err_set(err, ERR_TOOBIG, "config file '%s' is larger than %d "
	    "bytes", path, LIM_CONFIG_FILE);
out:
	close(fd);
	return rc;
}

/* The variable for a key path: SLUICE_ + upper case, '.' -> '_'. */
static void
env_name(const char *path, char *out, size_t outlen)
{
	size_t o = 0;

	BUG_ON(strlen(path) + 8 > outlen);
	memcpy(out, "SLUICE_", 7);
	o = 7;
	for (const char *p = path; *p != '\0'; p++)
		out[o++] = *p == '.' ? '_' :
		    (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
	out[o] = '\0';
}

/* The first NAME=value of envp, like getenv. */
static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

static int
apply_env(struct ld *ld, struct cfg *c, char *const *envp)
{
	char name[LABEL_MAX];
	const char *v;
	int rc = 0;

	for (size_t i = 0; i < NKEYS(top_keys) && rc == 0; i++) {
		const struct key *k = &top_keys[i];

		if (k->type == K_MAP)
			continue;
		env_name(k->path, name, sizeof(name));
		if ((v = env_get(envp, name)) == NULL)
			continue;
		if (k->type == K_REPOS || k->type == K_LIST) {
			ld->src = name;
			if (strlen(v) > LIM_CONFIG_FILE)
				rc = fail(ld, NULL, NULL, "larger than %d "
				    "bytes", LIM_CONFIG_FILE);
			else
				rc = load_yaml(ld, c, v, strlen(v), k);
		} else {
			ld->src = NULL;
			rc = set_text(ld, k, c, name, v, strlen(v), NULL);
		}
	}
	ld->src = NULL;
	return rc;
}

static int
apply_overrides(struct ld *ld, struct cfg *c, const struct cfg_override *ov,
    size_t n)
{
	char label[LABEL_MAX];
	const struct key *k;
	int rc = 0;

	ld->src = "command line";
	for (size_t i = 0; i < n && rc == 0; i++) {
		BUG_ON(ov[i].key == NULL || ov[i].value == NULL);
		label_of(label, sizeof(label), "", ov[i].key,
		    strlen(ov[i].key));
		k = NULL;
		for (size_t j = 0; j < NKEYS(top_keys) && k == NULL; j++) {
			if (strcmp(top_keys[j].path, ov[i].key) == 0)
				k = &top_keys[j];
		}
		if (k == NULL)
			rc = fail(ld, NULL, label, "unknown key");
		else if (k->type == K_MAP)
			rc = fail(ld, NULL, label, "is a mapping, set one of "
			    "its keys (%s.KEY)", k->path);
		else if (k->type == K_REPOS || k->type == K_LIST)
			rc = load_yaml(ld, c, ov[i].value,
			    strlen(ov[i].value), k);
		else
			rc = set_text(ld, k, c, label, ov[i].value,
			    strlen(ov[i].value), NULL);
	}
	ld->src = NULL;
	return rc;
}

/* ---- the public functions ---- */

int
cfg_load(struct cfg **out, const char *path, char *const *envp,
    const struct cfg_override *overrides, size_t n, struct err *err)
{
	const char *file = path != NULL ? path : "sluice.yaml";
	struct cfg *c = xcalloc(1, sizeof(*c));
	struct ld ld = { .err = err };
	struct buf text;
	int rc = 0, found = 0;

	*out = NULL;
	buf_init(&text, LIM_CONFIG_FILE);
	for (size_t i = 0; i < NKEYS(top_keys); i++)
		set_default(&ld, &top_keys[i], c, top_keys[i].path);
	if ((rc = read_file(file, path != NULL, &text, &found, err)) < 0)
		goto out;
	if (found) {
		c->file = xstrdup(file);
		ld.src = file;
		rc = load_yaml(&ld, c, text.data ? text.data : "", text.len,
		    NULL);
		ld.src = NULL;
		if (rc < 0)
			goto out;
	}
	if ((rc = apply_env(&ld, c, envp)) < 0)
		goto out;
	if ((rc = apply_overrides(&ld, c, overrides, n)) < 0)
		goto out;
	for (size_t i = 0; i < c->nrepositories; i++) {
		if (c->repositories[i].interval_ms == 0)
			c->repositories[i].interval_ms = c->poll_interval_ms;
	}
	*out = c;
	c = NULL;
out:
	cfg_free(c);
	buf_release(&text);
	return rc;
}

void
cfg_repo_release(struct cfg_repo *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < NKEYS(repo_keys); i++) {
		if (repo_keys[i].type == K_STR)
			free(*FIELD(r, &repo_keys[i], char *));
		else if (repo_keys[i].type == K_LIST)
			list_free(*FIELD(r, &repo_keys[i], char **));
	}
	memset(r, 0, sizeof(*r));
}

void
cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NKEYS(top_keys); i++) {
		if (top_keys[i].type == K_STR)
			free(*FIELD(c, &top_keys[i], char *));
		else if (top_keys[i].type == K_LIST)
			list_free(*FIELD(c, &top_keys[i], char **));
	}
	for (size_t i = 0; i < c->nrepositories; i++)
		cfg_repo_release(&c->repositories[i]);
	free(c->repositories);
	free(c->file);
	free(c);
}

int
cfg_repo_check(const struct cfg_repo *r, struct err *err)
{
	struct ld ld = { .err = err };
	char q[QUOTE_MAX], label[LABEL_MAX], range[96];
	int rc;

	for (size_t i = 0; i < NKEYS(repo_keys); i++) {
		const struct key *k = &repo_keys[i];
		const char *v;

		switch (k->type) {
		case K_STR:
			v = *FIELD(r, k, char *);
			if (v == NULL && (k->flags & CFG_REQUIRED))
				return fail(&ld, NULL, k->path, "is required");
			if (v == NULL)
				continue;
			quote(q, sizeof(q), v, strlen(v));
			if ((rc = check_str(&ld, k, k->path, v, strlen(v), q,
			    NULL)) < 0)
				return rc;
			break;
		case K_LIST:
			if (r->nbranches == 0 || r->branches == NULL)
				return fail(&ld, NULL, k->path,
				    "must be a non-empty list");
			if (r->nbranches > (size_t)k->max)
				return fail(&ld, NULL, k->path, "has more than "
				    "%lld entries", (long long)k->max);
			for (size_t j = 0; j < r->nbranches; j++) {
				v = r->branches[j];
				labelf(label, sizeof(label), "%s[%zu]",
				    k->path, j);
				if (v == NULL || v[0] == '\0')
					return fail(&ld, NULL, label,
					    "must not be empty");
				quote(q, sizeof(q), v, strlen(v));
				if (k->check(v) != NULL)
					return fail(&ld, NULL, label, "%s %s",
					    q, k->check(v));
			}
			break;
		case K_DUR:
			if (r->interval_ms != 0 && (r->interval_ms < k->min ||
			    r->interval_ms > k->max)) {
				range_text(k, range, sizeof(range));
				return fail(&ld, NULL, k->path,
				    "%lld ms is out of range (%s)",
				    (long long)r->interval_ms, range);
			}
			break;
		default:
			break;
		}
	}
	return repo_cross(&ld, r, "auth", NULL);
}

int
cfg_api_env_allowed(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->napi_env_allowlist; i++) {
		if (fnmatch(c->api_env_allowlist[i], name, 0) == 0)
			return 1;
	}
	return 0;
}

void
cfg_api_env_allowlist_text(const struct cfg *c, char *out, size_t outlen)
{
	size_t o = 0;
	int n;

	BUG_ON(outlen < 8);
	out[0] = '\0';
	if (c->napi_env_allowlist == 0) {
		(void)snprintf(out, outlen, "none");
		return;
	}
	for (size_t i = 0; i < c->napi_env_allowlist; i++) {
		n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "",
		    c->api_env_allowlist[i]);
		if (n < 0 || (size_t)n >= outlen - o) {
			memcpy(out + outlen - 4, "...", 4);
			return;
		}
		o += (size_t)n;
	}
}

/* ---- dump ---- */

/* database_url with its password as ***, URI or conninfo. */
static int
mask_uri(const char *v, struct buf *o)
{
	const char *p = strstr(v, "://") + 3, *at = NULL, *colon, *q;
	size_t alen = strcspn(p, "/?#");
	int rc = 0;

	for (q = p; q < p + alen; q++) {
		if (*q == '@')
			at = q;
	}
	if (at != NULL && (colon = memchr(p, ':', (size_t)(at - p))) != NULL) {
		if ((rc = buf_append(o, v, (size_t)(colon + 1 - v))) < 0 ||
		    (rc = buf_puts(o, "***")) < 0)
			return rc;
		p = at;
	} else {
		p = v;
	}
	if ((q = strchr(p, '?')) == NULL)
		return buf_puts(o, p);
	if ((rc = buf_append(o, p, (size_t)(q + 1 - p))) < 0)
		return rc;
	for (p = q + 1; rc == 0 && *p != '\0';) {
		size_t n = strcspn(p, "&#");

		if (n >= 9 && strncmp(p, "password=", 9) == 0)
			rc = buf_puts(o, "password=***");
		else
			rc = buf_append(o, p, n);
		p += n;
		if (rc == 0 && *p != '\0')
			rc = buf_putc(o, *p++);
	}
	return rc;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\f' || ch == '\v';
}

/* keyword = value pairs; a value may be 'quoted' with \ escapes. */
static int
mask_conninfo(const char *v, struct buf *o)
{
	const char *p = v, *kw, *val;
	size_t kwlen;
	int rc = 0;

	while (rc == 0 && *p != '\0') {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		kw = p;
		while (*p != '\0' && *p != '=' && !is_space(*p))
			p++;
		kwlen = (size_t)(p - kw);
		while (is_space(*p))
			p++;
		if (*p != '=' || kwlen == 0)
			goto malformed;
		p++;
		while (is_space(*p))
			p++;
		val = p;
		if (*p == '\'') {
			for (p++; *p != '\'' && *p != '\0'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
			}
			if (*p != '\'')
				goto malformed;
			p++;
		} else {
			for (; *p != '\0' && !is_space(*p); p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
			}
		}
		if (o->len > 0 && o->data[o->len - 1] != ' ')
			rc = buf_putc(o, ' ');
		if (rc == 0)
			rc = buf_append(o, kw, kwlen);
		if (rc == 0)
			rc = buf_putc(o, '=');
		if (rc == 0 && kwlen == 8 && strncmp(kw, "password", 8) == 0)
			rc = buf_puts(o, "***");
		else if (rc == 0)
			rc = buf_append(o, val, (size_t)(p - val));
	}
	return rc;
malformed:
	/* Unparseable: show nothing that could be the password. */
	buf_reset(o);
	return buf_puts(o, "***");
}

static int
mask_dburl(const char *v, struct buf *o)
{
	if (strncmp(v, "postgresql://", 13) == 0 ||
	    strncmp(v, "postgres://", 11) == 0)
		return mask_uri(v, o);
	return mask_conninfo(v, o);
}

/* A YAML scalar, plain when that reads back as the same string. */
static int
put_scalar(struct buf *o, const char *v)
{
	static const char *const words[] = { "true", "false", "null", "yes",
	    "no", "on", "off", "y", "n" };
	int plain = (v[0] >= 'a' && v[0] <= 'z') ||
	    (v[0] >= 'A' && v[0] <= 'Z') || v[0] == '/' || v[0] == '.';
	int rc = 0;

	for (const char *p = v; plain && *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    is_digit(*p) || strchr("-_./:@+=*&%?", *p) != NULL))
			plain = 0;
	}
	for (size_t i = 0; plain && i < NKEYS(words); i++) {
		if (strcasecmp(v, words[i]) == 0)
			plain = 0;
	}
	if (plain)
		return buf_puts(o, v);
	rc = buf_putc(o, '"');
	for (const char *p = v; rc == 0 && *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '"' || ch == '\\')
			rc = buf_printf(o, "\\%c", ch);
		else if (is_ctl(ch))
			rc = buf_printf(o, "\\x%02x", ch);
		else
			rc = buf_putc(o, (char)ch);
	}
	return rc == 0 ? buf_putc(o, '"') : rc;
}

static int
dump_value(struct buf *o, const struct key *k, const void *base)
{
	const void *b = base;
	struct buf m;
	char tmp[64];
	int rc;

	switch (k->type) {
	case K_STR: {
		const char *v = *FIELD(b, k, char *const);

		if (v == NULL)
			return buf_puts(o, "null");
		if (!(k->flags & CFG_SECRET))
			return put_scalar(o, v);
		if (k->mask == NULL)
			return buf_puts(o, "\"***\"");
		buf_init(&m, LIM_DB_URL + 64);
		if ((rc = k->mask(v, &m)) == 0)
			rc = put_scalar(o, m.data ? m.data : "");
		buf_release(&m);
		return rc;
	}
	case K_BOOL:
		return buf_puts(o, *FIELD(b, k, const int) ? "true" : "false");
	case K_INT:
		return buf_printf(o, "%d", *FIELD(b, k, const int));
	case K_NUM:
		return buf_printf(o, "%g", *FIELD(b, k, const double));
	case K_DUR:
		units_format_duration(*FIELD(b, k, const int64_t), tmp,
		    sizeof(tmp));
		return buf_puts(o, tmp);
	case K_ENUM:
		return buf_puts(o, k->names[*FIELD(b, k, const int)]);
	case K_LIST: {
		char *const *l = *FIELD(b, k, char **const);

		rc = buf_putc(o, '[');
		for (size_t i = 0; rc == 0 && l != NULL && l[i] != NULL; i++) {
			if (i > 0)
				rc = buf_puts(o, ", ");
			if (rc == 0)
				rc = put_scalar(o, l[i]);
		}
		return rc == 0 ? buf_putc(o, ']') : rc;
	}
	default:
		BUG_ON(1);
	}
	return ERR_GENERIC;
}

/*
 * Write the rows of tab under base, nested keys indented; first is what
 * comes before the first line (for "- " in a list), indent before others.
 */
static int
dump_table(struct buf *o, const struct key *tab, size_t ntab,
    const void *base, const struct cfg *c, const char *first,
    const char *indent)
{
	int rc = 0, line = 0;

	for (size_t i = 0; rc == 0 && i < ntab; i++) {
		const struct key *k = &tab[i];
		const char *name = strrchr(k->path, '.');
		int depth = name != NULL ? 1 : 0;

		name = name != NULL ? name + 1 : k->path;
		if (k->type == K_MAP) {
			/* a map with nothing set inside (auth) is left out */
			int any = 0;

			for (size_t j = i + 1; j < ntab &&
			    strncmp(tab[j].path, k->path, strlen(k->path)) == 0;
			    j++) {
				if (tab[j].type != K_STR ||
				    *FIELD(base, &tab[j], char *const) != NULL)
					any = 1;
			}
			if (!any) {
				while (i + 1 < ntab && strncmp(tab[i + 1].path,
				    k->path, strlen(k->path)) == 0)
					i++;
				continue;
			}
		} else if (k->type == K_STR && (k->flags & CFG_NULLABLE) &&
		    *FIELD(base, k, char *const) == NULL) {
			continue;
		}
		rc = buf_printf(o, "%s%s%s:", line++ ? indent : first,
		    depth ? "  " : "", name);
		if (rc < 0)
			break;
		if (k->type == K_MAP) {
			rc = buf_putc(o, '\n');
		} else if (k->type == K_REPOS) {
			if (c->nrepositories == 0)
				rc = buf_puts(o, " []\n");
			else
				rc = buf_putc(o, '\n');
			for (size_t j = 0; rc == 0 && j < c->nrepositories; j++)
				rc = dump_table(o, repo_keys, NKEYS(repo_keys),
				    &c->repositories[j], NULL, "  - ", "    ");
		} else {
			if ((rc = buf_putc(o, ' ')) == 0 &&
			    (rc = dump_value(o, k, base)) == 0)
				rc = buf_putc(o, '\n');
		}
	}
	return rc;
}

int
cfg_dump(const struct cfg *c, struct buf *out)
{
	int rc;

	if (c->file != NULL &&
	    (rc = buf_printf(out, "# file: %s\n", c->file)) < 0)
		return rc;
	return dump_table(out, top_keys, NKEYS(top_keys), c, c, "", "");
}
