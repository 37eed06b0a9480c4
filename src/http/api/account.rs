//! The account itself over the API (contract section 6): its address
//! (`PUT /me/email`, `POST /me/email/verification`), deleting it
//! (`DELETE /me`), and everything it holds (`GET /me/export`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::{CoreError, Session, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authenticators::AuthenticatorJson;
use super::events::EventJson;
use super::passkeys::PasskeyJson;
use super::security::TrustedDevice;
use super::tokens::TokenInfo;
use super::{SessionJson, UserJson};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// An address change. No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
pub struct EmailChange {
    /// The new address.
    #[schema(min_length = 1, max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 128)]
    current_password: String,
    /// A current TOTP or recovery code; required while MFA is on.
    code: Option<String>,
}

/// The address waiting for its link to be opened.
#[derive(Serialize, ToSchema)]
pub struct PendingEmail {
    pending_email: String,
}

/// Asks to change the caller's address: the current password, and a
/// current code while MFA is on. A link goes to the new address, which
/// replaces the old (and is verified) when it is opened; the old address is
/// told. 202.
#[utoipa::path(put, path = "/me/email", tag = "accounts", security(("bearer" = [])),
    request_body = EmailChange,
    responses(
        (status = 202, description = "A link was mailed to the new address", body = PendingEmail),
        (status = 401, description = "A wrong password (`invalid_credentials`) or code (`invalid_code`), or no valid token"),
        (status = 409, description = "The address is taken, or this service sends no mail"),
        (status = 422, description = "Not an email address, the same one, or `code` missing while MFA is on"),
    )
)]
pub async fn put_email(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<EmailChange>,
) -> Result<(StatusCode, Json<PendingEmail>), ApiError> {
    let accounts = &app.services.accounts;
    let code = body.code.as_deref();
    let new = accounts.change_email(&caller.user, &body.email, &body.current_password, code, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(PendingEmail { pending_email: new.to_string() })))
}

/// Mails a new verification link to the caller's address (the newest link
/// is the one that works). 202.
#[utoipa::path(post, path = "/me/email/verification", tag = "accounts", security(("bearer" = [])), responses(
    (status = 202, description = "A link was mailed"),
    (status = 401, description = "No valid token"),
    (status = 409, description = "The address is verified already, or this service sends no mail"),
    (status = 429, description = "Too many links for this account lately"),
))]
pub async fn post_email_verification(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<StatusCode, ApiError> {
    app.services.accounts.send_verification_link(&caller.user, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Deleting the account. No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
pub struct Deletion {
    #[schema(min_length = 1, max_length = 128)]
    password: String,
    /// A current TOTP or recovery code; required while MFA is on.
    code: Option<String>,
}

/// Deletes the caller's account: sessions, factors, tokens and personal
/// data go, the security log keeps its chain (the events stay under the
/// user's id only); the username and address are free again. 204.
#[utoipa::path(delete, path = "/me", tag = "accounts", security(("bearer" = [])),
    request_body = Deletion,
    responses(
        (status = 204, description = "Deleted; every token of the account is dead"),
        (status = 401, description = "A wrong password (`invalid_credentials`) or code (`invalid_code`), or no valid token"),
        (status = 422, description = "`code` missing while MFA is on"),
    )
)]
pub async fn delete_me(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<Deletion>,
) -> Result<StatusCode, ApiError> {
    app.services.accounts.delete_account(&caller.user, &body.password, body.code.as_deref(), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An application the account signs in to (OpenID Connect).
#[derive(Serialize, ToSchema)]
pub struct ConnectedAppJson {
    client_id: String,
    name: String,
    /// What it was granted.
    scopes: Vec<String>,
    #[schema(format = DateTime)]
    granted_at: String,
}

/// Everything the service holds about an account, never a secret or a hash.
#[derive(Serialize, ToSchema)]
pub struct AccountData {
    /// When this copy was made.
    #[schema(format = DateTime)]
    exported_at: String,
    user: UserJson,
    /// The address a change waits to be verified for.
    pending_email: Option<String>,
    sessions: Vec<SessionJson>,
    /// TOTP authenticators: names and dates.
    authenticators: Vec<AuthenticatorJson>,
    /// Unspent recovery codes (how many; never the codes).
    recovery_codes_left: usize,
    passkeys: Vec<PasskeyJson>,
    trusted_devices: Vec<TrustedDevice>,
    app_tokens: Vec<TokenInfo>,
    /// Applications signed in to through this service (OpenID Connect).
    connected_apps: Vec<ConnectedAppJson>,
    /// The security events, newest first (at most the newest 10,000).
    events: Vec<EventJson>,
}

/// Gathers `user`'s data, as seen from `session`, and records that it was
/// downloaded (the owner is told).
pub async fn account_data(
    app: &AppState,
    user: &User,
    session: &Session,
    client: &latchkey_core::ClientInfo,
) -> Result<AccountData, CoreError> {
    let services = &app.services;
    let data = AccountData {
        exported_at: super::rfc3339(time::OffsetDateTime::now_utc()),
        user: user.into(),
        pending_email: services.accounts.pending_email_change(user).await?.map(|e| e.to_string()),
        sessions: services.sessions.list(user.id).await?.iter().map(|s| SessionJson::new(s, session)).collect(),
        authenticators: services.mfa.authenticators(user.id).await?.into_iter().map(AuthenticatorJson::from).collect(),
        recovery_codes_left: services.mfa.recovery_codes_left(user.id).await?,
        passkeys: services.passkeys.list(user.id).await?.iter().map(PasskeyJson::from).collect(),
        trusted_devices: services.mfa.trusted_devices(user.id).await?.into_iter().map(TrustedDevice::from).collect(),
        app_tokens: services.app_tokens.list(user).await?.iter().map(TokenInfo::from).collect(),
        connected_apps: services
            .oidc
            .connected_apps(user)
            .await?
            .into_iter()
            .map(|a| ConnectedAppJson {
                client_id: a.client_id,
                name: a.name,
                scopes: a.scopes,
                granted_at: super::rfc3339(a.granted_at),
            })
            .collect(),
        events: services.events.list_for_export(user.id).await?.into_iter().map(EventJson::from).collect(),
    };
    services.events.record(user.id, latchkey_core::EventKind::DataExported, client).await?;
    Ok(data)
}

/// Everything the service holds about the caller, as JSON: profile, groups,
/// sessions, authenticators and passkeys (names and dates), trusted
/// browsers, app tokens, connected apps and security events. Never a
/// secret, a hash or a token.
#[utoipa::path(get, path = "/me/export", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's data", body = AccountData),
    (status = 401, description = "No valid token"),
))]
pub async fn get_export(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<Json<AccountData>, ApiError> {
    Ok(Json(account_data(&app, &caller.user, &caller.session, &client).await?))
}
