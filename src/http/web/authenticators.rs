//! Adding and removing authenticators on the pages (`/account/mfa/authenticators/…`).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Redirect, Response};
use latchkey_core::mfa::Adding;
use latchkey_core::totp::grouped;
use latchkey_core::{AuthenticatorId, CoreError, Refusal};
use serde::Deserialize;

use super::forms::{csrf_forms, UserForm};
use super::menu;
use super::mfa::{manage_page, CodeForm, ManageMessages};
use super::{render, words, Menu};
use crate::http::error::{clock_off_message, WebError};
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "mfa_add.html")]
struct AddPage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    qr_svg: String,
    secret: String,
    secret_grouped: String,
    typed_name: String,
    name_error: Option<String>,
    new_code_error: Option<String>,
    current_code_error: Option<String>,
}

/// What went wrong with an attempt to add, field by field.
#[derive(Default)]
struct AddErrors {
    name: Option<String>,
    new_code: Option<String>,
    current_code: Option<String>,
}

/// The add form. No `Debug`: it holds codes.
#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_code: String,
}

/// The QR code of a further authenticator (the same one on reload).
pub async fn get_new(
    State(app): State<AppState>,
    Client(client): Client,
    current: CurrentUser,
) -> Result<Response, WebError> {
    add_page(&app, &client, &current, String::new(), AddErrors::default()).await
}

async fn add_page(
    app: &AppState,
    client: &latchkey_core::ClientInfo,
    current: &CurrentUser,
    name: String,
    errors: AddErrors,
) -> Result<Response, WebError> {
    let enrolment = match app.services.mfa.begin_adding(&current.user, &current.session.id, false, client).await {
        Ok(enrolment) => enrolment,
        // MFA is off: the first authenticator is set up on the MFA page.
        Err(CoreError::Refused(Refusal::MfaOff)) => return Ok(Redirect::to("/account/mfa").into_response()),
        Err(e) => return Err(e.into()),
    };
    let secret = enrolment.secret_base32();
    let page = AddPage {
        menu: Some(menu(&current.user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: current.user.username.to_string(),
        qr_svg: enrolment.qr_svg()?,
        secret_grouped: grouped(&secret),
        secret,
        typed_name: name,
        name_error: errors.name,
        new_code_error: errors.new_code,
        current_code_error: errors.current_code,
    };
    render(&page)
}

/// Adds the pending authenticator; any error shows the same QR code again.
pub async fn post_add(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<AddForm>,
) -> Result<Response, WebError> {
    let adding = Adding { name: &form.name, code: &form.code, current_code: &form.current_code };
    let errors = match app.services.mfa.add_authenticator(&current.user, &current.session.id, &adding, &client).await {
        Ok(added) => {
            let notice = format!("Added “{}”: a code from it now signs you in.", added.name);
            return manage_page(&app, &current, ManageMessages { notice: Some(notice), ..ManageMessages::default() })
                .await;
        }
        Err(CoreError::Validation(fields)) => AddErrors { name: fields.get("name").cloned(), ..AddErrors::default() },
        Err(CoreError::InvalidNewCode) => {
            AddErrors { new_code: Some(words::WRONG_NEW_CODE.into()), ..AddErrors::default() }
        }
        Err(CoreError::ClockOff { seconds }) => {
            AddErrors { new_code: Some(clock_off_message(seconds)), ..AddErrors::default() }
        }
        Err(CoreError::InvalidCode) => {
            AddErrors { current_code: Some(words::WRONG_CODE.into()), ..AddErrors::default() }
        }
        Err(CoreError::Refused(reason @ (Refusal::NoEnrolment | Refusal::EnrolmentReplaced))) => {
            AddErrors { new_code: Some(words::refusal(reason).into()), ..AddErrors::default() }
        }
        // MFA went off meanwhile: the first authenticator is set up on the MFA page.
        Err(CoreError::Refused(Refusal::MfaOff)) => return Ok(Redirect::to("/account/mfa").into_response()),
        Err(CoreError::Refused(why)) => {
            let messages =
                ManageMessages { authenticator_error: Some(words::refusal(why)), ..ManageMessages::default() };
            return manage_page(&app, &current, messages).await;
        }
        Err(e) => return Err(e.into()),
    };
    add_page(&app, &client, &current, form.name, errors).await
}

/// Removes an authenticator for a current code (never the last one).
pub async fn post_remove(
    State(app): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    UserForm { current, form }: UserForm<CodeForm>,
) -> Result<Response, WebError> {
    let messages = match app
        .services
        .mfa
        .remove_authenticator(&current.user, &AuthenticatorId::from(id), &form.code, &client)
        .await
    {
        Ok(()) => ManageMessages { notice: Some("The authenticator was removed.".into()), ..ManageMessages::default() },
        Err(CoreError::InvalidCode) => {
            ManageMessages { authenticator_error: Some(words::WRONG_CODE), ..ManageMessages::default() }
        }
        Err(CoreError::Refused(why)) => {
            ManageMessages { authenticator_error: Some(words::refusal(why)), ..ManageMessages::default() }
        }
        Err(CoreError::NotFound) => ManageMessages {
            authenticator_error: Some("That authenticator is already gone."),
            ..ManageMessages::default()
        },
        Err(e) => return Err(e.into()),
    };
    manage_page(&app, &current, messages).await
}

csrf_forms!(AddForm);
