//! The password over the API: `PUT /me/password` (contract section 6).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// A password change. No `Debug`: it holds passwords.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(min_length = 1, max_length = 128)]
    current_password: String,
    /// Follows the password rules (see `POST /users`).
    #[schema(min_length = 1, max_length = 128)]
    new_password: String,
}

/// Changes the caller's password: the current one is required, the new one
/// follows the rules; every other session of the user ends (the caller's
/// stays) and the owner is mailed a notice. 204.
#[utoipa::path(put, path = "/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session ended"),
        (status = 401, description = "A wrong current password (`invalid_credentials`), or no valid token"),
        (status = 422, description = "The new password breaks a rule (`fields.new_password`)"),
    )
)]
pub async fn put_password(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let accounts = &app.services.accounts;
    let (user, session) = (&caller.user, &caller.session.id);
    accounts.change_password(user, session, &body.current_password, &body.new_password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
