# scripts/pg.sh - start and stop a private PostgreSQL cluster.  Sourced.
#
#   pg_start DIR PORT   initdb DIR/data when new, start it with its unix
#                       socket in DIR/run; sets PG_URL (libpq conninfo)
#   pg_stop DIR         stop it (fast), ignore a stopped cluster
#   pg_ctl_cmd DIR ...  run pg_ctl on it as the right user
#   pg_dir_for STATE    the DIR for a checkout's state directory
#
# initdb refuses to run as root, so as root the cluster belongs to the
# unprivileged user "postgres" (created by the postgresql package).  The
# database superuser is always "sluice", trusted on the socket only.

PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
	for v in 17 16 15 14 13; do
		if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
			PG_BIN=/usr/lib/postgresql/$v/bin
			break
		fi
	done
fi

pg_as() {
	if [ "$(id -u)" = 0 ]; then
		# from /: the caller's directory may be closed to postgres
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# pg_dir_for STATE: where the cluster of a checkout whose state is STATE
# lives: STATE/pg, unless root runs it and the postgres user cannot enter
# STATE (a clone under /root, mode 0700): then a directory of its own under
# /var/tmp, named after STATE.
pg_dir_for() {
	local state=$1
	if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$state" 2>/dev/null; then
		printf '%s\n' "$state/pg"
	else
		printf '/var/tmp/sluice-%s/pg\n' \
		    "$(printf '%s' "$state" | sha256sum | cut -c1-16)"
	fi
}

pg_ctl_cmd() {
	local dir=$1
	shift
	pg_as "$PG_BIN/pg_ctl" -D "$dir/data" "$@"
}

pg_start() {
	local dir=$1 port=$2
	[ -n "$PG_BIN" ] || { echo "pg: PostgreSQL binaries not found" >&2; return 1; }
	mkdir -p "$dir/run"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir" "$dir/run"
		chmod 755 "$dir"
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		pg_as "$PG_BIN/initdb" -D "$dir/data" -U sluice --auth=trust \
		    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		    { cat "$dir/initdb.log" >&2; return 1; }
	fi
	pg_ctl_cmd "$dir" status >/dev/null 2>&1 && pg_ctl_cmd "$dir" stop -m fast >/dev/null 2>&1
	pg_ctl_cmd "$dir" start -w -t 60 -l "$dir/postgres.log" -o \
	    "-p $port -k $dir/run -c listen_addresses='' -c fsync=${PG_FSYNC:-on} -c max_connections=200" \
	    >/dev/null || { tail -20 "$dir/postgres.log" >&2; return 1; }
	PG_URL="host=$dir/run port=$port user=sluice"
	export PG_URL
}

pg_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	pg_ctl_cmd "$dir" stop -m fast -w >/dev/null 2>&1 || true
}

# A TCP port nobody listens on (for the unix socket name and HTTP servers).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
