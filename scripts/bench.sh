#!/usr/bin/env bash
# `make bench`: run every benchmark built from bench/*.c (build/bench/*),
# each printing its own result next to a baseline measured in the same run.
# Output is also kept in bench/results/NAME.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
status=0
for b in build/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	case $b in *.o|*.d) continue ;; esac
	name=$(basename "$b")
	echo "=== $name"
	if ! "$b" | tee "bench/results/$name.txt"; then
		echo "bench: $name failed" >&2
		status=1
	fi
done
exit $status
