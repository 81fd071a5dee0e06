# tests/support/kubectl_fake.sh - what the kube_fake_kubectl*.sh tests share:
# the fake Kubernetes API server (tests/fakes/kube_apiserver.py) as their
# child, and kubectl on it.  Sourced, after `set -euo pipefail`:
#
#	. "$(dirname "$0")/../support/kubectl_fake.sh"
#
# It skips the test (exit 0) without kubectl, starts the fake (4 nodes, 4
# GPUs, Kueue flavor h100 with 1 GPU of quota, LocalQueue ml-training) and
# defines:
#   ok MSG / fail MSG      a passed check (counted) / the test fails
#   finish                 the last line: how many checks passed
#   control METHOD PATH [JSON]   the fake's test API (/_fake/...)
#   k ARG...               kubectl on the fake (kubeconfig $kc)
#   wait_for WHAT CMD...   retry CMD each time an object in the fake
#                          changed (a CMD that reads the fake with kubectl)
#   wait_file WHAT CMD...  retry CMD every 0.05 s (a CMD that reads a file)
#                          (both: a bound of 300 s)
#   job NAME [ENV] [RES]   a Job manifest; complete NAME: it is Complete
# $tmp is the test's directory (removed at exit), $tmp/fake the fake's.
# The tests are split in parts that run in parallel; each has its own fake.
# shellcheck shell=bash

top=${SLUICE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
. "$top/tests/support/lib.sh"
kf_name=$(basename "$0" .sh)

if ! command -v kubectl >/dev/null 2>&1; then
	echo "$kf_name: SKIP (kubectl not installed)"
	exit 0
fi

tmp=$(mktemp -d "${SLUICE_TEST_TMP:-${TMPDIR:-/tmp}}/$kf_name.XXXXXX")
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
end=$((SECONDS + 300))	# a bound against a hang, not a measure
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
# against a hang on a loaded machine, not a measure), once per change of
# the fake's objects (t_wait_kube: a kubectl costs more than a wait) and
# at least once a second
KUBE_FAKE_DIR=$tmp/fake KUBE_FAKE_URL=$url
wait_for() {
	local what=$1 end=$((SECONDS + 300)) rv new
	shift
	rv=$(t_kube_changed -1 0) || rv=0
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out: $what"
		if new=$(t_kube_changed "$rv"); then rv=$new; else t_sleep 0.05; fi
		t_sleep 0.02
	done
}
# wait_file DESCRIPTION COMMAND...: the same, every 0.05 s (for a command
# that reads what a background kubectl writes)
wait_file() {
	local what=$1 end=$((SECONDS + 300))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out: $what"
		t_sleep 0.05
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

complete() {
	[ "$(k get job "$1" -n ml -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}')" = True ]
}

# finish: the last line of a passed test
finish() { echo "$kf_name: $checks checks passed"; }
