//! The only way a page handler reads a form: each extractor here checks the
//! form's CSRF token against the token it must match before the handler runs.
//! The plain form reader is private to this module, and clippy refuses
//! `axum::Form` anywhere else (clippy.toml), so a state-changing handler
//! without the check does not pass the build. The cross-site refusal
//! ([`crate::http::csrf::refuse_cross_site`]) stands in front of all of them.

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
#[allow(clippy::disallowed_types)] // See `read_form`.
use axum::Form as PlainForm;
use axum_extra::extract::CookieJar;
use latchkey_core::CoreError;
use serde::de::DeserializeOwned;

use super::cookies;
use crate::http::csrf::verify_token;
use crate::http::error::WebError;
use crate::http::extract::CurrentUser;
use crate::http::AppState;

/// A form that carries the hidden `csrf_token` field.
pub trait CsrfForm: DeserializeOwned + Send {
    /// The token the form was sent with.
    fn csrf_token(&self) -> &str;
}

/// A URL-encoded body. Every form is CSRF-protected, so one that cannot be
/// read cannot carry a valid token: a 403, like a missing token. A form over
/// the limit is a 413.
#[allow(clippy::disallowed_types)] // The one place a form is read: every caller checks its token.
async fn read_form<T: DeserializeOwned>(request: Request, state: &AppState) -> Result<T, WebError> {
    match PlainForm::<T>::from_request(request, state).await {
        Ok(PlainForm(value)) => Ok(value),
        Err(rejection) => Err(form_rejection(&rejection)),
    }
}

fn form_rejection(rejection: &FormRejection) -> WebError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge
    } else {
        WebError::Csrf
    }
}

/// A signed-in user's form, its token checked against the session's.
pub struct UserForm<T> {
    /// Who sent it.
    pub current: CurrentUser,
    /// The form.
    pub form: T,
}

impl<T: CsrfForm> FromRequest<AppState> for UserForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let current = CurrentUser::from_request_parts(&mut parts, state).await?;
        let form: T = read_form(Request::from_parts(parts, body), state).await?;
        verify_token(&current.session.csrf_token, form.csrf_token())?;
        Ok(UserForm { current, form })
    }
}

/// A form of someone not signed in (sign-in, sign-up), its token checked
/// against the browser's pre-session cookie.
pub struct GuestForm<T> {
    /// The browser's cookies.
    pub jar: CookieJar,
    /// The pre-session token, for the form shown again.
    pub csrf_token: String,
    /// The form.
    pub form: T,
}

impl<T: CsrfForm> FromRequest<AppState> for GuestForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let csrf_token = cookies::sent_pre_session_token(&jar, &state.web);
        let form: T = read_form(request, state).await?;
        verify_token(&csrf_token, form.csrf_token())?;
        Ok(GuestForm { jar, csrf_token, form })
    }
}

/// The code step's form, read against the sign-in this browser has pending.
pub enum CodeStep<T> {
    /// No pending sign-in cookie: back to the password.
    Missing,
    /// It died (five wrong codes, or five minutes); the form was not read.
    Over,
    /// Alive, and the form's token matched the pending sign-in's own (there
    /// is no session yet to hold one).
    Live {
        /// The cookie's token naming the pending sign-in.
        token: String,
        /// The form.
        form: T,
    },
}

/// [`CodeStep`] with the browser's cookies.
pub struct CodeStepForm<T> {
    /// The browser's cookies.
    pub jar: CookieJar,
    /// What is pending, and the form if anything is.
    pub step: CodeStep<T>,
}

impl<T: CsrfForm> FromRequest<AppState> for CodeStepForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let Some(token) = cookies::pending_token(&jar, &state.web) else {
            return Ok(CodeStepForm { jar, step: CodeStep::Missing });
        };
        let pending = match state.services.mfa.pending_sign_in(&token).await {
            Ok(pending) => pending,
            Err(CoreError::Unauthenticated) => return Ok(CodeStepForm { jar, step: CodeStep::Over }),
            Err(e) => return Err(e.into()),
        };
        let form: T = read_form(request, state).await?;
        verify_token(&pending.csrf_token, form.csrf_token())?;
        Ok(CodeStepForm { jar, step: CodeStep::Live { token, form } })
    }
}

/// Implements [`CsrfForm`] for forms whose token field is `csrf_token`.
macro_rules! csrf_forms {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::http::web::forms::CsrfForm for $form {
            fn csrf_token(&self) -> &str {
                &self.csrf_token
            }
        })+
    };
}
pub(super) use csrf_forms;
