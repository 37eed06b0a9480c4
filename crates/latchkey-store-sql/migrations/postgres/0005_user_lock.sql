-- Operator lock: a locked account's right password gets 403 account_locked.
ALTER TABLE users ADD COLUMN locked_at BIGINT;
