#!/usr/bin/env bash
# `make fuzz`: one libFuzzer target per parser of outside input
# (tests/fuzz/fuzz_<name>.c), built with clang -fsanitize=fuzzer,address,
# undefined into build-fuzz/, each run for SECONDS (default 600) from its
# seed corpus tests/fuzz/corpus/<name>/ and its dictionary
# tests/fuzz/<name>.dict when there is one.
#
# What each target grows is kept in build-fuzz/corpus/<name>/ across runs
# (the committed seeds are never written to); its output goes to
# build-fuzz/<name>.log.  A crash, leak, timeout or broken invariant is
# written to build-fuzz/artifacts/<name>/, its path is printed and the run
# fails (after the other targets have run).  Replay one with
#	build-fuzz/fuzz_<name> build-fuzz/artifacts/<name>/crash-...
# and keep it as a regression seed in tests/fuzz/corpus/<name>/.
#
# Usage: scripts/fuzz.sh [SECONDS]
#	FUZZ_TARGETS=name,name	only these targets (default: all)
#	FUZZ_JOBS=N		N workers per target
#	FUZZ_CC=clang		the compiler
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
B=build-fuzz
CC=${FUZZ_CC:-clang}
pkgs="libgit2 libmicrohttpd libpq libcurl jansson yaml-0.1 libcrypto"

# name and -max_len of every target, in the order they run
declare -A maxlen=(
	[pipeline]=65536	# a pipeline file
	[jsonin]=8192		# request bodies and query strings
	[webhook]=16384		# GitHub push / retrain payloads
	[cursor]=512		# ?cursor= values
	[kubeconfig]=16384	# kubeconfig files
	[watch]=32768		# Kubernetes watch streams
	[stage_output]=65536	# stage logs (past LIM_OUTPUT_LINE)
)
all="pipeline jsonin webhook cursor kubeconfig watch stage_output"
targets=${FUZZ_TARGETS:-$all}
targets=${targets//,/ }
for t in $targets; do
	[ -n "${maxlen[$t]:-}" ] || {
		echo "fuzz: unknown target '$t' (targets: $all)" >&2; exit 2; }
done

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 1; }
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -pthread -fno-omit-frame-pointer
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-iquote controller $(pkg-config --cflags $pkgs))
libs=($(pkg-config --libs $pkgs) -pthread -lm)

# Every controller source but main.c, instrumented, in one archive: each
# target links only the objects it reaches.  An object is rebuilt when its
# source or a header it includes changed.
stale() {
	local o=$1 dep
	[ -f "$o" ] && [ -f "$o.d" ] || return 0
	for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$o.d"); do
		[ "$dep" -nt "$o" ] && return 0
	done
	return 1
}
mkdir -p "$B/obj"
objs=()
running=0
for s in controller/*.c controller/*/*.c; do
	[ "$s" = controller/main.c ] && continue
	o="$B/obj/$(echo "${s#controller/}" | tr / _ | sed 's/\.c$/.o/')"
	objs+=("$o")
	stale "$o" || continue
	"$CC" "${flags[@]}" -fsanitize=fuzzer-no-link -MMD -MF "$o.d" \
	    -c "$s" -o "$o" &
	running=$((running + 1))
	if [ "$running" -ge 2 ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
# (built aside and renamed, so that two runs may share build-fuzz/)
rm -f "$B/libsluice.a.$$"
ar rcs "$B/libsluice.a.$$" "${objs[@]}"
mv -f "$B/libsluice.a.$$" "$B/libsluice.a"
for t in $targets; do
	"$CC" "${flags[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" \
	    "$B/libsluice.a" "${libs[@]}" -o "$B/fuzz_$t"
done

# The pipeline target also starts from every pipeline of the fixtures.
mkdir -p "$B/seed/pipeline"
for f in tests/fixtures/*/*.yaml tests/fixtures/*/*.json pipelines/*.yaml \
    pipelines/*.yml; do
	[ -f "$f" ] && cp "$f" "$B/seed/pipeline/$(echo "$f" | tr / _)"
done

failed=()
for t in $targets; do
	mkdir -p "$B/corpus/$t" "$B/artifacts/$t" "$B/seed/$t"
	args=("$B/corpus/$t" "tests/fuzz/corpus/$t" "$B/seed/$t"
	    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
	    -max_len="${maxlen[$t]}" -print_final_stats=1
	    -artifact_prefix="$B/artifacts/$t/")
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	# with FUZZ_JOBS each worker logs to ./fuzz-N.log
	[ -n "${FUZZ_JOBS:-}" ] && args+=(-jobs="$FUZZ_JOBS" \
	    -workers="$FUZZ_JOBS")
	echo "fuzz: $t for ${secs}s (log $B/$t.log)"
	rc=0
	"$B/fuzz_$t" "${args[@]}" </dev/null >"$B/$t.log" 2>&1 || rc=$?
	logs=("$B/$t.log")
	for f in fuzz-[0-9]*.log; do [ -f "$f" ] && logs+=("$f"); done
	runs=$(awk '/stat::number_of_executed_units/ { n += $2 }
	    END { print n + 0 }' "${logs[@]}")
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$B/$t.log"
		grep -h 'Test unit written to' "${logs[@]}" |
		    sed 's/^/fuzz: /' || true
		echo "fuzz: $t FAILED after $runs executions (exit $rc)"
		failed+=("$t")
	else
		echo "fuzz: $t ok, $runs executions"
	fi
	rm -f fuzz-[0-9]*.log
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
