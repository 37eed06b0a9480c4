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
    private_sealed BYTEA NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT
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
    first_party      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
