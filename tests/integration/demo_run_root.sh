#!/usr/bin/env bash
# `make run` as root from a clone the postgres user cannot enter (under
# /root, mode 0700): PostgreSQL starts (its cluster under /var/tmp, var/pg
# a link to it), the server answers /readyz, and stopping the demo stops
# PostgreSQL.  The clone reuses this tree's objects so nothing is rebuilt.
set -euo pipefail
: "${SLUICE_TOP:?}"
fail() { echo "demo_run_root.sh: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ] || ! id postgres >/dev/null 2>&1; then
	echo "demo_run_root.sh: skipped (needs root and a postgres user)"
	exit 0
fi
. "$SLUICE_TOP/scripts/pg.sh"

dir=$(mktemp -d /root/sluice-run-test.XXXXXX)
chmod 700 "$dir"
top=$dir/sluice
pid= pgdir=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$pgdir" ]; then
		pg_stop "$pgdir"
		rm -rf "$(dirname "$pgdir")"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

git clone -q "$SLUICE_TOP" "$top"
# This tree's scripts (committed or not), and its build, newer than the
# clone's sources so that make finds nothing to do.
cp -a "$SLUICE_TOP/scripts/." "$top/scripts/"
mkdir -p "$top/build"
cp -a "$SLUICE_TOP/bin" "$top/bin"
cp -a "$SLUICE_TOP/build/controller" "$top/build/controller"
find "$top/bin" "$top/build" -type f -exec touch {} +
# No demo repository: no run, so no stage processes to outlive the test.
chmod -x "$top/scripts/demo-repo.sh"

runuser -u postgres -- test -x "$top" 2>/dev/null &&
    fail "postgres can enter $top: the test proves nothing"
pgdir=$(cd "$top" && pg_dir_for "$top/var")
case $pgdir in
/var/tmp/sluice-*/pg) ;;
*) fail "cluster directory $pgdir is not under /var/tmp" ;;
esac

pgport=$(free_port)
port=$(free_port)
PG_FSYNC=off SLUICE_DEMO_PG_PORT=$pgport SLUICE_LISTEN=127.0.0.1:$port \
    setsid make -s -C "$top" run >"$dir/run.log" 2>&1 &
pid=$!
ready=
for _ in $(seq 1 600); do
	if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
[ -n "$ready" ] || { cat "$dir/run.log" >&2; fail "/readyz never answered 200"; }
[ -f "$pgdir/data/PG_VERSION" ] || fail "no cluster in $pgdir"
[ "$(readlink "$top/var/pg")" = "$pgdir" ] || fail "var/pg is not a link to $pgdir"
grep -q "Permission denied" "$dir/run.log" && { cat "$dir/run.log" >&2; fail "permission denied"; }

# Stopping the demo stops PostgreSQL too.
kill -TERM -- "-$pid"
wait "$pid" 2>/dev/null || true
pid=
# (the controller drains, then PostgreSQL stops: allow a loaded machine a
# minute; it is a limit, not a measurement)
for _ in $(seq 1 300); do
	[ -f "$pgdir/data/postmaster.pid" ] || break
	sleep 0.2
done
[ ! -f "$pgdir/data/postmaster.pid" ] || { tail -40 "$dir/run.log" >&2; ps -ef >&2; fail "PostgreSQL still running after the demo stopped"; }
grep -q "demo stopped" "$dir/run.log" || { cat "$dir/run.log" >&2; fail "no 'demo stopped'"; }
echo "demo_run_root.sh: ok"
