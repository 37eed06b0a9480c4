//! `/login` and `/logout`.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{CoreError, SignIn};
use serde::Deserialize;

use super::{cookies, end_previous_session, render, signed_out_form, Menu};
use crate::http::csrf::verify_token;
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser, WebForm};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    menu: Option<Menu>,
    csrf_token: String,
    login: String,
    error: Option<&'static str>,
}

/// The sign-in page at its second step: the code field, posting to `/login/mfa`.
#[derive(Template)]
#[template(path = "login_mfa.html")]
struct CodeStepPage<'a> {
    menu: Option<Menu>,
    csrf_token: String,
    error: Option<&'static str>,
    support: Option<&'a str>,
    trust_days: Option<i64>,
}

impl<'a> CodeStepPage<'a> {
    fn new(app: &'a AppState, csrf_token: String, error: Option<&'static str>) -> Self {
        let trust_days = app.services.mfa.trust_devices_for().map(|d| d.whole_days());
        CodeStepPage { menu: None, csrf_token, error, support: app.web.support_contact(), trust_days }
    }
}

/// The form as posted; missing fields read as empty. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// The same words for an unknown login and a wrong password.
const INVALID: &str = "That username, email or password is not right. Check them and try again.";
/// The right password for an account an operator locked.
const LOCKED: &str = "This account is locked. Contact our Support Team to unlock it.";
/// A wrong code at the second step.
const WRONG_CODE: &str =
    "That code is not right, or was already used. Wait for the next code in your app and try again.";
/// The second step died (5 wrong codes, or 5 minutes).
const START_AGAIN: &str = "Too many wrong codes, or too much time passed. Sign in again.";

/// The sign-in form (or the dashboard, for someone already signed in).
pub async fn get_login(
    State(app): State<AppState>,
    current: Option<CurrentUser>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    signed_out_form(&app, current, jar, |csrf_token| LoginPage {
        menu: None,
        csrf_token,
        login: String::new(),
        error: None,
    })
}

/// Checks the password; success ends any previous session and starts a new one.
pub async fn post_login(
    State(app): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookies::sent_pre_session_token(&jar, &app.web);
    verify_token(&expected, &form.csrf_token)?;
    let device = cookies::device_token(&jar, &app.web);
    match app.services.accounts.sign_in(&form.login, &form.password, device.as_deref(), &client).await {
        Ok(SignIn::Done { session, .. }) => {
            end_previous_session(&app, &jar, &client).await?;
            let jar = cookies::signed_in(jar, session.token, &app.web);
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Ok(SignIn::NeedsCode { token, pending }) => {
            let jar = cookies::pending_sign_in(jar, token, &app.web);
            Ok((jar, render(&CodeStepPage::new(&app, pending.csrf_token, None))?).into_response())
        }
        Err(CoreError::InvalidCredentials) => {
            let page = LoginPage { menu: None, csrf_token: expected, login: form.login, error: Some(INVALID) };
            render(&page)
        }
        Err(CoreError::AccountLocked) => {
            let page = LoginPage { menu: None, csrf_token: expected, login: form.login, error: Some(LOCKED) };
            render(&page)
        }
        Err(e) => Err(e.into()),
    }
}

/// The code form again while a sign-in is pending, else the sign-in page.
pub async fn get_login_mfa(State(app): State<AppState>, jar: CookieJar) -> Result<Response, WebError> {
    let Some(token) = cookies::pending_token(&jar, &app.web) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match app.services.mfa.pending_sign_in(&token).await {
        Ok(pending) => render(&CodeStepPage::new(&app, pending.csrf_token, None)),
        Err(CoreError::Unauthenticated) => {
            Ok((cookies::pending_over(jar, &app.web), Redirect::to("/login")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The code form as posted. No `Debug`: it holds a code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// "Don't ask for a code on this browser", when ticked.
    #[serde(default)]
    trust_device: Option<String>,
}

/// The second step: a right code signs in; a wrong one shows the form again;
/// a pending sign-in that died sends the person back to the password.
pub async fn post_login_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    WebForm(form): WebForm<CodeForm>,
) -> Result<Response, WebError> {
    let Some(token) = cookies::pending_token(&jar, &app.web) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let pending = match app.services.mfa.pending_sign_in(&token).await {
        Ok(pending) => pending,
        Err(CoreError::Unauthenticated) => return start_again(&app, jar),
        Err(e) => return Err(e.into()),
    };
    verify_token(&pending.csrf_token, &form.csrf_token)?;
    match app.services.mfa.complete_sign_in(&token, &form.code, &client).await {
        Ok((user, session)) => {
            end_previous_session(&app, &jar, &client).await?;
            let mut jar = cookies::signed_in(jar, session.token, &app.web);
            if form.trust_device.is_some() {
                // The sign-in stands even if the trust cannot be saved.
                match app.services.mfa.trust_device(user.id, &client).await {
                    Ok(Some(token)) => {
                        if let Some(lasts) = app.services.mfa.trust_devices_for() {
                            jar = cookies::trusted_device(jar, token, lasts, &app.web);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(user_id = %user.id, error = %e, "could not trust the browser"),
                }
            }
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Err(CoreError::AccountLocked) => {
            let (jar, csrf_token) = cookies::pre_session_token(cookies::pending_over(jar, &app.web), &app.web);
            let page = LoginPage { menu: None, csrf_token, login: String::new(), error: Some(LOCKED) };
            Ok((jar, render(&page)?).into_response())
        }
        Err(CoreError::InvalidCode) => match app.services.mfa.pending_sign_in(&token).await {
            Ok(pending) => render(&CodeStepPage::new(&app, pending.csrf_token, Some(WRONG_CODE))),
            Err(_) => start_again(&app, jar),
        },
        Err(CoreError::Unauthenticated) => start_again(&app, jar),
        Err(e) => Err(e.into()),
    }
}

/// The sign-in page with a word on why, the dead pending sign-in forgotten.
fn start_again(app: &AppState, jar: CookieJar) -> Result<Response, WebError> {
    let (jar, csrf_token) = cookies::pre_session_token(cookies::pending_over(jar, &app.web), &app.web);
    let page = LoginPage { menu: None, csrf_token, login: String::new(), error: Some(START_AGAIN) };
    Ok((jar, render(&page)?).into_response())
}

/// The Logout button: ends the session server-side and returns to the sign-in page.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the session; 303 to `/login`.
pub async fn post_logout(
    State(app): State<AppState>,
    Client(client): Client,
    current: CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<LogoutForm>,
) -> Result<Response, WebError> {
    verify_token(&current.session.csrf_token, &form.csrf_token)?;
    app.services.sessions.end(&current.session, &client).await?;
    Ok((cookies::signed_out(jar, &app.web), Redirect::to("/login")).into_response())
}
