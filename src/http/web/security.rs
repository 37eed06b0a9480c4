//! `/account/security`: the user's sessions (each revocable) and recent security events.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use latchkey_core::access::app_tokens::NewAppToken;
use latchkey_core::store::AppTokenRecord;
use latchkey_core::{AppTokenId, CoreError, EventKind, EventRecord, Session, SessionId, TrustedDeviceId};
use serde::Deserialize;

use super::confirm::proof_or_confirm;
use super::forms::{csrf_forms, UserForm};
use super::{render, when, words, Menu};
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

/// One connected application as the page lists it.
struct AppRow {
    client_id: String,
    name: String,
    scopes: String,
    granted_at: String,
}

/// One app token as the page lists it.
struct TokenRow {
    id: String,
    name: String,
    scopes: String,
    domains: String,
    created_at: String,
    expires_at: String,
    last_used_at: String,
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
    /// Whether MFA is on: the advice differs.
    mfa_enabled: bool,
    /// Where people get help, if configured.
    support: Option<String>,
    sessions: Vec<SessionRow>,
    devices: Vec<DeviceRow>,
    tokens: Vec<TokenRow>,
    /// The applications signed in to through this account (OpenID Connect).
    apps: Vec<AppRow>,
    /// A token just made, shown this once.
    new_token: Option<String>,
    /// Why a token was not made.
    token_error: Option<String>,
    events: Vec<EventRow>,
}

/// What the page says besides its lists.
#[derive(Default)]
struct Said {
    notice: Option<String>,
    new_token: Option<String>,
    token_error: Option<String>,
}

impl Said {
    fn notice(text: impl Into<String>) -> Self {
        Said { notice: Some(text.into()), ..Said::default() }
    }
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
        EventKind::PasskeyAdded => "Passkey added",
        EventKind::PasskeyRemoved => "Passkey removed",
        EventKind::PasskeyCloneSuspected => "Passkey refused: it may have been copied",
        EventKind::PasswordChanged => "Password changed",
        EventKind::PasswordReset => "Password reset by email",
        EventKind::EmailVerified => "Email address verified",
        EventKind::EmailChangeRequested => "Email address change asked for",
        EventKind::EmailChanged => "Email address changed",
        EventKind::AccountDeleted => "Account deleted",
        EventKind::DataExported => "Account data downloaded",
        EventKind::OidcConsent => "An application was allowed to sign you in",
        EventKind::OidcTokensIssued => "Signed in to an application",
        EventKind::OidcCodeReused => "An application's sign-in code was used twice: its tokens were revoked",
        EventKind::OidcRefreshReused => "An application's refresh token was used twice: its tokens were revoked",
        EventKind::OidcAccessRevoked => "An application's access was ended",
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

fn token_row(token: &AppTokenRecord) -> TokenRow {
    let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
    TokenRow {
        id: token.id.to_string(),
        name: token.name.clone(),
        scopes: scopes.join(", "),
        domains: if token.domains.is_empty() { "any".into() } else { token.domains.join(", ") },
        created_at: when(token.created_at),
        expires_at: token.expires_at.map_or_else(|| "never".into(), when),
        last_used_at: token.last_used_at.map_or_else(|| "never".into(), when),
    }
}

async fn page(app: &AppState, current: &CurrentUser, said: Said) -> Result<Response, WebError> {
    let sessions = app.services.sessions.list(current.user.id).await?;
    let events = app.services.events.list(current.user.id).await?;
    let devices = app.services.mfa.trusted_devices(current.user.id).await?;
    let tokens = app.services.app_tokens.list(&current.user).await?;
    let apps = app.services.oidc.connected_apps(&current.user).await?;
    let page = SecurityPage {
        apps: apps
            .into_iter()
            .map(|a| AppRow {
                client_id: a.client_id,
                name: a.name,
                scopes: a.scopes.join(", "),
                granted_at: when(a.granted_at),
            })
            .collect(),
        menu: Some(Menu::new(current.user.username.as_str(), &current.session)),
        csrf_token: current.session.csrf_token.clone(),
        notice: said.notice,
        mfa_enabled: current.user.mfa_enabled,
        support: app.web.support_contact().map(str::to_string),
        tokens: tokens.iter().map(token_row).collect(),
        new_token: said.new_token,
        token_error: said.token_error,
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
    page(&app, &current, Said::default()).await
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
    page(&app, &current, Said::notice(notice)).await
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
    page(&app, &current, Said::notice(notice)).await
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
    page(&app, &current, Said::notice(notice)).await
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
    page(&app, &current, Said::notice(notice)).await
}

/// The "Make an app token" form. Unticked boxes are simply not sent.
#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    /// Days, or `never`.
    #[serde(default)]
    expires: String,
    #[serde(default)]
    scope_api: Option<String>,
    #[serde(default)]
    scope_proxy: Option<String>,
    /// Hosts, separated by commas or spaces.
    #[serde(default)]
    domains: String,
}

/// Where confirming the password returns to.
const SECURITY_PAGE: &str = "/account/security";

/// Makes an app token and shows it once; asks for the password first when
/// the session last proved the account over 5 minutes ago.
pub async fn post_new_token(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<NewTokenForm>,
) -> Result<Response, WebError> {
    let proof = match proof_or_confirm(&app, &client, &current, SECURITY_PAGE).await? {
        Ok(proof) => proof,
        Err(confirm_first) => return Ok(confirm_first),
    };
    let expires_in_days = match form.expires.trim() {
        "never" | "" => None,
        days => Some(days.parse::<u32>().unwrap_or(0)),
    };
    let scopes: Vec<String> = [(form.scope_api.is_some(), "api"), (form.scope_proxy.is_some(), "proxy")]
        .into_iter()
        .filter(|(ticked, _)| *ticked)
        .map(|(_, scope)| scope.to_string())
        .collect();
    let domains: Vec<String> =
        form.domains.split([',', ' ', '\n']).map(str::trim).filter(|d| !d.is_empty()).map(str::to_string).collect();
    let asked = NewAppToken { name: &form.name, expires_in_days, scopes: Some(&scopes), domains: &domains };
    let said = match app.services.app_tokens.create(&current.user, &current.session, &proof, &asked, &client).await {
        Ok(created) => Said { new_token: Some(created.token), ..Said::default() },
        Err(CoreError::Validation(fields)) => {
            Said { token_error: Some(fields.into_values().collect::<Vec<_>>().join(" ")), ..Said::default() }
        }
        Err(CoreError::Refused(why)) => Said { token_error: Some(words::refusal(why).into()), ..Said::default() },
        Err(e) => return Err(e.into()),
    };
    page(&app, &current, said).await
}

/// A token's "Revoke" button.
#[derive(Deserialize)]
pub struct RevokeTokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token_id: String,
}

/// Revokes one of the user's app tokens.
pub async fn post_revoke_token(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<RevokeTokenForm>,
) -> Result<Response, WebError> {
    let id = AppTokenId::from(form.token_id);
    let notice = match app.services.app_tokens.revoke(&current.user, &id, &client).await {
        Ok(()) => "That app token is revoked: it no longer works.",
        Err(CoreError::NotFound) => "That app token was already revoked.",
        Err(e) => return Err(e.into()),
    };
    page(&app, &current, Said::notice(notice)).await
}

/// A connected application's "Disconnect" button.
#[derive(Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

/// Disconnects an application: its consent and tokens end.
pub async fn post_disconnect_app(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<DisconnectForm>,
) -> Result<Response, WebError> {
    let notice = if app.services.oidc.disconnect(&current.user, &form.client_id, &client).await? {
        "That application is disconnected: its tokens stopped working, and it will ask again."
    } else {
        "That application was already disconnected."
    };
    page(&app, &current, Said::notice(notice)).await
}

csrf_forms!(RevokeForm, RevokeOthersForm, ForgetDeviceForm, NewTokenForm, RevokeTokenForm, DisconnectForm);

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
