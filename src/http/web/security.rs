//! `/account/security`: the user's sessions (each revocable) and recent security events.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use latchkey_core::{CoreError, EventKind, EventRecord, Session, SessionId, TrustedDeviceId};
use serde::Deserialize;
use time::macros::format_description;
use time::OffsetDateTime;

use super::forms::{csrf_forms, UserForm};
use super::{render, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

/// One session as the page lists it.
struct SessionRow {
    id: String,
    current: bool,
    device: String,
    ip: String,
    created_at: String,
    last_seen_at: String,
}

/// One trusted browser as the page lists it.
struct DeviceRow {
    id: String,
    device: String,
    ip: String,
    trusted_at: String,
    until: String,
}

/// One event as the page lists it.
struct EventRow {
    what: &'static str,
    at: String,
    ip: String,
    device: String,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    menu: Option<Menu>,
    csrf_token: String,
    notice: Option<String>,
    sessions: Vec<SessionRow>,
    devices: Vec<DeviceRow>,
    events: Vec<EventRow>,
}

pub(super) fn when(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute]")).unwrap_or_default()
}

/// What an event kind means, in the page's words: a new kind does not
/// compile until it has them.
fn describe(kind: EventKind) -> &'static str {
    match kind {
        EventKind::SignedIn => "Signed in",
        EventKind::SignInFailed => "Wrong password",
        EventKind::SignedOut => "Logged out",
        EventKind::SessionRevoked => "Session signed out from elsewhere",
        EventKind::MfaEnrolmentStarted => "Multi-Factor Authentication setup started",
        EventKind::MfaEnabled => "Multi-Factor Authentication turned on",
        EventKind::MfaDisabled => "Multi-Factor Authentication turned off",
        EventKind::WrongCode => "Wrong authentication code",
        EventKind::CodeReplayed => "An already used code was tried again",
        EventKind::RecoveryCodeUsed => "Recovery code used",
        EventKind::RecoveryCodesRegenerated => "New recovery codes made",
        EventKind::Lockout => "Too many wrong attempts: paused",
        EventKind::MfaLocked => "Authentication codes locked after 100 wrong attempts",
        EventKind::MfaResetByOperator => "Multi-Factor Authentication reset by the support team",
        EventKind::AccountLocked => "Account locked by the support team",
        EventKind::AccountUnlocked => "Account unlocked by the support team",
        EventKind::ReplayAlarmCleared => "Other sessions signed out after the used-code alarm",
        EventKind::DeviceTrusted => "A browser was trusted to skip the code",
        EventKind::AuthenticatorAdded => "Authenticator added",
        EventKind::AuthenticatorRemoved => "Authenticator removed",
        EventKind::GroupMemberAdded => "Added to a group by the support team",
        EventKind::GroupMemberRemoved => "Removed from a group by the support team",
        EventKind::AppTokenCreated => "App token made",
        EventKind::AppTokenUsedFromNewAddress => "App token used from a new address",
        EventKind::AppTokenRevoked => "App token revoked",
    }
}

fn session_row(session: &Session, current: &Session) -> SessionRow {
    SessionRow {
        id: session.id.to_string(),
        current: session.id == current.id,
        device: session.client.device_name(),
        ip: session.client.ip.clone().unwrap_or_else(|| "unknown address".into()),
        created_at: when(session.created_at),
        last_seen_at: when(session.last_seen_at),
    }
}

fn event_row(event: &EventRecord) -> EventRow {
    EventRow {
        what: describe(event.kind),
        at: when(event.at),
        ip: event.client.ip.clone().unwrap_or_default(),
        device: event.client.device_name(),
    }
}

async fn page(app: &AppState, current: &CurrentUser, notice: Option<String>) -> Result<Response, WebError> {
    let sessions = app.services.sessions.list(current.user.id).await?;
    let events = app.services.events.list(current.user.id).await?;
    let devices = app.services.mfa.trusted_devices(current.user.id).await?;
    let page = SecurityPage {
        menu: Some(Menu::new(current.user.username.as_str(), &current.session)),
        csrf_token: current.session.csrf_token.clone(),
        notice,
        sessions: sessions.iter().map(|s| session_row(s, &current.session)).collect(),
        devices: devices
            .iter()
            .map(|d| DeviceRow {
                id: d.id.to_string(),
                device: d.client.device_name(),
                ip: d.client.ip.clone().unwrap_or_else(|| "unknown address".into()),
                trusted_at: when(d.created_at),
                until: when(d.expires_at),
            })
            .collect(),
        events: events.iter().map(event_row).collect(),
    };
    render(&page)
}

/// The page.
pub async fn get_security(State(app): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    page(&app, &current, None).await
}

/// A session's "Sign out" button.
#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    session_id: String,
}

/// Ends one of the user's other sessions.
pub async fn post_revoke(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<RevokeForm>,
) -> Result<Response, WebError> {
    let notice = match app.services.sessions.revoke(current.user.id, &SessionId::from(form.session_id), &client).await {
        Ok(()) => "That session is signed out.",
        Err(CoreError::NotFound) => "That session had already ended.",
        Err(e) => return Err(e.into()),
    };
    page(&app, &current, Some(notice.into())).await
}

/// "Sign out everywhere else".
#[derive(Deserialize)]
pub struct RevokeOthersForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends every session but this one.
pub async fn post_revoke_others(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, .. }: UserForm<RevokeOthersForm>,
) -> Result<Response, WebError> {
    let ended = app.services.sessions.revoke_others(current.user.id, &current.session.id, &client).await?;
    let notice = match ended {
        1 => "1 other session is signed out.".to_string(),
        n => format!("{n} other sessions are signed out."),
    };
    page(&app, &current, Some(notice)).await
}

/// The dashboard's used-code alarm button: signs out every other session and
/// clears the alarm.
pub async fn post_replay_alarm(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, .. }: UserForm<RevokeOthersForm>,
) -> Result<Response, WebError> {
    let ended = app.services.sessions.clear_replay_alarm(current.user.id, &current.session.id, &client).await?;
    let notice =
        format!("Done: {ended} other session(s) signed out. If you did not enter that code, tell our Support Team.");
    page(&app, &current, Some(notice)).await
}

/// A trusted browser's "Forget" button.
#[derive(Deserialize)]
pub struct ForgetDeviceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    device_id: String,
}

/// Forgets a trusted browser: signing in there asks for a code again.
pub async fn post_forget_device(
    State(app): State<AppState>,
    UserForm { current, form }: UserForm<ForgetDeviceForm>,
) -> Result<Response, WebError> {
    let notice = match app.services.mfa.forget_device(current.user.id, &TrustedDeviceId::from(form.device_id)).await {
        Ok(()) => "That browser will be asked for a code again.",
        Err(CoreError::NotFound) => "That browser was already forgotten.",
        Err(e) => return Err(e.into()),
    };
    page(&app, &current, Some(notice.into())).await
}

csrf_forms!(RevokeForm, RevokeOthersForm, ForgetDeviceForm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_has_words_of_its_own() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(describe(kind)), "{kind:?} says the same as another kind");
        }
    }
}
