//! `POST /users` (sign up) and `GET /me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::UserJson;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser};
use crate::http::AppState;

/// The sign-up body. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct SignUpBody {
    username: String,
    email: String,
    password: String,
}

/// Creates an account: 201 `{"user": USER}`.
pub async fn post_users(
    State(app): State<AppState>,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = app.services.accounts.sign_up(&body.username, &body.email, &body.password).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": UserJson::from(&user) }))))
}

/// The caller: 200 `{"user": USER}`.
pub async fn get_me(caller: ApiUser) -> Json<Value> {
    Json(json!({ "user": UserJson::from(&caller.user) }))
}
