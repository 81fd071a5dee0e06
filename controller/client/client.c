/*
 * client.c - the client's commands: their table, the parsing of their
 * flags, their help and the bash completion script (client.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "client/client_int.h"

/* Flags a command takes (besides --server, --token, --json, --no-color). */
#define F_PIPELINE	0x001
#define F_STATUS	0x002
#define F_LIMIT		0x004
#define F_FOLLOW	0x008
#define F_PARAM		0x010
#define F_REF		0x020
#define F_WAIT		0x040
#define F_COMMENT	0x080
#define F_TARGET	0x100

struct command {
	const char	*group;		/* argv[0] */
	const char	*sub;		/* argv[1], NULL: none */
	int		(*fn)(struct client *, const struct cmdargs *);
	unsigned	 flags;
	size_t		 minpos, maxpos;
	const char	*usage;		/* after "sluice " */
	const char	*help;
};

static const struct command commands[] = {
	{ "runs", "list", cmd_runs_list, F_PIPELINE | F_STATUS | F_LIMIT, 0, 0,
	    "runs list [--pipeline P] [--status S] [--limit N]",
	    "Runs, newest first (50 unless --limit, at most 200). --status is "
	    "one of\nqueued, running, waiting_approval, succeeded, failed, "
	    "canceled." },
	{ "runs", "get", cmd_runs_get, 0, 1, 1, "runs get ID",
	    "A run: its commit, params and times, its stages with their "
	    "attempts and\nmetrics, its approvals and rollouts." },
	{ "runs", "logs", cmd_runs_logs, F_FOLLOW, 2, 2,
	    "runs logs ID STAGE [--follow]",
	    "The output of a stage's latest attempt. With --follow, new lines "
	    "as the\ncontroller keeps them, then each later attempt's (a "
	    "retry, the next canary\nstep, a rollback), until the stage "
	    "ends." },
	{ "runs", "cancel", cmd_runs_act, 0, 1, 1, "runs cancel ID",
	    "Ask the controller to cancel a run (operator)." },
	{ "runs", "retry", cmd_runs_act, 0, 1, 1, "runs retry ID",
	    "Start a new run of a finished run's version and params; its "
	    "succeeded\nstages are reused (operator)." },
	{ "run", NULL, cmd_run, F_PARAM | F_REF | F_WAIT, 1, 1,
	    "run PIPELINE [--param K=V]... [--ref REF] [--wait]",
	    "Start a run of a pipeline (operator): at the last processed "
	    "commit of the\nbranch REF, else of the repository's first "
	    "branch, with each --param\noverriding a declared param. With "
	    "--wait, follow it to its end and exit\nwith its outcome: 0 "
	    "succeeded, 1 failed or canceled." },
	{ "approvals", "list", cmd_approvals_list, F_STATUS | F_LIMIT, 0, 0,
	    "approvals list [--status S] [--limit N]",
	    "Approvals, newest first: the pending ones, or those of --status "
	    "(pending,\napproved, rejected, expired, all)." },
	{ "approvals", "approve", cmd_approvals_decide, F_COMMENT, 1, 1,
	    "approvals approve ID [--comment C]",
	    "Approve a canary promotion step (approver)." },
	{ "approvals", "reject", cmd_approvals_decide, F_COMMENT, 1, 1,
	    "approvals reject ID [--comment C]",
	    "Reject a canary promotion step: the rollout rolls back "
	    "(approver)." },
	{ "rollouts", "promote-full", cmd_rollouts_act, F_COMMENT, 1, 1,
	    "rollouts promote-full RUN [--comment C]",
	    "Promote the run's rollout to 100 % now, skipping its remaining "
	    "analysis and\napprovals (approver)." },
	{ "rollouts", "abort", cmd_rollouts_act, F_COMMENT, 1, 1,
	    "rollouts abort RUN [--comment C]",
	    "Roll the run's rollout back now (approver)." },
	{ "rollouts", "pause", cmd_rollouts_act, F_COMMENT, 1, 1,
	    "rollouts pause RUN [--comment C]",
	    "Hold the run's rollout where it is (approver)." },
	{ "rollouts", "resume", cmd_rollouts_act, F_COMMENT, 1, 1,
	    "rollouts resume RUN [--comment C]",
	    "Resume a paused rollout (approver)." },
	{ "models", "list", cmd_models_list, F_STATUS | F_LIMIT, 0, 1,
	    "models list [NAME] [--status S]",
	    "Registered models and what is in production where; with NAME, "
	    "that model's\nversions (--status: registered, candidate, "
	    "production, retired, rejected)." },
	{ "models", "promote", cmd_models_promote, F_TARGET | F_COMMENT, 2, 2,
	    "models promote NAME VERSION --target T [--comment C]",
	    "Put a model version in production on target T (approver)." },
	{ "models", "rollback", cmd_models_rollback, F_TARGET | F_COMMENT, 1,
	    2, "models rollback NAME [VERSION] --target T [--comment C]",
	    "Put the previous production version of a model back on target T "
	    "(approver).\nWith VERSION, only when that version is the one in "
	    "production there." },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const char common_help[] =
    "\nEvery client command takes:\n"
    "  --server URL   the controller (else $SLUICE_SERVER, else server: in\n"
    "                 ~/.config/sluice/client.yaml, else "
    "http://127.0.0.1:8080)\n"
    "  --token T      an API token (else $SLUICE_TOKEN, else token: in "
    "that file,\n"
    "                 which must be mode 0600 or stricter)\n"
    "  --json         the API's JSON instead of tables\n"
    "  --no-color     no colour (also when $NO_COLOR is set or stdout is "
    "not a terminal)\n"
    "Exit status: 0 ok, 1 a failed run or a refused action, 2 a usage "
    "error, an\nunreachable server or a refused token.\n";


int
client_has(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].group) == 0)
			return 1;
	return strcmp(name, "completion") == 0;
}

void
client_usage(FILE *f, const char *indent)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "%ssluice %s\n", indent, commands[i].usage);
	fprintf(f, "%ssluice completion bash\n", indent);
}

int
client_help(FILE *f, const char *name, const char *sub)
{
	int found = 0;

	if (strcmp(name, "completion") == 0) {
		fprintf(f, "usage: sluice completion bash\n\nPrint the bash "
		    "completion script:\n  source <(sluice completion "
		    "bash)\n");
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].group) != 0 || (sub != NULL &&
		    commands[i].sub != NULL &&
		    strcmp(sub, commands[i].sub) != 0))
			continue;
		fprintf(f, "%ssluice %s\n%s\n", found ? "\n" : "usage: ",
		    commands[i].usage, commands[i].help);
		found = 1;
	}
	if (!found)
		return -1;
	fputs(common_help, f);
	return 0;
}

static void
usage_of(FILE *f, const char *group)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(group, commands[i].group) == 0)
			fprintf(f, "  sluice %s\n", commands[i].usage);
	fprintf(f, "(sluice help %s for more)\n", group);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 when it matched (then
 * *value is set, or NULL when the value is missing). */
static int
flag_value(int argc, char **argv, int *i, const char *name,
    const char **value)
{
	size_t len = strlen(name);

	if (strcmp(argv[*i], name) == 0) {
		*value = *i + 1 < argc ? argv[++*i] : NULL;
		return 1;
	}
	if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') {
		*value = argv[*i] + len + 1;
		return 1;
	}
	return 0;
}

/* The flags and arguments of cmd from argv[first..]: 0, or 2 after
 * printing the problem. */
static int
parse(const struct command *cmd, int argc, char **argv, int first,
    struct cmdargs *a)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
		size_t		 off;
	} valued[] = {
		{ "--server", 0, offsetof(struct cmdargs, server) },
		{ "--token", 0, offsetof(struct cmdargs, token) },
		{ "--pipeline", F_PIPELINE, offsetof(struct cmdargs, pipeline) },
		{ "--status", F_STATUS, offsetof(struct cmdargs, status) },
		{ "--limit", F_LIMIT, offsetof(struct cmdargs, limit) },
		{ "--ref", F_REF, offsetof(struct cmdargs, ref) },
		{ "--comment", F_COMMENT, offsetof(struct cmdargs, comment) },
		{ "--target", F_TARGET, offsetof(struct cmdargs, target) },
		{ "--param", F_PARAM, 0 },
	};
	const char *v;
	int i, dashdash = 0;

	for (i = first; i < argc; i++) {
		const char *arg = argv[i];
		size_t k;

		if (dashdash || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->npos == cmd->maxpos) {
				fprintf(stderr, "sluice %s: unexpected argument "
				    "'%s'\n", a->cmd, arg);
				return EXIT_USAGE;
			}
			a->pos[a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (strcmp(arg, "--no-color") == 0) {
			a->no_color = 1;
			continue;
		}
		if ((cmd->flags & F_FOLLOW) && (strcmp(arg, "--follow") == 0 ||
		    strcmp(arg, "-f") == 0)) {
			a->follow = 1;
			continue;
		}
		if ((cmd->flags & F_WAIT) && strcmp(arg, "--wait") == 0) {
			a->wait = 1;
			continue;
		}
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			if ((valued[k].flag & cmd->flags) != valued[k].flag ||
			    !flag_value(argc, argv, &i, valued[k].name, &v))
				continue;
			if (v == NULL) {
				fprintf(stderr, "sluice %s: %s needs a value\n",
				    a->cmd, valued[k].name);
				return EXIT_USAGE;
			}
			if (valued[k].flag == F_PARAM) {
				if (a->nparams == LIM_CLIENT_PARAMS) {
					fprintf(stderr, "sluice %s: more than "
					    "%d --param flags\n", a->cmd,
					    LIM_CLIENT_PARAMS);
					return EXIT_USAGE;
				}
				a->params[a->nparams++] = v;
			} else {
				*(const char **)(void *)((char *)a +
				    valued[k].off) = v;
			}
			break;
		}
		if (k < sizeof(valued) / sizeof(valued[0]))
			continue;
		fprintf(stderr, "sluice %s: unknown flag '%s'\n", a->cmd, arg);
		return EXIT_USAGE;
	}
	if (a->npos < cmd->minpos) {
		fprintf(stderr, "sluice %s: missing arguments\nusage: sluice "
		    "%s\n", a->cmd, cmd->usage);
		return EXIT_USAGE;
	}
	return 0;
}

static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int
client_main(int argc, char **argv)
{
	static char label[64];
	const struct command *cmd = NULL;
	const char *sub = argc > 1 ? argv[1] : NULL;
	struct cmdargs a;
	struct client c;
	int rc, first;

	if (strcmp(argv[0], "completion") == 0) {
		if (wants_help(argc, argv))
			return client_help(stdout, "completion", NULL), EXIT_OK;
		if (argc != 2 || strcmp(argv[1], "bash") != 0) {
			fprintf(stderr, "usage: sluice completion bash\n");
			return EXIT_USAGE;
		}
		fputs(client_completion_bash, stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[0], commands[i].group) != 0)
			continue;
		if (commands[i].sub == NULL ||
		    (sub != NULL && strcmp(sub, commands[i].sub) == 0)) {
			cmd = &commands[i];
			break;
		}
	}
	if (cmd == NULL) {
		if (wants_help(argc, argv)) {
			usage_of(stdout, argv[0]);
			return EXIT_OK;
		}
		if (sub == NULL)
			fprintf(stderr, "sluice %s: which one?\n", argv[0]);
		else
			fprintf(stderr, "sluice %s: unknown subcommand '%s'\n",
			    argv[0], sub);
		usage_of(stderr, argv[0]);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv)) {
		(void)client_help(stdout, cmd->group, cmd->sub);
		return EXIT_OK;
	}
	memset(&a, 0, sizeof(a));
	(void)snprintf(label, sizeof(label), "%s%s%s", cmd->group,
	    cmd->sub != NULL ? " " : "", cmd->sub != NULL ? cmd->sub : "");
	a.cmd = label;
	first = cmd->sub != NULL ? 2 : 1;
	if ((rc = parse(cmd, argc, argv, first, &a)) != 0)
		return rc;
	if ((rc = client_open(&c, &a)) != 0)
		return rc;
	rc = cmd->fn(&c, &a);
	client_close(&c);
	fflush(stdout);
	return rc;
}
