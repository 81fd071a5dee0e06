#!/usr/bin/env bash
# kube_fake_kubectl: # the fake Kubernetes API server (tests/fakes/
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
# The checks are split in three programs that run in parallel, each with
# its own fake (tests/support/kubectl_fake.sh): kube_fake_kubectl.sh,
# kube_fake_kubectl_kueue.sh, kube_fake_kubectl_objects.sh.
# Needs bash, kubectl, python3 and openssl; skips without kubectl.
set -euo pipefail
. "$(dirname "$0")/../support/kubectl_fake.sh"

# --- discovery and create -------------------------------------------------------
k version -o json >"$tmp/version.json" || fail "kubectl version"
grep -q '"gitVersion": "v1.32.0-fake"' "$tmp/version.json" || fail "server version"
ok "kubectl version reaches the fake over TLS with the generated CA"

job hello '{name: FAKE_LOG, value: "epoch 1\\nauc=0.93"}' >"$tmp/hello.yaml"
out=$(k create -n ml -f "$tmp/hello.yaml") || fail "kubectl create"
[ "$out" = "job.batch/hello created" ] || fail "kubectl create said: $out"
ok "kubectl create -f job.yaml (server-side field validation)"

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
# (no request timeout for a watch: on a loaded machine the next kubectl
# create can take longer than k's 20 s)
k get jobs -n ml -w --request-timeout=0 --output-watch-events >"$tmp/watch.out" 2>&1 &
watch_pid=$!
wait_file "the watch lists hello" grep -q hello "$tmp/watch.out"
job later >"$tmp/later.yaml"
k create -n ml -f "$tmp/later.yaml" >/dev/null || fail "create later"
wait_file "the watch sees later" grep -Eq 'ADDED +later' "$tmp/watch.out"
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
# (it runs 3 s; a watch started first sees it running however loaded the
# machine, where a kubectl started later might find it ended)
k get pods -n ml -l job-name=slow -w --request-timeout=0 -o 'jsonpath={.status.phase}{"\n"}' \
    >"$tmp/slow.watch" 2>&1 &
watch_pid=$!
watching() { [[ $(control GET /_fake/stats) =~ \"watch\ pods\":\ [1-9] ]]; }
wait_file "the watch of slow's pods" watching
job slow '{name: FAKE_LOG, value: "a\\nb\\nc"}, {name: FAKE_DURATION_MS, value: "3000"}' >"$tmp/slow.yaml"
k create -n ml -f "$tmp/slow.yaml" >/dev/null
wait_file "slow running" grep -qx Running "$tmp/slow.watch"
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=
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

finish
