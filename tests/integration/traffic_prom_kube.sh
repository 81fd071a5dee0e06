#!/usr/bin/env bash
# traffic_prom_kube: a KServe canary judged by a real Prometheus, end to
# end through `sluice serve` (the Kubernetes executor against the fake API
# server, tests/fakes/kube_apiserver.py --exec; a real PostgreSQL and git
# repository).  Prometheus (tests/fakes/prometheus_run.sh, 1 s scrapes)
# reads the request counters of tests/fakes/request_counter.py, whose
# canary error rate the test sets; each step's analysis.queries ask
# Prometheus for that rate (canary.analysis_provider.prometheus) while
# canary.traffic {provider: kserve} moves the InferenceService:
#   1. healthy: storageUri and canaryTrafficPercent follow 10 -> 50 -> 100
#      (read back with kubectl at each step's approval, after its passed
#      analysis), and the run promotes (canaryTrafficPercent removed);
#   2. a second run: once step 1 has put 10 % on its model and measured a
#      pass, the canary's error rate goes to 0.5; the step fails after
#      failure_limit, the InferenceService goes back to canaryTrafficPercent
#      0 with the first run's storageUri, the rollout is rolled_back and the
#      run's measurements (GET /api/v1/runs/{id}) hold the failed ones.
# How long the rollback took after the rate was raised is printed, never
# asserted.  Needs prometheus, kubectl, python3, curl, openssl; skips
# without them.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
for c in prometheus kubectl python3 curl openssl; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "traffic_prom_kube.sh: SKIP ($c not installed)"
		exit 0
	fi
done
fail() {
	echo "traffic_prom_kube.sh: FAIL: $*" >&2
	[ -f "$tmp/serve.log" ] && tail -40 "$tmp/serve.log" >&2
	exit 1
}
. "$(dirname "$0")/../support/lib.sh"
t_json_serve

db=traffic_prom_kube_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/traffic-prom-kube.XXXXXX")
pid='' cpid='' ppid_=''
stop() { # PID SIGNAL: stop a child of this shell; never fails
	if [ -n "$1" ]; then
		kill "-$2" "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}
cleanup() {
	exec 9>&-
	stop "$pid" KILL
	stop "$ppid_" TERM
	stop "$cpid" TERM
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
mkdir -p "$tmp/exec" "$tmp/prom"

# The counter server and Prometheus scraping it, their standard input a
# FIFO whose only writer is this shell's fd 9: they stop when it is gone
# (a kill -9 of the test included), or at the end by pid.
t_kube_fake_start "$tmp/kube" --exec --exec-dir "$tmp/exec" --nodes 1
mkfifo "$tmp/prom/hold"
python3 "$SLUICE_TOP/tests/fakes/request_counter.py" --target fraud-api \
    <"$tmp/prom/hold" >"$tmp/prom/counter.port" &
cpid=$!
exec 9>"$tmp/prom/hold"
t_wait_until "the counter server" 'test -s "$tmp/prom/counter.port"'
cport=$(cat "$tmp/prom/counter.port")
"$SLUICE_TOP/tests/fakes/prometheus_run.sh" "$tmp/prom" "127.0.0.1:$cport" \
    <"$tmp/prom/hold" >"$tmp/prom/prometheus.port" 9>&- &
ppid_=$!
t_wait_until "prometheus" 'test -s "$tmp/prom/prometheus.port" || ! kill -0 $ppid_'
[ -s "$tmp/prom/prometheus.port" ] || fail "prometheus did not start: $(cat "$tmp/prom/prometheus.log")"
prom=http://127.0.0.1:$(cat "$tmp/prom/prometheus.port")
set_error_rate() {
	curl -sS --fail -X POST "http://127.0.0.1:$cport/error_rate?backend=canary&rate=$1" \
	    >/dev/null || fail "set the canary error rate to $1"
}
# The canary's error rate over 3 s: what the pipelines ask Prometheus.
rate_q='sum(rate(http_requests_total{target="fraud-api",backend="canary",code=~"5.."}[3s])) / sum(rate(http_requests_total{target="fraud-api",backend="canary"}[3s]))'
prom_rate() {
	curl -sS --fail "$prom/api/v1/query" --data-urlencode "query=$rate_q" |
	    t_json 'd["data"]["result"][0]["value"][1]'
}

"${kc[@]}" create -f - >/dev/null <<'YAML' || fail "create the InferenceService"
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: fraud }
spec:
  predictor:
    model: { modelFormat: { name: sklearn }, storageUri: "s3://models/fraud/base" }
YAML
uri_pct() {
	"${kc[@]}" get inferenceservice fraud -o json |
	    t_json 'd["spec"]["predictor"]["model"]["storageUri"] + " " + str(d["spec"]["predictor"].get("canaryTrafficPercent"))'
}

# The repository: train registers a model; the canary moves fraud's
# traffic and asks Prometheus for the canary's error rate at each step.
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
query="{name: error_rate, query: 'sum(rate(http_requests_total{target=\"\${canary.target}\",backend=\"canary\",code=~\"5..\"}[3s])) / sum(rate(http_requests_total{target=\"\${canary.target}\",backend=\"canary\"}[3s]))', op: \"<=\", value: 0.05}"
quick="{duration: 3s, interval: 1s, queries: [$query]}"
pipeline() { # NAME STEPS
	cat >"$tmp/work/pipelines/$1.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: $1}
spec:
  concurrency: 0
  checkout: false
  defaults:
    image: "registry.example.com/ml/train:1.0"
  stages:
    - name: train
      command: ["sh", "-c", "echo \"::artifact model=s3://models/fraud/\$SLUICE_RUN_ID\""]
    - name: rollout
      needs: [train]
      type: canary
      command: ["sh", "-c", "echo step \$SLUICE_CANARY_WEIGHT"]
      canary:
        target: fraud-api
        traffic: {provider: kserve, inference_service: fraud}
        analysis_provider:
          prometheus: {address: "$prom", timeout: 5s}
        steps: $2
YAML
}
# healthy: each step analysed for 3 s, then held for an approval (the
# object is read there); degraded: step 1 watched long enough for the
# raised rate to fail it (one failed measurement tolerated).
pipeline healthy "[{weight: 10, analysis: $quick, approval: required}, {weight: 50, analysis: $quick, approval: required}, {weight: 100, analysis: $quick, approval: required}]"
pipeline degraded "[{weight: 10, analysis: {duration: 60s, interval: 1s, failure_limit: 1, queries: [$query]}}, {weight: 50, analysis: $quick}, {weight: 100}]"
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
repositories:
  - name: traffic
    url: file://$tmp/repo.git
    branches: [main]
    path: pipelines
    interval: 1s
YAML
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
unset KUBECONFIG

api() { curl -sS --fail -H "Authorization: Bearer $token" "$base/api/v1/$1" "${@:2}"; }
run_status() { api "runs/$1" | t_json 'd["status"]'; }
is_status() { [ "$(run_status "$1")" = "$2" ]; }
new_run() {
	api "pipelines/$1/runs" -X POST -H 'Content-Type: application/json' \
	    -d '{"ref": "main"}' | t_json 'd["id"]'
}
# results RUN STEP: the run's measurements of STEP, "pass,pass,fail,..."
results() { api "runs/$1" | t_json "','.join(m['result'] for r in d['rollouts'] for m in r['measurements'] if m['step'] == $2)"; }
npass() { api "runs/$1" | t_json "sum(1 for r in d['rollouts'] for m in r['measurements'] if m['result'] == 'pass')"; }
pending() { q "SELECT id FROM approvals WHERE run_id = $1 AND step = $2 AND status = 'pending'"; }
has_pending() { [ -n "$(pending "$1" "$2")" ]; }
approve() { # RUN STEP
	local id
	t_wait_until "run $1 step $2 waiting for approval" "has_pending $1 $2"
	id=$(pending "$1" "$2")
	api "approvals/$id/approve" -X POST -H 'Content-Type: application/json' \
	    -d '{"comment": "traffic_prom_kube"}' >/dev/null || fail "approve $id"
}

"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 9>&- &
pid=$!
t_wait_until "/readyz" 'test "$(t_http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role admin)
t_wait_until "the pipelines" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 2'
# Prometheus has scraped the healthy canary for a whole rate window.
set_error_rate 0
t_wait_until "prometheus to read a canary error rate of 0" 'test "$(prom_rate)" = 0'

# 1. healthy: 10 -> 50 -> 100, each step's analysis passed, promoted.
r1=$(new_run healthy)
[ -n "$r1" ] || fail "run not created"
weights=(0 10 50 100)
for s in 1 2 3; do
	t_wait_until "run $r1 step $s waiting for approval" "has_pending $r1 $s"
	w=${weights[$s]}
	[ "$(uri_pct)" = "s3://models/fraud/$r1 $w" ] || fail "run $r1 step $s: inferenceservice at $(uri_pct)"
	res=$(results "$r1" "$s")
	case ,$res, in *,pass,*) ;; *) fail "run $r1 step $s: no measurement: $res" ;; esac
	case $res in *[!pas,]*) fail "run $r1 step $s measurements: $res" ;; esac
	approve "$r1" "$s"
done
t_wait_until "run $r1 succeeded" 'is_status "$r1" succeeded'
[ "$(uri_pct)" = "s3://models/fraud/$r1 None" ] || fail "promoted: inferenceservice at $(uri_pct)"
[ "$(q "SELECT status FROM rollouts WHERE run_id = $r1")" = succeeded ] || fail "run $r1's rollout not succeeded"
[ "$(q "SELECT status FROM model_versions WHERE uri = 's3://models/fraud/$r1'")" = production ] ||
    fail "run $r1's model is not in production"
echo "traffic_prom_kube.sh: run $r1 10 -> 50 -> 100 (measurements all pass) -> promoted"

# 2. degraded: the canary's errors rise during step 1's analysis.
r2=$(new_run degraded)
[ -n "$r2" ] || fail "run not created"
t_wait_until "run $r2 step 1 at 10 % with a passed measurement" \
    'test "$(uri_pct)" = "s3://models/fraud/$r2 10" && test "$(npass "$r2")" -ge 1'
set_error_rate 0.5
raised=$(date +%s%N)
t_wait_until "run $r2 failed" 'is_status "$r2" failed'
took=$((($(date +%s%N) - raised) / 1000000))
set_error_rate 0
[ "$(uri_pct)" = "s3://models/fraud/$r1 0" ] || fail "rolled back: inferenceservice at $(uri_pct)"
[ "$(q "SELECT status FROM rollouts WHERE run_id = $r2")" = rolled_back ] || fail "run $r2's rollout not rolled_back"
run=$(api "runs/$r2")
[ "$(t_json "d['rollouts'][0]['status']" <<<"$run")" = rolled_back ] || fail "GET runs/$r2: rollout not rolled_back"
nfail=$(t_json "sum(1 for m in d['rollouts'][0]['measurements'] if m['result'] == 'fail')" <<<"$run")
[ "$nfail" -ge 2 ] || fail "run $r2: $nfail failed measurements, want 2 (failure_limit 1): $(results "$r2" 1)"
msg=$(t_json "[s for s in d['stages'] if s['name'] == 'rollout'][0]['message']" <<<"$run")
case $msg in
'analysis of step 1 (weight 10) failed: query error_rate: 2 failed measurements (failure_limit 1'*'rolled back') ;;
*) fail "run $r2 message: $msg" ;;
esac
[ "$(q "SELECT status FROM model_versions WHERE uri = 's3://models/fraud/$r2'")" = rejected ] ||
    fail "run $r2's model is not rejected"
echo "traffic_prom_kube.sh: run $r2 measured $(results "$r2" 1); rolled back to s3://models/fraud/$r1 at 0 % ${took} ms after the error rate was raised"

kill -TERM "$pid"
st=0
wait "$pid" 2>/dev/null || st=$?
pid=
[ "$st" = 0 ] || fail "sluice serve exited with status $st after SIGTERM"
! grep -E 'runtime error|ERROR: (Address|Leak|Undefined)Sanitizer' "$tmp/serve.log" ||
    fail "sanitizer reports in the controller's log"
echo "traffic_prom_kube.sh: ok (run $r1 promoted through 10/50/100 %, run $r2 rolled back on a raised error rate)"
