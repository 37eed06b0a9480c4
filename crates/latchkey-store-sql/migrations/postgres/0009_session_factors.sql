-- What each session's sign-in passed (comma-separated words: password, totp,
-- recovery_code, trusted_browser) and when it last proved the account (its
-- sign-in or a re-authentication, for the 5-minute rule on factor changes).
-- Sessions from before are taken as password-only, proven when they began.
ALTER TABLE sessions ADD COLUMN factors TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN proven_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET proven_at = created_at;
