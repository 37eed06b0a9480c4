//! HTTP errors: one JSON error shape for the API (`{"error": {"code", "message", "fields"?}}`), error pages for the web.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_core::{CoreError, FieldErrors, Refusal, StoreError};

use super::web::words;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Logs an unexpected failure with a fresh reference id and returns the id,
/// which the client sees instead of any internal detail.
fn log_internal(cause: &dyn std::fmt::Display) -> Uuid {
    let reference = Uuid::new_v4();
    tracing::error!(%reference, cause = %cause, "request failed");
    reference
}

/// The `code` of an API error: one name per kind of answer, as clients match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400.
    BadRequest,
    /// 422.
    ValidationFailed,
    /// 401, at sign-in.
    InvalidCredentials,
    /// 401, for a code.
    InvalidCode,
    /// 401, for a passkey's answer.
    InvalidPasskey,
    /// 400, for a password reset link that is dead.
    InvalidToken,
    /// 409: passkeys cannot work with this public URL (an IP address).
    WebauthnUnavailable,
    /// 401, for a token.
    Unauthenticated,
    /// 403.
    AccountLocked,
    /// 403: the right sign-in for an account whose address is not verified
    /// yet, where the service requires it.
    EmailUnverified,
    /// 403: a change to how the account is proven needs a fresh proof.
    ReauthenticationRequired,
    /// 403: an app token was sent where only a signed-in session may act
    /// (the account's own settings).
    SessionRequired,
    /// 403, pages only.
    Csrf,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409.
    Conflict,
    /// 413.
    TooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 429.
    RateLimited,
    /// 503.
    Unavailable,
    /// 500.
    InternalError,
}

/// The body of every API error, as the API description shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(inline)]
    code: ErrorCode,
    /// For people: what happened and what to do.
    message: String,
    /// For a 422: the message of each field out of its rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    fields: Option<FieldErrors>,
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
    /// 401: a passkey's answer that does not verify.
    InvalidPasskey,
    /// 400 `invalid_token`: a password reset link that is unknown, used,
    /// expired or older than the password.
    InvalidResetLink,
    /// 400 `invalid_token`: an email link that is unknown, used, expired,
    /// or for an address the account no longer has.
    InvalidEmailLink,
    /// 403 `email_unverified`: the address must be verified before signing in.
    EmailUnverified,
    /// 409: passkeys cannot work with this public URL.
    WebauthnUnavailable,
    /// 401 `invalid_code`: the new authenticator's code is wrong.
    InvalidNewCode,
    /// 401 `invalid_code`: a code from this many seconds away (a clock that is off).
    ClockOff(i64),
    /// 403: the right password for an account an operator locked.
    AccountLocked,
    /// 401: no valid token.
    Unauthenticated,
    /// 401 `unauthenticated` in the code step: the `mfa_token` is unknown,
    /// expired or used up, so the password step must be done again.
    SignInOver,
    /// 403: the session's proof of the account is too old for this change.
    ReauthenticationRequired,
    /// 403 `reauthentication_required`: the session's sign-in passed no
    /// second factor, which making an app token needs while MFA is on.
    SecondFactorRequired,
    /// 403 `session_required`: an app token on the account's own settings.
    SessionRequired,
    /// 404, saying what is missing.
    NotFound(String),
    /// 405.
    MethodNotAllowed,
    /// 409: a unique value is taken.
    Conflict(String),
    /// 413: the body is over 64 KiB.
    TooLarge,
    /// 415: the body is not sent as `application/json`.
    UnsupportedMediaType,
    /// 429: too many attempts; retry after this many seconds.
    RateLimited(u64),
    /// 503: the store or the password hasher cannot take the request now.
    Unavailable,
    /// 500: a bug; logged with a reference id.
    Internal(Uuid),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        match self {
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, why.clone()),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                "Some fields do not meet the rules.".into(),
            ),
            ApiError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials, "Invalid login or password.".into())
            }
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "A valid bearer token is required: it is missing, unknown, expired or revoked.".into(),
            ),
            ApiError::SignInOver => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "The mfa_token is unknown, expired or used up: sign in with the password again.".into(),
            ),
            ApiError::InvalidCode => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidCode,
                "The code is wrong, expired or already used. Codes change every 30 seconds: try the current one."
                    .into(),
            ),
            ApiError::InvalidPasskey => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidPasskey,
                "The passkey's answer was refused: its challenge is unknown, used or expired, or it does not verify for this site. Start again."
                    .into(),
            ),
            ApiError::InvalidEmailLink => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidToken,
                "The link is unknown, used or expired, or the account's address changed since: ask for a new one."
                    .into(),
            ),
            ApiError::EmailUnverified => (
                StatusCode::FORBIDDEN,
                ErrorCode::EmailUnverified,
                "This account's email address is not verified yet: open the link mailed to it (a sign-in with the password mails a new one), then sign in again."
                    .into(),
            ),
            ApiError::InvalidResetLink => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidToken,
                "The reset link is unknown, used, expired or older than the password: ask for a new one.".into(),
            ),
            ApiError::WebauthnUnavailable => (
                StatusCode::CONFLICT,
                ErrorCode::WebauthnUnavailable,
                "Passkeys need a public URL with a domain name (browsers refuse an IP address); ask the operator to set public_url."
                    .into(),
            ),
            ApiError::InvalidNewCode => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidCode,
                "The code of the new authenticator is wrong or expired: enter the one it shows now.".into(),
            ),
            ApiError::ClockOff(seconds) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCode, clock_off_message(*seconds))
            }
            ApiError::AccountLocked => (
                StatusCode::FORBIDDEN,
                ErrorCode::AccountLocked,
                "This account is locked. Contact the support team to unlock it.".into(),
            ),
            ApiError::ReauthenticationRequired => (
                StatusCode::FORBIDDEN,
                ErrorCode::ReauthenticationRequired,
                "This change needs a fresh proof of the account: send `current_password` (or `code`, a current code, while MFA is on)."
                    .into(),
            ),
            ApiError::SecondFactorRequired => (
                StatusCode::FORBIDDEN,
                ErrorCode::ReauthenticationRequired,
                "This session signed in with the password alone: sign in again with your second factor to make an app token."
                    .into(),
            ),
            ApiError::SessionRequired => (
                StatusCode::FORBIDDEN,
                ErrorCode::SessionRequired,
                "An app token does not open the account's own settings (password, factors, tokens, sessions): sign in."
                    .into(),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, what.clone()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "This method is not allowed here.".into())
            }
            ApiError::Conflict(why) => (StatusCode::CONFLICT, ErrorCode::Conflict, why.clone()),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!("The request body is over the limit of {} KiB.", super::BODY_LIMIT / 1024),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "The body must be JSON, sent with Content-Type: application/json.".into(),
            ),
            ApiError::RateLimited(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("Too many attempts. Try again in {seconds} seconds."),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "The service cannot take this request right now; try again shortly.".into(),
            ),
            ApiError::Internal(reference) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalError,
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

/// A refusal, in the API's words, with the status it answers.
fn refusal(reason: Refusal) -> ApiError {
    let conflict = |why: &str| ApiError::Conflict(why.into());
    match reason {
        Refusal::MfaAlreadyOn => conflict("Multi-factor authentication is already on."),
        Refusal::MfaOff => ApiError::NotFound("Multi-factor authentication is not on; turn it on first.".into()),
        Refusal::NoEnrolment => ApiError::NotFound(
            "No enrolment of this session is in progress (none was started, it expired, or a newer one replaced it); start one first."
                .into(),
        ),
        Refusal::EnrolmentReplaced => ApiError::NotFound(
            "This session's enrolment was replaced: another session of this account started one since (an account has one at a time). Finish it there, or start again here."
                .into(),
        ),
        Refusal::TooManyAuthenticators => {
            conflict("You have as many authenticators as an account may have; remove one first.")
        }
        Refusal::LastAuthenticator => {
            conflict("This is your only authenticator. To remove it, turn multi-factor authentication off.")
        }
        Refusal::AuthenticatorsChanged => {
            conflict("That authenticator cannot be removed now: the authenticators changed meanwhile; list them again.")
        }
        Refusal::MfaTurnedOnMeanwhile => conflict(
            "Multi-factor authentication was turned on for this account during this sign-in; sign in again (a code will be asked for).",
        ),
        Refusal::TooManyAppTokens => conflict("You have as many app tokens as an account may have; revoke one first."),
        Refusal::SecondFactorRequired => ApiError::SecondFactorRequired,
        Refusal::WebauthnUnavailable => ApiError::WebauthnUnavailable,
        Refusal::TooManyPasskeys => conflict("You have as many passkeys as an account may have; remove one first."),
        Refusal::PasskeyRegistered => conflict("This passkey is registered already."),
        Refusal::NoMail => conflict("This service sends no mail, so it cannot send the link: contact support."),
        Refusal::EmailVerifiedAlready => conflict("This account's email address is verified already."),
        Refusal::ClientInConfig => conflict("This client is defined in the config file; remove it there."),
    }
}

/// Every outcome is named: a new [`CoreError`] variant does not compile until
/// someone decides what the API answers.
impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(fields) => ApiError::Validation(fields),
            CoreError::Conflict(field) => ApiError::Conflict(conflict_message(field)),
            CoreError::InvalidCredentials => ApiError::InvalidCredentials,
            CoreError::Unauthenticated => ApiError::Unauthenticated,
            CoreError::ReauthenticationRequired => ApiError::ReauthenticationRequired,
            CoreError::InvalidCode => ApiError::InvalidCode,
            CoreError::InvalidNewCode => ApiError::InvalidNewCode,
            CoreError::InvalidPasskey => ApiError::InvalidPasskey,
            CoreError::InvalidResetLink => ApiError::InvalidResetLink,
            CoreError::InvalidEmailLink => ApiError::InvalidEmailLink,
            CoreError::EmailUnverified => ApiError::EmailUnverified,
            CoreError::AccountLocked => ApiError::AccountLocked,
            CoreError::ClockOff { seconds } => ApiError::ClockOff(seconds),
            CoreError::Refused(reason) => refusal(reason),
            CoreError::NotFound => ApiError::NotFound("Nothing here.".into()),
            CoreError::Busy => ApiError::Unavailable,
            CoreError::RateLimited { retry_after } => ApiError::RateLimited(retry_after),
            CoreError::Store(StoreError::Unavailable(cause)) => {
                log_internal(&cause);
                ApiError::Unavailable
            }
            CoreError::Store(e @ (StoreError::Conflict(_) | StoreError::Corrupt(_))) => {
                ApiError::Internal(log_internal(&e))
            }
            CoreError::Internal(cause) => ApiError::Internal(log_internal(&cause)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let fields = match &self {
            ApiError::Validation(fields) => Some(fields.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code, message, fields } };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 section 11.6.1: every 401 names a scheme to authenticate with.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"latchkey\""));
        }
        match self {
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
    /// An expected refusal that no form of the page shows beside a field:
    /// the status, and what the page says.
    Refused(StatusCode, String),
    /// The session ended meanwhile: 303 to the sign-in page.
    SignInRequired,
    /// No session on a page asked for with GET: 303 to the sign-in page,
    /// which then comes back to this path (and query).
    SignInThenReturnTo(String),
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
    /// The status and the page; `None` for the one error that is a redirect.
    fn parts(&self) -> Option<(StatusCode, ErrorPage)> {
        let page = |title, message: &str| ErrorPage { title, message: message.to_string() };
        Some(match self {
            WebError::SignInRequired | WebError::SignInThenReturnTo(_) => return None,
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
            WebError::Refused(status, message) => {
                (*status, ErrorPage { title: "That did not work", message: message.clone() })
            }
        })
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

/// Every outcome is named: a new [`CoreError`] variant does not compile until
/// someone decides what the pages show. Handlers match the outcomes their
/// form shows beside a field first; what is left becomes a page of its own.
impl From<CoreError> for WebError {
    fn from(e: CoreError) -> Self {
        let refused = |status, message: &str| WebError::Refused(status, message.to_string());
        match e {
            CoreError::Validation(fields) => {
                WebError::Refused(StatusCode::UNPROCESSABLE_ENTITY, fields.into_values().collect::<Vec<_>>().join(" "))
            }
            CoreError::Conflict(field) => WebError::Refused(StatusCode::CONFLICT, conflict_message(field)),
            CoreError::InvalidCredentials => refused(StatusCode::UNAUTHORIZED, words::INVALID_CREDENTIALS),
            CoreError::AccountLocked => refused(StatusCode::FORBIDDEN, words::ACCOUNT_LOCKED),
            CoreError::InvalidCode => refused(StatusCode::UNAUTHORIZED, words::WRONG_CODE),
            CoreError::InvalidNewCode => refused(StatusCode::UNAUTHORIZED, words::WRONG_NEW_CODE),
            CoreError::InvalidPasskey => refused(StatusCode::UNAUTHORIZED, words::PASSKEY_REFUSED),
            CoreError::InvalidResetLink => refused(StatusCode::BAD_REQUEST, words::RESET_LINK_DEAD),
            CoreError::InvalidEmailLink => refused(StatusCode::BAD_REQUEST, words::EMAIL_LINK_DEAD),
            CoreError::EmailUnverified => refused(StatusCode::FORBIDDEN, words::EMAIL_UNVERIFIED),
            CoreError::ClockOff { seconds } => WebError::Refused(StatusCode::UNAUTHORIZED, clock_off_message(seconds)),
            CoreError::Refused(reason) => refused(StatusCode::CONFLICT, words::refusal(reason)),
            CoreError::Unauthenticated => WebError::SignInRequired,
            // Handlers send the browser to /account/confirm first; this is
            // for one that did not.
            CoreError::ReauthenticationRequired => refused(StatusCode::FORBIDDEN, words::CONFIRM_FIRST),
            CoreError::Busy => WebError::Unavailable,
            CoreError::RateLimited { retry_after } => WebError::RateLimited(retry_after),
            CoreError::NotFound => WebError::NotFound,
            CoreError::Store(StoreError::Unavailable(cause)) => {
                log_internal(&cause);
                WebError::Unavailable
            }
            CoreError::Store(e @ (StoreError::Conflict(_) | StoreError::Corrupt(_))) => {
                WebError::Internal(log_internal(&e))
            }
            CoreError::Internal(cause) => WebError::Internal(log_internal(&cause)),
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
        let Some((status, page)) = self.parts() else {
            let to = match &self {
                WebError::SignInThenReturnTo(path) => {
                    let rd: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                    format!("/login?rd={rd}")
                }
                _ => "/login".to_string(),
            };
            return axum::response::Redirect::to(&to).into_response();
        };
        let mut response = status.into_response();
        if let WebError::RateLimited(seconds) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(page);
        response
    }
}
