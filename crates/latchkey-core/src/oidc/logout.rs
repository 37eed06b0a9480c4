//! RP-Initiated Logout 1.0 (contract section 9): a client sends the browser
//! to `/oauth2/logout` to end the Latchkey session, naming itself by an
//! `id_token_hint` (an ID token issued here, expired or not) or its
//! `client_id`, and where to come back after (`post_logout_redirect_uri`,
//! registered exactly). A URI it did not register is never redirected to.

use serde::Deserialize;
use serde_json::Value;

use super::clients::ClientRecord;
use super::Oidc;
use crate::error::CoreError;
use crate::sessions::Session;

/// The query of a logout request, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutQuery {
    /// An ID token this provider issued to the client (its `aud`).
    pub id_token_hint: Option<String>,
    /// The client, when no hint names it.
    pub client_id: Option<String>,
    /// Where to send the browser afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed back on that redirect.
    pub state: Option<String>,
}

/// A checked logout request.
#[derive(Debug, Clone)]
pub struct Logout {
    /// The client asking, when named.
    pub client: Option<ClientRecord>,
    /// The `sub` and `auth_time` of the hint, when one was sent.
    hint: Option<(String, i64)>,
    /// Where to go afterwards (registered by the client), with `state`.
    pub redirect: Option<String>,
}

impl Logout {
    /// Whether the hint is an ID token of `session`'s sign-in (its user and
    /// its `auth_time`): then a client that holds one asks, and the session
    /// ends without a question. A token of an earlier sign-in does not
    /// belong to this session (RP-Initiated Logout 1.0, section 2): one
    /// leaked long ago must not sign anyone out from a link.
    pub fn is_hint_for(&self, session: &Session) -> bool {
        self.hint.as_ref().is_some_and(|(sub, auth_time)| {
            *sub == session.user_id.to_string() && *auth_time == session.created_at.unix_timestamp()
        })
    }
}

impl Oidc {
    /// Checks a logout request; `Err` is the message of a 400 page.
    pub async fn check_logout(&self, query: &LogoutQuery) -> Result<Result<Logout, &'static str>, CoreError> {
        let sent = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (hint, client_id, uri) =
            (sent(&query.id_token_hint), sent(&query.client_id), sent(&query.post_logout_redirect_uri));
        let mut about = None;
        let mut named = client_id.clone();
        if let Some(hint) = hint {
            let Some(claims) = self.verified_claims(&hint).await? else {
                return Ok(Err("The id_token_hint is not an ID token this service issued."));
            };
            let audience = claims.get("aud").and_then(Value::as_str).map(str::to_string);
            if client_id.is_some() && audience != client_id {
                return Ok(Err("The client_id is not the one the id_token_hint was issued to."));
            }
            let sub = claims.get("sub").and_then(Value::as_str).map(str::to_string);
            about = sub.zip(claims.get("auth_time").and_then(Value::as_i64));
            named = audience;
        }
        let client = match named {
            Some(id) => match self.client(&id).await? {
                Some(client) => Some(client),
                None if uri.is_some() => return Ok(Err("There is no such application (client_id).")),
                None => None,
            },
            None => None,
        };
        let redirect = match (uri, &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Ok(Err("A post_logout_redirect_uri needs the application: send id_token_hint or client_id."))
            }
            (Some(uri), Some(client))
                if client.redirect_uris.contains(&uri) || client.post_logout_uris.contains(&uri) =>
            {
                Some(with_state(&uri, query.state.as_deref()))
            }
            (Some(_), Some(_)) => {
                return Ok(Err("The post_logout_redirect_uri is not one this application registered."))
            }
        };
        Ok(Ok(Logout { client, hint: about, redirect }))
    }
}

/// `uri` with `state` added to its query (section 3).
fn with_state(uri: &str, state: Option<&str>) -> String {
    match (url::Url::parse(uri), state) {
        (Ok(mut url), Some(state)) => {
            url.query_pairs_mut().append_pair("state", state);
            url.into()
        }
        _ => uri.to_string(),
    }
}
