//! Forward authentication: a reverse proxy asks, for each request to an
//! application it protects, whether the request may pass and as whom.
//! `/auth/forward` speaks Traefik's `forwardAuth` and Caddy's
//! `forward_auth` (`X-Forwarded-*`), `/auth/request` nginx's `auth_request`
//! (`X-Original-*`). The headers describing the request are believed only
//! from `trusted_proxies`. A signed-in browser costs one store read (the
//! session with its user and groups); the rules are decided in memory.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, LOCATION, PROXY_AUTHORIZATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use axum_extra::extract::CookieJar;
use latchkey_core::access::app_tokens::{self, Scope};
use latchkey_core::access::rules::{fold_host, AmbiguousPath, Outcome, Request, Visitor};
use latchkey_core::{ClientInfo, CoreError, User};
use url::Url;

use super::error::ApiError;
use super::extract::{bearer, Client};
use super::web::{cookies, Refusal};
use super::AppState;

/// The two endpoints.
pub fn router() -> Router<AppState> {
    Router::new().route("/auth/forward", get(get_forward)).route("/auth/request", get(get_request))
}

/// The request the proxy asks about.
struct Original {
    method: String,
    url: Url,
    /// The path as the proxy sent it, before a URL parser resolves `%2e%2e`
    /// (which the application behind may not): what the rules read.
    raw_path: String,
}

/// Which proxy dialect a request speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Traefik and Caddy: `X-Forwarded-Method/Proto/Host/Uri`; a browser
    /// that must sign in is redirected by us.
    Forwarded,
    /// nginx: `X-Original-URL/Method`; nginx turns a 401 into the redirect.
    Original,
}

/// `GET /auth/forward` (Traefik, Caddy).
async fn get_forward(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Client(client): Client,
    headers: HeaderMap,
) -> Response {
    decide(&app, peer, &client, &headers, Dialect::Forwarded).await
}

/// `GET /auth/request` (nginx).
async fn get_request(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Client(client): Client,
    headers: HeaderMap,
) -> Response {
    decide(&app, peer, &client, &headers, Dialect::Original).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The original request, from the headers of the proxy's dialect. Every
/// part is required: a proxy that leaves one out is misconfigured, and
/// guessing (a method of GET, say) would let a `methods` rule decide for
/// a request it was not written for.
fn original(headers: &HeaderMap, dialect: Dialect) -> Result<Original, &'static str> {
    let (method, url, uri) = match dialect {
        Dialect::Forwarded => {
            let host = header(headers, "x-forwarded-host").ok_or("X-Forwarded-Host is missing")?;
            // Only a host and a port: no room for a second authority
            // (`admin.example.com:@status.example.com`) or a path.
            if !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) {
                return Err("X-Forwarded-Host must be a host name and an optional port");
            }
            let proto = header(headers, "x-forwarded-proto").ok_or("X-Forwarded-Proto is missing")?;
            if !matches!(proto, "http" | "https") {
                return Err("X-Forwarded-Proto must be http or https");
            }
            let uri = header(headers, "x-forwarded-uri").ok_or("X-Forwarded-Uri is missing")?;
            if !uri.starts_with('/') || uri.starts_with("//") {
                return Err("X-Forwarded-Uri must be a path");
            }
            let url = Url::parse(&format!("{proto}://{host}{uri}")).map_err(|_| "the forwarded URL does not parse")?;
            (header(headers, "x-forwarded-method").ok_or("X-Forwarded-Method is missing")?, url, uri)
        }
        Dialect::Original => {
            let raw = header(headers, "x-original-url").ok_or("X-Original-URL is missing")?;
            let url = Url::parse(raw).map_err(|_| "X-Original-URL is not an absolute URL")?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err("X-Original-URL must be an http or https URL");
            }
            let after_authority = raw.split_once("://").map_or("", |(_, rest)| rest);
            let uri = after_authority.find('/').map_or("/", |at| &after_authority[at..]);
            (header(headers, "x-original-method").ok_or("X-Original-Method is missing")?, url, uri)
        }
    };
    // A URL with a user part names its host after the `@`: which host the
    // proxy routed by cannot be told, so it is refused.
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the forwarded URL must not hold a user name or password");
    }
    let method = method.to_ascii_uppercase();
    if url.host_str().is_none() || !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err("the forwarded request has no host or a malformed method");
    }
    let raw_path = uri.split(['?', '#']).next().unwrap_or(uri).to_string();
    Ok(Original { method, url, raw_path })
}

async fn decide(
    app: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    client: &ClientInfo,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Response {
    let trusted = peer.is_some_and(|Extension(ConnectInfo(addr))| app.web.is_trusted_proxy(addr.ip().to_canonical()));
    if !trusted {
        return ApiError::BadRequest(
            "Forward authentication answers only the reverse proxies listed in trusted_proxies.".into(),
        )
        .into_response();
    }
    let original = match original(headers, dialect) {
        Ok(original) => original,
        Err(why) => return ApiError::BadRequest(format!("{why}.")).into_response(),
    };
    let host = original.url.host_str().unwrap_or_default();
    let client_ip = client.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok());
    // Checked before the store is asked anything.
    let Ok(request) = Request::new(host, &original.raw_path, &original.method, client_ip) else {
        return ApiError::BadRequest(format!("The forwarded path is refused: {AmbiguousPath}.")).into_response();
    };
    let signed_in = match who(app, headers, host, client).await {
        Ok(signed_in) => signed_in,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let visitor = match &signed_in {
        None => Visitor::Anonymous,
        Some((user, second_factor)) => {
            Visitor::SignedIn { groups: &user.groups, mfa_enabled: user.mfa_enabled, second_factor: *second_factor }
        }
    };
    let decision = app.web.access.decide(&request, visitor);
    tracing::debug!(
        host,
        method = %original.method,
        rule = decision.rule.map(|r| r + 1),
        policy = decision.policy.as_str(),
        outcome = ?decision.outcome,
        "forward authentication"
    );
    match decision.outcome {
        Outcome::Allow => allowed(signed_in.as_ref().map(|(user, _)| user)),
        Outcome::SignIn => sign_in(app, &original.url, headers, dialect),
        Outcome::Deny => refused(app, Refusal::Denied, &original.url),
        Outcome::SetUpMfa => refused(app, Refusal::SetUpMfa, &original.url),
        Outcome::SignInWithSecondFactor => refused(app, Refusal::SecondFactor, &original.url),
    }
}

/// Who asks, and whether a second factor stands behind it: an app token
/// with the `proxy` scope (for scripts and apps, as `Authorization` or
/// `Proxy-Authorization: Bearer lk_…`), else the browser's session cookie.
/// A store that cannot answer is an error, never "nobody".
async fn who(
    app: &AppState,
    headers: &HeaderMap,
    host: &str,
    client: &ClientInfo,
) -> Result<Option<(User, bool)>, CoreError> {
    let app_token = [AUTHORIZATION, PROXY_AUTHORIZATION]
        .into_iter()
        .filter_map(|name| bearer(headers, name))
        .find(|token| token.starts_with(app_tokens::PREFIX));
    if let Some(token) = app_token {
        let host = fold_host(host);
        return match app.services.app_tokens.authenticate(token, Scope::Proxy, Some(&host), client).await {
            Ok((record, user)) => Ok(Some((user, record.two_factor))),
            Err(CoreError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        };
    }
    let jar = CookieJar::from_headers(headers);
    let Some(token) = cookies::session_token(&jar, &app.web) else { return Ok(None) };
    match app.services.sessions.authenticate(&token).await {
        Ok((session, user)) => Ok(Some((user, session.passed_second_factor()))),
        Err(CoreError::Unauthenticated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// 200, naming the user to the application. A visitor let through by a
/// `bypass` rule is named by empty headers: a proxy that copies them
/// (Caddy's `copy_headers`, Traefik's `authResponseHeaders`) then
/// overwrites whatever the client sent under those names, and Caddy 2.6,
/// which writes its unfilled placeholder for a header that is missing,
/// has nothing to fill in.
fn allowed(user: Option<&User>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let groups = user.map(|u| u.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(","));
    let values = [
        ("remote-user", user.map(|u| u.username.as_str())),
        ("remote-email", user.map(|u| u.email.as_str())),
        ("remote-name", user.map(|u| u.username.as_str())),
        ("remote-groups", groups.as_deref()),
    ];
    let headers = response.headers_mut();
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_bytes(value.unwrap_or_default().as_bytes()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// Not signed in: 401, or for a browser asking through `/auth/forward` a
/// 302 to the sign-in page with the way back. nginx cannot encode a URL
/// itself, so its 401 names the same sign-in page in `Location` for its
/// `error_page 401 =302 $upstream_http_location` to follow.
fn sign_in(app: &AppState, url: &Url, headers: &HeaderMap, dialect: Dialect) -> Response {
    let Some(login) = sign_in_page(app, url) else { return ApiError::Unauthenticated.into_response() };
    let browser = header(headers, ACCEPT.as_str()).is_some_and(|accept| accept.contains("text/html"));
    match dialect {
        Dialect::Forwarded if browser => (StatusCode::FOUND, [(LOCATION, login)]).into_response(),
        Dialect::Forwarded => ApiError::Unauthenticated.into_response(),
        Dialect::Original => {
            let mut response = ApiError::Unauthenticated.into_response();
            response.headers_mut().insert(LOCATION, login);
            response
        }
    }
}

/// `PUBLIC_URL/login?rd=URL`, the URL encoded once.
fn sign_in_page(app: &AppState, url: &Url) -> Option<HeaderValue> {
    let mut login = Url::parse(app.web.origin()).and_then(|base| base.join("/login")).ok()?;
    login.query_pairs_mut().append_pair("rd", url.as_str());
    HeaderValue::from_str(login.as_str()).ok()
}

fn refused(app: &AppState, why: Refusal, url: &Url) -> Response {
    match super::web::access_refused(app, why, url) {
        Ok(page) => page,
        Err(e) => e.into_response(),
    }
}
