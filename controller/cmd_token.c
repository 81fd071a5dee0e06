/*
 * cmd_token.c - `sluice token`: create, list and revoke API tokens.
 *
 *	sluice token create --name NAME --role ROLE   prints the token alone
 *	sluice token list                             one token per line
 *	sluice token revoke --name NAME
 *
 * The token is printed once, on stdout, with nothing else, so scripts can
 * capture it: TOKEN=$(sluice token create --name ci --role operator).
 * Exit status: 0, 1 on an error (duplicate name, database down), 2 on bad
 * arguments (unknown flag, bad role or name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfg.h"
#include "base/role.h"
#include "store/db.h"
#include "store/store_token.h"
#include "cmd.h"

static const char usage[] =
    "usage: sluice token create --name NAME "
    "--role viewer|operator|approver|admin [--config FILE]\n"
    "       sluice token list [--config FILE]\n"
    "       sluice token revoke --name NAME [--config FILE]\n";

/* Read "--flag VALUE" or "--flag=VALUE" at argv[*i]; 1 when it matched. */
static int
flag_value(int argc, char **argv, int *i, const char *flag,
    const char **value)
{
	size_t len = strlen(flag);

	if (strcmp(argv[*i], flag) == 0 && *i + 1 < argc) {
		*value = argv[++*i];
		return 1;
	}
	if (strncmp(argv[*i], flag, len) == 0 && argv[*i][len] == '=') {
		*value = argv[*i] + len + 1;
		return 1;
	}
	return 0;
}

static int
do_create(struct db *db, const char *name, enum role role, struct err *err)
{
	char token[TOKEN_LEN + 1];
	int rc;

	if ((rc = store_token_create(db, name, role, "cli", token,
	    sizeof(token), err)) < 0)
		return rc;
	printf("%s\n", token);
	explicit_bzero(token, sizeof(token));
	return fflush(stdout) == 0 ? 0 : err_set(err, ERR_GENERIC,
	    "cannot write the token to stdout");
}

static int
do_list(struct db *db, struct err *err)
{
	struct token_info *list = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = store_token_list(db, &list, &n, err)) < 0)
		return rc;
	printf("%-24s %-8s %-24s %-24s %s\n", "NAME", "ROLE", "CREATED",
	    "LAST USED", "REVOKED");
	for (i = 0; i < n; i++)
		printf("%-24s %-8s %-24s %-24s %s\n", list[i].name,
		    role_name(list[i].role), list[i].created_at,
		    list[i].last_used_at[0] ? list[i].last_used_at : "-",
		    list[i].revoked_at[0] ? list[i].revoked_at : "-");
	free(list);
	return 0;
}

int
cmd_token(int argc, char **argv)
{
	const char *sub = NULL, *name = NULL, *role_s = NULL;
	enum role role = ROLE_NONE;
	struct cfg *cfg = NULL;
	struct db *db = NULL;
	struct err err;
	int i, rc = 2;

	err_clear(&err);
	if ((cfg = cli_load_config(&argc, argv)) == NULL)
		return 1;
	for (i = 1; i < argc; i++) {
		if (flag_value(argc, argv, &i, "--name", &name) ||
		    flag_value(argc, argv, &i, "--role", &role_s))
			continue;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		}
		if (sub == NULL && argv[i][0] != '-') {
			sub = argv[i];
			continue;
		}
		fprintf(stderr, "sluice token: unknown argument '%s'\n%s",
		    argv[i], usage);
		goto out;
	}
	if (sub == NULL || (strcmp(sub, "create") != 0 &&
	    strcmp(sub, "list") != 0 && strcmp(sub, "revoke") != 0)) {
		fputs(usage, stderr);
		goto out;
	}
	if (strcmp(sub, "list") != 0) {
		if (name == NULL) {
			fprintf(stderr, "sluice token: --name is required\n%s",
			    usage);
			goto out;
		}
		if (store_token_check_name(name, &err) < 0) {
			fprintf(stderr, "sluice token: %s\n", err.msg);
			goto out;
		}
	}
	if (strcmp(sub, "create") == 0) {
		if (role_s == NULL) {
			fprintf(stderr, "sluice token: --role is required\n%s",
			    usage);
			goto out;
		}
		if (role_parse(role_s, &role, &err) < 0) {
			fprintf(stderr, "sluice token: %s\n", err.msg);
			goto out;
		}
	}
	rc = 1;
	if (db_open(&db, cfg->database_url, &err) < 0)
		goto fail;
	if (strcmp(sub, "create") == 0)
		rc = do_create(db, name, role, &err);
	else if (strcmp(sub, "list") == 0)
		rc = do_list(db, &err);
	else
		rc = store_token_revoke(db, name, "cli", &err);
	if (rc < 0)
		goto fail;
	if (strcmp(sub, "revoke") == 0)
		fprintf(stderr, "token '%s' revoked\n", name);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "sluice token: %s\n", err.msg);
	rc = 1;
out:
	db_free(db);
	cfg_free(cfg);
	return rc;
}
