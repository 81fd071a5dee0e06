#!/usr/bin/env bash
# Run test programs (cmocka binaries or *.sh scripts) in parallel and end
# with the summary.
#
#   scripts/run-tests.sh PROGRAM...
#
# TEST_JOBS programs run at once (default: twice the number of CPUs, as
# most programs spend their time waiting on child processes, PostgreSQL,
# servers and timers rather than on a CPU).  Each one's
# output is kept in a file and printed whole when it ends, under a header
# "=== PROGRAM (ok|FAILED, N s)", so outputs never interleave.  Counts come
# from cmocka's own summary lines; a script counts as one test; a program
# that dies before cmocka's summary counts one failure more.
#
# TEST_TIMES, when set, names a file of "SECONDS PROGRAM" lines: programs
# start longest first (unknown ones before known ones, in the order given),
# and the file is updated with this run's times.
#
# TEST_AFTER, when set, names programs (space-separated) that run once
# every other program has ended, counted in the same summary: checks of
# what the others left behind (tests/api/contract.sh).
#
# Each header also gives the CPU seconds the program and the processes it
# waited for used (user + system; a daemon it left running, like the shared
# PostgreSQL, is not counted), and the programs that used most CPU are
# listed before the summary: on a machine of few cores the suite's time
# is bounded by its CPU.
#
# A failed program's last 40 lines are printed again before the summary,
# so a log cut to its tail still shows why.
#
# The last line is the summary with the wall time:
#
#	412 passed, 0 failed in 163 s, 4 jobs at once
set -uo pipefail

jobs=${TEST_JOBS:-$((2 * $(nproc 2>/dev/null || echo 2)))}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run-tests: TEST_JOBS='$jobs' is not a positive number" >&2; exit 2; }

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# Longest first, by the previous run's times.
order=("$@")
if [ -n "${TEST_TIMES:-}" ] && [ -s "$TEST_TIMES" ] && [ $# -gt 1 ]; then
	mapfile -t order < <(awk 'NR == FNR { t[$2] = $1; next }
	    { printf "%s %d %s\n", ($0 in t) ? t[$0] : 1e9, FNR, $0 }' \
	    "$TEST_TIMES" <(printf '%s\n' "$@") |
	    sort -k1,1nr -k2,2n | cut -d' ' -f3-)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/run-tests.XXXXXX")
declare -A name_of=() start_of=()
times=() cpus=()
cleanup() {
	local p
	for p in "${!name_of[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0 failed=0 failed_names=() n=0 t0=$(now_ms)

# Run one program in this subshell and write the CPU time of the
# processes it waited for to $out.cpu.  A TERM or INT is passed on to it
# (a background command would ignore SIGINT).
run_one() {
	local t=$1 out=$2 c rc
	if [[ $t == *.sh ]]; then
		bash "$t" >"$out" 2>&1 </dev/null &
	else
		"$t" >"$out" 2>&1 </dev/null &
	fi
	c=$!
	trap 'kill -TERM "$c" 2>/dev/null' TERM INT
	while :; do
		wait "$c"
		rc=$?
		kill -0 "$c" 2>/dev/null || break
	done
	times >"$out.cpu" 2>/dev/null
	exit "$rc"
}

# Start one program; its output goes to $dir/N.
start() {
	local t=$1 out=$dir/$n
	n=$((n + 1))
	(run_one "$t" "$out") &
	name_of[$!]=$t
	start_of[$!]=$(now_ms):$out
}

# The CPU seconds in the second line of `times` (children's user, system).
cpu_of() {
	awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) {
			split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2]
		}
		printf "%.1f", s
	}' "$1" 2>/dev/null
}

# Wait for any program, print its output and count its tests.
reap() {
	local pid rc t out ms p f verdict cpu
	while :; do
		wait -n -p pid
		rc=$?
		[ -n "${pid:-}" ] && [ -n "${name_of[$pid]:-}" ] && break
	done
	t=${name_of[$pid]}
	out=${start_of[$pid]#*:}
	ms=$(($(now_ms) - ${start_of[$pid]%%:*}))
	unset "name_of[$pid]" "start_of[$pid]"
	times+=("$(secs "$ms") $t")
	if [[ $t == *.sh ]]; then
		if [ "$rc" = 0 ]; then passed=$((passed + 1)); else
			failed=$((failed + 1)); fi
	else
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		# a crash before cmocka's summary still counts as a failure
		[ "$rc" = 0 ] || [ -n "$f" ] || failed=$((failed + 1))
	fi
	verdict=ok
	if [ "$rc" != 0 ]; then
		verdict="FAILED, exit $rc"
		failed_names+=("$t")
		tail -n 40 "$out" >"$dir/failed.${#failed_names[@]}"
	fi
	cpu=$(cpu_of "$out.cpu")
	cpus+=("${cpu:-0} $t")
	echo "=== $t ($verdict, $(secs "$ms") s, ${cpu:-?} CPU-s)"
	cat "$out"
	rm -f "$out" "$out.cpu"
}

for t in "${order[@]}"; do
	[ ${#name_of[@]} -lt "$jobs" ] || reap
	start "$t"
done
while [ ${#name_of[@]} -gt 0 ]; do
	reap
done
for t in ${TEST_AFTER:-}; do
	start "$t"
	reap
done

if [ -n "${TEST_TIMES:-}" ] && [ ${#times[@]} -gt 0 ]; then
	{
		printf '%s\n' "${times[@]}"
		if [ -f "$TEST_TIMES" ]; then cat "$TEST_TIMES"; fi
	} | awk '!seen[$2]++' >"$TEST_TIMES.new" && mv "$TEST_TIMES.new" "$TEST_TIMES"
fi

echo
if [ ${#cpus[@]} -gt 1 ]; then
	printf '%s\n' "${cpus[@]}" | sort -k1,1nr | awk '
	    { s += $1; if (NR <= 10) top[NR] = sprintf("  %7.1f  %s", $1, $2) }
	    END { printf "CPU seconds: %.0f in all; the most:\n", s
	          for (i = 1; i in top; i++) print top[i] }'
fi
if [ ${#failed_names[@]} -gt 0 ]; then
	# again at the end, where a log cut to its tail still shows why
	for i in "${!failed_names[@]}"; do
		echo "--- the last lines of ${failed_names[$i]}:"
		cat "$dir/failed.$((i + 1))"
	done
	echo "failed programs:"
	printf '  %s\n' "${failed_names[@]}"
fi
echo "$passed passed, $failed failed in $(( ($(now_ms) - t0 + 500) / 1000 )) s, $jobs jobs at once"
[ "$failed" = 0 ] && [ ${#failed_names[@]} = 0 ]
