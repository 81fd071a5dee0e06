/* test_attempt_spec.c - an attempt's spec survives its JSON round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/attempt_spec.h"

static void
attempt_spec__round_trips_through_json(void **state)
{
	struct attempt_spec s, back;
	struct exec_attempt a;
	struct err err;
	char *json = NULL, *again = NULL;

	(void)state;
	attempt_spec_init(&s);
	s.image = strdup("python:3.11-slim");
	attempt_spec_arg(&s, "python3");
	attempt_spec_arg(&s, "train.py --with \"quotes\" and spaces");
	attempt_spec_env(&s, "SLUICE_RUN_ID", "42");
	attempt_spec_env(&s, "EMPTY", "");
	s.timeout_ms = 600000;
	s.gpus = 2;
	s.gpu_resource = strdup("nvidia.com/gpu");
	s.cpu = strdup("4");
	s.workdir = strdup("/var/sluice/work/42");
	s.checkout = 1;
	assert_int_equal(attempt_spec_to_json(&s, &json, &err), 0);
	assert_int_equal(attempt_spec_from_json(&back, json, &err), 0);
	assert_int_equal(attempt_spec_to_json(&back, &again, &err), 0);
	assert_string_equal(json, again);
	attempt_spec_to_exec(&back, &a);
	assert_int_equal(a.argc, 2);
	assert_string_equal(a.argv[1], "train.py --with \"quotes\" and spaces");
	assert_int_equal(a.nenv, 2);
	assert_string_equal(a.env[1].name, "EMPTY");
	assert_string_equal(a.env[1].value, "");
	assert_int_equal(a.timeout_ms, 600000);
	assert_int_equal(a.gpus, 2);
	assert_null(a.memory);
	assert_string_equal(a.workdir, "/var/sluice/work/42");
	assert_int_equal(a.checkout, 1);
	free(json);
	free(again);
	attempt_spec_release(&s);
	attempt_spec_release(&back);
}

static void
attempt_spec__refuses_malformed_json(void **state)
{
	struct attempt_spec s;
	struct err err;

	(void)state;
	assert_int_equal(attempt_spec_from_json(&s, "{", &err), ERR_INVALID);
	assert_int_equal(attempt_spec_from_json(&s, "{\"command\": [1]}",
	    &err), ERR_INVALID);
	assert_int_equal(attempt_spec_from_json(&s, "[]", &err), ERR_INVALID);
}

static void
attempt_spec__pod_identity_round_trips_and_old_specs_have_none(void **state)
{
	struct attempt_spec s, back;
	struct exec_attempt a;
	struct err err;
	char *json = NULL;

	(void)state;
	attempt_spec_init(&s);
	attempt_spec_arg(&s, "true");
	s.service_account = strdup("trainer");
	s.security_context.set = 1;
	s.security_context.id[PODSEC_RUN_AS_USER] = 0;
	s.security_context.id[PODSEC_FS_GROUP] = 1000;
	assert_int_equal(attempt_spec_to_json(&s, &json, &err), 0);
	assert_int_equal(attempt_spec_from_json(&back, json, &err), 0);
	memset(&a, 0, sizeof(a));
	attempt_spec_to_exec(&back, &a);
	assert_string_equal(a.service_account, "trainer");
	assert_non_null(a.security_context);
	assert_int_equal(a.security_context->id[PODSEC_RUN_AS_USER], 0);
	assert_int_equal(a.security_context->id[PODSEC_FS_GROUP], 1000);
	assert_int_equal(a.security_context->id[PODSEC_RUN_AS_GROUP], -1);
	assert_int_equal(a.security_context->run_as_non_root, -1);
	attempt_spec_release(&back);
	free(json);
	/* a spec recorded before these fields existed: none given */
	assert_int_equal(attempt_spec_from_json(&back, "{\"image\": null, "
	    "\"command\": [\"true\"], \"env\": [], \"timeout_ms\": 0, "
	    "\"resources\": {\"gpu\": 0}, \"node_selector\": [], "
	    "\"tolerations\": [], \"volumes\": []}", &err), 0);
	memset(&a, 0, sizeof(a));
	attempt_spec_to_exec(&back, &a);
	assert_null(a.service_account);
	assert_null(a.security_context);
	attempt_spec_release(&back);
	/* a mistyped key is malformed */
	assert_int_equal(attempt_spec_from_json(&back, "{\"image\": null, "
	    "\"command\": [\"true\"], \"env\": [], \"timeout_ms\": 0, "
	    "\"resources\": {\"gpu\": 0}, \"node_selector\": [], "
	    "\"tolerations\": [], \"volumes\": [], \"security_context\": "
	    "{\"run_as_user\": \"root\"}}", &err), ERR_INVALID);
	attempt_spec_release(&s);
}

static void
attempt_spec__nodes_round_trip_and_old_specs_run_on_one(void **state)
{
	struct attempt_spec s, back;
	struct exec_attempt a;
	struct err err;
	char *json = NULL;

	(void)state;
	attempt_spec_init(&s);
	attempt_spec_arg(&s, "torchrun");
	s.nodes = 4;
	assert_int_equal(attempt_spec_to_json(&s, &json, &err), 0);
	assert_non_null(strstr(json, "\"nodes\":4"));
	assert_int_equal(attempt_spec_from_json(&back, json, &err), 0);
	attempt_spec_to_exec(&back, &a);
	assert_int_equal(a.nodes, 4);
	attempt_spec_release(&back);
	free(json);
	/* a spec recorded before multi-node stages: one node */
	assert_int_equal(attempt_spec_from_json(&back, "{\"image\":null,"
	    "\"command\":[\"true\"],\"env\":[],\"timeout_ms\":0,"
	    "\"resources\":{\"gpu\":0},\"node_selector\":[],"
	    "\"tolerations\":[],\"volumes\":[]}", &err), 0);
	attempt_spec_to_exec(&back, &a);
	assert_int_equal(a.nodes, 1);
	attempt_spec_release(&back);
	/* a node count out of range is a malformed spec */
	assert_int_equal(attempt_spec_from_json(&back, "{\"image\":null,"
	    "\"command\":[\"true\"],\"env\":[],\"timeout_ms\":0,"
	    "\"resources\":{\"gpu\":0},\"node_selector\":[],"
	    "\"tolerations\":[],\"volumes\":[],\"nodes\":0}", &err),
	    ERR_INVALID);
	attempt_spec_release(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attempt_spec__round_trips_through_json),
		cmocka_unit_test(attempt_spec__refuses_malformed_json),
		cmocka_unit_test(
		    attempt_spec__pod_identity_round_trips_and_old_specs_have_none),
		cmocka_unit_test(
		    attempt_spec__nodes_round_trip_and_old_specs_run_on_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
