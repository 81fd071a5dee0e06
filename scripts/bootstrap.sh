#!/usr/bin/env bash
# Install the Debian packages Sluice needs to build, run and test.
# Usage: scripts/bootstrap.sh [build|test|all]   (default: all)
# Uses apt-get directly as root, through sudo otherwise.  Installs only what
# is missing, so a warm machine pays one dpkg query.
set -euo pipefail
what=${1:-all}

build_pkgs=(build-essential pkg-config git libgit2-dev libmicrohttpd-dev
	libpq-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev
	postgresql postgresql-client python3 ca-certificates)
test_pkgs=(libcmocka-dev valgrind clang curl openssl procps iproute2 wrk
	chromium nodejs npm openssh-server cppcheck)
# A real Prometheus for the canary analysis tests and `make run`'s demo.
test_pkgs+=(prometheus)

# schedule triggers read time zones from the system tzdata
build_pkgs+=(tzdata)
pkgs=("${build_pkgs[@]}")
[ "$what" = build ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
# node/npm may come from elsewhere than Debian (nodesource, nvm); accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs}")
	missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"

if [ ${#missing[@]} -gt 0 ]; then
	echo "bootstrap: installing ${missing[*]}"
	if [ "$(id -u)" = 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	elif command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "bootstrap: missing packages: ${missing[*]}" >&2
		echo "bootstrap: not root and no sudo; install them with:" >&2
		echo "  apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
	    "${missing[@]}" >/dev/null
fi

# kubectl is not in Debian's archive; tests that need it skip without it.
if ! command -v kubectl >/dev/null; then
	echo "bootstrap: kubectl not found; manifest checks will be skipped" >&2
fi

# Browser tests drive Debian's chromium with playwright-core from npm.
if [ "$what" != build ] && [ -f tests/browser/package.json ] &&
    { [ ! -d tests/browser/node_modules/playwright-core ] ||
      [ ! -d tests/browser/node_modules/ajv ]; }; then
	(cd tests/browser && npm install --no-audit --no-fund --silent)
fi

# The API contract checks (make lint, tests/api) use redocly and ajv.
if [ "$what" != build ] && [ -f tests/api/package.json ] &&
    [ ! -d tests/api/node_modules/@redocly ]; then
	(cd tests/api && npm install --no-audit --no-fund --silent)
fi
exit 0
