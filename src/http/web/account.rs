//! The account's own pages (contract section 6): its address
//! (`/account/email`, and `/email/verify` where the mailed link lands),
//! deleting it (`/account/delete`), and downloading its data
//! (`/account/export`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::accounts::EmailProven;
use latchkey_core::{CoreError, FieldErrors};
use serde::Deserialize;

use super::forms::{csrf_forms, GuestForm, UserForm};
use super::password_reset::LinkQuery;
use super::{cookies, menu, render, signed_out_form, words, Menu};
use crate::http::api::account::account_data;
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "account_email.html")]
struct EmailPage<'a> {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    email: String,
    verified: bool,
    pending: Option<String>,
    mfa_enabled: bool,
    can_mail: bool,
    support: Option<&'a str>,
    new_email: String,
    notice: Option<String>,
    errors: FieldErrors,
}

async fn email_page(
    app: &AppState,
    current: &CurrentUser,
    notice: Option<String>,
    new_email: String,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let user = &current.user;
    let pending = app.services.accounts.pending_email_change(user).await?;
    render(&EmailPage {
        menu: Some(menu(user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: user.username.to_string(),
        email: user.email.to_string(),
        verified: user.email_verified,
        pending: pending.map(|e| e.to_string()),
        mfa_enabled: user.mfa_enabled,
        can_mail: app.services.accounts.can_mail_links(),
        support: app.web.support_contact(),
        new_email,
        notice,
        errors,
    })
}

/// The address change form. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

/// "Send the link again": nothing but the token.
#[derive(Deserialize)]
pub struct TokenOnlyForm {
    #[serde(default)]
    csrf_token: String,
}

/// The address, whether it is verified, and the form to change it.
pub async fn get_email(State(app): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    email_page(&app, &current, None, String::new(), FieldErrors::new()).await
}

/// Asks for the change: a link goes to the new address. A wrong password
/// or code, or an address out of the rules or taken, shows the form again.
pub async fn post_email(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<EmailForm>,
) -> Result<Response, WebError> {
    let accounts = &app.services.accounts;
    let code = Some(form.code.as_str());
    let errors = match accounts.change_email(&current.user, &form.email, &form.current_password, code, &client).await {
        Ok(new) => {
            let notice = format!("We mailed a link to {new}. Open it to make it your address.");
            return email_page(&app, &current, Some(notice), String::new(), FieldErrors::new()).await;
        }
        Err(CoreError::InvalidCredentials) => FieldErrors::from([("current_password", words::WRONG_PASSWORD.into())]),
        Err(CoreError::InvalidCode) => FieldErrors::from([("code", words::WRONG_CODE.into())]),
        Err(CoreError::Conflict(field)) => FieldErrors::from([("email", crate::http::error::conflict_message(field))]),
        Err(CoreError::Validation(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    email_page(&app, &current, None, form.email, errors).await
}

/// Mails the verification link again.
pub async fn post_verification(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, .. }: UserForm<TokenOnlyForm>,
) -> Result<Response, WebError> {
    app.services.accounts.send_verification_link(&current.user, &client).await?;
    let notice = format!("We mailed a new link to {}. The older ones no longer work.", current.user.email);
    email_page(&app, &current, Some(notice), String::new(), FieldErrors::new()).await
}

#[derive(Template)]
#[template(path = "email_verify.html")]
struct VerifyPage {
    menu: Option<Menu>,
    csrf_token: String,
    token: String,
    done: Option<&'static str>,
    error: Option<&'static str>,
}

/// The link's token, sent by the confirm button. No `Debug`: it holds the token.
#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

/// Where the mailed link lands: a button that confirms (a mail scanner
/// that follows links must not use them up), signed in or not.
pub async fn get_verify(
    State(app): State<AppState>,
    Query(LinkQuery { token }): Query<LinkQuery>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    signed_out_form(&app, None, jar, "/", |csrf_token| VerifyPage {
        menu: None,
        csrf_token,
        token,
        done: None,
        error: None,
    })
}

/// Uses the link: the address is verified, or becomes the account's.
pub async fn post_verify(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { csrf_token, form, .. }: GuestForm<VerifyForm>,
) -> Result<Response, WebError> {
    let page = VerifyPage { menu: None, csrf_token, token: String::new(), done: None, error: None };
    let (status, page) = match app.services.accounts.open_email_link(&form.token, &client).await {
        Ok(EmailProven::Verified) => (StatusCode::OK, VerifyPage { done: Some(words::EMAIL_VERIFIED), ..page }),
        Ok(EmailProven::Changed) => (StatusCode::OK, VerifyPage { done: Some(words::EMAIL_CHANGED), ..page }),
        Err(CoreError::InvalidEmailLink) => {
            (StatusCode::BAD_REQUEST, VerifyPage { error: Some(words::EMAIL_LINK_DEAD), ..page })
        }
        Err(e) => return Err(e.into()),
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "account_delete.html")]
struct DeletePage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    email: String,
    mfa_enabled: bool,
    deleted: bool,
    errors: FieldErrors,
}

fn delete_page(current: &CurrentUser, errors: FieldErrors) -> Result<Response, WebError> {
    let user = &current.user;
    render(&DeletePage {
        menu: Some(menu(user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: user.username.to_string(),
        email: user.email.to_string(),
        mfa_enabled: user.mfa_enabled,
        deleted: false,
        errors,
    })
}

/// The deletion form. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// What deleting takes away, and the form.
pub async fn get_delete(current: CurrentUser) -> Result<Response, WebError> {
    delete_page(&current, FieldErrors::new())
}

/// Deletes the account and signs this browser out.
pub async fn post_delete(
    State(app): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    UserForm { current, form }: UserForm<DeleteForm>,
) -> Result<Response, WebError> {
    let code = Some(form.code.as_str());
    let errors = match app.services.accounts.delete_account(&current.user, &form.password, code, &client).await {
        Ok(()) => {
            let page = DeletePage {
                menu: None,
                csrf_token: String::new(),
                username: current.user.username.to_string(),
                email: String::new(),
                mfa_enabled: false,
                deleted: true,
                errors: FieldErrors::new(),
            };
            return Ok((cookies::signed_out(jar, &app.web), render(&page)?).into_response());
        }
        Err(CoreError::InvalidCredentials) => FieldErrors::from([("password", words::WRONG_PASSWORD.into())]),
        Err(CoreError::InvalidCode) => FieldErrors::from([("code", words::WRONG_CODE.into())]),
        Err(CoreError::Validation(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    delete_page(&current, errors)
}

/// "Download my data": the same JSON as `GET /api/v1/me/export`, as a
/// file. A form's `POST` (with its CSRF token): a link on another site must
/// not make the owner download it, and mail them that it happened.
pub async fn post_export(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, .. }: UserForm<TokenOnlyForm>,
) -> Result<Response, WebError> {
    let data = account_data(&app, &current.user, &current.session, &client).await?;
    let file = format!("attachment; filename=\"latchkey-{}.json\"", current.user.username);
    let headers = [(header::CONTENT_DISPOSITION, file), (header::CACHE_CONTROL, "no-store".to_string())];
    Ok((headers, axum::Json(data)).into_response())
}

csrf_forms!(EmailForm, TokenOnlyForm, VerifyForm, DeleteForm);
