-- Traffic that follows a production change made by hand (a promotion or a
-- rollback through the API) on a target whose pipeline's canary stage has
-- canary.traffic provider kserve or gateway.
--
-- The API writes the row in the transaction of the change, after its
-- production_history row (one row per such history row); the engine of
-- the active controller reads it, moves the traffic through the same
-- code as a rollout (engine/traffic.c: read, compare, patch only what
-- differs) and records the outcome here.  A crash between the change and
-- the patch leaves the row pending (the next engine patches); a crash
-- between the patch and the outcome leaves it pending too, and the next
-- engine's read finds nothing to change.  Rows are kept: the history
-- shows each change's traffic.
--   provider, pipeline_version_id, stage, object: whose canary.traffic
--            moves: the canary stage naming the target in the newest
--            valid definition of a live pipeline, the pipeline of the
--            target's last rollout first; object is its InferenceService
--            (kserve) or HTTPRoute (gateway)
--   uri:     the model version now in production (kserve's storageUri)
--   state:   pending (to do, or the object does not serve it yet), done,
--            failed (cannot be done as things stand, message says why;
--            tried again at next_at), superseded (a later production
--            change or a rollout of the target came first)
--   message: what it waits for, what failed, or what superseded it
--   tries:   patches and reads tried, for the console
--   next_at: when the engine looks again (pending, failed)
CREATE TABLE production_traffic (
    history_id          bigint PRIMARY KEY REFERENCES production_history (id),
    target              text NOT NULL CHECK (target <> ''),
    provider            text NOT NULL CHECK (provider IN ('kserve', 'gateway')),
    pipeline_version_id bigint NOT NULL REFERENCES pipeline_versions (id),
    stage               text NOT NULL CHECK (stage <> ''),
    object              text NOT NULL CHECK (object <> ''),
    uri                 text NOT NULL CHECK (uri <> ''),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'done', 'failed', 'superseded')),
    message             text,
    tries               integer NOT NULL DEFAULT 0 CHECK (tries >= 0),
    next_at             timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    CONSTRAINT production_traffic_finished_when_done
        CHECK ((state IN ('done', 'superseded')) = (finished_at IS NOT NULL))
);
-- The engine's look at every pass: the open rows only.
CREATE INDEX production_traffic_open ON production_traffic (next_at)
    WHERE state IN ('pending', 'failed');
