//! HTTP errors: the contract's JSON error shape for the API, error pages for the web.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_core::{CoreError, FieldErrors, StoreError};
use serde_json::json;
use uuid::Uuid;

/// Logs an unexpected failure with a fresh reference id and returns the id,
/// which the client sees instead of any internal detail.
fn log_internal(cause: &dyn std::fmt::Display) -> Uuid {
    let reference = Uuid::new_v4();
    tracing::error!(%reference, cause = %cause, "request failed");
    reference
}

/// An error answer of the JSON API: `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape.
    BadRequest(String),
    /// 422: fields out of their rules.
    Validation(FieldErrors),
    /// 401: wrong login or password.
    InvalidCredentials,
    /// 401: a wrong, expired or already used code.
    InvalidCode,
    /// 401 `invalid_code`: the new authenticator's code is wrong.
    InvalidNewCode,
    /// 401 `invalid_code`: a code from this many seconds away (a clock that is off).
    ClockOff(i64),
    /// 403: the right password for an account an operator locked.
    AccountLocked,
    /// 401: no valid token.
    Unauthenticated,
    /// 404, saying what is missing.
    NotFound(String),
    /// 405.
    MethodNotAllowed,
    /// 409: a unique value is taken.
    Conflict(String),
    /// 413: the body is over 64 KiB.
    TooLarge,
    /// 429: too many attempts; retry after this many seconds.
    RateLimited(u64),
    /// 503: the store or the password hasher cannot take the request now.
    Unavailable,
    /// 500: a bug; logged with a reference id.
    Internal(Uuid),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, "bad_request", why.clone()),
            ApiError::Validation(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "Some fields do not meet the rules.".into())
            }
            ApiError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "invalid_credentials", "Invalid login or password.".into())
            }
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "A valid bearer token is required: it is missing, unknown, expired or revoked.".into(),
            ),
            ApiError::InvalidCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "The code is wrong, expired or already used. Codes change every 30 seconds: try the current one."
                    .into(),
            ),
            ApiError::InvalidNewCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "The code of the new authenticator is wrong or expired: enter the one it shows now.".into(),
            ),
            ApiError::ClockOff(seconds) => (StatusCode::UNAUTHORIZED, "invalid_code", clock_off_message(*seconds)),
            ApiError::AccountLocked => (
                StatusCode::FORBIDDEN,
                "account_locked",
                "This account is locked. Contact the support team to unlock it.".into(),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what.clone()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.".into())
            }
            ApiError::Conflict(why) => (StatusCode::CONFLICT, "conflict", why.clone()),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("The request body is over the limit of {} KiB.", super::BODY_LIMIT / 1024),
            ),
            ApiError::RateLimited(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many attempts. Try again in {seconds} seconds."),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service cannot take this request right now; try again shortly.".into(),
            ),
            ApiError::Internal(reference) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                format!("Something went wrong on our side (reference {reference})."),
            ),
        }
    }
}

/// What to say about a code from another time: the device's clock is off.
pub fn clock_off_message(seconds: i64) -> String {
    let (amount, way) = (seconds.unsigned_abs(), if seconds > 0 { "ahead" } else { "behind" });
    let amount = if amount >= 120 { format!("{} minutes", amount / 60) } else { format!("{amount} seconds") };
    format!(
        "That code is the one for about {amount} {way} of now: the clock of your phone is off. \
         Set it to set the time automatically, then enter the code shown now."
    )
}

/// The message a conflict on `field` shows.
pub fn conflict_message(field: &str) -> String {
    format!("That {field} is already taken.")
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(fields) => ApiError::Validation(fields),
            CoreError::Conflict(field) => ApiError::Conflict(conflict_message(field)),
            CoreError::InvalidCredentials => ApiError::InvalidCredentials,
            CoreError::Unauthenticated => ApiError::Unauthenticated,
            CoreError::InvalidCode => ApiError::InvalidCode,
            CoreError::InvalidNewCode => ApiError::InvalidNewCode,
            CoreError::AccountLocked => ApiError::AccountLocked,
            CoreError::ClockOff { seconds } => ApiError::ClockOff(seconds),
            CoreError::MfaAlreadyOn => ApiError::Conflict("Multi-factor authentication is already on.".into()),
            CoreError::MfaMissing(what) => ApiError::NotFound(what.into()),
            CoreError::Refused(why) => ApiError::Conflict(why.into()),
            CoreError::NotFound => ApiError::NotFound("Nothing here.".into()),
            CoreError::Busy => ApiError::Unavailable,
            CoreError::RateLimited { retry_after } => ApiError::RateLimited(retry_after),
            CoreError::Store(StoreError::Unavailable(cause)) => {
                log_internal(&cause);
                ApiError::Unavailable
            }
            other => ApiError::Internal(log_internal(&other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut error = json!({ "code": code, "message": message });
        if let ApiError::Validation(fields) = &self {
            error["fields"] = json!(fields);
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::RateLimited(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

/// An error of the web pages. Rendered as a page by [`crate::http::web::render_error_pages`],
/// which knows the support contact; this type only carries what went wrong.
#[derive(Debug, Clone)]
pub enum WebError {
    /// 403: the form's CSRF token is missing or wrong, or it came from another site.
    Csrf,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 413: the form is over 64 KiB.
    TooLarge,
    /// 429: too many attempts; retry after this many seconds.
    RateLimited(u64),
    /// 503: try again shortly.
    Unavailable,
    /// 500: a bug; logged with a reference id.
    Internal(Uuid),
}

/// What an error page shows; put in the response's extensions for the renderer.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// Heading.
    pub title: &'static str,
    /// What happened and what to do next.
    pub message: String,
}

impl WebError {
    fn parts(&self) -> (StatusCode, ErrorPage) {
        let page = |title, message: &str| ErrorPage { title, message: message.to_string() };
        match self {
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                page(
                    "This form has expired",
                    "The form was sent without a valid security token, or from another site. Go back, reload the page and try again.",
                ),
            ),
            WebError::NotFound => {
                (StatusCode::NOT_FOUND, page("Page not found", "There is no page at this address."))
            }
            WebError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                page("Not here", "This address does not take that kind of request. Use the links and buttons on the pages."),
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                page("Form too large", "The form you sent is larger than this service accepts."),
            ),
            WebError::RateLimited(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorPage {
                    title: "Too many attempts",
                    message: format!(
                        "Too many wrong attempts, so this account is taking a pause. Try again in {}.",
                        wait_in_words(*seconds)
                    ),
                },
            ),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                page("Busy right now", "The service cannot take your request at the moment. Please try again in a few seconds."),
            ),
            WebError::Internal(reference) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorPage {
                    title: "Something went wrong",
                    message: format!("Something went wrong on our side. If it keeps happening, mention reference {reference}."),
                },
            ),
        }
    }
}

/// "45 seconds", "3 minutes", "1 hour".
fn wait_in_words(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    match seconds {
        0..=90 => plural(seconds.max(1), "second"),
        91..=5400 => plural(seconds.div_ceil(60), "minute"),
        _ => plural(seconds.div_ceil(3600), "hour"),
    }
}

impl From<CoreError> for WebError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Busy => WebError::Unavailable,
            CoreError::RateLimited { retry_after } => WebError::RateLimited(retry_after),
            CoreError::NotFound => WebError::NotFound,
            CoreError::Store(StoreError::Unavailable(cause)) => {
                log_internal(&cause);
                WebError::Unavailable
            }
            other => WebError::Internal(log_internal(&other)),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(log_internal(&e))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, page) = self.parts();
        let mut response = status.into_response();
        if let WebError::RateLimited(seconds) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(page);
        response
    }
}
