#!/usr/bin/env bash
# The console's browser tests against the mock API
# (tests/browser/run.sh mock) as part of `make test`, beside browser.sh.
exec "$(dirname "$0")/../browser/run.sh" mock
