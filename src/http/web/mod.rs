//! The server-rendered pages (sign-up, sign-in, the code step, MFA, security). Every flow works without
//! JavaScript; the stylesheet and icon ship inside the binary.

mod access;
mod account;
pub mod assets;
mod authenticators;
mod authorize;
mod confirm;
pub mod cookies;
mod dashboard;
mod end_session;
mod forms;
mod login;
mod mfa;
mod passkeys;
mod password;
mod password_reset;
mod security;
mod signup;
pub mod words;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::CookieJar;
use latchkey_core::Session;
use tower_http::compression::CompressionLayer;

pub use access::{access_refused, Refusal};

use super::error::{ErrorPage, WebError};
use super::{csrf, extract, AppState};

/// The pages' routes, with the cross-site refusal in front of every POST.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::get_index))
        .route("/signup", get(signup::get_signup).post(signup::post_signup))
        .route("/login", get(login::get_login).post(login::post_login))
        .route("/login/mfa", get(login::get_login_mfa).post(login::post_login_mfa))
        .route("/login/mfa/passkey/options", post(passkeys::post_second_step_options))
        .route("/login/passkey", post(passkeys::post_sign_in))
        .route("/login/passkey/options", post(passkeys::post_sign_in_options))
        .route("/logout", post(login::post_logout))
        .route("/dashboard", get(dashboard::get_dashboard))
        .route("/account/confirm", get(confirm::get_confirm).post(confirm::post_confirm))
        .route("/account/mfa", get(mfa::get_mfa))
        .route("/account/mfa/confirm", post(mfa::post_confirm))
        .route("/account/mfa/disable", post(mfa::post_disable))
        .route("/account/mfa/recovery-codes", post(mfa::post_recovery_codes))
        .route("/account/mfa/authenticators", post(authenticators::post_add))
        .route("/account/mfa/authenticators/new", get(authenticators::get_new))
        .route("/account/mfa/authenticators/{id}/remove", post(authenticators::post_remove))
        .route("/account/mfa/passkeys", post(passkeys::post_add))
        .route("/account/mfa/passkeys/options", post(passkeys::post_add_options))
        .route("/account/mfa/passkeys/{id}/rename", post(passkeys::post_rename))
        .route("/account/mfa/passkeys/{id}/remove", post(passkeys::post_remove))
        .route("/oauth2/authorize", get(authorize::get_authorize).post(authorize::post_authorize))
        .route("/oauth2/logout", get(end_session::get_logout).post(end_session::post_logout))
        .route("/account/password", get(password::get_password).post(password::post_password))
        .route("/account/email", get(account::get_email).post(account::post_email))
        .route("/account/email/verification", post(account::post_verification))
        .route("/email/verify", get(account::get_verify).post(account::post_verify))
        .route("/account/delete", get(account::get_delete).post(account::post_delete))
        .route("/account/export", post(account::post_export))
        .route("/password/forgot", get(password_reset::get_forgot).post(password_reset::post_forgot))
        .route("/password/reset", get(password_reset::get_reset).post(password_reset::post_reset))
        .route("/.well-known/change-password", get(password::get_well_known))
        .route("/account/security", get(security::get_security))
        .route("/account/security/sessions/revoke", post(security::post_revoke))
        .route("/account/security/sessions/revoke-others", post(security::post_revoke_others))
        .route("/account/security/replay-alarm", post(security::post_replay_alarm))
        .route("/account/security/devices/forget", post(security::post_forget_device))
        .route("/account/security/tokens", post(security::post_new_token))
        .route("/account/security/tokens/revoke", post(security::post_revoke_token))
        .route("/account/security/apps/disconnect", post(security::post_disconnect_app))
        .route("/static/{file}", get(assets::get_static).layer(CompressionLayer::new()))
        .route("/favicon.ico", get(assets::get_favicon))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { WebError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state, csrf::refuse_cross_site))
}

/// No such page; but a page's path typed with a trailing slash (`/login/`)
/// is sent on to the path without it (308, the query kept).
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if matches!(method, axum::http::Method::GET | axum::http::Method::HEAD) {
        if let Some(path) = without_trailing_slash(uri.path()) {
            let to = match uri.query() {
                Some(query) => format!("{path}?{query}"),
                None => path.to_string(),
            };
            return axum::response::Redirect::permanent(&to).into_response();
        }
    }
    WebError::NotFound.into_response()
}

/// `path` without its trailing slashes, when that is still a path of this
/// origin: never `//host` or anything with a backslash, which a browser
/// would read as another site.
fn without_trailing_slash(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    let of_this_origin = trimmed.starts_with('/') && !trimmed.starts_with("//") && !trimmed.contains('\\');
    (trimmed.len() < path.len() && of_this_origin).then_some(trimmed)
}

/// The "Hello, USERNAME" menu in the top bar of signed-in pages.
pub struct Menu {
    username: String,
    csrf_token: String,
}

impl Menu {
    /// The menu for a signed-in user's session.
    pub fn new(username: &str, session: &Session) -> Self {
        Menu { username: username.to_string(), csrf_token: session.csrf_token.clone() }
    }
}

/// An instant as the pages show it: short, unambiguous in any locale, UTC
/// ("1 Dec 2026, 21:34 UTC"), and never broken across lines.
pub(super) fn when(t: time::OffsetDateTime) -> String {
    let short = time::macros::format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute] UTC");
    // No-break spaces: a date in a narrow column stays on one line.
    t.format(short).unwrap_or_default().replace(' ', "\u{a0}")
}

/// The menu of the signed-in user's pages.
pub(super) fn menu(user: &latchkey_core::User, current: &extract::CurrentUser) -> Menu {
    Menu::new(user.username.as_str(), &current.session)
}

/// Renders a page (200: a form shown again with its errors is a page too).
fn render(page: &impl Template) -> Result<Response, WebError> {
    Ok(Html(page.render()?).into_response())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    menu: Option<Menu>,
    title: &'a str,
    message: &'a str,
    support: Option<&'a str>,
}

/// Middleware: turns a [`WebError`] (an empty response carrying an
/// [`ErrorPage`]) into a page that says what happened and where to get help.
pub async fn render_error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let Some(page) = response.extensions().get::<ErrorPage>().cloned() else {
        return response;
    };
    let template =
        ErrorTemplate { menu: None, title: page.title, message: &page.message, support: state.web.support_contact() };
    match template.render() {
        Ok(html) => {
            // Keep the error's own headers (Retry-After, cookies): replace only the body.
            let (mut parts, _) = response.into_parts();
            parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            Response::from_parts(parts, Body::from(html))
        }
        Err(_) => response,
    }
}

/// A 400 error page.
fn bad_request(message: &str) -> WebError {
    WebError::Refused(axum::http::StatusCode::BAD_REQUEST, message.to_string())
}

/// The request a raw query holds, or a 400 page saying `malformed`. For
/// requests whose fields are all strings, so only a malformed query fails.
fn parsed_query<T: serde::de::DeserializeOwned>(query: &str, malformed: &str) -> Result<T, WebError> {
    let uri: axum::http::Uri = format!("/?{query}").parse().map_err(|_| bad_request(malformed))?;
    axum::extract::Query::<T>::try_from_uri(&uri).map(|q| q.0).map_err(|_| bad_request(malformed))
}

/// A form for people who are not signed in (sign-in, sign-up): someone who
/// is goes on to `signed_in_to`; anyone else gets the page, built around
/// the browser's pre-session CSRF token (set now if it has none).
fn signed_out_form<T: Template>(
    app: &AppState,
    current: Option<extract::CurrentUser>,
    jar: CookieJar,
    signed_in_to: &str,
    page: impl FnOnce(String) -> T,
) -> Result<Response, WebError> {
    if current.is_some() {
        return Ok(axum::response::Redirect::to(signed_in_to).into_response());
    }
    let (jar, token) = cookies::pre_session_token(jar, &app.web);
    Ok((jar, render(&page(token))?).into_response())
}
