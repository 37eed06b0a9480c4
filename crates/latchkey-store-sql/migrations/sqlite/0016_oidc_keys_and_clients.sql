-- OpenID Connect (contract section 9), the parts the flows stand on.
--
-- Signing keys: the private key (PKCS#8 PEM) sealed under the server key
-- with "oidc-signing-key:KID" as associated data (re-encrypted by
-- `latchkey key rotate`), the public half as the JWK that /oauth2/jwks
-- publishes. One key per algorithm signs (`retired_at` NULL); a retired
-- key stays published until the tokens it signed have expired.
CREATE TABLE oidc_signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,  -- 'RS256' or 'ES256'
    private_sealed BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);
CREATE UNIQUE INDEX oidc_signing_keys_one_active ON oidc_signing_keys (alg) WHERE retired_at IS NULL;

-- Relying parties added with `latchkey client add` (those of the config
-- file live in memory). The secret is kept as its SHA-256 (a 256-bit random
-- value, so a fast hash is enough); NULL for a public client, which proves
-- itself with PKCE. Lists are JSON arrays of strings.
CREATE TABLE oidc_clients (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    secret_hash      TEXT,
    redirect_uris    TEXT NOT NULL,
    post_logout_uris TEXT NOT NULL,
    groups           TEXT NOT NULL,
    first_party      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);

-- What a user let a client have (consent), per client: the scopes granted.
CREATE TABLE oidc_consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,  -- space-separated, sorted
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Authorization codes (60 s, single use) and the access tokens issued for
-- them, kept only as SHA-256 hashes. A code stays after its use (`used`),
-- so that a second use is seen and revokes what the first one issued
-- (RFC 6749 section 4.1.2): the access tokens carry the code's hash as
-- their `grant`.
CREATE TABLE oidc_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,           -- S256 of the verifier, base64url
    auth_time      INTEGER NOT NULL,
    amr            TEXT NOT NULL,  -- RFC 8176 words, space-separated
    expires_at     INTEGER NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oidc_codes_by_expiry ON oidc_codes (expires_at);

CREATE TABLE oidc_access_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_hash TEXT NOT NULL,      -- the code it was issued for
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_access_tokens_by_grant ON oidc_access_tokens (grant_hash);

-- Refresh tokens (scope offline_access), kept as SHA-256 hashes. Each use
-- spends one (`used`) and issues the next of the same `family` (the code's
-- hash); a spent one used again revokes the whole family and its access
-- tokens (a stolen refresh token is worth one race, then nothing).
CREATE TABLE oidc_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    amr        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oidc_refresh_tokens_by_family ON oidc_refresh_tokens (family);
CREATE INDEX oidc_refresh_tokens_by_user ON oidc_refresh_tokens (user_id, client_id);
