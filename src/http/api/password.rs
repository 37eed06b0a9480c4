//! The password over the API (contract section 6): `PUT /me/password`, and
//! the reset by email, `POST /password-resets` and `/password-resets/confirm`.

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

/// Asks for a reset link.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    #[schema(min_length = 1)]
    email: String,
}

/// Mails a reset link (`PUBLIC_URL/password/reset?token=T`, 30 minutes,
/// single use) when the address belongs to an account. The answer is the
/// same 202, in the same time, whether or not it does.
#[utoipa::path(post, path = "/password-resets", tag = "accounts", request_body = ResetRequest, responses(
    (status = 202, description = "Asked; a link is mailed if the address belongs to an account"),
    (status = 409, description = "This service sends no mail: contact support"),
    (status = 422, description = "Not an email address"),
))]
pub async fn post_password_resets(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    app.services.accounts.request_password_reset(&body.email, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Uses a reset link. No `Debug`: it holds a token and a password.
#[derive(Deserialize, ToSchema)]
pub struct ResetConfirm {
    /// The `token` of the mailed link.
    #[schema(min_length = 1)]
    token: String,
    /// The new password, under the rules.
    #[schema(min_length = 1, max_length = 128)]
    password: String,
}

/// Sets the new password with a reset link's token; every session and
/// trusted browser of the user ends, and nobody is signed in (the next
/// sign-in still asks for the second factor). 204.
#[utoipa::path(post, path = "/password-resets/confirm", tag = "accounts", request_body = ResetConfirm, responses(
    (status = 204, description = "The password is reset; sign in with it"),
    (status = 400, description = "`invalid_token`: the link is unknown, used, expired or older than the password"),
    (status = 422, description = "The new password breaks a rule (`fields.password`)"),
))]
pub async fn post_password_resets_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> Result<StatusCode, ApiError> {
    app.services.accounts.reset_password(&body.token, &body.password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
