//! MFA over the API: enrol, confirm, turn off, regenerate recovery codes.
//! Further authenticators are in [`super::authenticators`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;
use latchkey_core::Enrolment;

/// A body holding a current code. No `Debug`: it holds a code.
#[derive(Deserialize)]
pub struct CodeBody {
    pub(super) code: String,
}

/// The enrolment confirmation: the code, and a name for the authenticator
/// (optional; "Authenticator" when left out).
#[derive(Deserialize)]
pub struct ConfirmBody {
    code: String,
    #[serde(default)]
    name: String,
}

/// What an app needs to add a pending secret.
pub(super) fn enrolment_json(enrolment: &Enrolment) -> Result<Value, ApiError> {
    Ok(json!({
        "secret": enrolment.secret_base32(),
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_svg": enrolment.qr_svg()?,
    }))
}

/// Starts a pending enrolment (a new call replaces it): 201 `{secret, otpauth_uri, qr_svg}`;
/// 409 while MFA is on.
pub async fn post_totp(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let enrolment = app.services.mfa.enrolment(&caller.user, &caller.session.id, true, &client).await?;
    Ok((StatusCode::CREATED, Json(enrolment_json(&enrolment)?)))
}

/// Confirms the enrolment with a code: 200 `{recovery_codes}`; MFA is on from now.
pub async fn post_totp_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Value>, ApiError> {
    let session = &caller.session.id;
    let codes = app.services.mfa.confirm_enrolment(&caller.user, &body.name, &body.code, session, &client).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// Turns MFA off with a current code: 204; the recovery codes are void.
pub async fn delete_totp(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    app.services.mfa.disable(&caller.user, &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of recovery codes for a current code: 200 `{recovery_codes}`; the old ones are void.
pub async fn post_recovery_codes(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<Value>, ApiError> {
    let codes = app.services.mfa.regenerate_recovery_codes(&caller.user, &body.code, &client).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}
