#!/usr/bin/env bash
# One rollout per target survives `kill -9`: `sluice serve` (local
# executor) runs 10 runs of two pipelines whose canary stages share one
# target (one with on_conflict: queue, one with supersede) while the test
# SIGKILLs it at random moments (0-1 s apart, or, every other time, after
# it has recorded an event) and starts it again, until every run has ended.  The lease moves at every rollout's start and end,
# so kills land while it moves.  Checked after every kill and at the end:
#   - no target is held by a finished run, stage or rollout;
#   - at the end nothing is held, every run has ended, and a failed one
#     was superseded;
#   - no two rollouts of the target overlapped in time, and the steps and
#     rollbacks the commands ran (a ledger) come in one block per run:
#     traffic was never moved by two runs at once.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
fail() { echo "rollout_crash.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

RUNS=${ROLLOUT_CRASH_RUNS:-10}
db=rollout_crash_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/rollout-crash.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	for d in "$tmp"/state/attempts/*/; do
		[ -e "$d/lock" ] && [ ! -e "$d/status" ] && : >"$d/cancel" 2>/dev/null
	done
	sleep 0.3
	pkill -9 -f "$tmp/state" 2>/dev/null || true
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
# one psql session for the many queries (t_sql in lib.sh)
t_sql_open "$conn" "$tmp/sql.err"
q() { t_sql "$1"; }

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
for mode in queue supersede; do
	cat >"$tmp/work/pipelines/$mode.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: $mode}
spec:
  concurrency: 0
  defaults:
    image: "alpine:3.20"
    env: {LEDGER: "$tmp/ledger"}
  stages:
    - name: rollout
      type: canary
      command: ["sh", "-c", "echo \"\$SLUICE_RUN_ID step\" >> \"\$LEDGER\"; sleep 0.3"]
      canary:
        target: shop
        on_conflict: $mode
        steps: [{weight: 50}, {weight: 100}]
        rollback_command: ["sh", "-c", "echo \"\$SLUICE_RUN_ID rollback\" >> \"\$LEDGER\"; sleep 0.2"]
YAML
done
t_git_push "$tmp/work" seed
: >"$tmp/ledger"

port=$(t_free_port)
export SLUICE_DATABASE_URL="$conn" SLUICE_LISTEN="127.0.0.1:$port"
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations" SLUICE_STATE_DIR="$tmp/state"
export SLUICE_MAX_PARALLEL_STAGES=12 SLUICE_LOG_LEVEL=warn
export SLUICE_REPOSITORIES="[{name: crash, url: \"file://$tmp/repo.git\", branches: [main], interval: 1h}]"
"$SLUICE_BIN" migrate >/dev/null

start() {
	"$SLUICE_BIN" serve >>"$tmp/serve.log" 2>&1 &
	pid=$!
}

start
for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 2 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 2 ] ||
    { cat "$tmp/serve.log"; fail "the pipelines were not recorded"; }
# queue, supersede, queue, ... (as store_run_create does)
q "WITH v AS (SELECT id, pipeline_id, commit_id, definition,
        row_number() OVER (ORDER BY definition->'metadata'->>'name') - 1 AS k
      FROM pipeline_versions WHERE valid),
  g AS (SELECT i FROM generate_series(1, $RUNS) i),
  r AS (INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch, trigger, created_by)
        SELECT v.pipeline_id, v.id, v.commit_id, 'main', 'api', 'crash-test'
        FROM g JOIN v ON v.k = g.i % 2 ORDER BY g.i RETURNING id, pipeline_version_id),
  s AS (INSERT INTO stages (run_id, name, type, position, needs)
        SELECT r.id, st->>'name', st->>'type', (o - 1)::int, '{}'
        FROM r JOIN v ON v.id = r.pipeline_version_id,
          jsonb_array_elements(v.definition->'spec'->'stages') WITH ORDINALITY AS x(st, o))
  INSERT INTO events (actor, entity_type, entity_id, run_id, action, to_state)
  SELECT 'crash-test', 'run', id, id, 'created', 'queued' FROM r;
  NOTIFY sluice_runs;" >/dev/null

# "HELD ACTIVE": leases held by a finished run, stage or rollout, and
# runs not ended; one psql per kill (each costs under load)
state() {
	q "SELECT (SELECT count(*) FROM target_leases l JOIN stages s ON s.id = l.stage_id
	   JOIN runs r ON r.id = l.run_id
	   LEFT JOIN rollouts ro ON ro.stage_id = l.stage_id
	   WHERE r.finished_at IS NOT NULL OR s.finished_at IS NOT NULL
	     OR ro.finished_at IS NOT NULL) || ' ' ||
	  (SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'canceled'))"
}

# Bounded against a hang, not a measure: at most 120 s without a new
# event, 900 s in all.  Every other controller lives until it has recorded
# an event (t_moved_since): on a loaded machine a start may take longer
# than any random delay.
kills=0 last=0 seen=0
deadline=$((SECONDS + 120))
limit=$((SECONDS + 900))
active=1
while [ "$active" != 0 ]; do
	now=$(q "SELECT coalesce(max(id), 0) FROM events")
	if [ "$now" -gt "$seen" ]; then
		seen=$now
		deadline=$((SECONDS + 120))
	fi
	[ $SECONDS -lt $deadline ] || { tail -30 "$tmp/serve.log"; fail "no event in 120 s ($active runs still active)"; }
	[ $SECONDS -lt $limit ] || { tail -30 "$tmp/serve.log"; fail "$active runs still active after 900 s"; }
	[ $((kills % 2)) = 0 ] || t_moved_since "$last" "$pid" "$tmp/serve.log"
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", rand() }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	kills=$((kills + 1))
	last=$(q "SELECT coalesce(max(id), 0) FROM events")
	read -r held active <<<"$(state)"
	[ "$held" = 0 ] || { q "SELECT * FROM target_leases"; fail "a finished run holds the target"; }
	start
done
# TERM only once the forked shell has become `sluice serve`: before its
# exec it would run this script's EXIT trap
for _ in $(seq 1 100); do
	case $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) in *" serve "*) break ;; esac
	sleep 0.05
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=

# 1. every run ended; nothing is held; a failed run was superseded
[ "$(q "SELECT count(*) FROM runs")" = "$RUNS" ] || fail "wrong number of runs"
[ "$(q "SELECT count(*) FROM target_leases")" = 0 ] || fail "the target is still held"
bad=$(q "SELECT count(*) FROM runs r JOIN stages s ON s.run_id = r.id
    WHERE r.status <> 'succeeded' AND (r.status <> 'failed'
      OR s.message NOT LIKE 'superseded by run % rolled back')")
[ "$bad" = 0 ] || { q "SELECT r.id, r.status, s.message FROM runs r JOIN stages s ON s.run_id = r.id"; fail "$bad runs neither succeeded nor superseded"; }
[ "$(q "SELECT count(*) FROM runs WHERE status = 'succeeded'")" -ge 1 ] || fail "no run succeeded"

# 2. no two rollouts of the target at once
bad=$(q "SELECT count(*) FROM rollouts a JOIN rollouts b ON a.target = b.target AND a.id < b.id
    WHERE tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)")
[ "$bad" = 0 ] || { q "SELECT run_id, status, started_at, finished_at FROM rollouts ORDER BY started_at"; fail "$bad pairs of rollouts overlapped"; }
# ... and the commands ran one run's block after another's
blocks=$(awk '{ print $1 }' "$tmp/ledger" | uniq)
[ "$(printf '%s\n' "$blocks" | sort | uniq -d)" = "" ] ||
    { cat "$tmp/ledger"; fail "two runs moved the traffic at once"; }

# 3. no process of the test left
for _ in $(seq 1 50); do
	pgrep -f "$tmp/state" >/dev/null || break
	sleep 0.2
done
if pgrep -af "$tmp/state"; then fail "processes survived"; fi
echo "rollout_crash.sh: ok ($RUNS runs, $kills kills, $(q "SELECT count(*) FROM runs WHERE status = 'failed'") superseded)"
