//! Sessions over the API: sign in, sign out, list and revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
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
}

/// Signs in: 201 `{"token", "expires_at", "user"}`.
pub async fn post_sessions(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let signed_in = app.services.accounts.sign_in(&body.login, &body.password, &client).await?;
    let answer = json!({
        "token": signed_in.session.token,
        "expires_at": rfc3339(signed_in.session.session.expires_at),
        "user": UserJson::from(&signed_in.user),
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Signs out: the token is dead at once. 204.
pub async fn delete_current_session(State(app): State<AppState>, caller: ApiUser) -> Result<StatusCode, ApiError> {
    app.services.sessions.revoke(caller.user.id, &caller.session.id).await?;
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
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.sessions.revoke(caller.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
