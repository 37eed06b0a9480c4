-- Guesses in flight on an account's password key (issue 14: a crowd of
-- right passwords only waits its turn): how many, and when the last one
-- began. A guess holds one of the free attempts left while it is in
-- flight and is counted as a failure only when it fails; guesses older
-- than 30 s (a process that died with them) no longer count.
ALTER TABLE throttles ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE throttles ADD COLUMN in_flight_at INTEGER NOT NULL DEFAULT 0;
