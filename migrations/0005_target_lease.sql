-- One rollout per target, and the actions approvers take on a rollout.
--
-- target_leases: the canary stage that holds a target.  The row is taken
-- in the same statement as the stage's move from pending to submitted
-- (and its rollout's creation); the primary key makes a second holder
-- impossible.  It goes in the same transaction as its rollout's end
-- (succeeded, rolled_back or failed) or its stage's end, by the triggers
-- below, whatever statement ends them: a target is never held by a
-- finished rollout, stage or run.  Each release NOTIFYs sluice_runs, so
-- the engine wakes at once for a stage queued behind it.
CREATE TABLE target_leases (
    target      text PRIMARY KEY CHECK (target <> ''),
    run_id      bigint NOT NULL,
    stage_id    bigint NOT NULL UNIQUE,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (stage_id, run_id) REFERENCES stages (id, run_id) ON DELETE CASCADE
);
CREATE INDEX target_leases_run ON target_leases (run_id);

-- Release the lease of the stage whose rollout (rollouts.stage_id) or
-- which itself (stages.id) has just ended.
CREATE FUNCTION target_leases_release() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'rollouts' THEN
        DELETE FROM target_leases WHERE stage_id = NEW.stage_id;
    ELSE
        DELETE FROM target_leases WHERE stage_id = NEW.id;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('sluice_runs', NEW.run_id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER rollouts_release_lease
    AFTER UPDATE OF status ON rollouts
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'rolled_back', 'failed')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION target_leases_release();
CREATE TRIGGER stages_release_lease
    AFTER UPDATE OF status ON stages
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'canceled', 'skipped')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION target_leases_release();

-- What an approver asked of a rollout (POST /api/v1/runs/{id}/rollout/...):
--   action:     promote_full (to 100 % and promoted, remaining approvals
--               bypassed) or abort (rolled back now); also abort when a
--               run with on_conflict: supersede takes the target.  The
--               engine carries it out; action_reason says who and why
--               ("aborted by alice: latency", "superseded by run 12").
--   paused_at:  the rollout holds where it is (no analysis verdict, no
--               approval expiry, no next step) until resumed; paused_by
--               is who paused it.
--   paused_ms:  time paused during the current step's analysis window,
--               which ends that much later.
ALTER TABLE rollouts
    ADD COLUMN action        text CHECK (action IN ('promote_full', 'abort')),
    ADD COLUMN action_by     text CHECK (action_by <> ''),
    ADD COLUMN action_at     timestamptz,
    ADD COLUMN action_reason text,
    ADD COLUMN paused_at     timestamptz,
    ADD COLUMN paused_by     text CHECK (paused_by <> ''),
    ADD COLUMN paused_ms     bigint NOT NULL DEFAULT 0 CHECK (paused_ms >= 0),
    ADD CONSTRAINT rollouts_action_complete
        CHECK ((action IS NULL) = (action_by IS NULL)
               AND (action IS NULL) = (action_at IS NULL)
               AND (action IS NULL) = (action_reason IS NULL)),
    ADD CONSTRAINT rollouts_paused_complete
        CHECK ((paused_at IS NULL) = (paused_by IS NULL)),
    ADD CONSTRAINT rollouts_final_not_paused
        CHECK (finished_at IS NULL OR paused_at IS NULL);
