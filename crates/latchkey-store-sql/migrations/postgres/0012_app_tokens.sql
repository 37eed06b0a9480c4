-- App tokens (`lk_…`): for scripts, mobile apps and anything else that is
-- not a browser, to call the API or pass forward authentication. Only the
-- SHA-256 of a token is kept. `scopes` and `domains` are comma-joined words
-- and host patterns (neither holds a comma); `two_factor` says whether the
-- session that made it had passed a second factor.
CREATE TABLE app_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    domains      TEXT NOT NULL,
    two_factor   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT
);

CREATE INDEX app_tokens_by_user ON app_tokens (user_id, created_at);
