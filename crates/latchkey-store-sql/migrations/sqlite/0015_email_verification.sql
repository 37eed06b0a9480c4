-- Email verification (contract section 6). `email_verified_at` is when the
-- account's present address was proven (NULL: never; accounts made before
-- this migration start unverified). A link proves one address: the account's
-- own, or the one it is to change to (which replaces the old only when its
-- link is opened). Only the SHA-256 of the 256-bit token is kept; a link is
-- taken (deleted) by the one visit that uses it.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,  -- folded to lower case before it gets here
    purpose    TEXT NOT NULL,  -- 'verify' (the account's address) or 'change' (its next one)
    expires_at INTEGER NOT NULL
);
CREATE INDEX email_verifications_by_user ON email_verifications (user_id);
