-- Traffic moved by the controller (canary.traffic provider kserve):
-- the storageUri the InferenceService served before the rollout's first
-- change, read and kept here before that change, so a rollback restores
-- it even after a crash.  NULL until read; written once.
ALTER TABLE rollouts ADD COLUMN traffic_stable_uri text
    CHECK (traffic_stable_uri <> '' AND length(traffic_stable_uri) <= 2048);
