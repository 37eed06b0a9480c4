//! `GET /me/events`: the caller's security events, newest first.

use axum::extract::State;
use axum::Json;
use latchkey_core::EventRecord;
use serde::Serialize;
use utoipa::ToSchema;

use super::rfc3339;
use crate::http::error::ApiError;
use crate::http::extract::ApiUser;
use crate::http::AppState;

/// One security event.
#[derive(Serialize, ToSchema)]
pub struct EventJson {
    /// What happened (`signed_in`, `code_replayed`, …).
    kind: &'static str,
    #[schema(format = DateTime)]
    at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// `{"events": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct Events {
    events: Vec<EventJson>,
}

/// The caller's security events, newest first.
#[utoipa::path(get, path = "/me/events", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "At most the 100 newest", body = Events),
    (status = 401, description = "No valid token"),
))]
pub async fn get_events(State(app): State<AppState>, caller: ApiUser) -> Result<Json<Events>, ApiError> {
    let events = app.services.events.list(caller.user.id).await?;
    Ok(Json(Events { events: events.into_iter().map(EventJson::from).collect() }))
}

impl From<EventRecord> for EventJson {
    fn from(e: EventRecord) -> Self {
        EventJson { kind: e.kind.as_str(), at: rfc3339(e.at), ip: e.client.ip, user_agent: e.client.user_agent }
    }
}
