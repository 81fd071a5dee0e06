/*
 * cmd_other.c - `sluice approvals`, `sluice rollouts` and `sluice models`
 * (client_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "client/table.h"

/* {"comment": C} or NULL without --comment, into *out (owned). */
static int
comment_body(struct client *c, const char *comment, const char *target,
    char **out)
{
	json_t *o = json_object();
	int rc = EXIT_USAGE;

	*out = NULL;
	if (o == NULL)
		return rc;
	if (target != NULL &&
	    json_object_set_new(o, "target", json_string(target)) < 0) {
		client_say(c, "--target is not UTF-8");
		goto out;
	}
	if (comment != NULL &&
	    json_object_set_new(o, "comment", json_string(comment)) < 0) {
		client_say(c, "--comment is not UTF-8");
		goto out;
	}
	if (json_object_size(o) == 0 ||
	    (*out = json_dumps(o, JSON_COMPACT)) != NULL)
		rc = 0;
out:
	json_decref(o);
	return rc;
}

/* ---- approvals --------------------------------------------------------- */

int
cmd_approvals_list(struct client *c, const struct cmdargs *a)
{
	static const char *const statuses[] = { "pending", "approved",
	    "rejected", "expired", "all", NULL };
	static const char *const head[] = { "ID", "RUN", "PIPELINE", "STAGE",
	    "STEP", "WEIGHT", "TARGET", "STATUS", "AGE", "BY", "COMMENT" };
	static const unsigned flags[] = { TABLE_RIGHT, TABLE_RIGHT,
	    TABLE_SHRINK, TABLE_SHRINK, TABLE_RIGHT, TABLE_RIGHT,
	    TABLE_SHRINK, 0, TABLE_RIGHT, TABLE_SHRINK, TABLE_SHRINK };
	const char *status = a->status != NULL ? a->status : "pending";
	struct table t;
	struct buf q;
	json_t *j = NULL, *ap;
	size_t i;
	int rc;

	buf_init(&q, LIM_URL);
	table_init(&t, 11, head, flags);
	if ((rc = client_check_enum(c, "--status", status, statuses)) != 0)
		goto out;
	if (buf_puts(&q, "/api/v1/approvals?") < 0 ||
	    (rc = client_limit(c, a->limit, LIM_API_PAGE_DEFAULT, &q)) != 0 ||
	    (strcmp(status, "all") != 0 &&
	    buf_printf(&q, "&status=%s", status) < 0)) {
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = client_get(c, q.data, &j)) != 0 || c->json)
		goto out;
	json_array_foreach(jv_arr(j, "approvals"), i, ap) {
		char id[24], run[24], step[16], weight[16], age[16];
		const char *cells[11], *st = jv_str(ap, "status");
		enum table_color colors[11] = { 0 };

		(void)snprintf(id, sizeof(id), "%lld", jv_int(ap, "id", 0));
		(void)snprintf(run, sizeof(run), "%lld", jv_int(ap, "run", 0));
		(void)snprintf(step, sizeof(step), "%lld",
		    jv_int(ap, "step", 0));
		(void)snprintf(weight, sizeof(weight), "%lld%%",
		    jv_int(ap, "weight", 0));
		jv_age(jv_str(ap, "requested_at"), age, sizeof(age));
		cells[0] = id;
		cells[1] = run;
		cells[2] = jv_str(ap, "pipeline");
		cells[3] = jv_str(ap, "stage");
		cells[4] = step;
		cells[5] = weight;
		cells[6] = jv_str(ap, "target");
		cells[7] = st;
		cells[8] = age;
		cells[9] = jv_str(ap, "decided_by");
		cells[10] = jv_str(ap, "comment");
		colors[7] = (enum table_color)jv_status_color(st);
		if ((rc = table_add(&t, cells, colors)) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (t.nrows == 0)
		fprintf(stderr, "no %s approvals\n",
		    strcmp(status, "all") == 0 ? "" : status);
	else
		rc = client_print_table(c, &t);
out:
	json_decref(j);
	table_release(&t);
	buf_release(&q);
	return rc;
}

int
cmd_approvals_decide(struct client *c, const struct cmdargs *a)
{
	const char *verb = strcmp(c->cmd, "approvals reject") == 0 ?
	    "reject" : "approve";
	char path[96], *body = NULL;
	json_t *j = NULL;
	long long id;
	int rc;

	if ((rc = client_id(c, "approval", a->pos[0], &id)) != 0 ||
	    (rc = comment_body(c, a->comment, NULL, &body)) != 0)
		goto out;
	(void)snprintf(path, sizeof(path), "/api/v1/approvals/%lld/%s", id,
	    verb);
	if ((rc = client_post(c, path, body, &j)) == 0 && !c->json)
		printf("approval %lld of run %lld (%s step %lld, weight "
		    "%lld%%): %s\n", id, jv_int(j, "run", 0),
		    jv_str(j, "stage") != NULL ? jv_str(j, "stage") : "-",
		    jv_int(j, "step", 0), jv_int(j, "weight", 0),
		    jv_str(j, "status") != NULL ? jv_str(j, "status") : "-");
out:
	json_decref(j);
	free(body);
	return rc;
}

/* ---- rollouts ---------------------------------------------------------- */

int
cmd_rollouts_act(struct client *c, const struct cmdargs *a)
{
	const char *action = strchr(c->cmd, ' ') + 1;
	char path[128], *body = NULL;
	json_t *j = NULL;
	long long id;
	int rc;

	if ((rc = client_id(c, "run", a->pos[0], &id)) != 0 ||
	    (rc = comment_body(c, a->comment, NULL, &body)) != 0)
		goto out;
	(void)snprintf(path, sizeof(path), "/api/v1/runs/%lld/rollout/%s", id,
	    action);
	if ((rc = client_post(c, path, body, &j)) == 0 && !c->json)
		printf("rollout %lld of run %lld (target %s): %s, step "
		    "%lld/%lld at %lld%%%s%s\n", jv_int(j, "id", 0), id,
		    jv_str(j, "target") != NULL ? jv_str(j, "target") : "-",
		    jv_str(j, "status") != NULL ? jv_str(j, "status") : "-",
		    jv_int(j, "current_step", 0), jv_int(j, "steps", 0),
		    jv_int(j, "current_weight", 0),
		    jv_str(j, "action_reason") != NULL ? "; " : "",
		    jv_str(j, "action_reason") != NULL ?
		    jv_str(j, "action_reason") : "");
out:
	json_decref(j);
	free(body);
	return rc;
}

/* ---- models ------------------------------------------------------------ */

static int
models_table(struct client *c, json_t *j)
{
	static const char *const head[] = { "MODEL", "VERSIONS", "LATEST",
	    "STATUS", "PRODUCTION" };
	static const unsigned flags[] = { TABLE_SHRINK, TABLE_RIGHT,
	    TABLE_RIGHT, 0, TABLE_SHRINK };
	struct table t;
	json_t *m;
	size_t i;
	int rc = 0;

	table_init(&t, 5, head, flags);
	json_array_foreach(jv_arr(j, "models"), i, m) {
		char n[24], latest[24], prod[512] = "";
		json_t *l = jv_obj(m, "latest"), *v;
		const char *cells[5], *target;
		enum table_color colors[5] = { 0 };
		size_t len = 0;

		(void)snprintf(n, sizeof(n), "%lld", jv_int(m, "versions", 0));
		(void)snprintf(latest, sizeof(latest), "v%lld",
		    jv_int(l, "version", 0));
		json_object_foreach(jv_obj(m, "production"), target, v) {
			int k = snprintf(prod + len, sizeof(prod) - len,
			    "%s%s=v%lld", len > 0 ? " " : "", target,
			    json_is_integer(v) ?
			    (long long)json_integer_value(v) : 0LL);

			if (k < 0 || (size_t)k >= sizeof(prod) - len)
				break;
			len += (size_t)k;
		}
		cells[0] = jv_str(m, "name");
		cells[1] = n;
		cells[2] = latest;
		cells[3] = jv_str(l, "status");
		cells[4] = prod[0] != '\0' ? prod : "-";
		colors[3] = (enum table_color)jv_status_color(cells[3]);
		if ((rc = table_add(&t, cells, colors)) < 0)
			break;
	}
	if (rc == 0 && t.nrows == 0)
		fprintf(stderr, "no models\n");
	else if (rc == 0)
		rc = client_print_table(c, &t);
	table_release(&t);
	return rc == 0 ? 0 : EXIT_USAGE;
}

static int
versions_table(struct client *c, json_t *j)
{
	static const char *const head[] = { "VERSION", "STATUS", "TARGET",
	    "RUN", "AGE", "METRICS", "URI" };
	static const unsigned flags[] = { TABLE_RIGHT, 0, TABLE_SHRINK,
	    TABLE_RIGHT, TABLE_RIGHT, TABLE_SHRINK, TABLE_SHRINK };
	struct table t;
	json_t *v;
	size_t i;
	int rc = 0;

	table_init(&t, 7, head, flags);
	json_array_foreach(jv_arr(j, "versions"), i, v) {
		char ver[24], run[24], age[16], metrics[512] = "";
		const char *cells[7], *k;
		enum table_color colors[7] = { 0 };
		size_t len = 0;
		json_t *x;

		(void)snprintf(ver, sizeof(ver), "v%lld",
		    jv_int(v, "version", 0));
		(void)snprintf(run, sizeof(run), "%lld", jv_int(v, "run", 0));
		jv_age(jv_str(v, "created_at"), age, sizeof(age));
		json_object_foreach(jv_obj(v, "metrics"), k, x) {
			char val[32];
			int n;

			jv_text(x, val, sizeof(val));
			n = snprintf(metrics + len, sizeof(metrics) - len,
			    "%s%s=%s", len > 0 ? " " : "", k, val);
			if (n < 0 || (size_t)n >= sizeof(metrics) - len)
				break;
			len += (size_t)n;
		}
		cells[0] = ver;
		cells[1] = jv_str(v, "status");
		cells[2] = jv_str(v, "target");
		cells[3] = run;
		cells[4] = age;
		cells[5] = metrics;
		cells[6] = jv_str(v, "uri");
		colors[1] = (enum table_color)jv_status_color(cells[1]);
		if ((rc = table_add(&t, cells, colors)) < 0)
			break;
	}
	if (rc == 0 && t.nrows == 0)
		fprintf(stderr, "no versions\n");
	else if (rc == 0)
		rc = client_print_table(c, &t);
	table_release(&t);
	return rc == 0 ? 0 : EXIT_USAGE;
}

int
cmd_models_list(struct client *c, const struct cmdargs *a)
{
	static const char *const statuses[] = { "registered", "candidate",
	    "production", "retired", "rejected", NULL };
	struct buf q;
	json_t *j = NULL;
	int rc;

	buf_init(&q, LIM_URL);
	if (a->npos == 0) {
		if (a->status != NULL) {
			client_say(c, "--status needs a model NAME");
			rc = EXIT_USAGE;
			goto out;
		}
		if (buf_puts(&q, "/api/v1/models?") < 0 ||
		    (rc = client_limit(c, a->limit, LIM_API_PAGE, &q)) != 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		if ((rc = client_get(c, q.data, &j)) == 0 && !c->json)
			rc = models_table(c, j);
		goto out;
	}
	if (a->status != NULL &&
	    (rc = client_check_enum(c, "--status", a->status, statuses)) != 0)
		goto out;
	if (buf_puts(&q, "/api/v1/models/") < 0 ||
	    client_escape(&q, a->pos[0]) < 0 ||
	    buf_puts(&q, "/versions?") < 0 ||
	    (rc = client_limit(c, a->limit, LIM_API_PAGE_DEFAULT, &q)) != 0 ||
	    (a->status != NULL &&
	    buf_printf(&q, "&status=%s", a->status) < 0)) {
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = client_get(c, q.data, &j)) == 0 && !c->json)
		rc = versions_table(c, j);
out:
	json_decref(j);
	buf_release(&q);
	return rc;
}

/*
 * POST {"target", "comment"} to /api/v1/models/NAME/SUFFIX and say what
 * the answer (the target's new production history entry) is: "demo v7 is
 * in production on demo-api (before: demo v6)".
 */
static int
model_post(struct client *c, const struct cmdargs *a, const char *suffix)
{
	struct buf path;
	char *body = NULL;
	json_t *j = NULL;
	int rc;

	buf_init(&path, LIM_URL);
	if ((rc = comment_body(c, a->comment, a->target, &body)) != 0)
		goto out;
	if (buf_puts(&path, "/api/v1/models/") < 0 ||
	    client_escape(&path, a->pos[0]) < 0 ||
	    buf_puts(&path, suffix) < 0) {
		client_say(c, "model name too long");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = client_post(c, path.data, body, &j)) == 0 && !c->json) {
		json_t *prev = jv_obj(j, "previous"), *tr;

		printf("%s v%lld is in production on %s", jv_str(j, "model") !=
		    NULL ? jv_str(j, "model") : a->pos[0],
		    jv_int(j, "version", 0), jv_str(j, "target") != NULL ?
		    jv_str(j, "target") : a->target);
		if (prev != NULL)
			printf(" (before: %s v%lld)", jv_str(prev, "model") !=
			    NULL ? jv_str(prev, "model") : "-",
			    jv_int(prev, "version", 0));
		putchar('\n');
		if ((tr = jv_obj(j, "traffic")) != NULL)
			printf("traffic: %s %s %s (moved by the controller; "
			    "the target's history says when it is done)\n",
			    jv_str(tr, "provider") != NULL ?
			    jv_str(tr, "provider") : "-", jv_str(tr, "object") !=
			    NULL ? jv_str(tr, "object") : "-", jv_str(tr,
			    "state") != NULL ? jv_str(tr, "state") : "-");
	}
out:
	json_decref(j);
	free(body);
	buf_release(&path);
	return rc;
}

/* VERSION ("7" or "v7") of the command line into *v. */
static int
model_version(struct client *c, const char *s, long long *v)
{
	return client_id(c, "version", s[0] == 'v' ? s + 1 : s, v);
}

int
cmd_models_promote(struct client *c, const struct cmdargs *a)
{
	char suffix[64];
	long long v;
	int rc;

	if (a->target == NULL) {
		client_say(c, "--target T is required");
		return EXIT_USAGE;
	}
	if ((rc = model_version(c, a->pos[1], &v)) != 0)
		return rc;
	(void)snprintf(suffix, sizeof(suffix), "/versions/%lld/promote", v);
	return model_post(c, a, suffix);
}

/* Whether version v of model name is in production on target. */
static int
check_production(struct client *c, const char *name, long long v,
    const char *target)
{
	json_t *j = NULL, *m, *p;
	int json = c->json, rc;
	size_t i;

	c->json = 0;
	rc = client_get(c, "/api/v1/models?limit=200", &j);
	c->json = json;
	if (rc != 0)
		return rc;
	rc = EXIT_REFUSED;
	json_array_foreach(jv_arr(j, "models"), i, m) {
		const char *n = jv_str(m, "name");

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		p = json_object_get(jv_obj(m, "production"), target);
		if (json_is_integer(p) && json_integer_value(p) == v)
			rc = 0;
		else if (json_is_integer(p))
			client_say(c, "%s v%lld is not in production on %s "
			    "(v%lld is)", name, v, target,
			    (long long)json_integer_value(p));
		else
			client_say(c, "%s has no version in production on %s",
			    name, target);
		break;
	}
	if (i == json_array_size(jv_arr(j, "models")))
		client_say(c, "no model '%s'", name);
	json_decref(j);
	return rc;
}

int
cmd_models_rollback(struct client *c, const struct cmdargs *a)
{
	long long v;
	int rc;

	if (a->target == NULL) {
		client_say(c, "--target T is required");
		return EXIT_USAGE;
	}
	if (a->npos == 2 && ((rc = model_version(c, a->pos[1], &v)) != 0 ||
	    (rc = check_production(c, a->pos[0], v, a->target)) != 0))
		return rc;
	return model_post(c, a, "/rollback");
}
