#!/usr/bin/env bash
# kube_logs: the logs of Kubernetes stages are kept by the controller.
# `sluice serve` with `executor: kubernetes` against the fake API server
# (tests/fakes/kube_apiserver.py, its pods print FAKE_LOG) and a real
# PostgreSQL:
#   1. a failing stage prints its log over a few seconds while the fake
#      cuts the followed log connection twice and the controller is killed
#      with -9 and restarted; the run fails, the Job is deleted, and GET
#      .../logs gives the whole log, every line once; its metric is stored
#      once;
#   2. a second replica (another `sluice serve` on the same database)
#      serves the same log, and so does the first after a restart;
#   3. a stage prints 100 MiB: the controller's RSS (sampled from /proc)
#      stays under 64 MiB while it streams it, the kept log is capped at
#      logs.max_bytes and ends with the truncation marker, and a metric
#      printed after the cap is still stored.
# 1-2 and 3 run as two programs in parallel, each with its own fake,
# database and controller: this script (KUBE_LOGS_PART=kept, the default)
# and kube_logs_big.sh (this script with KUBE_LOGS_PART=big).
# Needs python3, curl, openssl; skips without them.
set -euo pipefail
part=${KUBE_LOGS_PART:-kept}
case $part in kept) name=kube_logs.sh ;; big) name=kube_logs_big.sh ;;
*) echo "$name: KUBE_LOGS_PART=$part: not kept or big" >&2; exit 2 ;; esac
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
for c in python3 curl openssl; do
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

db=kube_logs_${part}_$$
conn=$(t_db_url "$db")
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/kube-logs.XXXXXX")
pid= pid2=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$pid2" ] && kill -9 "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null
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

t_kube_fake_start "$tmp/kube" --nodes 1
job_gone() { t_fake objects | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(any(j["metadata"]["name"] == sys.argv[1] for j in d.get("jobs", [])))' "$1"; }

# The failing stage's log: 40 lines over 4 s, a metric, a traceback.
want=$tmp/want.log
: >"$want"
flog=
for i in $(seq 1 40); do
	flog="${flog}epoch $i of a long training\\n"
	echo "epoch $i of a long training" >>"$want"
done
flog="${flog}::metric loss=0.5\\nTraceback: boom"
printf '::metric loss=0.5\nTraceback: boom\n' >>"$want"

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cat >"$tmp/work/pipelines/logs.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: failing}
spec:
  checkout: false
  defaults: {image: "registry.example.com/ml/train:1.0"}
  stages:
    - name: train
      command: ["python", "train.py"]
      env: {FAKE_LOG: "$flog", FAKE_EXIT_CODE: "3", FAKE_DURATION_MS: "4000"}
YAML
cat >"$tmp/work/pipelines/big.yaml" <<YAML
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: big}
spec:
  checkout: false
  defaults: {image: "registry.example.com/ml/train:1.0"}
  stages:
    - name: dump
      command: ["python", "dump.py"]
      env: {FAKE_LOG_BYTES: "104857600", FAKE_LOG: "::metric late=1", FAKE_DURATION_MS: "500"}
YAML
t_git_push "$tmp/work" seed

port=$(t_free_port)
port2=$(t_free_port)
base=http://127.0.0.1:$port
base2=http://127.0.0.1:$port2
config() {
	cat <<YAML
listen: 127.0.0.1:$1
database_url: "$conn"
state_dir: $tmp/state$1
executor: kubernetes
kubernetes:
  kubeconfig: $KUBE_FAKE_DIR/kubeconfig
  namespace: sluice-test
logs:
  max_bytes: 1MiB
repositories:
  - name: logs
    url: file://$tmp/repo.git
    branches: [main]
    path: pipelines
    interval: 1s
YAML
}
config "$port" >"$tmp/sluice.yaml"
config "$port2" >"$tmp/sluice2.yaml"
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations"
unset KUBECONFIG

start() {
	"$SLUICE_BIN" serve --config "$tmp/sluice.yaml" --migrate >>"$tmp/serve.log" 2>&1 &
	pid=$!
}
api() { curl -sS --fail -H "Authorization: Bearer $token" "$1/api/v1/$2"; }
run_status() { api "$base" "runs/$1" | t_json 'd["status"]'; }
is_status() { [ "$(run_status "$1")" = "$2" ]; }
new_run() {
	curl -sS --fail -X POST -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' -d '{"ref": "main"}' \
	    "$base/api/v1/pipelines/$1/runs" | t_json 'd["id"]'
}
kept() { q "SELECT coalesce(sum(length(c.data)), 0) FROM attempt_log_chunks c JOIN stage_attempts a ON a.id = c.attempt_id JOIN stages s ON s.id = a.stage_id WHERE s.run_id = $1"; }

start
t_wait_until "/readyz" 'test "$(t_http_code "$base/readyz")" = 200'
token=$("$SLUICE_BIN" token create --config "$tmp/sluice.yaml" --name logs --role operator)
t_wait_until "the pipelines" 'test "$(q "SELECT count(*) FROM pipeline_versions WHERE valid")" = 2'

if [ "$part" = kept ]; then
	# 1. The failing stage, its stream cut twice, the controller killed once.
	t_fake config -X POST -d '{"log_drop_after_bytes": 200, "log_drop_count": 2}' >/dev/null
	r1=$(new_run failing)
	[ -n "$r1" ] || fail "no run"
	t_wait_until "part of run $r1's log kept" 'test "$(kept "$r1")" -gt 300'
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	start
	t_wait_until "run $r1 failed" 'is_status "$r1" failed'
	job=$(q "SELECT job_name FROM stage_attempts a JOIN stages s ON s.id = a.stage_id WHERE s.run_id = $r1")
	t_wait_kube "job $job deleted" 'job_gone "$job"'
	curl -sS --fail -H "Authorization: Bearer $token" -D "$tmp/h1" -o "$tmp/got1.log" \
	    "$base/api/v1/runs/$r1/stages/train/logs"
	cmp -s "$want" "$tmp/got1.log" || { diff "$want" "$tmp/got1.log" | head -20 >&2 || true; fail "the kept log of run $r1 differs"; }
	grep -qi '^X-Sluice-Job: '"$job" "$tmp/h1" || fail "no X-Sluice-Job header"
	grep -qi '^X-Sluice-Attempt: 1' "$tmp/h1" || fail "no X-Sluice-Attempt header"
	[ "$(q "SELECT count(*) FROM metrics m JOIN stage_attempts a ON a.id = m.attempt_id JOIN stages s ON s.id = a.stage_id WHERE s.run_id = $r1")" = 1 ] ||
	    fail "the metric of run $r1 is not stored exactly once"
	resumes=$(grep -c 'kubernetes log stream resumed' "$tmp/serve.log" || true)
	echo "$name: run $r1: log kept whole after 2 cut streams and a kill -9 (resumes logged: $resumes)"
	code=$(t_http_code -H "Authorization: Bearer $token" "$base/api/v1/runs/$r1/stages/train/logs?node=1")
	[ "$code" = 404 ] || fail "?node=1 of a one-node stage: $code"
	code=$(t_http_code -H "Authorization: Bearer $token" "$base/api/v1/runs/$r1/stages/train/logs?node=x")
	[ "$code" = 400 ] || fail "?node=x: $code"

	# 2. A second replica reads the same log; so does the first after a restart.
	"$SLUICE_BIN" serve --config "$tmp/sluice2.yaml" >>"$tmp/serve2.log" 2>&1 &
	pid2=$!
	t_wait_until "the second replica" 'test "$(t_http_code "$base2/healthz")" = 200'
	curl -sS --fail -H "Authorization: Bearer $token" -o "$tmp/got2.log" \
	    "$base2/api/v1/runs/$r1/stages/train/logs?follow=1"
	cmp -s "$want" "$tmp/got2.log" || fail "the second replica's log of run $r1 differs"
	kill -9 "$pid2"
	wait "$pid2" 2>/dev/null || true
	pid2=
fi

if [ "$part" = big ]; then
	# 3. 100 MiB of log: bounded memory, capped, the marker, the late metric.
	r2=$(new_run big)
	max=0
	# one status request per sample: the loop shares the CPU with the stream
	while :; do
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		[ "$rss" -gt "$max" ] && max=$rss
		st=$(run_status "$r2")
		case $st in succeeded) break ;; failed|canceled) fail "run $r2 ended $st" ;; esac
		t_sleep 0.2
	done
	echo "$name: run $r2: 100 MiB streamed, controller RSS peak ${max} kB"
	[ "$max" -lt $((64 * 1024)) ] || fail "the controller's RSS reached $max kB (limit 64 MiB)"
	curl -sS --fail -H "Authorization: Bearer $token" -o "$tmp/big.log" \
	    "$base/api/v1/runs/$r2/stages/dump/logs"
	size=$(stat -c %s "$tmp/big.log")
	[ "$size" -le $((1024 * 1024 + 200)) ] || fail "the kept log of run $r2 is $size bytes (cap 1MiB)"
	last=$(tail -n 1 "$tmp/big.log")
	case $last in
	"[sluice] log truncated at 1MiB: "*" more bytes not kept") ;;
	*) fail "the kept log of run $r2 ends with: $last" ;;
	esac
	dropped=$(echo "$last" | sed 's/.*: \([0-9]*\) more.*/\1/')
	total=$((size - ${#last} - 1 + dropped))
	[ "$total" = $((104857600 + 16)) ] || fail "kept + dropped = $total, want $((104857600 + 16))"
	[ "$(q "SELECT count(*) FROM metrics m JOIN stage_attempts a ON a.id = m.attempt_id JOIN stages s ON s.id = a.stage_id WHERE s.run_id = $r2 AND m.name = 'late'")" = 1 ] ||
	    fail "the metric printed after the cap was not stored once"
	head -c 10 "$tmp/big.log" | grep -q '^line 0000' || fail "the kept log of run $r2 does not start with the first line"
fi

kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=
echo "$name: ok"
