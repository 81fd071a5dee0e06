#!/usr/bin/env bash
# kube_fake_kubectl: the fake Kubernetes API server (tests/fakes/
# kube_apiserver.py) checked with kubectl, a real client, so that Sluice's
# tests are not merely agreeing with themselves.
#
#  - discovery, OpenAPI (server-side field validation) and kubectl create
#  - a Job runs: its pod, its logs (also followed, with --timestamps and --since-time, and a follow cut on request), Complete status
#  - 409 AlreadyExists on a duplicate, 422 Invalid with the field
#  - a GPU Job beyond capacity stays Pending, Unschedulable, with the
#    scheduler's message in the pod and in a FailedScheduling event
#  - kubectl delete --cascade=background removes the Job and its pods
#  - kubectl get -w sees a new Job; a stale watch gets 410 Expired
#  - token, token file and client certificate auth; 401 and 403
#  - 429 with Retry-After is retried by kubectl's client
#  - Nodes with their GPU product label; a finished pod's imageID digest,
#    nodeName and container times
#  - Secrets: kubectl create secret / get; a pod whose secret volume is
#    missing stays Pending (ContainerCreating) with a FailedMount event,
#    and starts once the Secret exists
#  - Kueue: discovery of kueue.x-k8s.io, a Workload per queued Job (get,
#    -o yaml), admission within the flavor's quota, Kueue's message when it
#    does not fit, eviction, v1beta1 too
#  - Services (headless, 409, 422) and Indexed Jobs: a pod per index with
#    its annotation, label, hostname and subdomain; a failed index
#  - canary traffic objects: InferenceService (serving.kserve.io/v1beta1)
#    and HTTPRoute (gateway.networking.k8s.io/v1) created, read and
#    changed with kubectl patch --type=merge (null removes a field), the
#    Ready condition Unknown after a spec change and True a moment later,
#    409 for a stale resourceVersion, strategic patches refused, 404
# Needs bash, kubectl, python3 and openssl; skips without kubectl.
set -euo pipefail
top=${SLUICE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"

if ! command -v kubectl >/dev/null 2>&1; then
	echo "kube_fake_kubectl: SKIP (kubectl not installed)"
	exit 0
fi

tmp=$(mktemp -d "${SLUICE_TEST_TMP:-${TMPDIR:-/tmp}}/kube_fake_kubectl.XXXXXX")
fake_pid=
watch_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null || true
		wait "$fake_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
fail() {
	echo "not ok - $*" >&2
	[ -f "$tmp/fake/fake.log" ] && tail -20 "$tmp/fake/fake.log" >&2
	exit 1
}

# --- the fake, as our child ---------------------------------------------------
KUBE_FAKE_WATCH_PID=$$ tests/fakes/kube_fake.sh run "$tmp/fake" \
    --gpus nvidia.com/gpu=4 --nodes 4 --gpu-product 'fake-node-1=NVIDIA-H100-80GB-HBM3' \
    --gpu-product 'fake-node-2=NVIDIA-A100-SXM4-80GB' \
    --kueue-flavor h100:nvidia.com/gpu=1 --kueue-queue ml-training \
    >/dev/null 2>"$tmp/run.log" &
fake_pid=$!
end=$((SECONDS + 60))	# a bound against a hang on a loaded machine
while [ $SECONDS -lt $end ]; do
	[ -e "$tmp/fake/ready" ] && break
	kill -0 "$fake_pid" 2>/dev/null || break
	sleep 0.05
done
[ -e "$tmp/fake/ready" ] || { cat "$tmp/run.log" >&2; fail "the fake did not start"; }
url="https://127.0.0.1:$(cat "$tmp/fake/port")"
control() { # METHOD PATH [JSON]
	curl -sf --cacert "$tmp/fake/ca.crt" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} "$url$2"
}
kc=$tmp/fake/kubeconfig
k() { kubectl --kubeconfig "$kc" --cache-dir "$tmp/cache" --request-timeout=20s "$@"; }
# wait_for DESCRIPTION COMMAND...: retry a command for up to 300 s (a bound
# against a hang on a loaded machine, not a measure)
wait_for() {
	local what=$1 end=$((SECONDS + 300))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out: $what"
		sleep 0.05
	done
}

job() { # NAME [ENV-JSON-ITEMS] [RESOURCES]
	local res=${3:-"{}"}
	cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels: { app.kubernetes.io/managed-by: sluice }
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: python:3.12
          command: [python, train.py]
          env: [${2:-}]
          resources: $res
EOF
}

# --- discovery and create -------------------------------------------------------
k version -o json >"$tmp/version.json" || fail "kubectl version"
grep -q '"gitVersion": "v1.32.0-fake"' "$tmp/version.json" || fail "server version"
ok "kubectl version reaches the fake over TLS with the generated CA"

job hello '{name: FAKE_LOG, value: "epoch 1\\nauc=0.93"}' >"$tmp/hello.yaml"
out=$(k create -n ml -f "$tmp/hello.yaml") || fail "kubectl create"
[ "$out" = "job.batch/hello created" ] || fail "kubectl create said: $out"
ok "kubectl create -f job.yaml (server-side field validation)"

complete() {
	[ "$(k get job "$1" -n ml -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
wait_for "job hello Complete" complete hello
out=$(k get jobs -n ml) || fail "kubectl get jobs"
grep -Eq '^hello +Complete +1/1' <<<"$out" || fail "kubectl get jobs: $out"
ok "the Job completes and kubectl get jobs prints its status"

pods=$(k get pods -n ml -l job-name=hello -o name)
[ "$(echo "$pods" | wc -l)" = 1 ] && [[ $pods == pod/hello-* ]] || fail "one pod for the Job: $pods"
[ "$(k get "$pods" -n ml -o 'jsonpath={.status.phase}')" = Succeeded ] || fail "pod phase"
logs=$(k logs -n ml job/hello)
[ "$logs" = $'epoch 1\nauc=0.93' ] || fail "kubectl logs job/hello: $logs"
ok "the pod and kubectl logs job/hello"

# --- errors ---------------------------------------------------------------------
if k create -n ml -f "$tmp/hello.yaml" 2>"$tmp/err"; then fail "a duplicate create succeeded"; fi
grep -q 'AlreadyExists' "$tmp/err" && grep -q 'jobs.batch "hello" already exists' "$tmp/err" ||
    fail "409: $(cat "$tmp/err")"
ok "a duplicate create is 409 AlreadyExists"

job Bad_Name >"$tmp/bad.yaml"
if k create -n ml -f "$tmp/bad.yaml" 2>"$tmp/err"; then fail "a bad name was accepted"; fi
grep -q 'The Job "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' "$tmp/err" ||
    fail "422: $(cat "$tmp/err")"
ok "a bad name is 422 Invalid with the field"

# --- GPUs beyond capacity ------------------------------------------------------------
job big '' '{limits: {nvidia.com/gpu: "2"}}' >"$tmp/big.yaml"
k create -n ml -f "$tmp/big.yaml" >/dev/null || fail "create big"
unschedulable() {
	k get pod -n ml -l job-name=big -o json | python3 -c '
import json, sys
pod = json.load(sys.stdin)["items"][0]
c = [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"][0]
assert pod["status"]["phase"] == "Pending", pod["status"]["phase"]
assert c["status"] == "False" and c["reason"] == "Unschedulable", c
assert "0/4 nodes are available: 4 Insufficient nvidia.com/gpu." in c["message"], c
'
}
wait_for "big pod Unschedulable" unschedulable
k describe pod -n ml -l job-name=big >"$tmp/describe" || fail "describe"
grep -Eq 'Warning +FailedScheduling .*0/4 nodes are available: 4 Insufficient nvidia.com/gpu' "$tmp/describe" ||
    fail "describe shows no FailedScheduling event: $(tail -5 "$tmp/describe")"
ok "a GPU Job beyond capacity is Pending/Unschedulable with the scheduler's message"

# one that fits starts when capacity is there
job small '' '{limits: {nvidia.com/gpu: "1"}}' >"$tmp/small.yaml"
k create -n ml -f "$tmp/small.yaml" >/dev/null || fail "create small"
wait_for "job small Complete" complete small
ok "a GPU Job within capacity runs"

# --- delete ------------------------------------------------------------------------------
out=$(k delete job big -n ml --cascade=background) || fail "kubectl delete"
[ "$out" = 'job.batch "big" deleted' ] || fail "kubectl delete said: $out"
gone() { [ -z "$(k get pods -n ml -l job-name=big -o name)" ]; }
wait_for "big's pods deleted" gone
if k get job big -n ml 2>"$tmp/err"; then fail "big still there"; fi
grep -q 'NotFound' "$tmp/err" || fail "get after delete: $(cat "$tmp/err")"
ok "kubectl delete --cascade=background removes the Job and its pods"

# --- watch ---------------------------------------------------------------------------------
k get jobs -n ml -w --output-watch-events >"$tmp/watch.out" 2>&1 &
watch_pid=$!
wait_for "the watch lists hello" grep -q hello "$tmp/watch.out"
job later >"$tmp/later.yaml"
k create -n ml -f "$tmp/later.yaml" >/dev/null || fail "create later"
wait_for "the watch sees later" grep -Eq 'ADDED +later' "$tmp/watch.out"
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=
ok "kubectl get jobs -w sees a new Job"

rv=$(k get jobs -n ml -o 'jsonpath={.metadata.resourceVersion}')
control POST /_fake/compact >/dev/null
k create -n ml -f <(job after-compact) >/dev/null
stale=$(k get --raw "/apis/batch/v1/namespaces/ml/jobs?watch=1&resourceVersion=$((rv - 1))")
grep -q '"type": "ERROR"' <<<"$stale" && grep -q '"code": 410' <<<"$stale" ||
    fail "a stale watch: $stale"
ok "a watch from a compacted resourceVersion gets a 410 ERROR event"

# --- logs -f ------------------------------------------------------------------------------------
# (it runs 3 s: time for a loaded machine's kubectl to see it running)
job slow '{name: FAKE_LOG, value: "a\\nb\\nc"}, {name: FAKE_DURATION_MS, value: "3000"}' >"$tmp/slow.yaml"
k create -n ml -f "$tmp/slow.yaml" >/dev/null
running() { [ "$(k get pods -n ml -l job-name=slow -o 'jsonpath={.items[0].status.phase}')" = Running ]; }
wait_for "slow running" running
logs=$(k logs -n ml -f job/slow)
[ "$logs" = $'a\nb\nc' ] || fail "kubectl logs -f: $logs"
ok "kubectl logs -f streams until the container ends"

# --- logs --timestamps, --since-time, a cut follow -----------------------------------------------
stamped=$(k logs -n ml --timestamps job/slow)
n=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z [abc]$' <<<"$stamped" || true)
[ "$n" = 3 ] || fail "kubectl logs --timestamps: $stamped"
again=$(k logs -n ml --timestamps job/slow)
[ "$again" = "$stamped" ] || fail "a line's time changed between reads"
first=$(head -n 1 <<<"$stamped" | cut -d' ' -f1)
later=$(date -u -d "@$(( $(date -u -d "${first%.*}Z" +%s) + 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
logs=$(k logs -n ml --since-time="${first%.*}Z" job/slow)
[ "$logs" = $'a\nb\nc' ] || fail "kubectl logs --since-time (first second): $logs"
logs=$(k logs -n ml --since-time="$later" job/slow)
[ -z "$logs" ] || fail "kubectl logs --since-time (an hour later): $logs"
ok "kubectl logs --timestamps gives each line its one RFC 3339 time; --since-time filters by it"
control POST /_fake/config '{"log_drop_after_bytes": 3, "log_drop_count": 1}' >/dev/null
cut=$(k logs -n ml -f job/slow 2>/dev/null || true)
[ "$cut" != $'a\nb\nc' ] && [ "${cut:0:1}" = a ] || fail "a cut follow: $cut"
logs=$(k logs -n ml -f job/slow)
[ "$logs" = $'a\nb\nc' ] || fail "kubectl logs -f after a cut one: $logs"
ok "a followed log cut on request stops kubectl's read short; the next one is whole"

# --- Kueue ----------------------------------------------------------------------------------------
queued() { # NAME: a suspended Job for LocalQueue ml-training, 1 GPU
	cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels: { app.kubernetes.io/managed-by: sluice, kueue.x-k8s.io/queue-name: ml-training }
spec:
  suspend: true
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: python:3.12
          env: [{name: FAKE_DURATION_MS, value: "60000"}]
          resources: {limits: {nvidia.com/gpu: "1"}}
EOF
}
out=$(k api-resources --api-group=kueue.x-k8s.io -o name) || fail "kubectl api-resources"
[ "$out" = workloads.kueue.x-k8s.io ] || fail "api-resources kueue.x-k8s.io: $out"
out=$(k api-versions) || fail "kubectl api-versions"
grep -qx kueue.x-k8s.io/v1beta2 <<<"$out" && grep -qx kueue.x-k8s.io/v1beta1 <<<"$out" ||
    fail "api-versions: $out"
ok "discovery offers kueue.x-k8s.io v1beta2 and v1beta1 with workloads"

k create -n kq -f <(queued first) >/dev/null || fail "create first"
wl_of() { k get workloads.kueue.x-k8s.io -n kq -o json | python3 -c '
import json, sys
for w in json.load(sys.stdin)["items"]:
    if w["metadata"]["ownerReferences"][0]["name"] == sys.argv[1]:
        print(w["metadata"]["name"])' "$1"; }
admitted() {
	local w
	w=$(wl_of "$1")
	[ -n "$w" ] && [ "$(k get workloads.kueue.x-k8s.io "$w" -n kq -o 'jsonpath={.status.conditions[?(@.type=="Admitted")].status}')" = True ]
}
wait_for "first admitted" admitted first
[ "$(k get job first -n kq -o 'jsonpath={.spec.suspend}')" = false ] || fail "first still suspended"
w=$(wl_of first)
k get workloads.kueue.x-k8s.io "$w" -n kq -o yaml >"$tmp/wl.yaml" || fail "get -o yaml"
for want in 'apiVersion: kueue.x-k8s.io/v1beta2' 'kind: Workload' 'clusterQueue: cluster-queue' \
    'nvidia.com/gpu: h100' 'queueName: ml-training' 'kind: Job' 'name: first' 'type: QuotaReserved'; do
	grep -q "$want" "$tmp/wl.yaml" || fail "workload yaml lacks '$want': $(cat "$tmp/wl.yaml")"
done
ok "a queued Job gets a Workload owned by it, admitted (flavor h100) and unsuspended"

k create -n kq -f <(queued second) >/dev/null || fail "create second"
why() {
	local w
	w=$(wl_of second)
	[ -n "$w" ] && [ "$(k get workloads.kueue.x-k8s.io "$w" -n kq -o 'jsonpath={.status.conditions[?(@.type=="QuotaReserved")].message}')" = \
	    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 1 more needed" ]
}
wait_for "second waits for quota with Kueue's message" why
[ "$(k get job second -n kq -o 'jsonpath={.spec.suspend}')" = true ] || fail "second was unsuspended"
out=$(k get workloads -n kq) || fail "kubectl get workloads"
grep -Eq "^$(wl_of first) +ml-training +cluster-queue +True" <<<"$out" &&
    grep -Eq "^$(wl_of second) +ml-training +[0-9]+s" <<<"$out" ||
    fail "kubectl get workloads: $out"
ok "a Job beyond the flavor's unused quota stays suspended with Kueue's message"

control POST /_fake/kueue/evict '{"namespace": "kq", "name": "first", "hold": true}' >/dev/null ||
    fail "evict"
evicted() {
	[ "$(k get workloads.kueue.x-k8s.io "$w" -n kq -o 'jsonpath={.status.conditions[?(@.type=="Evicted")].reason}')" = Preempted ] &&
	    [ "$(k get job first -n kq -o 'jsonpath={.spec.suspend}')" = true ] &&
	    [ -z "$(k get pods -n kq -l job-name=first -o name)" ]
}
wait_for "first evicted, suspended, its pods gone" evicted
wait_for "second admitted on the freed quota" admitted second
ok "an eviction re-suspends the Job, deletes its pods and frees the quota"

out=$(k get --raw "/apis/kueue.x-k8s.io/v1beta1/namespaces/kq/workloads/$w") || fail "get v1beta1"
grep -q '"apiVersion": "kueue.x-k8s.io/v1beta1"' <<<"$out" || fail "v1beta1: $out"
k delete job second -n kq --cascade=background >/dev/null || fail "delete second"
gone_wl() { [ -z "$(wl_of second)" ]; }
wait_for "second's Workload deleted with its Job" gone_wl
control POST /_fake/admit '{"namespace": "kq", "name": "first"}' >/dev/null
wait_for "first admitted again" admitted first
ok "v1beta1 answers; a deleted Job's Workload goes; a held Workload is admitted again"

# --- Indexed Jobs and headless Services (multi-node stages) -------------------------------
cat >"$tmp/svc.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: { name: gang }
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: { batch.kubernetes.io/job-name: gang }
EOF
out=$(k create -n ml -f "$tmp/svc.yaml") || fail "kubectl create service"
[ "$out" = "service/gang created" ] || fail "kubectl create service said: $out"
out=$(k get services -n ml) || fail "kubectl get services"
grep -Eq '^gang +ClusterIP +None +<none> +<none>' <<<"$out" || fail "kubectl get services: $out"
[ "$(k get svc gang -n ml -o 'jsonpath={.spec.selector.batch\.kubernetes\.io/job-name}')" = gang ] ||
    fail "the Service's selector"
if k create -n ml -f "$tmp/svc.yaml" 2>"$tmp/err"; then fail "a duplicate service was created"; fi
grep -q 'services "gang" already exists' "$tmp/err" || fail "service 409: $(cat "$tmp/err")"
sed 's/name: gang }/name: 1gang }/' "$tmp/svc.yaml" >"$tmp/badsvc.yaml"
if k create -n ml -f "$tmp/badsvc.yaml" 2>"$tmp/err"; then fail "a bad service name was accepted"; fi
grep -q 'The Service "1gang" is invalid: metadata.name: Invalid value: "1gang": a DNS-1035 label' "$tmp/err" ||
    fail "service 422: $(cat "$tmp/err")"
ok "kubectl create/get services: a headless Service, 409 on a duplicate, 422 for a bad name"

indexed() { # NAME [ENV-LINES]
	local env=${2:-'            - { name: FAKE_DURATION_MS, value: "300" }'}
	cat <<EOF
apiVersion: batch/v1
kind: Job
metadata: { name: $1 }
spec:
  completionMode: Indexed
  completions: 3
  parallelism: 3
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      subdomain: $1
      containers:
        - name: main
          image: python:3.12
          command: [python, train.py]
          env:
            - name: RANK
              valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } }
$env
EOF
}
indexed gang >"$tmp/gang.yaml"
k create -n ml -f "$tmp/gang.yaml" >/dev/null || fail "create the Indexed Job"
wait_for "job gang Complete" complete gang
out=$(k get jobs gang -n ml) || fail "kubectl get job gang"
grep -Eq '^gang +Complete +3/3' <<<"$out" || fail "kubectl get job gang: $out"
for i in 0 1 2; do
	pod=$(k get pods -n ml -l "batch.kubernetes.io/job-completion-index=$i,job-name=gang" -o name)
	[ "$(echo "$pod" | wc -l)" = 1 ] && [[ $pod == pod/gang-$i-* ]] || fail "one pod for index $i: $pod"
	[ "$(k get "$pod" -n ml -o 'jsonpath={.metadata.annotations.batch\.kubernetes\.io/job-completion-index}/{.spec.hostname}/{.spec.subdomain}')" = "$i/gang-$i/gang" ] ||
	    fail "index $i: annotation, hostname and subdomain"
	k get "$pod" -n ml -o json | python3 -c '
import json, sys
env = json.load(sys.stdin)["spec"]["containers"][0]["env"]
ref = [e for e in env if e["name"] == "JOB_COMPLETION_INDEX"]
assert ref and "completion-index" in ref[0]["valueFrom"]["fieldRef"]["fieldPath"], env
' || fail "index $i: JOB_COMPLETION_INDEX"
done
[ "$(k get job gang -n ml -o 'jsonpath={.status.completedIndexes}')" = 0-2 ] || fail "completedIndexes"
ok "an Indexed Job: one pod per index with the index annotation and label, hostname, subdomain, JOB_COMPLETION_INDEX"

indexed gang-fail '            - { name: FAKE_DURATION_MS, value: "2000" }
            - { name: FAKE_FAIL_INDEX, value: "1" }
            - { name: FAKE_EXIT_CODE, value: "3" }' >"$tmp/gang-fail.yaml"
k create -n ml -f "$tmp/gang-fail.yaml" >/dev/null || fail "create the failing Indexed Job"
failed() {
	[ "$(k get job "$1" -n ml -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}')" = True ]
}
wait_for "job gang-fail Failed" failed gang-fail
[ "$(k get job gang-fail -n ml -o 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}')" = BackoffLimitExceeded ] ||
    fail "gang-fail's reason"
pod=$(k get pods -n ml -l 'batch.kubernetes.io/job-completion-index=1,job-name=gang-fail' -o name)
[ "$(k get "$pod" -n ml -o 'jsonpath={.status.phase}/{.status.containerStatuses[0].state.terminated.exitCode}')" = Failed/3 ] ||
    fail "index 1 failed with exit status 3"
left=$(k get pods -n ml -l job-name=gang-fail -o name)
[ "$left" = "$pod" ] || fail "the other indexes' pods are deleted: $left"
ok "one failed index fails an Indexed Job with backoffLimit 0 and deletes its other pods"

out=$(k delete service gang -n ml) || fail "kubectl delete service"
[ "$out" = 'service "gang" deleted' ] || fail "kubectl delete service said: $out"
if k get service gang -n ml 2>"$tmp/err"; then fail "gang's service still there"; fi
grep -q 'NotFound' "$tmp/err" || fail "get service after delete: $(cat "$tmp/err")"
ok "kubectl delete service"

# --- auth -------------------------------------------------------------------------------------------
# (output captured first: grep -q closing the pipe early would make
# kubectl die of SIGPIPE, which pipefail reports as a failure)
for c in kubeconfig-tokenfile kubeconfig-cert; do
	out=$(kubectl --kubeconfig "$tmp/fake/$c" --cache-dir "$tmp/cache" get jobs -n ml -o name) ||
	    fail "$c"
	grep -q job.batch/hello <<<"$out" || fail "$c: $out"
done
ok "token file and client certificate auth"
if kubectl --kubeconfig "$kc" --cache-dir "$tmp/cache" --token nope get jobs -n ml 2>"$tmp/err"; then
	fail "a wrong token was accepted"
fi
grep -qi 'unauthorized' "$tmp/err" || fail "401: $(cat "$tmp/err")"
if kubectl --kubeconfig "$kc" --cache-dir "$tmp/cache" --token forbidden-token get jobs -n ml 2>"$tmp/err"; then
	fail "a forbidden token was allowed"
fi
grep -q 'jobs.batch is forbidden: User' "$tmp/err" || fail "403: $(cat "$tmp/err")"
ok "401 Unauthorized and 403 Forbidden"

# --- 429 ------------------------------------------------------------------------------------------------
before=$(control GET /_fake/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("list jobs", 0))')
control POST /_fake/faults '{"verb": "list jobs", "status": 429, "retry_after": 1, "count": 1}' >/dev/null
out=$(k get jobs -n ml -o name) || fail "kubectl after a 429"
grep -q job.batch/hello <<<"$out" || fail "kubectl after a 429: $out"
after=$(control GET /_fake/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("list jobs", 0))')
[ $((after - before)) = 2 ] || fail "kubectl sent $((after - before)) lists, want 2 (one 429, one retry)"
ok "429 with Retry-After is retried by kubectl"

# --- nodes, and what a finished pod says about where it ran ---------------------------
out=$(k get nodes -o name) || fail "kubectl get nodes"
[ "$(echo "$out" | wc -l)" = 4 ] && grep -q '^node/fake-node-1$' <<<"$out" || fail "nodes: $out"
[ "$(k get node fake-node-1 -o 'jsonpath={.metadata.labels.nvidia\.com/gpu\.product}')" = NVIDIA-H100-80GB-HBM3 ] ||
    fail "fake-node-1 has no GPU product label"
out=$(k get nodes -l nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB -o name)
[ "$out" = node/fake-node-2 ] || fail "nodes by GPU product: $out"
ok "kubectl get nodes, with the nvidia.com/gpu.product label"

pod=$(k get pods -n ml -l job-name=hello -o name)
k get "$pod" -n ml -o json >"$tmp/hello-pod.json"
python3 - "$tmp/hello-pod.json" <<'PY' || fail "hello's pod facts"
import json, re, sys
pod = json.load(open(sys.argv[1]))
cs = pod["status"]["containerStatuses"][0]
assert re.fullmatch(r"python@sha256:[0-9a-f]{64}", cs["imageID"]), cs["imageID"]
t = cs["state"]["terminated"]
assert t["startedAt"] and t["finishedAt"] and t["startedAt"] <= t["finishedAt"], t
assert pod["spec"]["nodeName"].startswith("fake-node-"), pod["spec"]
PY
ok "a finished pod has an imageID digest, a nodeName and container start/finish times"

# --- secrets ------------------------------------------------------------------------------
cat >"$tmp/needs-secret.yaml" <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: needs-secret
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
        - { name: git-credentials, secret: { secretName: repo-creds, defaultMode: 256 } }
      initContainers:
        - name: checkout
          image: alpine/git:2.45.2
          command: [sh, -c, "true"]
          volumeMounts: [{ name: git-credentials, mountPath: /etc/sluice/git, readOnly: true }]
      containers:
        - { name: stage, image: python:3.12, command: [python, train.py] }
EOF
k create -n ml -f "$tmp/needs-secret.yaml" >/dev/null || fail "create needs-secret"
failed_mount() {
	k get events -n ml --field-selector reason=FailedMount -o json | python3 -c '
import json, sys
evs = json.load(sys.stdin)["items"]
assert any("secret \"repo-creds\" not found" in e["message"] for e in evs), evs
'
}
wait_for "a FailedMount event for repo-creds" failed_mount
[ "$(k get pods -n ml -l job-name=needs-secret -o 'jsonpath={.items[0].status.phase}')" = Pending ] ||
    fail "needs-secret's pod is not Pending"
ok "a pod whose Secret is missing stays Pending with a FailedMount event"

# (kubectl create secret would send protobuf, which the fake does not read:
# the manifest goes through create -f as JSON)
out=$(k create secret generic repo-creds -n ml --from-literal=username=bot \
    --from-literal=token=s3cr3t-token --dry-run=client -o json | k create -f -) ||
    fail "kubectl create secret"
[ "$out" = "secret/repo-creds created" ] || fail "kubectl create secret said: $out"
[ "$(k get secret repo-creds -n ml -o 'jsonpath={.data.token}' | base64 -d)" = s3cr3t-token ] ||
    fail "kubectl get secret"
wait_for "job needs-secret Complete" complete needs-secret
ok "kubectl create secret generic; the waiting pod starts once it exists"
if k get secret nope -n ml 2>"$tmp/err"; then fail "a missing secret was found"; fi
grep -q 'secrets "nope" not found' "$tmp/err" || fail "404 secret: $(cat "$tmp/err")"
ok "a missing Secret is 404 NotFound"

# --- canary traffic: InferenceService and HTTPRoute -------------------------------
cat >"$tmp/isvc.yaml" <<EOF
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: fraud }
spec:
  predictor:
    model:
      modelFormat: { name: sklearn }
      storageUri: s3://models/fraud/1
EOF
out=$(k create -n ml -f "$tmp/isvc.yaml") || fail "kubectl create inferenceservice"
[ "$out" = "inferenceservice.serving.kserve.io/fraud created" ] || fail "create isvc said: $out"
isvc_ready() { [ "$(k get inferenceservice fraud -n ml -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for "inferenceservice fraud Ready" isvc_ready
control POST /_fake/config '{"isvc_hold": true}' >/dev/null || fail "hold readiness"
k patch inferenceservice fraud -n ml --type=merge \
    -p '{"spec":{"predictor":{"model":{"storageUri":"s3://models/fraud/2"},"canaryTrafficPercent":10}}}' \
    >/dev/null || fail "kubectl patch --type=merge inferenceservice"
k get inferenceservice fraud -n ml -o json >"$tmp/isvc.json"
python3 - "$tmp/isvc.json" <<'PY' || fail "inferenceservice after the patch"
import json, sys
o = json.load(open(sys.argv[1]))
p = o["spec"]["predictor"]
assert p["model"] == {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/fraud/2"}, p
assert p["canaryTrafficPercent"] == 10, p
assert o["metadata"]["generation"] == 2, o["metadata"]
ready = [c for c in o["status"]["conditions"] if c["type"] == "Ready"][0]
assert ready["status"] == "Unknown" and ready["reason"] == "RevisionMissing", ready
PY
control POST /_fake/config '{"isvc_hold": false}' >/dev/null || fail "release readiness"
wait_for "inferenceservice fraud Ready again" isvc_ready
k get inferenceservice fraud -n ml -o json >"$tmp/isvc.json"
python3 - "$tmp/isvc.json" <<'PY' || fail "inferenceservice once Ready"
import json, sys
o = json.load(open(sys.argv[1]))
st = o["status"]
assert st["observedGeneration"] == 2, st
pr = st["components"]["predictor"]
assert pr["latestReadyRevision"] == pr["latestCreatedRevision"] == "fraud-predictor-00002", pr
assert {t["revisionName"]: t["percent"] for t in pr["traffic"]} == \
    {"fraud-predictor-00002": 10, "fraud-predictor-00001": 90}, pr["traffic"]
PY
k patch inferenceservice fraud -n ml --type=merge -p '{"spec":{"predictor":{"canaryTrafficPercent":null}}}' \
    >/dev/null || fail "kubectl patch null"
[ -z "$(k get inferenceservice fraud -n ml -o 'jsonpath={.spec.predictor.canaryTrafficPercent}')" ] ||
    fail "canaryTrafficPercent not removed by a null"
ok "kubectl create, get and patch --type=merge an InferenceService; Ready follows each change"
rv=$(k get inferenceservice fraud -n ml -o 'jsonpath={.metadata.resourceVersion}')
k patch inferenceservice fraud -n ml --type=merge -p '{"metadata":{"annotations":{"a":"1"}}}' >/dev/null ||
    fail "patch annotations"
if k patch inferenceservice fraud -n ml --type=merge \
    -p "{\"metadata\":{\"resourceVersion\":\"$rv\"},\"spec\":{\"predictor\":{\"canaryTrafficPercent\":50}}}" \
    2>"$tmp/err" >/dev/null; then fail "a stale resourceVersion was accepted"; fi
grep -q 'the object has been modified' "$tmp/err" || fail "409: $(cat "$tmp/err")"
if k patch inferenceservice fraud -n ml -p '{"spec":{}}' 2>"$tmp/err" >/dev/null; then
	fail "a strategic merge patch was accepted for a custom resource"
fi
if k get inferenceservice nope -n ml 2>"$tmp/err"; then fail "a missing inferenceservice was found"; fi
grep -q 'inferenceservices.serving.kserve.io "nope" not found' "$tmp/err" || fail "404 isvc: $(cat "$tmp/err")"
ok "409 for a stale resourceVersion, strategic patches refused, 404 for a missing InferenceService"
cat >"$tmp/route.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: fraud }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - backendRefs:
        - { name: fraud-v1, port: 80, weight: 100 }
        - { name: fraud-canary, port: 80, weight: 0 }
EOF
out=$(k create -n ml -f "$tmp/route.yaml") || fail "kubectl create httproute"
[ "$out" = "httproute.gateway.networking.k8s.io/fraud created" ] || fail "create route said: $out"
k patch httproute fraud -n ml --type=merge \
    -p '{"spec":{"rules":[{"backendRefs":[{"name":"fraud-v1","port":80,"weight":90},{"name":"fraud-canary","port":80,"weight":10}]}]}}' \
    >/dev/null || fail "kubectl patch httproute"
got=$(k get httproute fraud -n ml -o 'jsonpath={.spec.rules[0].backendRefs[*].weight}')
[ "$got" = "90 10" ] || fail "route weights: $got"
[ "$(k get httproute fraud -n ml -o 'jsonpath={.spec.parentRefs[0].name}')" = gw ] || fail "parentRefs lost"
ok "kubectl create, get and patch --type=merge an HTTPRoute's backend weights"

echo "kube_fake_kubectl: $checks checks passed"
