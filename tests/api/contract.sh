#!/usr/bin/env bash
# Run by scripts/test.sh after every other test program: each answer the
# integration tests recorded (SLUICE_TEST_API_RECORD) must match
# docs/api.yaml, and, for a whole run (no T=), every status the document
# gives an operation must have been answered at least once.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${SLUICE_TEST_API_RECORD:?set by scripts/test.sh}
[ -d tests/browser/node_modules/ajv ] ||
	(cd tests/browser && npm install --no-audit --no-fund --silent)
if [ -n "${T:-}" ]; then
	exec node tests/api/contract.mjs "$dir" --no-coverage
fi
exec node tests/api/contract.mjs "$dir"
