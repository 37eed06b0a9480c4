-- Several named authenticators per user. `totp_factors` keeps one row per
-- user with MFA on: when it was turned on and the last step accepted from any
-- of the user's authenticators (the contract accepts a step once per user).
-- Each authenticator keeps its own sealed secret, learned clock offset and
-- last step and its address (which tell a replay of its own code, and from
-- where it was first used).
CREATE TABLE authenticators (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_step INTEGER NOT NULL,
    drift_steps    INTEGER NOT NULL DEFAULT 0,
    last_used_ip   TEXT
);
CREATE INDEX authenticators_by_user ON authenticators (user_id);
INSERT INTO authenticators (id, user_id, name, secret_sealed, created_at, last_used_step, drift_steps)
    SELECT lower(hex(randomblob(16))), user_id, 'Authenticator', secret_sealed, confirmed_at, last_used_step, drift_steps
    FROM totp_factors;
ALTER TABLE totp_factors DROP COLUMN secret_sealed;
ALTER TABLE totp_factors DROP COLUMN drift_steps;
-- A pending enrolment belongs to the session that started it: another session
-- of the account (perhaps a stolen one) can neither see its secret nor
-- confirm it, nor slip its own secret under the owner's QR code.
ALTER TABLE totp_enrolments ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
