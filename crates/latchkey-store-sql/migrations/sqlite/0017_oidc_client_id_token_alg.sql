-- What a client's ID tokens are signed with (its
-- `id_token_signed_response_alg`): 'RS256', which every relying party
-- accepts, unless it asked for 'ES256'.
ALTER TABLE oidc_clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
