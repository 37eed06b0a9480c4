//! Passkeys over the API (contract section 7): add (options, then the
//! browser's answer), list, rename, remove; sign in with a passkey alone;
//! the options of a passkey answer to the code step.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::passkeys::{AddedPasskey, Challenge};
use latchkey_core::store::PasskeyRecord;
use latchkey_core::{CoreError, PasskeyId, SignInFrom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mfa::ProofBody;
use super::rfc3339;
use super::sessions::NewSession;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// The options for `navigator.credentials.create` or `.get`, and the id
/// that names the ceremony in the answer.
#[derive(Serialize, ToSchema)]
pub struct ChallengeJson {
    /// Send it back with the browser's answer; lives 5 minutes, answers once.
    challenge_id: String,
    /// WebAuthn's options (`PublicKeyCredentialCreationOptions` or
    /// `…RequestOptions`), binary fields base64url.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

impl From<Challenge> for ChallengeJson {
    fn from(c: Challenge) -> Self {
        ChallengeJson { challenge_id: c.challenge_id, public_key: c.public_key }
    }
}

/// One passkey as the API shows it (never its key).
#[derive(Serialize, ToSchema)]
#[schema(as = Passkey)]
pub struct PasskeyJson {
    id: String,
    name: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    /// It may be synced to the owner's other devices (a passkey manager).
    backup_eligible: bool,
    /// It is synced now.
    backed_up: bool,
}

impl From<&PasskeyRecord> for PasskeyJson {
    fn from(p: &PasskeyRecord) -> Self {
        PasskeyJson {
            id: p.id.to_string(),
            name: p.name.clone(),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
            backup_eligible: p.backup_eligible,
            backed_up: p.backed_up,
        }
    }
}

/// `{"passkeys": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct PasskeysJson {
    passkeys: Vec<PasskeyJson>,
}

/// `{"passkey": {...}}`, with the recovery codes when it turned MFA on.
#[derive(Serialize, ToSchema)]
pub struct AddedPasskeyJson {
    passkey: PasskeyJson,
    /// Shown this once, when this passkey was the account's first factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

/// The browser's answer to the creation options.
#[derive(Deserialize, ToSchema)]
pub struct AddPasskeyBody {
    #[schema(min_length = 1)]
    challenge_id: String,
    /// Optional; "Passkey" when left out.
    #[serde(default)]
    #[schema(max_length = 40)]
    name: String,
    /// What `PublicKeyCredential.toJSON()` gives.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// A new name.
#[derive(Deserialize, ToSchema)]
pub struct RenameBody {
    #[schema(max_length = 40)]
    name: String,
}

/// Starts adding a passkey: the creation options. Needs a sign-in (or a
/// proof) within the last 5 minutes.
#[utoipa::path(post, path = "/me/passkeys/options", tag = "passkeys", security(("bearer" = [])),
    request_body(content = Option<ProofBody>, description = "Optional: a fresh proof of the account"),
    responses(
        (status = 200, description = "The creation options", body = ChallengeJson),
        (status = 401, description = "No valid token, or a wrong password or code"),
        (status = 403, description = "`reauthentication_required`"),
        (status = 409, description = "`webauthn_unavailable`, or as many passkeys as allowed (ten)"),
    )
)]
pub async fn post_passkey_options(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    body: Option<ApiJson<ProofBody>>,
) -> Result<Json<ChallengeJson>, ApiError> {
    let proof = ProofBody::prove(body, &app, &caller, &client).await?;
    let challenge = app.services.passkeys.begin_registration(&caller.user, &caller.session.id, &proof).await?;
    Ok(Json(challenge.into()))
}

/// Adds the passkey the browser made; the first one turns MFA on and
/// answers the recovery codes too.
#[utoipa::path(post, path = "/me/passkeys", tag = "passkeys", security(("bearer" = [])),
    request_body = AddPasskeyBody,
    responses(
        (status = 201, description = "Added", body = AddedPasskeyJson),
        (status = 401, description = "`invalid_passkey`: the answer does not verify, or its challenge is unknown, used, expired or another session's"),
        (status = 409, description = "Registered already, `webauthn_unavailable`, or too many passkeys"),
        (status = 422, description = "The name is too long or holds control characters"),
    )
)]
pub async fn post_passkeys(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<AddPasskeyBody>,
) -> Result<(StatusCode, Json<AddedPasskeyJson>), ApiError> {
    let AddedPasskey { passkey, recovery_codes } = app
        .services
        .passkeys
        .finish_registration(
            &caller.user,
            &caller.session.id,
            &body.challenge_id,
            &body.name,
            &body.credential,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AddedPasskeyJson { passkey: PasskeyJson::from(&passkey), recovery_codes })))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(get, path = "/me/passkeys", tag = "passkeys", security(("bearer" = [])), responses(
    (status = 200, description = "The passkeys", body = PasskeysJson),
    (status = 401, description = "No valid token"),
))]
pub async fn get_passkeys(State(app): State<AppState>, caller: ApiUser) -> Result<Json<PasskeysJson>, ApiError> {
    let all = app.services.passkeys.list(caller.user.id).await?;
    Ok(Json(PasskeysJson { passkeys: all.iter().map(PasskeyJson::from).collect() }))
}

/// Renames one of the caller's passkeys. 204.
#[utoipa::path(patch, path = "/me/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "A passkey id from `GET /me/passkeys`")),
    request_body = RenameBody,
    responses(
        (status = 204, description = "Renamed"),
        (status = 404, description = "No such passkey of the caller's"),
        (status = 422, description = "The name is too long or holds control characters"),
    )
)]
pub async fn patch_passkey(
    State(app): State<AppState>,
    caller: ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RenameBody>,
) -> Result<StatusCode, ApiError> {
    app.services.passkeys.rename(caller.user.id, &PasskeyId::from(id), &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes one of the caller's passkeys (never the last factor while MFA is
/// on). Needs a sign-in within 5 minutes, or a `code` (or `current_password`). 204.
#[utoipa::path(delete, path = "/me/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "A passkey id from `GET /me/passkeys`")),
    request_body(content = Option<ProofBody>, description = "Optional: a fresh proof of the account"),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`reauthentication_required`"),
        (status = 404, description = "No such passkey of the caller's"),
        (status = 409, description = "It is the account's last factor"),
    )
)]
pub async fn delete_passkey(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    Path(id): Path<String>,
    body: Option<ApiJson<ProofBody>>,
) -> Result<StatusCode, ApiError> {
    let proof = ProofBody::prove(body, &app, &caller, &client).await?;
    app.services.passkeys.remove(&caller.user, &PasskeyId::from(id), &proof, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The contract's optional body, `{"login"?}`: checked to be a JSON object
/// and set aside. Any discoverable passkey may answer, so the options say
/// nothing about whether an account exists or has passkeys.
#[derive(Default, Deserialize, ToSchema)]
pub struct SignInOptionsBody {}

/// Starts a sign-in with a passkey alone: the request options.
#[utoipa::path(post, path = "/sessions/passkey/options", tag = "sessions",
    request_body(content = Option<SignInOptionsBody>, description = "Optional"),
    responses(
        (status = 200, description = "The request options", body = ChallengeJson),
        (status = 409, description = "`webauthn_unavailable`"),
    )
)]
pub async fn post_sign_in_options(
    State(app): State<AppState>,
    Client(client): Client,
    _body: Option<ApiJson<SignInOptionsBody>>,
) -> Result<Json<ChallengeJson>, ApiError> {
    Ok(Json(app.services.passkeys.begin_sign_in(&client).await?.into()))
}

/// The browser's answer to the request options.
#[derive(Deserialize, ToSchema)]
pub struct PasskeySignInBody {
    #[schema(min_length = 1)]
    challenge_id: String,
    /// What `PublicKeyCredential.toJSON()` gives.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Signs in with a passkey alone (it verified the person: both factors). 201.
#[utoipa::path(post, path = "/sessions/passkey", tag = "sessions", request_body = PasskeySignInBody, responses(
    (status = 201, description = "Signed in", body = NewSession),
    (status = 401, description = "`invalid_passkey`"),
    (status = 403, description = "The account is locked"),
    (status = 429, description = "Too many refused answers from this address"),
))]
pub async fn post_passkey_session(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<PasskeySignInBody>,
) -> Result<(StatusCode, Json<NewSession>), ApiError> {
    let from = SignInFrom::client(&client);
    let signed_in = app.services.passkeys.finish_sign_in(&body.challenge_id, &body.credential, &from).await?;
    Ok((StatusCode::CREATED, Json(signed_in.into())))
}

/// Names the pending sign-in.
#[derive(Deserialize, ToSchema)]
pub struct MfaTokenBody {
    #[schema(min_length = 1)]
    mfa_token: String,
}

/// `{"publicKey": RequestOptions}` for the code step.
#[derive(Serialize, ToSchema)]
pub struct SecondStepOptions {
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

/// Starts a passkey answer to the code step: the request options for the
/// user's passkeys; then `POST /sessions/mfa {mfa_token, passkey}`.
#[utoipa::path(post, path = "/sessions/mfa/passkey/options", tag = "sessions", request_body = MfaTokenBody, responses(
    (status = 200, description = "The request options", body = SecondStepOptions),
    (status = 401, description = "The `mfa_token` is unknown, expired or used up"),
    (status = 404, description = "The account has no passkey"),
    (status = 409, description = "`webauthn_unavailable`"),
))]
pub async fn post_second_step_options(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<MfaTokenBody>,
) -> Result<Json<SecondStepOptions>, ApiError> {
    let passkeys = &app.services.passkeys;
    let public_key = passkeys.begin_second_factor(&body.mfa_token, &client).await.map_err(|e| match e {
        CoreError::Unauthenticated => ApiError::SignInOver,
        CoreError::NotFound => ApiError::NotFound("This account has no passkey: send a code.".into()),
        other => ApiError::from(other),
    })?;
    Ok(Json(SecondStepOptions { public_key }))
}
