//! What the security page and the dashboard offer, over the API: the
//! replayed-code alarm and its answer, signing out everywhere else, trusted
//! browsers, and the recovery codes left.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::TrustedDeviceId;
use serde_json::{json, Value};

use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::{ApiUser, Client};
use crate::http::AppState;

/// `GET /me/replay-alarm`: 200 `{"raised": bool}`: whether a code already
/// used was entered again (perhaps real-time phishing) since the alarm was
/// last answered.
pub async fn get_replay_alarm(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let raised = app.services.events.replay_alarm(caller.user.id).await?;
    Ok(Json(json!({ "raised": raised })))
}

/// `POST /me/replay-alarm/clear`: the alarm's answer, as the dashboard's
/// button: every other session ends, every trusted browser is forgotten,
/// the alarm is cleared. 200 `{"sessions_ended": n}`.
pub async fn post_replay_alarm_clear(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<Json<Value>, ApiError> {
    let ended = app.services.sessions.clear_replay_alarm(caller.user.id, &caller.session.id, &client).await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

/// `DELETE /sessions/others`: "sign out everywhere else": every other
/// session ends and every trusted browser is forgotten. 200 `{"sessions_ended": n}`.
pub async fn delete_other_sessions(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<Json<Value>, ApiError> {
    let ended = app.services.sessions.revoke_others(caller.user.id, &caller.session.id, &client).await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

/// `GET /me/trusted-devices`: 200 `{"trusted_devices": [{id, created_at,
/// expires_at, ip, user_agent}]}`, newest first.
pub async fn get_trusted_devices(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let devices = app.services.mfa.trusted_devices(caller.user.id).await?;
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "id": d.id.as_str(),
                "created_at": rfc3339(d.created_at),
                "expires_at": rfc3339(d.expires_at),
                "ip": d.client.ip,
                "user_agent": d.client.user_agent,
            })
        })
        .collect();
    Ok(Json(json!({ "trusted_devices": devices })))
}

/// `DELETE /me/trusted-devices/{id}`: 204; the next sign-in there asks for a code.
pub async fn delete_trusted_device(
    State(app): State<AppState>,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.mfa.forget_device(caller.user.id, &TrustedDeviceId::from(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me/mfa/recovery-codes`: 200 `{"left": n}`, the unspent recovery codes.
pub async fn get_recovery_codes(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let left = app.services.mfa.recovery_codes_left(caller.user.id).await?;
    Ok(Json(json!({ "left": left })))
}
