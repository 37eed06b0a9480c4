//! Several authenticators over the API: list, add (with a code of the new
//! one and a current code), remove (with a current code; never the last).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::mfa::{Adding, Authenticator};
use latchkey_core::AuthenticatorId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mfa::{CodeBody, EnrolmentJson};
use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// One authenticator as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Authenticator)]
pub struct AuthenticatorJson {
    id: String,
    name: String,
    #[schema(format = DateTime)]
    added_at: String,
    #[schema(format = DateTime)]
    last_used_at: String,
    /// How far its clock seems off (positive: ahead).
    clock_offset_seconds: i64,
}

/// `{"authenticators": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct Authenticators {
    authenticators: Vec<AuthenticatorJson>,
}

/// `{"authenticator": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct AddedAuthenticator {
    authenticator: AuthenticatorJson,
}

impl From<Authenticator> for AuthenticatorJson {
    fn from(a: Authenticator) -> Self {
        AuthenticatorJson {
            id: a.id.to_string(),
            name: a.name,
            added_at: rfc3339(a.added_at),
            last_used_at: rfc3339(a.last_used_at),
            clock_offset_seconds: a.clock_offset_seconds,
        }
    }
}

/// Adding an authenticator. No `Debug`: it holds codes.
#[derive(Deserialize, ToSchema)]
pub struct AddBody {
    /// Optional; "Authenticator" when left out.
    #[serde(default)]
    #[schema(max_length = 40)]
    name: String,
    /// The code the new authenticator shows now.
    #[schema(min_length = 1)]
    code: String,
    /// A current code of an authenticator the caller has, or a recovery code.
    #[schema(min_length = 1)]
    current_code: String,
}

/// The caller's authenticators, oldest first.
#[utoipa::path(get, path = "/me/mfa/authenticators", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "None while MFA is off", body = Authenticators),
    (status = 401, description = "No valid token"),
))]
pub async fn get_authenticators(
    State(app): State<AppState>,
    caller: ApiUser,
) -> Result<Json<Authenticators>, ApiError> {
    let all = app.services.mfa.authenticators(caller.user.id).await?;
    Ok(Json(Authenticators { authenticators: all.into_iter().map(AuthenticatorJson::from).collect() }))
}

/// Starts adding a further authenticator (MFA must be on); a new call
/// replaces the pending one.
#[utoipa::path(post, path = "/me/mfa/authenticators", tag = "mfa", security(("bearer" = [])), responses(
    (status = 201, description = "The pending secret", body = EnrolmentJson),
    (status = 401, description = "No valid token"),
    (status = 404, description = "MFA is off: enrol with `POST /me/mfa/totp`"),
))]
pub async fn post_authenticators(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<(StatusCode, Json<EnrolmentJson>), ApiError> {
    let enrolment = app.services.mfa.begin_adding(&caller.user, &caller.session.id, true, &client).await?;
    Ok((StatusCode::CREATED, Json(EnrolmentJson::new(&enrolment)?)))
}

/// Adds the pending authenticator: a code of the new one and a current code
/// of one the caller has (or a recovery code).
#[utoipa::path(post, path = "/me/mfa/authenticators/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = AddBody,
    responses(
        (status = 201, description = "Added", body = AddedAuthenticator),
        (status = 401, description = "A wrong code (new or current), or no valid token"),
        (status = 404, description = "MFA is off, or no pending authenticator of this session"),
        (status = 409, description = "The caller has as many authenticators as allowed (three)"),
        (status = 422, description = "The name is too long or holds control characters"),
    )
)]
pub async fn post_authenticators_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<(StatusCode, Json<AddedAuthenticator>), ApiError> {
    let adding = Adding { name: &body.name, code: &body.code, current_code: &body.current_code };
    let added = app.services.mfa.add_authenticator(&caller.user, &caller.session.id, &adding, &client).await?;
    Ok((StatusCode::CREATED, Json(AddedAuthenticator { authenticator: added.into() })))
}

/// Removes an authenticator with a current code; never the last (turn MFA off instead).
#[utoipa::path(delete, path = "/me/mfa/authenticators/{id}", tag = "mfa", security(("bearer" = [])),
    params(("id" = String, Path, description = "An authenticator id from `GET /me/mfa/authenticators`")),
    request_body = CodeBody,
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "A wrong code, or no valid token"),
        (status = 404, description = "No such authenticator of the caller's"),
        (status = 409, description = "It is the only one, or the authenticators changed meanwhile"),
    )
)]
pub async fn delete_authenticator(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    app.services.mfa.remove_authenticator(&caller.user, &AuthenticatorId::from(id), &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
