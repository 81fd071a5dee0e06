#!/usr/bin/env bash
# engine_kube: `sluice serve` with `executor: kubernetes` runs a pipeline
# end to end against the fake API server (tests/fakes/kube_apiserver.py,
# over HTTPS with its generated kubeconfig, --exec: the Jobs' commands
# really run here) and a real PostgreSQL and git repository:
#   1. a push makes a run; its 3 stages become Jobs with the right labels
#      and GPU resources (read with kubectl); the run succeeds; metrics are
#      stored (GET /api/v1/runs/{id}); /readyz is 200; /metrics has
#      sluice_kube_api_calls_total;
#   2. with one GPU (max_gpus 1, the fake has 1), a second run's train
#      stage waits with a waiting_reason, and starts when the first ends;
#   3. kill -9 while a Job runs, restart: the run still finishes and every
#      Job was created once (the fake's create count = attempts);
#   4. POST /api/v1/runs/{id}/cancel while a Job runs deletes the Job and
#      the run ends canceled;
#   5. (engine_kube_sched.sh, this script with ENGINE_KUBE_PART=sched, run
#      in parallel with its own fake, database and controller) without the
#      cap (max_gpus 0) the fake's scheduler holds a second GPU run: the
#      reason is the pod's "Insufficient nvidia.com/gpu" message; it runs
#      when the first ends, each Job created once.
# The train stage blocks until the test creates a gate file, so nothing
# depends on timing.  Needs kubectl, python3, openssl, curl; skips without
# kubectl or python3.
set -euo pipefail
part=${ENGINE_KUBE_PART:-main}
case $part in main) name=engine_kube.sh ;; sched) name=engine_kube_sched.sh ;;
*) echo "$name: ENGINE_KUBE_PART=$part: not main or sched" >&2; exit 2 ;; esac
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
for c in kubectl python3 curl openssl; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "$name: SKIP ($c not installed)"
		exit 0
	fi
done
fail() {
	echo "$name: FAIL: $*" >&2
	[ -f "$tmp/serve.log" ] && tail -40 "$tmp/serve.log" >&2
	exit 1
}
. "$(dirname "$0")/../support/lib.sh"
t_json_serve

db=engine_kube_${part}_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/engine-kube.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	: >"$tmp/go/all" 2>/dev/null || true
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

# The fake: HTTPS, one node with one GPU, running the Jobs' commands.
t_kube_fake_start "$tmp/kube" --exec --exec-dir "$tmp/exec" --nodes 1 \
    --gpus nvidia.com/gpu=1

# The repository: prep -> train (1 GPU, waits for its gate file) -> evaluate.
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/kube.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: kube}
spec:
  triggers:
    push: {branches: [main]}
  concurrency: 0
  checkout: false
  defaults:
    image: "registry.example.com/ml/train:1.0"
    env: {GO: "$tmp/go"}
  stages:
    - name: prep
      command: ["sh", "-c", "echo preparing; echo '::metric rows=100'"]
    - name: train
      needs: [prep]
      resources: {gpu: 1, gpu_resource: nvidia.com/gpu}
      command: ["sh", "-c", "echo \"train \$SLUICE_RUN_ID \$SLUICE_ATTEMPT\" >>\"\$GO/started-\$SLUICE_RUN_ID\"; i=0; while [ ! -e \"\$GO/\$SLUICE_RUN_ID\" ] && [ ! -e \"\$GO/all\" ] && [ \$i -lt 900 ]; do sleep 0.1; i=\$((i+1)); done; echo '::metric auc=0.9 loss=0.25'"]
    - name: evaluate
      needs: [train]
      gates: [{metric: auc, op: ">=", value: 0.9}]
      command: ["sh", "-c", "echo '::metric auc=0.9'"]
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
  namespace: sluice-test
  max_gpus: $([ "$part" = main ] && echo 1 || echo 0)
repositories:
  - name: kube
    url: file://$tmp/repo.git
    branches: [main]
    path: pipelines
    interval: 1s
YAML
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
unset KUBECONFIG

start() {
	"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 &
	pid=$!
}
new_run() {
	curl -sS --fail -X POST -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' -d '{"ref": "main"}' \
	    "$base/api/v1/pipelines/kube/runs" | t_json 'd["id"]'
}
api() { curl -sS --fail -H "Authorization: Bearer $token" "$base/api/v1/$1"; }
run_status() { api "runs/$1" | t_json 'd["status"]'; }
stage_field() { api "runs/$1" | t_json "[s for s in d['stages'] if s['name'] == '$2'][0]$3"; }
is_status() { [ "$(run_status "$1")" = "$2" ]; }
stage_is() { [ "$(stage_field "$1" "$2" "['status']")" = "$3" ]; }
job_exists() { "${kc[@]}" get job "$1" -o name >/dev/null; }
job_gone() { ! "${kc[@]}" get job "$1" -o name; }
creates() { t_fake stats | t_json 'd["requests"].get("create jobs", 0)'; }

# sigterm: stop the controller; it exits 0
sigterm() {
	local st=0
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || st=$?
	pid=
	[ "$st" = 0 ] || fail "sluice serve exited with status $st after SIGTERM"
}
# once_each RUN...: each run's train command ran once (a second Job would
# have run it again), every Job was created once: one create per attempt,
# and no attempt beyond the first
once_each() {
	local r n attempts
	for r in "$@"; do
		[ "$(cat "$tmp/go/started-$r")" = "train $r 1" ] ||
		    fail "run $r train ran: $(cat "$tmp/go/started-$r")"
	done
	attempts=$(q "SELECT count(*) FROM stage_attempts")
	[ "$(q "SELECT max(attempt) FROM stage_attempts")" = 1 ] || fail "an attempt was repeated"
	n=$(creates)
	[ "$n" = "$attempts" ] || fail "$n Job creates for $attempts attempts"
	jobs_created=$n
}
# the end: SIGTERM, and no sanitizer report in the log
finish() {
	sigterm
	[ -n "${ENGINE_KUBE_LOG:-}" ] &&
	    cp "$tmp/serve.log" "$ENGINE_KUBE_LOG${part/#main/}"
	! grep -E 'runtime error|ERROR: (Address|Leak|Undefined)Sanitizer' "$tmp/serve.log" ||
	    fail "sanitizer reports in the controller's log"
}

start
t_wait_until "/readyz" 'test "$(t_http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role operator)
t_wait_until "the pipeline" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1'

if [ "$part" = sched ]; then
	# 5. Without the engine's cap (max_gpus 0), the fake's scheduler holds
	# the second GPU Job: its waiting_reason is the pod's Unschedulable
	# message.
	r3=$(new_run)
	t_wait_until "run $r3 train running" 'stage_is "$r3" train running'
	r4=$(new_run)
	unsched() { case $(stage_field "$r4" train ".get('waiting_reason') or ''") in *Insufficient\ nvidia.com/gpu*) return 0 ;; esac; return 1; }
	t_wait_until "run $r4 train unschedulable" 'unsched'
	echo "$name: run $r4 train waits: $(stage_field "$r4" train "['waiting_reason']")"
	[ ! -e "$tmp/go/started-$r4" ] || fail "run $r4 train started while run $r3 held the GPU"
	: >"$tmp/go/$r3"
	t_wait_until "run $r3 succeeded" 'is_status "$r3" succeeded'
	t_wait_until "run $r4 train started" 'test -e "$tmp/go/started-$r4"'
	: >"$tmp/go/$r4"
	t_wait_until "run $r4 succeeded" 'is_status "$r4" succeeded'
	once_each "$r3" "$r4"
	finish
	echo "$name: ok (runs $r3, $r4 succeeded; $jobs_created Jobs, each created once)"
	exit 0
fi

# 1. A push makes run 1.
echo data >"$tmp/work/data.txt"
t_git_push "$tmp/work" data
t_wait_until "a run from the push" 'test "$(q "SELECT count(*) FROM runs")" = 1'
r1=$(q "SELECT id FROM runs")
[ "$(q "SELECT trigger FROM runs WHERE id = $r1")" = push ] || fail "run $r1 not triggered by push"
t_wait_until "run $r1 train running" 'test -e "$tmp/go/started-$r1"'
t_wait_until "run $r1 train running (API)" 'stage_is "$r1" train running'
j1=$(stage_field "$r1" train "['attempts'][-1]['job']")
[ -n "$j1" ] || fail "no job name for run $r1 train"
"${kc[@]}" get job "$j1" -o json >"$tmp/job1.json"
t_json 'd["metadata"]["labels"]["app.kubernetes.io/managed-by"] + " " + d["metadata"]["labels"]["sluice/run"] + " " + d["metadata"]["labels"]["sluice/stage"] + " " + d["metadata"]["labels"]["sluice/attempt"] + " " + d["metadata"]["labels"]["sluice/pipeline"]' \
    <"$tmp/job1.json" >"$tmp/labels"
[ "$(cat "$tmp/labels")" = "sluice $r1 train 1 kube" ] || fail "labels of $j1: $(cat "$tmp/labels")"
got=$(t_json 'str(d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) + " " + str(d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"]) + " " + str(d["spec"]["backoffLimit"]) + " " + d["spec"]["template"]["spec"]["restartPolicy"]' <"$tmp/job1.json")
[ "$got" = "1 1 0 Never" ] || fail "spec of $j1 (gpu limit, request, backoffLimit, restartPolicy): $got"

# 2. Run 2 (API) waits for the GPU while run 1 trains.
r2=$(curl -sS --fail -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"ref": "main"}' \
    "$base/api/v1/pipelines/kube/runs" | t_json 'd["id"]')
[ -n "$r2" ] || fail "run 2 not created"
has_wait() { [ -n "$(stage_field "$r2" train ".get('waiting_reason') or ''")" ]; }
t_wait_until "run $r2 train waiting with a reason" 'has_wait'
reason=$(stage_field "$r2" train "['waiting_reason']")
echo "$name: run $r2 train waits: $reason"
case $reason in
*GPU*|*gpu*) ;;
*) fail "waiting_reason of run $r2 train does not mention the GPU: $reason" ;;
esac
[ ! -e "$tmp/go/started-$r2" ] || fail "run $r2 train started while run $r1 held the GPU"

# 3. kill -9 while run 1's train Job runs; restart; it is adopted.
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=
start
t_wait_until "/readyz after restart" 'test "$(t_http_code "$base/readyz")" = 200'
: >"$tmp/go/$r1"
t_wait_until "run $r1 succeeded" 'is_status "$r1" succeeded'
api "runs/$r1" >"$tmp/run1.json"
got=$(t_json '" ".join(s["name"] + "=" + s["status"] for s in d["stages"])' <"$tmp/run1.json")
[ "$got" = "prep=succeeded train=succeeded evaluate=succeeded" ] || fail "run $r1 stages: $got"
got=$(t_json '" ".join(a["job"] for s in d["stages"] for a in s["attempts"])' <"$tmp/run1.json")
[ "$got" = "sluice-$r1-prep-1 sluice-$r1-train-1 sluice-$r1-evaluate-1" ] || fail "run $r1 jobs: $got"
got=$(t_json '[s for s in d["stages"] if s["name"] == "train"][0]["metrics"]["auc"]' <"$tmp/run1.json")
[ "$got" = 0.9 ] || fail "run $r1 train metric auc: $got"
got=$(t_json '[s for s in d["stages"] if s["name"] == "prep"][0]["metrics"]["rows"]' <"$tmp/run1.json")
[ "$got" = 100 ] || fail "run $r1 prep metric rows: $got"
[ "$(q "SELECT count(*) FROM metrics m JOIN stage_attempts a ON a.id = m.attempt_id
    JOIN stages s ON s.id = a.stage_id WHERE s.run_id = $r1 AND m.name = 'auc'")" = 2 ] ||
    fail "auc not stored for train and evaluate"

# 2 (cont). The GPU is free: run 2 trains now.
t_wait_until "run $r2 train started after run $r1" 'test -e "$tmp/go/started-$r2"'
t_wait_until "run $r2 train running" 'stage_is "$r2" train running'
j2=$(stage_field "$r2" train "['attempts'][-1]['job']")
got=$(stage_field "$r2" train ".get('waiting_reason') or ''")
[ -z "$got" ] || fail "run $r2 train runs but still shows waiting_reason: $got"
job_exists "$j2" || fail "job $j2 not in the fake"

# 4. Cancel run 2 while its train Job runs: the Job is deleted.
code=$(t_http_code -X POST -H "Authorization: Bearer $token" "$base/api/v1/runs/$r2/cancel")
case $code in 200|202) ;; *) fail "cancel answered $code" ;; esac
t_wait_until "run $r2 canceled" 'is_status "$r2" canceled'
t_wait_kube "job $j2 deleted" 'job_gone "$j2"'
got=$(stage_field "$r2" train "['status']")
[ "$got" = canceled ] || fail "run $r2 train: $got"

# 3 (cont). Every Job was created once, each train command ran once.
once_each "$r1" "$r2"

# /readyz and /metrics
[ "$(t_http_code "$base/readyz")" = 200 ] || fail "/readyz not 200"
curl -sS --fail "$base/metrics" >"$tmp/metrics" || fail "/metrics failed"
grep -q '^sluice_kube_api_calls_total{.*verb="create".*resource="jobs"' "$tmp/metrics" ||
    { grep kube "$tmp/metrics" | head -5; fail "/metrics lacks sluice_kube_api_calls_total for job creates"; }

grep -q 'msg="kubernetes jobs reconciled".*kept=[1-9]' "$tmp/serve.log" ||
    fail "the restarted controller kept no Job"

finish
echo "$name: ok (run $r1 succeeded, $r2 canceled; $jobs_created Jobs, each created once; restart adopted $j1)"
