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
#                          template; copied with $SLUICE_TEST_PG_STRATEGY
#                          when set (FILE_COPY: files, not pages through
#                          the WAL)
#   t_db_drop DB           DROP DATABASE IF EXISTS DB WITH (FORCE); never fails
#   t_db_url DB            DB's conninfo
#   t_git ARG...           git as a test user, new repositories on main
#   t_git_remote DIR       DIR/repo.git (bare) and DIR/work, its clone
#   t_git_push WORK MSG    commit everything in WORK and push it to main
#   t_sql_open CONNINFO, t_sql SQL
#                          one psql session for many queries (below)
#   t_moved_since LAST PID LOG
#                          wait for an event past LAST (kill -9 loops, below)
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
	t_psql "${SLUICE_TEST_PG_URL:?}" -c "CREATE DATABASE $1$tmpl${SLUICE_TEST_PG_STRATEGY:+ STRATEGY $SLUICE_TEST_PG_STRATEGY}"
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

# --- one psql session for many queries --------------------------------------
#
#   t_sql_open CONNINFO [ERRFILE]
#                          start a psql session (a coprocess) that t_sql
#                          uses; its stderr goes to ERRFILE (default: a
#                          new file under $SLUICE_TEST_TMP)
#   t_sql SQL              run SQL on it: its rows as t_psql -c would print
#                          them; status 1 (the error on stderr) when a
#                          statement failed.  Statements run one by one, each
#                          in its own transaction.
#
# For a test that polls the database many times a second: a psql process
# and a new backend per query cost more than the query.

t_sql_open() {
	T_SQL_ERR=${2:-$(mktemp "${SLUICE_TEST_TMP:-/tmp}/t_sql.XXXXXX")}
	: >>"$T_SQL_ERR"
	# t_sql reads what psql writes there through this descriptor, from
	# where it was: no process per query to measure or cut the file
	exec {T_SQL_ERRFD}<"$T_SQL_ERR"
	while IFS= read -r -u "$T_SQL_ERRFD" _; do :; done
	coproc T_SQL { exec "${SLUICE_TEST_PG_BIN:?}/psql" -qAtX "$1" 2>>"$T_SQL_ERR"; }
}

t_sql() {
	local line err= rows=()
	[ -n "${T_SQL_PID:-}" ] || { echo "t_sql: no session (t_sql_open)" >&2; return 1; }
	printf '%s\n;\n\\echo __t_sql_end__\n' "$1" >&"${T_SQL[1]}" || return 1
	while :; do
		IFS= read -r line <&"${T_SQL[0]}" || { echo "t_sql: the psql session ended" >&2; return 1; }
		[ "$line" = __t_sql_end__ ] && break
		rows+=("$line")
	done
	# psql wrote a statement's messages before it echoed the end mark
	while IFS= read -r -u "$T_SQL_ERRFD" line || [ -n "$line" ]; do
		err+=$line$'\n'
		line=
	done
	if [ -n "$err" ]; then
		printf '%s' "$err" >&2
		[[ $err != *ERROR:* ]] || return 1
	fi
	[ ${#rows[@]} = 0 ] || printf '%s\n' "${rows[@]}"
}

# --- kill -9 loops ------------------------------------------------------------
#
#   t_moved_since LAST PID LOG
#                          wait until the database's events (through q, the
#                          test's query function) go past id LAST, while
#                          process PID lives; after 60 s without one, or
#                          when PID has exited, show LOG's tail and fail.
#
# A test that kills `sluice serve` at random moments lets every other one
# live until it has recorded something: on a loaded machine a start may
# take longer than any random delay, and the runs would never move on.

t_moved_since() {
	local moved=$((SECONDS + 60))
	until [ "$(q "SELECT coalesce(max(id), 0) > $1 FROM events")" = t ]; do
		kill -0 "$2" 2>/dev/null || { tail -n 30 "$3"; fail "sluice serve exited"; }
		[ $SECONDS -lt $moved ] || { tail -n 30 "$3"; fail "sluice serve recorded nothing in 60 s"; }
		sleep 0.05
	done
}

# --- waiting without a fork per round (tkube) ---------------------------------
#
#   t_sleep SECS           sleep in this shell (read -t on a pipe nobody
#                          writes): no sleep process per round of a loop
#   t_wait_until WHAT CMD  t_wait_for with fewer rounds: eval CMD, then
#                          again after 0.05 s, 0.1 s, 0.2 s, and every
#                          0.25 s from then on; fail naming WHAT after 300 s
#                          (a bound against a hang, not a measure).  For
#                          a CMD that forks several processes (curl and
#                          python3, kubectl): a long wait costs a few a
#                          second, not ten.
#   t_kube_changed RV [MS] wait until the fake Kubernetes API server's
#                          resourceVersion is past RV (an object changed)
#                          or MS ms passed (default 1000); print it
#   t_wait_kube WHAT CMD   eval CMD again each time an object in the fake
#                          changed (and at least once a second), for a CMD
#                          that reads the fake (kubectl): one round per
#                          change instead of one per 0.1 s; 300 s bound

t_sleep() {
	[ -n "${T_SLEEP_FD:-}" ] || exec {T_SLEEP_FD}<> <(:)
	read -rt "$1" -u "$T_SLEEP_FD" || true
}

t_wait_until() {
	local what=$1 end=$((SECONDS + 300)) pause=0.05
	shift
	until eval "$1" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out waiting for $what"
		t_sleep "$pause"
		case $pause in 0.05) pause=0.1 ;; 0.1) pause=0.2 ;; *) pause=0.25 ;; esac
	done
}

t_kube_changed() {
	local out
	out=$(curl -sS --fail --cacert "${KUBE_FAKE_DIR:?}/ca.crt" \
	    "${KUBE_FAKE_URL:?}/_fake/wait?after=$1&timeout_ms=${2:-1000}") || return 1
	[[ $out =~ \"rv\":\ *([0-9]+) ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

t_wait_kube() {
	local what=$1 end=$((SECONDS + 300)) rv new
	shift
	rv=$(t_kube_changed -1 0) || rv=0
	until eval "$1" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out waiting for $what"
		if new=$(t_kube_changed "$rv"); then rv=$new; else t_sleep 0.1; fi
		# a change seldom comes alone: let its followers land first
		t_sleep 0.02
	done
}

# --- t_json without a python3 per call (tkube) --------------------------------
#
#   t_json_serve           from now on t_json evaluates in one python3
#                          (tests/support/json_eval.py, on two FIFOs under
#                          $SLUICE_TEST_TMP) that lives as long as this
#                          shell: a test that reads the API in a loop starts
#                          one interpreter, not hundreds.  The same output
#                          and status as before; the error on stderr.

t_json_serve() {
	local d
	d=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/t_json.XXXXXX")
	mkfifo "$d/in" "$d/out"
	python3 "${SLUICE_TOP:?}/tests/support/json_eval.py" "$d/in" "$d/out" $$ \
	    </dev/null >/dev/null 2>"$d/err" &
	exec {T_JSON_W}<>"$d/in" {T_JSON_R}<>"$d/out"
	# shellcheck disable=SC2317  # (called by the tests)
	t_json() { t_json_served "$@"; }
}

t_json_served() {
	local doc='' reply=''
	IFS= read -r -d '' doc || true
	printf '%s\0%s\0' "$1" "$doc" >&"$T_JSON_W" || return 1
	IFS= read -r -d '' -t 300 reply <&"$T_JSON_R" ||
	    { echo "t_json: no answer from json_eval.py" >&2; return 1; }
	if [ "${reply:0:1}" = 0 ]; then
		printf '%s' "${reply:1}"
	else
		printf '%s' "${reply:1}" >&2
		return 1
	fi
}
