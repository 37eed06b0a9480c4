//! `GET /healthz`: 200 while the store answers, 503 when it does not (in the
//! API's error shape, with the status kept for simple probes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::http::AppState;

/// Probes the store.
pub async fn get_healthz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    if app.services.store_is_healthy().await {
        (StatusCode::OK, Json(json!({ "status": "ok" })))
    } else {
        let error = json!({"code": "unavailable", "message": "The store does not answer."});
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": error })))
    }
}
