-- Password reset links (`PUBLIC_URL/password/reset?token=T`): only the
-- SHA-256 of the 256-bit token is kept, with a fingerprint (SHA-256) of the
-- password hash it was issued under, so a link dies the moment the password
-- changes by any path. Taken (deleted) by the one reset that uses it.
CREATE TABLE password_resets (
    token_hash           TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_fingerprint TEXT NOT NULL,
    expires_at           BIGINT NOT NULL
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);

-- A pending sign-in keeps the fingerprint of the password hash its password
-- step checked: the code step's session is written only while it is still
-- the user's (a sign-in racing a password change or reset cannot outlive it).
ALTER TABLE pending_sign_ins ADD COLUMN password_fingerprint TEXT NOT NULL DEFAULT '';
