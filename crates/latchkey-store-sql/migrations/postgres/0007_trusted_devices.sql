-- Browsers a user chose to trust: signing in there skips the code until the
-- record expires or is revoked. The cookie holds a random token; only its
-- hash is kept here.
CREATE TABLE trusted_devices (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX trusted_devices_by_user ON trusted_devices (user_id);
