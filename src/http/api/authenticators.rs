//! Several authenticators over the API: list, add (with a code of the new
//! one and a current code), remove (with a current code; never the last).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use latchkey_core::mfa::{Adding, Authenticator};
use latchkey_core::AuthenticatorId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::mfa::{enrolment_json, CodeBody};
use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiUser, Client};
use crate::http::AppState;

/// One authenticator as the API shows it.
#[derive(Debug, Serialize)]
pub struct AuthenticatorJson {
    id: String,
    name: String,
    added_at: String,
    last_used_at: String,
    clock_offset_seconds: i64,
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
#[derive(Deserialize)]
pub struct AddBody {
    #[serde(default)]
    name: String,
    code: String,
    current_code: String,
}

/// `GET /me/mfa/authenticators`: 200 `{authenticators: [...]}`, oldest first.
pub async fn get_authenticators(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let all = app.services.mfa.authenticators(caller.user.id).await?;
    let all: Vec<AuthenticatorJson> = all.into_iter().map(AuthenticatorJson::from).collect();
    Ok(Json(json!({ "authenticators": all })))
}

/// `POST /me/mfa/authenticators`: 201 `{secret, otpauth_uri, qr_svg}` of a
/// pending one (a new call replaces it); 404 while MFA is off.
pub async fn post_authenticators(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let enrolment = app.services.mfa.begin_adding(&caller.user, &caller.session.id, true, &client).await?;
    Ok((StatusCode::CREATED, Json(enrolment_json(&enrolment)?)))
}

/// `POST /me/mfa/authenticators/confirm` `{name, code, current_code}`: 201
/// `{authenticator}`; 409 at the limit of three.
pub async fn post_authenticators_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    caller: ApiUser,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let adding = Adding { name: &body.name, code: &body.code, current_code: &body.current_code };
    let added = app.services.mfa.add_authenticator(&caller.user, &caller.session.id, &adding, &client).await?;
    Ok((StatusCode::CREATED, Json(json!({ "authenticator": AuthenticatorJson::from(added) }))))
}

/// `DELETE /me/mfa/authenticators/{id}` `{code}`: 204; 409 for the last one.
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
