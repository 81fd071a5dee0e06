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
port=${SLUICE_DEMO_PG_PORT:-5432}
listen=${SLUICE_LISTEN:-127.0.0.1:8080}

pids=()
cleanup() {
	trap - EXIT INT TERM
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
	pg_stop "$state/pg"
	echo "demo stopped"
}
trap cleanup EXIT INT TERM

pg_start "$state/pg" "$port"
pg_as "$PG_BIN/psql" -h "$state/pg/run" -p "$port" -U sluice -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname='sluice'" | grep -q 1 ||
    pg_as "$PG_BIN/createdb" -h "$state/pg/run" -p "$port" -U sluice sluice

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

bin/sluice serve --config "$state/sluice.yaml" &
pids+=($!)

echo
echo "  Sluice console:  http://$listen"
echo "  Admin token:     $token"
echo "  Webhook secret:  \$SLUICE_WEBHOOK_SECRET=$SLUICE_WEBHOOK_SECRET"
echo "  Press Ctrl-C to stop."
echo
wait "${pids[0]}"
