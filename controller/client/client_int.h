/*
 * client_int.h - what the files of client/ share; not for other folders
 * (their API is client.h).
 *
 *	client.c	the command table, argument parsing, help, completion
 *	conn.c		server and token (flags, environment, client.yaml),
 *			HTTP over libcurl, answers into exit statuses
 *	jsonv.c		reading answers (jansson), times and ages
 *	table.c		aligned tables (table.h)
 *	completion.c	the bash completion script
 *	cmd_runs.c	runs list|get|logs|cancel|retry
 *	cmd_run.c	run PIPELINE [--wait]
 *	cmd_other.c	approvals, rollouts, models
 *
 * jansson's json_t is passed between these files; it never leaves the
 * folder.
 */
#ifndef SLUICE_CLIENT_INT_H
#define SLUICE_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"

/* Exit statuses */
#define EXIT_OK		0
#define EXIT_REFUSED	1	/* a failed run, a refused action */
#define EXIT_USAGE	2	/* usage, connection, token, 5xx */

/* The flags of a command line (client.c fills them). */
struct cmdargs {
	const char	*server, *token;	/* --server, --token */
	int		 json, no_color;
	const char	*pipeline, *status, *ref, *comment, *target, *limit;
	int		 follow, wait;
	const char	*params[LIM_CLIENT_PARAMS];	/* --param K=V */
	size_t		 nparams;
	const char	*pos[LIM_CLIENT_ARGS];		/* positional */
	size_t		 npos;
	const char	*cmd;		/* "runs list", for messages */
};

struct client {
	char		 server[LIM_URL];	/* no trailing '/' */
	char		*token;			/* owned, secret; NULL: none */
	char		 token_src[LIM_PATH + 32];	/* where it came from */
	const char	*cmd;			/* "runs list", for messages */
	int		 json;			/* --json */
	int		 tty;			/* stdout is a terminal */
	int		 color;			/* colour on stdout */
	int		 quiet;			/* client_say says nothing */
	size_t		 width;			/* columns; 0: no limit */
	void		*curl;			/* CURL *, conn.c's */
};

/* An HTTP answer. */
struct reply {
	long		 status;		/* 0 until one came */
	struct buf	 body;			/* the body (not a sink's) */
	int		 attempt;		/* X-Sluice-Attempt, 0 if none */
	char		 job[LIM_NAME + 1];	/* X-Sluice-Job */
};

/* A sink for a streamed body: 0 to go on, -1 to stop. */
typedef int (*client_sink)(void *arg, const char *data, size_t len);

/*
 * Server and token from the flags, else SLUICE_SERVER / SLUICE_TOKEN,
 * else ~/.config/sluice/client.yaml (refused unless it is the user's and
 * mode 0600 or stricter); the terminal's width and whether to colour.
 * Prints the problem and returns EXIT_USAGE, else 0.  client_close frees
 * what it holds.
 */
int	client_open(struct client *c, const struct cmdargs *a);
void	client_close(struct client *c);

void	reply_init(struct reply *r);
void	reply_release(struct reply *r);

/*
 * One request: method, path below the server ("/api/v1/runs?limit=5",
 * already escaped), body (JSON text) or NULL.  The answer's body goes to
 * sink when its status is 2xx and sink is not NULL (no time limit then:
 * a followed log), else into r->body (up to LIM_CLIENT_ANSWER).  Returns
 * 0 when an answer came (any status), else prints why there is none
 * (unreachable server, ...) and returns EXIT_USAGE.
 */
int	client_call(struct client *c, const char *method, const char *path,
	    const char *body, client_sink sink, void *arg, struct reply *r);

/*
 * An answer that is not 2xx, reported on stderr ("sluice runs get: run 9
 * not found (404)"): returns the exit status it means, EXIT_USAGE for
 * 401 (the token), 5xx and answers that are not the API's; EXIT_REFUSED
 * for the other 4xx.
 */
int	client_refused(struct client *c, const struct reply *r);

/*
 * The JSON object of a 2xx answer into *out (the caller json_decref's
 * it); else reports it as client_refused does and returns its exit
 * status.
 */
int	client_object(struct client *c, const struct reply *r, json_t **out);

/*
 * GET path and its JSON object, or POST body (NULL: none): the steps
 * above in one.  With --json the answer's text is printed on stdout as
 * it came and *out is NULL (when out is not NULL, it is parsed too).
 */
int	client_get(struct client *c, const char *path, json_t **out);
int	client_post(struct client *c, const char *path, const char *body,
	    json_t **out);

/* Print a message on stderr as "sluice CMD: MESSAGE". */
void	client_say(const struct client *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* A run, approval or version id from the command line into *id; else
 * says why not and returns EXIT_USAGE. */
int	client_id(const struct client *c, const char *what, const char *s,
	    long long *id);

/* "limit=N" appended to the query q: --limit (checked to be
 * 1..LIM_API_PAGE), else def; else says why not and returns EXIT_USAGE. */
int	client_limit(const struct client *c, const char *limit, long long def,
	    struct buf *q);

/* Whether v (of flag) is one of names[] (NULL-terminated); else says
 * which would do and returns EXIT_USAGE. */
int	client_check_enum(const struct client *c, const char *flag,
	    const char *v, const char *const *names);
extern const char *const client_run_statuses[];

/*
 * GET a run document into *out, quietly trying again while the server is
 * away or answers 5xx (up to LIM_CLIENT_RETRY_MS): a controller
 * restarting during --wait or --follow is not the end of it.
 */
int	client_run_doc(struct client *c, long long id, json_t **out);

/* s percent-encoded as one path segment or query value into out. */
int	client_escape(struct buf *out, const char *s)
	    __attribute__((warn_unused_result));

/* Answers (jsonv.c).  Each returns NULL / def when the key is absent,
 * null or of another type. */
const char *jv_str(const json_t *o, const char *key);
long long   jv_int(const json_t *o, const char *key, long long def);
json_t	   *jv_obj(const json_t *o, const char *key);
json_t	   *jv_arr(const json_t *o, const char *key);
/* A number or string value as text into out ("-" when absent). */
void	jv_text(const json_t *v, char *out, size_t outlen);

/* An RFC 3339 time as milliseconds since the epoch; -1 when it is not. */
int64_t	jv_time(const char *s);
/* How long ago ts was ("42s", "5m", "3h", "2d"); "-" for NULL. */
void	jv_age(const char *ts, char *out, size_t outlen);
/* A duration ("950ms", "42s", "1m05s", "2h03m"). */
void	jv_duration(int64_t ms, char *out, size_t outlen);
/* The colour of a run, stage, approval or rollout status. */
int	jv_status_color(const char *status);
/* Whether a run status is final (succeeded, failed, canceled). */
int	jv_run_done(const char *status);

/* The commands (cmd_runs.c, cmd_other.c). */
int	cmd_runs_list(struct client *c, const struct cmdargs *a);
int	cmd_runs_get(struct client *c, const struct cmdargs *a);
int	cmd_runs_logs(struct client *c, const struct cmdargs *a);
int	cmd_runs_act(struct client *c, const struct cmdargs *a);
int	cmd_run(struct client *c, const struct cmdargs *a);
int	cmd_approvals_list(struct client *c, const struct cmdargs *a);
int	cmd_approvals_decide(struct client *c, const struct cmdargs *a);
int	cmd_rollouts_act(struct client *c, const struct cmdargs *a);
int	cmd_models_list(struct client *c, const struct cmdargs *a);
int	cmd_models_promote(struct client *c, const struct cmdargs *a);
int	cmd_models_rollback(struct client *c, const struct cmdargs *a);

/* The script `sluice completion bash` prints (completion.c). */
extern const char client_completion_bash[];

/* Print a table (table.h) on stdout, sized and coloured for c. */
struct table;
int	client_print_table(const struct client *c, const struct table *t);

#endif
