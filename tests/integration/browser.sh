#!/usr/bin/env bash
# The console's browser tests against the real controller
# (tests/browser/run.sh console) as part of `make test`; browser_mock.sh
# runs the mock API's beside it.
exec "$(dirname "$0")/../browser/run.sh" console
