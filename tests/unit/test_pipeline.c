/*
 * test_pipeline.c - pipeline definitions: every error class with its exact
 * messages and positions (tests/fixtures/invalid/NAME.yaml next to
 * NAME.expected), valid definitions and their canonical JSON
 * (tests/fixtures/valid/, pipelines/), references and substitution,
 * topological order, trigger matching.
 *
 * Fixtures are found under $SLUICE_TOP, else the current directory.  A new
 * fixture is picked up without touching this file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "pipeline/pipeline.h"

static const char *
top(void)
{
	const char *t = getenv("SLUICE_TOP");

	return t != NULL && *t != '\0' ? t : ".";
}

/* Read a whole file; NULL when it does not exist. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 16 * 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&b, chunk, n), 0);
	fclose(f);
	if (len != NULL)
		*len = b.len;
	return buf_detach(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending with suffix, sorted; *n of them. */
static char **
list_dir(const char *dir, const char *suffix, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);

		if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Render errs[from..] the way `sluice validate` prints them. */
static char *
render(const struct pipeline_errors *errs, size_t from)
{
	struct buf b;

	buf_init(&b, 4 * 1024 * 1024);
	for (size_t i = from; i < errs->n; i++)
		assert_int_equal(buf_printf(&b, "%s:%d:%d: %s\n",
		    errs->v[i].file, errs->v[i].line, errs->v[i].column,
		    errs->v[i].message), 0);
	return buf_detach(&b);
}

/* Parse text; return rc, with the rendered errors in *msgs when asked. */
static int
parse_text(const char *text, size_t len, struct pipeline **out, char **msgs)
{
	struct pipeline_errors errs;
	struct err err;
	int rc;

	pipeline_errors_init(&errs);
	err_clear(&err);
	rc = pipeline_parse(out, &errs, text, len, "p.yaml", &err);
	if (msgs != NULL)
		*msgs = render(&errs, 0);
	if (rc == 0)
		assert_int_equal(errs.n, 0);
	else
		assert_true(errs.n > 0);
	pipeline_errors_release(&errs);
	return rc;
}

static struct pipeline *
parse_ok(const char *text)
{
	struct pipeline *p = NULL;
	char *msgs = NULL;

	if (parse_text(text, strlen(text), &p, &msgs) != 0)
		fail_msg("expected a valid pipeline, got:\n%s", msgs);
	free(msgs);
	assert_non_null(p);
	return p;
}

static char *
to_json(const struct pipeline *p)
{
	struct err err;
	char *j = NULL;

	assert_int_equal(pipeline_to_json(p, &j, &err), 0);
	assert_non_null(j);
	return j;
}

static void
pipeline__invalid_fixtures_report_exact_errors(void **state)
{
	char dir[4096], path[4200];
	size_t n, checked = 0;
	char **names;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/fixtures/invalid", top());
	names = list_dir(dir, ".yaml", &n);
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		struct pipeline_errors errs;
		struct pipeline *p = (struct pipeline *)1;
		char *text, *want, *got;
		struct err err;
		size_t len;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		text = slurp(path, &len);
		assert_non_null(text);
		snprintf(path, sizeof(path), "%s/%.*s.expected", dir,
		    (int)(strlen(names[i]) - 5), names[i]);
		want = slurp(path, NULL);
		if (want == NULL)
			fail_msg("%s has no .expected file", names[i]);
		pipeline_errors_init(&errs);
		rc = pipeline_parse(&p, &errs, text, len, names[i], &err);
		got = render(&errs, 0);
		if (rc != ERR_INVALID || strcmp(got, want) != 0)
			fail_msg("%s: rc %d\nexpected:\n%sgot:\n%s", names[i], rc,
			    want, got);
		assert_null(p);
		/* err carries the first error */
		assert_int_equal(err.code, ERR_INVALID);
		assert_true(strncmp(err.msg, got, strcspn(got, "\n")) == 0);
		free(got);
		free(want);
		free(text);
		pipeline_errors_release(&errs);
		checked++;
	}
	assert_int_equal(checked, n);
	free_list(names, n);
}

/* Parse, serialize, parse the JSON, serialize again: the same bytes. */
static void
check_valid_file(const char *path, const char *json_path)
{
	struct pipeline *p = NULL, *q = NULL;
	char *text, *j1, *j2, *want, *msgs = NULL;
	size_t len;

	text = slurp(path, &len);
	assert_non_null(text);
	if (parse_text(text, len, &p, &msgs) != 0)
		fail_msg("%s is not valid:\n%s", path, msgs);
	free(msgs);
	j1 = to_json(p);
	if (parse_text(j1, strlen(j1), &q, &msgs) != 0)
		fail_msg("canonical JSON of %s does not parse:\n%s\n%s", path,
		    msgs, j1);
	free(msgs);
	j2 = to_json(q);
	assert_string_equal(j1, j2);
	if (json_path != NULL && (want = slurp(json_path, NULL)) != NULL) {
		want[strcspn(want, "\n")] = '\0';
		assert_string_equal(j1, want);
		free(want);
	}
	free(j1);
	free(j2);
	free(text);
	pipeline_free(p);
	pipeline_free(q);
}

static void
pipeline__valid_fixtures_parse_and_round_trip(void **state)
{
	char dir[4096], path[4200], json[4200];
	size_t n;
	char **names;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/fixtures/valid", top());
	names = list_dir(dir, ".yaml", &n);
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(json, sizeof(json), "%s/%.*s.json", dir,
		    (int)(strlen(names[i]) - 5), names[i]);
		check_valid_file(path, json);
	}
	free_list(names, n);
}

/* Every example under pipelines/ (when there are any) is valid. */
static void
pipeline__example_pipelines_validate(void **state)
{
	static const char *const suffixes[] = { ".yaml", ".yml" };
	char dir[4096], path[4200];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pipelines", top());
	for (size_t s = 0; s < 2; s++) {
		size_t n;
		char **names = list_dir(dir, suffixes[s], &n);

		for (size_t i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			check_valid_file(path, NULL);
		}
		free_list(names, n);
	}
}

static const char spec_example_path[] = "tests/fixtures/valid/spec-example.yaml";

static struct pipeline *
load_spec_example(void)
{
	char path[4200];
	struct pipeline *p;
	char *text;

	snprintf(path, sizeof(path), "%s/%s", top(), spec_example_path);
	text = slurp(path, NULL);
	assert_non_null(text);
	p = parse_ok(text);
	free(text);
	return p;
}

static void
pipeline__struct_holds_values_and_defaults(void **state)
{
	struct pipeline *p = load_spec_example();
	const struct pipeline_stage *train, *eval, *roll;

	(void)state;
	assert_string_equal(p->name, "fraud-detector");
	assert_true(p->triggers.push);
	assert_true(p->triggers.webhook);
	assert_int_equal(p->triggers.branches.n, 1);
	assert_string_equal(p->triggers.branches.v[0], "main");
	assert_string_equal(p->triggers.paths.v[0], "models/fraud/**");
	assert_int_equal(p->params.n, 2);
	assert_string_equal(p->params.v[0].key, "epochs");
	assert_string_equal(p->params.v[0].value, "10");
	assert_int_equal(p->concurrency, 1);
	assert_true(p->checkout);
	assert_int_equal(p->nstages, 3);

	train = pipeline_stage_find(p, "train");
	eval = pipeline_stage_find(p, "evaluate");
	roll = pipeline_stage_find(p, "rollout");
	assert_non_null(train);
	assert_non_null(eval);
	assert_non_null(roll);
	assert_null(pipeline_stage_find(p, "deploy"));
	assert_int_equal(pipeline_stage_index(p, "rollout"), 2);
	assert_int_equal(pipeline_stage_index(p, "nope"), -1);

	/* positions of the stage mappings */
	assert_int_equal(train->pos.line, 16);
	assert_int_equal(train->pos.column, 7);
	assert_int_equal(train->command.pos[3].line, 17);
	assert_int_equal(train->command.pos[3].column, 52);

	assert_int_equal(train->type, PIPELINE_STAGE_JOB);
	assert_string_equal(train->image, "ghcr.io/acme/fraud:1.4");
	assert_int_equal(train->command.n, 4);
	assert_string_equal(train->command.v[3], "${params.epochs}");
	assert_int_equal(train->env.n, 1);
	assert_string_equal(train->env.v[0].key, "MLFLOW_TRACKING_URI");
	assert_string_equal(train->env.v[0].value, "");
	assert_int_equal(train->resources.gpu, 1);
	assert_string_equal(train->resources.gpu_resource, "nvidia.com/gpu");
	assert_string_equal(train->resources.cpu, "4");
	assert_string_equal(train->resources.memory, "16Gi");
	assert_string_equal(train->node_selector.v[0].key,
	    "nvidia.com/gpu.product");
	assert_int_equal(train->ntolerations, 1);
	assert_int_equal(train->tolerations[0].op, PIPELINE_TOLERATION_EXISTS);
	assert_string_equal(train->tolerations[0].effect, "NoSchedule");
	assert_string_equal(train->queue, "team-a");
	assert_string_equal(train->priority_class, "ml-high");
	assert_int_equal(train->nvolumes, 2);
	assert_true(train->volumes[0].read_only);
	assert_false(train->volumes[1].read_only);
	assert_string_equal(train->volumes[1].mount, "/models");
	assert_int_equal(train->timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(train->retries, 2);
	assert_null(train->canary);

	assert_int_equal(eval->needs.n, 1);
	assert_int_equal(eval->need_index[0], 0);
	assert_int_equal(eval->ngates, 2);
	assert_int_equal(eval->gates[0].op, PIPELINE_OP_GE);
	assert_false(eval->gates[0].baseline);
	assert_true(eval->gates[0].value == 0.9);
	assert_true(eval->gates[1].baseline);
	assert_true(eval->gates[1].tolerance == 0.005);
	assert_int_equal(eval->timeout_ms, 0);
	assert_null(eval->queue);
	assert_null(eval->resources.cpu);

	assert_int_equal(roll->type, PIPELINE_STAGE_CANARY);
	assert_non_null(roll->canary);
	assert_string_equal(roll->canary->target, "fraud-api");
	assert_int_equal(roll->canary->nsteps, 3);
	assert_int_equal(roll->canary->steps[0].weight, 10);
	assert_true(roll->canary->steps[0].analysis);
	assert_int_equal(roll->canary->steps[0].analysis_ms, 5 * 60 * 1000);
	assert_int_equal(roll->canary->steps[0].ngates, 1);
	assert_int_equal(roll->canary->steps[0].gates[0].op, PIPELINE_OP_LE);
	assert_false(roll->canary->steps[0].approval);
	assert_true(roll->canary->steps[1].approval);
	assert_int_equal(roll->canary->steps[2].weight, 100);
	assert_int_equal(roll->canary->approval_timeout_ms, 24LL * 3600000);
	assert_int_equal(roll->canary->rollback_command.n, 2);
	pipeline_free(p);
}

static void
pipeline__defaults_apply_when_fields_are_absent(void **state)
{
	struct pipeline *p = parse_ok(
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata: {name: d}\n"
	    "spec:\n"
	    "  defaults: {image: 'img:1', env: {B: b, A: a, C: c}}\n"
	    "  stages:\n"
	    "    - {name: s, command: [x], env: {C: override, D: d}}\n"
	    "    - name: r\n"
	    "      type: canary\n"
	    "      image: other:2\n"
	    "      command: [x]\n"
	    "      canary: {target: t, steps: [{weight: 100}]}\n");
	const struct pipeline_stage *s = &p->stages[0], *r = &p->stages[1];

	(void)state;
	assert_true(p->triggers.push);
	assert_false(p->triggers.webhook);
	assert_int_equal(p->triggers.branches.n, 0);
	assert_int_equal(p->concurrency, 1);
	assert_false(p->checkout);
	assert_string_equal(s->image, "img:1");
	/* merged, stage wins, sorted by name */
	assert_int_equal(s->env.n, 4);
	assert_string_equal(s->env.v[0].key, "A");
	assert_string_equal(s->env.v[2].key, "C");
	assert_string_equal(s->env.v[2].value, "override");
	assert_string_equal(s->env.v[3].key, "D");
	assert_string_equal(r->image, "other:2");
	assert_int_equal(r->env.n, 3);
	assert_int_equal(r->canary->approval_timeout_ms,
	    PIPELINE_APPROVAL_TIMEOUT_MS);
	assert_false(r->canary->steps[0].approval);
	assert_int_equal(r->canary->rollback_command.n, 0);
	assert_int_equal(s->resources.gpu, 0);
	assert_string_equal(s->resources.gpu_resource, PIPELINE_GPU_RESOURCE);
	pipeline_free(p);
}

static void
pipeline__pod_identity_comes_from_the_stage_else_the_defaults(void **state)
{
	struct pipeline *p = parse_ok(
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata: {name: d}\n"
	    "spec:\n"
	    "  defaults:\n"
	    "    image: 'img:1'\n"
	    "    service_account: ml\n"
	    "    security_context: {run_as_user: 1000, fs_group: 2000,"
	    " run_as_non_root: true}\n"
	    "  stages:\n"
	    "    - {name: a, command: [x]}\n"
	    "    - {name: b, command: [x], service_account: trainer,"
	    " security_context: {run_as_user: 0}}\n"
	    "    - {name: c, command: [x], security_context: {}}\n");
	const struct pipeline_stage *a = &p->stages[0], *b = &p->stages[1],
	    *c = &p->stages[2];
	char *json = NULL;
	struct err err;

	(void)state;
	assert_string_equal(a->service_account, "ml");
	assert_true(a->security_context.set);
	assert_int_equal(a->security_context.id[PODSEC_RUN_AS_USER], 1000);
	assert_int_equal(a->security_context.id[PODSEC_FS_GROUP], 2000);
	assert_int_equal(a->security_context.id[PODSEC_RUN_AS_GROUP], -1);
	assert_int_equal(a->security_context.run_as_non_root, 1);
	/* a stage's security_context replaces the defaults' whole */
	assert_string_equal(b->service_account, "trainer");
	assert_int_equal(b->security_context.id[PODSEC_RUN_AS_USER], 0);
	assert_int_equal(b->security_context.id[PODSEC_FS_GROUP], -1);
	assert_int_equal(b->security_context.run_as_non_root, -1);
	/* {} is given too: it sets nothing, and the cluster default is off */
	assert_true(c->security_context.set);
	assert_int_equal(c->security_context.id[PODSEC_RUN_AS_USER], -1);
	assert_int_equal(pipeline_to_json(p, &json, &err), 0);
	assert_non_null(strstr(json, "\"security_context\":{\"fs_group\":2000,"
	    "\"run_as_non_root\":true,\"run_as_user\":1000}"));
	assert_non_null(strstr(json, "\"security_context\":{}"));
	assert_non_null(strstr(json, "\"service_account\":\"trainer\""));
	free(json);
	pipeline_free(p);
}

static void
pipeline__canonical_json_ignores_spelling(void **state)
{
	struct pipeline *a, *b;
	char *ja, *jb;

	(void)state;
	a = parse_ok(
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata:\n"
	    "  name: same\n"
	    "spec:\n"
	    "  defaults:\n"
	    "    image: img:1\n"
	    "    env: {A: '1'}\n"
	    "  stages:\n"
	    "    - name: train\n"
	    "      command: [python3, train.py]\n"
	    "      timeout: 90m\n"
	    "      gates: [{metric: auc, op: '>=', value: 0.90}]\n");
	b = parse_ok(
	    "# a comment\n"
	    "spec:\n"
	    "  stages:\n"
	    "  - timeout: 1h30m\n"
	    "    gates:\n"
	    "    - value: 9e-1\n"
	    "      op: \">=\"\n"
	    "      metric: auc\n"
	    "    env:\n"
	    "      A: \"1\"\n"
	    "    command:\n"
	    "    - python3\n"
	    "    - train.py\n"
	    "    image: \"img:1\"\n"
	    "    name: train\n"
	    "  triggers: {push: {}}\n"
	    "  concurrency: 1\n"
	    "  checkout: false\n"
	    "metadata: {name: same}\n"
	    "kind: Pipeline\n"
	    "apiVersion: sluice/v1\n");
	ja = to_json(a);
	jb = to_json(b);
	assert_string_equal(ja, jb);
	assert_non_null(strstr(ja, "\"timeout\":\"1h30m\""));
	assert_non_null(strstr(ja, "\"value\":0.9}"));
	free(ja);
	free(jb);
	pipeline_free(a);
	pipeline_free(b);
}

static void
pipeline__topological_order_keeps_source_order_for_ties(void **state)
{
	struct pipeline *p = parse_ok(
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata: {name: topo}\n"
	    "spec:\n"
	    "  defaults: {image: 'img:1'}\n"
	    "  stages:\n"
	    "    - {name: report, needs: [eval-a, eval-b], command: [x]}\n"
	    "    - {name: eval-b, needs: [train], command: [x]}\n"
	    "    - {name: eval-a, needs: [train], command: [x]}\n"
	    "    - {name: lint, command: [x]}\n"
	    "    - {name: train, needs: [prep], command: [x]}\n"
	    "    - {name: prep, command: [x]}\n");
	static const char *const want[] = { "lint", "prep", "train", "eval-b",
	    "eval-a", "report" };

	(void)state;
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(p->stages[p->order[i]].name, want[i]);
	/* report reaches prep through eval-a/eval-b and train */
	assert_true(pipeline_depends_on(p, 0, 5));
	assert_true(pipeline_depends_on(p, 0, 4));
	assert_true(pipeline_depends_on(p, 0, 1));
	assert_false(pipeline_depends_on(p, 0, 3));
	assert_false(pipeline_depends_on(p, 5, 0));
	assert_false(pipeline_depends_on(p, 1, 2));
	assert_false(pipeline_depends_on(p, 0, 0));
	assert_false(pipeline_depends_on(p, 0, 99));
	pipeline_free(p);
}

static void
pipeline__refs_iterate_over_a_template(void **state)
{
	const char *s = "a ${params.x} $${literal} ${run.id}"
	    "${stages.train.artifacts.model}${stages.t-2.metrics.val/loss} $";
	struct pipeline_ref r;
	struct err err;
	size_t pos = 0;

	(void)state;
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 1);
	assert_int_equal(r.kind, PIPELINE_REF_PARAM);
	assert_int_equal(r.off, 2);
	assert_int_equal(r.len, 11);
	assert_memory_equal(r.name, "x", 1);
	assert_int_equal(r.name_len, 1);
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 1);
	assert_int_equal(r.kind, PIPELINE_REF_RUN);
	assert_int_equal(r.name_len, 2);
	assert_memory_equal(r.name, "id", 2);
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 1);
	assert_int_equal(r.kind, PIPELINE_REF_ARTIFACT);
	assert_int_equal(r.stage_len, 5);
	assert_memory_equal(r.stage, "train", 5);
	assert_int_equal(r.name_len, 5);
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 1);
	assert_int_equal(r.kind, PIPELINE_REF_METRIC);
	assert_memory_equal(r.stage, "t-2", 3);
	assert_memory_equal(r.name, "val/loss", 8);
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 0);
	assert_int_equal(pipeline_refs_next(s, &pos, &r, &err), 0);

	pos = 0;
	assert_int_equal(pipeline_refs_next("x ${nope} ${params.ok} ${run.",
	    &pos, &r, &err), ERR_INVALID);
	assert_int_equal(r.off, 2);
	assert_non_null(strstr(err.msg, "invalid reference \"${nope}\""));
	assert_int_equal(pipeline_refs_next("x ${nope} ${params.ok} ${run.",
	    &pos, &r, &err), 1);
	assert_int_equal(pipeline_refs_next("x ${nope} ${params.ok} ${run.",
	    &pos, &r, &err), ERR_INVALID);
	assert_string_equal(err.msg, "unterminated reference \"${run.\" "
	    "(a \"}\" is missing)");
	assert_int_equal(pipeline_refs_next("x ${nope} ${params.ok} ${run.",
	    &pos, &r, &err), 0);
}

static int
lookup(void *arg, const struct pipeline_ref *ref, struct buf *out,
    struct err *err)
{
	int *calls = arg;

	(*calls)++;
	if (ref->kind == PIPELINE_REF_PARAM && ref->name_len == 6 &&
	    memcmp(ref->name, "epochs", 6) == 0)
		return buf_puts(out, "10");
	if (ref->kind == PIPELINE_REF_RUN)
		return buf_puts(out, "42");
	if (ref->kind == PIPELINE_REF_ARTIFACT)
		return buf_puts(out, "s3://models/fraud/42");
	(void)err;
	return ERR_NOTFOUND;
}

static void
pipeline__substitute_replaces_references(void **state)
{
	struct err err;
	struct buf b;
	int calls = 0;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(pipeline_substitute("--epochs=${params.epochs} "
	    "run ${run.id}: ${stages.train.artifacts.model} $${HOME} $$ $x",
	    lookup, &calls, &b, &err), 0);
	assert_string_equal(b.data, "--epochs=10 run 42: s3://models/fraud/42 "
	    "${HOME} $$ $x");
	assert_int_equal(calls, 3);

	buf_reset(&b);
	assert_int_equal(pipeline_substitute("plain", lookup, &calls, &b,
	    &err), 0);
	assert_string_equal(b.data, "plain");

	buf_reset(&b);
	assert_int_equal(pipeline_substitute("x ${params.lr}", lookup, &calls,
	    &b, &err), ERR_NOTFOUND);
	assert_string_equal(err.msg, "no value for \"${params.lr}\"");

	buf_reset(&b);
	assert_int_equal(pipeline_substitute("x ${params.lr", lookup, &calls,
	    &b, &err), ERR_INVALID);
	buf_release(&b);

	buf_init(&b, 8);
	assert_int_equal(pipeline_substitute("${run.id}${run.id}${run.id}"
	    "${run.id}${run.id}", lookup, &calls, &b, &err), ERR_TOOBIG);
	buf_release(&b);
}

/* A pipeline up to its one stage's name; the stage's fields follow. */
#define ONE_STAGE_HEAD							\
	"apiVersion: sluice/v1\n"					\
	"kind: Pipeline\n"						\
	"metadata: { name: shell }\n"					\
	"spec:\n"							\
	"  defaults: { image: alpine }\n"				\
	"  stages:\n"							\
	"    - name: build\n"

/*
 * A shell ${VAR} in a command is not one of ours: the error says how to
 * write it literally, and $${VAR} reaches the stage as ${VAR}.
 */
static void
pipeline__shell_variable_error_suggests_the_escape(void **state)
{
	static const char text[] =
	    ONE_STAGE_HEAD
	    "      command: [sh, -c, 'echo ${HOME}']\n";
	struct pipeline_ref r;
	struct pipeline *p = NULL;
	struct err err;
	char *msgs = NULL;
	size_t pos = 0;

	(void)state;
	assert_int_equal(pipeline_refs_next("echo ${HOME}", &pos, &r, &err),
	    ERR_INVALID);
	assert_string_equal(err.msg, "invalid reference \"${HOME}\" (expected "
	    "${params.NAME}, ${run.FIELD}, ${stages.STAGE.artifacts.NAME} or "
	    "${stages.STAGE.metrics.NAME}); for a literal shell ${VAR}, write "
	    "$${VAR}");
	pos = 0;
	assert_int_equal(pipeline_refs_next("${USER:-nobody}", &pos, &r, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "; for a literal shell ${VAR}, write "
	    "$${VAR}"));

	/* a misspelt reference of ours gets no shell hint */
	pos = 0;
	assert_int_equal(pipeline_refs_next("${stages.a.outputs.b}", &pos, &r,
	    &err), ERR_INVALID);
	assert_null(strstr(err.msg, "shell"));
	pos = 0;
	assert_int_equal(pipeline_refs_next("${run.Id}", &pos, &r, &err),
	    ERR_INVALID);
	assert_null(strstr(err.msg, "shell"));

	assert_int_equal(parse_text(text, strlen(text), &p, &msgs),
	    ERR_INVALID);
	assert_null(p);
	assert_string_equal(msgs, "p.yaml:8:25: spec.stages[0].command[2]: "
	    "invalid reference \"${HOME}\" (expected ${params.NAME}, "
	    "${run.FIELD}, ${stages.STAGE.artifacts.NAME} or "
	    "${stages.STAGE.metrics.NAME}); for a literal shell ${VAR}, write "
	    "$${VAR}\n");
	free(msgs);
}

static void
pipeline__escaped_shell_variable_reaches_the_stage_literally(void **state)
{
	static const char text[] =
	    ONE_STAGE_HEAD
	    "      command: [sh, -c,\n"
	    "        'echo $${HOME} $${X:-1} ${run.id} $$$${Y}']\n"
	    "      env: { GREETING: \"hi $${USER}\" }\n";
	struct pipeline *p = parse_ok(text);
	const struct pipeline_stage *st = &p->stages[0];
	struct err err;
	struct buf b;
	int calls = 0;

	(void)state;
	assert_int_equal(st->command.n, 3);
	buf_init(&b, 1024);
	assert_int_equal(pipeline_substitute(st->command.v[2], lookup, &calls,
	    &b, &err), 0);
	assert_string_equal(b.data, "echo ${HOME} ${X:-1} 42 $$${Y}");
	assert_int_equal(calls, 1);
	buf_reset(&b);
	assert_int_equal(st->env.n, 1);
	assert_int_equal(pipeline_substitute(st->env.v[0].value, lookup,
	    &calls, &b, &err), 0);
	assert_string_equal(b.data, "hi ${USER}");
	assert_int_equal(calls, 1);
	buf_release(&b);
	pipeline_free(p);
}

static void
pipeline__globs_match_whole_segments(void **state)
{
	static const struct { const char *pat, *path; int want; } t[] = {
		{ "models/fraud/**", "models/fraud/train.py", 1 },
		{ "models/fraud/**", "models/fraud/a/b/c.py", 1 },
		{ "models/fraud/**", "models/fraudulent/x", 0 },
		{ "models/fraud", "models/fraud/train.py", 1 },
		{ "models/fraud", "models/fraud", 1 },
		{ "models/fraud", "models/fraudx", 0 },
		{ "**/*.py", "train.py", 1 },
		{ "**/*.py", "a/b/train.py", 1 },
		{ "**/*.py", "a/b/train.pyc", 0 },
		{ "*.py", "train.py", 1 },
		{ "*.py", "src/train.py", 0 },
		{ "src/*/main.c", "src/x/main.c", 1 },
		{ "src/*/main.c", "src/x/y/main.c", 0 },
		{ "src/**/main.c", "src/main.c", 1 },
		{ "src/**/main.c", "src/x/y/main.c", 1 },
		{ "a?c", "abc", 1 },
		{ "a?c", "a/c", 0 },
		{ "a?c", "a\xc3\xa9" "c", 1 },
		{ "**", "anything/at/all", 1 },
		{ "**/**/**/**/**/**/x", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/y", 0 },
		{ "*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
		{ "data/[a]", "data/[a]", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (pipeline_glob_match(t[i].pat, t[i].path) != t[i].want)
			fail_msg("glob %s vs %s: want %d", t[i].pat, t[i].path,
			    t[i].want);
	}
}

static void
pipeline__push_trigger_matches_branches_and_paths(void **state)
{
	const char *const ml[] = { "README.md", "models/fraud/train.py" };
	const char *const docs[] = { "README.md", "docs/x.md" };
	const char *const self[] = { "pipelines/fraud.yaml" };
	struct pipeline *p, *d, *w;

	(void)state;
	p = parse_ok(
	    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: t}\n"
	    "spec:\n"
	    "  triggers:\n"
	    "    push: {branches: [main, 'release/*'], "
	    "paths: ['models/fraud/**']}\n"
	    "  stages: [{name: s, image: 'i:1', command: [x]}]\n");
	assert_true(pipeline_push_matches(p, "main", ml, 2, NULL));
	assert_true(pipeline_push_matches(p, "release/1.2", ml, 2, NULL));
	assert_false(pipeline_push_matches(p, "release/1.2/hotfix", ml, 2,
	    NULL));
	assert_false(pipeline_push_matches(p, "mainline", ml, 2, NULL));
	assert_false(pipeline_push_matches(p, "dev", ml, 2, NULL));
	assert_false(pipeline_push_matches(p, "main", docs, 2, NULL));
	assert_false(pipeline_push_matches(p, "main", docs, 0, NULL));
	/* a commit that changes only the pipeline file runs it */
	assert_true(pipeline_push_matches(p, "main", self, 1,
	    "pipelines/fraud.yaml"));
	assert_false(pipeline_push_matches(p, "main", self, 1,
	    "pipelines/other.yaml"));
	assert_false(pipeline_push_matches(p, "dev", self, 1,
	    "pipelines/fraud.yaml"));

	/* no triggers: every branch, every path */
	d = parse_ok(
	    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: d}\n"
	    "spec: {stages: [{name: s, image: 'i:1', command: [x]}]}\n");
	assert_true(pipeline_push_matches(d, "anything", docs, 2, NULL));
	assert_true(pipeline_push_matches(d, "main", docs, 0, NULL));

	/* a triggers mapping without push: webhook only */
	w = parse_ok(
	    "apiVersion: sluice/v1\nkind: Pipeline\nmetadata: {name: w}\n"
	    "spec:\n  triggers: {webhook: true}\n"
	    "  stages: [{name: s, image: 'i:1', command: [x]}]\n");
	assert_false(pipeline_push_matches(w, "main", ml, 2, NULL));
	assert_true(w->triggers.webhook);
	pipeline_free(p);
	pipeline_free(d);
	pipeline_free(w);
}

static void
pipeline__gates_hold_by_operator(void **state)
{
	struct pipeline_gate g;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.value = 0.9;
	g.op = PIPELINE_OP_GE;
	assert_true(pipeline_gate_holds(&g, 0.9, 0));
	assert_false(pipeline_gate_holds(&g, 0.89, 0));
	g.op = PIPELINE_OP_GT;
	assert_false(pipeline_gate_holds(&g, 0.9, 0));
	g.op = PIPELINE_OP_LE;
	assert_true(pipeline_gate_holds(&g, 0.9, 0));
	g.op = PIPELINE_OP_LT;
	assert_true(pipeline_gate_holds(&g, 0.1, 0));
	g.op = PIPELINE_OP_EQ;
	assert_true(pipeline_gate_holds(&g, 0.9, 0));
	g.op = PIPELINE_OP_NE;
	assert_true(pipeline_gate_holds(&g, 0.8, 0));
	assert_false(pipeline_gate_holds(&g, 0.0 / 0.0, 0));

	g.baseline = 1;
	g.tolerance = 0.005;
	g.op = PIPELINE_OP_GE;
	assert_true(pipeline_gate_holds(&g, 0.930, 0.934));
	assert_false(pipeline_gate_holds(&g, 0.928, 0.934));
	g.op = PIPELINE_OP_LE;
	assert_true(pipeline_gate_holds(&g, 0.105, 0.1));
	assert_false(pipeline_gate_holds(&g, 0.11, 0.1));
	g.op = PIPELINE_OP_EQ;
	assert_true(pipeline_gate_holds(&g, 0.104, 0.1));
	g.op = PIPELINE_OP_NE;
	assert_false(pipeline_gate_holds(&g, 0.104, 0.1));
	assert_string_equal(pipeline_op_name(PIPELINE_OP_NE), "!=");
}

static void
pipeline__file_over_the_cap_is_rejected(void **state)
{
	size_t n = LIM_PIPELINE_FILE + 1;
	char *big = malloc(n), *msgs = NULL;
	struct pipeline *p = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, '#', n);
	assert_int_equal(parse_text(big, n, &p, &msgs), ERR_INVALID);
	assert_string_equal(msgs, "p.yaml:1:1: file is too large (1048577 "
	    "bytes; the limit is 1048576)\n");
	free(msgs);

	/* a comment of exactly the cap and then nothing: parsed, empty */
	big[0] = '#';
	assert_int_equal(parse_text(big, n - 1, &p, &msgs), ERR_INVALID);
	assert_string_equal(msgs, "p.yaml:1:1: empty file: expected a "
	    "pipeline definition\n");
	free(msgs);
	free(big);
}

static void
pipeline__errors_stop_at_the_cap(void **state)
{
	struct buf b;
	char *msgs = NULL, *last;
	struct pipeline *p = NULL;
	size_t lines = 0;

	(void)state;
	buf_init(&b, LIM_PIPELINE_FILE);
	assert_int_equal(buf_puts(&b, "apiVersion: sluice/v1\nkind: Pipeline\n"
	    "metadata: {name: many}\nspec:\n  params:\n"), 0);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(buf_printf(&b, "    bad-%d: x\n", i), 0);
	assert_int_equal(buf_puts(&b, "  stages: [{name: s, image: 'i:1', "
	    "command: [x]}]\n"), 0);
	assert_int_equal(parse_text(b.data, b.len, &p, &msgs), ERR_INVALID);
	for (char *s = msgs; *s != '\0'; s++)
		lines += *s == '\n';
	assert_int_equal(lines, LIM_PIPELINE_ERRORS);
	assert_non_null(strstr(msgs, "p.yaml:6:5: spec.params: invalid "
	    "parameter name \"bad-0\""));
	msgs[strlen(msgs) - 1] = '\0';
	last = strrchr(msgs, '\n') + 1;
	assert_string_equal(last, "p.yaml:1005:5: too many errors; only the "
	    "first 999 are shown");
	free(msgs);

	/*
	 * The 1000th error found comes before the others in the file
	 * (spec.defaults is checked after spec.params): the cap message
	 * still goes last, with that position.
	 */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b, "apiVersion: sluice/v1\nkind: Pipeline\n"
	    "metadata: {name: many}\nspec:\n  defaults: {env: {bad-env: x}}\n"
	    "  params:\n"), 0);
	for (int i = 0; i < 999; i++)
		assert_int_equal(buf_printf(&b, "    bad-%d: x\n", i), 0);
	assert_int_equal(buf_puts(&b, "  stages: [{name: s, image: 'i:1', "
	    "command: [x]}]\n"), 0);
	assert_int_equal(parse_text(b.data, b.len, &p, &msgs), ERR_INVALID);
	assert_true(strncmp(msgs, "p.yaml:7:5: spec.params: invalid parameter "
	    "name \"bad-0\"", 50) == 0);
	msgs[strlen(msgs) - 1] = '\0';
	last = strrchr(msgs, '\n') + 1;
	assert_string_equal(last, "p.yaml:5:20: too many errors; only the "
	    "first 999 are shown");
	free(msgs);
	buf_release(&b);
}

static void
pipeline__positions_count_characters_and_crlf(void **state)
{
	char *msgs = NULL;
	struct pipeline *p = NULL;
	const char *text =
	    "\xef\xbb\xbf" "apiVersion: sluice/v1\r\n"
	    "kind: Pipeline\r\n"
	    "metadata: {name: crlf}\r\n"
	    "spec:\r\n"
	    "  params: {caf\xc3\xa9: \"\xe2\x82\xac\", x: [1]}\r\n"
	    "  stages: [{name: s, image: 'i:1', command: [x], retries: no}]\r\n";

	(void)state;
	assert_int_equal(parse_text(text, strlen(text), &p, &msgs),
	    ERR_INVALID);
	assert_string_equal(msgs,
	    "p.yaml:5:12: spec.params: invalid parameter name \"caf\xc3\xa9\": "
	    "must start with a letter or '_' and consist of letters, digits "
	    "and '_'\n"
	    "p.yaml:5:26: spec.params.x: expected a string, got a sequence\n"
	    "p.yaml:6:59: spec.stages[0].retries: expected an integer, got "
	    "\"no\"\n");
	free(msgs);
}

static void
pipeline__control_bytes_and_nul_are_reported(void **state)
{
	static const char text[] = "apiVersion: sluice/v1\nkind: P\0ipeline\n";
	char *msgs = NULL;
	struct pipeline *p = NULL;

	(void)state;
	assert_int_equal(parse_text(text, sizeof(text) - 1, &p, &msgs),
	    ERR_INVALID);
	assert_string_equal(msgs, "p.yaml:2:8: control character U+0000 is "
	    "not allowed (write it as an escape in a double-quoted string)\n");
	free(msgs);

	/* an escaped NUL gets through YAML, but not into a string */
	assert_int_equal(parse_text("apiVersion: \"sluice/v1\\0\"\n", 25, &p,
	    &msgs), ERR_INVALID);
	assert_non_null(strstr(msgs, "p.yaml:1:13: apiVersion: must not "
	    "contain a NUL character\n"));
	free(msgs);
}

static void
pipeline__errors_serialize_to_json(void **state)
{
	struct pipeline_errors errs;
	struct err err;
	char *j = NULL;

	(void)state;
	pipeline_errors_init(&errs);
	assert_int_equal(pipeline_errors_to_json(&errs, &j, &err), 0);
	assert_string_equal(j, "[]");
	free(j);
	assert_int_equal(pipeline_errors_add(&errs, "a.yaml", 3, 7,
	    "unknown field \"%s\"", "x"), 0);
	assert_int_equal(pipeline_errors_add(&errs, "bad\xff.yaml", 0, 0,
	    "cannot read: %s", "gone"), 0);
	assert_int_equal(pipeline_errors_to_json(&errs, &j, &err), 0);
	assert_string_equal(j, "[{\"file\":\"a.yaml\",\"line\":3,\"column\":7,"
	    "\"message\":\"unknown field \\\"x\\\"\"},{\"file\":"
	    "\"bad\xef\xbf\xbd.yaml\",\"line\":0,\"column\":0,\"message\":"
	    "\"cannot read: gone\"}]");
	free(j);
	pipeline_errors_release(&errs);
}

static void
pipeline__output_names(void **state)
{
	(void)state;
	assert_true(pipeline_output_name_valid("auc", 3));
	assert_true(pipeline_output_name_valid("val/loss.p99-x", 14));
	assert_true(pipeline_output_name_valid("_x", 2));
	assert_false(pipeline_output_name_valid("", 0));
	assert_false(pipeline_output_name_valid("9lives", 6));
	assert_false(pipeline_output_name_valid("a b", 3));
	assert_false(pipeline_output_name_valid(
	    "a123456789012345678901234567890123456789012345678901234567890123",
	    64));
}

#define RETENTION_HEAD(r)						\
	"apiVersion: sluice/v1\n"					\
	"kind: Pipeline\n"						\
	"metadata: { name: kept }\n"					\
	"spec:\n"							\
	"  retention: " r "\n"						\
	"  stages:\n"							\
	"    - { name: build, image: alpine, command: [true] }\n"

static void
pipeline__retention_is_read_and_kept_in_the_json(void **state)
{
	static const char both[] = RETENTION_HEAD("{ keep_runs: 200, max_age: 90d }");
	static const char one[] = RETENTION_HEAD("{ keep_runs: 0 }");
	static const char none[] = ONE_STAGE_HEAD "      command: [true]\n";
	static const struct { const char *text, *msg; } bad[] = {
		{ RETENTION_HEAD("{ keep_runs: -1 }"), "p.yaml:5:27: "
		    "spec.retention.keep_runs: must be between 0 and 100000000 "
		    "(got -1)\n" },
		{ RETENTION_HEAD("{ max_age: 30m }"), "p.yaml:5:25: "
		    "spec.retention.max_age: must be 0s (no limit) or at "
		    "least 1h (got \"30m\")\n" },
		{ RETENTION_HEAD("{ max_age: 3 days }"), "p.yaml:5:25: "
		    "spec.retention.max_age: invalid age \"3 days\" (expected "
		    "e.g. \"90d\", \"12h\" or \"0s\")\n" },
		{ RETENTION_HEAD("{ keep: 5 }"), "p.yaml:5:16: "
		    "spec.retention: unknown field \"keep\"\n" },
	};
	struct pipeline *p;
	char *j;

	(void)state;
	p = parse_ok(both);
	assert_int_equal(p->retention.keep_runs, 200);
	assert_int_equal(p->retention.max_age_ms, INT64_C(90) * 86400000);
	j = to_json(p);
	assert_non_null(strstr(j, "\"retention\":{\"keep_runs\":200,"
	    "\"max_age_ms\":7776000000}"));
	free(j);
	pipeline_free(p);
	p = parse_ok(one);
	assert_int_equal(p->retention.keep_runs, 0);
	assert_int_equal(p->retention.max_age_ms, -1);
	j = to_json(p);
	assert_non_null(strstr(j, "\"retention\":{\"keep_runs\":0}"));
	free(j);
	pipeline_free(p);
	p = parse_ok(none);
	assert_int_equal(p->retention.keep_runs, -1);
	j = to_json(p);
	assert_null(strstr(j, "retention"));
	free(j);
	pipeline_free(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *msgs = NULL;

		p = NULL;
		assert_int_equal(parse_text(bad[i].text, strlen(bad[i].text),
		    &p, &msgs), ERR_INVALID);
		if (strcmp(msgs, bad[i].msg) != 0)
			fail_msg("expected %s, got %s", bad[i].msg, msgs);
		free(msgs);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipeline__retention_is_read_and_kept_in_the_json),
		cmocka_unit_test(pipeline__invalid_fixtures_report_exact_errors),
		cmocka_unit_test(pipeline__valid_fixtures_parse_and_round_trip),
		cmocka_unit_test(pipeline__example_pipelines_validate),
		cmocka_unit_test(pipeline__struct_holds_values_and_defaults),
		cmocka_unit_test(pipeline__defaults_apply_when_fields_are_absent),
		cmocka_unit_test(
		    pipeline__pod_identity_comes_from_the_stage_else_the_defaults),
		cmocka_unit_test(pipeline__canonical_json_ignores_spelling),
		cmocka_unit_test(
		    pipeline__topological_order_keeps_source_order_for_ties),
		cmocka_unit_test(pipeline__refs_iterate_over_a_template),
		cmocka_unit_test(pipeline__substitute_replaces_references),
		cmocka_unit_test(
		    pipeline__shell_variable_error_suggests_the_escape),
		cmocka_unit_test(
		    pipeline__escaped_shell_variable_reaches_the_stage_literally),
		cmocka_unit_test(pipeline__globs_match_whole_segments),
		cmocka_unit_test(
		    pipeline__push_trigger_matches_branches_and_paths),
		cmocka_unit_test(pipeline__gates_hold_by_operator),
		cmocka_unit_test(pipeline__file_over_the_cap_is_rejected),
		cmocka_unit_test(pipeline__errors_stop_at_the_cap),
		cmocka_unit_test(pipeline__positions_count_characters_and_crlf),
		cmocka_unit_test(pipeline__control_bytes_and_nul_are_reported),
		cmocka_unit_test(pipeline__errors_serialize_to_json),
		cmocka_unit_test(pipeline__output_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
