-- Guestbook entries: the sample program's own database, kept apart from
-- the session store (sessions.db).  Run at every open; idempotent.
CREATE TABLE IF NOT EXISTS entries (
    id      INTEGER PRIMARY KEY,
    author  TEXT NOT NULL,      -- the signed-in name, as typed (UTF-8)
    message TEXT NOT NULL,      -- as typed; escaped only when rendered
    created INTEGER NOT NULL    -- unix seconds
);
-- The front page lists newest first.
CREATE INDEX IF NOT EXISTS entries_created ON entries(created, id);
