-- Session store for crumb's SQLite backend.
-- The library runs this at open (every statement is idempotent).
-- id is the SHA-256 of the session ID: a leaked database does not
-- reveal live session IDs.
CREATE TABLE IF NOT EXISTS crumb_sessions (
    id        BLOB PRIMARY KEY,      -- SHA-256(session ID), 32 bytes
    state     TEXT NOT NULL,         -- JSON object: server-side state
    version   INTEGER NOT NULL,      -- bumped by every update (compare-and-swap)
    user      TEXT,                  -- optional user identifier
    created   INTEGER NOT NULL,      -- unix seconds
    last_seen INTEGER NOT NULL,      -- unix seconds of the last write or touch
    expires   INTEGER NOT NULL,      -- unix seconds; expired rows are never returned
    label     TEXT                   -- short text shown in a user's listing, or NULL
) WITHOUT ROWID;
-- A table made before the label column gets it at open (ALTER TABLE in
-- the library: not idempotent, so not here).
CREATE INDEX IF NOT EXISTS crumb_sessions_user
    ON crumb_sessions(user) WHERE user IS NOT NULL;
CREATE INDEX IF NOT EXISTS crumb_sessions_expires
    ON crumb_sessions(expires);
