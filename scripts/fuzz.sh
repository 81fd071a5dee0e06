#!/usr/bin/env bash
# `make fuzz`: build the libFuzzer target of the pipeline parser with clang
# (-fsanitize=fuzzer,address,undefined) into build-fuzz/, seed it with
# tests/fixtures/ and pipelines/, and run it for SECONDS (default 600).
# The corpus grows in build-fuzz/corpus across runs; a crash, leak or
# timeout is written to build-fuzz/artifacts/ and fails the run.
# Usage: scripts/fuzz.sh [SECONDS]   (FUZZ_JOBS=N runs N workers)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
B=build-fuzz
CC=${FUZZ_CC:-clang}
pkgs="jansson yaml-0.1"
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-iquote controller $(pkg-config --cflags $pkgs))
srcs=(controller/pipeline/pipeline.c controller/pipeline/parse.c
	controller/pipeline/schema.c controller/pipeline/checks.c
	controller/pipeline/json.c controller/pipeline/subst.c
	controller/pipeline/glob.c controller/pipeline/k8s_names.c
	controller/base/units.c controller/base/buf.c controller/base/err.c
	controller/base/sys.c)

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 1; }
mkdir -p "$B/obj" "$B/corpus" "$B/seed" "$B/artifacts"
objs=()
for s in "${srcs[@]}"; do
	o="$B/obj/$(basename "$s" .c).o"
	"$CC" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o"
	objs+=("$o")
done
"$CC" "${flags[@]}" -fsanitize=fuzzer tests/fuzz/fuzz_pipeline.c \
	"${objs[@]}" $(pkg-config --libs $pkgs) -lm -o "$B/fuzz_pipeline"

rm -f "$B"/seed/*
for f in tests/fixtures/*/*.yaml tests/fixtures/*/*.json pipelines/*.yaml \
    pipelines/*.yml; do
	[ -f "$f" ] && cp "$f" "$B/seed/$(echo "$f" | tr / _)"
done

echo "fuzz: running $B/fuzz_pipeline for ${secs}s"
exec "$B/fuzz_pipeline" "$B/corpus" "$B/seed" \
	-dict=tests/fuzz/pipeline.dict \
	-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 \
	-artifact_prefix="$B/artifacts/" \
	${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS}
