//! The OpenID Connect provider's machine endpoints (contract section 9):
//! discovery, the key set, the token endpoint, userinfo, revocation and
//! introspection. The authorize and logout endpoints are page flows, in
//! [`super::web`]; the rules are
//! [`latchkey_core::oidc`]'s.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use latchkey_core::oidc::authorize::SCOPES;
use latchkey_core::oidc::keys::KEY_SET_CACHED_FOR;
use latchkey_core::oidc::tokens::{refuse, ClientAuth, TokenError};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use super::error::ApiError;
use super::extract::{bearer, Client};
use super::AppState;

/// The provider's routes. Browser applications (a single-page app with
/// PKCE) call them from their own origin, so they answer any origin (CORS):
/// none of them reads a cookie, each needs a code, a token or a secret in
/// the request, which a page of another site would have to hold already.
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600));
    Router::new()
        .route("/.well-known/openid-configuration", get(get_discovery))
        .route("/oauth2/jwks", get(get_jwks))
        .route("/oauth2/token", post(post_token))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/revoke", post(post_revoke))
        .route("/oauth2/introspect", post(post_introspect))
        .layer(cors)
}

/// `GET /oauth2/jwks`: the public signing keys (RFC 7517), retired ones
/// included while tokens they signed may still be checked. Cacheable for
/// five minutes, so a rotation reaches relying parties soon.
async fn get_jwks(State(app): State<AppState>) -> Result<Response, ApiError> {
    let keys = app.services.oidc.key_set().await?;
    let cached = format!("public, max-age={}", KEY_SET_CACHED_FOR.whole_seconds());
    Ok(([(CACHE_CONTROL, cached)], Json(keys)).into_response())
}

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0):
/// what this provider serves, and nothing it does not serve yet.
async fn get_discovery(State(app): State<AppState>) -> Response {
    let issuer = app.services.oidc.issuer();
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr",
            "preferred_username", "name", "email", "email_verified", "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": ["mfa", "pwd"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    ([(CACHE_CONTROL, "public, max-age=300")], Json(document)).into_response()
}

/// An RFC 6749 section 5.2 error answer.
fn token_error(refused: TokenError) -> Response {
    let status = if refused.error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let body = json!({"error": refused.error, "error_description": refused.description});
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"latchkey\""));
    }
    response
}

fn invalid_request(description: &'static str) -> Response {
    token_error(refuse("invalid_request", description))
}

/// `client_secret_basic`: `Authorization: Basic` of the form-encoded id and
/// secret (RFC 6749 2.3.1). `None`: no Basic header; `Some(None)`: a
/// malformed one (answered `invalid_client`).
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(AUTHORIZATION)?;
    let (_, encoded) = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))?;
    let unescape =
        |part: &str| url::form_urlencoded::parse(format!("x={part}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok());
    let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
    Some(pair.and_then(|(id, secret)| Some((unescape(id)?, unescape(secret)?))))
}

/// A client's request to the token, revocation or introspection endpoint:
/// the form, read by hand so a malformed one is an RFC 6749 error and not a
/// framework's, and the client's credentials.
struct ClientRequest {
    form: std::collections::HashMap<String, String>,
    basic: Option<(String, String)>,
}

impl<S: Send + Sync> FromRequest<S> for ClientRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        ClientRequest::read(&headers, &body).map_err(token_error)
    }
}

impl ClientRequest {
    fn read(headers: &HeaderMap, body: &[u8]) -> Result<Self, TokenError> {
        let mut form = std::collections::HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if form.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err(refuse("invalid_request", "A parameter is repeated."));
            }
        }
        let basic = match basic_credentials(headers) {
            Some(None) => {
                return Err(refuse("invalid_client", "The Basic credentials are malformed."));
            }
            Some(Some(credentials)) => Some(credentials),
            None => None,
        };
        Ok(ClientRequest { form, basic })
    }

    /// A field, when sent and not empty.
    fn field(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// How the client proves itself (RFC 6749 2.3.1): Basic, the form, or
    /// its id alone; two ways at once, or two different ids, are refused.
    fn auth(&self) -> Result<ClientAuth<'_>, TokenError> {
        Ok(match (&self.basic, self.field("client_id"), self.field("client_secret")) {
            (Some(_), _, Some(_)) => {
                return Err(refuse("invalid_request", "Send the client's secret one way, not two."))
            }
            (Some((id, secret)), None, None) => ClientAuth::Secret { id, secret },
            (Some((id, secret)), Some(named), None) if named == id => ClientAuth::Secret { id, secret },
            (Some(_), Some(_), None) => {
                return Err(refuse("invalid_request", "The client_id differs from the credentials."))
            }
            (None, Some(id), Some(secret)) => ClientAuth::Secret { id, secret },
            (None, Some(id), None) => ClientAuth::None { id },
            (None, None, _) => {
                return Err(refuse("invalid_request", "The client is not named (client_id or Basic credentials)."))
            }
        })
    }
}

/// `POST /oauth2/token`: a code or a refresh token for tokens.
async fn post_token(
    State(app): State<AppState>,
    Client(from): Client,
    request: ClientRequest,
) -> Result<Response, ApiError> {
    let grant_type = request.field("grant_type");
    if !matches!(grant_type, Some("authorization_code" | "refresh_token")) {
        return Ok(token_error(refuse(
            "unsupported_grant_type",
            "Only grant_type=authorization_code and refresh_token are served.",
        )));
    }
    let auth = match request.auth() {
        Ok(auth) => auth,
        Err(refused) => return Ok(token_error(refused)),
    };
    let field = |name: &str| request.field(name);
    let oidc = &app.services.oidc;
    let issued = if grant_type == Some("refresh_token") {
        let Some(refresh_token) = field("refresh_token") else {
            return Ok(invalid_request("refresh_token is required."));
        };
        oidc.refresh(auth, refresh_token, &from).await?
    } else {
        let (Some(code), Some(redirect_uri)) = (field("code"), field("redirect_uri")) else {
            return Ok(invalid_request("code and redirect_uri are required."));
        };
        oidc.exchange_code(auth, code, redirect_uri, field("code_verifier"), &from).await?
    };
    let tokens = match issued {
        Ok(tokens) => tokens,
        Err(refused) => return Ok(token_error(refused)),
    };
    let mut answer = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "id_token": tokens.id_token,
        "scope": tokens.scope,
    });
    if let Some(refresh_token) = tokens.refresh_token {
        answer["refresh_token"] = json!(refresh_token);
    }
    Ok(([(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")], Json(answer)).into_response())
}

/// The token a revocation or introspection request is about, and how its
/// client proves itself.
fn about_token(request: &ClientRequest) -> Result<(ClientAuth<'_>, &str), TokenError> {
    let auth = request.auth()?;
    let token = request.field("token").ok_or_else(|| refuse("invalid_request", "token is required."))?;
    Ok((auth, token))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 with an empty body, whether the
/// token was live or not (section 2.2).
async fn post_revoke(
    State(app): State<AppState>,
    Client(from): Client,
    request: ClientRequest,
) -> Result<Response, ApiError> {
    let (auth, token) = match about_token(&request) {
        Ok(about) => about,
        Err(refused) => return Ok(token_error(refused)),
    };
    Ok(match app.services.oidc.revoke(auth, token, &from).await? {
        Ok(()) => ([(CACHE_CONTROL, "no-store")], StatusCode::OK).into_response(),
        Err(refused) => token_error(refused),
    })
}

/// `POST /oauth2/introspect` (RFC 7662), for confidential clients.
async fn post_introspect(State(app): State<AppState>, request: ClientRequest) -> Result<Response, ApiError> {
    let (auth, token) = match about_token(&request) {
        Ok(about) => about,
        Err(refused) => return Ok(token_error(refused)),
    };
    Ok(match app.services.oidc.introspect(auth, token).await? {
        Ok(answer) => ([(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")], Json(answer)).into_response(),
        Err(refused) => token_error(refused),
    })
}

/// `GET`/`POST /oauth2/userinfo`: the claims of the access token's scopes.
async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = bearer(&headers, AUTHORIZATION);
    let claims = match token {
        Some(token) => app.services.oidc.userinfo(token).await?,
        None => None,
    };
    Ok(match claims {
        Some(claims) => Json(claims).into_response(),
        None => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            // RFC 6750 3.1: an error code only when a token was sent.
            let challenge = if token.is_some() {
                HeaderValue::from_static("Bearer realm=\"latchkey\", error=\"invalid_token\"")
            } else {
                HeaderValue::from_static("Bearer realm=\"latchkey\"")
            };
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            response
        }
    })
}
