-- 0007 on branch perf (the round's 0008, with 0006_auth_notify; renumber at
-- merge): each run keeps the marks of its stages, [{"name", "status"}] in
-- stage order, so that the runs list reads one row per run and never
-- aggregates stages per request.  Kept by a trigger in the transaction
-- that inserts a stage or changes its name, position or status; the run's
-- row is locked first, so two transactions changing stages of one run
-- each compute the marks after the other has committed.  json, not jsonb:
-- the text is what the API has always answered.

ALTER TABLE runs ADD COLUMN stage_marks json NOT NULL DEFAULT '[]';

CREATE FUNCTION run_stage_marks(run bigint) RETURNS json
    LANGUAGE sql STABLE
    AS $$
SELECT coalesce(json_agg(json_build_object('name', s.name, 'status', s.status)
                ORDER BY s.position), '[]')
FROM stages s WHERE s.run_id = run
$$;

CREATE FUNCTION stages_keep_run_marks() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM runs WHERE id = NEW.run_id FOR UPDATE;
    UPDATE runs SET stage_marks = run_stage_marks(NEW.run_id)
    WHERE id = NEW.run_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER stages_keep_run_marks_insert
    AFTER INSERT ON stages
    FOR EACH ROW EXECUTE FUNCTION stages_keep_run_marks();

CREATE TRIGGER stages_keep_run_marks_update
    AFTER UPDATE OF status, name, position ON stages
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.name <> NEW.name
          OR OLD.position <> NEW.position)
    EXECUTE FUNCTION stages_keep_run_marks();

UPDATE runs r SET stage_marks = run_stage_marks(r.id)
WHERE EXISTS (SELECT 1 FROM stages s WHERE s.run_id = r.id);
