-- The observed clock offset of each authenticator, in steps (RFC 6238 section 6).
ALTER TABLE totp_factors ADD COLUMN drift_steps BIGINT NOT NULL DEFAULT 0;
