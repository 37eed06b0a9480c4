//! Security headers on every answer: no sniffing, no framing, no caching of
//! anything but the static assets, a strict Content-Security-Policy, no
//! powerful browser features, and no loading by other sites.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Only our own files: no inline script or style, no plugins, no framing, and
/// forms post only to us. Inline SVG (the QR code) needs no exception: it is
/// drawn with presentation attributes, not `style`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Made once at start (see [`super::WebSettings::csp`]).
///
/// With a `cookie_domain`: browsers hold a form's redirects to
/// `form-action` too, and the sign-in's last answer sends the browser on to
/// the protected application (`rd`, a host under the domain, any port,
/// which `rd`'s own check narrows).
pub fn content_security_policy(cookie_domain: Option<&str>, https: bool) -> HeaderValue {
    let scheme = if https { "https" } else { "http" };
    let with_forms = cookie_domain.and_then(|domain| {
        let targets = format!("{scheme}://{domain}:* {scheme}://*.{domain}:* https://{domain}:* https://*.{domain}:*");
        HeaderValue::from_str(&CSP.replace("form-action 'self'", &format!("form-action 'self' {targets}"))).ok()
    });
    with_forms.unwrap_or(HeaderValue::from_static(CSP))
}

/// Origins a page's forms may end at besides this service, which a handler
/// puts on its answer: browsers hold a form's redirects to `form-action`
/// too, and a sign-in or consent for an OpenID Connect client ends with a
/// redirect to the client. Each is an origin serialised by `url` (no space
/// or `;` can get into the policy).
#[derive(Debug, Clone)]
pub struct FormTargets(pub Vec<String>);

/// The policy of an answer: the service's, with its `form-action` widened
/// to the answer's [`FormTargets`].
fn policy_for(base: &HeaderValue, targets: Option<&FormTargets>) -> HeaderValue {
    let Some(FormTargets(origins)) = targets.filter(|t| !t.0.is_empty()) else { return base.clone() };
    let Ok(text) = base.to_str() else { return base.clone() };
    let widened = text.replacen("form-action 'self'", &format!("form-action 'self' {}", origins.join(" ")), 1);
    HeaderValue::from_str(&widened).unwrap_or_else(|_| base.clone())
}

/// Powerful browser features: the pages use none but WebAuthn (passkeys),
/// which only they may; the rest is refused to them and to anything they
/// could embed.
const PERMISSIONS: &str = "accelerometer=(), bluetooth=(), camera=(), display-capture=(), geolocation=(), \
                           gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), \
                           publickey-credentials-create=(self), publickey-credentials-get=(self), serial=(), \
                           usb=()";

/// Middleware: adds the headers after the handler ran.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/") || request.uri().path() == "/favicon.ico";
    let link_page = ["/password/reset", "/email/verify"].iter().any(|page| request.uri().path().starts_with(page));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A mailed link's page holds its token in the URL: no Referer at all there.
    let referrer = if link_page { "no-referrer" } else { "same-origin" };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let policy = policy_for(&state.web.csp, response.extensions().get::<FormTargets>());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert("permissions-policy", HeaderValue::from_static(PERMISSIONS));
    // Nothing is cached unless its handler says how (static files, the key set).
    if !is_static && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.web.secure_cookies() {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}
