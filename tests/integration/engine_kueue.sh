#!/usr/bin/env bash
# engine_kueue: `sluice serve` with `executor: kubernetes` against the
# fake API server's Kueue (a ClusterQueue whose flavor h100 has 8 GPUs of
# quota, LocalQueue ml-training; --exec: the Jobs' commands really run
# here), a real PostgreSQL and git repository:
#   1. a queued stage that does not fit the unused quota waits, stage
#      submitted, with the Workload's own message as its waiting_reason;
#   2. when the quota frees it is admitted and runs: the attempt shows the
#      queue, the flavor and the admission time (API);
#   3. a Kueue eviction sends the running attempt back to waiting
#      (attempt and stage submitted, "evicted by Kueue: ...; waiting to be
#      admitted again", evictions 1), with no retry counted;
#   4. re-admitted, the same Job runs again and the run succeeds with one
#      attempt of the stage.
# Each stage command blocks until the test creates its gate file, so
# nothing depends on timing.  Needs python3, openssl, curl.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
for c in python3 curl openssl; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "engine_kueue.sh: SKIP ($c not installed)"
		exit 0
	fi
done
fail() {
	echo "engine_kueue.sh: FAIL: $*" >&2
	[ -f "$tmp/serve.log" ] && tail -40 "$tmp/serve.log" >&2
	exit 1
}
. "$(dirname "$0")/../support/lib.sh"
t_json_serve

db=engine_kueue_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/engine-kueue.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	: >"$tmp/go/hold" 2>/dev/null || true
	: >"$tmp/go/train" 2>/dev/null || true
	t_kube_fake_stop "$tmp/kube"
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
t_db_create "$db"
# one psql session for the many queries (t_sql): a psql and a backend
# per query cost more than the query
t_sql_open "$conn" "$tmp/sql.err"
q() { t_sql "$1"; }
mkdir -p "$tmp/go" "$tmp/exec"

# The fake: one node with 16 GPUs, Kueue with 8 GPUs of quota in h100.
t_kube_fake_start "$tmp/kube" --exec --exec-dir "$tmp/exec" --nodes 1 \
    --gpus nvidia.com/gpu=16 --kueue-flavor h100:nvidia.com/gpu=8 \
    --kueue-queue ml-training
fake_post() {
	curl -sS --fail --cacert "$KUBE_FAKE_DIR/ca.crt" -X POST \
	    -H 'Content-Type: application/json' -d "$2" "$KUBE_FAKE_URL/_fake/$1" >/dev/null
}

# hold (4 GPUs) takes half the quota until its gate; train (8 GPUs, after
# prep, so its Job comes second) records each start and waits for its gate.
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/kueue.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: kueue}
spec:
  triggers:
    push: {branches: [main]}
  checkout: false
  defaults:
    image: "registry.example.com/ml/train:1.0"
    env: {GO: "$tmp/go"}
  stages:
    - name: hold
      queue: ml-training
      resources: {gpu: 4, gpu_resource: nvidia.com/gpu}
      command: ["sh", "-c", "i=0; while [ ! -e \"\$GO/hold\" ] && [ \$i -lt 900 ]; do sleep 0.1; i=\$((i+1)); done; echo held"]
    - name: prep
      command: ["sh", "-c", "echo preparing"]
    - name: train
      needs: [prep]
      queue: ml-training
      retries: 2
      resources: {gpu: 8, gpu_resource: nvidia.com/gpu}
      command: ["sh", "-c", "echo \"train \$SLUICE_ATTEMPT\" >>\"\$GO/started\"; i=0; while [ ! -e \"\$GO/train\" ] && [ \$i -lt 900 ]; do sleep 0.1; i=\$((i+1)); done; echo '::metric auc=0.9'"]
YAML
t_git_push "$tmp/work" seed

port=$(t_free_port)
base=http://127.0.0.1:$port
cat >"$tmp/sluice.yaml" <<YAML
listen: 127.0.0.1:$port
database_url: "$conn"
state_dir: $tmp/state
log_level: info
executor: kubernetes
kubernetes:
  kubeconfig: $KUBE_FAKE_DIR/kubeconfig
  namespace: sluice-kueue
repositories:
  - name: kueue
    url: file://$tmp/repo.git
    branches: [main]
    path: pipelines
    interval: 1s
YAML
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
unset KUBECONFIG

api() { curl -sS --fail -H "Authorization: Bearer $token" "$base/api/v1/$1"; }
train() { api "runs/$run" | t_json "[s for s in d['stages'] if s['name'] == 'train'][0]$1"; }
attempt() { train "['attempts'][-1]$1"; }
# facts EXPR...: one GET of the run, then each EXPR on a line of its own,
# evaluated with d = the run, t = its stage train, a = train's last attempt
# (one snapshot for several checks: each python3 start costs)
facts() {
	api "runs/$run" | python3 -c 'import json,sys
d = json.load(sys.stdin)
t = [s for s in d["stages"] if s["name"] == "train"][0]
a = t["attempts"][-1]
for e in sys.argv[1:]:
    v = eval(e)
    print("" if v is None else v)' "$@"
}
starts() { [ -e "$tmp/go/started" ] && wc -l <"$tmp/go/started" || echo 0; }

"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 &
pid=$!
t_wait_until "/readyz" 'test "$(t_http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role operator)
t_wait_until "the pipeline" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1'
echo data >"$tmp/work/data.txt"
t_git_push "$tmp/work" data
t_wait_until "a run from the push" 'test "$(q "SELECT count(*) FROM runs")" = 1'
run=$(q "SELECT id FROM runs")

# 1. train waits for quota, with Kueue's message.
msg="couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 4 more needed"
t_wait_until "train waiting with the Workload's message" \
    'test "$(train ".get(\"waiting_reason\") or \"\"")" = "$msg"'
mapfile -t f < <(facts 't["status"]' 'a["queue"]' 'a.get("admitted_at") or ""')
[ "${f[0]:-}" = submitted ] || fail "train waiting but ${f[0]:-}"
[ "${f[1]:-}" = ml-training ] || fail "attempt queue: ${f[1]:-}"
[ -z "${f[2]:-}" ] || fail "admitted_at before admission: ${f[2]:-}"
[ "$(starts)" = 0 ] || fail "train started without quota"
echo "engine_kueue.sh: train waits: $msg"

# 2. hold ends, the quota frees: train is admitted on h100 and runs.
: >"$tmp/go/hold"
t_wait_until "train started" 'test "$(starts)" = 1'
t_wait_until "train running" 'test "$(train "[\"status\"]")" = running'
t_wait_until "train's admission recorded" 'test -n "$(attempt "[\"admitted_at\"]")"'
mapfile -t f < <(facts 'a["flavor"]' 'a["evictions"]' 'a["job"]')
[ "${f[0]:-}" = h100 ] || fail "attempt flavor: ${f[0]:-}"
[ "${f[1]:-}" = 0 ] || fail "evictions before one: ${f[1]:-}"

# 3. Kueue preempts it (held until /_fake/admit): back to waiting.
job=${f[2]:-}
[ -n "$job" ] || fail "no job name"
fake_post kueue/evict "{\"namespace\": \"sluice-kueue\", \"name\": \"$job\", \"hold\": true}"
evicted() { case $(train ".get('waiting_reason') or ''") in "evicted by Kueue: Preempted to accommodate a workload"*"; waiting to be admitted again") return 0 ;; esac; return 1; }
t_wait_until "train evicted, waiting again" 'evicted'
mapfile -t f < <(facts 't["waiting_reason"]' 't["status"]' 'a["status"]' 'a["evictions"]' \
    'len(t["attempts"])' 'd["status"]')
echo "engine_kueue.sh: train waits: ${f[0]:-}"
[ "${f[1]:-}" = submitted ] || fail "evicted stage is ${f[1]:-}"
[ "${f[2]:-}" = submitted ] || fail "evicted attempt is ${f[2]:-}"
[ "${f[3]:-}" = 1 ] || fail "evictions: ${f[3]:-}"
[ "${f[4]:-}" = 1 ] || fail "an eviction made a new attempt"
[ "${f[5]:-}" = running ] || fail "run not running"
[ "$(q "SELECT count(*) FROM events e JOIN stage_attempts a ON a.id = e.entity_id
    WHERE e.entity_type = 'attempt' AND a.job_name = '$job' AND e.from_state = 'running'
    AND e.to_state = 'submitted' AND e.reason LIKE 'evicted by Kueue: %'")" = 1 ] ||
    fail "no running -> submitted event with the reason"

# 4. Admitted again: the same Job runs again, and the run succeeds.
fake_post admit "{\"namespace\": \"sluice-kueue\", \"name\": \"$job\"}"
t_wait_until "train started again" 'test "$(starts)" = 2'
t_wait_until "train running again" 'test "$(train "[\"status\"]")" = running'
: >"$tmp/go/train"
t_wait_until "run succeeded" 'test "$(api "runs/$run" | t_json "d[\"status\"]")" = succeeded'
[ "$(cat "$tmp/go/started")" = "$(printf 'train 1\ntrain 1')" ] ||
    fail "train ran as: $(cat "$tmp/go/started")"
mapfile -t f < <(facts 'str(t["attempts"]).replace(" ", "")' 'len(t["attempts"])' \
    '"%s %s %s" % (a["status"], a["evictions"], a["flavor"])')
got=${f[0]:-}
[ "${f[1]:-}" = 1 ] || fail "train attempts: $got"
[ "${f[2]:-}" = "succeeded 1 h100" ] || fail "train attempt: $got"
[ "$(q "SELECT max(attempt) FROM stage_attempts")" = 1 ] || fail "a retry was counted"
kill -TERM "$pid"
st=0
wait "$pid" 2>/dev/null || st=$?
pid=
[ "$st" = 0 ] || fail "sluice serve exited with status $st after SIGTERM"
echo "engine_kueue.sh: ok"
