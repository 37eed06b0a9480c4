//! Sessions over the API: sign in, sign out, list and revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::SignIn;
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
    let signed_in =
        app.services.accounts.sign_in(&body.login, &body.password, body.device_token.as_deref(), &client).await?;
    Ok(answer(signed_in))
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

/// Completes an MFA sign-in: 201, as a sign-in without MFA.
pub async fn post_sessions_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SecondStepBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (user, session) = app.services.mfa.complete_sign_in(&body.mfa_token, &body.code, &client).await?;
    let device_token = match body.trust_device {
        true => app.services.mfa.trust_device(user.id, &client).await?,
        false => None,
    };
    let (status, Json(mut answer)) = answer(SignIn::Done { user, session });
    if let Some(token) = device_token {
        answer["device_token"] = json!(token);
    }
    Ok((status, Json(answer)))
}

fn answer(signed_in: SignIn) -> (StatusCode, Json<Value>) {
    match signed_in {
        SignIn::Done { user, session } => {
            let body = json!({
                "token": session.token,
                "expires_at": rfc3339(session.session.expires_at),
                "user": UserJson::from(&user),
            });
            (StatusCode::CREATED, Json(body))
        }
        SignIn::NeedsCode { token, .. } => {
            let body = json!({"mfa_required": true, "mfa_token": token, "mfa_methods": ["totp", "recovery_code"]});
            (StatusCode::OK, Json(body))
        }
    }
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
    app.services.sessions.revoke(caller.user.id, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
