/*
 * cfg_dump.c - the configuration as YAML (cfg_dump) with its secrets
 * masked: the password of database_url and of repository URLs.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/cfg_int.h"
#include "base/units.h"

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

int
cfg_mask_dburl(const char *v, struct buf *o)
{
	if (strncmp(v, "postgresql://", 13) == 0 ||
	    strncmp(v, "postgres://", 11) == 0)
		return mask_uri(v, o);
	return mask_conninfo(v, o);
}

/* A repository url with the password of its userinfo as *** (dump only). */
int
cfg_mask_repo_url(const char *v, struct buf *o)
{
	return strstr(v, "://") != NULL ? mask_uri(v, o) : buf_puts(o, v);
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
		if (!(k->flags & CFG_SECRET) && k->mask == NULL)
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
	case K_SIZE:
		units_format_size(*FIELD(b, k, const int64_t), tmp,
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

/* Whether k is left out of the dump: an unset optional value. */
static int
dump_left_out(const struct key *k, const void *base)
{
	if (k->type == K_STR)
		return (k->flags & CFG_NULLABLE) &&
		    *FIELD(base, k, char *const) == NULL;
	if ((k->flags & CFG_DUMP_CHANGED) && k->def != NULL &&
	    (k->type == K_INT || k->type == K_BOOL))
		return *FIELD(base, k, const int) == (k->type == K_BOOL ?
		    strcmp(k->def, "true") == 0 : (int)strtol(k->def, NULL,
		    10));
	return k->type == K_BOOL && (k->flags & CFG_DUMP_SET) &&
	    *FIELD(base, k, const int) == 0;
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
		int depth = 0;

		for (const char *p = k->path; *p != '\0'; p++)
			depth += *p == '.';
		name = name != NULL ? name + 1 : k->path;
		if (k->type == K_MAP) {
			/* a map with nothing set inside (auth) is left out */
			int any = 0;

			for (size_t j = i + 1; j < ntab &&
			    strncmp(tab[j].path, k->path, strlen(k->path)) == 0;
			    j++) {
				if (tab[j].type == K_STR ?
				    *FIELD(base, &tab[j], char *const) != NULL :
				    !dump_left_out(&tab[j], base))
					any = 1;
			}
			if (!any) {
				while (i + 1 < ntab && strncmp(tab[i + 1].path,
				    k->path, strlen(k->path)) == 0)
					i++;
				continue;
			}
		} else if (dump_left_out(k, base)) {
			continue;
		}
		rc = buf_printf(o, "%s%.*s%s:", line++ ? indent : first,
		    2 * depth, "        ", name);
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
				rc = dump_table(o, cfg_repo_keys,
				    cfg_nrepo_keys, &c->repositories[j], NULL,
				    "  - ", "    ");
		} else if (k->type == K_NOTIFS) {
			rc = buf_puts(o, c->nnotifications == 0 ? " []\n" :
			    "\n");
			for (size_t j = 0; rc == 0 && j < c->nnotifications;
			    j++)
				rc = dump_table(o, cfg_notify_keys,
				    cfg_nnotify_keys, &c->notifications[j],
				    NULL, "  - ", "    ");
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
	return dump_table(out, cfg_top_keys, cfg_ntop_keys, c, c, "", "");
}
