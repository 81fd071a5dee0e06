#!/usr/bin/env bash
# Run test programs (cmocka binaries or *.sh scripts), each with its output
# shown, and end with one summary line: "N passed, N failed".
# Counts come from cmocka's own summary lines; a script counts as one test.
set -uo pipefail
passed=0 failed=0 failed_names=()
for t in "$@"; do
	echo "=== $t"
	out=$(mktemp)
	if [[ $t == *.sh ]]; then
		bash "$t" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		if [ "$rc" = 0 ]; then passed=$((passed + 1)); else
			failed=$((failed + 1)); failed_names+=("$t"); fi
	else
		"$t" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		if [ "$rc" != 0 ]; then
			failed_names+=("$t")
			# a crash before cmocka's summary still counts as a failure
			[ -n "$f" ] || failed=$((failed + 1))
		fi
	fi
	rm -f "$out"
done
echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed programs: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ ${#failed_names[@]} = 0 ]
