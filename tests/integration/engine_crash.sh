#!/usr/bin/env bash
# The engine survives `kill -9`: `sluice serve` (local executor) runs 60
# runs of a 3-stage pipeline (a -> b, a -> c; c fails its first attempt in
# odd runs and is retried) while the test SIGKILLs it at random moments
# (0-1.5 s after its start, or, every other time, after it has recorded
# an event) and starts it again, until every run has ended.  Then:
#   - every run is terminal (and succeeded);
#   - each stage attempt ran exactly once: every command appends
#     "run stage attempt" to a ledger; no line twice, and the ledger is
#     exactly the attempts the database says started;
#   - no process of the test survives (supervisors, stage commands);
#   - events are consistent: one terminal event per run, and every
#     transition of a run, stage or attempt starts where the previous
#     one ended.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
fail() { echo "engine_crash.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

RUNS=${ENGINE_CRASH_RUNS:-60}
db=engine_crash_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/engine-crash.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	# stop whatever a failed run may have left
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

# The repository: one pipeline, three short stages.
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/crash.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: crash}
spec:
  concurrency: 0
  checkout: true
  defaults:
    image: "alpine:3.20"
    env: {LEDGER: "$tmp/ledger"}
  stages:
    - name: a
      command: ["sh", "-c", "echo \"\$SLUICE_RUN_ID \$SLUICE_STAGE \$SLUICE_ATTEMPT\" >> \"\$LEDGER\"; test -f pipelines/crash.yaml; sleep 0.3"]
    - name: b
      needs: [a]
      command: ["sh", "-c", "echo \"\$SLUICE_RUN_ID \$SLUICE_STAGE \$SLUICE_ATTEMPT\" >> \"\$LEDGER\"; sleep 0.2; echo '::metric x=1'"]
    - name: c
      needs: [a]
      retries: 1
      command: ["sh", "-c", "echo \"\$SLUICE_RUN_ID \$SLUICE_STAGE \$SLUICE_ATTEMPT\" >> \"\$LEDGER\"; sleep 0.2; [ \$((SLUICE_RUN_ID % 2)) = 0 ] || [ \$SLUICE_ATTEMPT -ge 2 ]"]
YAML
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

# Start once to let the poller record the pipeline, then queue the runs
# (as store_run_create does: run, pending stages, event, NOTIFY).
# (Deadlines here are generous: they only stop a hang, on a loaded machine.)
start
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
	[ "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1 ] ||
    { cat "$tmp/serve.log"; fail "the pipeline was not recorded"; }
q "WITH v AS (SELECT id, pipeline_id, commit_id, definition FROM pipeline_versions WHERE valid),
  r AS (INSERT INTO runs (pipeline_id, pipeline_version_id, commit_id, branch, trigger, created_by)
        SELECT v.pipeline_id, v.id, v.commit_id, 'main', 'api', 'crash-test'
        FROM v, generate_series(1, $RUNS) RETURNING id),
  s AS (INSERT INTO stages (run_id, name, type, position, needs)
        SELECT r.id, st->>'name', st->>'type', (o - 1)::int,
          ARRAY(SELECT jsonb_array_elements_text(st->'needs'))
        FROM r, v, jsonb_array_elements(v.definition->'spec'->'stages') WITH ORDINALITY AS x(st, o))
  INSERT INTO events (actor, entity_type, entity_id, run_id, action, to_state)
  SELECT 'crash-test', 'run', id, id, 'created', 'queued' FROM r;
  NOTIFY sluice_runs;" >/dev/null

# Kill and restart until every run has ended (bounded against a hang: at
# most 120 s without a new event, 900 s in all).
kills=0
last=0
seen=0
deadline=$((SECONDS + 120))
limit=$((SECONDS + 900))
while :; do
	active=$(q "SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'canceled')")
	[ "$active" != 0 ] || break
	now=$(q "SELECT coalesce(max(id), 0) FROM events")
	if [ "$now" -gt "$seen" ]; then
		seen=$now
		deadline=$((SECONDS + 120))
	fi
	[ $SECONDS -lt $deadline ] || { tail -30 "$tmp/serve.log"; fail "no event in 120 s ($active runs still active)"; }
	[ $SECONDS -lt $limit ] || { tail -30 "$tmp/serve.log"; fail "$active runs still active after 900 s"; }
	# Every other controller is killed only once it has recorded an
	# event: on a loaded machine a start may take longer than any delay,
	# and the runs would never move on; the others die wherever they are.
	[ $((kills % 2)) = 0 ] || t_moved_since "$last" "$pid" "$tmp/serve.log"
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", rand() * 1.5 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	kills=$((kills + 1))
	last=$(q "SELECT coalesce(max(id), 0) FROM events")
	start
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=

# 1. every run terminal, and with these commands, succeeded
[ "$(q "SELECT count(*) FROM runs")" = "$RUNS" ] || fail "wrong number of runs"
got=$(q "SELECT status || ':' || count(*) FROM runs GROUP BY status")
[ "$got" = "succeeded:$RUNS" ] || { q "SELECT id, status, message FROM runs WHERE status <> 'succeeded'"; fail "runs: $got"; }

# 2. each attempt executed exactly once
dups=$(sort "$tmp/ledger" | uniq -d)
[ -z "$dups" ] || fail "attempts executed twice: $dups"
q "SELECT s.run_id || ' ' || s.name || ' ' || a.attempt FROM stage_attempts a
   JOIN stages s ON s.id = a.stage_id WHERE a.started_at IS NOT NULL ORDER BY 1" >"$tmp/started"
sort "$tmp/ledger" >"$tmp/ran"
sort "$tmp/started" >"$tmp/started.sorted"
diff "$tmp/ran" "$tmp/started.sorted" >"$tmp/diff" ||
    { head -20 "$tmp/diff"; fail "the ledger and the recorded attempts differ"; }
expected=$((RUNS * 3 + RUNS / 2))
[ "$(wc -l <"$tmp/ledger")" = "$expected" ] || fail "$(wc -l <"$tmp/ledger") executions, want $expected"
[ "$(q "SELECT count(*) FROM stage_attempts WHERE status NOT IN ('succeeded', 'failed')")" = 0 ] ||
    fail "attempts neither succeeded nor failed"
[ "$(q "SELECT count(*) FROM metrics")" = "$RUNS" ] || fail "metrics stored more than once"

# 3. no process of the test left (supervisors and stage commands)
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
	pgrep -f "$tmp/state" >/dev/null || break
	sleep 0.2
done
if pgrep -af "$tmp/state"; then fail "processes survived"; fi
[ -z "$(ls "$tmp/state/work" 2>/dev/null)" ] || fail "checkouts left: $(ls "$tmp/state/work")"

# 4. events: one terminal event per run; transitions chain
bad=$(q "SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM events e
    WHERE e.entity_type = 'run' AND e.entity_id = r.id AND e.action = 'transition'
      AND e.to_state IN ('succeeded', 'failed', 'canceled')) <> 1")
[ "$bad" = 0 ] || fail "$bad runs without exactly one terminal event"
bad=$(q "SELECT count(*) FROM (SELECT entity_type, from_state, action,
      lag(to_state) OVER (PARTITION BY entity_type, entity_id ORDER BY id) AS prev
    FROM events WHERE entity_type IN ('run', 'stage', 'attempt')) x
    WHERE action = 'transition' AND ((prev IS NULL AND from_state <> 'pending')
      OR (prev IS NOT NULL AND from_state IS DISTINCT FROM prev))")
[ "$bad" = 0 ] || fail "$bad transitions do not start where the previous one ended"
bad=$(q "SELECT count(*) FROM stages s WHERE s.status <> (SELECT to_state FROM events e
    WHERE e.entity_type = 'stage' AND e.entity_id = s.id ORDER BY id DESC LIMIT 1)")
[ "$bad" = 0 ] || fail "$bad stages whose last event is not their status"
echo "engine_crash.sh: ok ($RUNS runs, $kills kills, $(wc -l <"$tmp/ledger") attempts each run once)"
