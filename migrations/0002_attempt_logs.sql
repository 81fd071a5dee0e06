-- 0002_attempt_logs.sql - the logs of attempts, kept by the controller.
--
-- The engine reads each running attempt's output through its executor
-- (the pod log on Kubernetes, the log file locally) and keeps it here, so
-- that it can be read after the Job is gone, after a restart and from
-- another replica.  One head row per attempt and node (the index of a
-- multi-node stage, 0 otherwise) says how far the engine has read; the
-- log itself is a sequence of chunks.  A chunk, its head's new position
-- and the metrics and artifacts parsed from it are written in one
-- transaction, and only whole lines are taken (a partial last line waits
-- for the next read), so a controller killed at any moment neither loses
-- nor repeats a line and parses each line once.
--
-- Chunks are bytea: PostgreSQL compresses a value larger than about 2 kB
-- by itself (TOAST, pglz), so the log is stored compressed without any
-- work here.

CREATE TABLE attempt_log_heads (
    attempt_id    bigint NOT NULL REFERENCES stage_attempts (id) ON DELETE CASCADE,
    node          integer NOT NULL DEFAULT 0 CHECK (node >= 0),
    -- what is being read: the pod's name on Kubernetes, '' locally; a new
    -- source (a pod replaced after an eviction) is read from its start
    source        text NOT NULL DEFAULT '' CHECK (length(source) <= 253),
    -- bytes of that source consumed (the executor's offset)
    source_offset bigint NOT NULL DEFAULT 0 CHECK (source_offset >= 0),
    -- bytes kept (stored in chunks), markers included
    bytes         bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    -- lines consumed: the next line's number, for ::metric source_line
    lines         bigint NOT NULL DEFAULT 0 CHECK (lines >= 0),
    -- bytes read past logs.max_bytes and not kept (the marker says so)
    dropped       bigint NOT NULL DEFAULT 0 CHECK (dropped >= 0),
    -- the read position is inside a line longer than one read (forced cut)
    mid_line      boolean NOT NULL DEFAULT false,
    -- the kept log ends inside a line (a marker then starts a new one)
    open_line     boolean NOT NULL DEFAULT false,
    -- the attempt ended and everything it wrote has been read
    complete      boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attempt_id, node)
);

-- pos is the chunk's first byte in the kept log: the chunks of a head
-- tile [0, bytes) in order.
CREATE TABLE attempt_log_chunks (
    attempt_id    bigint NOT NULL,
    node          integer NOT NULL,
    pos           bigint NOT NULL CHECK (pos >= 0),
    data          bytea NOT NULL CHECK (length(data) > 0),
    PRIMARY KEY (attempt_id, node, pos),
    FOREIGN KEY (attempt_id, node) REFERENCES attempt_log_heads (attempt_id, node)
        ON DELETE CASCADE
);

CREATE TRIGGER attempt_log_heads_updated_at BEFORE UPDATE ON attempt_log_heads
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
