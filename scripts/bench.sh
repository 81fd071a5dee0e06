#!/usr/bin/env bash
# `make bench`: run every benchmark built from bench/*.c (build/bench/*),
# each printing its own result next to a baseline measured in the same run.
# A throwaway PostgreSQL is started for the benchmarks that need one and
# removed afterwards: SLUICE_BENCH_PG_URL is its "postgres" database
# (superuser "sluice", for benchmarks that make their own databases) and
# SLUICE_BENCH_DB_URL a fresh, migrated database of each benchmark's own.  Output is also kept in bench/results/NAME.txt.
# `make bench BENCH=bench_poll` runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
. scripts/pg.sh
mkdir -p bench/results
tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$tmp"
cleanup() { pg_stop "$tmp/pg"; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
port=$(free_port)
pg_start "$tmp/pg" "$port"
export SLUICE_BENCH_PG_URL="$PG_URL dbname=postgres"
export SLUICE_BENCH_PG_BIN="$PG_BIN"
export SLUICE_TOP="$top" SLUICE_BIN="$top/bin/sluice" SLUICE_BENCH_TMP="$tmp"
status=0
for b in build/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	case $b in *.o|*.d) continue ;; esac
	name=$(basename "$b")
	if [ -n "${BENCH:-}" ] && [ "$name" != "$BENCH" ]; then continue; fi
	echo "=== $name"
	pg_as "$PG_BIN/createdb" -h "$tmp/pg/run" -p "$port" -U sluice "b_$name"
	export SLUICE_BENCH_DB_URL="$PG_URL dbname=b_$name"
	SLUICE_DATABASE_URL="$SLUICE_BENCH_DB_URL" bin/sluice migrate >/dev/null
	if ! "$b" | tee "bench/results/$name.txt"; then
		echo "bench: $name failed" >&2
		status=1
	fi
done
exit $status
