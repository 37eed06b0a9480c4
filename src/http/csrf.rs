//! Cross-site request forgery defences for the pages: a synchronizer token in
//! every form, and a refusal of any unsafe request a browser marks as cross-site.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_core::token::secrets_equal;

use super::error::WebError;
use super::AppState;

/// Checks a form's token against the one expected for this browser.
pub fn verify_token(expected: &str, provided: &str) -> Result<(), WebError> {
    if !expected.is_empty() && secrets_equal(expected, provided) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

/// Middleware: a POST (or any unsafe method) that the browser says comes from
/// another site is refused with 403 before any handler runs.
pub async fn refuse_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method().is_safe() || is_same_origin(request.headers(), &state) {
        next.run(request).await
    } else {
        tracing::warn!(origin = ?request.headers().get(ORIGIN), "refused a cross-site form post");
        WebError::Csrf.into_response()
    }
}

/// `Sec-Fetch-Site` (sent by every current browser) must say `same-origin` or
/// `none` (typed by the user). `Origin`, when present, must be ours; `null` —
/// which browsers send for same-origin posts under strict referrer policies —
/// is accepted only when `Sec-Fetch-Site` vouches for it. A request with
/// neither header (not a browser) is left to the token.
fn is_same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
        return false;
    }
    match headers.get(ORIGIN).map(|v| v.to_str().unwrap_or("")) {
        None => true,
        Some("null") => fetch_site == Some("same-origin"),
        Some(origin) => origin == state.web.origin() || is_request_host(origin, headers, state),
    }
}

/// The browser names the origin it posts from and the host it posts to; when
/// they are the same, the post is same-origin even if the service is reached by
/// another name than the public URL (e.g. `localhost` for `127.0.0.1`).
fn is_request_host(origin: &str, headers: &HeaderMap, state: &AppState) -> bool {
    let scheme = if state.web.secure_cookies() { "https" } else { "http" };
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://")) == Some(host))
}
