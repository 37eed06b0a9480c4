//! Extractors: the auth boundary (who is calling) and body parsing that answers
//! in the API's error shape.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use axum_extra::extract::CookieJar;
use latchkey_core::access::app_tokens::{self, Scope};
use latchkey_core::{ClientInfo, Session, User};
use serde::de::DeserializeOwned;

use super::error::{ApiError, WebError};
use super::web::cookies;
use super::{AppState, WebSettings};

/// A JSON body; any failure to read it is an API error (400, 413 or 415).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match <Json<T> as FromRequest<S>>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// An optional JSON body: none at all (no `Content-Type`) is `None`; one
/// that is sent must be JSON of the expected shape, as for [`ApiJson`].
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <Json<T> as OptionalFromRequest<S>>::from_request(req, state).await {
            Ok(body) => Ok(body.map(|Json(value)| ApiJson(value))),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest(format!("The JSON does not have the expected shape: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("The body is not valid JSON.".into()),
        _ => ApiError::BadRequest("The body could not be read.".into()),
    }
}

/// The caller's address and user agent, as recorded with sessions and events
/// and as throttling counts them.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let ip = peer.map(|peer| client_address(peer, &parts.headers, &state.web));
        let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(Client(ClientInfo::new(ip.map(|ip| ip.to_string()), user_agent)))
    }
}

/// The socket's peer, unless it is a trusted proxy: then the nearest address
/// in `X-Forwarded-For` that is not itself a trusted proxy (the rightmost
/// entries were added by our proxies; anything further left the client wrote).
fn client_address(peer: IpAddr, headers: &HeaderMap, web: &WebSettings) -> IpAddr {
    let peer = peer.to_canonical();
    if !web.is_trusted_proxy(peer) {
        return peer;
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.into_iter().rev() {
        // A hop that does not parse ends the walk: what stands left of it
        // cannot be told apart from what the client wrote.
        let Ok(hop) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            return peer;
        };
        if !web.is_trusted_proxy(hop) {
            return hop;
        }
    }
    peer
}

/// An API caller holding a valid bearer token.
pub struct ApiUser {
    /// Who is calling.
    pub user: User,
    /// The session the token belongs to.
    pub session: Session,
}

/// The token of an `Authorization: Bearer TOKEN` header (or of another
/// header of that form, such as `Proxy-Authorization`).
pub fn bearer(headers: &HeaderMap, header: axum::http::HeaderName) -> Option<&str> {
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    /// Only a session: an app token never opens the account's own settings
    /// (403 `session_required`, so a script's author learns why).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers, AUTHORIZATION).ok_or(ApiError::Unauthenticated)?;
        if token.starts_with(app_tokens::PREFIX) {
            return Err(ApiError::SessionRequired);
        }
        let (session, user) = state.services.sessions.authenticate(token).await?;
        Ok(ApiUser { user, session })
    }
}

/// An API caller who may only read: a session, or an app token with the
/// `api` scope.
pub struct ApiReader {
    /// Who is calling.
    pub user: User,
}

impl FromRequestParts<AppState> for ApiReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers, AUTHORIZATION).ok_or(ApiError::Unauthenticated)?.to_string();
        if !token.starts_with(app_tokens::PREFIX) {
            let (_, user) = state.services.sessions.authenticate(&token).await?;
            return Ok(ApiReader { user });
        }
        let Client(client) = Client::from_request_parts(parts, state).await.unwrap_or_else(|never| match never {});
        let (_, user) = state.services.app_tokens.authenticate(&token, Scope::Api, None, &client).await?;
        Ok(ApiReader { user })
    }
}

/// A signed-in browser: a session cookie with a live session behind it.
/// Anything else is sent to the sign-in page.
pub struct CurrentUser {
    /// Who is signed in.
    pub user: User,
    /// Their session (its CSRF token goes into every form).
    pub session: Session,
}

impl FromRequestParts<AppState> for CurrentUser {
    /// No live session is [`WebError::SignInRequired`]: a 303 to the sign-in page.
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        // A page asked for (GET) is where the sign-in comes back to; the
        // dashboard is where it goes anyway.
        let sign_in = || match (&parts.method, parts.uri.path_and_query()) {
            (&axum::http::Method::GET, Some(asked)) if asked.path() != "/dashboard" => {
                WebError::SignInThenReturnTo(asked.to_string())
            }
            _ => WebError::SignInRequired,
        };
        let token = cookies::session_token(&jar, &state.web).ok_or_else(sign_in)?;
        match state.services.sessions.authenticate(&token).await {
            Ok((session, user)) => Ok(CurrentUser { user, session }),
            Err(latchkey_core::CoreError::Unauthenticated) => Err(sign_in()),
            Err(e) => Err(e.into()),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(WebError::SignInRequired | WebError::SignInThenReturnTo(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
