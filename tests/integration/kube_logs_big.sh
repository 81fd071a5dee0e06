#!/usr/bin/env bash
# kube_logs_big: part 3 of kube_logs.sh (see there), run as a program of
# its own so that the two run in parallel: a stage prints 100 MiB, the
# controller's RSS stays under 64 MiB while it streams it, the kept log is
# capped at logs.max_bytes and ends with the truncation marker, and a
# metric printed after the cap is still stored.
KUBE_LOGS_PART=big exec bash "$(dirname "$0")/kube_logs.sh"
