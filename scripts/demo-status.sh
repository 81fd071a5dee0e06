#!/usr/bin/env bash
# The demo's runs, stages and approvals, from the database of `make run`
# (until the console and the REST API show them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
state=$PWD/var
pgdir=$(pg_dir_for "$state")
port=${SLUICE_DEMO_PG_PORT:-5432}
q() {
	pg_as "$PG_BIN/psql" -h "$pgdir/run" -p "$port" -U sluice -d sluice \
	    -X -P pager=off -v ON_ERROR_STOP=1 -c "$1"
}
q "SELECT r.id AS run, p.name AS pipeline, r.status, r.trigger,
      string_agg(s.name || '=' || s.status, ' ' ORDER BY s.position) AS stages,
      coalesce(r.message, '') AS message
    FROM runs r JOIN pipelines p ON p.id = r.pipeline_id
    JOIN stages s ON s.run_id = r.id
    GROUP BY r.id, p.name ORDER BY r.id DESC LIMIT 5"
q "SELECT id AS approval, run_id AS run, step, weight, target, status,
      coalesce(decided_by, '') AS decided_by, coalesce(comment, '') AS comment
    FROM approvals ORDER BY id DESC LIMIT 5"
q "SELECT name, version, status, coalesce(target, '') AS target, uri
    FROM model_versions ORDER BY id DESC LIMIT 5"
