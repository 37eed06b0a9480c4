//! Token introspection (RFC 7662): a client asks whether a token it holds
//! is live, and for whom. Only confidential clients may ask (section 2.1
//! wants the caller authenticated, and a public client's id is no proof),
//! and each learns about its own tokens only (section 4: every client here
//! is an application, and none is entitled to read another's grants; an API
//! behind an application registers as that application's client).

use serde_json::{json, Map, Value};

use super::tokens::{refuse, ClientAuth, TokenError};
use super::Oidc;
use crate::error::CoreError;
use crate::token::token_hash;

impl Oidc {
    /// What `POST /oauth2/introspect` answers about `token`: `active` with
    /// its scope, client, subject and expiry, or only `{"active": false}`
    /// for a token that is unknown, dead, another client's, or whose
    /// account is locked.
    pub async fn introspect(
        &self,
        auth: ClientAuth<'_>,
        token: &str,
    ) -> Result<Result<Map<String, Value>, TokenError>, CoreError> {
        let client = match self.authenticate_client(auth).await? {
            Ok(client) if !client.is_public() => client,
            Ok(_) => return Ok(Err(refuse("invalid_client", "Introspection needs a confidential client."))),
            Err(refused) => return Ok(Err(refused)),
        };
        let (hash, now) = (token_hash(token), self.clock.now());
        let mut answer = Map::new();
        if let Some((access, user)) = self.store.find_access_token(&hash, now).await? {
            if !user.locked && access.client_id == client.id {
                answer.insert("token_type".into(), json!("Bearer"));
                if access.scopes.iter().any(|s| s == "profile") {
                    answer.insert("username".into(), json!(user.username.as_str()));
                }
                answer.extend(self.active_claims(&access.client_id, user.id, &access.scopes, access.expires_at));
            }
        } else if let Some(refresh) = self.store.find_refresh_token(&hash, &client.id, now).await? {
            let user = self.users.find_user(refresh.user_id).await?;
            if user.is_some_and(|u| !u.locked) {
                answer.extend(self.active_claims(
                    &refresh.client_id,
                    refresh.user_id,
                    &refresh.scopes,
                    refresh.expires_at,
                ));
            }
        }
        answer.entry("active").or_insert(json!(false));
        Ok(Ok(answer))
    }

    /// The claims of a live token (section 2.2).
    fn active_claims(
        &self,
        client_id: &str,
        user: crate::UserId,
        scopes: &[String],
        expires_at: time::OffsetDateTime,
    ) -> Map<String, Value> {
        [
            ("active", json!(true)),
            ("scope", json!(scopes.join(" "))),
            ("client_id", json!(client_id)),
            ("sub", json!(user.to_string())),
            ("aud", json!(client_id)),
            ("iss", json!(self.issuer)),
            ("exp", json!(expires_at.unix_timestamp())),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}
