-- Password reset links (`PUBLIC_URL/password/reset?token=T`): only the
-- SHA-256 of the 256-bit token is kept, with a fingerprint (SHA-256) of the
-- password hash it was issued under, so a link dies the moment the password
-- changes by any path. Taken (deleted) by the one reset that uses it.
CREATE TABLE password_resets (
    token_hash           TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_fingerprint TEXT NOT NULL,
    expires_at           INTEGER NOT NULL
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
