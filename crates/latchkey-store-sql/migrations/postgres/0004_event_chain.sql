-- The security event log becomes a hash chain: each event stores the hash of
-- the one before it and its own hash over a canonical encoding (see
-- latchkey_core::events::chain_hash). Appends are serialised with an advisory
-- lock, so several processes never fork the chain.
DELETE FROM security_events;
ALTER TABLE security_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE security_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
