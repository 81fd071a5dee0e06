-- The engine's admission reads only the runs it can start (docs/engine.md,
-- "The loop"): the queue of each pipeline, oldest first, found by a skip
-- scan over the pipelines that have one, and the count of each such
-- pipeline's started runs.  Neither reads the whole backlog.
CREATE INDEX runs_queued ON runs (pipeline_id, id) WHERE status = 'queued';
CREATE INDEX runs_started ON runs (pipeline_id, id)
    WHERE status IN ('running', 'waiting_approval');
