//! The page forward authentication shows a signed-in user it refuses: what
//! stands between the user and the application, and what to do about it.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{render, Menu};
use crate::http::error::WebError;
use crate::http::{return_to, AppState};
use url::Url;

/// Why a signed-in user is refused.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// No rule lets this user in.
    Denied,
    /// The rule needs MFA and the account has none.
    SetUpMfa,
    /// The rule needs a second factor this session's sign-in did not pass.
    SecondFactor,
}

#[derive(Template)]
#[template(path = "access_refused.html")]
struct RefusedPage<'a> {
    menu: Option<Menu>,
    title: &'static str,
    message: &'static str,
    /// The link that helps; absolute, as the page is shown on the
    /// application's host.
    action: Option<(String, &'static str)>,
    application: &'a str,
    support: Option<&'a str>,
}

/// 403 with the page for `why`; `asked` is the URL the user asked for.
pub fn access_refused(app: &AppState, why: Refusal, asked: &Url) -> Result<Response, WebError> {
    let origin = app.web.origin();
    let application = asked.host_str().unwrap_or_default();
    // Setting MFA up leads back to the application when it may be followed.
    let mut set_up = Url::parse(origin).and_then(|base| base.join("/account/mfa")).map_err(|e| {
        WebError::from(latchkey_core::CoreError::Internal(format!("the public URL does not join: {e}")))
    })?;
    if return_to::checked(asked.as_str(), &app.web).is_some() {
        set_up.query_pairs_mut().append_pair("rd", asked.as_str());
    }
    let (title, message, action) = match why {
        Refusal::Denied => ("Access denied", "Your account is not allowed to open this application.", None),
        Refusal::SetUpMfa => (
            "Multi-Factor Authentication needed",
            "This application asks for a second step at sign-in. Set up Multi-Factor Authentication for your \
             account; the last step leads back to the application.",
            Some((set_up.to_string(), "Set up Multi-Factor Authentication")),
        ),
        Refusal::SecondFactor => (
            "Sign in with your second step",
            "This application asks for a second step at sign-in, and this session was signed in with the \
             password alone. Log out, then sign in again with your authentication code.",
            Some((format!("{origin}/dashboard"), "Go to your account")),
        ),
    };
    let support = app.web.support_contact();
    let page = RefusedPage { menu: None, title, message, action, application, support };
    Ok((StatusCode::FORBIDDEN, render(&page)?).into_response())
}
