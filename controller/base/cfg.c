/*
 * cfg.c - configuration as a table (validate all, then swap); see cfg.h.
 *
 * Every key is one row of cfg_top_keys[] (here) or cfg_repo_keys[]
 * (cfg_repos.c): its path, type, where it lives in the struct, its default
 * as text, bounds and flags.  Defaults, the YAML file, the environment and
 * overrides all go through one setter, cfg_set_text() (cfg_check.c), so a
 * value is checked the same way wherever it comes from, and a default that
 * would not pass its own check is a BUG.  Everything lands in a fresh
 * struct cfg that is handed out only when all of it is valid; on the first
 * error it is freed and nothing is returned.  How the pieces divide the
 * work is in cfg_int.h.
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/cfg_int.h"
#include "base/sys.h"

_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_executor) == sizeof(int), "enum size");

static const char *const level_names[] = {
	"debug", "info", "warn", "error", NULL
};
static const char *const format_names[] = { "text", "json", NULL };
static const char *const executor_names[] = { "local", "kubernetes", NULL };

/*
 * Every top-level key, those under "kubernetes:" included: a new key is one
 * row here and its field in struct cfg.  "repositories" entries have their
 * own table, cfg_repo_keys[] in cfg_repos.c.
 */
#define C(f)	offsetof(struct cfg, f)
const struct key cfg_top_keys[] = {
	{ .path = "listen", .type = K_STR, .off = C(listen),
	  .def = "127.0.0.1:8080", .check = cfg_check_listen,
	  .flags = CFG_NONEMPTY },
	{ .path = "database_url", .type = K_STR, .off = C(database_url),
	  .def = "postgresql:///sluice", .max = LIM_DB_URL,
	  .check = cfg_check_text, .mask = cfg_mask_dburl,
	  .flags = CFG_NONEMPTY | CFG_SECRET },
	{ .path = "state_dir", .type = K_STR, .off = C(state_dir),
	  .def = "./var", .check = cfg_check_text, .flags = CFG_NONEMPTY },
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
	  .off = C(kubernetes.kubeconfig), .def = "", .check = cfg_check_text },
	{ .path = "kubernetes.context", .type = K_STR,
	  .off = C(kubernetes.context), .def = "", .check = cfg_check_text },
	{ .path = "kubernetes.namespace", .type = K_STR,
	  .off = C(kubernetes.namespace), .def = "",
	  .check = cfg_check_namespace },
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
	  .check = cfg_check_image, .flags = CFG_NONEMPTY },
	{ .path = "kubernetes.security_context", .type = K_MAP },
	{ .path = "kubernetes.security_context.run_as_user", .type = K_INT,
	  .off = C(kubernetes.sc_run_as_user), .def = "65532", .min = -1,
	  .max = PODSEC_ID_MAX, .flags = CFG_DUMP_CHANGED },
	{ .path = "kubernetes.security_context.run_as_group", .type = K_INT,
	  .off = C(kubernetes.sc_run_as_group), .def = "-1", .min = -1,
	  .max = PODSEC_ID_MAX, .flags = CFG_DUMP_CHANGED },
	{ .path = "kubernetes.security_context.fs_group", .type = K_INT,
	  .off = C(kubernetes.sc_fs_group), .def = "65532", .min = -1,
	  .max = PODSEC_ID_MAX, .flags = CFG_DUMP_CHANGED },
	{ .path = "kubernetes.security_context.run_as_non_root", .type = K_BOOL,
	  .off = C(kubernetes.sc_run_as_non_root), .def = "true",
	  .flags = CFG_DUMP_CHANGED },
	{ .path = "poll_interval", .type = K_DUR, .off = C(poll_interval_ms),
	  .def = "30s", .min = SEC, .max = DUR_MAX },
	{ .path = "poll_workers", .type = K_INT, .off = C(poll_workers),
	  .def = "4", .min = 1, .max = 64 },
	{ .path = "max_repositories", .type = K_INT,
	  .off = C(max_repositories), .def = "10000", .min = 1,
	  .max = LIM_CONFIG_REPOS, .flags = CFG_DUMP_CHANGED },
	{ .path = "session_ttl", .type = K_DUR, .off = C(session_ttl_ms),
	  .def = "12h", .min = 60 * SEC, .max = DUR_MAX },
	{ .path = "repositories", .type = K_REPOS },
	{ .path = "webhook_secret_env", .type = K_STR,
	  .off = C(webhook_secret_env), .def = "SLUICE_WEBHOOK_SECRET",
	  .check = cfg_check_envname, .flags = CFG_NONEMPTY },
	{ .path = "anonymous_read", .type = K_BOOL, .off = C(anonymous_read),
	  .def = "false" },
	{ .path = "web_dir", .type = K_STR, .off = C(web_dir), .def = "web",
	  .check = cfg_check_text, .flags = CFG_NONEMPTY },
	{ .path = "api_env_allowlist", .type = K_LIST,
	  .off = C(api_env_allowlist), .off2 = C(napi_env_allowlist),
	  .def = "SLUICE_GIT_*", .max = LIM_CONFIG_ENV_PATTERNS,
	  .check = cfg_check_envpattern, .flags = CFG_EMPTYLIST },
	/* nodes one stage may ask for; LIM_STAGE_NODES is the hard cap */
	{ .path = "max_nodes", .type = K_INT, .off = C(max_nodes),
	  .def = "16", .min = 1, .max = LIM_STAGE_NODES },
	{ .path = "logs", .type = K_MAP },
	{ .path = "logs.max_bytes", .type = K_SIZE, .off = C(logs_max_bytes),
	  .def = "16MiB", .min = 1024, .max = LIM_LOG_MAX_BYTES },
	{ .path = "retention", .type = K_MAP },
	{ .path = "retention.keep_runs", .type = K_INT,
	  .off = C(retention_keep_runs), .def = "0", .min = 0,
	  .max = 100000000 },
	{ .path = "retention.max_age", .type = K_DUR,
	  .off = C(retention_max_age_ms), .def = "0s", .min = 0,
	  .max = DUR_MAX, .flags = CFG_DAYS },
	{ .path = "retention.interval", .type = K_DUR,
	  .off = C(retention_interval_ms), .def = "1h", .min = SEC,
	  .max = DUR_MAX },
	{ .path = "public_url", .type = K_STR, .off = C(public_url),
	  .max = LIM_URL, .check = cfg_check_http_url, .flags = CFG_NULLABLE },
	{ .path = "api", .type = K_MAP },
	{ .path = "api.db_connections", .type = K_INT,
	  .off = C(api_db_connections), .def = "8", .min = 1,
	  .max = LIM_DB_POOL_MAX },
	{ .path = "api.statement_timeout", .type = K_DUR,
	  .off = C(api_statement_timeout_ms), .def = "5s", .min = 100,
	  .max = 3600 * SEC },
	{ .path = "notifications", .type = K_NOTIFS },
};
#undef C

const size_t cfg_ntop_keys = NKEYS(cfg_top_keys);

/* ---- messages ---- */

/*
 * Fail with ERR_INVALID and "LABEL: MESSAGE (SRC:LINE:COL)"; without a
 * mark just " (SRC)", without a source no suffix, without a label no
 * prefix.
 */
int
cfg_fail(struct ld *ld, const yaml_mark_t *at, const char *label,
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
void
cfg_quote(char *out, size_t outlen, const char *v, size_t len)
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
void
cfg_label_of(char *out, size_t outlen, const char *prefix, const char *name,
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
void
cfg_labelf(char *out, size_t outlen, const char *fmt, ...)
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

/* ---- sources ---- */

/*
 * Read path into out.  A missing file is ERR_NOTFOUND when explicit,
 * else *found is cleared and 0 returned.
 */
static int
read_file(const char *path, int explicit, struct buf *out, int *found,
    struct err *err)
{
	struct stat st;

	*found = 1;
	if (stat(path, &st) < 0) {
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
	if (!S_ISREG(st.st_mode))
		return err_set(err, ERR_INVALID,
		    "config file '%s' is not a regular file", path);
	return sys_read_file(path, "config file", LIM_CONFIG_FILE, 0, out,
	    err);
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

	for (size_t i = 0; i < NKEYS(cfg_top_keys) && rc == 0; i++) {
		const struct key *k = &cfg_top_keys[i];

		if (k->type == K_MAP)
			continue;
		env_name(k->path, name, sizeof(name));
		if ((v = env_get(envp, name)) == NULL)
			continue;
		if (k->type == K_REPOS || k->type == K_NOTIFS ||
		    k->type == K_LIST) {
			ld->src = name;
			if (strlen(v) > LIM_CONFIG_FILE)
				rc = cfg_fail(ld, NULL, NULL, "larger than %d "
				    "bytes", LIM_CONFIG_FILE);
			else
				rc = cfg_load_yaml(ld, c, v, strlen(v), k);
		} else {
			ld->src = NULL;
			rc = cfg_set_text(ld, k, c, name, v, strlen(v), NULL);
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
		cfg_label_of(label, sizeof(label), "", ov[i].key,
		    strlen(ov[i].key));
		k = NULL;
		for (size_t j = 0; j < NKEYS(cfg_top_keys) && k == NULL; j++) {
			if (strcmp(cfg_top_keys[j].path, ov[i].key) == 0)
				k = &cfg_top_keys[j];
		}
		if (k == NULL)
			rc = cfg_fail(ld, NULL, label, "unknown key");
		else if (k->type == K_MAP)
			rc = cfg_fail(ld, NULL, label, "is a mapping, set one "
			    "of its keys (%s.KEY)", k->path);
		else if (k->type == K_REPOS || k->type == K_NOTIFS ||
		    k->type == K_LIST)
			rc = cfg_load_yaml(ld, c, ov[i].value,
			    strlen(ov[i].value), k);
		else
			rc = cfg_set_text(ld, k, c, label, ov[i].value,
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
	struct podsec sc;
	const char *why;
	int rc = 0, found = 0;

	*out = NULL;
	buf_init(&text, LIM_CONFIG_FILE);
	for (size_t i = 0; i < NKEYS(cfg_top_keys); i++)
		cfg_set_default(&ld, &cfg_top_keys[i], c, cfg_top_keys[i].path);
	if ((rc = read_file(file, path != NULL, &text, &found, err)) < 0)
		goto out;
	if (found) {
		c->file = xstrdup(file);
		ld.src = file;
		rc = cfg_load_yaml(&ld, c, text.data ? text.data : "", text.len,
		    NULL);
		ld.src = NULL;
		if (rc < 0)
			goto out;
	}
	if ((rc = apply_env(&ld, c, envp)) < 0)
		goto out;
	if ((rc = apply_overrides(&ld, c, overrides, n)) < 0)
		goto out;
	if (c->nrepositories > (size_t)c->max_repositories) {
		rc = err_set(err, ERR_INVALID, "repositories: has %zu entries, "
		    "more than max_repositories (%d)", c->nrepositories,
		    c->max_repositories);
		goto out;
	}
	for (size_t i = 0; i < c->nrepositories; i++) {
		if (c->repositories[i].interval_ms == 0)
			c->repositories[i].interval_ms = c->poll_interval_ms;
	}
	cfg_kube_podsec(&c->kubernetes, &sc);
	if ((why = podsec_contradiction(&sc)) != NULL) {
		rc = err_set(err, ERR_INVALID, "kubernetes.security_context: %s",
		    why);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	cfg_free(c);
	buf_release(&text);
	return rc;
}

void
cfg_kube_podsec(const struct cfg_kube *k, struct podsec *out)
{
	podsec_init(out);
	out->set = 1;
	out->id[PODSEC_RUN_AS_USER] = k->sc_run_as_user;
	out->id[PODSEC_RUN_AS_GROUP] = k->sc_run_as_group;
	out->id[PODSEC_FS_GROUP] = k->sc_fs_group;
	out->run_as_non_root = k->sc_run_as_non_root;
}

void
cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	cfg_fields_free(cfg_top_keys, NKEYS(cfg_top_keys), c);
	for (size_t i = 0; i < c->nrepositories; i++)
		cfg_repo_release(&c->repositories[i]);
	free(c->repositories);
	for (size_t i = 0; i < c->nnotifications; i++)
		cfg_notification_release(&c->notifications[i]);
	free(c->notifications);
	free(c->file);
	free(c);
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
