#!/usr/bin/env bash
# `sluice serve` end to end: refuses pending migrations without --migrate,
# applies them with it, answers /healthz and /readyz, reports a lost
# database on /readyz, exits 0 on SIGTERM, and waits for a listen port
# still held by another process (a controller still exiting).
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

# 4. the port is still held (the previous controller exiting): serve tries
#    again, logging each try, and listens once it is free (within 10 s)
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(2)
s.close()
' "$port" "$tmp/held" &
holder=$!
for _ in $(seq 1 50); do [ -e "$tmp/held" ] && break; sleep 0.1; done
"$SLUICE_BIN" serve >"$tmp/log2" 2>&1 &
pid=$!
up=
for _ in $(seq 1 100); do
	curl -sf -m 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { up=1; break; }
	sleep 0.1
done
wait "$holder" || true
[ -n "$up" ] || { cat "$tmp/log2"; fail "serve did not listen once the port was free"; }
grep -q 'address in use, trying again' "$tmp/log2" || { cat "$tmp/log2"; fail "no retry logged"; }
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { cat "$tmp/log2"; fail "exit status $rc after SIGTERM (second start)"; }
echo "serve.sh: ok"
