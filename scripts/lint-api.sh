#!/usr/bin/env bash
# `make lint`: docs/api.yaml must lint clean with Redocly's recommended
# OpenAPI rules (tests/api/redocly.yaml); warnings fail too.
set -uo pipefail
cd "$(dirname "$0")/../tests/api"
[ -d node_modules/@redocly ] || npm install --no-audit --no-fund --silent
out=$(npx --no-install redocly lint ../../docs/api.yaml --config redocly.yaml \
	--format=stylish 2>&1)
rc=$?
if [ "$rc" != 0 ] || grep -qE '^ +[0-9]+:[0-9]+ +(error|warning)' <<<"$out"; then
	grep -vE '^ *[║╔╚]' <<<"$out"
	echo "lint: docs/api.yaml does not lint clean"
	exit 1
fi
echo "lint: docs/api.yaml lints clean (redocly recommended)"
