-- Kueue per attempt (Kubernetes stages with a `queue`).
--   queue:       the LocalQueue the attempt's Job was queued in
--   flavor:      the ResourceFlavor(s) Kueue admitted it on ("h100"; several
--                joined by ",")
--   admitted_at: when Kueue last admitted it (a re-admission after an
--                eviction moves it)
--   evictions:   how many times Kueue evicted (preempted) it.  An evicted
--                attempt goes back from running to submitted and waits to
--                be admitted again: it is neither failed nor retried.
-- Written by the engine from what the executor reports; NULL / 0 for local
-- attempts and stages without a queue.
ALTER TABLE stage_attempts
    ADD COLUMN queue       text CHECK (queue <> '' AND length(queue) <= 253),
    ADD COLUMN flavor      text CHECK (flavor <> '' AND length(flavor) <= 253),
    ADD COLUMN admitted_at timestamptz,
    ADD COLUMN evictions   integer NOT NULL DEFAULT 0 CHECK (evictions >= 0);
