/*
 * test_traffic_follow.c - a promotion or rollback by hand moves the
 * traffic of a target whose pipeline's canary has a traffic provider:
 * the API records the change (with its traffic, pending) and the engine
 * moves it through the fake Kubernetes API server
 * (tests/fakes/kube_apiserver.py) with the code a rollout uses.  Real
 * PostgreSQL, real HTTP; the engine is ticked here, one pass at a time,
 * and "restarted" (a new engine on the same database) to show that a
 * controller dying between the record and the patch, or between the
 * patch and its outcome, loses nothing and patches once.
 *
 *   kserve:  storageUri follows promote, promote, rollback; no
 *            canaryTrafficPercent; the history says pending, then done
 *   crash:   record, die; patch (not ready yet), die; the next engine
 *            patches nothing more and sees it served
 *   gateway: every request to the stable backend (100 / 0)
 *   failed:  a missing InferenceService fails with its name and is tried
 *            again until it exists
 *   superseded: two changes before a pass move the traffic once; a
 *            rollout taking the target supersedes a pending change
 *   command: a target without a provider moves nothing
 *   cli:     `sluice models promote` says the controller moves the traffic
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../support/kubefake.h"
#include "../support/testapi.h"
#include "../support/testdb.h"
#include "../support/testjson.h"
#include "../support/testseed.h"
#include "base/cfg.h"
#include "engine/engine.h"
#include "fake_executor.h"
#include "kube/kube_api.h"
#include "kube/kube_traffic.h"
#include "kube/kubeconfig.h"
#include "store/db.h"

#define SHA_A	"0123456789abcdef0123456789abcdef01234567"
#define NS	"ml"

static struct kubefake fake;

struct fixture {
	struct apifix		*f;
	char			 dir[512];
	struct cfg		*cfg;
	struct executor		 ex;
	struct fake_executor	*fx;
	struct engine		*e;
	struct kube_api		*k;
	int64_t			 repo, commit;
	char			 token[64];	/* unique names of this test */
};

static void
die_err(const char *what, const struct err *err)
{
	fail_msg("%s: %s", what, err->msg);
}

/* A new engine on the fixture's database (the controller restarted). */
static void
engine_up(struct fixture *x)
{
	struct engine_opts o = {
		.poll_ms = 20, .sweep_ms = 100, .backoff_ms = 50,
		.backoff_max_ms = 200, .timeout_margin_ms = 100,
	};
	struct err err;

	if (engine_new(&x->e, x->cfg, x->ex, &err) < 0)
		die_err("engine", &err);
	engine_set_opts(x->e, &o);
	engine_set_kube(x->e, x->k, NS);
}

/* The controller dies: nothing of the engine survives but the database. */
static void
engine_down(struct fixture *x)
{
	engine_free(x->e);
	x->e = NULL;
}

static void
tick(struct fixture *x)
{
	struct err err;

	if (engine_tick(x->e, &err) < 0)
		die_err("engine tick", &err);
}

/*
 * Pipeline NAME whose canary rolls out to target with traffic (a flow
 * mapping, or NULL for provider command); a finished run of it whose
 * train stage registered model NAME v1 and v2 (s3://models/NAME/1, /2).
 */
static void
pipeline(struct fixture *x, const char *name, const char *target,
    const char *traffic)
{
	char yaml[2048], path[128];
	int64_t version, run;

	(void)snprintf(yaml, sizeof(yaml),
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata: {name: %s}\n"
	    "spec:\n"
	    "  stages:\n"
	    "    - name: train\n"
	    "      image: registry.example.com/ml/train:1.0\n"
	    "      command: [train]\n"
	    "    - name: rollout\n"
	    "      needs: [train]\n"
	    "      type: canary\n"
	    "      image: registry.example.com/ml/train:1.0\n"
	    "      command: [smoke]\n"
	    "      canary:\n"
	    "        target: %s\n"
	    "%s%s%s"
	    "        steps: [{weight: 100, approval: required}]\n",
	    name, target, traffic != NULL ? "        traffic: " : "",
	    traffic != NULL ? traffic : "", traffic != NULL ? "\n" : "");
	(void)snprintf(path, sizeof(path), "pipelines/%s.yaml", name);
	version = seed_version(x->f->db, x->repo, x->commit, path, yaml, NULL,
	    NULL);
	run = seed_run(x->f->db, version, "push", "main", NULL);
	seed_sql(x->f->db, "UPDATE runs SET status = 'succeeded',"
	    " started_at = now(), finished_at = now() WHERE id = %lld;"
	    "UPDATE stages SET status = 'succeeded', finished_at = now()"
	    " WHERE run_id = %lld", (long long)run, (long long)run);
	for (int v = 1; v <= 2; v++)
		(void)seed_model(x->f->db, seed_attempt(x->f->db, run, "train",
		    v, 0, "succeeded"), name, v, "registered", NULL, "{}");
}

/* Create an object in the fake (plural, namespace NS, JSON object). */
static void
object(const char *plural, const char *json)
{
	char body[2048];

	(void)snprintf(body, sizeof(body), "{\"plural\": \"%s\", \"namespace\":"
	    " \"" NS "\", \"object\": %s}", plural, json);
	kubefake_post(&fake, "/_fake/create", body);
}

static void
isvc(const char *name, const char *uri, int percent)
{
	char json[1024];

	(void)snprintf(json, sizeof(json), "{\"metadata\": {\"name\": \"%s\"},"
	    " \"spec\": {\"predictor\": {\"canaryTrafficPercent\": %d,"
	    " \"model\": {\"modelFormat\": {\"name\": \"sklearn\"},"
	    " \"storageUri\": \"%s\"}}}}", name, percent, uri);
	object("inferenceservices", json);
}

static void
isvc_get(struct fixture *x, const char *name, struct kube_isvc *out)
{
	struct err err;

	if (kube_isvc_get(x->k, NS, name, out, &err) < 0)
		die_err("get inferenceservice", &err);
}

static long
patches(const char *plural)
{
	char key[96];

	(void)snprintf(key, sizeof(key), "requests.merge-patch %s", plural);
	return kubefake_stat(&fake, key);
}

/* POST a manual action as the approver; the history entry it answers. */
static json_t *
manual(struct fixture *x, const char *path, const char *body)
{
	struct testreply rp;
	json_t *j;

	testapi_as(x->f->a, &rp, x->f->approver, "POST", path, body);
	if (rp.status != 200)
		fail_msg("POST %s: %ld %s", path, rp.status, rp.body);
	j = tj_parse(rp.body);
	testreply_free(&rp);
	return j;
}

/* The target's newest history entry. */
static json_t *
latest(struct fixture *x, const char *target)
{
	struct testreply rp;
	char path[256];
	json_t *j;

	(void)snprintf(path, sizeof(path), "/api/v1/targets/%s/history?limit=1",
	    target);
	testapi_as(x->f->a, &rp, x->f->viewer, "GET", path, NULL);
	if (rp.status != 200)
		fail_msg("GET %s: %ld %s", path, rp.status, rp.body);
	j = tj_parse(rp.body);
	testreply_free(&rp);
	return j;
}

static int
state_is(struct fixture *x, const char *target, const char *state)
{
	json_t *j = latest(x, target);
	int is = !tj_is_null(j, "history[0].traffic") &&
	    strcmp(tj_str(j, "history[0].traffic.state"), state) == 0;

	json_decref(j);
	return is;
}

/*
 * Tick until the target's newest entry's traffic is in state (a bound
 * against a hang on a loaded machine, not a measure).
 */
static void
tick_until(struct fixture *x, const char *target, const char *state)
{
	for (int i = 0; i < 1500; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		tick(x);
		if (state_is(x, target, state))
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("target %s: traffic never %s", target, state);
}

static void
assert_contains(const char *s, const char *needle)
{
	if (s == NULL || strstr(s, needle) == NULL)
		fail_msg("'%s' lacks '%s'", s != NULL ? s : "(null)", needle);
}

static int
group_setup(void **state)
{
	(void)state;
	return kubefake_start(&fake, (const char *const[]){ "--isvc-ready-ms",
	    "100", NULL });
}

static int
group_teardown(void **state)
{
	(void)state;
	kubefake_stop(&fake);
	return 0;
}

static int
setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	char dburl[2200], st[600], *envp[3];
	struct kube_auth *auth = NULL;
	struct err err;

	if (x == NULL || test_tmpdir(x->dir, sizeof(x->dir)) < 0 ||
	    (x->f = apifix_start(NULL, NULL)) == NULL)
		return -1;
	(void)snprintf(dburl, sizeof(dburl), "SLUICE_DATABASE_URL=%s",
	    x->f->a->t.url);
	(void)snprintf(st, sizeof(st), "SLUICE_STATE_DIR=%s/state", x->dir);
	envp[0] = dburl;
	envp[1] = st;
	envp[2] = NULL;
	if (cfg_load(&x->cfg, NULL, envp, NULL, 0, &err) < 0 ||
	    kube_auth_from_kubeconfig(&auth, kubefake_path(&fake, "kubeconfig"),
	    NULL, &err) < 0 || kube_api_new(&x->k, auth, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		kube_auth_free(auth);
		return -1;
	}
	kube_auth_free(auth);
	x->fx = fake_executor_new(&x->ex);
	/* new revisions become ready (a failed test may have held them) */
	kubefake_post(&fake, "/_fake/config", "{\"isvc_hold\": false}");
	x->repo = seed_repo(x->f->db, "ml", "{main}");
	x->commit = seed_commit(x->f->db, x->repo, SHA_A, "m", "Ada");
	engine_up(x);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *x = *state;

	engine_down(x);
	fake_executor_free(x->fx);
	kube_api_free(x->k);
	cfg_free(x->cfg);
	apifix_stop(x->f);
	test_rmtree(x->dir);
	free(x);
	return 0;
}

static void
follow__kserve_storage_uri_follows_promotions_and_rollbacks(void **state)
{
	struct fixture *x = *state;
	struct kube_isvc got;
	long before = patches("inferenceservices");
	json_t *j;

	pipeline(x, "fraud", "fraud-api",
	    "{provider: kserve, inference_service: fraud}");
	/* a canary left at 30% by hand, serving an older model */
	isvc("fraud", "s3://models/fraud/base", 30);

	/* the API records the change and its traffic; it patches nothing */
	j = manual(x, "/api/v1/models/fraud/versions/1/promote",
	    "{\"target\": \"fraud-api\", \"comment\": \"first\"}");
	assert_string_equal(tj_str(j, "traffic.provider"), "kserve");
	assert_string_equal(tj_str(j, "traffic.object"), "fraud");
	assert_string_equal(tj_str(j, "traffic.state"), "pending");
	json_decref(j);
	assert_int_equal(patches("inferenceservices"), before);

	/* the engine moves it: every request to v1, then served */
	tick(x);
	assert_int_equal(patches("inferenceservices"), before + 1);
	isvc_get(x, "fraud", &got);
	assert_string_equal(got.storage_uri, "s3://models/fraud/1");
	assert_int_equal(got.canary_percent, -1);
	tick_until(x, "fraud-api", "done");
	j = latest(x, "fraud-api");
	assert_contains(tj_str(j, "history[0].traffic.message"),
	    "inferenceservice fraud serves s3://models/fraud/1 to every "
	    "request");
	json_decref(j);
	/* nothing left to do: no second patch */
	tick(x);
	assert_int_equal(patches("inferenceservices"), before + 1);

	/* v2 by hand, then rolled back to v1: the storageUri follows */
	json_decref(manual(x, "/api/v1/models/fraud/versions/2/promote",
	    "{\"target\": \"fraud-api\"}"));
	tick_until(x, "fraud-api", "done");
	isvc_get(x, "fraud", &got);
	assert_string_equal(got.storage_uri, "s3://models/fraud/2");
	j = manual(x, "/api/v1/models/fraud/rollback",
	    "{\"target\": \"fraud-api\", \"comment\": \"too slow\"}");
	assert_int_equal(tj_int(j, "version"), 1);
	assert_string_equal(tj_str(j, "traffic.state"), "pending");
	json_decref(j);
	tick_until(x, "fraud-api", "done");
	isvc_get(x, "fraud", &got);
	assert_string_equal(got.storage_uri, "s3://models/fraud/1");
	assert_int_equal(got.canary_percent, -1);
	assert_int_equal(patches("inferenceservices"), before + 3);
	/* each change keeps its own traffic outcome in the history */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " production_traffic WHERE target = 'fraud-api' AND state = 'done'"
	    " AND finished_at IS NOT NULL"), 3);
}

static void
follow__a_controller_killed_between_record_and_patch_patches_once(
    void **state)
{
	struct fixture *x = *state;
	struct kube_isvc got;
	long before;
	json_t *j;

	pipeline(x, "churn", "churn-api",
	    "{provider: kserve, inference_service: churn}");
	isvc("churn", "s3://models/churn/base", 0);
	kubefake_post(&fake, "/_fake/config", "{\"isvc_hold\": true}");
	before = patches("inferenceservices");

	/* recorded; the controller dies before any pass */
	json_decref(manual(x, "/api/v1/models/churn/versions/1/promote",
	    "{\"target\": \"churn-api\"}"));
	engine_down(x);
	assert_int_equal(patches("inferenceservices"), before);

	/* the next one patches; the new revision is not ready yet */
	engine_up(x);
	tick(x);
	assert_int_equal(patches("inferenceservices"), before + 1);
	j = latest(x, "churn-api");
	assert_string_equal(tj_str(j, "history[0].traffic.state"), "pending");
	assert_contains(tj_str(j, "history[0].traffic.message"),
	    "inferenceservice churn");
	assert_contains(tj_str(j, "history[0].traffic.message"),
	    "RevisionMissing");
	json_decref(j);

	/* it dies after the patch, before the outcome: the next one reads,
	 * finds nothing to change, and waits for the revision */
	engine_down(x);
	engine_up(x);
	tick(x);
	tick(x);
	assert_int_equal(patches("inferenceservices"), before + 1);
	kubefake_post(&fake, "/_fake/config", "{\"isvc_hold\": false}");
	tick_until(x, "churn-api", "done");
	assert_int_equal(patches("inferenceservices"), before + 1);
	isvc_get(x, "churn", &got);
	assert_string_equal(got.storage_uri, "s3://models/churn/1");
	assert_int_equal(got.canary_percent, -1);
}

static void
follow__gateway_sends_every_request_to_the_stable_backend(void **state)
{
	struct fixture *x = *state;
	struct kube_route_sel sel = { "shop", "shop-v1", "shop-canary", -1,
	    NULL };
	struct err err;
	long before;
	json_t *j, *o;
	char *body = NULL;

	pipeline(x, "shop", "shop-api", "{provider: gateway, gateway: {route: "
	    "shop, stable_backend: shop-v1, canary_backend: shop-canary}}");
	object("httproutes", "{\"metadata\": {\"name\": \"shop\"}, \"spec\":"
	    " {\"parentRefs\": [{\"name\": \"gw\"}], \"rules\": ["
	    "{\"backendRefs\": [{\"name\": \"shop-v1\", \"port\": 80,"
	    " \"weight\": 100}, {\"name\": \"shop-canary\", \"port\": 80,"
	    " \"weight\": 0}]}]}}");
	json_decref(manual(x, "/api/v1/models/shop/versions/1/promote",
	    "{\"target\": \"shop-api\"}"));
	json_decref(manual(x, "/api/v1/models/shop/versions/2/promote",
	    "{\"target\": \"shop-api\"}"));
	/* as a rollout's promotion leaves it: every request to the canary */
	if (kube_route_set_weights(x->k, NS, &sel, 0, 100, NULL, &err) < 0)
		die_err("route weights", &err);
	before = patches("httproutes");

	/* rolled back by hand: the stable backend takes every request */
	j = manual(x, "/api/v1/models/shop/rollback", "{\"target\": "
	    "\"shop-api\"}");
	assert_string_equal(tj_str(j, "traffic.provider"), "gateway");
	assert_string_equal(tj_str(j, "traffic.object"), "shop");
	json_decref(j);
	tick_until(x, "shop-api", "done");
	assert_int_equal(patches("httproutes"), before + 1);
	assert_int_equal(kubefake_call(&fake, "GET", "/_fake/objects", NULL,
	    &body), 200);
	o = tj_parse(body);
	free(body);
	for (size_t i = 0; i < tj_len(o, "httproutes"); i++) {
		char p[96];

		(void)snprintf(p, sizeof(p), "httproutes[%zu].metadata.name", i);
		if (strcmp(tj_str(o, p), "shop") != 0)
			continue;
		(void)snprintf(p, sizeof(p), "httproutes[%zu].spec.rules[0]."
		    "backendRefs[0].weight", i);
		assert_int_equal(tj_int(o, p), 100);
		(void)snprintf(p, sizeof(p), "httproutes[%zu].spec.rules[0]."
		    "backendRefs[1].weight", i);
		assert_int_equal(tj_int(o, p), 0);
	}
	json_decref(o);
	j = latest(x, "shop-api");
	assert_contains(tj_str(j, "history[0].traffic.message"),
	    "httproute shop sends every request to its stable backend "
	    "shop-v1");
	json_decref(j);
	/* the two promotions before the pass were superseded by the last */
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " production_traffic WHERE target = 'shop-api'"
	    " AND state = 'superseded' AND message = 'superseded by a later"
	    " production change of target shop-api'"), 2);
}

static void
follow__a_missing_inferenceservice_fails_by_name_and_is_tried_again(
    void **state)
{
	struct fixture *x = *state;
	json_t *j;

	pipeline(x, "ghost", "ghost-api",
	    "{provider: kserve, inference_service: ghost}");
	json_decref(manual(x, "/api/v1/models/ghost/versions/1/promote",
	    "{\"target\": \"ghost-api\"}"));
	tick_until(x, "ghost-api", "failed");
	j = latest(x, "ghost-api");
	assert_contains(tj_str(j, "history[0].traffic.message"),
	    "inferenceservice");
	assert_contains(tj_str(j, "history[0].traffic.message"), "ghost");
	assert_contains(tj_str(j, "history[0].traffic.message"), "not found");
	json_decref(j);
	/* the object appears: the next try (after the sweep) moves it */
	isvc("ghost", "s3://models/ghost/base", 0);
	tick_until(x, "ghost-api", "done");
	assert_true(seed_sql(x->f->db, "SELECT tries FROM production_traffic"
	    " WHERE target = 'ghost-api'") >= 2);
}

static void
follow__a_rollout_taking_the_target_supersedes_a_pending_change(
    void **state)
{
	struct fixture *x = *state;
	long before;
	json_t *j;
	char want[128];
	int64_t run;

	pipeline(x, "risk", "risk-api",
	    "{provider: kserve, inference_service: risk}");
	isvc("risk", "s3://models/risk/base", 0);
	before = patches("inferenceservices");
	json_decref(manual(x, "/api/v1/models/risk/versions/1/promote",
	    "{\"target\": \"risk-api\"}"));
	/* before the engine's pass, a run's rollout takes the target */
	run = seed_sql(x->f->db, "SELECT run_id FROM model_versions"
	    " WHERE name = 'risk' AND version = 1");
	seed_sql(x->f->db, "INSERT INTO target_leases (target, run_id,"
	    " stage_id) SELECT 'risk-api', run_id, id FROM stages"
	    " WHERE run_id = %lld AND name = 'rollout'", (long long)run);
	tick(x);
	assert_true(state_is(x, "risk-api", "superseded"));
	j = latest(x, "risk-api");
	(void)snprintf(want, sizeof(want), "superseded: target risk-api is "
	    "being rolled out by run %lld", (long long)run);
	assert_string_equal(tj_str(j, "history[0].traffic.message"), want);
	json_decref(j);
	tick(x);
	assert_int_equal(patches("inferenceservices"), before);
}

static void
follow__a_target_without_a_provider_moves_nothing(void **state)
{
	struct fixture *x = *state;
	long before = kubefake_stat(&fake, "total");
	json_t *j;

	pipeline(x, "plain", "plain-api", NULL);
	j = manual(x, "/api/v1/models/plain/versions/1/promote",
	    "{\"target\": \"plain-api\"}");
	assert_true(tj_is_null(j, "traffic"));
	json_decref(j);
	tick(x);
	assert_int_equal(seed_sql(x->f->db, "SELECT count(*) FROM"
	    " production_traffic"), 0);
	/* the engine asked Kubernetes nothing */
	assert_int_equal(kubefake_stat(&fake, "total"), before);
}

static void
follow__the_cli_says_the_controller_moves_the_traffic(void **state)
{
	struct fixture *x = *state;
	char server[128], token[128], bin[600];
	const char *argv[] = { bin, "models", "promote", "cli", "v1",
	    "--target", "cli-api", NULL };
	const char *env[] = { server, token, NULL };
	struct testproc p;

	pipeline(x, "cli", "cli-api",
	    "{provider: kserve, inference_service: cli}");
	(void)snprintf(bin, sizeof(bin), "%s", test_env("SLUICE_BIN"));
	(void)snprintf(server, sizeof(server), "SLUICE_SERVER=%s",
	    x->f->a->base);
	(void)snprintf(token, sizeof(token), "SLUICE_TOKEN=%s",
	    x->f->approver);
	assert_int_equal(testproc_run(&p, argv, env), 0);
	if (p.status != 0)
		fail_msg("sluice models promote: %d %s %s", p.status, p.out,
		    p.err);
	assert_contains(p.out, "cli v1 is in production on cli-api\n"
	    "traffic: kserve cli pending (moved by the controller; the "
	    "target's history says when it is done)\n");
	testproc_release(&p);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(follow__kserve_storage_uri_follows_promotions_and_rollbacks),
		T(follow__a_controller_killed_between_record_and_patch_patches_once),
		T(follow__gateway_sends_every_request_to_the_stable_backend),
		T(follow__a_missing_inferenceservice_fails_by_name_and_is_tried_again),
		T(follow__a_rollout_taking_the_target_supersedes_a_pending_change),
		T(follow__a_target_without_a_provider_moves_nothing),
		T(follow__the_cli_says_the_controller_moves_the_traffic),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
