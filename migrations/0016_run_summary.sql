-- Each run keeps its document in the runs list, runs.summary, so that a
-- page of the list is an index scan returning the stored texts: no
-- lookup of the pipeline's and repository's names or of the commit per
-- run, no timestamp formatted per request.  Kept by a BEFORE trigger on
-- runs in the statement that inserts or updates the run, so every write
-- path (the engine's transitions, cancel, retries, the stage marks kept by
-- 0013's trigger on stages) keeps it true in its own transaction; retention
-- deletes the row and the summary with it.  What it copies from other
-- tables never changes after the run is inserted: a pipeline's name and
-- its repository (pipelines are upserted on (repository_id, name)), a
-- repository's name (it has no rename), a commit (inserted once; its
-- upsert is a no-op), and runs.pipeline_id and commit_id themselves.
--
-- json, not jsonb: the text is what the API has always answered, byte for
-- byte (controller/query/store_query_runs.c RUN_FIELDS builds the same
-- fields for the run's detail, and the tests compare the two).

ALTER TABLE runs ADD COLUMN summary json;

CREATE FUNCTION run_summary(r runs) RETURNS json
    LANGUAGE sql STABLE
    AS $$
SELECT json_build_object('id', r.id,
    'pipeline', p.name,
    'repository', rp.name,
    'pipeline_version', r.pipeline_version_id,
    'status', r.status, 'message', r.message,
    'commit', (SELECT json_build_object('sha', c.sha, 'message', c.message,
        'author', c.author_name, 'author_email', c.author_email,
        'time', rfc3339(c.committed_at))
        FROM commits c WHERE c.id = r.commit_id),
    'branch', r.branch, 'trigger', r.trigger, 'params', r.params,
    'parent_run', r.parent_run_id, 'created_by', r.created_by,
    'reason', r.reason,
    'cancel_requested_at', rfc3339(r.cancel_requested_at),
    'cancel_requested_by', r.cancel_requested_by,
    'created_at', rfc3339(r.created_at),
    'started_at', rfc3339(r.started_at),
    'finished_at', rfc3339(r.finished_at),
    'stages', r.stage_marks)
FROM (SELECT) one
LEFT JOIN pipelines p ON p.id = r.pipeline_id
LEFT JOIN repositories rp ON rp.id = p.repository_id
$$;

CREATE FUNCTION runs_keep_summary() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.summary := run_summary(NEW);
    RETURN NEW;
END
$$;

-- The backfill writes no updated_at: nothing about the runs changed.
ALTER TABLE runs DISABLE TRIGGER runs_updated_at;
UPDATE runs r SET summary = run_summary(r);
ALTER TABLE runs ENABLE TRIGGER runs_updated_at;

ALTER TABLE runs ALTER COLUMN summary SET NOT NULL;

CREATE TRIGGER runs_keep_summary
    BEFORE INSERT OR UPDATE ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_keep_summary();

-- A push webhook looks up the repositories whose URL it names, by the
-- same key http/webhook.c webhook_url_key makes of a URL (host without
-- user or port, then the path; lower case; no trailing "/" or ".git"),
-- through an index rather than by reading every live repository.  The
-- webhook compares the keys again in C, and a test checks that the two
-- functions agree.
CREATE FUNCTION repo_url_key(url text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
DECLARE
    host text;
    path text;
    colon int := strpos(url, ':');
    k text;
BEGIN
    IF strpos(url, '://') > 0 THEN
        host := substr(url, strpos(url, '://') + 3);
        path := substr(host, strpos(host || '/', '/'));
        host := left(host, strpos(host || '/', '/') - 1);
    ELSIF colon > 0 AND strpos(left(url, colon - 1), '/') = 0 THEN
        -- scp-like: [user@]host:path
        host := left(url, colon - 1);
        path := substr(url, colon + 1);
    ELSE
        host := '';     -- a local path
        path := url;
    END IF;
    host := regexp_replace(host, '^.*@', '');
    IF left(host, 1) <> '[' AND strpos(host, ':') > 0 THEN
        host := left(host, strpos(host, ':') - 1);
    END IF;
    k := CASE WHEN host <> '' THEN host || '/' ELSE '' END || ltrim(path, '/');
    k := rtrim(translate(k, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                         'abcdefghijklmnopqrstuvwxyz'), '/');
    IF right(k, 4) = '.git' THEN
        k := left(k, -4);
    END IF;
    RETURN nullif(rtrim(k, '/'), '');
END
$$;

CREATE INDEX repositories_url_key ON repositories (repo_url_key(url))
    WHERE deleted_at IS NULL;
