/*
 * cfg_repos.c - the "repositories" list: the keys of one entry
 * (cfg_repo_keys[]), walking the list, the checks across an entry's fields
 * and across entries, and cfg_repo_check() and cfg_repo_release().
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/cfg_int.h"

static const char *
check_provider(const char *v)
{
	return strcmp(v, "github") == 0 || strcmp(v, "gitlab") == 0 ? NULL :
	    "is not a commit status provider (github or gitlab)";
}

/* GitHub's owner/name: one '/', neither side empty, no odd characters. */
static const char *
check_owner_name(const char *v)
{
	const char *slash = strchr(v, '/');

	if (slash == NULL || slash == v || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL)
		return "is not owner/name";
	for (const char *p = v; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '/'))
			return "is not owner/name";
	}
	return NULL;
}

/*
 * Inside one repositories entry; interval 0 means poll_interval.  A new
 * key is one row here and its field in struct cfg_repo.
 */
#define R(f)	offsetof(struct cfg_repo, f)
const struct key cfg_repo_keys[] = {
	{ .path = "name", .type = K_STR, .off = R(name),
	  .check = cfg_check_label, .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "url", .type = K_STR, .off = R(url), .max = LIM_URL,
	  .check = cfg_check_url, .mask = cfg_mask_repo_url,
	  .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "branches", .type = K_LIST, .off = R(branches),
	  .off2 = R(nbranches), .def = "main", .max = LIM_CONFIG_BRANCHES,
	  .check = cfg_check_branch },
	{ .path = "path", .type = K_STR, .off = R(path), .def = "pipelines",
	  .check = cfg_check_relpath, .flags = CFG_NONEMPTY },
	{ .path = "interval", .type = K_DUR, .off = R(interval_ms),
	  .min = SEC, .max = DUR_MAX },
	{ .path = "auth", .type = K_MAP },
	{ .path = "auth.token_env", .type = K_STR, .off = R(token_env),
	  .check = cfg_check_envname, .flags = CFG_NULLABLE },
	{ .path = "auth.ssh_key_file", .type = K_STR, .off = R(ssh_key_file),
	  .check = cfg_check_text, .flags = CFG_NULLABLE },
	{ .path = "auth.known_hosts_file", .type = K_STR,
	  .off = R(known_hosts_file), .check = cfg_check_text,
	  .flags = CFG_NULLABLE },
	{ .path = "auth.allow_insecure_http", .type = K_BOOL,
	  .off = R(allow_insecure_http), .def = "false",
	  .flags = CFG_DUMP_SET },
	{ .path = "kubernetes_secret", .type = K_STR,
	  .off = R(kubernetes_secret), .check = cfg_check_subdomain,
	  .flags = CFG_NULLABLE },
	{ .path = "commit_status", .type = K_MAP },
	{ .path = "commit_status.provider", .type = K_STR,
	  .off = R(cs_provider), .check = check_provider,
	  .flags = CFG_NULLABLE },
	{ .path = "commit_status.api_url", .type = K_STR,
	  .off = R(cs_api_url), .max = LIM_URL, .check = cfg_check_http_url,
	  .flags = CFG_NULLABLE },
	{ .path = "commit_status.token_env", .type = K_STR,
	  .off = R(cs_token_env), .check = cfg_check_envname,
	  .flags = CFG_NULLABLE },
	{ .path = "commit_status.repo", .type = K_STR, .off = R(cs_repo),
	  .check = check_owner_name, .flags = CFG_NULLABLE },
	{ .path = "commit_status.project", .type = K_STR,
	  .off = R(cs_project), .check = cfg_check_text,
	  .flags = CFG_NULLABLE },
};
#undef R

const size_t cfg_nrepo_keys = NKEYS(cfg_repo_keys);

/* Checks across the fields of one repository. */
static int
repo_cross(struct ld *ld, const struct cfg_repo *r, const char *label,
    const yaml_mark_t *at)
{
	if (r->token_env != NULL && r->ssh_key_file != NULL)
		return cfg_fail(ld, at, label,
		    "token_env and ssh_key_file cannot both be set");
	if (r->known_hosts_file != NULL && r->ssh_key_file == NULL)
		return cfg_fail(ld, at, label,
		    "known_hosts_file needs ssh_key_file");
	return 0;
}

/* Checks across the fields of commit_status. */
static int
commit_status_cross(struct ld *ld, const struct cfg_repo *r,
    const char *label, const yaml_mark_t *at)
{
	int github;

	if (r->cs_provider == NULL && r->cs_api_url == NULL &&
	    r->cs_token_env == NULL && r->cs_repo == NULL &&
	    r->cs_project == NULL)
		return 0;
	if (r->cs_provider == NULL)
		return cfg_fail(ld, at, label, "\"provider\" is required "
		    "(github or gitlab)");
	if (r->cs_token_env == NULL)
		return cfg_fail(ld, at, label, "\"token_env\" is required");
	github = strcmp(r->cs_provider, "github") == 0;
	if (github && r->cs_repo == NULL)
		return cfg_fail(ld, at, label, "\"repo\" (owner/name) is "
		    "required with provider github");
	if (github && r->cs_project != NULL)
		return cfg_fail(ld, at, label, "\"project\" is for provider "
		    "gitlab; github takes \"repo\"");
	if (!github && r->cs_project == NULL)
		return cfg_fail(ld, at, label, "\"project\" (id or "
		    "group/name) is required with provider gitlab");
	if (!github && r->cs_repo != NULL)
		return cfg_fail(ld, at, label, "\"repo\" is for provider "
		    "github; gitlab takes \"project\"");
	return 0;
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

	for (size_t j = 0; j < NKEYS(cfg_repo_keys); j++) {
		const struct key *k = &cfg_repo_keys[j];

		if (seen[j])
			continue;
		if (k->flags & CFG_REQUIRED)
			return cfg_fail(ld, &item->start_mark, label,
			    "\"%s\" is required", k->path);
		cfg_set_default(ld, k, r, label);
	}
	n = cfg_map_get(ld, item, "auth");
	cfg_labelf(alabel, sizeof(alabel), "%s.auth", label);
	if ((rc = repo_cross(ld, r, alabel, n ? &n->start_mark : NULL)) < 0)
		return rc;
	n = cfg_map_get(ld, item, "commit_status");
	cfg_labelf(alabel, sizeof(alabel), "%s.commit_status", label);
	if ((rc = commit_status_cross(ld, r, alabel, n ? &n->start_mark :
	    NULL)) < 0)
		return rc;
	for (size_t j = 0; j < i; j++) {
		if (strcmp(repos[j].name, r->name) != 0)
			continue;
		n = cfg_map_get(ld, item, "name");
		cfg_labelf(alabel, sizeof(alabel), "%s.name", label);
		return cfg_fail(ld, n ? &n->start_mark : NULL, alabel,
		    "\"%s\" is a duplicate of repositories[%zu].name", r->name,
		    j);
	}
	return 0;
}

/* Replace c's repositories with repos (n of them), which it now owns. */
void
cfg_repos_store(struct cfg *c, struct cfg_repo *repos, size_t n)
{
	for (size_t i = 0; i < c->nrepositories; i++)
		cfg_repo_release(&c->repositories[i]);
	free(c->repositories);
	c->repositories = repos;
	c->nrepositories = n;
}

/* Replace c's repositories with the sequence seq (none for a null). */
int
cfg_walk_repos(struct ld *ld, yaml_node_t *seq, struct cfg *c)
{
	unsigned char seen[NKEYS(cfg_repo_keys)];
	char label[LABEL_MAX], lprefix[LABEL_MAX];
	struct cfg_repo *repos = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!cfg_is_null(seq))
		n = (size_t)(seq->data.sequence.items.top -
		    seq->data.sequence.items.start);
	if (n > LIM_CONFIG_REPOS)
		return cfg_fail(ld, &seq->start_mark, "repositories",
		    "has more than %d entries", LIM_CONFIG_REPOS);
	repos = xcalloc(n, sizeof(*repos));
	for (i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ld->doc,
		    seq->data.sequence.items.start[i]);

		cfg_labelf(label, sizeof(label), "repositories[%zu]", i);
		cfg_labelf(lprefix, sizeof(lprefix), "repositories[%zu].",
		    i);
		if (item->type != YAML_MAPPING_NODE) {
			rc = cfg_wrong_type(ld, item, label, "a mapping");
			goto out;
		}
		memset(seen, 0, sizeof(seen));
		if ((rc = cfg_walk_map(ld, item, cfg_repo_keys,
		    NKEYS(cfg_repo_keys), "", &repos[i], lprefix, seen)) < 0)
			goto out;
		if ((rc = repo_finish(ld, item, repos, i, seen, label)) < 0)
			goto out;
	}
	cfg_repos_store(c, n > 0 ? repos : NULL, n);
	if (n > 0)
		repos = NULL;
out:
	for (i = 0; repos != NULL && i < n; i++)
		cfg_repo_release(&repos[i]);
	free(repos);
	return rc;
}

const struct cfg_repo *
cfg_repo_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; name != NULL && i < c->nrepositories; i++) {
		if (strcmp(c->repositories[i].name, name) == 0)
			return &c->repositories[i];
	}
	return NULL;
}

void
cfg_repo_release(struct cfg_repo *r)
{
	if (r == NULL)
		return;
	cfg_fields_free(cfg_repo_keys, NKEYS(cfg_repo_keys), r);
	memset(r, 0, sizeof(*r));
}

int
cfg_repo_check(const struct cfg_repo *r, struct err *err)
{
	struct ld ld = { .err = err };
	char q[QUOTE_MAX], label[LABEL_MAX], range[96];
	int rc;

	for (size_t i = 0; i < NKEYS(cfg_repo_keys); i++) {
		const struct key *k = &cfg_repo_keys[i];
		const char *v;

		switch (k->type) {
		case K_STR:
			v = *FIELD(r, k, char *);
			if (v == NULL && (k->flags & CFG_REQUIRED))
				return cfg_fail(&ld, NULL, k->path,
				    "is required");
			if (v == NULL)
				continue;
			cfg_quote(q, sizeof(q), v, strlen(v));
			if ((rc = cfg_check_str(&ld, k, k->path, v, strlen(v),
			    q, NULL)) < 0)
				return rc;
			break;
		case K_LIST:
			if (r->nbranches == 0 || r->branches == NULL)
				return cfg_fail(&ld, NULL, k->path,
				    "must be a non-empty list");
			if (r->nbranches > (size_t)k->max)
				return cfg_fail(&ld, NULL, k->path,
				    "has more than %lld entries",
				    (long long)k->max);
			for (size_t j = 0; j < r->nbranches; j++) {
				v = r->branches[j];
				cfg_labelf(label, sizeof(label), "%s[%zu]",
				    k->path, j);
				if (v == NULL || v[0] == '\0')
					return cfg_fail(&ld, NULL, label,
					    "must not be empty");
				cfg_quote(q, sizeof(q), v, strlen(v));
				if (k->check(v) != NULL)
					return cfg_fail(&ld, NULL, label,
					    "%s %s", q, k->check(v));
			}
			break;
		case K_DUR:
			if (r->interval_ms != 0 && (r->interval_ms < k->min ||
			    r->interval_ms > k->max)) {
				cfg_range_text(k, range, sizeof(range));
				return cfg_fail(&ld, NULL, k->path,
				    "%lld ms is out of range (%s)",
				    (long long)r->interval_ms, range);
			}
			break;
		default:
			break;
		}
	}
	if ((rc = repo_cross(&ld, r, "auth", NULL)) < 0)
		return rc;
	return commit_status_cross(&ld, r, "commit_status", NULL);
}
