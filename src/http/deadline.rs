//! A deadline for every request: a handler stuck on a database that stopped
//! answering gives up and says so in the usual error shape, instead of
//! holding the client and a connection forever.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, WebError};
use super::AppState;

/// Middleware: answers 503 when the handler takes longer than the configured timeout.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    match tokio::time::timeout(state.web.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request ran past its deadline");
            if is_api {
                ApiError::Unavailable.into_response()
            } else {
                WebError::Unavailable.into_response()
            }
        }
    }
}
