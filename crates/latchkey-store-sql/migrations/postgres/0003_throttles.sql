-- Consecutive failures per throttle key (an account or a client address),
-- and the instant before which the key takes no attempt.
CREATE TABLE throttles (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
