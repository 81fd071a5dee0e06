#!/usr/bin/env bash
# `make run`: the demo.  Installs what is missing, builds, starts a private
# PostgreSQL under var/ (kept across runs), applies migrations, creates an
# admin token and starts `sluice serve` with the local executor.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
scripts/bootstrap.sh build
make -s -j"$(nproc 2>/dev/null || echo 2)"
. scripts/pg.sh

state=$top/var
mkdir -p "$state"
# As root, PostgreSQL runs as the postgres user, who may not be able to
# enter this checkout (under /root, say): its cluster then lives under
# /var/tmp, and var/pg is a link to it.
pgdir=$(pg_dir_for "$state")
if [ "$pgdir" != "$state/pg" ]; then
	mkdir -p -m 755 "$(dirname "$pgdir")"
	# A var/pg left by a start that could not work holds no cluster.
	if [ -d "$state/pg" ] && [ ! -L "$state/pg" ] &&
	    [ ! -f "$state/pg/data/PG_VERSION" ]; then
		rm -rf "$state/pg"
	fi
	if [ -L "$state/pg" ] || [ ! -e "$state/pg" ]; then
		ln -sfn "$pgdir" "$state/pg"
	fi
fi
port=${SLUICE_DEMO_PG_PORT:-5432}
listen=${SLUICE_LISTEN:-127.0.0.1:8080}

pids=()
cleanup() {
	# Once: and a second signal must not cut it short.  Stopping the demo
	# signals its whole process group, so the TERM that make passes on
	# arrives while this runs; with the default action restored it would
	# kill the script before PostgreSQL is stopped.
	trap - EXIT
	trap '' INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# Stage attempts run under supervisors of their own, which outlive the
	# controller on purpose (a restarted controller adopts them; see
	# docs/executors.md).  Stopping the demo cancels them too, unless
	# SLUICE_DEMO_KEEP_STAGES=1: each supervisor then kills its stage's
	# process group and records the attempt as canceled.
	if [ -z "${SLUICE_DEMO_KEEP_STAGES:-}" ]; then
		for d in "$state"/attempts/*/; do
			if [ -e "$d/lock" ] && [ ! -e "$d/status" ]; then
				: >"$d/cancel" 2>/dev/null || true
			fi
		done
	fi
	pg_stop "$pgdir"
	echo "demo stopped"
}
trap cleanup EXIT
# A signal stops the script too, wherever it was (cleanup alone would
# return into the start-up loop below).
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

pg_start "$pgdir" "$port"
pg_as "$PG_BIN/psql" -h "$pgdir/run" -p "$port" -U sluice -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname='sluice'" | grep -q 1 ||
    pg_as "$PG_BIN/createdb" -h "$pgdir/run" -p "$port" -U sluice sluice

# The demo configuration, regenerated each run (see docs/operations.md).
cat >"$state/sluice.yaml" <<YAML
listen: $listen
database_url: "$PG_URL dbname=sluice"
state_dir: $state
executor: local
log_level: info
YAML
# Later issues add the demo repository here (scripts/demo-repo.sh).
if [ -x scripts/demo-repo.sh ]; then
	scripts/demo-repo.sh "$state" >>"$state/sluice.yaml"
fi

export SLUICE_WEBHOOK_SECRET=${SLUICE_WEBHOOK_SECRET:-demo-webhook-secret}
bin/sluice migrate --config "$state/sluice.yaml"
token=$(bin/sluice token create --config "$state/sluice.yaml" \
    --name "demo-admin-$(date +%s)" --role admin)
# For scripts/demo-approve.sh and curl: readable by you only.
(umask 077 && printf '%s\n' "$token" >"$state/admin-token")
printf '%s\n' "$listen" >"$state/listen"

# With Debian's prometheus installed, the demo canary is judged by a real
# Prometheus (1 s scrapes) reading request counters that the canary's steps
# set (tests/fakes/request_counter.py; scripts/demo-prometheus.py adds the
# analysis to the demo pipeline).  Without it, by the metrics its step prints.
prom_url= counter_url=
if command -v prometheus >/dev/null; then
	rm -rf "$state/prometheus"
	mkdir -p "$state/prometheus"
	mkfifo "$state/prometheus/hold"
	exec 9<>"$state/prometheus/hold"	# their stdin: never closes
	python3 tests/fakes/request_counter.py --target demo-api <&9 \
	    >"$state/prometheus/counter.port" &
	pids+=($!)
	for _ in $(seq 1 100); do
		[ -s "$state/prometheus/counter.port" ] && break
		sleep 0.1
	done
	cport=$(cat "$state/prometheus/counter.port")
	tests/fakes/prometheus_run.sh "$state/prometheus" "127.0.0.1:$cport" \
	    <&9 >"$state/prometheus/prometheus.port" &
	pids+=($!)
	for _ in $(seq 1 300); do
		[ -s "$state/prometheus/prometheus.port" ] && break
		sleep 0.1
	done
	if [ -s "$state/prometheus/prometheus.port" ] && [ -n "$cport" ]; then
		prom_url=http://127.0.0.1:$(cat "$state/prometheus/prometheus.port")
		counter_url=http://127.0.0.1:$cport
	else
		echo "demo: prometheus did not start (see $state/prometheus/prometheus.log)" >&2
	fi
fi

bin/sluice serve --config "$state/sluice.yaml" &
serve_pid=$!
pids+=($serve_pid)

psql_demo() {
	pg_as "$PG_BIN/psql" -h "$pgdir/run" -p "$port" -U sluice -d sluice \
	    -qAtX -v ON_ERROR_STOP=1 "$@"
}

# Show a run in progress: once the controller is ready and the poller has
# seen the demo repository's branch (the first sight of a branch starts
# nothing), push a commit touching pipelines/demo/, so the poller starts a
# run at it.
run_id=
for _ in $(seq 1 150); do
	if curl -sf "http://$listen/readyz" >/dev/null 2>&1 &&
	    [ "$(psql_demo -c "SELECT count(*) FROM branch_heads" 2>/dev/null)" \
	    -ge 1 ] 2>/dev/null; then
		break
	fi
	sleep 0.2
done
if [ -d "$state/demo/.git" ]; then
	before=$(psql_demo -c "SELECT coalesce(max(id), 0) FROM runs")
	(cd "$state/demo" &&
	    echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ) make run" >>pipelines/demo/RUNS.md &&
	    { "$top/scripts/demo-prometheus.py" pipelines/demo.yaml \
	    ${prom_url:+"$prom_url" "$counter_url"} || true; } &&
	    git -c user.name="Sluice Demo" -c user.email=demo@sluice.invalid \
	    add pipelines/demo/RUNS.md pipelines/demo.yaml &&
	    git -c user.name="Sluice Demo" -c user.email=demo@sluice.invalid \
	    commit -qm "demo: run the pipeline" && git push -q origin HEAD:main) >&2
	for _ in $(seq 1 100); do
		run_id=$(psql_demo -c "SELECT id FROM runs WHERE id > $before ORDER BY id LIMIT 1")
		[ -n "$run_id" ] && break
		sleep 0.2
	done
fi

echo
echo "  Sluice console:  http://$listen"
echo "  Admin token:     $token"
echo "  Webhook secret:  \$SLUICE_WEBHOOK_SECRET=$SLUICE_WEBHOOK_SECRET"
if [ -n "$run_id" ]; then
	echo
	echo "  Run $run_id of pipeline demo is in progress:"
	echo "    prepare -> train -> evaluate -> canary step 1 (10%, 10s analysis)"
	echo "    -> step 2 (50%) -> waiting for approval (in about half a minute)."
	echo "  Watch it:        scripts/demo-status.sh"
	echo "  Approve a step:  scripts/demo-approve.sh          (twice: 50%, then 100%)"
	echo "  Reject (rolls back): scripts/demo-approve.sh --reject \"too risky\""
	if [ -n "$prom_url" ]; then
		echo
		echo "  Canary analysis:  Prometheus at $prom_url (prometheus is installed)"
		echo "    step 1 measures the canary's HTTP error rate every 1 s for 10 s;"
		echo "    the run page charts each measurement against its threshold."
		echo "    Request counters: $counter_url/metrics"
	else
		echo "  Canary analysis:  the metrics the step prints (install prometheus"
		echo "    for a live Prometheus analysis and its chart)"
	fi
fi
echo "  Press Ctrl-C to stop."
echo
wait "$serve_pid"
