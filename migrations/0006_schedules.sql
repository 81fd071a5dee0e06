-- Schedule triggers, and the state of every pipeline file at each branch
-- head (so an invalid file shows even when it never had a readable name).

-- A run fired by a schedule carries its slot (the instant the cron
-- expression named); one pipeline fires a slot once, whichever controller
-- (after a restart, a failover, or two replicas) gets there.
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('push', 'webhook', 'api', 'retry', 'schedule'));
ALTER TABLE runs ADD COLUMN schedule_slot timestamptz;
ALTER TABLE runs ADD CONSTRAINT runs_schedule_slot_once
    UNIQUE (pipeline_id, schedule_slot);
ALTER TABLE runs ADD CONSTRAINT runs_schedule_has_slot
    CHECK ((trigger = 'schedule') = (schedule_slot IS NOT NULL));

-- What the active controller knows of a pipeline's schedule:
--   fingerprint: md5 of the schedule as last seen; a changed schedule
--                starts counting again
--   since:       slots at or before it are never fired (catch_up: last
--                fires at most the newest missed slot after it)
--   next_at:     the next fire time, for the API and the console
CREATE TABLE pipeline_schedules (
    pipeline_id     bigint PRIMARY KEY REFERENCES pipelines (id),
    fingerprint     text NOT NULL,
    since           timestamptz NOT NULL,
    next_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER pipeline_schedules_updated_at BEFORE UPDATE ON pipeline_schedules
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Each pipeline file at the processed head of each branch: valid or not,
-- with the errors of its version.  Written by the poller in the same
-- transaction as the versions; a file gone from the head loses its row.
CREATE TABLE pipeline_files (
    repository_id   bigint NOT NULL REFERENCES repositories (id),
    branch          text NOT NULL,
    file_path       text NOT NULL,
    commit_id       bigint NOT NULL REFERENCES commits (id),
    version_id      bigint NOT NULL REFERENCES pipeline_versions (id),
    valid           boolean NOT NULL,
    errors          jsonb NOT NULL DEFAULT '[]',
    changed_at      timestamptz NOT NULL DEFAULT now(),  -- validity last changed
    PRIMARY KEY (repository_id, branch, file_path)
);
CREATE INDEX pipeline_files_invalid ON pipeline_files (repository_id, file_path)
    WHERE NOT valid;
