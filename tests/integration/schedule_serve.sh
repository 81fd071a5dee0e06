#!/usr/bin/env bash
# Two `sluice serve` replicas on one database, with real git and the real
# clock:
#   1. a pipeline file invalid from its first commit (no readable name) is
#      listed by GET /api/v1/pipelines with its FILE:LINE:COL error and
#      counted by /metrics; once a push fixes it, it is listed valid by its
#      name and the count is 0;
#   2. a `*/1 * * * *` schedule fires each minute's slot once: the replica
#      holding the engine lock is killed with SIGKILL after the first fire,
#      the other takes the lock over and fires the next slot; the runs
#      table never holds a slot twice and the slots follow each other
#      without a gap.
# It waits for two real minute boundaries after the schedule is first
# seen (60 to 120 s; part 1 runs meanwhile).  The waits are bounds against
# a hang on a loaded machine, never measures.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
. "$(dirname "$0")/../support/lib.sh"

db=schedule_serve_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/schedule-serve.XXXXXX")
pa= pb=
fail() {
	echo "schedule_serve.sh: FAIL: $*" >&2
	local f
	for f in "$tmp"/a.log "$tmp"/b.log; do
		[ -f "$f" ] || continue
		echo "--- the last lines of ${f##*/}:" >&2
		tail -n 25 "$f" >&2 || true
	done
	q "SELECT id, status, schedule_slot, created_at FROM runs ORDER BY id" >&2 || true
	exit 1
}
step() { echo "schedule_serve.sh: $(date -u +%T) $*"; }
cleanup() {
	for p in $pa $pb; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
t_db_create "$db"
# one psql session for the many queries (t_sql in lib.sh)
t_sql_open "$conn" "$tmp/sql.err"
q() { t_sql "$1"; }

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/minutely.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: minutely}
spec:
  triggers:
    schedule:
      - {cron: "*/1 * * * *", timezone: Europe/Berlin}
  stages:
    - {name: a, image: "alpine:3.20", command: ["true"]}
YAML
# invalid from its first commit, and its name cannot be read
cat >"$tmp/work/pipelines/nameless.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {}
spec:
  stages:
    - {name: a, image: "alpine:3.20", command: ["true"]}
YAML
t_git_push "$tmp/work" seed

pa_port=$(t_free_port)
pb_port=$(t_free_port)
export SLUICE_DATABASE_URL="$conn" SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
export SLUICE_STATE_DIR="$tmp/state" SLUICE_LOG_LEVEL=info
export SLUICE_REPOSITORIES="[{name: demo, url: \"file://$tmp/repo.git\", branches: [main], interval: 1s}]"
"$SLUICE_BIN" migrate >/dev/null
token=$("$SLUICE_BIN" token create --name sched --role viewer)

# Each replica's connections carry its name (application_name), so
# pg_locks says which one holds the engine lock.
start() {	# start NAME PORT: sets pa or pb
	SLUICE_DATABASE_URL="$conn application_name=sluice-$1" \
	    SLUICE_LISTEN="127.0.0.1:$2" "$SLUICE_BIN" serve >>"$tmp/$1.log" 2>&1 &
	if [ "$1" = a ]; then pa=$!; else pb=$!; fi
}
start a "$pa_port"
start b "$pb_port"
step "replicas a and b started"

# Bounded, so that a stuck replica fails the test instead of hanging it.
api() { curl -sf --max-time 20 -H "Authorization: Bearer $token" "http://127.0.0.1:$pa_port$1"; }
wait_for() {	# wait_for SECONDS DESCRIPTION COMMAND...
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || fail "$what (waited $secs s)"
		sleep 0.2
	done
}

# The schedule counts from when the active engine first sees it (its
# schedule refresh, 10 s): the two boundaries the test waits for follow.
next_fire() {
	api /api/v1/pipelines/minutely | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
assert re.search(r":00(\.0+)?Z$", d["next_fire_at"] or ""), d["next_fire_at"]
'
}
wait_for 120 "no next_fire_at on the scheduled pipeline" next_fire
step "the schedule is seen"

# 1. the invalid file, in the API and /metrics (while the first slot comes)
listed_invalid() {
	api /api/v1/pipelines | python3 -c '
import json, sys
d = json.load(sys.stdin)
x = [p for p in d["pipelines"] if p["file"] == "pipelines/nameless.yaml"]
assert len(x) == 1 and x[0]["name"] is None, x
e = x[0]["errors"][0]
assert e["file"] == "pipelines/nameless.yaml" and e["line"] == 3 and e["column"] > 0, e
assert "name" in e["message"], e
assert x[0]["latest"]["valid"] is False and x[0]["latest"]["branch"] == "main"
'
}
wait_for 120 "the invalid file is not listed" listed_invalid
metric() {
	curl -sf --max-time 20 "http://127.0.0.1:$pa_port/metrics" |
	    grep -qx "sluice_pipelines_invalid{repository=\"demo\"} $1"
}
wait_for 60 "sluice_pipelines_invalid is not 1" metric 1
sed -i 's/metadata: {}/metadata: {name: fixed}/' "$tmp/work/pipelines/nameless.yaml"
t_git_push "$tmp/work" fix
listed_fixed() {
	api /api/v1/pipelines | python3 -c '
import json, sys
d = json.load(sys.stdin)
x = [p for p in d["pipelines"] if p["file"] == "pipelines/nameless.yaml"]
assert len(x) == 1 and x[0]["name"] == "fixed" and x[0]["latest"]["valid"], x
assert x[0]["errors"] == [], x
'
}
wait_for 120 "the fixed file is not listed valid" listed_fixed
wait_for 60 "sluice_pipelines_invalid is not 0" metric 0
step "part 1 done"

# 2. one run per minute across a SIGKILL of the engine lock's holder
runs() { q "SELECT count(*) FROM runs WHERE trigger = 'schedule'"; }
has_runs() { [ "$(runs)" -ge "$1" ]; }
holder() {	# the replica whose connection holds the engine lock: a, b or ""
	q "SELECT substr(a.application_name, 8) FROM pg_locks l
	    JOIN pg_stat_activity a ON a.pid = l.pid
	    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	      AND (l.classid::bigint << 32 | l.objid::bigint) = x'736c756963650045'::bigint
	      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
}
held_by() { [ "$(holder)" = "$1" ]; }
# a bound well past the first slot (at most a minute away), not a measure
wait_for 150 "no scheduled run within a minute" has_runs 1
step "first fire: $(runs) scheduled run(s)"
kill -0 "$pa" 2>/dev/null || fail "replica a exited"
kill -0 "$pb" 2>/dev/null || fail "replica b exited"
has_holder() { [ -n "$(holder)" ]; }
wait_for 60 "no replica holds the engine lock" has_holder
active=$(holder)
case $active in
a) kill -9 "$pa"; wait "$pa" 2>/dev/null || true; pa= survivor=b ;;
b) kill -9 "$pb"; wait "$pb" 2>/dev/null || true; pb= survivor=a ;;
*) fail "no replica holds the engine lock after a fire ('$active')" ;;
esac
grep -q 'msg="engine active"' "$tmp/$active.log" || fail "the lock holder $active never logged engine active"
first=$(runs)
step "killed $active (kill -9) after $first scheduled run(s)"
wait_for 60 "the survivor $survivor does not take the engine lock over" held_by "$survivor"
step "$survivor holds the engine lock"
wait_for 150 "no scheduled run after the failover" has_runs $((first + 1))
step "fire after the failover: $(runs) scheduled runs"
grep -q 'msg="engine active"' "$tmp/$survivor.log" || fail "the survivor never became active"
[ "$(q "SELECT count(*) - count(DISTINCT schedule_slot) FROM runs WHERE trigger = 'schedule'")" = 0 ] ||
    fail "a slot fired twice"
gaps=$(q "SELECT count(*) FROM (SELECT schedule_slot - lag(schedule_slot) OVER (ORDER BY schedule_slot) AS d
    FROM runs WHERE trigger = 'schedule') x WHERE d <> interval '1 minute'")
[ "$gaps" = 0 ] || fail "slots are not consecutive minutes"
echo "schedule_serve.sh: ok ($(runs) scheduled runs, one per slot, across a SIGKILL)"
