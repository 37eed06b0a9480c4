//! App tokens over the API: make one (shown once), list, revoke. Each needs
//! a session: an app token cannot make or revoke tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::access::app_tokens::NewAppToken;
use latchkey_core::store::AppTokenRecord;
use latchkey_core::{AppTokenId, Offered};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// What is kept about a token (never the token).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AppToken)]
pub struct TokenInfo {
    id: String,
    name: String,
    /// `api` and/or `proxy`.
    scopes: Vec<String>,
    /// Hosts it passes forward authentication for; empty: any.
    domains: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// `null`: never expires.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// To the minute; `null`: never used.
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

impl From<&AppTokenRecord> for TokenInfo {
    fn from(t: &AppTokenRecord) -> Self {
        TokenInfo {
            id: t.id.to_string(),
            name: t.name.clone(),
            scopes: t.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            domains: t.domains.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// A token asked for, and a fresh proof of the account when the session's
/// is over 5 minutes old. No `Debug`: it may hold a password.
#[derive(Deserialize, ToSchema)]
pub struct NewTokenBody {
    /// Up to 40 characters; "App token" when left out.
    #[serde(default)]
    #[schema(max_length = 40)]
    name: String,
    /// 1 to 3650; left out: the token never expires.
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
    /// `api` and/or `proxy`; left out: both.
    scopes: Option<Vec<String>>,
    /// Hosts (exact, or `*.` and a domain) it passes forward authentication
    /// for; left out or empty: any.
    #[serde(default)]
    domains: Vec<String>,
    /// The account's current password (a fresh proof of the account).
    current_password: Option<String>,
    /// A current TOTP or recovery code (a fresh proof, while MFA is on).
    code: Option<String>,
}

/// `{"token": "lk_…", "token_info": {...}}`: the token is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    token: String,
    token_info: TokenInfo,
}

/// `{"tokens": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct Tokens {
    tokens: Vec<TokenInfo>,
}

/// Makes an app token. Needs a session (not an app token), a recent proof
/// of the account, and, with MFA on, a sign-in that passed a second factor.
#[utoipa::path(post, path = "/me/tokens", tag = "tokens", security(("bearer" = [])), request_body = NewTokenBody,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 401, description = "A wrong current password or code, or no valid token"),
        (status = 403, description = "`reauthentication_required`: the session's proof is over 5 minutes old (send `current_password`), or it passed no second factor while MFA is on; `session_required`: an app token was sent"),
        (status = 409, description = "The account has as many tokens as it may"),
        (status = 422, description = "A field is out of its rules; `fields` says which"),
    )
)]
pub async fn post_tokens(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let offered = Offered { password: body.current_password.as_deref(), code: body.code.as_deref() };
    let proof = app.services.accounts.prove(&caller.session, &caller.user, offered, &client).await?;
    let asked = NewAppToken {
        name: &body.name,
        expires_in_days: body.expires_in_days,
        scopes: body.scopes.as_deref(),
        domains: &body.domains,
    };
    let created = app.services.app_tokens.create(&caller.user, &caller.session, &proof, &asked, &client).await?;
    let answer = CreatedToken { token: created.token, token_info: TokenInfo::from(&created.info) };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The caller's app tokens, newest first.
#[utoipa::path(get, path = "/me/tokens", tag = "tokens", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens (never the tokens themselves)", body = Tokens),
        (status = 401, description = "No valid token"),
        (status = 403, description = "`session_required`: an app token was sent"),
    )
)]
pub async fn get_tokens(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Tokens>, ApiError> {
    let tokens = app.services.app_tokens.list(&caller.user).await?;
    Ok(Json(Tokens { tokens: tokens.iter().map(TokenInfo::from).collect() }))
}

/// Revokes one of the caller's app tokens; it stops working at once.
#[utoipa::path(delete, path = "/me/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's id (from the list)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "`session_required`: an app token was sent"),
        (status = 404, description = "The caller has no such token"),
    )
)]
pub async fn delete_token(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.app_tokens.revoke(&caller.user, &AppTokenId::from(id), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
