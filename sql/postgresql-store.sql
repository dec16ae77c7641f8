-- Session store for crumb's PostgreSQL backend.
-- The library runs this at open when the table is missing (every
-- statement is idempotent), under an advisory lock so that workers
-- starting together do not race.  To create it by hand instead (a web
-- user that may not create tables), run it as the owner:
--     psql -d DB -f postgresql-store.sql
-- and grant the web user SELECT, INSERT, UPDATE, DELETE on the table.
-- Another schema: create the table there (SET search_path = myschema
-- first) and connect with options=-csearch_path=myschema.
-- The names are unqualified: the table lands in the first schema of
-- search_path, where the library looks for it too.
-- id is the SHA-256 of the session ID: a leaked database does not
-- reveal live session IDs.
-- "user" is a reserved word in PostgreSQL: always quote it (unquoted,
-- user means current_user).
CREATE TABLE IF NOT EXISTS crumb_sessions (
    id        bytea PRIMARY KEY,     -- SHA-256(session ID), 32 bytes
    state     text NOT NULL,         -- JSON object text, kept byte for byte
    version   bigint NOT NULL,       -- bumped by every update (compare-and-swap)
    "user"    text,                  -- optional user identifier
    created   bigint NOT NULL,       -- unix seconds
    last_seen bigint NOT NULL,       -- unix seconds of the last write or touch
    expires   bigint NOT NULL,       -- unix seconds; expired rows are never returned
    label     text                   -- short text shown in a user's listing, or NULL
);
CREATE INDEX IF NOT EXISTS crumb_sessions_user
    ON crumb_sessions ("user") WHERE "user" IS NOT NULL;
CREATE INDEX IF NOT EXISTS crumb_sessions_expires
    ON crumb_sessions (expires);
