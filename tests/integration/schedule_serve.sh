#!/usr/bin/env bash
# Two `sluice serve` replicas on one database, with real git and the real
# clock:
#   1. a pipeline file invalid from its first commit (no readable name) is
#      listed by GET /api/v1/pipelines with its FILE:LINE:COL error and
#      counted by /metrics; once a push fixes it, it is listed valid by its
#      name and the count is 0;
#   2. a `*/1 * * * *` schedule fires each minute's slot once: the active
#      replica is killed with SIGKILL after the first fire, the other takes
#      over and fires the next slot; the runs table never holds a slot
#      twice and the slots follow each other without a gap.
# It waits for two real minute boundaries (about two minutes).
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
fail() { echo "schedule_serve.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

db=schedule_serve_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/schedule-serve.XXXXXX")
pa= pb=
cleanup() {
	for p in $pa $pb; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
q() { t_psql "$conn" -c "$1"; }

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

start() {	# start NAME PORT: sets pa or pb
	SLUICE_LISTEN="127.0.0.1:$2" "$SLUICE_BIN" serve >>"$tmp/$1.log" 2>&1 &
	if [ "$1" = a ]; then pa=$!; else pb=$!; fi
}
start a "$pa_port"
start b "$pb_port"

api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$pa_port$1"; }
wait_for() {	# wait_for SECONDS DESCRIPTION COMMAND...
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || { tail -n 20 "$tmp/a.log" "$tmp/b.log" >&2 || true; fail "$what"; }
		sleep 0.2
	done
}

# 1. the invalid file, in the API and /metrics
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
wait_for 60 "the invalid file is not listed" listed_invalid
metric() { curl -sf "http://127.0.0.1:$pa_port/metrics" | grep -qx "sluice_pipelines_invalid{repository=\"demo\"} $1"; }
wait_for 10 "sluice_pipelines_invalid is not 1" metric 1
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
wait_for 60 "the fixed file is not listed valid" listed_fixed
wait_for 10 "sluice_pipelines_invalid is not 0" metric 0
# (a new schedule is seen within the engine's schedule refresh, 10 s)
next_fire() {
	api /api/v1/pipelines/minutely | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
assert re.search(r":00(\.0+)?Z$", d["next_fire_at"] or ""), d["next_fire_at"]
'
}
wait_for 60 "no next_fire_at on the scheduled pipeline" next_fire

# 2. one run per minute across a SIGKILL of the active replica
runs() { q "SELECT count(*) FROM runs WHERE trigger = 'schedule'"; }
has_runs() { [ "$(runs)" -ge "$1" ]; }
wait_for 75 "no scheduled run within a minute" has_runs 1
if grep -q 'msg="engine active"' "$tmp/a.log"; then
	kill -9 "$pa"; wait "$pa" 2>/dev/null || true; pa=; survivor=b
else
	kill -9 "$pb"; wait "$pb" 2>/dev/null || true; pb=; survivor=a
fi
first=$(runs)
wait_for 75 "no scheduled run after the failover" has_runs $((first + 1))
grep -q 'msg="engine active"' "$tmp/$survivor.log" || fail "the survivor never became active"
[ "$(q "SELECT count(*) - count(DISTINCT schedule_slot) FROM runs WHERE trigger = 'schedule'")" = 0 ] ||
    fail "a slot fired twice"
gaps=$(q "SELECT count(*) FROM (SELECT schedule_slot - lag(schedule_slot) OVER (ORDER BY schedule_slot) AS d
    FROM runs WHERE trigger = 'schedule') x WHERE d <> interval '1 minute'")
[ "$gaps" = 0 ] || { q "SELECT id, schedule_slot FROM runs ORDER BY id"; fail "slots are not consecutive minutes"; }
echo "schedule_serve.sh: ok ($(runs) scheduled runs, one per slot, across a SIGKILL)"
