//! Sessions over the API: sign in, sign out, list and revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::{SessionId, SignIn, SignInFrom, SignedIn};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{rfc3339, SessionJson, UserJson};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// The sign-in body. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct SignInBody {
    login: String,
    password: String,
    /// A trusted-device token from an earlier second step: skips the code.
    #[serde(default)]
    device_token: Option<String>,
}

/// Signs in: 201 `{"token", "expires_at", "user"}`; for an account with MFA
/// on, 200 `{"mfa_required": true, "mfa_token", "mfa_methods"}`.
pub async fn post_sessions(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let from = SignInFrom { client: &client, device_token: body.device_token.as_deref(), replaces: None };
    Ok(match app.services.accounts.sign_in(&body.login, &body.password, &from).await? {
        SignIn::Done(signed_in) => (StatusCode::CREATED, signed_in_json(*signed_in)),
        SignIn::NeedsCode { token, .. } => {
            let body = json!({"mfa_required": true, "mfa_token": token, "mfa_methods": ["totp", "recovery_code"]});
            (StatusCode::OK, Json(body))
        }
    })
}

/// The second step body. No `Debug`: it holds a code.
#[derive(Deserialize)]
pub struct SecondStepBody {
    mfa_token: String,
    code: String,
    /// Trust this client: the answer carries a `device_token` that skips the code next time.
    #[serde(default)]
    trust_device: bool,
}

/// Completes an MFA sign-in: 201, as a sign-in without MFA (with
/// `device_token` when `trust_device` was asked for and saved).
pub async fn post_sessions_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SecondStepBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mfa = &app.services.mfa;
    let signed_in =
        mfa.complete_sign_in(&body.mfa_token, &body.code, body.trust_device, &SignInFrom::client(&client)).await?;
    Ok((StatusCode::CREATED, signed_in_json(signed_in)))
}

fn signed_in_json(signed_in: SignedIn) -> Json<Value> {
    let mut body = json!({
        "token": signed_in.session.token,
        "expires_at": rfc3339(signed_in.session.session.expires_at),
        "user": UserJson::from(&signed_in.user),
    });
    if let Some(device) = signed_in.device {
        body["device_token"] = json!(device.token);
    }
    Json(body)
}

/// Signs out: the token is dead at once. 204.
pub async fn delete_current_session(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<StatusCode, ApiError> {
    app.services.sessions.end(&caller.session, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first.
pub async fn get_sessions(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let sessions = app.services.sessions.list(caller.user.id).await?;
    let sessions: Vec<_> = sessions.iter().map(|s| SessionJson::new(s, &caller.session)).collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// Revokes one of the caller's sessions: 204, or 404 for an id that is not theirs.
pub async fn delete_session(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.sessions.revoke(caller.user.id, &SessionId::from(id), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
