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
t_json_serve

db=identity_kube_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/identity-kube.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
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

# The fake: two nodes with one H100 each.
t_kube_fake_start "$tmp/kube" --nodes 2 --gpus nvidia.com/gpu=2 \
    --gpu-product '*=NVIDIA-H100-80GB-HBM3'

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
t_wait_until "/readyz" 'test "$(t_http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name e2e --role operator)
t_wait_until "the pipeline" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 1'
# The Job as created, from a watch (it is deleted once it has ended,
# which on a loaded machine can be before a poll would have seen it).
"${kc[@]}" get jobs --watch -o json >"$tmp/jobs-watch.json" 2>/dev/null &
wpid=$!
echo data >"$tmp/work/data.txt"
t_git_push "$tmp/work" data
t_wait_until "a run" 'test "$(q "SELECT count(*) FROM runs")" = 1'
r=$(q "SELECT id FROM runs")
# watched_job: the first whole train Job the watch printed, into job.json
watched_job() {
	python3 - "$tmp/jobs-watch.json" "$tmp/job.json" <<'PY'
import json, sys
text, dec, i = open(sys.argv[1]).read(), json.JSONDecoder(), 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    try:
        d, i = dec.raw_decode(text, i)
    except ValueError:
        sys.exit(1)  # nothing more, or a document not yet whole
    if d["metadata"]["labels"].get("sluice/stage") == "train":
        json.dump(d, open(sys.argv[2], "w"))
        sys.exit(0)
PY
}
t_wait_until "the train Job" watched_job
kill "$wpid" 2>/dev/null || true
wait "$wpid" 2>/dev/null || true
python3 - "$tmp/job.json" <<'PY' || fail "the Job's identity"
import json, sys
job = json.load(open(sys.argv[1]))
spec = job["spec"]["template"]["spec"]
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
text = json.dumps(job)
assert "tok-5f1d2c9e" not in text and "secretKeyRef" not in text, "a credential in the Job"
PY
echo "ok - the pod runs as user 1000 with service account trainer; the Secret reaches only the init container"
t_wait_until "run $r succeeded" 'test "$(api "runs/$r" | t_json "d[\"status\"]")" = succeeded'

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
