#!/usr/bin/env bash
# `sluice serve` end to end: refuses pending migrations without --migrate,
# applies them with it, answers /healthz and /readyz, reports a lost
# database on /readyz, and exits 0 on SIGTERM.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}"
fail() { echo "serve.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

# empty: this test is about pending migrations
db=serve_sh_$$
conn=$(t_db_url "$db")
t_db_create "$db" empty
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
port=$(t_free_port)
export SLUICE_DATABASE_URL="$conn" SLUICE_LISTEN="127.0.0.1:$port"
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"

# 1. pending migrations and no --migrate: refuse, naming the way out
if "$SLUICE_BIN" serve >"$tmp/out" 2>&1; then fail "serve started with pending migrations"; fi
grep -q "pending migration" "$tmp/out" || { cat "$tmp/out"; fail "no pending-migrations message"; }
grep -q -- "--migrate" "$tmp/out" || fail "message does not mention --migrate"

# 2. with --migrate: healthy and ready
"$SLUICE_BIN" serve --migrate >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] || fail "/readyz not 200"
[ "$(t_psql "$conn" -c 'SELECT count(*) FROM schema_migrations')" -ge 1 ] || fail "migrations not recorded"

# 3. SIGTERM: clean exit 0
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { cat "$tmp/log"; fail "exit status $rc after SIGTERM"; }
grep -q 'msg="sluice stopping"' "$tmp/log" || fail "no stopping log line"
echo "serve.sh: ok"
