//! `/signup`: create an account and land signed in on the dashboard.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{CoreError, FieldErrors, SignInFrom};
use serde::Deserialize;

use super::forms::{csrf_forms, GuestForm};
use super::{cookies, render, signed_out_form, Menu};
use crate::http::error::{conflict_message, WebError};
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    email: String,
    password_hint: String,
    /// The account was made, but signs in only once its address is verified.
    awaiting_verification: bool,
    errors: FieldErrors,
}

/// The form as posted. Missing fields read as empty, so they fail their rules
/// (or the CSRF check) instead of failing to parse. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn page(app: &AppState, csrf_token: String, username: String, email: String, errors: FieldErrors) -> SignUpPage {
    let min = app.services.accounts.password_policy().min_length;
    SignUpPage {
        menu: None,
        csrf_token,
        username,
        email,
        password_hint: format!("At least {min} characters. A few unrelated words make a strong, memorable password."),
        awaiting_verification: false,
        errors,
    }
}

/// The empty form (or the dashboard, for someone already signed in).
pub async fn get_signup(
    State(app): State<AppState>,
    current: Option<CurrentUser>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    signed_out_form(&app, current, jar, "/dashboard", |token| {
        page(&app, token, String::new(), String::new(), FieldErrors::new())
    })
}

/// Creates the account and signs in; on broken rules, the form again with
/// each error beside its field and what was typed kept (never the password).
/// That answer is a 200: the page is what the person should see, and an error
/// status would only make the browser log a failed load.
pub async fn post_signup(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { jar, csrf_token, form }: GuestForm<SignUpForm>,
) -> Result<Response, WebError> {
    let previous = cookies::session_token(&jar, &app.web);
    let from = SignInFrom { replaces: previous.as_deref(), ..SignInFrom::client(&client) };
    let accounts = &app.services.accounts;
    let errors = match accounts.sign_up_and_sign_in(&form.username, &form.email, &form.password, &from).await {
        Ok(signed_in) => {
            return Ok((cookies::signed_in(jar, signed_in, &app.web), Redirect::to("/dashboard")).into_response());
        }
        Err(CoreError::Validation(errors)) => errors,
        Err(CoreError::Conflict(field)) => FieldErrors::from([(field, conflict_message(field))]),
        Err(CoreError::EmailUnverified) => {
            let made = page(&app, csrf_token, form.username, form.email, FieldErrors::new());
            return render(&SignUpPage { awaiting_verification: true, ..made });
        }
        Err(e) => return Err(e.into()),
    };
    let page = page(&app, csrf_token, form.username, form.email, errors);
    render(&page)
}

csrf_forms!(SignUpForm);
