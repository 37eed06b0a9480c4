-- Passkeys and security keys (WebAuthn credentials). A user with one has MFA
-- on: adding the first one writes the user's `totp_factors` row (the marker
-- of MFA being on, whatever the factors), as confirming a first TOTP
-- authenticator does. `credential` is webauthn-rs's own record (JSON: the
-- public key, the counter, the flags); `sign_count` repeats its counter so
-- that a use can only move it forward (a conditional update).
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT NOT NULL UNIQUE,  -- base64url, as the browser names it
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    sign_count      INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backed_up       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- WebAuthn ceremonies in progress: the challenge's state, kept in the store
-- so that any process can finish what another began; taken (deleted) by the
-- one that finishes it, so a challenge answers once. `key` is the SHA-256 of
-- the challenge id (or of the pending sign-in's token, for a second factor);
-- `bound_to` is what must finish it (the session that began a registration).
CREATE TABLE webauthn_ceremonies (
    key        TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT,
    bound_to   TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_at);
