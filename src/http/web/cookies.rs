//! The cookies the pages set: the session, the pre-session CSRF token for
//! the sign-in and sign-up forms, and the two that outlive a browser session:
//! a trusted browser's (skips the code) and a known client's (lets the
//! owner through a stranger's password throttling).

use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use latchkey_core::token::random_token;
use latchkey_core::{KnownClient, SignedIn};

use crate::http::WebSettings;

/// The domain a cookie is set for: the session's is `cookie_domain` when
/// one is configured (forward authentication reads it on every protected
/// subdomain); every other cookie stays this host's.
fn domain<'a>(base: &'static str, web: &'a WebSettings) -> Option<&'a str> {
    (base == SESSION).then_some(web.cookie_domain.as_deref()).flatten()
}

fn name(base: &'static str, web: &WebSettings) -> String {
    match (web.secure_cookies(), domain(base, web)) {
        (false, _) => base.to_string(),
        // A `__Host-` cookie cannot carry a domain.
        (true, Some(_)) => format!("__Secure-{base}"),
        (true, None) => format!("__Host-{base}"),
    }
}

/// `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain` (but see [`domain`]);
/// `Secure` (and the `__Host-` prefix) when the public URL is https. No
/// `Max-Age`: the server decides when a session ends, the browser forgets
/// it when closed.
fn build(base: &'static str, value: String, web: &WebSettings) -> Cookie<'static> {
    let mut cookie = Cookie::build((name(base, web), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(web.secure_cookies())
        .build();
    if let Some(domain) = domain(base, web) {
        cookie.set_domain(domain.to_string());
    }
    cookie
}

fn removal(base: &'static str, web: &WebSettings) -> Cookie<'static> {
    let mut cookie = build(base, String::new(), web);
    cookie.make_removal();
    cookie
}

const SESSION: &str = "latchkey_session";
const CSRF: &str = "latchkey_csrf";
const PENDING: &str = "latchkey_mfa";
const DEVICE: &str = "latchkey_device";
const KNOWN: &str = "latchkey_known";

/// The session token the browser holds, if any.
pub fn session_token(jar: &CookieJar, web: &WebSettings) -> Option<String> {
    jar.get(&name(SESSION, web)).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// Sets the session cookie (and the trusted-device cookie when the sign-in
/// trusted this browser) and drops the pre-session token and any pending
/// sign-in, which must not outlive the sign-in they served.
pub fn signed_in(jar: CookieJar, signed_in: SignedIn, web: &WebSettings) -> CookieJar {
    let jar = jar.add(build(SESSION, signed_in.session.token, web)).add(removal(CSRF, web)).add(removal(PENDING, web));
    match signed_in.device {
        Some(device) => trusted_device(jar, device.token, device.lasts, web),
        None => jar,
    }
}

/// Holds the opaque id of a sign-in waiting for its code (never the password or code).
pub fn pending_sign_in(jar: CookieJar, token: String, web: &WebSettings) -> CookieJar {
    jar.add(build(PENDING, token, web))
}

/// The pending sign-in this browser holds, if any.
pub fn pending_token(jar: &CookieJar, web: &WebSettings) -> Option<String> {
    jar.get(&name(PENDING, web)).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// Forgets a pending sign-in that died.
pub fn pending_over(jar: CookieJar, web: &WebSettings) -> CookieJar {
    jar.add(removal(PENDING, web))
}

/// Forgets the session.
pub fn signed_out(jar: CookieJar, web: &WebSettings) -> CookieJar {
    jar.add(removal(SESSION, web))
}

/// The pre-session CSRF token of this browser, set now if it has none.
pub fn pre_session_token(jar: CookieJar, web: &WebSettings) -> (CookieJar, String) {
    match jar.get(&name(CSRF, web)).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) {
        Some(token) => (jar, token),
        None => {
            let token = random_token();
            (jar.add(build(CSRF, token.clone(), web)), token)
        }
    }
}

/// The pre-session token the browser sent back, if any (never made here: a
/// POST without one is a forgery or an expired form).
pub fn sent_pre_session_token(jar: &CookieJar, web: &WebSettings) -> String {
    jar.get(&name(CSRF, web)).map(|c| c.value().to_string()).unwrap_or_default()
}

/// The trusted-device token this browser holds, if any.
pub fn device_token(jar: &CookieJar, web: &WebSettings) -> Option<String> {
    jar.get(&name(DEVICE, web)).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// Keeps a trusted-device token for as long as the trust lasts.
fn trusted_device(jar: CookieJar, token: String, lasts: time::Duration, web: &WebSettings) -> CookieJar {
    jar.add(lasting(DEVICE, token, lasts, web))
}

/// A cookie that outlives the browser session by `lasts`.
fn lasting(base: &'static str, token: String, lasts: time::Duration, web: &WebSettings) -> Cookie<'static> {
    let mut cookie = build(base, token, web);
    cookie.set_max_age(lasts);
    cookie
}

/// The known-client token this browser holds, if any.
pub fn known_client_token(jar: &CookieJar, web: &WebSettings) -> Option<String> {
    jar.get(&name(KNOWN, web)).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// Keeps the known-client token of the account whose password was just
/// right (one per browser: the last account signed in to).
pub fn known_client(jar: CookieJar, known: KnownClient, web: &WebSettings) -> CookieJar {
    jar.add(lasting(KNOWN, known.token, known.lasts, web))
}
