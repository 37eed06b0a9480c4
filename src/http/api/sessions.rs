//! Sessions over the API: sign in, sign out, list and revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_core::{CoreError, PasswordAccepted, SecondStep, SessionId, SignIn, SignInFrom, SignedIn};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{rfc3339, SessionJson, UserJson};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// The sign-in body. No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
pub struct SignInBody {
    /// A username or an email.
    #[schema(min_length = 1)]
    login: String,
    #[schema(min_length = 1, max_length = 128)]
    password: String,
    /// A trusted-device token from an earlier second step: skips the code.
    #[serde(default)]
    device_token: Option<String>,
    /// The `client_token` an earlier sign-in of this account gave: this
    /// client's wrong passwords are then counted on their own, so a
    /// stranger's guesses for the name or from the same address do not
    /// hold it back.
    #[serde(default)]
    client_token: Option<String>,
}

/// A signed-in session: `{"token", "expires_at", "user"}`, with
/// `device_token` when the code step trusted the client.
#[derive(Serialize, ToSchema)]
pub struct NewSession {
    /// The bearer token; shown this once.
    token: String,
    #[schema(format = DateTime)]
    expires_at: String,
    user: UserJson,
    /// Send it with the next sign-in's password to skip the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
    /// After a password: keep it and send it with this account's next
    /// sign-ins (valid 90 days, void once the password changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
}

impl From<SignedIn> for NewSession {
    fn from(signed_in: SignedIn) -> Self {
        NewSession {
            token: signed_in.session.token,
            expires_at: rfc3339(signed_in.session.session.expires_at),
            user: UserJson::from(&signed_in.user),
            device_token: signed_in.device.map(|device| device.token),
            client_token: None,
        }
    }
}

/// A right password for an account with MFA on: the code step comes next.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    mfa_required: bool,
    /// Names the pending sign-in in `POST /sessions/mfa`; lives 5 minutes, dies after 5 wrong codes.
    mfa_token: String,
    mfa_methods: Vec<&'static str>,
    /// Keep it and send it with this account's next sign-ins (see `SignInBody`).
    client_token: String,
}

/// Signs in: 201 `{"token", "expires_at", "user"}`; for an account with MFA
/// on, 200 `{"mfa_required": true, "mfa_token", "mfa_methods"}`.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = SignInBody, responses(
    (status = 201, description = "Signed in", body = NewSession),
    (status = 200, description = "MFA is on: send a code to `POST /sessions/mfa`", body = MfaRequired),
    (status = 401, description = "Wrong login or password (the same answer whether or not the account exists)"),
    (status = 403, description = "The right password for an account an operator locked"),
))]
pub async fn post_sessions(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response, ApiError> {
    let from = SignInFrom {
        device_token: body.device_token.as_deref(),
        known_client: body.client_token.as_deref(),
        ..SignInFrom::client(&client)
    };
    let PasswordAccepted { next, known_client } =
        app.services.accounts.sign_in(&body.login, &body.password, &from).await?;
    Ok(match next {
        SignIn::Done(signed_in) => {
            let session = NewSession { client_token: Some(known_client.token), ..NewSession::from(*signed_in) };
            (StatusCode::CREATED, Json(session)).into_response()
        }
        SignIn::NeedsCode { token, pending } => {
            let mut mfa_methods = vec!["totp", "recovery_code"];
            if app.services.passkeys.offered_at_code_step(pending.user_id).await? {
                mfa_methods.push("passkey");
            }
            let body =
                MfaRequired { mfa_required: true, mfa_token: token, mfa_methods, client_token: known_client.token };
            (StatusCode::OK, Json(body)).into_response()
        }
    })
}

/// The second step body: a `code` or a `passkey`. No `Debug`: it holds a code.
#[derive(Deserialize, ToSchema)]
pub struct SecondStepBody {
    #[schema(min_length = 1)]
    mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    #[serde(default)]
    code: Option<String>,
    /// A passkey's answer (`PublicKeyCredential.toJSON()`) to the options of
    /// `POST /sessions/mfa/passkey/options`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
    /// Trust this client: the answer carries a `device_token` that skips the code next time.
    #[serde(default)]
    trust_device: bool,
}

impl SecondStepBody {
    /// The one answer the body carries.
    fn step(&self) -> Result<SecondStep<'_>, ApiError> {
        match (&self.code, &self.passkey) {
            (Some(code), None) => Ok(SecondStep::Code(code)),
            (None, Some(passkey)) => Ok(SecondStep::Passkey(passkey)),
            _ => Err(ApiError::BadRequest("Send either `code` or `passkey`.".into())),
        }
    }
}

/// Completes an MFA sign-in: 201, as a sign-in without MFA (with
/// `device_token` when `trust_device` was asked for and saved).
#[utoipa::path(post, path = "/sessions/mfa", tag = "sessions", request_body = SecondStepBody, responses(
    (status = 201, description = "Signed in", body = NewSession),
    (status = 401, description = "A wrong, expired or used code (`invalid_code`), or a dead `mfa_token` (`unauthenticated`)"),
    (status = 403, description = "The account was locked meanwhile"),
))]
pub async fn post_sessions_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SecondStepBody>,
) -> Result<(StatusCode, Json<NewSession>), ApiError> {
    let mfa = &app.services.mfa;
    let signed_in = mfa
        .complete_sign_in(&body.mfa_token, body.step()?, body.trust_device, &SignInFrom::client(&client))
        .await
        .map_err(|e| match e {
            CoreError::Unauthenticated => ApiError::SignInOver,
            other => ApiError::from(other),
        })?;
    Ok((StatusCode::CREATED, Json(signed_in.into())))
}

/// Signs out: the token is dead at once. 204.
#[utoipa::path(delete, path = "/sessions/current", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204, description = "Signed out"),
    (status = 401, description = "No valid token"),
))]
pub async fn delete_current_session(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<StatusCode, ApiError> {
    app.services.sessions.end(&caller.session, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"sessions": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct Sessions {
    sessions: Vec<SessionJson>,
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, description = "The live sessions", body = Sessions),
    (status = 401, description = "No valid token"),
))]
pub async fn get_sessions(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Sessions>, ApiError> {
    let sessions = app.services.sessions.list(caller.user.id).await?;
    Ok(Json(Sessions { sessions: sessions.iter().map(|s| SessionJson::new(s, &caller.session)).collect() }))
}

/// Revokes one of the caller's sessions: 204, or 404 for an id that is not theirs.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /sessions`")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "No valid token"),
        (status = 404, description = "No such session of the caller's"),
    )
)]
pub async fn delete_session(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.services.sessions.revoke(caller.user.id, &SessionId::from(id), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
