#!/usr/bin/env bash
# kube_fake_kubectl_objects: # the fake Kubernetes API server (tests/fakes/
# kube_apiserver.py) checked with kubectl, a real client, so that Sluice's
# tests are not merely agreeing with themselves.
#
#  - token, token file and client certificate auth; 401 and 403
#  - 429 with Retry-After is retried by kubectl's client
#  - Nodes with their GPU product label; a finished pod's imageID digest,
#    nodeName and container times
#  - Secrets: kubectl create secret / get; a pod whose secret volume is
#    missing stays Pending (ContainerCreating) with a FailedMount event,
#    and starts once the Secret exists
#  - canary traffic objects: InferenceService (serving.kserve.io/v1beta1)
#    and HTTPRoute (gateway.networking.k8s.io/v1) created, read and
#    changed with kubectl patch --type=merge (null removes a field), the
#    Ready condition Unknown after a spec change and True a moment later,
#    409 for a stale resourceVersion, strategic patches refused, 404
# The checks are split in three programs that run in parallel, each with
# its own fake (tests/support/kubectl_fake.sh): kube_fake_kubectl.sh,
# kube_fake_kubectl_kueue.sh, kube_fake_kubectl_objects.sh.
# Needs bash, kubectl, python3 and openssl; skips without kubectl.
set -euo pipefail
. "$(dirname "$0")/../support/kubectl_fake.sh"

# The Job the auth, 429 and pod checks read (as kube_fake_kubectl.sh
# makes it, whose checks of it are there).
job hello '{name: FAKE_LOG, value: "epoch 1\\nauc=0.93"}' >"$tmp/hello.yaml"
k create -n ml -f "$tmp/hello.yaml" >/dev/null || fail "kubectl create hello"
wait_for "job hello Complete" complete hello

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

finish
