#!/usr/bin/env bash
# The console's browser tests (tests/browser/run.sh) as part of `make test`.
exec "$(dirname "$0")/../browser/run.sh"
