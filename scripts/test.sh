#!/usr/bin/env bash
# `make test`: install what tests need, build, start a throwaway PostgreSQL
# (free port, temp dir, removed afterwards even on failure), migrate one
# template database, then run the unit tests, the integration tests and the
# shell tests in parallel (scripts/run-tests.sh) and print the summary.
#
#   make test                 everything
#   make test T=engine        only the programs whose file name holds "engine"
#   TEST_JOBS=8 make test     8 programs at once (default: twice the CPUs)
#
# Integration programs get their databases as copies of sluice_template
# (CREATE DATABASE ... TEMPLATE, see tests/support/testdb.h and
# tests/support/lib.sh), so the migrations run once per `make test`, not
# once per test.
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
	local d
	# the shared cluster, and any a crashed program's testpg_private left
	for d in "$tmp"/pg*/; do
		[ -d "$d" ] && pg_stop "${d%/}"
	done
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
# The tests' python3 is the system's (bootstrap installs Debian's): a
# version manager's shim first on PATH (pyenv's starts in about a second)
# would be paid at every one of the thousands of calls the tests make.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$tmp/bin"
	ln -s /usr/bin/python3 "$tmp/bin/python3"
	export PATH="$tmp/bin:$PATH"
fi

# The template every integration program copies: migrated by `sluice
# migrate` itself, then closed to connections (a connection to a template
# makes CREATE DATABASE ... TEMPLATE fail).
export SLUICE_TEST_PG_TEMPLATE=sluice_template
psql=("$PG_BIN/psql" -qAtX -v ON_ERROR_STOP=1)
# PostgreSQL 15 and later copy a template two ways: WAL_LOG (the default)
# writes every page through the WAL, FILE_COPY copies the files after a
# checkpoint, for the server a fraction of the CPU (the suite makes
# hundreds of copies; with fsync off a checkpoint is cheap).
if [ "$("${psql[@]}" "$SLUICE_TEST_PG_URL" -c 'SHOW server_version_num')" -ge 150000 ]; then
	export SLUICE_TEST_PG_STRATEGY=FILE_COPY
fi
"${psql[@]}" "$SLUICE_TEST_PG_URL" -c "CREATE DATABASE $SLUICE_TEST_PG_TEMPLATE"
SLUICE_DATABASE_URL="$PG_URL dbname=$SLUICE_TEST_PG_TEMPLATE" \
    SLUICE_MIGRATIONS_DIR="$top/migrations" "$SLUICE_BIN" migrate >/dev/null
"${psql[@]}" "$SLUICE_TEST_PG_URL" -c "ALTER DATABASE $SLUICE_TEST_PG_TEMPLATE
    WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"

units=$(ls $B/tests/unit/test_* 2>/dev/null | grep -v '\.[od]$' || true)
ints=$(ls $B/tests/integration/test_* 2>/dev/null | grep -v '\.[od]$' || true)
scripts=$(ls tests/integration/*.sh 2>/dev/null || true)
# `make test T=engine`: only the programs whose name holds the substring.
if [ -n "${T:-}" ]; then
	pick() { for p in "$@"; do case ${p##*/} in *"$T"*) echo "$p" ;; esac; done; }
	# shellcheck disable=SC2086
	units=$(pick $units) ints=$(pick $ints) scripts=$(pick $scripts)
fi
# Every answer of the real route table that the integration programs get
# is recorded; tests/api/contract.sh checks them all against
# docs/api.yaml once the others have ended (with T=, without asking that
# every documented status was seen).
export SLUICE_TEST_API_RECORD="$tmp/api-answers"
mkdir -p "$SLUICE_TEST_API_RECORD"
chmod 777 "$SLUICE_TEST_API_RECORD"
export TEST_AFTER=tests/api/contract.sh
# Longest first: this run's order comes from the last run's times.
export TEST_TIMES="$top/$B/tests/times"
# shellcheck disable=SC2086
scripts/run-tests.sh $ints $scripts $units
