//! MFA over the API: enrol, confirm, turn off, regenerate recovery codes.
//! Further authenticators are in [`super::authenticators`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::{ClientInfo, Enrolment, Offered, RecentProof};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// A body holding a current code. No `Debug`: it holds a code.
#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// A current 6-digit TOTP code or a recovery code.
    #[schema(min_length = 1)]
    pub(super) code: String,
}

/// A fresh proof of the account, for a session that last proved it more
/// than 5 minutes ago (both optional). No `Debug`: it holds secrets.
#[derive(Default, Deserialize, ToSchema)]
pub struct ProofBody {
    /// The account's current password.
    current_password: Option<String>,
    /// A current TOTP or recovery code (while MFA is on).
    code: Option<String>,
}

impl ProofBody {
    fn offered(&self) -> Offered<'_> {
        Offered { password: self.current_password.as_deref(), code: self.code.as_deref() }
    }

    /// The caller's recent proof of the account: what the optional body
    /// offers, else the session's own (403 `reauthentication_required`
    /// when it is too old).
    pub(super) async fn prove(
        body: Option<ApiJson<ProofBody>>,
        app: &AppState,
        caller: &ApiUser,
        client: &ClientInfo,
    ) -> Result<RecentProof, ApiError> {
        let body = body.map(|ApiJson(body)| body).unwrap_or_default();
        Ok(app.services.accounts.prove(&caller.session, &caller.user, body.offered(), client).await?)
    }
}

/// The enrolment confirmation: the code, a name for the authenticator
/// (optional; "Authenticator" when left out), and the current password when
/// the session last proved the account more than 5 minutes ago.
#[derive(Deserialize, ToSchema)]
pub struct ConfirmBody {
    /// The code the app shows now.
    #[schema(min_length = 1)]
    code: String,
    #[serde(default)]
    #[schema(max_length = 40)]
    name: String,
    /// The account's current password (a fresh proof of the account).
    current_password: Option<String>,
}

/// What an app needs to add a pending secret.
#[derive(Serialize, ToSchema)]
pub struct EnrolmentJson {
    /// Base32, without padding, for typing in.
    secret: String,
    /// The `otpauth://totp/…` URI the QR code holds.
    otpauth_uri: String,
    /// The QR code, as inline SVG.
    qr_svg: String,
}

impl EnrolmentJson {
    pub(super) fn new(enrolment: &Enrolment) -> Result<Self, ApiError> {
        Ok(EnrolmentJson {
            secret: enrolment.secret_base32(),
            otpauth_uri: enrolment.otpauth_uri.clone(),
            qr_svg: enrolment.qr_svg()?,
        })
    }
}

/// `{"recovery_codes": [...]}`: shown this once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// Starts a pending enrolment (a new call replaces it); 409 while MFA is on.
/// The body is optional: the current password is needed only when the
/// session last proved the account more than 5 minutes ago.
#[utoipa::path(post, path = "/me/mfa/totp", tag = "mfa", security(("bearer" = [])),
    request_body(content = Option<ProofBody>, description = "Optional: a fresh proof of the account"),
    responses(
        (status = 201, description = "The pending secret", body = EnrolmentJson),
        (status = 401, description = "A wrong current password, or no valid token"),
        (status = 403, description = "`reauthentication_required`: the session's proof is over 5 minutes old; send `current_password`"),
        (status = 409, description = "MFA is already on"),
    )
)]
pub async fn post_totp(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    body: Option<ApiJson<ProofBody>>,
) -> Result<(StatusCode, Json<EnrolmentJson>), ApiError> {
    let proof = ProofBody::prove(body, &app, &caller, &client).await?;
    let enrolment = app.services.mfa.enrolment(&caller.user, &caller.session.id, true, &proof, &client).await?;
    Ok((StatusCode::CREATED, Json(EnrolmentJson::new(&enrolment)?)))
}

/// Confirms the enrolment with a code; MFA is on from now, and every other
/// session of the caller ends.
#[utoipa::path(post, path = "/me/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])), request_body = ConfirmBody,
    responses(
        (status = 200, description = "MFA is on: the ten recovery codes", body = RecoveryCodes),
        (status = 401, description = "A wrong code (the enrolment stays), a wrong current password, or no valid token"),
        (status = 403, description = "`reauthentication_required`: the session's proof is over 5 minutes old; send `current_password`"),
        (status = 404, description = "No enrolment of this session in progress"),
        (status = 409, description = "MFA is already on"),
        (status = 422, description = "The name is too long or holds control characters"),
    )
)]
pub async fn post_totp_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let offered = Offered { password: body.current_password.as_deref(), code: None };
    let proof = app.services.accounts.prove(&caller.session, &caller.user, offered, &client).await?;
    let session = &caller.session.id;
    let codes =
        app.services.mfa.confirm_enrolment(&caller.user, &body.name, &body.code, session, &proof, &client).await?;
    Ok(Json(RecoveryCodes { recovery_codes: codes }))
}

/// Turns MFA off with a current code; the recovery codes are void.
#[utoipa::path(delete, path = "/me/mfa/totp", tag = "mfa", security(("bearer" = [])), request_body = CodeBody,
    responses(
        (status = 204, description = "MFA is off"),
        (status = 401, description = "A wrong code, or no valid token"),
        (status = 404, description = "MFA is not on"),
    )
)]
pub async fn delete_totp(
    State(app): State<AppState>,
    Client(client): Client,
    mut caller: ApiUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    app.services.mfa.disable(&caller.user, &mut caller.session, &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of recovery codes for a current code; the old ones are void.
#[utoipa::path(post, path = "/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])), request_body = CodeBody,
    responses(
        (status = 200, description = "The new codes", body = RecoveryCodes),
        (status = 401, description = "A wrong code, or no valid token"),
        (status = 404, description = "MFA is not on"),
    )
)]
pub async fn post_recovery_codes(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = app.services.mfa.regenerate_recovery_codes(&caller.user, &body.code, &client).await?;
    Ok(Json(RecoveryCodes { recovery_codes: codes }))
}
