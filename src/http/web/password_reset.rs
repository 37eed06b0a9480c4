//! `/password/forgot` and `/password/reset`: the reset by email (contract
//! section 6). Asking always shows the same page; the link's page asks for
//! the new password and then sends the person to sign in (a reset never
//! signs in, so the second step still stands).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{CoreError, Refusal, User};
use serde::Deserialize;

use super::forms::{csrf_forms, GuestForm};
use super::{render, signed_out_form, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage<'a> {
    menu: Option<Menu>,
    csrf_token: String,
    email: String,
    can_mail: bool,
    sent: bool,
    error: Option<String>,
    support: Option<&'a str>,
}

impl<'a> ForgotPage<'a> {
    fn new(app: &'a AppState, csrf_token: String) -> Self {
        ForgotPage {
            menu: None,
            csrf_token,
            email: String::new(),
            can_mail: app.services.accounts.can_mail_links(),
            sent: false,
            error: None,
            support: app.web.support_contact(),
        }
    }
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    menu: Option<Menu>,
    csrf_token: String,
    token: String,
    /// Whose password it is (for password managers).
    username: String,
    min_length: usize,
    alive: bool,
    done: bool,
    error: Option<String>,
}

impl ResetPage {
    fn new(app: &AppState, csrf_token: String, token: String, user: Option<User>) -> Self {
        let min_length = app.services.accounts.password_policy().min_length;
        let (alive, username) = match user {
            Some(user) => (true, user.username.to_string()),
            None => (false, String::new()),
        };
        ResetPage { menu: None, csrf_token, token, username, min_length, alive, done: false, error: None }
    }
}

/// The address asked for. Its answer never depends on the address.
#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

/// The link's token and the new password. No `Debug`: it holds both.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// `?token=` of a mailed link (a reset, or an email link).
#[derive(Deserialize)]
pub struct LinkQuery {
    /// The link's token.
    #[serde(default)]
    pub token: String,
}

/// The form, or (no mail configured) where to get help instead.
pub async fn get_forgot(
    State(app): State<AppState>,
    current: Option<CurrentUser>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    signed_out_form(&app, current, jar, "/account/password", |csrf_token| ForgotPage::new(&app, csrf_token))
}

/// Asks for a link: the same page whether or not the address is known.
pub async fn post_forgot(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { csrf_token, form, .. }: GuestForm<ForgotForm>,
) -> Result<Response, WebError> {
    let page = ForgotPage::new(&app, csrf_token);
    let page = match app.services.accounts.request_password_reset(&form.email, &client).await {
        Ok(()) => ForgotPage { sent: true, ..page },
        Err(CoreError::Validation(fields)) => {
            ForgotPage { error: fields.into_values().next(), email: form.email, ..page }
        }
        Err(CoreError::Refused(Refusal::NoMail)) => page,
        Err(e) => return Err(e.into()),
    };
    render(&page)
}

/// The mailed link: the new password's form, or why the link is dead.
pub async fn get_reset(
    State(app): State<AppState>,
    Query(LinkQuery { token }): Query<LinkQuery>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    let user = if token.is_empty() { None } else { app.services.accounts.reset_link_user(&token).await? };
    signed_out_form(&app, None, jar, "/", |csrf_token| ResetPage::new(&app, csrf_token, token, user))
}

/// Sets the new password; a password out of the rules shows the form again.
pub async fn post_reset(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { csrf_token, form, .. }: GuestForm<ResetForm>,
) -> Result<Response, WebError> {
    let accounts = &app.services.accounts;
    let token = form.token.clone();
    let (status, page) = match accounts.reset_password(&form.token, &form.password, &client).await {
        Ok(()) => (StatusCode::OK, ResetPage { done: true, ..ResetPage::new(&app, csrf_token, token, None) }),
        Err(CoreError::Validation(fields)) => {
            // The form again, for the same account (its name for password managers).
            let user = accounts.reset_link_user(&form.token).await?;
            let page = ResetPage::new(&app, csrf_token, token, user);
            (StatusCode::OK, ResetPage { error: fields.into_values().next(), ..page })
        }
        Err(CoreError::InvalidResetLink) => (StatusCode::BAD_REQUEST, ResetPage::new(&app, csrf_token, token, None)),
        Err(e) => return Err(e.into()),
    };
    Ok((status, render(&page)?).into_response())
}

csrf_forms!(ForgotForm, ResetForm);
