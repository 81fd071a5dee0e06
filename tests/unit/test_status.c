/*
 * test_status.c - the status name tables: every value has the string the
 * database's CHECK lists hold, parsing gives it back, and anything else
 * read from a row is ERR_INVALID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "store/status.h"

static void
status__names_are_the_stored_strings(void **state)
{
	(void)state;
	assert_string_equal(run_status_name(RUN_QUEUED), "queued");
	assert_string_equal(run_status_name(RUN_WAITING_APPROVAL),
	    "waiting_approval");
	assert_string_equal(run_status_name(RUN_CANCELED), "canceled");
	assert_string_equal(stage_status_name(STAGE_SKIPPED), "skipped");
	assert_string_equal(stage_status_name(STAGE_SUBMITTED), "submitted");
	assert_string_equal(attempt_status_name(ATTEMPT_RUNNING), "running");
	assert_string_equal(attempt_kind_name(ATTEMPT_CANARY_STEP),
	    "canary_step");
	assert_string_equal(attempt_kind_name(ATTEMPT_ROLLBACK), "rollback");
	assert_string_equal(rollout_status_name(ROLLOUT_ROLLING_BACK),
	    "rolling_back");
	assert_string_equal(rollout_status_name(ROLLOUT_ROLLED_BACK),
	    "rolled_back");
	assert_string_equal(approval_status_name(APPROVAL_EXPIRED), "expired");
	assert_string_equal(model_status_name(MODEL_PRODUCTION), "production");
}

static void
status__every_name_parses_back(void **state)
{
	(void)state;
	for (int i = RUN_QUEUED; i <= RUN_CANCELED; i++) {
		enum run_status v = RUN_QUEUED;

		assert_int_equal(run_status_parse(run_status_name(
		    (enum run_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = STAGE_PENDING; i <= STAGE_SKIPPED; i++) {
		enum stage_status v = STAGE_PENDING;

		assert_int_equal(stage_status_parse(stage_status_name(
		    (enum stage_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = ATTEMPT_PENDING; i <= ATTEMPT_CANCELED; i++) {
		enum attempt_status v = ATTEMPT_PENDING;

		assert_int_equal(attempt_status_parse(attempt_status_name(
		    (enum attempt_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = ATTEMPT_JOB; i <= ATTEMPT_ROLLBACK; i++) {
		enum attempt_kind v = ATTEMPT_JOB;

		assert_int_equal(attempt_kind_parse(attempt_kind_name(
		    (enum attempt_kind)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = ROLLOUT_PROGRESSING; i <= ROLLOUT_FAILED; i++) {
		enum rollout_status v = ROLLOUT_PROGRESSING;

		assert_int_equal(rollout_status_parse(rollout_status_name(
		    (enum rollout_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = APPROVAL_PENDING; i <= APPROVAL_EXPIRED; i++) {
		enum approval_status v = APPROVAL_PENDING;

		assert_int_equal(approval_status_parse(approval_status_name(
		    (enum approval_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
	for (int i = MODEL_REGISTERED; i <= MODEL_REJECTED; i++) {
		enum model_status v = MODEL_REGISTERED;

		assert_int_equal(model_status_parse(model_status_name(
		    (enum model_status)i), &v, NULL), 0);
		assert_int_equal(v, i);
	}
}

static void
status__an_unknown_string_is_invalid_and_changes_nothing(void **state)
{
	static const char *bad[] = { "", "Running", "running ", "done",
	    "waiting-approval", "rolledback" };
	enum stage_status st = STAGE_RUNNING;
	enum run_status r = RUN_FAILED;
	enum rollout_status ro = ROLLOUT_ANALYZING;
	enum attempt_kind k = ATTEMPT_ROLLBACK;
	struct err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(stage_status_parse(bad[i], &st, &err),
		    ERR_INVALID);
		assert_int_equal(run_status_parse(bad[i], &r, &err),
		    ERR_INVALID);
		assert_int_equal(rollout_status_parse(bad[i], &ro, &err),
		    ERR_INVALID);
		assert_int_equal(attempt_kind_parse(bad[i], &k, &err),
		    ERR_INVALID);
	}
	assert_int_equal(st, STAGE_RUNNING);
	assert_int_equal(r, RUN_FAILED);
	assert_int_equal(ro, ROLLOUT_ANALYZING);
	assert_int_equal(k, ATTEMPT_ROLLBACK);
	assert_int_equal(stage_status_parse(NULL, &st, &err), ERR_INVALID);
	assert_string_equal(err.msg, "unknown stage status '(null)'");
	assert_int_equal(approval_status_parse("maybe", NULL, &err),
	    ERR_INVALID);
	assert_string_equal(err.msg, "unknown approval status 'maybe'");
	/* a run's status is not a stage's */
	assert_int_equal(stage_status_parse("queued", &st, &err), ERR_INVALID);
	assert_int_equal(run_status_parse("skipped", &r, &err), ERR_INVALID);
}

static void
status__final_states_are_the_ones_with_finished_at(void **state)
{
	(void)state;
	assert_true(run_status_final(RUN_SUCCEEDED));
	assert_true(run_status_final(RUN_CANCELED));
	assert_false(run_status_final(RUN_WAITING_APPROVAL));
	assert_true(stage_status_final(STAGE_SKIPPED));
	assert_false(stage_status_final(STAGE_PENDING));
	assert_false(stage_status_final(STAGE_WAITING_APPROVAL));
	assert_true(attempt_status_final(ATTEMPT_CANCELED));
	assert_false(attempt_status_final(ATTEMPT_SUBMITTED));
	assert_true(rollout_status_final(ROLLOUT_ROLLED_BACK));
	assert_false(rollout_status_final(ROLLOUT_ROLLING_BACK));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status__names_are_the_stored_strings),
		cmocka_unit_test(status__every_name_parses_back),
		cmocka_unit_test(
		    status__an_unknown_string_is_invalid_and_changes_nothing),
		cmocka_unit_test(
		    status__final_states_are_the_ones_with_finished_at),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
