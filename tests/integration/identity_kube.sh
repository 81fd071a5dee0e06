#!/usr/bin/env bash
# identity_kube: a stage's pod identity and the facts of where it ran,
# `sluice serve` (executor kubernetes) against the fake API server
# (tests/fakes/kube_apiserver.py, simulated pods: no --exec) and a real
# PostgreSQL and git repository:
#   1. a repository whose kubernetes_secret does not exist: serve refuses
#      to start, naming the Secret and the namespace;
#   2. with the Secret created, a push runs a GPU stage with
#      service_account and security_context: the Job's pod runs as the
#      given user and service account, the Secret is a volume mounted only
#      into the checkout init container, and the Job JSON holds none of
#      the Secret's values;
#   3. the API's attempt shows the image digest the container ran, its
#      node, that node's GPU product (nvidia.com/gpu.product) and a
#      duration taken from the container's own times (the stage runs 2.2 s,
#      so at least 2 s); the lineage's stage and model version nodes say
#      the same.
# Needs kubectl, python3, openssl, curl; skips without them.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
for c in kubectl python3 curl openssl; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "identity_kube.sh: SKIP ($c not installed)"
		exit 0
	fi
done
fail() {
	echo "identity_kube.sh: FAIL: $*" >&2
	[ -f "$tmp/serve.log" ] && tail -40 "$tmp/serve.log" >&2
	exit 1
}
. "$(dirname "$0")/../support/lib.sh"

db=identity_kube_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/identity-kube.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	"$SLUICE_TOP/tests/fakes/kube_fake.sh" stop "$tmp/kube" || true
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
t_db_create "$db"
q() { t_psql "$conn" -c "$1"; }

# The fake: two nodes with one H100 each.
eval "$(KUBE_FAKE_WATCH_PID=$$ "$SLUICE_TOP/tests/fakes/kube_fake.sh" start \
    "$tmp/kube" --nodes 2 --gpus nvidia.com/gpu=2 \
    --gpu-product '*=NVIDIA-H100-80GB-HBM3')"
kc=(kubectl --kubeconfig "$KUBE_FAKE_DIR/kubeconfig" -n sluice-test)
fake() { curl -sS --fail --cacert "$KUBE_FAKE_DIR/ca.crt" "$KUBE_FAKE_URL/_fake/$1"; }
py() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print("" if v is None else v)' "$1"; }

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/ident.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: ident}
spec:
  triggers:
    push: {branches: [main]}
  checkout: true
  defaults:
    image: "registry.example.com/ml/train:1.0"
    security_context: {run_as_user: 1000, run_as_group: 1000, fs_group: 1000, run_as_non_root: true}
  stages:
    - name: train
      service_account: trainer
      resources: {gpu: 1, gpu_resource: nvidia.com/gpu}
      env:
        FAKE_DURATION_MS: "2200"
        FAKE_LOG: "training\n::metric auc=0.91\n::artifact model=s3://models/fraud/1 name=fraud"
      command: ["python3", "train.py"]
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
repositories:
  - name: ident
    url: file://$tmp/repo.git
    branches: [main]
    path: pipelines
    interval: 1s
    kubernetes_secret: ident-git
YAML
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
unset KUBECONFIG

wait_for() {
	local what=$1
	shift
	for _ in $(seq 1 150); do
		eval "$1" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out waiting for $what"
}
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
api() { curl -sS --fail -H "Authorization: Bearer $token" "$base/api/v1/$1"; }

# 1. The Secret is missing: serve refuses to start and says which.
if "$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >"$tmp/refused.log" 2>&1; then
	fail "serve started without the Secret"
fi
grep -q "repositories\[0\].kubernetes_secret: Secret 'ident-git' not found in namespace 'sluice-test'" \
    "$tmp/refused.log" || { cat "$tmp/refused.log" >&2; fail "the start-up error does not name the Secret"; }
echo "ok - a missing checkout Secret is a start-up error naming it"

# 2. With the Secret, the run's Job has the identity and no credential.
"${kc[@]}" create secret generic ident-git --from-literal=username=bot \
    --from-literal=token=tok-5f1d2c9e-never-in-a-job --dry-run=client -o json |
    "${kc[@]}" create -f - >/dev/null || fail "create the Secret"
"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 &
pid=$!
wait_for "/readyz" 'test "$(http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role operator)
wait_for "the pipeline" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1'
echo data >"$tmp/work/data.txt"
t_git_push "$tmp/work" data
wait_for "a run" 'test "$(q "SELECT count(*) FROM runs")" = 1'
r=$(q "SELECT id FROM runs")
# read the Job while it runs (2.2 s): it is deleted once it has ended
wait_for "the train Job" '"${kc[@]}" get job "sluice-$r-train-1" -o name'
fake objects >"$tmp/objects.json"
python3 - "$tmp/objects.json" <<'PY' || fail "the Job's identity"
import json, sys
objs = json.load(open(sys.argv[1]))
jobs = [j for j in objs["jobs"] if j["metadata"]["labels"].get("sluice/stage") == "train"]
pods = [p for p in objs["pods"] if p["metadata"]["labels"].get("sluice/stage") == "train"]
# the Job may be gone (released): its pod spec is the template's
spec = jobs[0]["spec"]["template"]["spec"] if jobs else None
if spec is None:
    raise SystemExit("the train Job was deleted before it could be read")
assert spec["serviceAccountName"] == "trainer", spec
assert "automountServiceAccountToken" not in spec, spec
psc = spec["securityContext"]
assert (psc["runAsUser"], psc["runAsGroup"], psc["fsGroup"], psc["runAsNonRoot"]) == (1000, 1000, 1000, True), psc
c = spec["containers"][0]
assert c["securityContext"]["allowPrivilegeEscalation"] is False, c
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], c
assert all(m["name"] != "git-credentials" for m in c.get("volumeMounts", [])), c
init = spec["initContainers"][0]
assert any(m["name"] == "git-credentials" and m["mountPath"] == "/etc/sluice/git"
           and m.get("readOnly") for m in init["volumeMounts"]), init
vol = [v for v in spec["volumes"] if v["name"] == "git-credentials"][0]
assert vol["secret"] == {"secretName": "ident-git", "defaultMode": 256}, vol
text = json.dumps(jobs[0])
assert "tok-5f1d2c9e" not in text and "secretKeyRef" not in text, "a credential in the Job"
PY
echo "ok - the pod runs as user 1000 with service account trainer; the Secret reaches only the init container"
wait_for "run $r succeeded" 'test "$(api "runs/$r" | py "d[\"status\"]")" = succeeded'

# 3. What the API says about where it ran.
api "runs/$r" >"$tmp/run.json"
python3 - "$tmp/run.json" <<'PY' || fail "the attempt's facts"
import json, re, sys
from datetime import datetime
run = json.load(open(sys.argv[1]))
a = [s for s in run["stages"] if s["name"] == "train"][0]["attempts"][0]
assert re.fullmatch(r"registry\.example\.com/ml/train@sha256:[0-9a-f]{64}", a["image_id"] or ""), a
assert a["node"] in ("fake-node-1", "fake-node-2"), a
assert a["gpu_product"] == "NVIDIA-H100-80GB-HBM3", a
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
d = (t(a["finished_at"]) - t(a["started_at"])).total_seconds()
assert d >= 2, "duration %s s from %s" % (d, a)
PY
echo "ok - the API's attempt: image digest, node, GPU product and a duration from the container's times"

api "runs/$r/lineage" >"$tmp/lineage.json"
python3 - "$tmp/lineage.json" <<'PY' || fail "the lineage's facts"
import json, sys
g = json.load(open(sys.argv[1]))
st = [n for n in g["nodes"] if n["type"] == "stage" and n["name"] == "train"][0]
a = st["attempts"][0]
assert "@sha256:" in a["image_id"] and a["gpu_product"] == "NVIDIA-H100-80GB-HBM3", a
mv = [n for n in g["nodes"] if n["type"] == "model_version"][0]
assert mv["image_id"] == a["image_id"] and mv["node"] == a["node"], mv
assert mv["gpu_product"] == "NVIDIA-H100-80GB-HBM3", mv
PY
echo "ok - the lineage: the model version was trained by that image on an H100 node"
kill -TERM "$pid"
wait "$pid" || fail "serve did not stop cleanly"
pid=
echo "identity_kube.sh: 4 checks passed"
