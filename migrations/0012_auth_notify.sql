-- 0006 on branch perf (the round's 0008; renumber at merge): tell every replica when a credential may have changed, so that
-- their caches of looked-up tokens and console sessions (http/auth_cache.c)
-- drop what they hold.  A statement that revokes, expires, re-roles or
-- deletes a token, or ends or shortens a session, sends NOTIFY sluice_auth
-- (delivered at its commit, to every listening connection).  Statement
-- triggers: one notification per statement, whatever the row count; the
-- lookups' own updates (last_used_at, last_seen_at) send none.

CREATE FUNCTION notify_auth_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('sluice_auth', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_notify_auth
    AFTER UPDATE OF revoked_at, expires_at, role, token_hash OR DELETE
    ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_auth_changed();

CREATE TRIGGER sessions_notify_auth
    AFTER UPDATE OF expires_at, token_id, csrf_hash, id_hash OR DELETE
    ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_auth_changed();
