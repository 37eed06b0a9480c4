//! The token endpoint's rules and what tokens say (contract section 9, RFC
//! 6749 section 4.1.3, RFC 7636, OpenID Connect Core section 3.1.3): a code
//! is exchanged once, by the client it was issued to, with the redirect URI
//! and PKCE verifier of its request; a second use revokes what the first
//! issued. ID tokens are JWS compact serialisations signed RS256 (see
//! [`super::jws`]); access tokens are opaque, kept as hashes, alive 10 minutes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::Duration;

use super::clients::ClientRecord;
use super::Oidc;
use crate::domain::User;
use crate::error::CoreError;
use crate::events::{EventKind, Notice};
use crate::sessions::ClientInfo;
use crate::store::{AccessTokenRecord, CodeUse, Issued, RefreshTokenRecord, RefreshUse};
use crate::token::{random_token, token_hash};

/// How long access and ID tokens work.
pub const TOKEN_LASTS: Duration = Duration::minutes(10);

/// How long a refresh token works unused (each use gives a new one).
pub const REFRESH_LASTS: Duration = Duration::days(30);

/// What tokens are issued for: a code's grant, or the refresh token that
/// carries it on.
struct Grant<'a> {
    /// The family (the code's hash): a reuse anywhere in it revokes it all.
    family: &'a str,
    scopes: &'a [String],
    auth_time: time::OffsetDateTime,
    amr: &'a [String],
    /// The authorize request's nonce (the code's ID token only).
    nonce: Option<&'a str>,
}

/// How a client proved itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth<'a> {
    /// `client_secret_basic` or `client_secret_post`.
    Secret {
        /// The `client_id`.
        id: &'a str,
        /// The secret offered.
        secret: &'a str,
    },
    /// A public client: its id alone (PKCE proves the rest).
    None {
        /// The `client_id`.
        id: &'a str,
    },
}

/// An RFC 6749 token error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// `invalid_client`, `invalid_grant`, `invalid_request`, …
    pub error: &'static str,
    /// For the developer reading it.
    pub description: &'static str,
}

/// A token error with its description.
pub fn refuse(error: &'static str, description: &'static str) -> TokenError {
    TokenError { error, description }
}

/// Tokens made for an exchange, with the records that the spending of the
/// code or refresh token writes.
struct Minted {
    tokens: Tokens,
    access: AccessTokenRecord,
    refresh: Option<RefreshTokenRecord>,
}

impl Minted {
    fn issued(&self) -> Issued<'_> {
        Issued { access: &self.access, refresh: self.refresh.as_ref() }
    }
}

/// A successful token answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The opaque access token (for userinfo).
    pub access_token: String,
    /// The signed ID token.
    pub id_token: String,
    /// Seconds the access token works.
    pub expires_in: i64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// With `offline_access`: the next refresh token.
    pub refresh_token: Option<String>,
}

/// The claims the granted `scopes` give about `user` (besides `sub`).
pub fn scope_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id.to_string()));
    if scopes.iter().any(|s| s == "profile") {
        claims.insert("preferred_username".into(), json!(user.username.as_str()));
        claims.insert("name".into(), json!(user.username.as_str()));
    }
    if scopes.iter().any(|s| s == "email") {
        claims.insert("email".into(), json!(user.email.as_str()));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.iter().any(|s| s == "groups") {
        claims.insert("groups".into(), json!(user.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>()));
    }
    claims
}

/// Whether `verifier` (43 to 128 unreserved characters, RFC 7636 4.1) is
/// the one whose S256 is `challenge` (4.6).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

impl Oidc {
    /// The client a token request authenticates as, or `invalid_client`.
    pub(super) async fn authenticate_client(
        &self,
        auth: ClientAuth<'_>,
    ) -> Result<Result<ClientRecord, TokenError>, CoreError> {
        let bad = refuse("invalid_client", "The client is unknown or its secret is wrong.");
        let (id, secret) = match auth {
            ClientAuth::Secret { id, secret } => (id, Some(secret)),
            ClientAuth::None { id } => (id, None),
        };
        let Some(client) = self.client(id).await? else { return Ok(Err(bad)) };
        let proven = match secret {
            Some(secret) => client.secret_matches(secret),
            None => client.is_public(),
        };
        Ok(if proven { Ok(client) } else { Err(bad) })
    }

    /// Exchanges a code (`grant_type=authorization_code`) for a client
    /// calling from `from`: an `oidc_tokens_issued` event, or for a code used
    /// twice, `oidc_code_reused` (what its first use issued is revoked). The
    /// code is checked (redirect URI, PKCE, account) before it is spent, and
    /// spent in the transaction that writes the tokens.
    pub async fn exchange_code(
        &self,
        auth: ClientAuth<'_>,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
        from: &ClientInfo,
    ) -> Result<Result<Tokens, TokenError>, CoreError> {
        let client = match self.authenticate_client(auth).await? {
            Ok(client) => client,
            Err(refused) => return Ok(Err(refused)),
        };
        let dead = refuse("invalid_grant", "The code is unknown, expired, used, or not this client's.");
        let hash = token_hash(code);
        let now = self.clock.now();
        let Some(record) = self.store.find_code(&hash, &client.id, now).await? else {
            // Unknown, expired, or spent: a spent one is a second use.
            let used = self.store.spend_code(&hash, &client.id, now, None).await?;
            self.reused(&client, used.second_use(), EventKind::OidcCodeReused, from).await?;
            return Ok(Err(dead));
        };
        if record.redirect_uri != redirect_uri {
            return Ok(Err(refuse("invalid_grant", "The redirect_uri is not the one of the authorize request.")));
        }
        match (&record.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
            (Some(_), _) => return Ok(Err(refuse("invalid_grant", "The code_verifier does not match."))),
            (None, Some(_)) => return Ok(Err(refuse("invalid_grant", "No code_challenge was sent for this code."))),
            (None, None) => {}
        }
        let Some(user) = self.users.find_user(record.user_id).await?.filter(|u| !u.locked) else {
            return Ok(Err(dead));
        };
        let grant = Grant {
            family: &record.code_hash,
            scopes: &record.scopes,
            auth_time: record.auth_time,
            amr: &record.amr,
            nonce: record.nonce.as_deref(),
        };
        let minted = self.mint(&client, &user, &grant).await?;
        match self.store.spend_code(&hash, &client.id, now, Some(minted.issued())).await? {
            CodeUse::Taken(_) => {}
            other => {
                // Another exchange spent it first: this one is the second use.
                self.reused(&client, other.second_use(), EventKind::OidcCodeReused, from).await?;
                return Ok(Err(dead));
            }
        }
        self.events.record(user.id, EventKind::OidcTokensIssued, &Oidc::about(&client.name, &client.id, from)).await?;
        Ok(Ok(minted.tokens))
    }

    /// Records a second use of a code or refresh token (`second_use`: its
    /// owner and how many tokens it ended), with a notice to the owner, when
    /// it ended something: a spent one stays recognisable for as long as it
    /// would have lived, and replaying it again must not flood the owner's
    /// mailbox or the log.
    async fn reused(
        &self,
        client: &ClientRecord,
        second_use: Option<(crate::UserId, u64)>,
        kind: EventKind,
        from: &ClientInfo,
    ) -> Result<(), CoreError> {
        if let Some((user, revoked)) = second_use.filter(|(_, revoked)| *revoked > 0) {
            tracing::warn!(
                client_id = client.id,
                revoked,
                event = kind.as_str(),
                "a spent code or token was used again"
            );
            let notice = Notice::AppTokenReused { app: client.app_name() };
            let about = Oidc::about(&client.name, &client.id, from);
            self.events.record_noticed(user, kind, notice, &about).await?;
        }
        Ok(())
    }

    /// Spends a refresh token (`grant_type=refresh_token`) for the next
    /// tokens of its grant, or, for one spent before, revokes its family
    /// (an `oidc_refresh_reused` event).
    pub async fn refresh(
        &self,
        auth: ClientAuth<'_>,
        refresh_token: &str,
        from: &ClientInfo,
    ) -> Result<Result<Tokens, TokenError>, CoreError> {
        let client = match self.authenticate_client(auth).await? {
            Ok(client) => client,
            Err(refused) => return Ok(Err(refused)),
        };
        let dead =
            refuse("invalid_grant", "The refresh token is unknown, expired, used, revoked, or not this client's.");
        let hash = token_hash(refresh_token);
        let now = self.clock.now();
        let Some(record) = self.store.find_refresh_token(&hash, &client.id, now).await? else {
            let used = self.store.spend_refresh_token(&hash, &client.id, now, None).await?;
            self.reused(&client, used.second_use(), EventKind::OidcRefreshReused, from).await?;
            return Ok(Err(dead));
        };
        let Some(user) = self.users.find_user(record.user_id).await?.filter(|u| !u.locked) else {
            return Ok(Err(dead));
        };
        let grant = Grant {
            family: &record.family,
            scopes: &record.scopes,
            auth_time: record.auth_time,
            amr: &record.amr,
            nonce: None,
        };
        let minted = self.mint(&client, &user, &grant).await?;
        match self.store.spend_refresh_token(&hash, &client.id, now, Some(minted.issued())).await? {
            RefreshUse::Taken(_) => Ok(Ok(minted.tokens)),
            other => {
                self.reused(&client, other.second_use(), EventKind::OidcRefreshReused, from).await?;
                Ok(Err(dead))
            }
        }
    }

    /// The tokens of `grant` for `client` and `user`, not written yet.
    async fn mint(&self, client: &ClientRecord, user: &User, grant: &Grant<'_>) -> Result<Minted, CoreError> {
        let now = self.clock.now();
        let access_token = random_token();
        let access = AccessTokenRecord {
            token_hash: token_hash(&access_token),
            grant_hash: grant.family.to_string(),
            client_id: client.id.clone(),
            user_id: user.id,
            scopes: grant.scopes.to_vec(),
            expires_at: now + TOKEN_LASTS,
        };
        let refresh = grant.scopes.iter().any(|s| s == "offline_access").then(|| {
            let token = random_token();
            let record = RefreshTokenRecord {
                token_hash: token_hash(&token),
                family: grant.family.to_string(),
                client_id: client.id.clone(),
                user_id: user.id,
                scopes: grant.scopes.to_vec(),
                auth_time: grant.auth_time,
                amr: grant.amr.to_vec(),
                expires_at: now + REFRESH_LASTS,
            };
            (token, record)
        });
        let mut claims = scope_claims(user, grant.scopes);
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(client.id));
        claims.insert("iat".into(), json!(now.unix_timestamp()));
        claims.insert("exp".into(), json!((now + TOKEN_LASTS).unix_timestamp()));
        claims.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
        claims.insert("amr".into(), json!(grant.amr));
        let acr = if grant.amr.iter().any(|w| w == "mfa") { "mfa" } else { "pwd" };
        claims.insert("acr".into(), json!(acr));
        if let Some(nonce) = grant.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let id_token = self.sign(client.id_token_alg, &Value::Object(claims)).await?;
        let (refresh_token, refresh) = match refresh {
            Some((token, record)) => (Some(token), Some(record)),
            None => (None, None),
        };
        let tokens = Tokens {
            access_token,
            id_token,
            expires_in: TOKEN_LASTS.whole_seconds(),
            scope: grant.scopes.join(" "),
            refresh_token,
        };
        Ok(Minted { tokens, access, refresh })
    }

    /// What `GET /oauth2/userinfo` answers for an access token: the claims
    /// of the scopes it was granted; `None` for a token that is unknown,
    /// expired, or whose account is locked.
    pub async fn userinfo(&self, access_token: &str) -> Result<Option<Map<String, Value>>, CoreError> {
        let found = self.store.find_access_token(&token_hash(access_token), self.clock.now()).await?;
        Ok(found.filter(|(_, user)| !user.locked).map(|(token, user)| scope_claims(&user, &token.scopes)))
    }
}
