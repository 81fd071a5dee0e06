#!/usr/bin/env bash
# Two `sluice serve` replicas on one database cache the tokens and console
# sessions they looked up (http/auth_cache.c): a token revoked with
# `sluice token revoke` (another process) is refused by both on the very
# next request, and so is a session of it.  That they cache at all is
# shown with the notifying trigger switched off: a token revoked behind
# their back is still taken until NOTIFY sluice_auth arrives.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}"
fail() { echo "auth_cache_replicas.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

db=auth_cache_sh_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d)
pa= pb=
cleanup() {
	for p in $pa $pb; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
export SLUICE_DATABASE_URL="$conn"
porta=$(t_free_port)
portb=$(t_free_port)
while [ "$portb" = "$porta" ]; do portb=$(t_free_port); done

start() {	# NAME PORT: a replica with its own state folder, in the background
	mkdir -p "$tmp/$1"
	SLUICE_LISTEN="127.0.0.1:$2" SLUICE_STATE_DIR="$tmp/$1" \
	    "$SLUICE_BIN" serve >"$tmp/$1.log" 2>&1 &
}
ready() {
	for _ in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
start a "$porta"
pa=$!
start b "$portb"
pb=$!
ready "$porta" || { cat "$tmp/a.log"; fail "replica a not ready"; }
ready "$portb" || { cat "$tmp/b.log"; fail "replica b not ready"; }

# the HTTP status of GET /api/v1/runs on PORT with HEADER
code() {
	curl -s -o /dev/null -w '%{http_code}' -H "$2" \
	    "http://127.0.0.1:$1/api/v1/runs"
}
token() { "$SLUICE_BIN" token create --name "$1" --role viewer; }

# 1. looked up once, then the same answer; revoked: 401 on both at once
t1=$(token ci)
for port in "$porta" "$portb" "$porta" "$portb"; do
	[ "$(code "$port" "Authorization: Bearer $t1")" = 200 ] ||
	    fail "a live token refused on port $port"
done
"$SLUICE_BIN" token revoke --name ci >/dev/null 2>&1
[ "$(code "$porta" "Authorization: Bearer $t1")" = 401 ] ||
    fail "replica a took a revoked token"
[ "$(code "$portb" "Authorization: Bearer $t1")" = 401 ] ||
    fail "replica b took a revoked token"

# 2. a console session (signed in on b, used on both): ends with its token
t2=$(token console)
curl -s -c "$tmp/jar" -o "$tmp/signin" -H 'Content-Type: application/json' \
    -d "{\"token\": \"$t2\"}" "http://127.0.0.1:$portb/api/v1/session"
cookie=$(awk '$6 == "sluice_session" { print $7 }' "$tmp/jar")
[ -n "$cookie" ] || { cat "$tmp/signin"; fail "no session cookie"; }
for port in "$portb" "$porta" "$portb"; do
	[ "$(code "$port" "Cookie: sluice_session=$cookie")" = 200 ] ||
	    fail "a live session refused on port $port"
done
"$SLUICE_BIN" token revoke --name console >/dev/null 2>&1
[ "$(code "$portb" "Cookie: sluice_session=$cookie")" = 401 ] ||
    fail "replica b took the session of a revoked token"
[ "$(code "$porta" "Cookie: sluice_session=$cookie")" = 401 ] ||
    fail "replica a took the session of a revoked token"

# 3. the cache is real: without the notification a replica that looked the
#    token up keeps taking it (within the cache's 10 s), until NOTIFY
t3=$(token quiet)
[ "$(code "$porta" "Authorization: Bearer $t3")" = 200 ] || fail "quiet refused"
t_psql "$conn" -c "BEGIN; ALTER TABLE api_tokens DISABLE TRIGGER api_tokens_notify_auth;
    UPDATE api_tokens SET revoked_at = now() WHERE name = 'quiet';
    ALTER TABLE api_tokens ENABLE TRIGGER api_tokens_notify_auth; COMMIT"
[ "$(code "$porta" "Authorization: Bearer $t3")" = 200 ] ||
    fail "replica a did not answer from its cache"
[ "$(code "$portb" "Authorization: Bearer $t3")" = 401 ] ||
    fail "replica b, which never saw the token, took it"
t_psql "$conn" -c "SELECT pg_notify('sluice_auth', 'test')" >/dev/null
[ "$(code "$porta" "Authorization: Bearer $t3")" = 401 ] ||
    fail "replica a kept its cache after NOTIFY sluice_auth"

kill -TERM "$pa" "$pb"
wait "$pa" || fail "replica a did not exit cleanly"
wait "$pb" || fail "replica b did not exit cleanly"
pa= pb=
echo "auth_cache_replicas.sh: ok"
