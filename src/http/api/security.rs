//! What the security page and the dashboard offer, over the API: the
//! replayed-code alarm and its answer, signing out everywhere else, trusted
//! browsers, and the recovery codes left.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::store::TrustedDeviceRecord;
use latchkey_core::TrustedDeviceId;
use serde::Serialize;
use utoipa::ToSchema;

use super::{rfc3339, SessionsEnded};
use crate::http::error::ApiError;
use crate::http::extract::{ApiUser, Client};
use crate::http::AppState;

/// `{"raised": bool}`.
#[derive(Serialize, ToSchema)]
pub struct ReplayAlarm {
    /// A code already used was entered again since the alarm was last answered.
    raised: bool,
}

/// Whether a code already used was entered again (perhaps real-time
/// phishing) since the alarm was last answered.
#[utoipa::path(get, path = "/me/replay-alarm", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "The alarm's state", body = ReplayAlarm),
    (status = 401, description = "No valid token"),
))]
pub async fn get_replay_alarm(State(app): State<AppState>, caller: ApiUser) -> Result<Json<ReplayAlarm>, ApiError> {
    let raised = app.services.events.replay_alarm(caller.user.id).await?;
    Ok(Json(ReplayAlarm { raised }))
}

/// The alarm's answer, as the dashboard's button: every other session ends,
/// every trusted client is forgotten, the alarm is cleared.
#[utoipa::path(post, path = "/me/replay-alarm/clear", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "Answered", body = SessionsEnded),
    (status = 401, description = "No valid token"),
))]
pub async fn post_replay_alarm_clear(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = app.services.sessions.clear_replay_alarm(caller.user.id, &caller.session.id, &client).await?;
    Ok(Json(SessionsEnded { sessions_ended: ended }))
}

/// "Sign out everywhere else": every other session ends and every trusted
/// client is forgotten.
#[utoipa::path(delete, path = "/sessions/others", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, description = "Done", body = SessionsEnded),
    (status = 401, description = "No valid token"),
))]
pub async fn delete_other_sessions(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = app.services.sessions.revoke_others(caller.user.id, &caller.session.id, &client).await?;
    Ok(Json(SessionsEnded { sessions_ended: ended }))
}

/// A client trusted to skip the code (its token is never shown again).
#[derive(Serialize, ToSchema)]
pub struct TrustedDevice {
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// `{"trusted_devices": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct TrustedDevices {
    trusted_devices: Vec<TrustedDevice>,
}

/// The clients trusted to skip the code, newest first.
#[utoipa::path(get, path = "/me/trusted-devices", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "Trusted clients", body = TrustedDevices),
    (status = 401, description = "No valid token"),
))]
pub async fn get_trusted_devices(
    State(app): State<AppState>,
    caller: ApiUser,
) -> Result<Json<TrustedDevices>, ApiError> {
    let devices = app.services.mfa.trusted_devices(caller.user.id).await?;
    Ok(Json(TrustedDevices { trusted_devices: devices.into_iter().map(TrustedDevice::from).collect() }))
}

impl From<TrustedDeviceRecord> for TrustedDevice {
    fn from(d: TrustedDeviceRecord) -> Self {
        TrustedDevice {
            id: d.id.to_string(),
            created_at: rfc3339(d.created_at),
            expires_at: rfc3339(d.expires_at),
            ip: d.client.ip,
            user_agent: d.client.user_agent,
        }
    }
}

/// Forgets a trusted client: its next sign-in asks for a code.
#[utoipa::path(delete, path = "/me/trusted-devices/{id}", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path, description = "An id from `GET /me/trusted-devices`")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 401, description = "No valid token"),
        (status = 404, description = "No such trusted client of the caller's"),
    )
)]
pub async fn delete_trusted_device(
    State(app): State<AppState>,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.mfa.forget_device(caller.user.id, &TrustedDeviceId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"left": n}`.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesLeft {
    /// Unspent recovery codes (new ones are due at two or fewer).
    left: usize,
}

/// How many unspent recovery codes the caller has.
#[utoipa::path(get, path = "/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "The count", body = RecoveryCodesLeft),
    (status = 401, description = "No valid token"),
))]
pub async fn get_recovery_codes(
    State(app): State<AppState>,
    caller: ApiUser,
) -> Result<Json<RecoveryCodesLeft>, ApiError> {
    let left = app.services.mfa.recovery_codes_left(caller.user.id).await?;
    Ok(Json(RecoveryCodesLeft { left }))
}
