#!/usr/bin/env bash
# Approve (or, with --reject, reject) the oldest pending approval of the
# `make run` demo, as the REST API's POST /api/v1/approvals/{id}/approve
# will: one conditional UPDATE ... WHERE status = 'pending' with its event
# and NOTIFY sluice_approvals, the same statement as store_approval_decide()
# in controller/store_approval.c.  The engine wakes up at once.
#
#   scripts/demo-approve.sh [--reject] [COMMENT]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
state=$PWD/var
port=${SLUICE_DEMO_PG_PORT:-5432}
approve=true
if [ "${1:-}" = --reject ]; then approve=false; shift; fi
comment=${1:-}
who=${SLUICE_DEMO_APPROVER:-demo-admin}
out=$(pg_as "$PG_BIN/psql" -h "$state/pg/run" -p "$port" -U sluice -d sluice \
    -qAtX -v ON_ERROR_STOP=1 -v approve="$approve" -v who="$who" \
    -v comment="$comment" <<'SQL'
WITH ap AS (
  UPDATE approvals SET status = CASE WHEN :'approve'::boolean THEN 'approved'
      ELSE 'rejected' END, decided_by = :'who', decided_at = now(),
      comment = nullif(:'comment', '')
  WHERE id = (SELECT min(id) FROM approvals WHERE status = 'pending'
              AND expires_at > now())
    AND status = 'pending'
  RETURNING id, run_id, step, weight, status),
 e AS (
  INSERT INTO events (actor, entity_type, entity_id, run_id, action,
      from_state, to_state, reason, data)
  SELECT :'who', 'approval', id, run_id, 'transition', 'pending', status,
      nullif(:'comment', ''), jsonb_build_object('comment', nullif(:'comment', ''))
  FROM ap RETURNING id, entity_id, run_id, to_state)
SELECT ap.id || ' ' || ap.run_id || ' ' || ap.step || ' ' || ap.weight || ' '
    || ap.status, pg_notify('sluice_approvals', ap.id::text),
    pg_notify('sluice_events', json_build_object('id', e.id, 'type',
      'approval', 'entity', e.entity_id, 'run', e.run_id, 'from', 'pending',
      'to', e.to_state)::text)
FROM ap JOIN e ON e.entity_id = ap.id;
SQL
)
if [ -z "$out" ]; then
	echo "no pending approval (see scripts/demo-status.sh)" >&2
	exit 1
fi
read -r id run step weight status _ <<<"${out//|/ }"
echo "approval $id (run $run, step $step at ${weight}%): $status by $who"
