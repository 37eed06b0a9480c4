//! The OpenID Connect provider's endpoints (contract section 9). So far the
//! key set relying parties check ID token signatures with; the flows build
//! on the keys and clients of [`latchkey_core::oidc`].

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::AppState;

/// The provider's routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/oauth2/jwks", get(get_jwks))
}

/// `GET /oauth2/jwks`: the public signing keys (RFC 7517), retired ones
/// included while tokens they signed may still be checked. Cacheable for
/// five minutes, so a rotation reaches relying parties soon.
async fn get_jwks(State(app): State<AppState>) -> Result<Response, ApiError> {
    let keys = app.services.oidc.key_set().await?;
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(keys)).into_response())
}
