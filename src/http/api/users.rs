//! `POST /users` (sign up) and `GET /me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::UserAnswer;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiReader, Client};
use crate::http::AppState;

/// The sign-up body, with the rules the server checks. No `Debug`: it
/// holds a password.
#[derive(Deserialize, ToSchema)]
pub struct SignUpBody {
    /// 3 to 32 of `a-z 0-9 . _ -` (upper case is folded to lower).
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9._-]+$")]
    username: String,
    /// One plain mailbox (no name, quotes, comments or brackets); unique
    /// regardless of case.
    #[schema(max_length = 254, pattern = r#"^[^@\s"<>(),;:\\\[\]]+@[^@\s"<>(),;:\\\[\]]+$"#)]
    email: String,
    /// Not a common password and not containing the username.
    #[schema(min_length = 12, max_length = 128)]
    password: String,
}

/// Creates an account: 201 `{"user": USER}`.
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = SignUpBody, responses(
    (status = 201, description = "Created", body = UserAnswer),
    (status = 409, description = "The username or email is taken"),
    (status = 422, description = "A field is out of its rules; `fields` says which"),
))]
pub async fn post_users(
    State(app): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<(StatusCode, Json<UserAnswer>), ApiError> {
    let user = app.services.accounts.sign_up(&body.username, &body.email, &body.password, &client.0).await?;
    Ok((StatusCode::CREATED, Json(UserAnswer::from(&user))))
}

/// The caller: 200 `{"user": USER}`. A session token or an app token with
/// the `api` scope.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, description = "The caller", body = UserAnswer),
    (status = 401, description = "No valid token"),
))]
pub async fn get_me(caller: ApiReader) -> Json<UserAnswer> {
    Json(UserAnswer::from(&caller.user))
}
