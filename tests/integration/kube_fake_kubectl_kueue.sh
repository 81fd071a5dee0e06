#!/usr/bin/env bash
# kube_fake_kubectl_kueue: # the fake Kubernetes API server (tests/fakes/
# kube_apiserver.py) checked with kubectl, a real client, so that Sluice's
# tests are not merely agreeing with themselves.
#
#  - Kueue: discovery of kueue.x-k8s.io, a Workload per queued Job (get,
#    -o yaml), admission within the flavor's quota, Kueue's message when it
#    does not fit, eviction, v1beta1 too
#  - Services (headless, 409, 422) and Indexed Jobs: a pod per index with
#    its annotation, label, hostname and subdomain; a failed index
# The checks are split in three programs that run in parallel, each with
# its own fake (tests/support/kubectl_fake.sh): kube_fake_kubectl.sh,
# kube_fake_kubectl_kueue.sh, kube_fake_kubectl_objects.sh.
# Needs bash, kubectl, python3 and openssl; skips without kubectl.
set -euo pipefail
. "$(dirname "$0")/../support/kubectl_fake.sh"

# --- Kueue ----------------------------------------------------------------------------------------
queued() { # NAME: a suspended Job for LocalQueue ml-training, 1 GPU (it runs
	# 10 minutes: it holds the quota however loaded the machine)
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
          env: [{name: FAKE_DURATION_MS, value: "600000"}]
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

finish
