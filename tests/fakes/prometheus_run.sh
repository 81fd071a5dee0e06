#!/bin/sh
# Run a real Prometheus (Debian's `prometheus` package) for tests and the
# demo: a free port on 127.0.0.1, a 1 s scrape interval of the targets given
# (host:port ...), storage in DIR.  Prints the port once Prometheus is ready,
# then runs until its standard input closes (or it gets SIGTERM), and stops
# Prometheus with it.
#
# Usage: prometheus_run.sh DIR TARGET...
# With PROM_TLS_CERT and PROM_TLS_KEY (PEM files), it serves HTTPS with them.
set -eu
dir=$1
shift
mkdir -p "$dir/data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
	echo "global: {scrape_interval: 1s, evaluation_interval: 1s}"
	echo "scrape_configs:"
	echo "  - job_name: requests"
	echo "    static_configs:"
	for t in "$@"; do
		echo "      - targets: ['$t']"
	done
} > "$dir/prometheus.yml"
scheme=http web=
if [ -n "${PROM_TLS_CERT:-}" ]; then
	scheme=https
	printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' \
	    "$PROM_TLS_CERT" "$PROM_TLS_KEY" > "$dir/web.yml"
	web=--web.config.file=$dir/web.yml
fi
prometheus --config.file="$dir/prometheus.yml" ${web:+"$web"} \
	--storage.tsdb.path="$dir/data" \
	--web.listen-address="127.0.0.1:$port" \
	--log.level=warn > "$dir/prometheus.log" 2>&1 &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop; exit 0' TERM INT
i=0
until curl -kfsS "$scheme://127.0.0.1:$port/-/ready" >/dev/null 2>&1; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 600 ]; then
		echo "prometheus did not start; see $dir/prometheus.log" >&2
		stop
		exit 1
	fi
	i=$((i + 1))
	sleep 0.1
done
echo "$port"
# cat in the background so that SIGTERM's trap runs at once rather than
# after cat; its stdin through fd 3, as a background command's own stdin
# is /dev/null.
exec 3<&0
cat <&3 >/dev/null &
wait $! || true
stop
