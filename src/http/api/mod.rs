//! The JSON API of contract section 3, mounted under `/api/v1`.

pub mod authenticators;
pub mod events;
pub mod health;
pub mod mfa;
pub mod security;
pub mod sessions;
pub mod users;

use axum::routing::{delete, get, post};
use axum::Router;
use latchkey_core::{Session, User};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;
use super::AppState;

/// The API's routes; unknown paths and methods answer in the error shape too.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(users::post_users))
        .route("/me", get(users::get_me))
        .route("/sessions", post(sessions::post_sessions).get(sessions::get_sessions))
        .route("/sessions/current", delete(sessions::delete_current_session))
        .route("/sessions/others", delete(security::delete_other_sessions))
        .route("/sessions/mfa", post(sessions::post_sessions_mfa))
        .route("/sessions/{id}", delete(sessions::delete_session))
        .route("/me/mfa/totp", post(mfa::post_totp).delete(mfa::delete_totp))
        .route("/me/mfa/totp/confirm", post(mfa::post_totp_confirm))
        .route("/me/mfa/recovery-codes", post(mfa::post_recovery_codes).get(security::get_recovery_codes))
        .route(
            "/me/mfa/authenticators",
            get(authenticators::get_authenticators).post(authenticators::post_authenticators),
        )
        .route("/me/mfa/authenticators/confirm", post(authenticators::post_authenticators_confirm))
        .route("/me/mfa/authenticators/{id}", delete(authenticators::delete_authenticator))
        .route("/me/events", get(events::get_events))
        .route("/me/replay-alarm", get(security::get_replay_alarm))
        .route("/me/replay-alarm/clear", post(security::post_replay_alarm_clear))
        .route("/me/trusted-devices", get(security::get_trusted_devices))
        .route("/me/trusted-devices/{id}", delete(security::delete_trusted_device))
        .route("/openapi.json", get(get_openapi))
        .fallback(|| async { ApiError::NotFound("Nothing here.".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// The API's description, written by hand next to the routes it describes
/// (a test checks that every route is in it).
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`.
async fn get_openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// RFC 3339 text of an instant, as every time in the API is written.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `USER` of the contract.
#[derive(Debug, Serialize)]
pub struct UserJson {
    id: String,
    username: String,
    email: String,
    mfa_enabled: bool,
    created_at: String,
}

impl From<&User> for UserJson {
    fn from(user: &User) -> Self {
        UserJson {
            id: user.id.to_string(),
            username: user.username.to_string(),
            email: user.email.to_string(),
            mfa_enabled: user.mfa_enabled,
            created_at: rfc3339(user.created_at),
        }
    }
}

/// One of the caller's sessions in `GET /sessions`.
#[derive(Debug, Serialize)]
pub struct SessionJson {
    id: String,
    current: bool,
    created_at: String,
    last_seen_at: String,
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
