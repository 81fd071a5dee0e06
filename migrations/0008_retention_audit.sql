-- 0012_retention_audit.sql - the audit export, lineage from a commit and
-- retention.
--
-- Audit.  Which events are decisions an auditor asks about is one SQL
-- function, event_audit_kind(), used by GET /api/v1/audit, by its index
-- and by the events trigger below (an audit event is never deleted):
--   approval       an approval approved, rejected or expired
--   promotion      a model version made production (a rollout's end or a
--                  manual promotion)
--   rollback       a rollout rolled back, or a model version made
--                  production again by a manual rollback (action or
--                  data.action 'rollback')
--   rollout_action promote_full, abort, pause, resume of a rollout
--   token          an API token created or revoked
--   repository     a repository added, changed or removed
-- Anything else (runs, stages, attempts, sessions, ...) is not audit.
--
-- Retention.  Runs past their pipeline's retention policy are deleted with
-- what cascades from them (stages, attempts, metrics, artifacts, kept
-- logs, rollouts, approvals) and their model versions, by the controller's
-- sweep or `sluice gc`.  Runs that a production or candidate model, a
-- pending or decided approval, a promotion, a rollback or a kept run
-- needs are never deleted (docs/operations.md, "Retention").
--
-- Events stay append-only, with one deliberate, narrow exception: a DELETE
-- of an event is let through when, and only when, all of these hold:
--   * the transaction set `SET LOCAL sluice.retention = 'on'` (only the
--     retention sweep does; the setting ends with the transaction),
--   * the event belongs to a run (run_id) that no longer exists: the sweep
--     deletes the run first, in the same transaction,
--   * the event is not an audit event (event_audit_kind() is NULL).
-- UPDATE and TRUNCATE stay refused in every case.

CREATE FUNCTION event_audit_kind(entity_type text, action text, to_state text,
                                 data jsonb)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT CASE
    WHEN entity_type = 'approval' AND action = 'transition'
         AND to_state IN ('approved', 'rejected', 'expired') THEN 'approval'
    WHEN entity_type = 'model_version' AND to_state = 'production'
         AND 'rollback' IN (action, data->>'action') THEN 'rollback'
    WHEN entity_type = 'model_version' AND to_state = 'production'
         THEN 'promotion'
    WHEN entity_type = 'rollout' AND action = 'transition'
         AND to_state = 'rolled_back' THEN 'rollback'
    WHEN entity_type = 'rollout'
         AND action IN ('promote_full', 'abort', 'pause', 'resume')
         THEN 'rollout_action'
    WHEN entity_type = 'token' THEN 'token'
    WHEN entity_type = 'repository' THEN 'repository'
END
$$;

-- GET /api/v1/audit: audit events in id order, keyset.
CREATE INDEX events_audit ON events (id)
    WHERE event_audit_kind(entity_type, action, to_state, data) IS NOT NULL;

CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- nested: OLD exists only for a row-level DELETE
    IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
        IF coalesce(current_setting('sluice.retention', true), '') = 'on'
           AND OLD.run_id IS NOT NULL
           AND event_audit_kind(OLD.entity_type, OLD.action, OLD.to_state,
                                OLD.data) IS NULL
           AND NOT EXISTS (SELECT 1 FROM runs WHERE id = OLD.run_id) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

-- A CSV cell (RFC 4180): always quoted, quotes doubled, and a value that a
-- spreadsheet would read as a formula (starting with = + - @, a tab or a
-- carriage return) prefixed with a single quote.
CREATE FUNCTION csv_cell(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT CASE WHEN v IS NULL THEN '' ELSE
    '"' || replace(CASE WHEN v ~ '^[-=+@\t\r]' THEN '''' || v ELSE v END,
                   '"', '""') || '"' END
$$;

-- GET /api/v1/lineage?commit=PREFIX: commits by SHA prefix, a byte-order
-- range (sha >= prefix AND sha < prefix || 'g').
CREATE INDEX commits_sha_prefix ON commits (sha COLLATE "C");

-- What retention reads to find the runs a kept run needs.
CREATE INDEX stages_reused_from ON stages (reused_from_stage_id)
    WHERE reused_from_stage_id IS NOT NULL;
CREATE INDEX rollouts_previous_model_version ON rollouts (previous_model_version_id)
    WHERE previous_model_version_id IS NOT NULL;

-- What retention has deleted, ever (one row), for /metrics.
CREATE TABLE retention_totals (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    runs            bigint NOT NULL DEFAULT 0 CHECK (runs >= 0),
    stages          bigint NOT NULL DEFAULT 0 CHECK (stages >= 0),
    attempts        bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    model_versions  bigint NOT NULL DEFAULT 0 CHECK (model_versions >= 0),
    events          bigint NOT NULL DEFAULT 0 CHECK (events >= 0),
    log_bytes       bigint NOT NULL DEFAULT 0 CHECK (log_bytes >= 0),
    last_sweep_at   timestamptz
);
INSERT INTO retention_totals DEFAULT VALUES;
