-- Accounts and sessions. Times are Unix seconds (UTC); ids are UUID text.
-- Numbered like the SQLite migrations; integers are BIGINT throughout.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,  -- folded to lower case before it gets here
    email         TEXT NOT NULL UNIQUE,  -- folded to lower case before it gets here
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
