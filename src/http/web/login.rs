//! `/login` and `/logout`.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::CoreError;
use serde::Deserialize;

use super::{cookies, end_previous_session, render, Menu};
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

/// The sign-in form (or the dashboard, for someone already signed in).
pub async fn get_login(
    State(app): State<AppState>,
    current: Option<CurrentUser>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    if current.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let (jar, csrf_token) = cookies::pre_session_token(jar, &app.web);
    let page = LoginPage { menu: None, csrf_token, login: String::new(), error: None };
    Ok((jar, render(&page)?).into_response())
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
    match app.services.accounts.sign_in(&form.login, &form.password, &client).await {
        Ok(signed_in) => {
            end_previous_session(&app, &jar).await?;
            let jar = cookies::signed_in(jar, signed_in.session.token, &app.web);
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Err(CoreError::InvalidCredentials) => {
            let page = LoginPage { menu: None, csrf_token: expected, login: form.login, error: Some(INVALID) };
            render(&page)
        }
        Err(e) => Err(e.into()),
    }
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
    current: CurrentUser,
    jar: CookieJar,
    WebForm(form): WebForm<LogoutForm>,
) -> Result<Response, WebError> {
    verify_token(&current.session.csrf_token, &form.csrf_token)?;
    match app.services.sessions.revoke(current.user.id, &current.session.id).await {
        Ok(()) | Err(CoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok((cookies::signed_out(jar, &app.web), Redirect::to("/login")).into_response())
}
