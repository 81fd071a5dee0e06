#!/usr/bin/env bash
# Browser tests of the console: playwright-core driving Debian's chromium
# (headless) against a real `sluice serve` on a throwaway database of the
# test PostgreSQL, with the demo repository and the local executor.
#
#   tests/browser/run.sh [console] [mock]
#
# console: console.test.mjs and console-session.test.mjs against the real
# controller; mock: mock.test.mjs, mock-layout.test.mjs and
# registry.test.mjs against the mock API (no PostgreSQL needed).  Default:
# both.  The files of a run go at once, each in a node process with a
# chromium of its own.
#
# `make test` starts it twice, beside the other programs:
# tests/integration/browser.sh (console) and browser_mock.sh (mock), with
# the SLUICE_TEST_* variables of scripts/test.sh.  By hand, from the top:
#
#   make test T=browser             (both), or
#   tests/browser/run.sh mock       (mock API tests only; also
#                                   SLUICE_BROWSER_ONLY=mock)
#
# The demo pipeline is pushed with its canary analysis shortened from 10 s
# to 1 s: the tests wait for three runs one after the other, and what they
# check does not depend on how long the analysis watches.
#
# Screenshots of every page go to tests/browser/screenshots/ (not
# committed).  SLUICE_DOCS_SCREENSHOT=docs/console-run.png also writes the
# run page shown in the README.  Prints SKIP and exits 0 only when node or
# chromium is not installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fail() { echo "browser: FAIL: $*" >&2; exit 1; }

chromium=${SLUICE_CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1; then
	echo "browser: SKIP: node is not installed (scripts/bootstrap.sh installs it)"
	exit 0
fi
if [ ! -x "$chromium" ]; then
	echo "browser: SKIP: $chromium is not installed (scripts/bootstrap.sh installs it)"
	exit 0
fi
# Every dependency of package.json installed (playwright-core, and ajv
# with yaml for checking the mock API against docs/api.yaml)?
installed() {
	(cd "$here" && node -e 'const p = require("./package.json"),
	    fs = require("fs"); process.exit(Object.keys(p.dependencies)
	    .every(d => fs.existsSync("node_modules/" + d + "/package.json")) ?
	    0 : 1)')
}
# Two of us may start at once: one installs, the other waits for it.
if ! installed; then
	(cd "$here" && flock 9 && { installed ||
	    npm ci --no-audit --no-fund --silent; }) 9>"${TMPDIR:-/tmp}/sluice-browser-npm.lock" ||
	    fail "cannot install the test dependencies (npm ci in tests/browser)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || fail "node $node_major is too old (need 18 or later)"

export SLUICE_CHROMIUM="$chromium"
# The tests run in tests/browser: a path given from the top stays right.
case ${SLUICE_DOCS_SCREENSHOT:-} in
/* | "") ;;
*) export SLUICE_DOCS_SCREENSHOT="$top/$SLUICE_DOCS_SCREENSHOT" ;;
esac
export SLUICE_SCREENSHOTS=${SLUICE_SCREENSHOTS:-$here/screenshots}
mkdir -p "$SLUICE_SCREENSHOTS"
console=0 mock=0
[ $# -gt 0 ] || set -- console mock
[ "${SLUICE_BROWSER_ONLY:-}" != mock ] || set -- mock
for a; do
	case $a in
	console) console=1 ;;
	mock) mock=1 ;;
	*) fail "unknown suite '$a' (console or mock)" ;;
	esac
done
tests=()
[ "$mock" = 0 ] || tests+=("$here/mock.test.mjs" "$here/mock-layout.test.mjs" \
    "$here/registry.test.mjs")

pid=
db=
tmp=$(mktemp -d /tmp/sluice-browser.XXXXXX)
psql=()
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	# Stage supervisors outlive the controller on purpose; cancel ours.
	for d in "$tmp"/state/attempts/*/; do
		[ -d "$d" ] && [ ! -e "$d/status" ] && : >"$d/cancel" 2>/dev/null
	done
	sleep 0.5
	if [ -n "$db" ]; then
		"${psql[@]}" "$SLUICE_TEST_PG_URL" \
		    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$console" = 1 ]; then
	: "${SLUICE_BIN:?run through make test, or run the mock suite alone}"
	: "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}"
	psql=("$SLUICE_TEST_PG_BIN/psql" -qAt -v ON_ERROR_STOP=1)
	db=browser_$$
	"${psql[@]}" "$SLUICE_TEST_PG_URL" -c "CREATE DATABASE $db" >/dev/null
	conn=${SLUICE_TEST_PG_URL/dbname=postgres/dbname=$db}
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	state=$tmp/state
	mkdir -p "$state"
	cat >"$tmp/sluice.yaml" <<YAML
listen: 127.0.0.1:$port
database_url: "$conn"
state_dir: $state
executor: local
log_level: info
web_dir: $top/web
YAML
	"$top/scripts/demo-repo.sh" "$state" 2>/dev/null |
	    sed 's/^    interval: .*/    interval: 1s/' >>"$tmp/sluice.yaml"
	# The same single commit, with the canary's analysis at 1 s.
	demo_yaml=$state/demo/pipelines/demo.yaml
	grep -q '^              duration: 10s$' "$demo_yaml" ||
	    fail "pipelines/demo.yaml has no 10 s canary analysis to shorten"
	sed -i 's/^              duration: 10s$/              duration: 1s/' "$demo_yaml"
	(cd "$state/demo" && git -c user.name="Sluice Demo" \
	    -c user.email=demo@sluice.invalid commit -qa --amend --no-edit &&
	    git push -qf origin HEAD:main) ||
	    fail "cannot shorten the demo's canary analysis"
	export SLUICE_MIGRATIONS_DIR="$top/migrations"
	export SLUICE_WEBHOOK_SECRET=browser-test-secret
	"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate \
	    >"$tmp/serve.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 150); do
		curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; fail "sluice serve exited"; }
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null ||
	    { cat "$tmp/serve.log" >&2; fail "sluice serve is not ready"; }
	token() {
		"$SLUICE_BIN" token create --config "$tmp/sluice.yaml" \
		    --name "$1" --role "$2"
	}
	export SLUICE_URL="http://127.0.0.1:$port"
	export SLUICE_ADMIN_TOKEN=$(token browser-admin admin)
	export SLUICE_OPERATOR_TOKEN=$(token browser-operator operator)
	export SLUICE_APPROVER_TOKEN=$(token browser-approver approver)
	export SLUICE_VIEWER_TOKEN=$(token browser-viewer viewer)
	export SLUICE_DEMO_WORK="$state/demo"
	export SLUICE_TOP="$top"
	tests+=("$here/console.test.mjs" "$here/console-session.test.mjs")
fi

rc=0
(cd "$here" && node --test --test-concurrency=${#tests[@]} \
    --test-reporter=spec "${tests[@]}") || rc=$?
if [ "$rc" != 0 ] && [ -f "$tmp/serve.log" ]; then
	echo "--- last lines of the controller's log" >&2
	tail -n 40 "$tmp/serve.log" >&2
fi
[ "$rc" = 0 ] || fail "browser tests failed"
echo "browser: ok (screenshots in ${SLUICE_SCREENSHOTS#"$top"/})"
