//! `GET /me/events`: the caller's security events, newest first.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::ApiUser;
use crate::http::AppState;

/// 200 `{"events": [{"kind", "at", "ip", "user_agent"}…]}`.
pub async fn get_events(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Value>, ApiError> {
    let events = app.services.events.list(caller.user.id).await?;
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({"kind": e.kind.as_str(), "at": rfc3339(e.at), "ip": e.client.ip, "user_agent": e.client.user_agent}))
        .collect();
    Ok(Json(json!({ "events": events })))
}
