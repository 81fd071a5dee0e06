#!/usr/bin/env bash
# `make test`: install what tests need, build, start a throwaway PostgreSQL
# (free port, temp dir, removed afterwards even on failure), then run the
# unit tests and the integration tests and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
scripts/bootstrap.sh all
. scripts/pg.sh

jobs=$(nproc 2>/dev/null || echo 2)
make -s -j"$jobs" tests ${SANITIZE:+SANITIZE=$SANITIZE}

if [ "${SANITIZE:-}" = 1 ]; then B=build-san; BIN=bin-san; else B=build; BIN=bin; fi

tmp=$(mktemp -d /tmp/sluice-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	pg_stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(free_port)
PG_FSYNC=off pg_start "$tmp/pg" "$port"
export SLUICE_TEST_PG_URL="$PG_URL dbname=postgres"
export SLUICE_TEST_PG_DIR="$tmp/pg"
export SLUICE_TEST_PG_PORT="$port"
export SLUICE_TEST_PG_BIN="$PG_BIN"
export SLUICE_TEST_TMP="$tmp"
export SLUICE_BIN="$top/$BIN/sluice"
export SLUICE_TOP="$top"

units=$(ls $B/tests/unit/test_* 2>/dev/null | grep -v '\.[od]$' || true)
ints=$(ls $B/tests/integration/test_* 2>/dev/null | grep -v '\.[od]$' || true)
scripts=$(ls tests/integration/*.sh 2>/dev/null || true)
# `make test T=engine`: only the programs whose name holds the substring.
if [ -n "${T:-}" ]; then
	pick() { for p in "$@"; do case ${p##*/} in *"$T"*) echo "$p" ;; esac; done; }
	# shellcheck disable=SC2086
	units=$(pick $units) ints=$(pick $ints) scripts=$(pick $scripts)
fi
# shellcheck disable=SC2086
scripts/run-tests.sh $units $ints $scripts
