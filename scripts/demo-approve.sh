#!/usr/bin/env bash
# Approve (or, with --reject, reject) the oldest pending approval of the
# `make run` demo through the REST API, with the admin token `make run`
# created (var/admin-token):
#
#   GET  /api/v1/approvals?status=pending
#   POST /api/v1/approvals/{id}/approve   {"comment": "..."}
#
#   scripts/demo-approve.sh [--reject] [COMMENT]
set -euo pipefail
cd "$(dirname "$0")/.."
state=$PWD/var
[ -f "$state/admin-token" ] || { echo "demo-approve: run 'make run' first" >&2; exit 1; }
token=$(cat "$state/admin-token")
base="http://$(cat "$state/listen" 2>/dev/null || echo 127.0.0.1:8080)/api/v1"
verb=approve
if [ "${1:-}" = --reject ]; then verb=reject; shift; fi
comment=${1:-}
auth=(-H "Authorization: Bearer $token")
id=$(curl -sf "${auth[@]}" "$base/approvals?status=pending" |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["approvals"]; print(min((x["id"] for x in a), default=""))')
if [ -z "$id" ]; then
	echo "demo-approve: no pending approval (scripts/demo-status.sh shows the run)" >&2
	exit 1
fi
body=$(python3 -c 'import json,sys; print(json.dumps({"comment": sys.argv[1]}))' "$comment")
curl -sf "${auth[@]}" -H 'Content-Type: application/json' -X POST \
    -d "$body" "$base/approvals/$id/$verb" |
    python3 -c 'import json,sys; a=json.load(sys.stdin); print("approval %s of run %s (step %s, weight %s%%): %s" % (a["id"], a["run"], a["step"], a["weight"], a["status"]))'
