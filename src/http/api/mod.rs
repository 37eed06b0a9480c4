//! The JSON API, mounted under `/api/v1`. Its
//! description is generated from the handlers themselves ([`routes`]): each
//! handler's `#[utoipa::path]` names its method, path, body and answers, and
//! the same list builds the router, so the two cannot drift.

pub mod account;
pub mod authenticators;
pub mod events;
pub mod health;
pub mod mfa;
mod openapi;
pub mod passkeys;
pub mod password;
pub mod security;
pub mod sessions;
pub mod tokens;
pub mod users;

use axum::extract::State;
use axum::Router;
use latchkey_core::{Session, User};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::AppState;

/// Every API route with its description: the one list the router and the
/// document are made from.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(users::post_users))
        .routes(routes!(users::get_me, account::delete_me))
        .routes(routes!(account::put_email))
        .routes(routes!(account::post_email_verification))
        .routes(routes!(account::get_export))
        .routes(routes!(password::put_password))
        .routes(routes!(password::post_password_resets))
        .routes(routes!(password::post_password_resets_confirm))
        .routes(routes!(sessions::post_sessions, sessions::get_sessions))
        .routes(routes!(sessions::delete_current_session))
        .routes(routes!(security::delete_other_sessions))
        .routes(routes!(sessions::post_sessions_mfa))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(mfa::post_totp, mfa::delete_totp))
        .routes(routes!(mfa::post_totp_confirm))
        .routes(routes!(mfa::post_recovery_codes, security::get_recovery_codes))
        .routes(routes!(authenticators::get_authenticators, authenticators::post_authenticators))
        .routes(routes!(authenticators::post_authenticators_confirm))
        .routes(routes!(authenticators::delete_authenticator))
        .routes(routes!(passkeys::post_passkey_options))
        .routes(routes!(passkeys::post_passkeys, passkeys::get_passkeys))
        .routes(routes!(passkeys::patch_passkey, passkeys::delete_passkey))
        .routes(routes!(passkeys::post_sign_in_options))
        .routes(routes!(passkeys::post_passkey_session))
        .routes(routes!(passkeys::post_second_step_options))
        .routes(routes!(tokens::post_tokens, tokens::get_tokens))
        .routes(routes!(tokens::delete_token))
        .routes(routes!(events::get_events))
        .routes(routes!(security::get_replay_alarm))
        .routes(routes!(security::post_replay_alarm_clear))
        .routes(routes!(security::get_trusted_devices))
        .routes(routes!(security::delete_trusted_device))
        .routes(routes!(get_openapi))
}

/// The API's routes; unknown paths and methods answer in the error shape too.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { ApiError::NotFound("Nothing here.".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// The served description, made once at start: the generated document with
/// the answers every operation shares, and the password rule in force.
pub fn document(password_min_length: usize) -> String {
    let (_, generated) = routes().split_for_parts();
    openapi::finish(generated, password_min_length)
}

/// This description (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn get_openapi(State(app): State<AppState>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], app.openapi.to_string())
}

/// RFC 3339 text of an instant, as every time in the API is written.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A user as every answer shows one: `{"id", "username", "email", "email_verified", "mfa_enabled", "created_at", "groups"}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    id: String,
    username: String,
    email: String,
    /// Whether the owner opened a link mailed to `email`.
    email_verified: bool,
    mfa_enabled: bool,
    #[schema(format = DateTime)]
    created_at: String,
    /// The groups the user is in, sorted.
    groups: Vec<String>,
}

impl From<&User> for UserJson {
    fn from(user: &User) -> Self {
        UserJson {
            id: user.id.to_string(),
            username: user.username.to_string(),
            email: user.email.to_string(),
            email_verified: user.email_verified,
            mfa_enabled: user.mfa_enabled,
            created_at: rfc3339(user.created_at),
            groups: user.groups.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `{"user": USER}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserAnswer {
    user: UserJson,
}

impl From<&User> for UserAnswer {
    fn from(user: &User) -> Self {
        UserAnswer { user: user.into() }
    }
}

/// One of the caller's sessions in `GET /sessions`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionJson {
    id: String,
    current: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl SessionJson {
    /// Describes `session`, marking whether it is the caller's own.
    pub fn new(session: &Session, current: &Session) -> Self {
        SessionJson {
            id: session.id.to_string(),
            current: session.id == current.id,
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            expires_at: rfc3339(session.expires_at),
            ip: session.client.ip.clone(),
            user_agent: session.client.user_agent.clone(),
        }
    }
}

/// How many sessions an "everywhere else" ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    sessions_ended: u64,
}
