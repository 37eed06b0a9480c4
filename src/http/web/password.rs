//! `/account/password`: change the password (contract section 6), and
//! `/.well-known/change-password`, where password managers send people to
//! do it.

use askama::Template;
use axum::extract::State;
use axum::response::{Redirect, Response};
use latchkey_core::{CoreError, FieldErrors};
use serde::Deserialize;

use super::forms::{csrf_forms, UserForm};
use super::{menu, render, words, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    min_length: usize,
    /// After a change: what happened.
    changed: Option<String>,
    errors: FieldErrors,
}

fn page(app: &AppState, current: &CurrentUser, ended: Option<u64>, errors: FieldErrors) -> Result<Response, WebError> {
    let changed = ended.map(|ended| match ended {
        0 => "Your password was changed.".to_string(),
        1 => "Your password was changed, and your other session was signed out.".to_string(),
        n => format!("Your password was changed, and your {n} other sessions were signed out."),
    });
    render(&PasswordPage {
        menu: Some(menu(&current.user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: current.user.username.to_string(),
        min_length: app.services.accounts.password_policy().min_length,
        changed,
        errors,
    })
}

/// The form. No `Debug`: it holds passwords.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// The empty form.
pub async fn get_password(State(app): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    page(&app, &current, None, FieldErrors::new())
}

/// Changes the password; a wrong current password or a new one out of the
/// rules shows the form again, the error beside its field.
pub async fn post_password(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<PasswordForm>,
) -> Result<Response, WebError> {
    let accounts = &app.services.accounts;
    let (user, session) = (&current.user, &current.session.id);
    match accounts.change_password(user, session, &form.current_password, &form.new_password, &client).await {
        Ok(ended) => page(&app, &current, Some(ended), FieldErrors::new()),
        Err(CoreError::InvalidCredentials) => {
            page(&app, &current, None, FieldErrors::from([("current_password", words::WRONG_PASSWORD.to_string())]))
        }
        Err(CoreError::Validation(errors)) => page(&app, &current, None, errors),
        Err(e) => Err(e.into()),
    }
}

/// `/.well-known/change-password` (W3C's well-known URL for changing
/// passwords): to the form.
pub async fn get_well_known() -> Redirect {
    Redirect::to("/account/password")
}

csrf_forms!(PasswordForm);
