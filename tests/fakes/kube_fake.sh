#!/usr/bin/env bash
# kube_fake.sh - start and stop tests/fakes/kube_apiserver.py over HTTPS,
# with a throwaway CA, server and client certificates and kubeconfigs.
#
#   kube_fake.sh run DIR [ARGS...]     certificates (once), start the fake
#                                      with ARGS, wait for its port, write
#                                      kubeconfigs, create DIR/ready, then
#                                      stay in the foreground until the fake
#                                      exits or this script gets SIGTERM
#                                      (for callers that run it as a child
#                                      and wait for it)
#   kube_fake.sh start DIR [ARGS...]   the same in the background; print
#                                      shell assignments (eval them), exit
#   kube_fake.sh stop DIR              stop what start started
#   kube_fake.sh certs DIR             only the certificates and tokens
#
# DIR then holds (the certificates and token are the same for every fake
# of one `make test`, see certs()):
#   ca.crt ca.key            the test CA (EC P-256, valid 2 days)
#   other-ca.crt             an unrelated CA (for "untrusted server" tests)
#   server.crt server.key    for 127.0.0.1 and localhost
#   client.crt client.key    a client certificate (CN=sluice-test)
#   token                    the accepted bearer token ("test-token")
#   port pid fake.log ready  the running fake (pid: the script's)
#   kubeconfig               token auth, CA by file        (context "fake")
#   kubeconfig-tokenfile     tokenFile auth, CA by file
#   kubeconfig-cert          client certificate and CA as *-data
# The fake accepts the token "test-token" and the client certificate, and
# answers 403 for "forbidden-token".  It exits by itself when the process
# that started this script (its parent, or $KUBE_FAKE_WATCH_PID) is gone.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: kube_fake.sh start|stop|certs DIR [ARGS...]" >&2
	exit 2
}
shift 2

# make_certs DIR: the certificates and token above, made in DIR.
make_certs() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	(
		cd "$1"
		openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 \
		    -subj "/CN=sluice-test-ca" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.crt \
		    -days 2 -subj "/CN=some-other-ca" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
		printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
		openssl req "${ec[@]}" -keyout server.key -out server.csr \
		    -subj "/CN=kube-apiserver" 2>/dev/null
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
		    -set_serial "0x$(openssl rand -hex 8)" -days 2 \
		    -extfile server.ext -out server.crt 2>/dev/null
		openssl req "${ec[@]}" -keyout client.key -out client.csr \
		    -subj "/O=system:masters/CN=sluice-test" 2>/dev/null
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key \
		    -set_serial "0x$(openssl rand -hex 8)" -days 2 \
		    -extfile client.ext -out client.crt 2>/dev/null
		rm -f server.csr client.csr server.ext client.ext other-ca.key
		printf 'test-token\n' >token
		chmod 600 ca.key server.key client.key token
	)
}

# The files certs() gives each DIR.
cert_files=(ca.crt ca.key other-ca.crt server.crt server.key client.crt
    client.key token)

# certs: DIR's certificates.  Within one `make test` ($SLUICE_TEST_TMP set),
# every fake gets a copy of one set made by the first (under a lock, as
# programs run in parallel): six openssl commands once, not per fake.
certs() {
	local shared
	mkdir -p "$dir"
	[ -s "$dir/client.key" ] && return 0
	if [ -z "${SLUICE_TEST_TMP:-}" ] || ! [ -d "$SLUICE_TEST_TMP" ]; then
		make_certs "$dir"
		return
	fi
	shared=$SLUICE_TEST_TMP/kube-fake-certs
	(
		flock 9
		if ! [ -s "$shared/client.key" ]; then
			rm -rf "$shared.new"
			mkdir -p "$shared.new"
			make_certs "$shared.new"
			mv "$shared.new" "$shared"
		fi
	) 9>"$SLUICE_TEST_TMP/kube-fake-certs.lock"
	(cd "$shared" && cp -p "${cert_files[@]}" "$dir/")
}

b64() { base64 -w0 <"$1"; }

kubeconfigs() {
	local url=$1
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: $url
      certificate-authority: $dir/ca.crt
contexts:
  - name: fake
    context: { cluster: fake, user: token, namespace: sluice-test }
users:
  - name: token
    user: { token: test-token }
current-context: fake
EOF
	cat >"$dir/kubeconfig-tokenfile" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: $url
      certificate-authority: ca.crt
contexts:
  - name: fake
    context: { cluster: fake, user: tokenfile, namespace: sluice-test }
users:
  - name: tokenfile
    user: { tokenFile: token }
current-context: fake
EOF
	cat >"$dir/kubeconfig-cert" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: $url
      certificate-authority-data: $(b64 "$dir/ca.crt")
contexts:
  - name: fake
    context: { cluster: fake, user: cert, namespace: sluice-test }
users:
  - name: cert
    user:
      client-certificate-data: $(b64 "$dir/client.crt")
      client-key-data: $(b64 "$dir/client.key")
current-context: fake
EOF
}

# Alive and not a zombie (an init that does not reap leaves those).
alive() {
	local st=
	kill -0 "$1" 2>/dev/null || return 1
	# (read, not awk: this runs every 50 ms while a fake starts or stops)
	read -r st 2>/dev/null <"/proc/$1/stat" || return 0
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

run() {
	certs
	dir=$(cd "$dir" && pwd)
	rm -f "$dir/port" "$dir/ready"
	watch_pid=${KUBE_FAKE_WATCH_PID:-$PPID}
	# imported, not run as a script: Python keeps the compiled module
	# (tests/fakes/__pycache__, even where PYTHONDONTWRITEBYTECODE is set)
	# and does not compile its 3,000 lines at every start
	PYTHONDONTWRITEBYTECODE= python3 -c 'import sys; sys.path.insert(0, sys.argv.pop(1))
sys.argv[0] = "kube_apiserver.py"
import kube_apiserver; sys.exit(kube_apiserver.main())' "$here" \
	    --port 0 --port-file "$dir/port" \
	    --cert "$dir/server.crt" --key "$dir/server.key" \
	    --client-ca "$dir/ca.crt" --token test-token \
	    --forbidden-token forbidden-token --watch-pid "$watch_pid" \
	    "$@" >"$dir/fake.log" 2>&1 </dev/null &
	fake=$!
	trap 'kill "$fake" 2>/dev/null; wait "$fake"; exit 0' TERM INT
	end=$((SECONDS + 300))	# a bound against a hang, not a measure
	while [ $SECONDS -lt $end ]; do
		[ -s "$dir/port" ] && break
		alive "$fake" || break
		sleep 0.05
	done
	if ! [ -s "$dir/port" ]; then
		cat "$dir/fake.log" >&2
		echo "kube_fake.sh: the fake API server did not start" >&2
		kill "$fake" 2>/dev/null
		exit 1
	fi
	kubeconfigs "https://127.0.0.1:$(cat "$dir/port")"
	: >"$dir/ready"
	wait "$fake"
}

case $cmd in
certs)
	certs
	;;
run)
	run "$@"
	;;
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	rm -f "$dir/ready"
	KUBE_FAKE_WATCH_PID=${KUBE_FAKE_WATCH_PID:-$PPID} \
	    "$0" run "$dir" "$@" >/dev/null 2>"$dir/run.log" </dev/null &
	echo $! >"$dir/pid"
	end=$((SECONDS + 300))	# a bound against a hang, not a measure
	while [ $SECONDS -lt $end ]; do
		[ -e "$dir/ready" ] && break
		alive "$(cat "$dir/pid")" || break
		sleep 0.05
	done
	if ! [ -e "$dir/ready" ]; then
		cat "$dir/run.log" >&2
		exit 1
	fi
	port=$(cat "$dir/port")
	echo "KUBE_FAKE_DIR=$dir"
	echo "KUBE_FAKE_PORT=$port"
	echo "KUBE_FAKE_URL=https://127.0.0.1:$port"
	echo "KUBECONFIG=$dir/kubeconfig"
	;;
stop)
	if [ -s "$dir/pid" ]; then
		pid=$(cat "$dir/pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			alive "$pid" || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/pid"
	fi
	;;
*)
	echo "kube_fake.sh: unknown command '$cmd'" >&2
	exit 2
	;;
esac
