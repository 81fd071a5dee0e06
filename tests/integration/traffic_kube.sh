#!/usr/bin/env bash
# traffic_kube: canary traffic moved by the controller (canary.traffic
# providers kserve and gateway), `sluice serve` with the Kubernetes
# executor against the fake API server (tests/fakes/kube_apiserver.py,
# --exec) and a real PostgreSQL and git repository.  Each object is read
# back from the fake with kubectl after each step:
#   1. kserve: a rollout's steps 10 -> 50 -> 100 set the InferenceService's
#      storageUri to the run's model version and canaryTrafficPercent to the
#      weight; while the new revision is not Ready (the fake holds it), the
#      stage's waiting_reason is the Ready condition's reason and message,
#      and a kill -9 then changes nothing (no second patch); the promotion
#      removes canaryTrafficPercent;
#   2. a second run, kill -9 of the controller between its steps (waiting
#      for the approval of step 2): after the restart it is at the same
#      step and nothing was patched again; its rejection sets
#      canaryTrafficPercent 0 and restores the previous storageUri;
#   3. a missing InferenceService: the stage fails with a message naming it;
#   4. gateway: an HTTPRoute's stable and canary backendRefs get weights
#      90/10, 50/50, 0/100, stay there after the promotion; a rejected run
#      puts them back at 100/0; a route without the named backend fails
#      the stage with a message naming it.
# 1-3 and 4 run as two programs in parallel, each with its own fake,
# database and controller: this script (TRAFFIC_KUBE_PART=kserve, the
# default) and traffic_kube_gateway.sh (this script with
# TRAFFIC_KUBE_PART=gateway).
# Approvals are given through the API with a token.  Needs kubectl,
# python3, openssl, curl; skips without them.
set -euo pipefail
part=${TRAFFIC_KUBE_PART:-kserve}
case $part in kserve) name=traffic_kube.sh ;; gateway) name=traffic_kube_gateway.sh ;;
*) echo "$name: TRAFFIC_KUBE_PART=$part: not kserve or gateway" >&2; exit 2 ;; esac
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

db=traffic_kube_${part}_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/traffic-kube.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	"$SLUICE_TOP/tests/fakes/kube_fake.sh" stop "$tmp/kube" || true
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
t_db_create "$db"
# one psql session for the many queries (t_sql): a psql and a backend
# per query cost more than the query
t_sql_open "$conn" "$tmp/sql.err"
q() { t_sql "$1"; }
mkdir -p "$tmp/exec"

eval "$(KUBE_FAKE_WATCH_PID=$$ "$SLUICE_TOP/tests/fakes/kube_fake.sh" start \
    "$tmp/kube" --exec --exec-dir "$tmp/exec" --nodes 1)"
kc=(kubectl --kubeconfig "$KUBE_FAKE_DIR/kubeconfig" -n sluice-test)
fake() { curl -sS --fail --cacert "$KUBE_FAKE_DIR/ca.crt" "$KUBE_FAKE_URL/_fake/$1" "${@:2}"; }
fake_config() { fake config -X POST -H 'Content-Type: application/json' -d "$1" >/dev/null; }
# py EXPR: evaluate EXPR on the JSON document read from stdin (as `d`)
py() { t_json "$1"; }

# The objects the rollouts move.
"${kc[@]}" create -f - >/dev/null <<'YAML' || fail "create the InferenceService"
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: fraud }
spec:
  predictor:
    model: { modelFormat: { name: sklearn }, storageUri: "s3://models/fraud/base" }
YAML
"${kc[@]}" create -f - >/dev/null <<'YAML' || fail "create the HTTPRoute"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      backendRefs: [{ name: shop-admin, port: 80 }]
    - backendRefs:
        - { name: shop-v1, port: 80, weight: 100 }
        - { name: shop-canary, port: 80, weight: 0 }
YAML
isvc() { "${kc[@]}" get inferenceservice fraud -o json | py "$1"; }
uri_pct() { isvc 'd["spec"]["predictor"]["model"]["storageUri"] + " " + str(d["spec"]["predictor"].get("canaryTrafficPercent"))'; }
weights() { "${kc[@]}" get httproute shop -o 'jsonpath={.spec.rules[1].backendRefs[*].weight}'; }
patches() { fake stats | py "d['requests'].get('merge-patch $1', 0)"; }

# The repository: train registers a model; each pipeline's canary moves
# one object (or a missing one).
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
steps='[{weight: 10, approval: required}, {weight: 50, approval: required}, {weight: 100, approval: required}]'
pipeline() { # NAME TARGET TRAFFIC
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
        target: $2
        traffic: $3
        steps: $steps
YAML
}
pipeline kserve fraud-api '{provider: kserve, inference_service: fraud}'
pipeline ghost ghost-api '{provider: kserve, inference_service: nope}'
pipeline gateway shop-api '{provider: gateway, gateway: {route: shop, stable_backend: shop-v1, canary_backend: shop-canary}}'
pipeline badroute bad-api '{provider: gateway, gateway: {route: shop, stable_backend: shop-v1, canary_backend: shop-green}}'
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

start() {
	"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 &
	pid=$!
}
# wait_for WHAT CMD: eval CMD until it succeeds (t_wait_until: at most
# 300 s, a bound against a hang on a loaded machine, not a measure)
wait_for() { t_wait_until "$@"; }
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
api() { curl -sS --fail -H "Authorization: Bearer $token" "$base/api/v1/$1" "${@:2}"; }
run_status() { api "runs/$1" | py 'd["status"]'; }
stage_field() { api "runs/$1" | py "[s for s in d['stages'] if s['name'] == '$2'][0]$3"; }
is_status() { [ "$(run_status "$1")" = "$2" ]; }
new_run() {
	api "pipelines/$1/runs" -X POST -H 'Content-Type: application/json' \
	    -d '{"ref": "main"}' | py 'd["id"]'
}
# pending RUN STEP: the id of the run's pending approval of STEP
pending() { q "SELECT id FROM approvals WHERE run_id = $1 AND step = $2 AND status = 'pending'"; }
has_pending() { [ -n "$(pending "$1" "$2")" ]; }
decide() { # RUN STEP approve|reject
	local id
	wait_for "run $1 step $2 waiting for approval" "has_pending $1 $2"
	id=$(pending "$1" "$2")
	api "approvals/$id/$3" -X POST -H 'Content-Type: application/json' \
	    -d '{"comment": "traffic_kube"}' >/dev/null || fail "$3 approval $id"
}

# kill -9 the controller and start it again
restart_hard() {
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	start
	wait_for "/readyz after the restart" 'test "$(http_code "$base/readyz")" = 200'
}

start
wait_for "/readyz" 'test "$(http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role admin)
wait_for "the pipelines" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 4'

if [ "$part" = kserve ]; then
	# 1. kserve: 10 -> 50 -> 100 -> promotion; the not-Ready condition is
	# the waiting_reason while the fake holds the new revision.
	fake_config '{"isvc_hold": true}'
	r1=$(new_run kserve)
	[ -n "$r1" ] || fail "run not created"
	not_ready() { case $(stage_field "$r1" rollout ".get('waiting_reason') or ''") in *RevisionMissing*'waiting for a Revision to become ready'*) return 0 ;; esac; return 1; }
	wait_for "run $r1 rollout waiting for the revision" not_ready
	echo "$name: run $r1 waits: $(stage_field "$r1" rollout "['waiting_reason']")"
	[ "$(uri_pct)" = "s3://models/fraud/$r1 10" ] || fail "step 1: inferenceservice at $(uri_pct)"
	[ -z "$(pending "$r1" 1)" ] || fail "step 1 asked for approval before the revision was ready"
	# kill -9 while the step waits for its revision: the restarted controller
	# waits on, and patches nothing again (the count below says 4, not 5)
	restart_hard
	[ "$(uri_pct)" = "s3://models/fraud/$r1 10" ] || fail "step 1 after the restart: $(uri_pct)"
	fake_config '{"isvc_hold": false}'
	wait_for "run $r1 step 1 waiting for approval" "has_pending $r1 1"
	case $(stage_field "$r1" rollout ".get('waiting_reason') or ''") in
	*[Rr]evision*) fail "the waiting_reason still speaks of the revision" ;;
	esac
	decide "$r1" 1 approve
	wait_for "run $r1 step 2 waiting for approval" "has_pending $r1 2"
	[ "$(uri_pct)" = "s3://models/fraud/$r1 50" ] || fail "step 2: inferenceservice at $(uri_pct)"
	decide "$r1" 2 approve
	wait_for "run $r1 step 3 waiting for approval" "has_pending $r1 3"
	[ "$(uri_pct)" = "s3://models/fraud/$r1 100" ] || fail "step 3: inferenceservice at $(uri_pct)"
	decide "$r1" 3 approve
	wait_for "run $r1 succeeded" 'is_status "$r1" succeeded'
	[ "$(uri_pct)" = "s3://models/fraud/$r1 None" ] || fail "promoted: inferenceservice at $(uri_pct)"
	[ "$(patches inferenceservices)" = 4 ] || fail "$(patches inferenceservices) patches for 3 steps and a promotion"
	[ "$(q "SELECT status FROM model_versions WHERE uri = 's3://models/fraud/$r1'")" = production ] ||
	    fail "run $r1's model is not in production"
	echo "$name: kserve 10 -> 50 -> 100 -> promoted, 4 patches"

	# 2. A second run; kill -9 between its steps; then a rejection rolls back.
	r2=$(new_run kserve)
	wait_for "run $r2 step 1 waiting for approval" "has_pending $r2 1"
	[ "$(uri_pct)" = "s3://models/fraud/$r2 10" ] || fail "run $r2 step 1: inferenceservice at $(uri_pct)"
	decide "$r2" 1 approve
	wait_for "run $r2 step 2 waiting for approval" "has_pending $r2 2"
	[ "$(uri_pct)" = "s3://models/fraud/$r2 50" ] || fail "run $r2 step 2: inferenceservice at $(uri_pct)"
	n=$(patches inferenceservices)
	a2=$(pending "$r2" 2)
	restart_hard
	[ "$(pending "$r2" 2)" = "$a2" ] || fail "run $r2 is no longer waiting for approval $a2"
	[ "$(q "SELECT current_step || ' ' || status FROM rollouts WHERE run_id = $r2")" = "2 waiting_approval" ] ||
	    fail "run $r2's rollout moved: $(q "SELECT current_step || ' ' || status FROM rollouts WHERE run_id = $r2")"
	decide "$r2" 2 reject
	wait_for "run $r2 failed" 'is_status "$r2" failed'
	[ "$(uri_pct)" = "s3://models/fraud/$r1 0" ] || fail "rolled back: inferenceservice at $(uri_pct)"
	[ "$(patches inferenceservices)" = $((n + 1)) ] ||
	    fail "$(($(patches inferenceservices) - n)) patches after the restart, want 1 (the rollback)"
	[ "$(q "SELECT status FROM rollouts WHERE run_id = $r2")" = rolled_back ] || fail "run $r2's rollout not rolled_back"
	echo "$name: kill -9 at step 2 resumed there; rollback restored s3://models/fraud/$r1 at 0 %"

	# 3. A missing InferenceService fails the stage with a message naming it.
	r3=$(new_run ghost)
	wait_for "run $r3 failed" 'is_status "$r3" failed'
	msg=$(stage_field "$r3" rollout "['message']")
	echo "$name: run $r3: $msg"
	case $msg in *'inferenceservices.serving.kserve.io "nope" not found'*) ;; *) fail "run $r3 message: $msg" ;; esac
fi

if [ "$part" = gateway ]; then
	# 4. gateway: the backend weights of the rule naming both backends.
	[ "$(weights)" = "100 0" ] || fail "route before: $(weights)"
	r4=$(new_run gateway)
	wait_for "run $r4 step 1 waiting for approval" "has_pending $r4 1"
	[ "$(weights)" = "90 10" ] || fail "gateway step 1: $(weights)"
	decide "$r4" 1 approve
	wait_for "run $r4 step 2 waiting for approval" "has_pending $r4 2"
	[ "$(weights)" = "50 50" ] || fail "gateway step 2: $(weights)"
	decide "$r4" 2 approve
	wait_for "run $r4 step 3 waiting for approval" "has_pending $r4 3"
	[ "$(weights)" = "0 100" ] || fail "gateway step 3: $(weights)"
	decide "$r4" 3 approve
	wait_for "run $r4 succeeded" 'is_status "$r4" succeeded'
	[ "$(weights)" = "0 100" ] || fail "gateway promoted: $(weights)"
	[ "$("${kc[@]}" get httproute shop -o 'jsonpath={.spec.rules[0].backendRefs[0].name}')" = shop-admin ] ||
	    fail "the other rule of the route changed"
	r5=$(new_run gateway)
	wait_for "run $r5 step 1 waiting for approval" "has_pending $r5 1"
	[ "$(weights)" = "90 10" ] || fail "gateway run $r5 step 1: $(weights)"
	decide "$r5" 1 reject
	wait_for "run $r5 failed" 'is_status "$r5" failed'
	[ "$(weights)" = "100 0" ] || fail "gateway rolled back: $(weights)"
	r6=$(new_run badroute)
	wait_for "run $r6 failed" 'is_status "$r6" failed'
	msg=$(stage_field "$r6" rollout "['message']")
	echo "$name: run $r6: $msg"
	case $msg in *'httproute shop has no rule with both backendRefs shop-v1 (stable) and shop-green (canary)'*) ;;
	*) fail "run $r6 message: $msg" ;; esac
	[ "$(weights)" = "100 0" ] || fail "the bad route's run changed the weights: $(weights)"
fi

kill -TERM "$pid"
st=0
wait "$pid" 2>/dev/null || st=$?
pid=
[ "$st" = 0 ] || fail "sluice serve exited with status $st after SIGTERM"
! grep -E 'runtime error|ERROR: (Address|Leak|Undefined)Sanitizer' "$tmp/serve.log" ||
    fail "sanitizer reports in the controller's log"
if [ "$part" = kserve ]; then
	echo "$name: ok (kserve runs $r1 promoted, $r2 rolled back across a kill -9, $r3 missing)"
else
	echo "$name: ok (gateway runs $r4 promoted, $r5 rolled back, $r6 bad route)"
fi
