/*
 * cmd_validate.c - `sluice validate [--json] FILE...`: check pipeline files
 * without a database or a configuration.
 *
 * Text mode writes one line per error to stderr,
 *
 *	pipelines/train.yaml:12:7: spec.stages[1].needs[0]: unknown stage "trian"
 *
 * (a file that cannot be read gets "FILE: cannot read: REASON"), and
 * nothing to stdout, so that CI logs show the messages and the exit code
 * says the rest.  --json writes one JSON array of {file, line, column,
 * message} to stdout instead ("[]" when every file is valid; line and
 * column are 0 for a file that cannot be read).  "-" reads standard input.
 * Warnings about valid files (pipeline_warnings(): a multi-node stage
 * without a Kueue queue) go to stderr as "FILE:LINE:COL: warning: ..." in
 * both modes and do not change the exit status.
 * Exit status: 0 when every file is valid, 1 when any is not, 2 on usage
 * errors.  --config FILE is accepted, like every command takes it;
 * validation needs no configuration, but when FILE loads, what the
 * controller would refuse is reported too: a stage's nodes above
 * max_nodes, at the value.  A FILE that does not load is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/err.h"
#include "pipeline/pipeline.h"
#include "cmd.h"

/*
 * Read at most LIM_PIPELINE_FILE + 1 bytes of path into b, so that the
 * parser sees that a file is too large without our reading all of it.
 */
static int
read_capped(const char *path, struct buf *b, struct err *err)
{
	char chunk[65536];
	struct stat st;
	int fd, rc = 0;
	ssize_t n;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return err_set(err, ERR_NOTFOUND, "%s", strerror(errno));
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = err_set(err, ERR_INVALID, "is a directory");
		goto out;
	}
	while (b->len <= LIM_PIPELINE_FILE) {
		size_t want = sizeof(chunk);

		if (want > LIM_PIPELINE_FILE + 1 - b->len)
			want = LIM_PIPELINE_FILE + 1 - b->len;
		n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_GENERIC, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = buf_append(b, chunk, (size_t)n)) < 0) {
			err_set(err, rc, "out of memory");
			goto out;
		}
	}
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

extern char **environ;

/* The configuration of --config FILE, or NULL when it does not load. */
static struct cfg *
load_config(const char *path)
{
	struct cfg *c = NULL;
	struct err err;

	if (path == NULL || cfg_load(&c, path, environ, NULL, 0, &err) < 0)
		return NULL;
	return c;
}

/* Errors for what the configuration c would refuse in p. */
static int
check_against_config(const struct cfg *c, const struct pipeline *p,
    const char *file, struct pipeline_errors *errs)
{
	int rc = 0;

	if (c == NULL || p == NULL)
		return 0;
	for (size_t i = 0; i < p->nstages && rc == 0; i++) {
		const struct pipeline_stage *st = &p->stages[i];

		if (st->nodes > c->max_nodes)
			rc = pipeline_errors_add(errs, file,
			    st->nodes_pos.line, st->nodes_pos.column,
			    "spec.stages[%zu].nodes: %d nodes, more than "
			    "max_nodes (%d) of %s", i, st->nodes, c->max_nodes,
			    c->file != NULL ? c->file : "the configuration");
	}
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: sluice validate [--json] FILE...\n");
}

int
cmd_validate(int argc, char **argv)
{
	struct pipeline_errors errs, warns;
	const char *config = NULL;
	struct cfg *cfg = NULL;
	int json = 0, status = 0, i;
	char *out = NULL;
	struct err err;

	pipeline_errors_init(&errs);
	pipeline_errors_init(&warns);
	err_clear(&err);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "sluice validate: unknown option '%s'\n",
			    argv[i]);
			usage();
			return 2;
		} else {
			break;
		}
	}
	if (i == argc) {
		usage();
		return 2;
	}
	cfg = load_config(config);
	for (; i < argc; i++) {
		const char *path = argv[i];
		const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
		struct pipeline *p = NULL;
		size_t before = errs.n;
		struct buf b;
		int rc;

		buf_init(&b, LIM_PIPELINE_FILE + 1);
		if (read_capped(path, &b, &err) < 0) {
			rc = pipeline_errors_add(&errs, name, 0, 0,
			    "cannot read: %s", err.msg);
		} else {
			rc = pipeline_parse(&p, &errs, b.data != NULL ? b.data :
			    "", b.len, name, &err);
			if (rc == ERR_INVALID)
				rc = 0;
			if (rc == 0 && check_against_config(cfg, p, name,
			    &errs) < 0) {
				rc = ERR_NOMEM;
				err_set(&err, rc, "out of memory");
			}
			/* warnings only about a file with no error */
			if (p != NULL && rc == 0 && errs.n == before &&
			    (rc = pipeline_warnings(p, name, &warns)) < 0)
				err_set(&err, rc, "out of memory");
		}
		buf_release(&b);
		pipeline_free(p);
		if (rc < 0) {
			fprintf(stderr, "sluice validate: %s: %s\n", name,
			    err.msg);
			status = 1;
		}
		if (errs.n > before)
			status = 1;
		if (!json) {
			for (size_t k = before; k < errs.n; k++) {
				const struct pipeline_error *e = &errs.v[k];

				if (e->line > 0)
					fprintf(stderr, "%s:%d:%d: %s\n", e->file,
					    e->line, e->column, e->message);
				else
					fprintf(stderr, "%s: %s\n", e->file,
					    e->message);
			}
		}
	}
	/* warnings never change the exit status, and stay off stdout */
	for (i = 0; (size_t)i < warns.n; i++)
		fprintf(stderr, "%s:%d:%d: warning: %s\n", warns.v[i].file,
		    warns.v[i].line, warns.v[i].column, warns.v[i].message);
	if (json) {
		if (pipeline_errors_to_json(&errs, &out, &err) < 0) {
			fprintf(stderr, "sluice validate: %s\n", err.msg);
			status = 1;
		} else {
			printf("%s\n", out);
		}
		free(out);
	}
	pipeline_errors_release(&errs);
	pipeline_errors_release(&warns);
	cfg_free(cfg);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}
