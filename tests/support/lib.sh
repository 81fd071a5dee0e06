# tests/support/lib.sh - what the shell tests in tests/integration share.
# shellcheck shell=bash
# Sourced, after `set -euo pipefail`:
#
#	. "$(dirname "$0")/../support/lib.sh"
#
#   t_free_port            a TCP port on 127.0.0.1 nobody listens on (below
#                          the ephemeral range)
#   t_psql CONNINFO ARG... psql: quiet, unaligned, tuples only, no psqlrc,
#                          stops at the first error
#   t_db_create DB [empty] CREATE DATABASE DB on the test cluster: a copy of
#                          the migrated template scripts/test.sh makes
#                          ($SLUICE_TEST_PG_TEMPLATE), or an empty one with
#                          "empty" (a test of the migrations) or without a
#                          template
#   t_db_drop DB           DROP DATABASE IF EXISTS DB WITH (FORCE); never fails
#   t_db_url DB            DB's conninfo
#   t_git ARG...           git as a test user, new repositories on main
#   t_git_remote DIR       DIR/repo.git (bare) and DIR/work, its clone
#   t_git_push WORK MSG    commit everything in WORK and push it to main
#
# Needs SLUICE_TEST_PG_URL and SLUICE_TEST_PG_BIN (from scripts/test.sh)
# for the t_db_* and t_psql functions only.

# Below Linux's ephemeral range (32768-60999), unlike a port from bind(0):
# no client connection of a test running in parallel takes it meanwhile.
t_free_port() {
	python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port")'
}

t_psql() {
	"${SLUICE_TEST_PG_BIN:?}/psql" -qAtX -v ON_ERROR_STOP=1 "$@"
}

t_db_url() {
	echo "${SLUICE_TEST_PG_URL/dbname=postgres/dbname=$1}"
}

t_db_create() {
	local tmpl=
	if [ "${2:-}" != empty ] && [ -n "${SLUICE_TEST_PG_TEMPLATE:-}" ]; then
		tmpl=" TEMPLATE $SLUICE_TEST_PG_TEMPLATE"
	fi
	t_psql "${SLUICE_TEST_PG_URL:?}" -c "CREATE DATABASE $1$tmpl"
}

t_db_drop() {
	t_psql "${SLUICE_TEST_PG_URL:?}" \
	    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" || true
}

t_git() {
	git -c user.name=T -c user.email=t@example.com \
	    -c init.defaultBranch=main "$@"
}

t_git_remote() {
	t_git init -q --bare "$1/repo.git"
	t_git clone -q "$1/repo.git" "$1/work" 2>/dev/null
}

t_git_push() {
	(cd "$1" && t_git add -A && t_git commit -qm "$2" &&
	    t_git push -q origin main)
}

# --- waiting, JSON, HTTP and the fake Kubernetes API server ---------------
#
#   t_wait_for WHAT CMD    eval CMD until it succeeds; after 300 s (a bound
#                          against a hang on a loaded machine, not a
#                          measure) call the test's `fail` naming WHAT
#   t_json EXPR            evaluate the Python EXPR on the JSON document on
#                          stdin (as `d`); print it ("" for None)
#   t_http_code ARG...     curl ARG...: only the HTTP status code
#   t_kube_fake_start DIR ARG...
#                          start tests/fakes/kube_fake.sh in DIR with ARG...
#                          (it stops by itself when the test's shell is
#                          gone); sets KUBE_FAKE_DIR, KUBE_FAKE_URL and the
#                          array kc (kubectl on its kubeconfig, namespace
#                          sluice-test)
#   t_kube_fake_stop DIR   stop it; never fails
#   t_fake PATH ARG...     curl the fake's /_fake/PATH (its test API)

t_wait_for() {
	local what=$1 end=$((SECONDS + 300))
	shift
	until eval "$1" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out waiting for $what"
		sleep 0.1
	done
}

t_json() {
	python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print("" if v is None else v)' "$1"
}

t_http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

t_kube_fake_start() {
	local dir=$1
	shift
	eval "$(KUBE_FAKE_WATCH_PID=$$ "${SLUICE_TOP:?}/tests/fakes/kube_fake.sh" \
	    start "$dir" "$@")"
	kc=(kubectl --kubeconfig "$KUBE_FAKE_DIR/kubeconfig" -n sluice-test)
}

t_kube_fake_stop() {
	"${SLUICE_TOP:?}/tests/fakes/kube_fake.sh" stop "$1" || true
}

t_fake() {
	curl -sS --fail --cacert "$KUBE_FAKE_DIR/ca.crt" \
	    "$KUBE_FAKE_URL/_fake/$1" "${@:2}"
}
