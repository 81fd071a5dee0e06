#!/usr/bin/env bash
# `make bench`: run every benchmark binary of build/bench/ against a
# throwaway PostgreSQL (free port, temp dir, removed afterwards), each on a
# fresh migrated database given as SLUICE_BENCH_PG_URL.  To use your own
# server instead, set SLUICE_BENCH_PG_URL to a migrated, empty database
# (then only one benchmark needs it at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
benches=$(ls build/bench/* 2>/dev/null | grep -v '\.[od]$' || true)
[ -n "$benches" ] || { echo "bench: nothing built in build/bench" >&2; exit 1; }

if [ -n "${SLUICE_BENCH_PG_URL:-}" ]; then
	for b in $benches; do "$b"; done
	exit 0
fi
tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$tmp"
trap 'pg_stop "$tmp/pg"; rm -rf "$tmp"' EXIT INT TERM
port=$(free_port)
PG_FSYNC=off pg_start "$tmp/pg" "$port"
n=0
for b in $benches; do
	n=$((n + 1))
	pg_as "$PG_BIN/createdb" -h "$tmp/pg/run" -p "$port" -U sluice "bench$n"
	url="$PG_URL dbname=bench$n"
	SLUICE_DATABASE_URL="$url" bin/sluice migrate >/dev/null
	SLUICE_BENCH_PG_URL="$url" "$b"
done
