//! The HTTP layer: pages under `/`, the JSON API under `/api/v1`, and the
//! pieces they share (state, errors, the auth boundary, CSRF).

pub mod api;
pub mod authz;
pub mod csrf;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod headers;
pub mod metrics;
pub mod oidc;
mod process_metrics;
pub mod return_to;
pub mod web;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use latchkey_core::access::rules::AccessRules;
use latchkey_core::Services;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::PublicUrl;

/// The largest request body accepted: 64 KiB; more is answered 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the web layer needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The URL people use.
    pub public_url: PublicUrl,
    /// Where people get help (a URL or a `mailto:` link).
    pub support_contact: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// The domain the session cookie is set for (one sign-in for every
    /// subdomain behind forward authentication); `None`: this host only.
    pub cookie_domain: Option<String>,
    /// Forward authentication's rules.
    pub access: AccessRules,
    /// The Content-Security-Policy every answer carries, made once from the
    /// settings above ([`headers::content_security_policy`]).
    pub csp: axum::http::HeaderValue,
}

impl WebSettings {
    /// Settings for unit tests: a local public URL, nothing else set.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        WebSettings {
            public_url: PublicUrl::parse("http://127.0.0.1:8080").expect("a valid URL"),
            support_contact: None,
            trusted_proxies: Vec::new(),
            request_timeout: Duration::from_secs(30),
            cookie_domain: None,
            access: AccessRules::new(Vec::new(), latchkey_core::access::rules::Policy::Deny),
            csp: headers::content_security_policy(None, false),
        }
    }

    /// Whether a peer is a reverse proxy whose `X-Forwarded-For` is believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.contains(&peer)
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.is_https()
    }

    /// The origin a same-origin browser request names in `Origin`.
    pub fn origin(&self) -> &str {
        self.public_url.origin()
    }

    /// Where people get help (a URL or a `mailto:` link).
    pub fn support_contact(&self) -> Option<&str> {
        self.support_contact.as_deref()
    }
}

/// Shared by every handler: the services and the web settings. No globals, so
/// a test can run many isolated servers in one process. Every field is one
/// `Arc`: axum clones the state for each request, and cloning the services'
/// dozens of `Arc`s took 15% of the CPU of `GET /me` (perf, bench/run).
#[derive(Clone)]
pub struct AppState {
    /// The core services.
    pub services: Arc<Services>,
    /// Deployment settings for the pages.
    pub web: Arc<WebSettings>,
    /// Request latencies for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The API's description, made once at start.
    pub openapi: Arc<str>,
}

impl AppState {
    /// Builds the state.
    pub fn new(services: Services, web: WebSettings) -> Self {
        let openapi = api::document(services.accounts.password_policy().min_length).into();
        AppState { services: Arc::new(services), web: Arc::new(web), metrics: Arc::default(), openapi }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::health::get_healthz))
        // Compressed where the client asks (gzip, brotli): the API (its
        // credentials travel in a header no other site can make a browser
        // send, so compression cannot leak them, as BREACH does with pages),
        // /metrics and the static files; never the pages, which carry the
        // session's CSRF token next to what a visitor typed.
        .route("/metrics", get(metrics::get_metrics).layer(CompressionLayer::new()))
        .nest("/api/v1", api::router().layer(CompressionLayer::new()))
        .merge(authz::router())
        .merge(oidc::router())
        .merge(web::router(state.clone()))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::measure))
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline::deadline))
        // Outside the deadline, so a page that ran out of time is still a page.
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::render_error_pages))
        .layer(axum::middleware::from_fn_with_state(state.clone(), headers::security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Every request gets an id (or keeps a proxy's), in its log lines and in the answer.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(keep_only_a_safe_request_id))
        .with_state(state)
}

/// The longest `X-Request-Id` kept from a client or proxy.
const REQUEST_ID_MAX: usize = 64;

/// Middleware: a client's `X-Request-Id` is echoed in the answer and written
/// into every log line of the request, so it is kept only when it is a short
/// token of safe characters (`A-Z a-z 0-9 - _ . :`); anything else is
/// dropped and a fresh id made in its place.
async fn keep_only_a_safe_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let safe = |id: &[u8]| {
        (1..=REQUEST_ID_MAX).contains(&id.len())
            && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    let ids = request.headers().get_all("x-request-id");
    if ids.iter().count() > 1 || ids.iter().any(|id| !safe(id.as_bytes())) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// The span every log line of a request is in: method, path and request id
/// (never the query string, which could hold something private).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}
